/* forward_ad_lua.c: the C side of lg.autograd.forward_ad
 * (lua/luagrad/forward_ad.lua): entering and exiting dual levels, make_dual,
 * unpack_dual and the dual-tensor query, over the runtime's forward mode
 * (runtime/autograd/dual.c). Levels are Lua integers. */
#include <string.h>

#include "lgl.h"

/* The level argument at idx: given, or the innermost active one. */
static uint64_t level_arg(lua_State *L, int idx, const char *fname) {
  if (lua_isnoneornil(L, idx)) {
    uint64_t level = lg_dual_level_current(lgl_ctx(L));
    if (!level)
      luaL_error(L, "%s: no dual level is active; enter one with "
                 "forward_ad.dual_level()", fname);
    return level;
  }
  int64_t v = lgl_check_integer(L, idx, fname, "the level");
  if (v < 1) luaL_error(L, "%s: the level must be positive, got %d", fname, (int)v);
  return (uint64_t)v;
}

static int l_enter(lua_State *L) {
  uint64_t level = 0;
  if (lg_dual_level_enter(lgl_ctx(L), &level) != LG_OK) return lgl_error(L);
  lua_pushinteger(L, (lua_Integer)level);
  return 1;
}

static int l_exit(lua_State *L) {
  uint64_t level = level_arg(L, 1, "exit_dual_level");
  if (lg_dual_level_exit(lgl_ctx(L), level) != LG_OK) return lgl_error(L);
  return 0;
}

static int l_current(lua_State *L) {
  uint64_t level = lg_dual_level_current(lgl_ctx(L));
  if (level) lua_pushinteger(L, (lua_Integer)level);
  else lua_pushnil(L);
  return 1;
}

static int l_make_dual(lua_State *L) {
  lg_tensor *primal = lgl_check_tensor(L, 1, "make_dual");
  lg_tensor *tangent = lgl_check_tensor(L, 2, "make_dual");
  uint64_t level = level_arg(L, 3, "make_dual");
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_make_dual(lgl_ctx(L), primal, tangent, level, &out) != LG_OK)
    return lgl_error(L);
  lgl_box_set(box, out);
  return 1;
}

static int l_unpack_dual(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "unpack_dual");
  uint64_t level = lua_isnoneornil(L, 2) ? lg_dual_level_current(lgl_ctx(L))
                                         : level_arg(L, 2, "unpack_dual");
  lgl_box *primal = lgl_new_box(L);
  lgl_box *tangent = lgl_new_box(L);
  lg_tensor *p = NULL, *tan = NULL;
  if (lg_unpack_dual(lgl_ctx(L), t, level, &p, &tan) != LG_OK)
    return lgl_error(L);
  lgl_box_set(primal, p);
  lgl_box_set(tangent, tan);
  if (!tan) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  return 2;
}

/* _tangent(t, level): t's tangent at level, or nil (no view of t made). */
static int l_tangent(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "tangent");
  uint64_t level = level_arg(L, 2, "tangent");
  lg_tensor *tan = lg_tensor_tangent(t, level);
  if (tan) lgl_push_tensor(L, lg_tensor_retain(tan));
  else lua_pushnil(L);
  return 1;
}

/* _jvp_dual(x, t, level): func.jvp's fast path for one leaf in one call:
 * make_dual(x, t, level) when x and t are tensors of one floating dtype and
 * one shape and neither requires grad; otherwise nil (and nothing made), so
 * that func.jvp falls back to its general path, which checks and raises. */
static int l_jvp_dual(lua_State *L) {
  lg_tensor *x = lgl_to_tensor(L, 1), *t = lgl_to_tensor(L, 2);
  if (!x || !t || lg_tensor_dtype(x) != lg_tensor_dtype(t) ||
      (lg_tensor_dtype(x) != LG_FLOAT32 && lg_tensor_dtype(x) != LG_FLOAT64) ||
      lg_tensor_requires_grad(x) || lg_tensor_requires_grad(t)) {
    lua_pushnil(L);
    return 1;
  }
  int n = lg_tensor_ndim(x);
  if (lg_tensor_ndim(t) != n ||
      (n > 0 && memcmp(lg_tensor_sizes(x), lg_tensor_sizes(t), (size_t)n * sizeof(int64_t)))) {
    lua_pushnil(L);
    return 1;
  }
  uint64_t level = level_arg(L, 3, "jvp");
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_make_dual(lgl_ctx(L), x, t, level, &out) != LG_OK) return lgl_error(L);
  lgl_box_set(box, out);
  return 1;
}

static int l_is_dual(lua_State *L) {
  lg_tensor *t = lgl_to_tensor(L, 1);
  lua_pushboolean(L, t && lg_tensor_is_dual(t));
  return 1;
}

static const luaL_Reg module_functions[] = {
    {"_dual_level_enter", l_enter},     {"_dual_level_exit", l_exit},
    {"_dual_level_current", l_current}, {"_make_dual", l_make_dual},
    {"_unpack_dual", l_unpack_dual},    {"_is_dual", l_is_dual},
    {"_tangent", l_tangent},            {"_jvp_dual", l_jvp_dual},
    {NULL, NULL},
};

void lgl_open_forward_ad(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, module_functions, NULL);
}
