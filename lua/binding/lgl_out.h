/* lgl_out.h: the binding's out= plumbing and the embedding internals shared
 * by state.c, luagrad.c, embed.c and the op wrappers (not installed). */
#ifndef LGL_OUT_H
#define LGL_OUT_H

#include "lgl.h"

/* The stack index of the out tensor named by an options table {out = t} at
 * idx, or 0 when idx holds no table or the table has no out. Raises
 * "fname: expected a tensor for option out, got <type>" otherwise. */
int lgl_opt_out(lua_State *L, int idx, const char *fname);
/* lgl_run_op with an out tensor at out_idx (0: none): runs op with
 * LG_FLAG_OUT into it and returns that tensor's own Lua value. */
int lgl_run_op_out(lua_State *L, lg_op op, int n_in, lg_tensor *const *in,
                   const lg_params *p, int self_idx, int out_idx);
/* For wrappers whose decoding lives in a shared helper (lgl_binary): pushes
 * the out tensor at out_idx and a private marker, so that the next
 * lgl_run_op, which finds the marker on top, writes into that tensor. */
void lgl_push_out_request(lua_State *L, int out_idx);

/* Pushes t in a new tensor box (state userdata at state_idx, metatable at
 * meta_idx) under a protected call: LUA_OK (the box owns t), or the Lua
 * error status with the error object pushed and t still owned by the
 * caller. */
int lgl_try_push(lua_State *L, int state_idx, int meta_idx, lg_tensor *t);
/* The same for callers without the binding's upvalues: the state and the
 * metatable come from the registry (LUA_ERRMEM with nothing pushed when
 * the stack can't grow). */
int lgl_try_push_registry(lua_State *L, lg_tensor *t);

/* The box slots (state.c): made with the state userdata at state_idx
 * (which needs 3 user values); released all at once when the state is
 * collected (lua_close). */
void lgl_boxes_open(lua_State *L, int state_idx);
void lgl_boxes_close(lgl_state *S);
/* Releases a box's tensor now (__close); the box then reads as released. */
void lgl_box_release(lgl_box *box);

/* Opens luagrad into L with the runtime allocator alloc (NULL: malloc) and
 * pushes the module table; raises a Lua error on failure. */
int lgl_open_with(lua_State *L, lg_alloc_fn alloc, void *ud);
/* Key strings that op wrappers read with lua_getfield on hot paths are kept
 * in the registry, so a warm call finds them interned and allocates
 * nothing. */
void lgl_anchor_keys(lua_State *L);

#endif
