/* hooks_lua.c: gradient hooks for Lua: t:register_hook(fn) (fn(grad) when
 * t's gradient is complete; a returned tensor replaces it) and
 * t:register_post_accumulate_grad_hook(fn) (fn(t) after a leaf's .grad took
 * the gradient in), each returning a handle with :remove().
 *
 * The hooks live in a registry table with weak keys: tensor value -> {grad
 * = {fn...}, accumulated = {fn...}}; the tensor's value is registered as its
 * identity, so the engine's callback (the context's one grad hook) finds
 * the hooks from the C tensor. Hooks run on the thread running the
 * backward (lgl_state.current_L); an error in one fails the backward. */

/***
 * Tensor hooks.
 * @module lg
 */
#include <string.h>

#include "lgl_out.h"

static const char hooks_key = 'h';
static const char handle_type[] = "luagrad.HookHandle";

static const char *const list_names[] = {"grad", "accumulated"};

/* Pushes the hook list of kind for the tensor value at idx (creating it
 * when create, else nil when absent). */
static void push_hook_list(lua_State *L, int idx, lg_grad_hook_kind kind,
                           bool create) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    if (!create) {
      lua_pop(L, 1);
      lua_pushnil(L);
      return;
    }
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
  if (lua_getfield(L, -1, list_names[kind]) != LUA_TTABLE && create) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, list_names[kind]);
  }
  lua_remove(L, -2);
}

/* Runs hook i of the list at list with its argument; for LG_HOOK_GRAD a
 * returned tensor replaces *grad. */
static lg_status run_one(lua_State *L, lg_ctx *ctx, int list, int i,
                         lg_tensor *t, lg_grad_hook_kind kind,
                         lg_tensor **grad) {
  int top = lua_gettop(L);
  lua_rawgeti(L, list, i);
  if (kind == LG_HOOK_GRAD) {
    lg_tensor *g = lg_tensor_retain(*grad);
    if (lgl_try_push_registry(L, g) != LUA_OK) {
      lg_tensor_release(g);
      lua_settop(L, top);
      return lg_fail(ctx, LG_ERR_MEMORY, "register_hook: out of memory "
                     "passing a gradient to a hook");
    }
  } else {
    lgl_push_identity(L, t);
  }
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lg_status st = lg_fail(ctx, LG_ERR_RUNTIME, "%s",
                           lua_isstring(L, -1) ? lua_tostring(L, -1)
                                               : "error in a gradient hook");
    lua_settop(L, top);
    return st;
  }
  lg_status st = LG_OK;
  lg_tensor *replacement = kind == LG_HOOK_GRAD ? lgl_to_tensor(L, -1) : NULL;
  if (replacement) {
    lg_tensor *old = *grad;
    if (lg_tensor_ndim(replacement) != lg_tensor_ndim(old) ||
        memcmp(lg_tensor_sizes(replacement), lg_tensor_sizes(old),
               sizeof(int64_t) * (size_t)lg_tensor_ndim(old)) != 0)
      st = lg_fail(ctx, LG_ERR_SHAPE, "register_hook: a hook returned a "
                   "gradient of another shape than the tensor's");
    else {
      *grad = lg_tensor_retain(replacement);
      lg_tensor_release(old);
    }
  } else if (kind == LG_HOOK_GRAD && !lua_isnil(L, -1)) {
    st = lg_fail(ctx, LG_ERR_ARG, "register_hook: a hook must return a "
                 "tensor or nothing, got %s", lgl_typename(L, -1));
  }
  lua_settop(L, top);
  return st;
}

/* The context's grad hook: runs t's Lua hooks of that kind, in order. */
static lg_status grad_hook(lg_ctx *ctx, void *ud, lg_tensor *t,
                           lg_grad_hook_kind kind, lg_tensor **grad) {
  lgl_state *S = ud;
  lua_State *L = S->current_L;
  if (!L) return LG_OK; /* a backward started by a C host: no Lua to run */
  if (!lua_checkstack(L, 8))
    return lg_fail(ctx, LG_ERR_MEMORY, "backward: Lua stack overflow");
  int top = lua_gettop(L);
  lgl_push_identity(L, t);
  if (lua_isnil(L, -1)) {
    lua_settop(L, top);
    return LG_OK;
  }
  push_hook_list(L, -1, kind, false);
  lg_status st = LG_OK;
  if (lua_istable(L, -1)) {
    int list = lua_gettop(L);
    /* a copy, so a hook that removes itself does not skip the next one */
    lua_Integer n = luaL_len(L, list);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, list, i);
      lua_rawseti(L, -2, i);
    }
    for (lua_Integer i = 1; i <= n && !st; i++)
      st = run_one(L, ctx, list + 1, (int)i, t, kind, grad);
  }
  lua_settop(L, top);
  return st;
}

static int register_kind(lua_State *L, lg_grad_hook_kind kind,
                         const char *fname) {
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  if (!lua_isfunction(L, 2))
    return luaL_error(L, "%s: expected a function as argument 2, got %s",
                      fname, lgl_typename(L, 2));
  if (kind == LG_HOOK_ACCUMULATED && !lg_tensor_is_leaf(t))
    return luaL_error(L, "%s: only leaf tensors accumulate a .grad; this "
                      "tensor has a grad_fn", fname);
  if (lg_tensor_set_has_hooks(lgl_ctx(L), t) != LG_OK)
    return lgl_error_as(L, fname);
  lgl_register_identity(L, 1, t);
  push_hook_list(L, 1, kind, true);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  /* the handle: {list, fn} */
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 2);
  luaL_setmetatable(L, handle_type);
  return 1;
}

/*** Calls fn(grad) when t's gradient is computed; a returned tensor replaces
 * the gradient. Returns a handle with handle:remove().
 * @function Tensor:register_hook
 * @param fn a function
 * @return a handle
 * @usage local h = x:register_hook(function(g) return g * 2 end)
 */
static int m_register_hook(lua_State *L) {
  return register_kind(L, LG_HOOK_GRAD, "register_hook");
}

/*** Calls fn(t) on a leaf after its .grad has been accumulated. Returns a
 * handle with handle:remove().
 * @function Tensor:register_post_accumulate_grad_hook
 * @param fn a function
 * @return a handle
 * @usage p:register_post_accumulate_grad_hook(function(p) print(p.grad:norm()) end)
 */
static int m_register_post_accumulate_grad_hook(lua_State *L) {
  return register_kind(L, LG_HOOK_ACCUMULATED,
                       "register_post_accumulate_grad_hook");
}

/* handle:remove(): drops the hook; removing twice is harmless. */
static int handle_remove(lua_State *L) {
  if (!lua_istable(L, 1))
    return luaL_error(L, "remove: expected a hook handle, got %s",
                      lgl_typename(L, 1));
  lua_rawgeti(L, 1, 1);
  lua_rawgeti(L, 1, 2);
  if (!lua_istable(L, -2)) return 0;
  lua_Integer n = luaL_len(L, -2);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -2, i);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
    if (!same) continue;
    for (lua_Integer j = i; j < n; j++) {
      lua_rawgeti(L, -2, j + 1);
      lua_rawseti(L, -3, j);
    }
    lua_pushnil(L);
    lua_rawseti(L, -3, n);
    break;
  }
  lua_pushnil(L);
  lua_rawseti(L, 1, 1); /* removed: a second remove does nothing */
  return 0;
}

static const luaL_Reg methods[] = {
    {"register_hook", m_register_hook},
    {"register_post_accumulate_grad_hook", m_register_post_accumulate_grad_hook},
    {NULL, NULL},
};

void lgl_open_hooks(lua_State *L, const lgl_tables *T) {
  lua_newtable(L); /* tensor value -> its hooks; weak keys */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &hooks_key);
  luaL_newmetatable(L, handle_type);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, handle_remove);
  lua_setfield(L, -2, "remove");
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, "HookHandle");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  lgl_state *S = lua_touserdata(L, T->state);
  lg_ctx_set_grad_hook(S->ctx, grad_hook, S);
  lgl_register_family(L, T, NULL, methods);
}
