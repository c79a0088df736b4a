/* luagrad.c: luaopen_luagrad, which opens the library into a lua_State:
 * one runtime context per state (with the host's allocator when opened
 * through luagrad_open), the tensor metatable, the module table, and lazy
 * loading of the Lua sub-libraries (lg.nn, lg.func, ...).
 *
 * Opening twice into one state returns the first module: the registry
 * holds it under "luagrad.module", its state under "luagrad.state". */

/***
 * The library table lg: threads, clock, memory.
 * @module lg
 */
#include "lgl_out.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int state_gc(lua_State *L) {
  lgl_state *S = lua_touserdata(L, 1);
  if (S && S->ctx) {
    lgl_boxes_close(S); /* every box's tensor: boxes have no __gc */
    lg_ctx_free(S->ctx); /* tensors still alive keep the context */
    S->ctx = NULL;
  }
  return 0;
}

static int l_manual_seed(lua_State *L) {
  int64_t seed = lgl_check_integer(L, 1, "manual_seed", "seed");
  lg_ctx_manual_seed(lgl_ctx(L), (uint64_t)seed);
  return 0;
}

static int l_initial_seed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lg_ctx_seed(lgl_ctx(L)));
  return 1;
}

/*** Sets the threads of this Lua state's kernels (1..1024).
 * @function set_num_threads
 * @param n an integer
 * @usage lg.set_num_threads(4)
 */
static int l_set_num_threads(lua_State *L) {
  int64_t n = lgl_check_integer(L, 1, "set_num_threads", "the thread count");
  if (n < 1 || n > 1024)
    return luaL_error(L, "set_num_threads: expected 1..1024 threads, got %d",
                      (int)n);
  lg_ctx_set_num_threads(lgl_ctx(L), (int)n);
  return 0;
}

/*** The threads the kernels use.
 * @function get_num_threads
 * @return an integer
 * @usage lg.get_num_threads()
 */
static int l_get_num_threads(lua_State *L) {
  lua_pushinteger(L, lg_ctx_num_threads(lgl_ctx(L)));
  return 1;
}

/*** Seconds on a monotonic wall clock (os.clock is CPU time), for rates and
 * benchmarks. Also lg.utils.wall_time.
 * @function wall_time
 * @return a number
 * @usage local t0 = lg.wall_time()
 */
/* Seconds on a monotonic wall clock (os.clock is CPU time, os.time whole
 * seconds): for progress rates, ETAs and benchmarks. */
static int l_wall_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/*** Whether v is a tensor.
 * @function is_tensor
 * @param v any value
 * @return a boolean
 * @usage lg.is_tensor(x)
 */
static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, lgl_to_tensor(L, 1) != NULL);
  return 1;
}

/*** The bytes of tensor storage this Lua state holds now.
 * @function memory_in_use
 * @return an integer
 * @usage print(lg.memory_in_use())
 */
static int l_memory_in_use(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lg_ctx_bytes_in_use(lgl_ctx(L)));
  return 1;
}

/* lg.nn, lg.func, ... are Lua files loaded on first use. */
static const char *const submodules[][2] = {
    {"nn", "luagrad.nn"},         {"F", "luagrad.nn.functional"},
    {"func", "luagrad.func"},     {"autograd", "luagrad.autograd"},
    {"optim", "luagrad.optim"},   {"data", "luagrad.data"},
    {"io", "luagrad.io"},         {"utils", "luagrad.utils"},
    {"distributed", "luagrad.distributed"},
    {"linalg", "luagrad.linalg"},
};

static int module_index(lua_State *L) {
  const char *key = lua_tostring(L, 2);
  if (!key || lua_type(L, 2) != LUA_TSTRING) return 0;
  for (size_t i = 0; i < sizeof submodules / sizeof submodules[0]; i++) {
    if (strcmp(key, submodules[i][0]) != 0) continue;
    lgl_require(L, submodules[i][1]);
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, key); /* cache: later lookups are plain fields */
    return 1;
  }
  return 0;
}

/* The module metatable's __lazy_keys: {nn = "luagrad.nn", ...}, what
 * module_index loads, for the REPL's Tab completion (luagrad.repl). */
static int module_lazy_keys(lua_State *L) {
  int n = (int)(sizeof submodules / sizeof submodules[0]);
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, submodules[i][1]);
    lua_setfield(L, -2, submodules[i][0]);
  }
  return 1;
}

static const luaL_Reg module_functions[] = {
    {"manual_seed", l_manual_seed},
    {"initial_seed", l_initial_seed},
    {"set_num_threads", l_set_num_threads},
    {"get_num_threads", l_get_num_threads},
    {"is_tensor", l_is_tensor},
    {"wall_time", l_wall_time},
    {"memory_in_use", l_memory_in_use},
    {"_option_problem", lgl_l_option_problem},
    {"_doc_text", lgl_l_doc_text},
    {"_typename", lgl_l_typename},
    {NULL, NULL},
};

void lgl_anchor_keys(lua_State *L) {
  static const char *const keys[] = {"out", "beta", "alpha", "dtype",
                                     "requires_grad", "keepdim"};
  int n = (int)(sizeof keys / sizeof keys[0]);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, keys[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, "luagrad.keys");
}

/* Opens luagrad into L and returns the module table. */
LUALIB_API int luaopen_luagrad(lua_State *L) {
  return lgl_open_with(L, NULL, NULL);
}

int lgl_open_with(lua_State *L, lg_alloc_fn alloc, void *ud) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.module") == LUA_TTABLE)
    return 1;
  lua_pop(L, 1);
  lgl_state *S = lua_newuserdatauv(L, sizeof *S, 3);
  memset(S, 0, sizeof *S);
  S->free_head = LGL_NO_SLOT;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  S->ctx = lg_ctx_new(alloc, ud);
  if (!S->ctx) return luaL_error(L, "luagrad: out of memory creating context");
  int state_idx = lua_gettop(L);
  lgl_boxes_open(L, state_idx);
  lgl_anchor_keys(L);

  luaL_newmetatable(L, LGL_TENSOR_TYPE);
  int meta_idx = lua_gettop(L);
  lua_newtable(L);
  int methods_idx = lua_gettop(L);
  lua_newtable(L);
  int module_idx = lua_gettop(L);

  lgl_tables T = {module_idx, methods_idx, state_idx, meta_idx};
  lua_pushvalue(L, module_idx);
  lgl_setfuncs(L, module_functions, state_idx, meta_idx);
  lua_pop(L, 1);
  lgl_open_tensor_meta(L, &T);
  lgl_open_elementwise(L, &T);
  lgl_open_create(L, &T);
  lgl_open_reduce(L, &T);
  lgl_open_shape(L, &T);
  lgl_open_structure(L, &T);
  lgl_open_index(L, &T);
  lgl_open_linalg(L, &T);
  lgl_open_autograd(L, &T);
  lgl_open_forward_ad(L, &T);
  lgl_open_hooks(L, &T);
  lgl_open_nn_loss(L, &T);
  lgl_open_nn_conv(L, &T);
  lgl_open_rnn(L, &T);
  lgl_open_io(L, &T);
  lgl_open_data(L, &T);
  lgl_open_optim(L, &T);
  lgl_open_host(L, &T);
  lgl_open_float_checks(L, &T);
  lgl_open_random(L, &T);
  lgl_open_vmap(L, &T);
  lgl_open_lapack(L, &T);
  lgl_open_sort(L, &T);
  lgl_open_einsum(L, &T);
  lgl_open_compile(L, &T);
  lgl_open_func_fast(L, &T);
#ifdef LUAGRAD_HAVE_MPI
  lgl_open_distributed(L, &T);
#endif
  lgl_check_generated(L, &T);

  lua_pushvalue(L, methods_idx);
  lua_setfield(L, module_idx, "Tensor"); /* methods, for extension in Lua */
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, module_idx, "_VERSION");
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, module_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, module_lazy_keys);
  lua_setfield(L, -2, "__lazy_keys");
  lua_setmetatable(L, module_idx);
  /* keep the state alive as long as L (functions also hold it) */
  lua_pushvalue(L, state_idx);
  lua_setfield(L, LUA_REGISTRYINDEX, "luagrad.state");
  lua_pushvalue(L, module_idx);
  lua_setfield(L, LUA_REGISTRYINDEX, "luagrad.module");
  lua_pushvalue(L, module_idx);
  return 1;
}
