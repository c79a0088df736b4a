/* state.c: the tensor userdata (boxes), error raising, op running and the
 * memory-pressure link between tensor bytes and Lua's collector. */
#include "lgl.h"

#include <string.h>

lg_tensor *lgl_to_tensor(lua_State *L, int idx) {
  lgl_box *box = lua_touserdata(L, idx);
  if (!box || !lua_getmetatable(L, idx)) return NULL;
  int ok = lua_rawequal(L, -1, LGL_META_UPVALUE);
  lua_pop(L, 1);
  return ok ? box->t : NULL;
}

lg_tensor *lgl_check_tensor(lua_State *L, int idx, const char *fname) {
  lg_tensor *t = lgl_to_tensor(L, idx);
  if (t) return t;
  if (lua_touserdata(L, idx) && lua_getmetatable(L, idx)) {
    int released = lua_rawequal(L, -1, LGL_META_UPVALUE);
    lua_pop(L, 1);
    if (released)
      luaL_error(L, "%s: argument %d is a tensor that was already released",
                 fname, idx);
  }
  luaL_error(L, "%s: expected a tensor as argument %d, got %s", fname, idx,
             luaL_typename(L, idx));
  return NULL;
}

lgl_box *lgl_new_box(lua_State *L) {
  lgl_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->t = NULL;
  lua_pushvalue(L, LGL_META_UPVALUE);
  lua_setmetatable(L, -2);
  return box;
}

void lgl_gc_pressure(lua_State *L, lgl_state *S) {
  /* Lua cannot see tensor bytes. Once they have grown by a megabyte since
   * the last nudge, run a collector step sized by the growth, so garbage
   * tensors are finalized and a loop's memory stays bounded. */
  size_t now = lg_ctx_bytes_in_use(S->ctx);
  if (now < S->gc_mark) {
    S->gc_mark = now;
  } else if (now - S->gc_mark >= ((size_t)1 << 20)) {
    size_t kb = (now - S->gc_mark) >> 10;
    S->gc_mark = now;
    lua_gc(L, LUA_GCSTEP, kb > INT32_MAX ? INT32_MAX : (int)kb);
  }
}

void lgl_push_tensor(lua_State *L, lg_tensor *t) {
  /* lua_newuserdatauv may raise a memory error: hold t until it succeeds */
  lgl_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->t = t;
  lua_pushvalue(L, LGL_META_UPVALUE);
  lua_setmetatable(L, -2);
}

int lgl_error(lua_State *L) {
  lg_ctx *ctx = lgl_ctx(L);
  lua_pushstring(L, lg_ctx_error(ctx));
  lg_ctx_clear_error(ctx);
  return lua_error(L);
}

int lgl_run_op(lua_State *L, lg_op op, int n_in, lg_tensor *const *in,
               const lg_params *p, int self_idx) {
  lgl_state *S = lgl_get_state(L);
  bool inplace = p && (p->flags & LG_FLAG_INPLACE);
  if (inplace) {
    lg_tensor *out = NULL;
    if (lg_op_run(S->ctx, op, n_in, in, p, &out) != LG_OK) return lgl_error(L);
    lg_tensor_release(out);
    lua_pushvalue(L, self_idx);
    return 1;
  }
  lgl_box *boxes[2];
  int n_out = lg_op_num_outputs(op);
  for (int i = 0; i < n_out; i++) boxes[i] = lgl_new_box(L);
  lg_tensor *outs[2] = {NULL, NULL};
  if (lg_op_run(S->ctx, op, n_in, in, p, outs) != LG_OK) return lgl_error(L);
  for (int i = 0; i < n_out; i++) boxes[i]->t = outs[i];
  lgl_gc_pressure(L, S);
  return n_out;
}
