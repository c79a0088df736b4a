/* autograd_lua.c: the Lua face of autograd: requires_grad, .grad (one Lua
 * value per C tensor, so t.grad == t.grad), .grad_fn, backward, detach,
 * no_grad/enable_grad and detect_anomaly guards, autograd.grad, and custom
 * Functions whose backward is a Lua function the engine calls through this
 * file. */

/***
 * Autograd on tensors: requires_grad_, backward, detach, grad mode.
 * @module lg
 */
#include <stdio.h>
#include <string.h>

#include "lgl_out.h"

static const char identity_key = 'i'; /* registry: weak ptr -> userdata */
static const char guard_type[] = "luagrad.GradModeGuard";
/* registry: the guard metatable again, under a pointer key, so making and
 * closing a guard (every optimizer step) costs no lookup by type name */
static const char guard_meta_key = 'g';
static const char grad_fn_type[] = "luagrad.GradFn";

/* Pushes the Lua value registered for t (nothing registered: nil). */
void lgl_push_identity(lua_State *L, const lg_tensor *t) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &identity_key);
  lua_rawgetp(L, -1, t);
  lua_remove(L, -2);
  lgl_box *box = lua_touserdata(L, -1);
  if (box && lgl_box_tensor(box) != t) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* Pushes t with a stable identity: the same Lua value every time C hands
 * the same tensor back (for tensors C holds, such as a leaf's .grad).
 * Takes over one reference of t. */
void lgl_push_registered(lua_State *L, lg_tensor *t) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &identity_key);
  if (lua_rawgetp(L, -1, t) == LUA_TUSERDATA) {
    lgl_box *box = lua_touserdata(L, -1);
    if (lgl_box_tensor(box) == t) {
      lua_remove(L, -2);
      lg_tensor_release(t); /* the existing value holds its own reference */
      return;
    }
  }
  lua_pop(L, 1);
  lgl_push_tensor(L, t);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, t);
  lua_remove(L, -2);
}

/* Records the Lua value at idx as the identity of its tensor. */
void lgl_register_identity(lua_State *L, int idx, lg_tensor *t) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &identity_key);
  lua_pushvalue(L, idx);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
}

/* ---- properties (called from tensor_meta.c's __index/__newindex) ------- */

static void push_grad_fn(lua_State *L, lg_tensor *t) {
  char name[64];
  if (!lg_tensor_grad_fn_name(t, name, sizeof name)) {
    lua_pushnil(L);
    return;
  }
  lua_createtable(L, 0, 1);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "_name");
  luaL_setmetatable(L, grad_fn_type);
}

int lgl_autograd_property(lua_State *L, lg_tensor *t, const char *key) {
  if (strcmp(key, "requires_grad") == 0) {
    lua_pushboolean(L, lg_tensor_requires_grad(t));
  } else if (strcmp(key, "is_leaf") == 0) {
    lua_pushboolean(L, lg_tensor_is_leaf(t));
  } else if (strcmp(key, "grad") == 0) {
    lg_tensor *g = lg_tensor_grad(t);
    if (g) lgl_push_registered(L, lg_tensor_retain(g));
    else lua_pushnil(L);
  } else if (strcmp(key, "grad_fn") == 0) {
    push_grad_fn(L, t);
  } else {
    return 0;
  }
  return 1;
}

int lgl_autograd_assign(lua_State *L, lg_tensor *t, const char *key, int v) {
  lg_ctx *ctx = lgl_ctx(L);
  if (strcmp(key, "grad") == 0) {
    lg_tensor *g = NULL;
    if (!lua_isnil(L, v)) g = lgl_check_tensor(L, v, "grad");
    if (lg_tensor_set_grad(ctx, t, g) != LG_OK) return lgl_error(L);
    if (g) lgl_register_identity(L, v, g);
    return 1;
  }
  if (strcmp(key, "requires_grad") == 0) {
    if (lg_tensor_set_requires_grad(ctx, t, lua_toboolean(L, v)) != LG_OK)
      return lgl_error(L);
    return 1;
  }
  return 0;
}

/* ---- methods ------------------------------------------------------------ */

/*** Makes a leaf record operations for autograd (or stop, with false); returns t.
 * @function Tensor:requires_grad_
 * @param[opt] on default true
 * @return t
 * @usage local w = lg.randn(3):requires_grad_()
 */
static int m_requires_grad_(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "requires_grad_");
  int on = lua_isnone(L, 2) ? 1 : lua_toboolean(L, 2);
  if (lg_tensor_set_requires_grad(lgl_ctx(L), t, on) != LG_OK)
    return lgl_error(L);
  lua_settop(L, 1);
  return 1;
}

/*** A tensor sharing t's storage, outside the graph (no grad_fn, no grad).
 * @function Tensor:detach
 * @return a tensor
 * @usage y:detach()
 */
static int m_detach(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "detach");
  lgl_box *box = lgl_new_box(L);
  lg_tensor *d = NULL;
  if (lg_tensor_detach(lgl_ctx(L), t, &d) != LG_OK) return lgl_error(L);
  lgl_box_set(box, d);
  return 1;
}

/*** Makes a non-leaf keep its gradient in .grad after backward.
 * @function Tensor:retain_grad
 * @usage h:retain_grad()
 */
static int m_retain_grad(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "retain_grad");
  if (lg_tensor_retain_grad(lgl_ctx(L), t) != LG_OK) return lgl_error(L);
  return 0;
}

static void read_backward_opts(lua_State *L, int idx, lg_backward_opts *o) {
  o->create_graph = lgl_opt_bool(L, idx, "create_graph", 0);
  /* PyTorch: retain_graph defaults to create_graph */
  o->retain_graph = lgl_opt_bool(L, idx, "retain_graph", o->create_graph);
  o->allow_unused = lgl_opt_bool(L, idx, "allow_unused", 0);
}

/*** Accumulates the gradients of t into the .grad of the leaves that require
 * grad. gradient is required for a non-scalar t (the vector of the vjp).
 * @function Tensor:backward
 * @param[opt] gradient a tensor of t's shape
 * @param[opt] opts {retain_graph = create_graph, create_graph = false}
 * @usage loss:backward()
 */
/* t:backward([gradient][, {retain_graph, create_graph}]) */
static int m_backward(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "backward");
  lg_tensor *g = lgl_to_tensor(L, 2);
  int opts = (g || (lua_isnil(L, 2) && !lua_isnone(L, 3))) ? 3 : 2;
  if (!g && !lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TTABLE)
    return luaL_error(L, "backward: expected a gradient tensor or an options "
                      "table, got %s", lgl_typename(L, 2));
  lgl_check_options(L, opts, "backward",
                    LGL_OPTIONS("create_graph", "retain_graph"));
  lg_backward_opts o;
  read_backward_opts(L, opts, &o);
  lgl_state *S = lgl_get_state(L);
  lua_State *previous = S->current_L;
  S->current_L = L;
  lg_status st = lg_autograd_backward(S->ctx, 1, &t, &g, &o);
  S->current_L = previous;
  if (st != LG_OK) return lgl_error(L);
  lgl_gc_pressure(L, S);
  return 0;
}

/* Reads one tensor or an array of tensors at idx into a new C array on
 * the Lua stack (a userdata, freed by the collector). */
static lg_tensor **tensor_list(lua_State *L, int idx, const char *fname,
                               const char *what, int *n) {
  lg_tensor *single = lgl_to_tensor(L, idx);
  if (single) {
    lg_tensor **list = lua_newuserdatauv(L, sizeof *list, 0);
    list[0] = single;
    *n = 1;
    return list;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    luaL_error(L, "%s: expected a tensor or an array of tensors as %s, got %s",
               fname, what, lgl_typename(L, idx));
  int len = (int)lua_rawlen(L, idx);
  lg_tensor **list = lua_newuserdatauv(L, sizeof *list * (size_t)(len + 1), 0);
  for (int i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, i);
    list[i - 1] = lgl_to_tensor(L, -1);
    if (!list[i - 1])
      luaL_error(L, "%s: expected a tensor at position %d of %s, got %s",
                 fname, i, what, lgl_typename(L, -1));
    lua_pop(L, 1);
  }
  *n = len;
  return list;
}

/* autograd.grad(outputs, inputs, {grad_outputs, create_graph,
 * retain_graph, allow_unused}) -> array of gradients (nil when unused) */
static int l_grad(lua_State *L) {
  int n_out, n_in;
  lg_tensor **outs = tensor_list(L, 1, "grad", "outputs", &n_out);
  lg_tensor **ins = tensor_list(L, 2, "grad", "inputs", &n_in);
  if (n_in == 0) /* as PyTorch: nothing to differentiate against */
    return luaL_error(L, "grad: expected at least one input tensor, got an "
                      "empty array");
  lgl_check_options(L, 3, "grad", LGL_OPTIONS("allow_unused", "create_graph",
                                              "grad_outputs", "retain_graph"));
  lg_backward_opts o;
  read_backward_opts(L, 3, &o);
  lg_tensor **grad_outs = NULL;
  if (lua_type(L, 3) == LUA_TTABLE) {
    lua_getfield(L, 3, "grad_outputs");
    if (!lua_isnil(L, -1)) {
      int n;
      grad_outs = tensor_list(L, lua_gettop(L), "grad", "grad_outputs", &n);
      if (n != n_out)
        return luaL_error(L, "grad: expected %d grad_outputs, got %d", n_out, n);
    }
  }
  /* results live in boxes first, so a Lua error can't leak them */
  lua_createtable(L, n_in, 0);
  int result = lua_gettop(L);
  lg_tensor **grads = lua_newuserdatauv(L, sizeof *grads * (size_t)(n_in + 1), 0);
  lgl_state *S = lgl_get_state(L);
  lua_State *previous = S->current_L;
  S->current_L = L;
  lg_status st = lg_autograd_grad(S->ctx, n_out, outs, grad_outs, n_in, ins,
                                  &o, grads);
  S->current_L = previous;
  if (st != LG_OK) return lgl_error(L);
  for (int i = 0; i < n_in; i++) {
    if (!grads[i]) continue; /* unused input: nil */
    lgl_push_tensor(L, grads[i]);
    lua_rawseti(L, result, i + 1);
  }
  lua_pushvalue(L, result);
  lgl_gc_pressure(L, S);
  return 1;
}

/* ---- grad mode ---------------------------------------------------------- */

/* A context flag a guard sets and restores: grad mode or anomaly mode. */
typedef enum { FLAG_GRAD, FLAG_ANOMALY } ctx_flag;

typedef struct mode_guard {
  int saved; /* the value to restore; -1 once restored */
  ctx_flag flag;
} mode_guard;

static bool get_flag(lg_ctx *ctx, ctx_flag flag) {
  return flag == FLAG_GRAD ? lg_ctx_grad_enabled(ctx)
                           : lg_ctx_detect_anomaly(ctx);
}

static void set_flag(lg_ctx *ctx, ctx_flag flag, bool on) {
  if (flag == FLAG_GRAD) lg_ctx_set_grad_enabled(ctx, on);
  else lg_ctx_set_detect_anomaly(ctx, on);
}

static int guard_close(lua_State *L) {
  mode_guard *g = NULL;
  if (lua_type(L, 1) == LUA_TUSERDATA && lua_getmetatable(L, 1)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &guard_meta_key);
    if (lua_rawequal(L, -1, -2)) g = lua_touserdata(L, 1);
    lua_pop(L, 2);
  }
  if (!g) g = luaL_checkudata(L, 1, guard_type); /* raises the usual error */
  if (g->saved >= 0) {
    lua_getiuservalue(L, 1, 1);
    lgl_state *S = lua_touserdata(L, -1);
    if (S && S->ctx) set_flag(S->ctx, g->flag, g->saved != 0);
    g->saved = -1; /* closing twice restores once */
  }
  return 0;
}

/* no_grad() / enable_grad() / detect_anomaly(): a guard for a to-be-closed
 * variable; no_grad(fn, ...) runs fn with the mode set and restores it,
 * also when fn raises. */
static int set_mode(lua_State *L, ctx_flag flag, bool enabled,
                    const char *fname) {
  lgl_state *S = lgl_get_state(L);
  bool before = get_flag(S->ctx, flag);
  if (lua_isfunction(L, 1)) {
    int n = lua_gettop(L);
    set_flag(S->ctx, flag, enabled);
    int status = lua_pcall(L, n - 1, LUA_MULTRET, 0);
    set_flag(S->ctx, flag, before);
    if (status != LUA_OK) return lua_error(L);
    return lua_gettop(L);
  }
  if (!lua_isnoneornil(L, 1))
    return luaL_error(L, "%s: expected a function or nothing, got %s", fname,
                      lgl_typename(L, 1));
  mode_guard *g = lua_newuserdatauv(L, sizeof *g, 1);
  g->saved = before;
  g->flag = flag;
  lua_pushvalue(L, LGL_STATE_UPVALUE);
  lua_setiuservalue(L, -2, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &guard_meta_key);
  lua_setmetatable(L, -2);
  set_flag(S->ctx, flag, enabled);
  return 1;
}
/*** Turns gradient recording off: no_grad() returns a guard for a
 * to-be-closed variable (`local _ <close> = lg.no_grad()`), no_grad(fn, ...)
 * runs fn with recording off and returns its results (PyTorch's context
 * manager and decorator).
 * @function no_grad
 * @param[opt] fn a function
 * @return a guard, or fn's results
 * @usage lg.no_grad(function() w:sub_(lr * w.grad) end)
 */
static int l_no_grad(lua_State *L) {
  return set_mode(L, FLAG_GRAD, false, "no_grad");
}
/*** Turns gradient recording on, as a guard or around fn (see no_grad).
 * @function enable_grad
 * @param[opt] fn a function
 * @return a guard, or fn's results
 * @usage local _ <close> = lg.enable_grad()
 */
static int l_enable_grad(lua_State *L) {
  return set_mode(L, FLAG_GRAD, true, "enable_grad");
}
/* detect_anomaly(): backward names the rule that produced NaN or Inf. */
static int l_detect_anomaly(lua_State *L) {
  return set_mode(L, FLAG_ANOMALY, true, "detect_anomaly");
}
static int l_set_detect_anomaly(lua_State *L) {
  lg_ctx_set_detect_anomaly(lgl_ctx(L), lua_toboolean(L, 1));
  return 0;
}
static int l_is_anomaly_enabled(lua_State *L) {
  lua_pushboolean(L, lg_ctx_detect_anomaly(lgl_ctx(L)));
  return 1;
}

/*** Whether operations are recorded for autograd now.
 * @function is_grad_enabled
 * @return a boolean
 * @usage lg.is_grad_enabled()
 */
static int l_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lg_ctx_grad_enabled(lgl_ctx(L)));
  return 1;
}

/*** Switches gradient recording without a guard.
 * @function set_grad_enabled
 * @param on a boolean
 * @usage lg.set_grad_enabled(false)
 */
static int l_set_grad_enabled(lua_State *L) {
  lg_ctx_set_grad_enabled(lgl_ctx(L), lua_toboolean(L, 1));
  return 0;
}

/* ---- custom functions ---------------------------------------------------- */

typedef struct custom_fn {
  lgl_state *S;
  lua_State *main;  /* for releasing the reference from any thread */
  int ref;          /* registry reference to the Lua backward closure */
} custom_fn;

static void custom_free(void *ud) {
  custom_fn *f = ud;
  lua_State *L = f->S->current_L ? f->S->current_L : f->main;
  lg_ctx *ctx = f->S->ctx;
  if (lua_checkstack(L, 4)) luaL_unref(L, LUA_REGISTRYINDEX, f->ref);
  if (ctx) lg_mem_free(ctx, f, sizeof *f);
}

/* The engine calls this for a custom node: runs the Lua closure with the
 * output gradients and collects one gradient per input. */
static lg_status custom_backward(lg_ctx *ctx, void *ud, int n_out,
                                 lg_tensor *const *grad_out, int n_in,
                                 lg_tensor **grad_in) {
  custom_fn *f = ud;
  lua_State *L = f->S->current_L ? f->S->current_L : f->main;
  if (!lua_checkstack(L, n_out + n_in + 4))
    return lg_fail(ctx, LG_ERR_MEMORY, "backward: Lua stack overflow");
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
  for (int k = 0; k < n_out; k++) {
    lg_tensor *g = lg_tensor_retain(grad_out[k]);
    if (lgl_try_push_registry(L, g) != LUA_OK) {
      lg_tensor_release(g);
      lua_settop(L, top);
      return lg_fail(ctx, LG_ERR_MEMORY, "backward: out of memory passing "
                     "gradients to a Function's backward");
    }
  }
  if (lua_pcall(L, n_out, n_in, 0) != LUA_OK) {
    lg_status st = lg_fail(ctx, LG_ERR_RUNTIME, "%s", lua_tostring(L, -1));
    lua_settop(L, top);
    return st;
  }
  for (int i = 0; i < n_in; i++) {
    int idx = top + 1 + i;
    if (lua_isnil(L, idx)) continue;
    lg_tensor *g = luaL_testudata(L, idx, LGL_TENSOR_TYPE)
                       ? lgl_to_tensor(L, idx) : NULL;
    if (!g) {
      for (int j = 0; j < i; j++) {
        lg_tensor_release(grad_in[j]);
        grad_in[j] = NULL;
      }
      lg_status st = lg_fail(ctx, LG_ERR_ARG,
                             "backward: a Function's backward must return a "
                             "tensor or nil per input; got %s for input %d",
                             lgl_typename(L, idx), i + 1);
      lua_settop(L, top);
      return st;
    }
    grad_in[i] = lg_tensor_retain(g);
  }
  lua_settop(L, top);
  return LG_OK;
}

/* _attach(name, inputs, outputs, backward): connects outputs to inputs
 * through a node that calls backward(grad_outputs...) */
static int l_attach(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  int n_in, n_out;
  lg_tensor **ins = tensor_list(L, 2, "Function", "inputs", &n_in);
  lg_tensor **outs = tensor_list(L, 3, "Function", "outputs", &n_out);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  lgl_state *S = lgl_get_state(L);
  custom_fn *f = lg_mem_alloc(S->ctx, sizeof *f);
  if (!f) return luaL_error(L, "Function: out of memory");
  f->S = S;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  f->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_pushvalue(L, 4);
  f->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (lg_autograd_attach_custom(S->ctx, name, n_in, ins, n_out, outs,
                                custom_backward, f, custom_free) != LG_OK)
    return lgl_error(L);
  return 0;
}

static int grad_fn_name(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "_name");
  return 1;
}

static int grad_fn_tostring(lua_State *L) {
  lua_getfield(L, 1, "_name");
  lua_pushfstring(L, "<%s>", lua_tostring(L, -1));
  return 1;
}

static const luaL_Reg methods[] = {
    {"requires_grad_", m_requires_grad_}, {"detach", m_detach},
    {"retain_grad", m_retain_grad},       {"backward", m_backward},
    {NULL, NULL},
};

static const luaL_Reg module_functions[] = {
    {"no_grad", l_no_grad},
    {"enable_grad", l_enable_grad},
    {"is_grad_enabled", l_is_grad_enabled},
    {"set_grad_enabled", l_set_grad_enabled},
    {"_detect_anomaly", l_detect_anomaly},
    {"_set_detect_anomaly", l_set_detect_anomaly},
    {"_is_anomaly_enabled", l_is_anomaly_enabled},
    {"_autograd_grad", l_grad},
    {"_autograd_attach", l_attach},
    {NULL, NULL},
};

void lgl_open_autograd(lua_State *L, const lgl_tables *T) {
  lua_newtable(L); /* identity registry: values are weak */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &identity_key);
  luaL_newmetatable(L, guard_type);
  /* only closing restores: no __gc, so a guard that was never closed can't
   * flip the mode back at whatever later point the collector reaches it */
  lua_pushcfunction(L, guard_close);
  lua_setfield(L, -2, "__close");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &guard_meta_key);
  luaL_newmetatable(L, grad_fn_type);
  lua_pushcfunction(L, grad_fn_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, grad_fn_name);
  lua_setfield(L, -2, "name");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lgl_register_family(L, T, module_functions, methods);
}
