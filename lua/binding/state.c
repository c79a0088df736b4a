/* state.c: the tensor userdata (boxes), error raising, op running (with
 * out=) and the memory-pressure link between tensor bytes and Lua's
 * collector. */
#include "lgl_out.h"

#include <string.h>

lg_tensor *lgl_to_tensor(lua_State *L, int idx) {
  lgl_box *box = lua_touserdata(L, idx);
  if (!box) return NULL;
  /* fast: a full userdata of a box's size whose check matches its tensor
   * (lgl_box_set); a light userdata has raw length 0 */
  if (lua_rawlen(L, idx) == sizeof *box && box->t &&
      box->check == ((uintptr_t)box->t ^ LGL_BOX_KEY))
    return box->t;
  if (!lua_getmetatable(L, idx)) return NULL;
  int ok = lua_rawequal(L, -1, LGL_META_UPVALUE);
  lua_pop(L, 1);
  if (!ok || !box->t) return NULL;
  lgl_box_set(box, box->t); /* a box filled directly: fast from now on */
  return box->t;
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
             lgl_typename(L, idx));
  return NULL;
}

lgl_box *lgl_new_box(lua_State *L) {
  lgl_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->t = NULL;
  box->check = 0;
  lua_pushvalue(L, LGL_META_UPVALUE);
  lua_setmetatable(L, -2);
  return box;
}

/* The collector's pace against tensor memory (lgl_gc_pressure): the
 * least and most tensor bytes between two collector cycles, the most as a
 * multiple of the Lua heap, and the least allocation between two steps. */
#define GC_TARGET_FLOOR ((size_t)4 << 20)
#define GC_TARGET_HEAP_RATIO 32
#define GC_STEP_FLOOR ((uint64_t)1 << 20)

void lgl_gc_pressure(lua_State *L, lgl_state *S) {
  /* Lua cannot see tensor bytes: a training loop makes a few kilobytes of
   * userdata per batch but hundreds of megabytes of tensors, so Lua's own
   * pace would let dead tensors pile up for many batches. So tensor
   * allocation (cache hits included) is charged to the collector as Lua
   * allocation scaled to the Lua heap: allocating `target` tensor bytes
   * counts as twice the Lua heap, about one full cycle. Dead tensors are
   * then freed within about `target` bytes of allocation and their blocks
   * go back to the allocator cache warm.
   *
   * target is the tensor bytes in use (so memory stays near twice the live
   * tensor bytes), but at most GC_TARGET_HEAP_RATIO times the Lua heap: a
   * cycle costs about a pass over the Lua heap, so with a small heap and
   * large tensors (a loop of 4 MB elementwise ops) cycles are cheap against
   * the ops, and a cycle per op or two keeps the freed output block hot in
   * the cache for the next op instead of cycling through four to six cold
   * ones (1.5-2x slower). A tensor-heavy loop with a larger Lua heap keeps
   * the live-set pace. The check is one subtraction per op; a step every
   * 1/16 of target. */
  uint64_t now = lg_ctx_bytes_handed_out(S->ctx);
  if (now - S->gc_mark < S->gc_step) return;
  uint64_t delta = now - S->gc_mark;
  S->gc_mark = now;
  double heap_kb = (double)lua_gc(L, LUA_GCCOUNT, 0);
  size_t target = lg_ctx_bytes_in_use(S->ctx);
  size_t most = (size_t)(heap_kb * 1024 * GC_TARGET_HEAP_RATIO);
  if (target > most) target = most;
  if (target < GC_TARGET_FLOOR) target = GC_TARGET_FLOOR;
  S->gc_step = target / 16 > GC_STEP_FLOOR ? target / 16 : GC_STEP_FLOOR;
  double kb = 2.0 * heap_kb * (double)delta / (double)target;
  lua_gc(L, LUA_GCSTEP, kb < 1 ? 1 : kb > INT32_MAX ? INT32_MAX : (int)kb);
}

static int new_box_with_meta(lua_State *L) {
  lgl_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->t = NULL;
  box->check = 0;
  lua_pushvalue(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}

/* Pushes t in a new box whose metatable is at meta_idx. The userdata is
 * made under a protected call, so a memory error can't orphan t: returns
 * LUA_OK (t now owned by the box) or the error status with the error
 * object pushed (t still the caller's). */
int lgl_try_push(lua_State *L, int meta_idx, lg_tensor *t) {
  meta_idx = lua_absindex(L, meta_idx);
  lua_pushcfunction(L, new_box_with_meta);
  lua_pushvalue(L, meta_idx);
  int status = lua_pcall(L, 1, 1, 0);
  if (status == LUA_OK) lgl_box_set(lua_touserdata(L, -1), t);
  return status;
}

void lgl_push_tensor(lua_State *L, lg_tensor *t) {
  int status = lgl_try_push(L, LGL_META_UPVALUE, t);
  if (status == LUA_OK) return;
  lg_tensor_release(t);
  lua_error(L); /* rethrows the error object (Lua's preallocated message) */
}

int lgl_error_as(lua_State *L, const char *fname) {
  lg_ctx *ctx = lgl_ctx(L);
  const char *msg = lg_ctx_error(ctx);
  size_t n = strlen(fname);
  if (strncmp(msg, fname, n) == 0 && msg[n] == ':') {
    lua_pushstring(L, msg);
  } else {
    const char *colon = strstr(msg, ": ");
    const char *rest = msg;
    /* drop a leading "op: " prefix whose op is a single word */
    if (colon && strcspn(msg, " ") == (size_t)(colon - msg) + 1)
      rest = colon + 2;
    lua_pushfstring(L, "%s: %s", fname, rest);
  }
  lg_ctx_clear_error(ctx);
  return lua_error(L);
}

int lgl_error(lua_State *L) {
  lg_ctx *ctx = lgl_ctx(L);
  lua_pushstring(L, lg_ctx_error(ctx));
  lg_ctx_clear_error(ctx);
  return lua_error(L);
}

/* A private address: its presence on top of the stack marks an out=
 * request left by lgl_push_out_request (never stored, so not global state). */
static const char out_marker = 0;

void lgl_push_out_request(lua_State *L, int out_idx) {
  lua_pushvalue(L, out_idx);
  lua_pushlightuserdata(L, (void *)&out_marker);
}

int lgl_opt_out(lua_State *L, int idx, const char *fname) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  if (lua_getfield(L, idx, "out") == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lgl_to_tensor(L, -1))
    luaL_error(L, "%s: expected a tensor for option out, got %s", fname,
               lgl_typename(L, -1));
  return lua_gettop(L);
}

int lgl_run_op(lua_State *L, lg_op op, int n_in, lg_tensor *const *in,
               const lg_params *p, int self_idx) {
  int top = lua_gettop(L), out_idx = 0;
  if (top >= 2 && lua_islightuserdata(L, top) &&
      lua_touserdata(L, top) == &out_marker)
    out_idx = top - 1;
  return lgl_run_op_out(L, op, n_in, in, p, self_idx, out_idx);
}

int lgl_run_op_out(lua_State *L, lg_op op, int n_in, lg_tensor *const *in,
                   const lg_params *p, int self_idx, int out_idx) {
  lgl_state *S = lgl_get_state(L);
  bool inplace = p && (p->flags & LG_FLAG_INPLACE);
  int n_out = lg_op_num_outputs(op);
  if (out_idx) { /* out=: the result lands in the given tensor, no boxes */
    if (n_out != 1)
      return luaL_error(L, "%s: out= is supported for ops with one result",
                        lg_op_name(op));
    lg_params q = {0};
    if (p) q = *p;
    q.flags |= LG_FLAG_OUT;
    lg_tensor *out = lgl_check_tensor(L, out_idx, lg_op_name(op));
    if (lg_op_run(S->ctx, op, n_in, in, &q, &out) != LG_OK)
      return lgl_error(L);
    lg_tensor_release(out);
    lua_pushvalue(L, out_idx);
    return 1;
  }
  if (inplace) {
    lg_tensor *out = NULL;
    if (lg_op_run(S->ctx, op, n_in, in, p, &out) != LG_OK) return lgl_error(L);
    lg_tensor_release(out);
    lua_pushvalue(L, self_idx);
    return 1;
  }
  /* the collector's debt for earlier results is paid before this op
   * allocates: a result that died since (the common `y = f(a + b)`, a
   * loop's last temporaries) is freed now, and its block, still in the
   * cache, serves this op. (The boxes below may run the collector too.) */
  lgl_gc_pressure(L, S);
  lgl_box *boxes[2];
  for (int i = 0; i < n_out; i++) boxes[i] = lgl_new_box(L);
  lg_tensor *outs[2] = {NULL, NULL};
  if (lg_op_run(S->ctx, op, n_in, in, p, outs) != LG_OK) return lgl_error(L);
  for (int i = 0; i < n_out; i++) lgl_box_set(boxes[i], outs[i]);
  return n_out;
}
