/* fuse.c: fused groups of a compiled plan (func.compile).
 *
 * At plan-build time, runs of consecutive elementwise steps (unary and
 * binary kernels on same-shape contiguous float32/float64 tensors, scalar
 * operands as the kernels take them) become one group; a full sum or mean
 * of a value the group makes may end it. A value made and read only
 * inside its group (no view, not a result) gets no buffer: the group runs
 * tile by tile (LG_FUSE_TILE elements), each step's loop over the tile,
 * such values living in small tile buffers, so the chain is one pass over
 * memory. Values read after the group (or results) are written through.
 * Groups without a reduction split their tiles across the context's
 * threads (each chunk with tile buffers on its stack); a group ending in a
 * sum runs its tiles in order on the calling thread.
 *
 * Bit-identity with the per-op replay: each step runs the very loop the
 * eager kernel runs (elementwise_fuse.h), element by element the same
 * expression; the sum adds element i into lane i % 32 in double and folds
 * the lanes like reduce.c's row_sum, whose order is thereby reproduced.
 */
#include <stdint.h>
#include <string.h>

#include "compile.h"
#include "parallel.h"
#include "vmath.h"

#define MAX_GROUP 16   /* steps of one group (tile buffers likewise)      */
#define SUM_LANES 32   /* reduce.c's row_sum                              */
#define TILE_ALIGN 64
/* Bytes from one tile buffer to the next: a tile of float64 and one cache
 * line more. Buffers 4 KiB apart (or a multiple) share their address bits
 * 0-11, and a load from one whose bits match a pending store to another
 * waits for that store (the CPU compares those bits first: "4K
 * aliasing"); the chain's kernels store one tile while loading the next,
 * and the fused chain ran 20-30% slower so. */
#define TILE_STRIDE (LG_FUSE_TILE * 8 + 64)

static bool contiguous_shape(const lg_plan_val *v, int ndim,
                             const int64_t *sizes) {
  if (v->ndim != ndim) return false;
  int64_t expect = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    if (v->sizes[d] != sizes[d]) return false;
    if (v->sizes[d] != 1 && v->strides[d] != expect) return false;
    expect *= v->sizes[d];
  }
  return true;
}

/* The value an operand reads, and whether it is a view. */
static const lg_plan_val *val_of(const lg_plan *plan, const lg_plan_step *st,
                                 int i) {
  return &plan->vals[plan->operands[st->first + i]];
}

/* Whether step s can join a group of dtype / shape `ref` starting at
 * `first` (its ew loop in *e). */
static bool member_ok(const lg_plan *plan, int s, int first,
                      const lg_plan_val *ref, lg_ew_loop *e) {
  const lg_plan_step *st = &plan->steps[s];
  if (st->op >= LG_OP_COUNT || st->n_out != 1) return false;
  if (!lg_elementwise_fusible(st->op, &st->p, st->n_in, ref->dtype, e))
    return false;
  for (int i = 0; i <= st->n_in; i++) {
    const lg_plan_val *v = val_of(plan, st, i);
    if (v->dtype != ref->dtype || !contiguous_shape(v, ref->ndim, ref->sizes))
      return false;
    if (i == st->n_in) /* the output: a fresh buffer made here */
      return (v->kind == LG_VAL_ARENA || v->kind == LG_VAL_OUT) && v->def == s;
    /* a view of what the group makes would be read at its own offset */
    if (v->kind == LG_VAL_VIEW && plan->vals[v->root].def >= first &&
        plan->vals[v->root].kind != LG_VAL_ARG &&
        plan->vals[v->root].kind != LG_VAL_CONST)
      return false;
  }
  return true;
}

/* Whether step s is a full sum/mean of a value made in [first, s). */
static bool reduce_ok(const lg_plan *plan, int s, int first,
                      const lg_plan_val *ref) {
  const lg_plan_step *st = &plan->steps[s];
  if ((st->op != LG_OP_SUM && st->op != LG_OP_MEAN) || st->n_in != 1 ||
      st->n_out != 1 || st->p.n_ints != 0 ||
      (st->p.flags & (LG_FLAG_INPLACE | LG_FLAG_OUT)))
    return false;
  const lg_plan_val *x = val_of(plan, st, 0), *y = val_of(plan, st, 1);
  if ((x->kind != LG_VAL_ARENA && x->kind != LG_VAL_OUT) || x->def < first ||
      x->def >= s)
    return false;
  int64_t one[LG_MAX_DIMS];
  for (int d = 0; d < LG_MAX_DIMS; d++) one[d] = 1;
  return x->dtype == ref->dtype && y->dtype == ref->dtype &&
         (y->kind == LG_VAL_ARENA || y->kind == LG_VAL_OUT) && y->def == s &&
         contiguous_shape(y, y->ndim, one);
}

static bool has_view(const lg_plan *plan, int v) {
  for (int w = 0; w < plan->n_vals; w++)
    if (plan->vals[w].kind == LG_VAL_VIEW && plan->vals[w].root == v)
      return true;
  return false;
}

/* Makes steps [first, first + n) a group when some value lives only
 * inside it (or it ends in a reduction); returns whether it did. */
static lg_status make_group(lg_plan *plan, int first, int n, bool reduce,
                            bool *made) {
  *made = false;
  int last = first + n - 1, n_tiles = 0;
  int internal[MAX_GROUP];
  for (int s = first; s <= last; s++) {
    int v = plan->operands[plan->steps[s].first + plan->steps[s].n_in];
    lg_plan_val *val = &plan->vals[v];
    internal[s - first] = !(reduce && s == last) &&
                          val->kind == LG_VAL_ARENA && val->last <= last &&
                          !val->written && !has_view(plan, v);
    n_tiles += internal[s - first];
  }
  if (!n_tiles && !reduce) return LG_OK;
  if (lg_grow(plan->ctx, (void **)&plan->groups, &plan->cap_groups,
              plan->n_groups + 1, sizeof *plan->groups))
    return LG_ERR_MEMORY;
  lg_plan_group *g = &plan->groups[plan->n_groups++];
  const lg_plan_val *ref =
      &plan->vals[plan->operands[plan->steps[first].first + plan->steps[first].n_in]];
  g->first = first;
  g->n = n;
  g->dtype = ref->dtype;
  g->numel = 1;
  for (int d = 0; d < ref->ndim; d++) g->numel *= ref->sizes[d];
  g->reduce = reduce;
  int slot_of[MAX_GROUP], next = 0;
  for (int s = first; s <= last; s++) {
    lg_plan_step *st = &plan->steps[s];
    st->group = plan->n_groups;
    for (int i = 0; i < 3; i++) st->tile[i] = -1;
    slot_of[s - first] = -1;
    int out = plan->operands[st->first + st->n_in];
    if (internal[s - first]) {
      slot_of[s - first] = next++;
      st->tile[0] = slot_of[s - first];
      plan->vals[out].kind = LG_VAL_FUSED;
    }
    for (int i = 0; i < st->n_in; i++) {
      int v = plan->operands[st->first + i];
      lg_plan_val *val = &plan->vals[v];
      if (val->def >= first && val->def <= last && val->kind != LG_VAL_VIEW &&
          val->kind != LG_VAL_ARG && val->kind != LG_VAL_CONST) {
        st->tile[1 + i] = slot_of[val->def - first];
      } else { /* read from memory over the whole group */
        lg_plan_val *root = val->kind == LG_VAL_VIEW ? &plan->vals[val->root] : val;
        if (root->last < last) root->last = last;
      }
    }
  }
  /* what the group writes through is written while it still reads */
  for (int s = first; s <= last; s++) {
    const lg_plan_step *st = &plan->steps[s];
    lg_plan_val *out = &plan->vals[plan->operands[st->first + st->n_in]];
    if (out->kind == LG_VAL_ARENA) out->def = first;
  }
  if (next > plan->n_tiles) plan->n_tiles = next;
  plan->fused_ops += n;
  *made = true;
  return LG_OK;
}

lg_status lg_plan_fuse(lg_plan *plan) {
  for (int s = 0; s < plan->n_steps;) {
    lg_ew_loop e;
    const lg_plan_step *st = &plan->steps[s];
    if (st->op >= LG_OP_COUNT || st->n_out != 1 || st->n_in < 1) {
      s++;
      continue;
    }
    const lg_plan_val *ref = val_of(plan, st, st->n_in);
    if (!member_ok(plan, s, s, ref, &e)) {
      s++;
      continue;
    }
    plan->steps[s].ew = e;
    int n = 1;
    while (s + n < plan->n_steps && n < MAX_GROUP &&
           member_ok(plan, s + n, s, ref, &e))
      plan->steps[s + n++].ew = e;
    bool reduce = s + n < plan->n_steps && n < MAX_GROUP &&
                  reduce_ok(plan, s + n, s, ref);
    bool made;
    lg_status st_ = make_group(plan, s, n + reduce, reduce, &made);
    if (st_) return st_;
    s += made ? n + reduce : 1;
  }
  if (plan->n_tiles) {
    size_t bytes = (size_t)plan->n_tiles * TILE_STRIDE + TILE_ALIGN;
    plan->tiles = lg_mem_alloc(plan->ctx, bytes);
    if (!plan->tiles)
      return lg_fail(plan->ctx, LG_ERR_MEMORY, "compile: out of memory");
  }
  return LG_OK;
}

void lg_plan_fuse_free(lg_plan *plan) {
  if (plan->tiles)
    lg_mem_free(plan->ctx, plan->tiles,
                (size_t)plan->n_tiles * TILE_STRIDE + TILE_ALIGN);
  if (plan->cap_groups)
    lg_mem_free(plan->ctx, plan->groups,
                sizeof *plan->groups * (size_t)plan->cap_groups);
}

/* ---- running ---------------------------------------------------------------- */

/* acc[i % SUM_LANES] += x[i] over a tile (n a multiple of SUM_LANES but
 * for the last tile), as row_sum adds them. */
#define TILE_SUM(SUF, T)                                                     \
  LG_VECTOR_CLONES static void tile_sum_##SUF(double *acc, const T *x,       \
                                              int64_t n) {                   \
    int64_t i = 0, whole = n - n % SUM_LANES;                                \
    for (; i < whole; i += SUM_LANES)                                        \
      for (int k = 0; k < SUM_LANES; k++) acc[k] += (double)x[i + k];        \
    for (; i < n; i++) acc[i % SUM_LANES] += (double)x[i];                   \
  }
TILE_SUM(f32, float)
TILE_SUM(f64, double)

/* One run of a group: the memory of each step's operands (NULL for a
 * tile buffer), and the sum's lanes. */
typedef struct group_run {
  const lg_plan *plan;
  const lg_plan_group *g;
  size_t item;
  int n_ew;
  char *mem[MAX_GROUP][3];
  double acc[SUM_LANES];
} group_run;

static unsigned char *align_up(unsigned char *p) {
  return p + ((TILE_ALIGN - (uintptr_t)p % TILE_ALIGN) % TILE_ALIGN);
}

/* Tiles [t0, t1) of the group, its tile buffers at `tiles`. */
static void run_tiles(group_run *r, unsigned char *tiles, int64_t t0,
                      int64_t t1) {
  const lg_plan_group *g = r->g;
  /* operand j of step k in tile t is at base[k][j] + t * step[k][j]
   * (step 0 for a tile buffer), worked out once rather than per tile */
  char *base[MAX_GROUP][3];
  size_t step[MAX_GROUP][3];
  int n_ops[MAX_GROUP];
  const size_t tile_bytes = (size_t)LG_FUSE_TILE * r->item;
  for (int k = 0; k < g->n; k++) {
    const lg_plan_step *st = &r->plan->steps[g->first + k];
    n_ops[k] = 1 + (st->n_in < 2 ? st->n_in : 2);
    base[k][0] = NULL; /* the sum's result: not a tile operand */
    step[k][0] = 0;
    for (int j = k < r->n_ew ? 0 : 1; j < n_ops[k]; j++) {
      bool tiled = st->tile[j] >= 0;
      base[k][j] = tiled ? (char *)tiles + (size_t)st->tile[j] * TILE_STRIDE
                         : r->mem[k][j];
      step[k][j] = tiled ? 0 : tile_bytes;
    }
  }
  for (int64_t t = t0; t < t1; t++) {
    int64_t i0 = t * LG_FUSE_TILE;
    int64_t m = g->numel - i0 < LG_FUSE_TILE ? g->numel - i0 : LG_FUSE_TILE;
    char *d[3];
    for (int k = 0; k < g->n; k++) {
      for (int j = 0; j < n_ops[k]; j++)
        d[j] = base[k][j] ? base[k][j] + (size_t)t * step[k][j] : NULL;
      if (k < r->n_ew)
        lg_elementwise_run(&r->plan->steps[g->first + k].ew, d, m, r->item);
      else if (g->dtype == LG_FLOAT32)
        tile_sum_f32(r->acc, (const float *)(void *)d[1], m);
      else
        tile_sum_f64(r->acc, (const double *)(void *)d[1], m);
    }
  }
}

/* Tile buffers on a worker's stack (256 KiB): groups of at most this many
 * tile-only values run on several threads. */
#define PARALLEL_TILES 8

static void run_tiles_chunk(void *arg, int64_t t0, int64_t t1) {
  unsigned char buf[PARALLEL_TILES * TILE_STRIDE + TILE_ALIGN];
  run_tiles(arg, align_up(buf), t0, t1);
}

lg_status lg_plan_run_group(lg_plan *plan, const lg_plan_group *g) {
  group_run r;
  memset(&r, 0, sizeof r);
  r.plan = plan;
  r.g = g;
  r.item = lg_dtype_size(g->dtype);
  r.n_ew = g->n - (g->reduce ? 1 : 0);
  for (int k = 0; k < g->n; k++) {
    const lg_plan_step *st = &plan->steps[g->first + k];
    const int *ops = plan->operands + st->first;
    r.mem[k][0] = st->tile[0] < 0 ? lg_data_ptr(plan->vals[ops[st->n_in]].t) : NULL;
    for (int i = 0; i < st->n_in && i < 2; i++)
      r.mem[k][1 + i] = st->tile[1 + i] < 0 ? lg_data_ptr(plan->vals[ops[i]].t) : NULL;
  }
  int64_t n_tiles = (g->numel + LG_FUSE_TILE - 1) / LG_FUSE_TILE;
  int buffers = 0;
  for (int k = 0; k < g->n; k++)
    if (plan->steps[g->first + k].tile[0] >= 0) buffers++;
  if (!g->reduce && buffers <= PARALLEL_TILES) /* elementwise only: tiles
    are independent, split across threads like the eager kernels */
    return lg_parallel_for(plan->ctx, n_tiles, LG_GRAIN_MATH / LG_FUSE_TILE,
                           run_tiles_chunk, &r);
  /* the sum adds the tiles in order, on this thread */
  unsigned char *tiles = plan->tiles ? align_up(plan->tiles) : NULL;
  for (int64_t t = 0; t < n_tiles; t += 256) {
    if (t && lg_interrupt_pending(plan->ctx)) {
      lg_status st = lg_check_interrupt(plan->ctx);
      if (st) return st;
    }
    run_tiles(&r, tiles, t, t + 256 < n_tiles ? t + 256 : n_tiles);
  }
  if (g->reduce) {
    for (int w = SUM_LANES / 2; w > 0; w /= 2)
      for (int k = 0; k < w; k++) r.acc[k] += r.acc[k + w];
    const lg_plan_step *st = &plan->steps[g->first + g->n - 1];
    double v = r.acc[0];
    if (st->op == LG_OP_MEAN) v = v / (double)g->numel;
    lg_store_double(r.mem[g->n - 1][0], g->dtype, v);
  }
  return LG_OK;
}
