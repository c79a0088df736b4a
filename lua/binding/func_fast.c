/* func_fast.c: two internal helpers of func.grad's common path
 * (lua/luagrad/func.lua): aliasing a tensor or a flat table of tensors in
 * one call, and asking whether any argument holds a tensor that requires
 * grad. Each answers nil where the case is not the common one, and the
 * Lua code then takes its general path (which also raises the errors), so
 * these never change what a transform computes, only how fast. */
#include "lgl.h"

/* Whether t can take the common alias x:detach():requires_grad_(): a
 * float tensor, not dual, not batched, and (grad mode on) not requiring
 * grad outside (that one is aliased by a recorded view instead). */
static bool plain_aliasable(lg_tensor *t, bool grad_on) {
  lg_dtype d = lg_tensor_dtype(t);
  if (d != LG_FLOAT32 && d != LG_FLOAT64) return false;
  if (grad_on && lg_tensor_requires_grad(t)) return false;
  return !lg_tensor_is_dual(t) && lg_tensor_batch_level(t) == 0;
}

/* Pushes t:detach():requires_grad_(). */
static void push_alias(lua_State *L, lg_ctx *ctx, lg_tensor *t) {
  lgl_box *box = lgl_new_box(L);
  lg_tensor *alias = NULL;
  if (lg_tensor_detach(ctx, t, &alias) != LG_OK) lgl_error(L);
  lgl_box_set(box, alias);
  if (lg_tensor_set_requires_grad(ctx, alias, true) != LG_OK) lgl_error(L);
}

/* _func_alias(x) -> aliased, aliases, keys. x a tensor: its alias, twice,
 * and no keys. x a plain table (no metatable) whose values are all
 * tensors: a new table with x's keys holding their aliases, the array of
 * the aliases and the array of the keys, in one order. Nothing when x is
 * neither, is an empty table, or any tensor is not plain_aliasable. */
static int l_func_alias(lua_State *L) {
  lg_ctx *ctx = lgl_ctx(L);
  bool grad_on = lg_ctx_grad_enabled(ctx);
  lg_tensor *t = lgl_to_tensor(L, 1);
  if (t) {
    if (!plain_aliasable(t, grad_on)) return 0;
    push_alias(L, ctx, t);
    lua_pushvalue(L, -1);
    return 2;
  }
  if (lua_type(L, 1) != LUA_TTABLE || lua_getmetatable(L, 1)) return 0;
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lg_tensor *v = lgl_to_tensor(L, -1);
    if (!v || !plain_aliasable(v, grad_on)) return 0;
    n++;
    lua_pop(L, 1);
  }
  if (n == 0) return 0;
  lua_settop(L, 1);
  lua_createtable(L, 0, n); /* 2: aliased */
  lua_createtable(L, n, 0); /* 3: aliases */
  lua_createtable(L, n, 0); /* 4: keys */
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) { /* key at 5, value at 6 */
    i++;
    push_alias(L, ctx, lgl_to_tensor(L, 6));
    lua_pushvalue(L, 5);
    lua_pushvalue(L, 7);
    lua_rawset(L, 2);
    lua_rawseti(L, 3, i);
    lua_pushvalue(L, 5);
    lua_rawseti(L, 4, i);
    lua_pop(L, 1);
  }
  return 3;
}

/* 1 when the value at idx is a tensor requiring grad or a plain table
 * holding one (depth levels of tables deep at most), 0 when it holds
 * none, -1 when the tables go deeper (or cycle): unknown. */
static int holds_requires_grad(lua_State *L, int idx, int depth) {
  lg_tensor *t = lgl_to_tensor(L, idx);
  if (t) return lg_tensor_requires_grad(t) ? 1 : 0;
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return 0;
  }
  if (depth == 0) return -1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int r = holds_requires_grad(L, lua_gettop(L), depth - 1);
    if (r != 0) {
      lua_pop(L, 2);
      return r;
    }
    lua_pop(L, 1);
  }
  return 0;
}

#define HOLDS_DEPTH 4

/* _func_requires_grad(...) -> whether grad mode is on and any argument is
 * a tensor requiring grad or a plain table holding one; nil when tables
 * nest deeper than HOLDS_DEPTH (the caller walks them itself). */
static int l_func_requires_grad(lua_State *L) {
  if (!lg_ctx_grad_enabled(lgl_ctx(L))) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int n = lua_gettop(L);
  luaL_checkstack(L, 2 * HOLDS_DEPTH + 4, "_func_requires_grad");
  for (int i = 1; i <= n; i++) {
    int r = holds_requires_grad(L, i, HOLDS_DEPTH);
    if (r < 0) return 0;
    if (r > 0) {
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  lua_pushboolean(L, 0);
  return 1;
}

static const luaL_Reg func_functions[] = {
    {"_func_alias", l_func_alias},
    {"_func_requires_grad", l_func_requires_grad},
    {NULL, NULL},
};

void lgl_open_func_fast(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, func_functions, NULL);
}
