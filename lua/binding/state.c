/* state.c: the tensor userdata (boxes, their slots and the per-cycle sweep
 * that releases dead boxes' tensors), error raising, op running (with
 * out=) and the memory-pressure link between tensor bytes and Lua's
 * collector, in its incremental and its generational mode. */
#include "lgl_out.h"

#include <string.h>

lg_tensor *lgl_to_tensor(lua_State *L, int idx) {
  lgl_box *box = lua_touserdata(L, idx);
  /* a full userdata of a box's size whose check matches (a light userdata
   * has raw length 0) */
  if (!box || lua_rawlen(L, idx) != sizeof *box ||
      box->check != lgl_box_check(box))
    return NULL;
  return lgl_box_tensor(box);
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

/* ---- box slots -------------------------------------------------------------
 * (why boxes have no __gc: lgl.h, lgl_box). The state userdata's user
 * values: */
#define UV_BOXES 1         /* weak-valued table: slot + 1 -> its box */
#define UV_SLOTS 2         /* the userdata holding S->slots */
#define UV_SENTINEL_META 3 /* the sentinels' metatable (__gc = sweep) */
#define SLOTS_FIRST 64

static void free_slot(lgl_state *S, uint32_t i) {
  lgl_slot *s = &S->slots[i];
  s->t = NULL;
  s->serial = 0;
  s->next_free = S->free_head;
  S->free_head = i;
  S->live--;
}

/* Doubles the slots (a new userdata; the old one becomes garbage). */
static void grow_slots(lua_State *L, lgl_state *S, int state_idx) {
  if (S->n_slots > UINT32_MAX / 4)
    luaL_error(L, "luagrad: too many live tensors (%u)", (unsigned)S->live);
  uint32_t n = S->n_slots ? S->n_slots * 2 : SLOTS_FIRST;
  lgl_slot *slots = lua_newuserdatauv(L, (size_t)n * sizeof *slots, 0);
  /* copied after the allocation: a collector step in it may have swept */
  if (S->n_slots) memcpy(slots, S->slots, (size_t)S->n_slots * sizeof *slots);
  for (uint32_t i = S->n_slots; i < n; i++)
    slots[i] = (lgl_slot){NULL, 0, i + 1 < n ? i + 1 : S->free_head};
  uint32_t old_n = S->n_slots;
  S->free_head = S->n_slots;
  S->slots = slots;
  S->n_slots = n;
  lua_setiuservalue(L, state_idx, UV_SLOTS);
  /* the weak table's array part grows to n now (false until a box takes
   * the slot), so entering a box is a store, never a rehash */
  lua_getiuservalue(L, state_idx, UV_BOXES);
  for (uint32_t i = old_n; i < n; i++) {
    lua_pushboolean(L, 0);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_pop(L, 1);
}

/* A sentinel: an unreachable userdata with a finalizer, so the collector
 * calls sweep_boxes at the end of the cycle that finds it dead.
 *
 * Popping a value leaves it in the stack slot above the top, and a later
 * collector step that runs while the stack reaches higher (a Lua frame is
 * marked up to its full register window, dead registers included) marks
 * it again: a sentinel left there stayed alive for as long as that frame
 * ran, so no sweep ran and every dead tensor stayed allocated (a loop of
 * `x * 2` on 1M floats held 580 MB after 150 calls, each call faulting in
 * a fresh 4 MB block). The slot is overwritten with nil before returning,
 * so nothing but the collector's finalizer list refers to the sentinel. */
static void arm_sentinel(lua_State *L, lgl_state *S, int state_idx) {
  lua_newuserdatauv(L, 0, 0);
  lua_getiuservalue(L, state_idx, UV_SENTINEL_META);
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
  lua_pushnil(L); /* over the sentinel's slot */
  lua_pop(L, 1);
  S->sentinel_armed = true;
}

/* Releases the slots whose box the collector cleared from the weak table
 * (or never entered: an out-of-memory error between taking the slot and
 * entering the box leaves the slot's false): one rawgeti per slot in use,
 * once per collector cycle. */
static void sweep_boxes(lua_State *L, lgl_state *S, int state_idx) {
  lua_getiuservalue(L, state_idx, UV_BOXES);
  for (uint32_t i = 0; i < S->n_used; i++) {
    if (!S->slots[i].serial) continue;
    if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TUSERDATA) {
      lg_tensor *t = S->slots[i].t;
      free_slot(S, i);
      lg_tensor_release(t);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  while (S->n_used && !S->slots[S->n_used - 1].serial) S->n_used--;
}

/* The sentinels' __gc (upvalue 1: the state userdata): sweeps, then arms
 * the next sentinel while boxes remain (or the next lgl_new_box will). */
static int sentinel_gc(lua_State *L) {
  lgl_state *S = lua_touserdata(L, lua_upvalueindex(1));
  S->sentinel_armed = false;
  if (S->closed) return 0;
  sweep_boxes(L, S, lua_upvalueindex(1));
  if (S->live) arm_sentinel(L, S, lua_upvalueindex(1));
  return 0;
}

void lgl_boxes_open(lua_State *L, int state_idx) {
  state_idx = lua_absindex(L, state_idx);
  lgl_state *S = lua_touserdata(L, state_idx);
  S->free_head = LGL_NO_SLOT;
  lua_createtable(L, 0, 0);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setiuservalue(L, state_idx, UV_BOXES);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, state_idx);
  lua_pushcclosure(L, sentinel_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_setiuservalue(L, state_idx, UV_SENTINEL_META);
  grow_slots(L, S, state_idx);
}

void lgl_boxes_close(lgl_state *S) {
  S->closed = true;
  for (uint32_t i = 0; i < S->n_used; i++) {
    lg_tensor *t = S->slots[i].t;
    S->slots[i].t = NULL; /* its box, if a later finalizer sees it: released */
    lg_tensor_release(t);
  }
}

void lgl_box_release(lgl_box *box) {
  lg_tensor *t = lgl_box_tensor(box);
  if (!t) return;
  lgl_box_set(box, NULL); /* the slot itself is freed once the box dies */
  lg_tensor_release(t);
}

void lgl_push_boxes(lua_State *L, int state_idx) {
  lua_getiuservalue(L, state_idx, UV_BOXES);
}

/* Pushes a box for the state at state_idx with the metatable at meta_idx,
 * gives it a slot and pushes it again, for the caller to enter in the
 * weak table. */
static lgl_box *make_box(lua_State *L, lgl_state *S, int state_idx,
                         int meta_idx) {
  if (S->closed) luaL_error(L, "luagrad: the library's state was closed");
  if (S->free_head == LGL_NO_SLOT) grow_slots(L, S, state_idx);
  if (!S->sentinel_armed) arm_sentinel(L, S, state_idx);
  lgl_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = (lgl_box){S, 0, 0, 0}; /* no valid check until its slot is taken */
  lua_pushvalue(L, meta_idx);
  lua_setmetatable(L, -2);
  /* the slot is taken after the allocations, which may run a sweep that
   * frees slots (never takes one): a free one is still there */
  uint32_t i = S->free_head;
  lgl_slot *s = &S->slots[i];
  S->free_head = s->next_free;
  s->t = NULL;
  s->serial = ++S->serial;
  S->live++;
  if (i >= S->n_used) S->n_used = i + 1;
  box->serial = s->serial;
  box->slot = i;
  box->check = lgl_box_check(box);
  /* the caller's lua_rawseti stores into the array part the slots grew
   * (no allocation, no collector step between taking and entering) */
  lua_pushvalue(L, -1);
  return box;
}

lgl_box *lgl_new_box_at(lua_State *L, int state_idx, int meta_idx) {
  state_idx = lua_absindex(L, state_idx);
  meta_idx = lua_absindex(L, meta_idx);
  lgl_box *box = make_box(L, lua_touserdata(L, state_idx), state_idx, meta_idx);
  lgl_push_boxes(L, state_idx);
  lua_insert(L, -2);
  lua_rawseti(L, -2, (lua_Integer)box->slot + 1);
  lua_pop(L, 1);
  return box;
}

lgl_box *lgl_new_box(lua_State *L) {
  lgl_box *box = make_box(L, lgl_get_state(L), LGL_STATE_UPVALUE,
                          LGL_META_UPVALUE);
  lua_rawseti(L, LGL_BOXES_UPVALUE, (lua_Integer)box->slot + 1);
  return box;
}

/* The collector's pace against tensor memory (lgl_gc_pressure): the
 * least and most tensor bytes between two collector cycles, the most as a
 * multiple of the Lua heap, and the least allocation between two steps. */
#define GC_TARGET_FLOOR ((size_t)4 << 20)
#define GC_TARGET_HEAP_RATIO 32
#define GC_STEP_FLOOR ((uint64_t)1 << 20)
#define GC_DEBT_FLOOR ((uint64_t)1 << 18) /* see lgl_gc_pay_debt */

/* In generational mode a step is a minor collection: it frees the boxes
 * that died young (a loop's temporaries) at the cost of a pass over the
 * young objects only, but not those that lived through two minor
 * collections first, such as the activations a forward pass keeps for
 * backward. Lua runs a major collection when its own heap has doubled,
 * which a few kilobytes of boxes per batch take hundreds of batches to do,
 * while their dead tensors pile up (the demo CNN grew by 0.5 MB a batch).
 * So the same rule is applied to tensor bytes: when those in use exceed
 * twice the fewest seen since the last full cycle (and that by
 * GC_FULL_FLOOR at least) at two checks in a row, a full cycle runs. A loop
 * whose temporaries die young never grows so and pays for minor
 * collections only. The second check lets a minor collection first free
 * what died young: a full cycle makes every live object old, and one run
 * just after a large result was made would keep that result's block until
 * the next full cycle once it died (vmap's per-sample gradients then
 * cycled through two 26 MB blocks instead of reusing one).
 *
 * Lua has no query for the mode, but switching to incremental returns the
 * mode it leaves: in incremental mode that switch changes nothing (the
 * incremental pace already bounds memory), and in generational mode
 * switching back is the major collection itself (Lua makes its own full
 * collection so). */
#define GC_FULL_FLOOR ((size_t)16 << 20)

static void full_cycle_when_grown(lua_State *L, lgl_state *S) {
  size_t in_use = lg_ctx_bytes_in_use(S->ctx);
  if (in_use < S->gc_full_low) S->gc_full_low = in_use;
  size_t low = S->gc_full_low;
  if (in_use - low <= (low > GC_FULL_FLOOR ? low : GC_FULL_FLOOR)) {
    S->gc_full_due = false;
    return;
  }
  if (!S->gc_full_due) {
    S->gc_full_due = true;
    return;
  }
  S->gc_full_due = false;
  if (lua_gc(L, LUA_GCINC, 0, 0, 0) == LUA_GCGEN) lua_gc(L, LUA_GCGEN, 0, 0);
  S->gc_full_low = lg_ctx_bytes_in_use(S->ctx);
}

/* A call that makes large results again (vmap) starts with a minor
 * collection when GC_DEBT_FLOOR bytes were handed out since the last such
 * start: the previous call's results, dropped by the caller, are freed
 * and their blocks serve this call hot. (lgl_gc_pressure's own step may
 * have come while they were still being returned.) */
void lgl_gc_pay_debt(lua_State *L, lgl_state *S) {
  uint64_t now = lg_ctx_bytes_handed_out(S->ctx);
  if (now - S->gc_call_mark < GC_DEBT_FLOOR) return;
  S->gc_call_mark = now;
  if (!lua_gc(L, LUA_GCISRUNNING)) return;
  lua_gc(L, LUA_GCSTEP, 0);
  full_cycle_when_grown(L, S);
}

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
  if (!lua_gc(L, LUA_GCISRUNNING)) return; /* the script stopped it */
  double heap_kb = (double)lua_gc(L, LUA_GCCOUNT, 0);
  size_t target = lg_ctx_bytes_in_use(S->ctx);
  size_t most = (size_t)(heap_kb * 1024 * GC_TARGET_HEAP_RATIO);
  if (target > most) target = most;
  if (target < GC_TARGET_FLOOR) target = GC_TARGET_FLOOR;
  S->gc_step = target / 16 > GC_STEP_FLOOR ? target / 16 : GC_STEP_FLOOR;
  double kb = 2.0 * heap_kb * (double)delta / (double)target;
  lua_gc(L, LUA_GCSTEP, kb < 1 ? 1 : kb > INT32_MAX ? INT32_MAX : (int)kb);
  full_cycle_when_grown(L, S);
}

static int new_box_protected(lua_State *L) {
  lgl_new_box_at(L, 1, 2);
  return 1;
}

/* Pushes t in a new box (the state userdata at state_idx, the metatable at
 * meta_idx). The userdata is made under a protected call, so a memory
 * error can't orphan t: returns LUA_OK (t now owned by the box) or the
 * error status with the error object pushed (t still the caller's). */
int lgl_try_push(lua_State *L, int state_idx, int meta_idx, lg_tensor *t) {
  state_idx = lua_absindex(L, state_idx);
  meta_idx = lua_absindex(L, meta_idx);
  lua_pushcfunction(L, new_box_protected);
  lua_pushvalue(L, state_idx);
  lua_pushvalue(L, meta_idx);
  int status = lua_pcall(L, 2, 1, 0);
  if (status == LUA_OK) lgl_box_set(lua_touserdata(L, -1), t);
  return status;
}

int lgl_try_push_registry(lua_State *L, lg_tensor *t) {
  if (!lua_checkstack(L, 4)) return LUA_ERRMEM; /* nothing pushed then */
  lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.state");
  luaL_getmetatable(L, LGL_TENSOR_TYPE);
  int status = lua_isuserdata(L, -2) && lua_istable(L, -1)
                   ? lgl_try_push(L, -2, -1, t)
                   : (lua_pushliteral(L, "luagrad: the library is not open"),
                      LUA_ERRRUN);
  lua_rotate(L, -3, 1); /* result (or error) below the two */
  lua_pop(L, 2);
  return status;
}

void lgl_push_tensor(lua_State *L, lg_tensor *t) {
  int status = lgl_try_push(L, LGL_STATE_UPVALUE, LGL_META_UPVALUE, t);
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
