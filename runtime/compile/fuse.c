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
 * sum splits too, each later part keeping its summed values and adding
 * them into the lanes once the parts before it have (run_split_sum).
 *
 * Bit-identity with the per-op replay: each step runs the very loop the
 * eager kernel runs (elementwise_fuse.h), element by element the same
 * expression; the sum adds element i into lane i % 32 in double and folds
 * the lanes like reduce.c's row_sum, whose order is thereby reproduced.
 */
#include <sched.h>
#include <stdatomic.h>
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
  if (plan->fold) lg_mem_free(plan->ctx, plan->fold, plan->fold_bytes);
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
  /* a split sum (run_split_sum): tiles [0, head) sum into acc; later
   * tiles store the summed value at fold (element i at fold[i - head's
   * first element]) unless it is in memory anyway */
  int64_t head;
  unsigned char *fold;
  lg_stop *stop;
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
      else if (t >= r->head) { /* a split sum's later tile: kept for it */
        if (r->fold && r->mem[k][1] == NULL)
          memcpy(r->fold + (size_t)(i0 - r->head * LG_FUSE_TILE) * r->item,
                 d[1], (size_t)m * r->item);
      } else if (g->dtype == LG_FLOAT32)
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

/* Tiles [t0, t1) in blocks of 256, ending early once r->stop says so. */
static void run_tiles_stoppable(group_run *r, unsigned char *tiles, int64_t t0,
                                int64_t t1) {
  for (int64_t t = t0; t < t1; t += 256) {
    if (t > t0 && lg_stop_now(r->stop)) return;
    run_tiles(r, tiles, t, t + 256 < t1 ? t + 256 : t1);
  }
}

/* A split sum (run_split_sum): part 0 sums the head's tiles (the plan's
 * tile buffers); each later part makes the summed values of its share of
 * the rest (tile buffers on its stack) into the fold buffer, waits until
 * the parts before it have added theirs into the lanes, and adds its own:
 * the additions of the serial order, and each part reads back only what
 * it wrote itself (the head reading the others' values from their caches
 * cost more than the split saved: 2 MB crossing cores took ~300 us). */
#define MAX_PARTS 16
typedef struct split_job {
  const group_run *r;
  int64_t bound[MAX_PARTS + 1]; /* part p: tiles [bound[p], bound[p + 1]) */
  /* the lanes, handed from part to part; each part works on its own copy
   * of r (lanes included): the head adding into lanes that shared a cache
   * line with what the others read per tile made both run at half speed */
  _Alignas(64) double acc[SUM_LANES];
  _Alignas(64) atomic_int added; /* the parts whose values are in acc */
} split_job;

/* Waits (spinning, then yielding) until the parts before p have added. */
static void wait_turn(split_job *job, int p) {
  for (unsigned i = 0; atomic_load_explicit(&job->added, memory_order_acquire) < p; i++)
    if (i % 1024 == 1023) sched_yield();
}

static void run_split_part(void *arg, int64_t p0, int64_t p1) {
  split_job *job = arg;
  for (int p = (int)p0; p < (int)p1; p++) {
    group_run r = *job->r;
    if (p == 0) {
      run_tiles_stoppable(&r, align_up(r.plan->tiles), 0, job->bound[1]);
    } else {
      unsigned char buf[PARALLEL_TILES * TILE_STRIDE + TILE_ALIGN];
      run_tiles_stoppable(&r, align_up(buf), job->bound[p], job->bound[p + 1]);
      wait_turn(job, p);
      memcpy(r.acc, job->acc, sizeof r.acc);
      int64_t first = job->bound[p] * LG_FUSE_TILE;
      int64_t end = job->bound[p + 1] * LG_FUSE_TILE;
      int64_t n = (end < r.g->numel ? end : r.g->numel) - first;
      const char *summed = r.mem[r.g->n - 1][1];
      const char *from =
          summed ? summed + (size_t)first * r.item
                 : (const char *)r.fold +
                       (size_t)(first - r.head * LG_FUSE_TILE) * r.item;
      if (!lg_stop_now(r.stop)) {
        if (r.g->dtype == LG_FLOAT32)
          tile_sum_f32(r.acc, (const float *)(const void *)from, n);
        else
          tile_sum_f64(r.acc, (const double *)(const void *)from, n);
      }
    }
    memcpy(job->acc, r.acc, sizeof r.acc);
    atomic_store_explicit(&job->added, p + 1, memory_order_release);
  }
}

/* A group ending in a sum, on several threads with the serial order of
 * additions (see split_job). The head is one part's share of the tiles:
 * the other parts' copy out of a tile costs about what adding it costs. */
static lg_status run_split_sum(group_run *r, int64_t n_tiles, int n_parts) {
  lg_plan *plan = (lg_plan *)r->plan;
  if (n_parts > MAX_PARTS) n_parts = MAX_PARTS;
  split_job job;
  job.r = r;
  memcpy(job.acc, r->acc, sizeof job.acc);
  atomic_init(&job.added, 0);
  r->head = n_tiles / n_parts;
  job.bound[0] = 0;
  for (int p = 1; p <= n_parts; p++)
    job.bound[p] = r->head + (n_tiles - r->head) * (p - 1) / (n_parts - 1);
  if (!r->mem[r->g->n - 1][1]) { /* the summed value lives in tiles */
    size_t bytes = (size_t)(r->g->numel - r->head * LG_FUSE_TILE) * r->item;
    if (bytes > plan->fold_bytes) {
      unsigned char *fold = lg_mem_alloc(plan->ctx, bytes);
      if (!fold) return lg_fail(plan->ctx, LG_ERR_MEMORY, "compile: out of memory");
      if (plan->fold) lg_mem_free(plan->ctx, plan->fold, plan->fold_bytes);
      plan->fold = fold;
      plan->fold_bytes = bytes;
    }
    r->fold = plan->fold;
  }
  lg_stop stop = {plan->ctx, false};
  r->stop = &stop;
  lg_status st = lg_parallel_for(plan->ctx, n_parts, 1, run_split_part, &job);
  memcpy(r->acc, job.acc, sizeof r->acc);
  return st ? st : lg_stop_status(&stop);
}

lg_status lg_plan_run_group(lg_plan *plan, const lg_plan_group *g) {
  group_run r;
  memset(&r, 0, sizeof r);
  r.plan = plan;
  r.g = g;
  r.item = lg_dtype_size(g->dtype);
  r.n_ew = g->n - (g->reduce ? 1 : 0);
  r.head = INT64_MAX; /* every tile sums (unless run_split_sum) */
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
  int n_parts = lg_ctx_num_threads(plan->ctx);
  if (g->reduce && n_parts > 1 && buffers <= PARALLEL_TILES &&
      n_tiles >= (int64_t)n_parts * (LG_GRAIN_MATH / LG_FUSE_TILE)) {
    lg_status st = run_split_sum(&r, n_tiles, n_parts);
    if (st) return st;
  } else { /* the sum adds the tiles in order, on this thread */
    unsigned char *tiles = plan->tiles ? align_up(plan->tiles) : NULL;
    for (int64_t t = 0; t < n_tiles; t += 256) {
      if (t && lg_interrupt_pending(plan->ctx)) {
        lg_status st = lg_check_interrupt(plan->ctx);
        if (st) return st;
      }
      run_tiles(&r, tiles, t, t + 256 < n_tiles ? t + 256 : n_tiles);
    }
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
