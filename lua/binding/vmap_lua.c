/* vmap_lua.c: the primitives func.vmap (lua/luagrad/func_vmap.lua) is built
 * on, as private module functions: entering and leaving a vmap level,
 * wrapping a tensor as batched at a level and unwrapping it, and the
 * per-example loop warnings. Batch dims are 1-based here as everywhere in
 * Lua. */
#include "lgl.h"

static const char *const randomness_names[] = {"error", "same", "different",
                                                NULL};

/* _vmap_enter(batch_size, randomness) -> level */
static int l_vmap_enter(lua_State *L) {
  lua_Integer b = luaL_checkinteger(L, 1);
  int randomness = luaL_checkoption(L, 2, "error", randomness_names);
  int level = 0;
  lgl_gc_pay_debt(L, lgl_get_state(L)); /* last call's dead results */
  if (lg_vmap_push(lgl_ctx(L), (int64_t)b, randomness, &level) != LG_OK)
    return lgl_error_as(L, "vmap");
  lua_pushinteger(L, level);
  return 1;
}

/* _vmap_exit(level) */
static int l_vmap_exit(lua_State *L) {
  if (lg_vmap_pop(lgl_ctx(L), (int)luaL_checkinteger(L, 1)) != LG_OK)
    return lgl_error_as(L, "vmap");
  return 0;
}

/* _vmap_wrap(value, bdim, level) -> batched tensor */
static int l_vmap_wrap(lua_State *L) {
  lg_tensor *v = lgl_check_tensor(L, 1, "vmap");
  lua_Integer bdim = luaL_checkinteger(L, 2);
  lua_Integer level = luaL_checkinteger(L, 3);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_vmap_wrap(lgl_ctx(L), v, (int)bdim - 1, (int)level, &out) != LG_OK)
    return lgl_error_as(L, "vmap");
  lgl_box_set(box, out);
  return 1;
}

/* _vmap_unwrap(t, level) -> value, bdim; or nil when t is not batched at
 * level */
static int l_vmap_unwrap(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "vmap");
  int bdim = 0;
  lg_tensor *v = lg_vmap_value(t, (int)luaL_checkinteger(L, 2), &bdim);
  if (!v) {
    lua_pushnil(L);
    return 1;
  }
  lgl_push_tensor(L, lg_tensor_retain(v));
  lua_pushinteger(L, bdim + 1);
  return 2;
}

/* _vmap_level(t) -> the level t is batched at (0: plain) */
static int l_vmap_level(lua_State *L) {
  lua_pushinteger(L, lg_tensor_batch_level(lgl_check_tensor(L, 1, "vmap")));
  return 1;
}

/* _vmap_warnings() -> array of op names that ran the per-example loop for
 * the first time */
static int l_vmap_warnings(lua_State *L) {
  lua_newtable(L);
  const char *name;
  for (int i = 1; (name = lg_vmap_take_warning(lgl_ctx(L))); i++) {
    lua_pushstring(L, name);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

static const luaL_Reg module_functions[] = {
    {"_vmap_enter", l_vmap_enter},   {"_vmap_exit", l_vmap_exit},
    {"_vmap_wrap", l_vmap_wrap},     {"_vmap_unwrap", l_vmap_unwrap},
    {"_vmap_level", l_vmap_level},   {"_vmap_warnings", l_vmap_warnings},
    {NULL, NULL},
};

void lgl_open_vmap(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, module_functions, NULL);
}
