/* func_fast.c: internal helpers of the common paths of func.grad
 * (lua/luagrad/func.lua: aliasing a tensor or a flat table of tensors in
 * one call; whether any argument holds a tensor that requires grad) and
 * of functional_call (lua/luagrad/func_call.lua: swapping the named
 * tensors into the module and back by a cached plan). Each answers nil
 * where the case is not the common one, before changing anything, and the
 * Lua code then takes its general path (which also raises the errors), so
 * these never change what is computed, only how fast. */
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

/* ---- functional_call's swap ------------------------------------------- */

/* The entries of plan.rec, the array of the plan's tables these read
 * (func_call.lua, build_plan). */
enum {
  P_MODULES = 1, P_EDGE_PARENT, P_EDGE_KEY, P_EDGE_CHILD, P_SLOT_MOD,
  P_SLOT_KEY, P_SLOT_VALUE, P_FAST_SLOT, P_NAMES, P_SLOTS, P_VALUES, P_SAVED,
  P_COUNT
};

/* Pushes plan.rec's tables P_MODULES..P_SAVED in that order; false (and
 * nothing pushed) when the plan has no rec of that length. */
static bool push_plan_fields(lua_State *L, int plan) {
  luaL_checkstack(L, P_COUNT + 8, "functional_call");
  if (lua_getfield(L, plan, "rec") != LUA_TTABLE
      || lua_rawlen(L, -1) != P_COUNT - 1) {
    lua_pop(L, 1);
    return false;
  }
  int rec = lua_gettop(L);
  for (int f = P_MODULES; f < P_COUNT; f++) lua_rawgeti(L, rec, f);
  lua_remove(L, rec);
  return true;
}

/* Pushes the module owning slot s and the slot's key. */
static void push_slot(lua_State *L, int F, lua_Integer s) {
  lua_rawgeti(L, F + P_SLOT_MOD, s);
  lua_rawget(L, F + P_MODULES);
  lua_rawgeti(L, F + P_SLOT_KEY, s);
}

/* Whether the plan's tree and tensors are as it saw them: each edge's
 * child and each tensor slot's tensor (the identity compute_ties saw). */
static bool plan_unchanged(lua_State *L, int F, int plan) {
  int n_edges = (int)lua_rawlen(L, F + P_EDGE_PARENT);
  for (int e = 1; e <= n_edges; e++) {
    lua_rawgeti(L, F + P_EDGE_PARENT, e);
    lua_rawget(L, F + P_MODULES);
    if (lua_type(L, -1) != LUA_TTABLE) return false;
    lua_rawgeti(L, F + P_EDGE_KEY, e);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushboolean(L, 0);
    }
    lua_rawgeti(L, F + P_EDGE_CHILD, e);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 3);
    if (!same) return false;
  }
  lua_getfield(L, plan, "n_tensor_slots");
  lua_Integer n_slots = lua_tointeger(L, -1);
  lua_pop(L, 1);
  for (lua_Integer s = 1; s <= n_slots; s++) {
    push_slot(L, F, s);
    if (lua_type(L, -2) != LUA_TTABLE) return false;
    lua_rawget(L, -2);
    lua_rawgeti(L, F + P_SLOT_VALUE, s);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 3);
    if (!same) return false;
  }
  return true;
}

/* _fc_swap_in(plan, params) -> n: when params is a plain table of tensors
 * whose every name is in plan.fast_slot (empty while a tied group exists)
 * and the plan's tree and tensors are unchanged, sets each tensor into its slot,
 * keeps name, slot, value and the module's own tensor in the plan's
 * scratch arrays, marks the plan busy and returns how many; nothing
 * otherwise (the module untouched). The caller checked plan.busy and the
 * structure version. */
static int l_fc_swap_in(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_type(L, 2) != LUA_TTABLE || lua_getmetatable(L, 2)) return 0;
  lua_settop(L, 2);
  int F = lua_gettop(L); /* field f at F + f */
  if (!push_plan_fields(L, 1) || !plan_unchanged(L, F, 1)) return 0;
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    lua_pushvalue(L, -2);
    lua_Integer s = lua_rawget(L, F + P_FAST_SLOT) == LUA_TNUMBER
                        ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (s <= 0 || !lgl_to_tensor(L, -1)) {
      for (int i = 1; i <= n; i++) { /* drop the references kept so far */
        lua_pushnil(L);
        lua_rawseti(L, F + P_VALUES, i);
      }
      return 0;
    }
    n++;
    lua_rawseti(L, F + P_VALUES, n); /* pops the value */
    lua_pushvalue(L, -1);
    lua_rawseti(L, F + P_NAMES, n);
    lua_pushinteger(L, s);
    lua_rawseti(L, F + P_SLOTS, n);
  }
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, F + P_SLOTS, i);
    lua_Integer s = lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_rawgeti(L, F + P_SLOT_VALUE, s);
    lua_rawseti(L, F + P_SAVED, i);
    push_slot(L, F, s);
    lua_rawgeti(L, F + P_VALUES, i);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_pushboolean(L, 1);
  lua_setfield(L, 1, "busy");
  lua_pushinteger(L, n);
  return 1;
}

/* _fc_swap_out(plan, params, n, ok): puts the module's own tensors back
 * into the n slots _fc_swap_in filled, writes what forward left in a slot
 * back into params under its name when forward succeeded (ok) and it is
 * another tensor than params holds, clears the scratch references and the
 * busy mark. */
static int l_fc_swap_out(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_checkinteger(L, 3);
  bool ok = lua_toboolean(L, 4);
  lua_settop(L, 2);
  int F = lua_gettop(L);
  if (!push_plan_fields(L, 1)) return luaL_error(L, "functional_call: the plan lost its tables");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, F + P_SLOTS, i);
    lua_Integer s = lua_tointeger(L, -1);
    lua_pop(L, 1);
    push_slot(L, F, s);              /* owner, key */
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);               /* owner, key, now */
    lua_insert(L, -2);               /* owner, now, key */
    lua_rawgeti(L, F + P_SAVED, i);  /* owner, now, key, saved */
    lua_rawset(L, -4);               /* owner, now */
    if (ok && !lua_isnil(L, -1)) {
      lua_rawgeti(L, F + P_NAMES, i); /* owner, now, name */
      lua_pushvalue(L, -1);
      lua_gettable(L, 2);             /* owner, now, name, given */
      if (!lua_rawequal(L, -1, -3)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_settable(L, 2);
      } else {
        lua_pop(L, 2);
      }
    }
    lua_pop(L, 2);
    lua_pushnil(L);
    lua_rawseti(L, F + P_VALUES, i);
    lua_pushnil(L);
    lua_rawseti(L, F + P_SAVED, i);
  }
  lua_pushboolean(L, 0);
  lua_setfield(L, 1, "busy");
  return 0;
}

static const luaL_Reg func_functions[] = {
    {"_func_alias", l_func_alias},
    {"_func_requires_grad", l_func_requires_grad},
    {"_fc_swap_in", l_fc_swap_in},
    {"_fc_swap_out", l_fc_swap_out},
    {NULL, NULL},
};

void lgl_open_func_fast(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, func_functions, NULL);
}
