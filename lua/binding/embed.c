/* embed.c: the embedding C API (lua/binding/luagrad_lua.h): opening luagrad into a
 * host's lua_State with the host's allocator, pushing and reading tensors
 * from C, and host buffers wrapped without copying.
 *
 * Invariant: every function here returns a status to its C caller; the
 * Lua API calls that can raise (allocation) run under lua_pcall, so a
 * memory error never unwinds through the host. A wrapped tensor's storage
 * carries wrap_release as its release hook, which is how luagrad_rebind
 * recognises it and where the buffer given at creation is remembered. */
#include "lgl_out.h"
#include "luagrad_lua.h"

#include <stdint.h>
#include <string.h>

/* What a wrapped storage remembers: the host's release hook and the buffer
 * given at creation (the one rebind(NULL) returns to). */
typedef struct wrap_info {
  lg_ctx *ctx;
  lg_release_fn release;
  void *ud;
  void *home;
  bool owned; /* false: creation failed, the host keeps its buffer */
} wrap_info;

static void wrap_release(void *ud, void *data) {
  wrap_info *info = ud;
  (void)data; /* possibly a rebound buffer: the host's hook gets home */
  if (info->owned && info->release) info->release(info->ud, info->home);
  lg_mem_free(info->ctx, info, sizeof *info);
}

static lgl_state *state_of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.state");
  lgl_state *S = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return S;
}

lg_ctx *luagrad_context(lua_State *L) {
  lgl_state *S = state_of(L);
  return S ? S->ctx : NULL;
}

void luagrad_set_writer(lua_State *L, luagrad_write_fn write, void *ud) {
  lgl_state *S = state_of(L);
  if (!S) return;
  S->writer = write;
  S->writer_ud = ud;
}

void luagrad_interrupt(lg_ctx *ctx) { lg_ctx_interrupt(ctx); }

void luagrad_set_source_loader(lua_State *L, luagrad_source_fn source,
                               void *ud) {
  lgl_state *S = state_of(L);
  if (!S) return;
  S->source = source;
  S->source_ud = ud;
}

typedef struct open_args {
  lg_alloc_fn alloc;
  void *ud;
} open_args;

/* Protected part of luagrad_open: open, then package.loaded.luagrad. */
static int open_protected(lua_State *L) {
  const open_args *a = lua_touserdata(L, 1);
  lgl_open_with(L, a->alloc, a->ud);
  lgl_state *S = state_of(L);
  S->hosted = true; /* built-in library, text to the host's writer */
  if (lg_ctx_allow_files(S->ctx, LG_FILES_NONE) != LG_OK)
    return luaL_error(L, "luagrad_open: out of memory");
  lua_replace(L, 1); /* the module, over the arguments and temporaries */
  lua_settop(L, 1);
  if (lua_getglobal(L, "package") == LUA_TTABLE &&
      lua_getfield(L, -1, "loaded") == LUA_TTABLE) {
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "luagrad");
  }
  lua_settop(L, 1);
  return 1;
}

/* Opens luagrad with the host's allocator; see luagrad_lua.h. */
lg_status luagrad_open(lua_State *L, lg_alloc_fn alloc, void *ud) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.module") == LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushliteral(L, "luagrad_open: luagrad is already open in this "
                       "lua_State");
    return LG_ERR_RUNTIME;
  }
  lua_pop(L, 1);
  open_args args = {alloc, ud};
  lua_pushcfunction(L, open_protected);
  lua_pushlightuserdata(L, &args);
  int status = lua_pcall(L, 1, 1, 0);
  if (status == LUA_OK) return LG_OK;
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "luagrad_open: failed");
  }
  bool memory = status == LUA_ERRMEM ||
                strstr(lua_tostring(L, -1), "out of memory") != NULL;
  return memory ? LG_ERR_MEMORY : LG_ERR_RUNTIME;
}

lg_tensor *luagrad_to_tensor(lua_State *L, int idx) {
  return luaL_testudata(L, idx, LGL_TENSOR_TYPE) ? lgl_to_tensor(L, idx) : NULL;
}

lg_tensor *luagrad_check_tensor(lua_State *L, int idx) {
  lg_tensor *t = luagrad_to_tensor(L, idx);
  if (!t)
    luaL_error(L, "expected a tensor as argument %d, got %s", idx,
               luaL_testudata(L, idx, LGL_TENSOR_TYPE) ? "a released tensor"
                                                      : lgl_typename(L, idx));
  return t;
}

/* Pushes t (taking it) in a box; on failure t is left to the caller. */
static lg_status push_box(lua_State *L, lg_ctx *ctx, lg_tensor *t) {
  int top = lua_gettop(L);
  if (lgl_try_push_registry(L, t) == LUA_OK) return LG_OK;
  lua_settop(L, top); /* the error object */
  return lg_fail(ctx, LG_ERR_MEMORY, "luagrad: out of memory pushing a "
                 "tensor to Lua");
}

lg_status luagrad_push_tensor(lua_State *L, lg_tensor *t) {
  lg_ctx *ctx = luagrad_context(L);
  if (!t || !ctx) {
    lg_tensor_release(t);
    return ctx ? lg_fail(ctx, LG_ERR_ARG, "luagrad_push_tensor: t is NULL")
               : LG_ERR_RUNTIME;
  }
  lg_status st = push_box(L, ctx, t);
  if (st) lg_tensor_release(t);
  return st;
}

lg_status luagrad_push_wrapped(lua_State *L, lg_dtype dtype, int ndim,
                               const int64_t *sizes, void *data,
                               lg_release_fn release, void *ud) {
  lg_ctx *ctx = luagrad_context(L);
  if (!ctx) return LG_ERR_RUNTIME;
  wrap_info *info = lg_mem_alloc(ctx, sizeof *info);
  if (!info) return lg_fail(ctx, LG_ERR_MEMORY, "luagrad: out of memory");
  *info = (wrap_info){ctx, release, ud, data, true};
  lg_tensor *t = NULL;
  lg_status st = lg_tensor_wrap(ctx, dtype, ndim, sizes, NULL, data,
                                wrap_release, info, &t);
  if (st) {
    lg_mem_free(ctx, info, sizeof *info);
    return st;
  }
  st = push_box(L, ctx, t);
  if (st) {
    info->owned = false; /* the host keeps its buffer */
    lg_tensor_release(t);
  }
  return st;
}

lg_status luagrad_rebind(lg_tensor *t, void *data, size_t nbytes) {
  if (!t) return LG_ERR_ARG;
  wrap_info *info = lg_tensor_wrapped_ud(t, wrap_release);
  if (info && !data) { /* back to the buffer given at creation */
    data = info->home;
    nbytes = SIZE_MAX;
  }
  return lg_tensor_rebind(t, wrap_release, data, nbytes, "luagrad_rebind");
}
