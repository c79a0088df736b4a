/* func_fast.c: internal helpers of the common paths of func.grad
 * (lua/luagrad/func.lua: aliasing a tensor or a flat table of tensors in
 * one call, also inside one vmap level; whether any argument holds a
 * tensor that requires grad; the gradient in one backward pass) and
 * of functional_call (lua/luagrad/func_call.lua: swapping the named
 * tensors into the module and back by a cached plan). Each answers nil
 * where the case is not the common one, before changing anything, and the
 * Lua code then takes its general path (which also raises the errors), so
 * these never change what is computed, only how fast. */
#include "lgl.h"

/* Whether t can take the common alias x:detach():requires_grad_(): a
 * float tensor, not dual, and (grad mode on) not requiring grad outside
 * (that one is aliased by a recorded view instead); outside vmap (level 0)
 * not batched, inside one vmap level plain or batched at that level only. */
static bool plain_aliasable(lg_tensor *t, bool grad_on, int level) {
  lg_dtype d = lg_tensor_dtype(t);
  if (d != LG_FLOAT32 && d != LG_FLOAT64) return false;
  if (grad_on && lg_tensor_requires_grad(t)) return false;
  if (lg_tensor_is_dual(t)) return false;
  int at = lg_tensor_batch_level(t);
  if (at == 0) return true;
  lg_tensor *value = lg_vmap_value(t, level, NULL);
  return at == level && value && lg_tensor_batch_level(value) == 0;
}

/* Pushes t:detach():requires_grad_(); inside the vmap level `level` of
 * batch size b, batched there as func_vmap.lua's batch_at_all_levels
 * does: a plain t shared by every example (expanded along a new leading
 * batch dim), a batched t over its own examples. */
static void push_alias(lua_State *L, lg_ctx *ctx, lg_tensor *t, int level,
                       int64_t b) {
  lgl_box *box = lgl_new_box(L);
  lg_tensor *alias = NULL;
  if (lg_tensor_detach(ctx, t, &alias) != LG_OK) lgl_error(L);
  lgl_box_set(box, alias);
  if (level > 0 && lg_tensor_batch_level(t) == 0) {
    lg_params p = {0};
    int n = lg_tensor_ndim(t);
    p.n_ints = n + 1;
    p.ints[0] = b;
    for (int i = 0; i < n; i++) p.ints[i + 1] = lg_tensor_sizes(t)[i];
    lg_tensor *shared = NULL, *wrapped = NULL;
    if (lg_run1(ctx, LG_OP_EXPAND, alias, &p, &shared) != LG_OK) lgl_error(L);
    lg_status st = lg_vmap_wrap(ctx, shared, 0, level, &wrapped);
    lg_tensor_release(shared); /* the wrapper holds it */
    if (st != LG_OK) lgl_error(L);
    lgl_box_set(box, wrapped);
    lg_tensor_release(alias);
    alias = wrapped;
  }
  if (lg_tensor_set_requires_grad(ctx, alias, true) != LG_OK) lgl_error(L);
}

/* _func_alias(x [, level, b]) -> aliased, aliases, keys. x a tensor: its
 * alias, twice, and no keys. x a plain table (no metatable) whose values
 * are all tensors: a new table with x's keys holding their aliases, the
 * array of the aliases and the array of the keys, in one order. With a
 * level (the one active vmap level, of batch size b) the aliases are
 * batched there (push_alias). Nothing when x is neither, is an empty
 * table, or any tensor is not plain_aliasable. */
static int l_func_alias(lua_State *L) {
  lg_ctx *ctx = lgl_ctx(L);
  bool grad_on = lg_ctx_grad_enabled(ctx);
  int level = (int)luaL_optinteger(L, 2, 0);
  int64_t b = (int64_t)luaL_optinteger(L, 3, 0);
  if (level > 0 && b < 1) return 0;
  lua_settop(L, 1);
  lg_tensor *t = lgl_to_tensor(L, 1);
  if (t) {
    if (!plain_aliasable(t, grad_on, level)) return 0;
    push_alias(L, ctx, t, level, b);
    lua_pushvalue(L, -1);
    return 2;
  }
  if (lua_type(L, 1) != LUA_TTABLE || lua_getmetatable(L, 1)) return 0;
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lg_tensor *v = lgl_to_tensor(L, -1);
    if (!v || !plain_aliasable(v, grad_on, level)) return 0;
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
    push_alias(L, ctx, lgl_to_tensor(L, 6), level, b);
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

/* Inside vmap: the physical form of the pass at level. out (a scalar per
 * example) becomes its value there, a 1-d tensor of the batch, and each
 * alias its value (bdims[i] its batch dim); ones (boxed on the stack) the
 * cotangent. False, changing nothing, when out is not batched at level
 * over plain values (the caller's general path takes it). */
static bool to_physical(lua_State *L, lg_ctx *ctx, int level, lg_tensor **out,
                        lg_tensor **ones, int n, lg_tensor **ins, int *bdims) {
  lg_tensor *v = lg_vmap_value(*out, level, NULL); /* 1-d: batch dim 0 */
  if (!v || lg_tensor_batch_level(v) != 0 || lg_tensor_ndim(v) != 1) return false;
  for (int i = 0; i < n; i++) {
    lg_tensor *a = lg_vmap_value(ins[i], level, &bdims[i]);
    if (!a || lg_tensor_batch_level(a) != 0) return false;
  }
  for (int i = 0; i < n; i++) ins[i] = lg_vmap_value(ins[i], level, NULL);
  *out = v;
  lgl_box *box = lgl_new_box(L);
  int64_t b = lg_tensor_sizes(v)[0];
  if (lg_full(ctx, lg_tensor_dtype(v), 1, &b, 1.0, ones) != LG_OK) lgl_error(L);
  lgl_box_set(box, *ones);
  return true;
}

/* _func_grad_of(output, aliases, keys, create_graph [, level]) -> grads,
 * missing: the gradient of output (a floating-point scalar tensor) with
 * respect to the aliases (a tensor, or an array of them with keys the
 * array of their keys), from one backward pass that retains the graph (and
 * records it when create_graph): a tensor, or a new table keys[i] ->
 * gradient i; false instead when output needs no gradient; missing counts
 * the gradients left out (aliases output does not depend on: the caller
 * puts zeros there). With a level (the one active vmap level, the aliases
 * batched there by _func_alias) the pass runs on the physical tensors, as
 * func.lua's vjp_flat does, and each gradient comes back batched at the
 * level. Nothing when output is not a floating-point scalar tensor, or
 * inside vmap is not batched at the level (the caller raises, or takes
 * the general path). */
static int l_func_grad_of(lua_State *L) {
  lg_tensor *out = lgl_to_tensor(L, 1);
  if (!out || lg_tensor_ndim(out) != 0) return 0;
  lg_dtype d = lg_tensor_dtype(out);
  if (d != LG_FLOAT32 && d != LG_FLOAT64) return 0;
  int level = (int)luaL_optinteger(L, 5, 0);
  lua_settop(L, 4);
  lg_tensor *single = lgl_to_tensor(L, 2);
  int n = single ? 1 : (int)lua_rawlen(L, 2);
  if (!single && (lua_type(L, 3) != LUA_TTABLE || n == 0))
    return luaL_error(L, "_func_grad_of: expected the aliases and their keys");
  if (!lg_tensor_requires_grad(out)) {
    lua_pushboolean(L, 0);
    lua_pushinteger(L, n);
    return 2;
  }
  /* the inputs, the gradients and the batch dims in one Lua-owned block */
  lg_tensor **ins = lua_newuserdatauv(
      L, (sizeof *ins * 2 + sizeof(int)) * (size_t)n, 0);
  lg_tensor **grads = ins + n;
  int *bdims = (int *)(void *)(grads + n);
  if (single) {
    ins[0] = single;
  } else {
    for (int i = 0; i < n; i++) {
      lua_rawgeti(L, 2, i + 1);
      ins[i] = lgl_to_tensor(L, -1);
      lua_pop(L, 1);
      if (!ins[i]) return luaL_error(L, "_func_grad_of: alias %d is not a tensor", i + 1);
    }
  }
  lgl_state *S = lgl_get_state(L);
  lg_tensor *ones = NULL;
  if (level > 0 && !to_physical(L, S->ctx, level, &out, &ones, n, ins, bdims))
    return 0;
  for (int i = 0; i < n; i++) grads[i] = NULL;
  if (!single) lua_createtable(L, 0, n); /* the result, made before the pass */
  int result = lua_gettop(L);
  /* a box per gradient, made before the pass too, so that no Lua error
   * (out of memory) can orphan a gradient the pass made */
  luaL_checkstack(L, n + 2, "_func_grad_of");
  int boxes = lua_gettop(L) + 1;
  for (int i = 0; i < n; i++) lgl_new_box(L);
  lg_backward_opts o = {.retain_graph = true,
                        .create_graph = lua_toboolean(L, 4),
                        .allow_unused = true};
  lua_State *previous = S->current_L;
  S->current_L = L;
  lg_status st = lg_autograd_grad(S->ctx, 1, &out, ones ? &ones : NULL, n,
                                  ins, &o, grads);
  S->current_L = previous;
  if (st != LG_OK) return lgl_error(L);
  int missing = 0;
  for (int i = 0; i < n; i++) {
    if (grads[i]) lgl_box_set(lua_touserdata(L, boxes + i), grads[i]);
    else missing++;
  }
  for (int i = 0; level > 0 && i < n; i++) { /* each box now owns its grad */
    lg_tensor *batched = NULL;
    if (!grads[i]) continue;
    if (lg_vmap_wrap(S->ctx, grads[i], bdims[i], level, &batched) != LG_OK)
      return lgl_error(L);
    lgl_box_set(lua_touserdata(L, boxes + i), batched);
    lg_tensor_release(grads[i]); /* the batched tensor holds it */
    grads[i] = batched;
  }
  if (single) {
    if (grads[0]) lua_pushvalue(L, boxes);
    else lua_pushboolean(L, 0);
  } else {
    for (int i = 0; i < n; i++) {
      if (!grads[i]) continue;
      lua_rawgeti(L, 3, i + 1);
      lua_pushvalue(L, boxes + i);
      lua_rawset(L, result); /* presized: no allocation */
    }
    lua_pushvalue(L, result);
  }
  lua_pushinteger(L, missing);
  lgl_gc_pressure(L, S);
  return 2;
}

/* ---- functional_call's swap ------------------------------------------- */

/* The entries of plan.rec, the array of the plan's tables these read
 * (func_call.lua, build_plan). */
enum {
  P_MODULES = 1, P_EDGE_PARENT, P_EDGE_KEY, P_EDGE_CHILD, P_SLOT_MOD,
  P_SLOT_KEY, P_SLOT_VALUE, P_FAST_SLOT, P_COUNT
};

/* Pushes plan.rec's tables P_MODULES..P_FAST_SLOT in that order; false
 * (and nothing pushed) when the plan has no rec of that length. */
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

/* One swapped slot on the stack of _fc_call: the caller's name, the
 * module owning the slot, the slot's key, the module's own tensor. */
#define GROUP 4

/* After forward (status from lua_pcallk): puts the module's own tensors
 * back, writes what forward left in a slot into params under its name
 * when forward succeeded and it is another tensor than params holds, then
 * re-raises forward's error or returns true and forward's results. The
 * stack: params at 2, the groups from 5 (ctx of them), the results. */
static int fc_finish(lua_State *L, int status, lua_KContext ctx) {
  int n = (int)ctx;
  int first = 5, results = first + GROUP * n;
  bool ok = status == LUA_OK || status == LUA_YIELD;
  luaL_checkstack(L, 6, "functional_call");
  for (int i = 0; i < n; i++) {
    int g = first + GROUP * i; /* name, owner, key, saved */
    lua_pushvalue(L, g + 2);
    lua_rawget(L, g + 1); /* now */
    lua_pushvalue(L, g + 2);
    lua_pushvalue(L, g + 3);
    lua_rawset(L, g + 1);
    if (ok && !lua_isnil(L, -1)) {
      lua_pushvalue(L, g);
      lua_gettable(L, 2); /* what params holds */
      if (!lua_rawequal(L, -1, -2)) {
        lua_pushvalue(L, g);
        lua_pushvalue(L, -3);
        lua_settable(L, 2);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  if (!ok) return lua_error(L); /* the error value, unchanged */
  lua_pushboolean(L, 1);
  lua_insert(L, results);
  return lua_gettop(L) - results + 1;
}

/* _fc_call(plan, params, module, args) -> true, forward's results; or
 * nothing (the module untouched) unless params is a plain table of
 * tensors whose every name is in plan.fast_slot (empty while a tied group
 * exists) and the plan's tree and tensors are unchanged. Sets each tensor
 * into its slot, calls module (args: nil for none, a plain table of
 * arguments up to args.n or #args, else the one argument), and restores
 * the slots also when forward raises (fc_finish). The slots' state lives
 * on this call's stack, so nested and reentrant calls need no care. The
 * caller checked the structure version. */
static int l_fc_call(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_type(L, 2) != LUA_TTABLE || lua_getmetatable(L, 2)) return 0;
  lua_settop(L, 4);
  int F = lua_gettop(L); /* rec's table f at F + f */
  if (!push_plan_fields(L, 1) || !plan_unchanged(L, F, 1)) return 0;
  /* the arguments: count them before anything changes */
  int nargs = 0;
  bool unpack = lua_type(L, 4) == LUA_TTABLE;
  if (unpack && lua_getmetatable(L, 4)) { /* a table with a metatable: one value */
    lua_pop(L, 1);
    unpack = false;
  }
  if (unpack) {
    lua_Integer count = (lua_Integer)lua_rawlen(L, 4);
    if (lua_getfield(L, 4, "n") != LUA_TNIL) {
      int exact = 0;
      count = lua_tointegerx(L, -1, &exact);
      if (!exact) return 0; /* the general path raises unpack's error */
    }
    lua_pop(L, 1);
    if (count < 0 || count > 1000) return 0;
    nargs = (int)count;
  } else if (!lua_isnil(L, 4)) {
    nargs = 1;
  }
  /* the groups, above the rec tables while lua_next runs */
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) { /* key, value */
    lua_pushvalue(L, -2);
    lua_Integer s = lua_rawget(L, F + P_FAST_SLOT) == LUA_TNUMBER
                        ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (s <= 0 || !lgl_to_tensor(L, -1)) return 0;
    luaL_checkstack(L, GROUP + 4, "functional_call");
    lua_pop(L, 1);
    lua_pushvalue(L, -1);                /* key, name */
    push_slot(L, F, s);                  /* key, name, owner, slot key */
    lua_rawgeti(L, F + P_SLOT_VALUE, s); /* key, name, owner, slot key, saved */
    lua_rotate(L, -(GROUP + 1), -1);     /* name, owner, slot key, saved, key */
    n++;
  }
  for (int f = P_MODULES; f < P_COUNT; f++) lua_remove(L, F + 1);
  luaL_checkstack(L, nargs + 4, "functional_call");
  /* stack: plan, params, module, args, the groups from 5: set the tensors */
  for (int i = 0; i < n; i++) {
    int g = 5 + GROUP * i;
    lua_pushvalue(L, g + 2);
    lua_pushvalue(L, g);
    lua_rawget(L, 2);
    lua_rawset(L, g + 1);
  }
  lua_pushvalue(L, 3);
  if (unpack) {
    for (int i = 1; i <= nargs; i++) lua_rawgeti(L, 4, i);
  } else if (nargs == 1) {
    lua_pushvalue(L, 4);
  }
  return fc_finish(L, lua_pcallk(L, nargs, LUA_MULTRET, 0, n, fc_finish), n);
}

static const luaL_Reg func_functions[] = {
    {"_func_alias", l_func_alias},
    {"_func_requires_grad", l_func_requires_grad},
    {"_func_grad_of", l_func_grad_of},
    {"_fc_call", l_fc_call},
    {NULL, NULL},
};

void lgl_open_func_fast(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, func_functions, NULL);
}
