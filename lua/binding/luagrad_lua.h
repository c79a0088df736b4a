/* luagrad_lua.h: the embedding C API of luagrad, for hosts (game engines,
 * tools) that already run Lua 5.4: open luagrad into an existing lua_State
 * with the host's allocator, hand host buffers to Lua as tensors without
 * copying, and read tensors back. The runtime API (lg_tensor_data,
 * lg_tensor_sizes, lg_op_run, ...) comes with it from luagrad.h.
 *
 * A worked example (compiles as is; build with
 *   cc host.c -I<prefix>/include/luagrad $(pkg-config --cflags lua5.4) \
 *      -L<prefix>/lib -lluagrad $(pkg-config --libs lua5.4)):
 *
 *   #include <stdio.h>
 *   #include <stdlib.h>
 *   #include <lauxlib.h>
 *   #include <lualib.h>
 *   #include "luagrad_lua.h"
 *
 *   static void *host_alloc(void *ud, void *ptr, size_t old, size_t size) {
 *     size_t *calls = ud;                 // one allocator for Lua and tensors
 *     (void)old;
 *     ++*calls;
 *     if (size == 0) { free(ptr); return NULL; }
 *     return realloc(ptr, size);
 *   }
 *
 *   int main(void) {
 *     size_t calls = 0;
 *     lua_State *L = lua_newstate(host_alloc, &calls);
 *     if (!L) return 1;
 *     luaL_openlibs(L);
 *     if (luagrad_open(L, host_alloc, &calls) != LG_OK) {  // pushes lg
 *       fprintf(stderr, "%s\n", lua_tostring(L, -1));
 *       lua_close(L);
 *       return 1;
 *     }
 *     lua_setglobal(L, "lg");
 *     float obs[3] = {1, -2, 3}, act[3] = {0, 0, 0};  // host memory
 *     int64_t n = 3;
 *     // obs and act become tensors over these arrays: no copy
 *     if (luagrad_push_wrapped(L, LG_FLOAT32, 1, &n, obs, NULL, NULL) ||
 *         (lua_setglobal(L, "obs"),
 *          luagrad_push_wrapped(L, LG_FLOAT32, 1, &n, act, NULL, NULL))) {
 *       fprintf(stderr, "%s\n", lg_ctx_error(luagrad_context(L)));
 *       lua_close(L);
 *       return 1;
 *     }
 *     lua_setglobal(L, "act");
 *     if (luaL_dostring(L, "lg.relu(obs * 2, {out = act})") != LUA_OK)
 *       fprintf(stderr, "%s\n", lua_tostring(L, -1));
 *     printf("%g %g %g\n", act[0], act[1], act[2]);  // 2 0 6
 *     lua_close(L);   // the last tensor gone: nothing of luagrad remains
 *     printf("%zu allocator calls\n", calls);
 *     return 0;
 *   }
 *
 * Rules:
 * - Errors: functions called from C return an lg_status (LG_OK = 0); the
 *   message is lg_ctx_error(luagrad_context(L)) (luagrad_open pushes it
 *   instead). Nothing here aborts, exits or longjmps past the caller:
 *   Lua memory errors are caught and reported as LG_ERR_MEMORY. Inside Lua
 *   (scripts, and C functions the host registers that call
 *   luagrad_check_tensor) errors are ordinary Lua errors.
 * - Allocation: with luagrad_open every tensor byte (storage, tensor
 *   headers, autograd nodes, scratch) comes from alloc; a refusal becomes a
 *   Lua error "out of memory" and nothing leaks. alloc and ud must stay
 *   valid until lua_close(L) has returned (tensors freed by finalizers use
 *   them). Use the same function for lua_newstate to account for all of it.
 * - Threads: one lua_State per thread. States share nothing mutable (RNG,
 *   grad mode, thread count and errors live in each state's context).
 * - Host memory: a wrapped tensor reads and writes the host buffer in place.
 *   The buffer must stay valid until release(ud, data) is called, which
 *   happens when the last tensor viewing it is gone (a collected Lua value,
 *   views included). For buffers that live only for one call (a frame), use
 *   luagrad_rebind: bind the frame's buffer, call Lua, then rebind NULL;
 *   from then on Lua, even through a view it kept, sees the tensor's own
 *   buffer again and never the freed one.
 */
#ifndef LUAGRAD_LUA_H
#define LUAGRAD_LUA_H

#include <lua.h>

#include "luagrad.h"

/* The C module entry: opens luagrad into L with malloc and returns the
 * module table (what `require "luagrad"` calls). A second call in the same
 * state returns the first module. */
LUALIB_API int luaopen_luagrad(lua_State *L);

/* Opens luagrad into L with alloc (NULL: malloc) for every tensor byte,
 * registers it as package.loaded.luagrad (when the package library is
 * open) and pushes the module table. Made for sandboxes: lg.nn, lg.func,
 * lg.optim, ... load from the Lua sources built into the library (no
 * `package`, `io`, `os` or `debug` needed); every file operation
 * (lg.io.*, module:save/load, lg.data.load_idx and fashion_mnist,
 * lg.utils.svg_curves) fails with "<fn>: file access is disabled by the
 * host" until the host grants it on luagrad_context(L):
 * lg_ctx_allow_files (everywhere: LG_FILES_READ or LG_FILES_ALL),
 * lg_ctx_allow_directory (beneath a directory; `..` and symlinks can't
 * leave it) or lg_ctx_set_file_opener (the host opens every file, e.g.
 * from packed assets). Library text (progress bars) goes to
 * luagrad_set_writer's function, nowhere without one. Limits:
 * lg_ctx_set_memory_limit, lg_ctx_set_op_size_limit (luagrad.h). On failure pushes the message and
 * returns LG_ERR_MEMORY, or LG_ERR_RUNTIME when luagrad is already open in
 * L (then the allocator could not be applied). Needs 3 free stack slots. */
LG_API lg_status luagrad_open(lua_State *L, lg_alloc_fn alloc, void *ud);

/* The runtime context of L (NULL when luagrad is not open in L): for
 * lg_ctx_error, lg_ctx_manual_seed, and running lg_* functions on tensors
 * of this state. */
LG_API lg_ctx *luagrad_context(lua_State *L);

/* Where library text (progress bars) goes under luagrad_open; write NULL
 * (the default) drops it. luaopen_luagrad's states write to stdout. */
typedef void (*luagrad_write_fn)(void *ud, const char *text, size_t len);
LG_API void luagrad_set_writer(lua_State *L, luagrad_write_fn write,
                               void *ud);

/* Where luagrad_open's states find the Lua library: source(ud, module,
 * &length) returns the text of a module ("luagrad.nn.module"), valid
 * until the next call, or NULL for the one built into libluagrad. Set it
 * before the script first touches lg.nn (each module loads once). */
typedef const char *(*luagrad_source_fn)(void *ud, const char *module,
                                         size_t *length);
LG_API void luagrad_set_source_loader(lua_State *L, luagrad_source_fn source,
                                      void *ud);

/* Stops the op running in the state whose context is ctx (take it with
 * luagrad_context(L) on L's thread beforehand) at its next safe point:
 * the script gets the Lua error "interrupted", the state stays usable.
 * Safe from any thread and from a signal handler (lg_ctx_interrupt: one
 * atomic store; it does not touch the lua_State, which another thread is
 * running). A request no op saw stays pending: call
 * lg_ctx_clear_interrupt(ctx) before the next run (a frame). Lua code
 * between ops is stopped the usual way, with lua_sethook. */
LG_API void luagrad_interrupt(lg_ctx *ctx);

/* The tensor at idx, borrowed (valid while the Lua value lives), or NULL
 * when the value is not a live tensor. */
LG_API lg_tensor *luagrad_to_tensor(lua_State *L, int idx);
/* Like luagrad_to_tensor, for C functions called from Lua: raises a Lua
 * error naming the argument when idx is not a live tensor. */
LG_API lg_tensor *luagrad_check_tensor(lua_State *L, int idx);

/* Pushes t as a Lua value, taking over the caller's reference (also on
 * failure, when t is released). LG_ERR_MEMORY when Lua is out of memory
 * (nothing pushed). */
LG_API lg_status luagrad_push_tensor(lua_State *L, lg_tensor *t);

/* Pushes a contiguous tensor over host memory, without copying. release
 * (may be NULL) runs with (ud, data) when the last reference goes. On
 * failure nothing is pushed and release is not called: the buffer stays
 * the host's. The tensor may be rebound (luagrad_rebind). */
LG_API lg_status luagrad_push_wrapped(lua_State *L, lg_dtype dtype, int ndim,
                                      const int64_t *sizes, void *data,
                                      lg_release_fn release, void *ud);

/* Points a tensor made by luagrad_push_wrapped (and every view of it) at
 * other host memory of at least nbytes (the tensor's byte size), no copy;
 * data NULL binds its own buffer again (the one given at creation). Bumps
 * the tensor's version, so autograd notices data it saved has changed.
 * LG_ERR_ARG for other tensors or a buffer that is too small. */
LG_API lg_status luagrad_rebind(lg_tensor *t, void *data, size_t nbytes);

/* Reading a tensor back: lg_tensor_dtype, lg_tensor_ndim, lg_tensor_sizes,
 * lg_tensor_strides, lg_tensor_numel, lg_tensor_data (address of the first
 * element), lg_tensor_is_contiguous (luagrad.h). */

/* The plan of the compiled function at idx (luagrad.func.compile) for
 * the guard of its last call, retained (lg_plan_release it), or NULL when
 * idx holds no compiled function, it was never called, or that guard runs
 * eagerly. Run it with lg_plan_run (luagrad.h), without Lua. */
LG_API lg_plan *lgl_compiled_plan(lua_State *L, int idx);

#endif
