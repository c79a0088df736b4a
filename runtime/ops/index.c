/* index.c: the indexing kernels: index_select, gather, scatter and
 * scatter_add with 1-based int64 (or int32) index tensors, masked_fill and
 * masked_select with bool masks. Large dense index checks, gathers along
 * the last dim and line scatter_adds split their rows across the
 * context's threads (each row's result the same at any count).
 *
 * Invariant: every index is checked against its range before the first
 * element is written, so a failing in-place scatter leaves its target
 * untouched. Index values are 1-based (as Lua users write them); 0 and
 * negative values are errors, as negative ones are in PyTorch.
 */
#include <stdint.h>
#include <string.h>

#include "core.h"
#include "dtype.h"
#include "iter.h"
#include "parallel.h"

/* ---- shared helpers ----------------------------------------------------- */

/* Fails unless index is an int64 or int32 tensor. */
static lg_status check_index_dtype(lg_ctx *ctx, const char *name,
                                   const lg_tensor *index) {
  if (index->dtype == LG_INT64 || index->dtype == LG_INT32) return LG_OK;
  return lg_fail(ctx, LG_ERR_DTYPE,
                 "%s: expected an int64 (or int32) index tensor, got %s", name,
                 lg_dtype_name(index->dtype));
}

static inline int64_t load_index(const char *ptr, lg_dtype dtype) {
  if (dtype == LG_INT64) {
    int64_t v;
    memcpy(&v, ptr, sizeof v);
    return v;
  }
  int32_t v;
  memcpy(&v, ptr, sizeof v);
  return v;
}

/* The error for a 1-based index outside 1..size. */
static lg_status index_error(lg_ctx *ctx, const char *name, int64_t value,
                             int64_t dim, int64_t size) {
  if (size == 0)
    return lg_fail(ctx, LG_ERR_INDEX,
                   "%s: index %lld out of range: dim %lld has size 0", name,
                   (long long)value, (long long)dim + 1);
  return lg_fail(ctx, LG_ERR_INDEX,
                 "%s: index %lld out of range for dim %lld of size %lld "
                 "(indices are 1-based: expected 1..%lld)",
                 name, (long long)value, (long long)dim + 1, (long long)size,
                 (long long)size);
}

/* Copies one element of item bytes. */
static inline void copy_item(char *dst, const char *src, size_t item) {
  switch (item) {
    case 1: *dst = *src; break;
    case 4: memcpy(dst, src, 4); break;
    default: memcpy(dst, src, 8); break;
  }
}

/* Row-major walk over a shape that keeps element offsets into up to three
 * strided operands (strides in elements). */
typedef struct walker {
  int ndim, n_operands;
  int64_t sizes[LG_MAX_DIMS];
  int64_t strides[3][LG_MAX_DIMS];
  int64_t pos[LG_MAX_DIMS];
  int64_t offset[3];
} walker;

static void walker_init(walker *w, int ndim, const int64_t *sizes) {
  memset(w, 0, sizeof *w);
  w->ndim = ndim;
  memcpy(w->sizes, sizes, (size_t)ndim * sizeof *sizes);
}

/* Adds an operand; strides may be NULL for one that never moves. */
static void walker_add(walker *w, const int64_t *strides) {
  int k = w->n_operands++;
  for (int i = 0; i < w->ndim; i++) w->strides[k][i] = strides ? strides[i] : 0;
}

/* Steps to the next position; false after the last one. */
static inline bool walker_next(walker *w) {
  for (int d = w->ndim - 1; d >= 0; d--) {
    for (int k = 0; k < w->n_operands; k++) w->offset[k] += w->strides[k][d];
    if (++w->pos[d] < w->sizes[d]) return true;
    for (int k = 0; k < w->n_operands; k++)
      w->offset[k] -= w->strides[k][d] * w->sizes[d];
    w->pos[d] = 0;
  }
  return false;
}

/* ---- index_select ------------------------------------------------------- */

/* Rows of at least PREFETCH_MIN_BLOCK bytes are prefetched PREFETCH_AHEAD
 * indices ahead of the copy, each in full up to PREFETCH_MAX_BYTES. */
#define PREFETCH_MIN_BLOCK 256
#define PREFETCH_AHEAD 8
#define PREFETCH_MAX_BYTES 4096

static inline void prefetch_block(const char *p, size_t bytes) {
  if (bytes > PREFETCH_MAX_BYTES) bytes = PREFETCH_MAX_BYTES;
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
}

/* x (.., S, ..), index (N) of 1-based positions -> out (.., N, ..) */
lg_status lg_kernel_index_select(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                                 int n_in, const lg_params *p,
                                 lg_tensor **out) {
  (void)n_in;
  (void)op;
  lg_tensor *x = in[0], *index = in[1];
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "index_select: has no in-place form");
  lg_status st = check_index_dtype(ctx, "index_select", index);
  if (st) return st;
  if (index->ndim > 1)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "index_select: expected a 1-d index tensor, got a %d-d one",
                   index->ndim);
  int64_t dim;
  st = lg_wrap_dim(ctx, "index_select", p->dim, x->ndim, &dim);
  if (st) return st;
  int64_t n = lg_tensor_numel(index);
  int64_t size = x->ndim > 0 ? x->sizes[dim] : 1;
  if (x->ndim == 0 && n != 1)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "index_select: a 0-d input takes exactly one index, got "
                   "%lld",
                   (long long)n);
  lg_tensor *positions = NULL, *source = NULL;
  st = lg_contiguous_as(ctx, index, LG_INT64, &positions);
  if (st) return st;
  const int64_t *idx = lg_tensor_data(positions);
  for (int64_t k = 0; k < n; k++)
    if (idx[k] < 1 || idx[k] > size) {
      st = index_error(ctx, "index_select", idx[k], dim, size);
      goto done;
    }
  int64_t sizes[LG_MAX_DIMS];
  memcpy(sizes, x->sizes, sizeof sizes);
  if (x->ndim > 0) sizes[dim] = n;
  st = lg_prepare_out(ctx, "index_select", out, x->dtype, x->ndim, sizes);
  if (st) goto done;
  if ((*out)->dtype != x->dtype || !lg_tensor_is_contiguous(*out)) {
    lg_tensor_release(*out);
    st = lg_fail(ctx, LG_ERR_ARG,
                 "index_select: the output must be a contiguous %s tensor",
                 lg_dtype_name(x->dtype));
    goto done;
  }
  st = lg_contiguous_as(ctx, x, x->dtype, &source);
  if (st) {
    lg_tensor_release(*out);
    goto done;
  }
  /* x as (outer, size, inner): copy whole inner blocks */
  {
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < x->ndim; i++) {
      if (i < dim) outer *= x->sizes[i];
      if (i > dim) inner *= x->sizes[i];
    }
    size_t item = lg_dtype_size(x->dtype);
    size_t block = (size_t)inner * item;
    const char *src = lg_data_ptr(source);
    char *dst = lg_data_ptr(*out);
    /* indices [k0, k1) of row o at a time, the interrupt flag looked at
     * after every LG_ITER_STEP elements copied (never per element) */
    int64_t step = LG_ITER_STEP / (inner > 0 ? inner : 1), since = 0;
    if (step < 1) step = 1;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t k0 = 0; k0 < n; k0 += step) {
        if ((since += step * inner) >= LG_ITER_STEP) {
          since = 0;
          if (lg_interrupt_pending(ctx) && (st = lg_check_interrupt(ctx))) {
            lg_tensor_release(*out);
            goto done;
          }
        }
        int64_t k1 = n - k0 < step ? n : k0 + step;
        const char *row = src + o * size * (int64_t)block;
        char *to = dst + (o * n + k0) * (int64_t)block;
        if (inner == 1 && item == 4) {
          /* one element per index (the last dim): copies of a constant
           * size, which compile to moves, not a call per element (pad,
           * interpolate and unfold select along the last dim) */
          for (int64_t k = k0; k < k1; k++, to += 4)
            memcpy(to, row + (idx[k] - 1) * 4, 4);
        } else if (inner == 1 && item == 8) {
          for (int64_t k = k0; k < k1; k++, to += 8)
            memcpy(to, row + (idx[k] - 1) * 8, 8);
        } else {
          /* long rows of a large source at random (a shuffled batch of a
           * dataset): the rows PREFETCH_AHEAD on are asked for while this
           * one is copied, so their memory latencies overlap */
          bool ahead = block >= PREFETCH_MIN_BLOCK;
          for (int64_t k = k0; k < k1; k++, to += block) {
            if (ahead && k + PREFETCH_AHEAD < n)
              prefetch_block(row + (idx[k + PREFETCH_AHEAD] - 1) * (int64_t)block, block);
            memcpy(to, row + (idx[k] - 1) * (int64_t)block, block);
          }
        }
      }
  }
done:
  lg_tensor_release(positions);
  lg_tensor_release(source);
  return st;
}

/* ---- gather and scatter ------------------------------------------------- */

/* Checks that index (and src when given) fit x for gather/scatter along
 * dim: same number of dims, index.size(d) <= x.size(d) for d != dim, and
 * index.size(d) <= src.size(d) for every d. */
static lg_status check_gather_shapes(lg_ctx *ctx, const char *name,
                                     const lg_tensor *x, const lg_tensor *index,
                                     const lg_tensor *src, int64_t dim) {
  char a[160], b[160], c[160];
  int nd = x->ndim > 0 ? x->ndim : 1;
  int ni = index->ndim > 0 ? index->ndim : 1;
  int ns = src ? (src->ndim > 0 ? src->ndim : 1) : ni;
  if (ni != nd || ns != nd)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: index%s must have as many dims as the input: input "
                   "%s, index %s%s%s",
                   name, src ? " and src" : "",
                   lg_shape_str(a, sizeof a, x->ndim, x->sizes),
                   lg_shape_str(b, sizeof b, index->ndim, index->sizes),
                   src ? ", src " : "",
                   src ? lg_shape_str(c, sizeof c, src->ndim, src->sizes) : "");
  for (int i = 0; i < index->ndim; i++) {
    bool bad = (i != dim && x->ndim > 0 && index->sizes[i] > x->sizes[i]) ||
               (src && src->ndim > 0 && index->sizes[i] > src->sizes[i]);
    if (bad)
      return lg_fail(
          ctx, LG_ERR_SHAPE,
          "%s: index of shape %s must be no larger than the input "
          "%s outside dim %lld%s%s",
          name, lg_shape_str(a, sizeof a, index->ndim, index->sizes),
          lg_shape_str(b, sizeof b, x->ndim, x->sizes), (long long)dim + 1,
          src ? " and no larger than src " : "",
          src ? lg_shape_str(c, sizeof c, src->ndim, src->sizes) : "");
  }
  return LG_OK;
}

/* Strides of t with the one along dim zeroed (0-d: a single zero). */
static void strides_without(const lg_tensor *t, int64_t dim, int64_t *out) {
  for (int i = 0; i < LG_MAX_DIMS; i++)
    out[i] = i < t->ndim && i != dim ? t->strides[i] : 0;
}

/* Checks every value of index against 1..size. */
/* Whether index is one line along dim broadcast over every other dim
 * (stride 0 or size 1 there): index_select's index as its backward's
 * scatter_add receives it. */
static bool is_line_along(const lg_tensor *index, int64_t dim) {
  if (index->ndim == 0) return false;
  for (int i = 0; i < index->ndim; i++)
    if (i != dim && index->strides[i] != 0 && index->sizes[i] != 1) return false;
  return true;
}

/* Whether a dense int64 index holds a value outside 1..size: one
 * branch-free pass, split across the context's threads when large (the
 * index of max_pool2d's backward scatter is 1.6M values a step). */
typedef struct range_check {
  const int64_t *v;
  int64_t size;
  atomic_bool bad;
} range_check;

static void check_range(void *arg, int64_t k0, int64_t k1) {
  range_check *c = arg;
  bool bad = false;
  for (int64_t k = k0; k < k1; k++) bad |= (c->v[k] < 1) | (c->v[k] > c->size);
  if (bad) atomic_store_explicit(&c->bad, true, memory_order_relaxed);
}

static lg_status check_index_values(lg_ctx *ctx, const char *name,
                                    const lg_tensor *index, int64_t dim,
                                    int64_t size) {
  if (lg_tensor_numel(index) == 0) return LG_OK;
  if (is_line_along(index, dim)) { /* the broadcast copies hold no new value */
    const char *base = lg_data_ptr(index);
    size_t item = lg_dtype_size(index->dtype);
    for (int64_t k = 0; k < index->sizes[dim]; k++) {
      int64_t v = load_index(base + k * index->strides[dim] * (int64_t)item, index->dtype);
      if (v < 1 || v > size) return index_error(ctx, name, v, dim, size);
    }
    return LG_OK;
  }
  if (index->dtype == LG_INT64 && lg_tensor_is_contiguous(index)) {
    /* dense: one branch-free pass; the walk below names a bad value */
    range_check c = {(const int64_t *)(const void *)lg_data_ptr(index), size, false};
    lg_status st = lg_parallel_for(ctx, lg_tensor_numel(index), LG_GRAIN_CHEAP,
                                   check_range, &c);
    if (st) return st;
    if (!atomic_load(&c.bad)) return LG_OK;
  }
  walker w;
  walker_init(&w, index->ndim, index->sizes);
  walker_add(&w, index->strides);
  size_t item = lg_dtype_size(index->dtype);
  const char *base = lg_data_ptr(index);
  do {
    int64_t v = load_index(base + w.offset[0] * (int64_t)item, index->dtype);
    if (v < 1 || v > size) return index_error(ctx, name, v, dim, size);
  } while (walker_next(&w));
  return LG_OK;
}

/* gather along the last dim into a contiguous out with int64 indices and
 * 4- or 8-byte items (F.fold's backward, the gather of a batch's rows):
 * rows split across the context's threads, each a tight loop. The
 * element walk below took ~20 cycles an element, on one thread. */
typedef struct gather_rows {
  const lg_tensor *x, *index;
  char *dst;
  size_t item;
} gather_rows;

#define GATHER_ROW(T)                                                         \
  for (int64_t k = 0; k < len; k++)                                           \
    ((T *)(void *)out)[k] = ((const T *)(const void *)src)[(ix[k * is] - 1) * xs];

static void gather_row_range(void *arg, int64_t r0, int64_t r1) {
  const gather_rows *g = arg;
  const lg_tensor *x = g->x, *index = g->index;
  int last = index->ndim - 1;
  int64_t len = index->sizes[last], is = index->strides[last], xs = x->strides[last];
  for (int64_t r = r0; r < r1; r++) {
    int64_t rem = r, xo = 0, io = 0; /* row r's offsets: unravel r */
    for (int d = last - 1; d >= 0; d--) {
      int64_t i = rem % index->sizes[d];
      rem /= index->sizes[d];
      xo += i * x->strides[d];
      io += i * index->strides[d];
    }
    const int64_t *ix = (const int64_t *)(const void *)lg_data_ptr(index) + io;
    const char *src = lg_data_ptr(x) + xo * (int64_t)g->item;
    char *out = g->dst + r * len * (int64_t)g->item;
    if (g->item == 4) {
      GATHER_ROW(uint32_t)
    } else {
      GATHER_ROW(uint64_t)
    }
  }
}

/* x, index (same dims) -> out (index's shape): out[..i..] = x[..index[..i..]..]
 * along dim */
lg_status lg_kernel_gather(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  (void)op;
  lg_tensor *x = in[0], *index = in[1];
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "gather: has no in-place form");
  int64_t dim = 0;
  lg_status st = check_index_dtype(ctx, "gather", index);
  if (!st) st = lg_wrap_dim(ctx, "gather", p->dim, x->ndim, &dim);
  if (!st) st = check_gather_shapes(ctx, "gather", x, index, NULL, dim);
  int64_t size = !st && x->ndim > 0 ? x->sizes[dim] : 1;
  if (!st) st = check_index_values(ctx, "gather", index, dim, size);
  if (!st)
    st =
        lg_prepare_out(ctx, "gather", out, x->dtype, index->ndim, index->sizes);
  if (st) return st;
  if ((*out)->dtype != x->dtype) {
    lg_tensor_release(*out);
    return lg_fail(ctx, LG_ERR_DTYPE, "gather: the output must be %s",
                   lg_dtype_name(x->dtype));
  }
  if (lg_tensor_numel(index) == 0) return LG_OK;
  size_t x_item = lg_dtype_size(x->dtype);
  if (x->ndim > 0 && dim == x->ndim - 1 && index->dtype == LG_INT64 &&
      (x_item == 4 || x_item == 8) && lg_tensor_is_contiguous(*out)) {
    gather_rows g = {x, index, lg_data_ptr(*out), x_item};
    int64_t len = index->sizes[dim], rows = lg_tensor_numel(index) / len;
    st = lg_parallel_for(ctx, rows, LG_GRAIN_CHEAP / len + 1, gather_row_range, &g);
    if (st && !(p->flags & LG_FLAG_OUT)) { /* interrupted: no result */
      lg_tensor_release(*out);
      *out = NULL;
    }
    return st;
  }
  int64_t x_strides[LG_MAX_DIMS];
  strides_without(x, dim, x_strides);
  int64_t dim_stride = x->ndim > 0 ? x->strides[dim] : 0;
  walker w;
  walker_init(&w, index->ndim, index->sizes);
  walker_add(&w, (*out)->strides);
  walker_add(&w, index->strides);
  walker_add(&w, x_strides);
  size_t item = lg_dtype_size(x->dtype),
         index_item = lg_dtype_size(index->dtype);
  char *dst = lg_data_ptr(*out);
  const char *src = lg_data_ptr(x), *idx = lg_data_ptr(index);
  do {
    int64_t v =
        load_index(idx + w.offset[1] * (int64_t)index_item, index->dtype);
    copy_item(dst + w.offset[0] * (int64_t)item,
              src + (w.offset[2] + (v - 1) * dim_stride) * (int64_t)item, item);
  } while (walker_next(&w));
  return LG_OK;
}

/* dst[k] += src[k] for one element of dtype (bool: logical or). */
static inline void add_item(char *dst, const char *src, lg_dtype dtype) {
  switch (dtype) {
#define ADD_CASE(D, T)         \
  case D: {                    \
    T a, b;                    \
    memcpy(&a, dst, sizeof a); \
    memcpy(&b, src, sizeof b); \
    a = (T)(a + b);            \
    memcpy(dst, &a, sizeof a); \
    break;                     \
  }
    case LG_BOOL:
      *dst = (char)(*dst || *src);
      break;
      ADD_CASE(LG_UINT8, uint8_t)
      ADD_CASE(LG_FLOAT32, float)
      ADD_CASE(LG_FLOAT64, double)
#undef ADD_CASE
    case LG_INT32: {
      int32_t a, b;
      memcpy(&a, dst, 4);
      memcpy(&b, src, 4);
      a = (int32_t)(uint32_t)((uint32_t)a + (uint32_t)b); /* wraps */
      memcpy(dst, &a, 4);
      break;
    }
    default: {
      int64_t a, b;
      memcpy(&a, dst, 8);
      memcpy(&b, src, 8);
      a = (int64_t)((uint64_t)a + (uint64_t)b);
      memcpy(dst, &a, 8);
      break;
    }
  }
}

/* One line of indices scattered into rows [o0, o1) of a float32 target
 * along its last dim (scatter_add_lines). */
typedef struct line_rows {
  const int64_t *index; /* the one line of indices, 1-based */
  float *target;
  const float *src;
  int64_t size, n; /* a target row's and a src row's length */
} line_rows;

static void scatter_line_rows(void *arg, int64_t o0, int64_t o1) {
  const line_rows *j = arg;
  for (int64_t o = o0; o < o1; o++) {
    float *t = j->target + o * j->size;
    const float *f = j->src + o * j->n;
    for (int64_t k = 0; k < j->n; k++) t[j->index[k] - 1] += f[k];
  }
}

/* x, index, src -> out = x with out[..index[..i..]..] = src[..i..] along dim
 * (scatter_add: +=). Out of place the result is a copy of x; in place
 * (LG_FLAG_INPLACE) x itself. Scatter also takes a scalar src
 * (LG_FLAG_SCALAR_B, scalar[0] or scalar_int, with n_in == 2). */
/* scatter_add of a line index (is_line_along) into a contiguous float
 * target from a contiguous src of the index's shape, which the target
 * matches off dim: target[o, index[k], :] += src[o, k, :] by whole rows,
 * the backward of index_select (embedding, pad, interpolate, unfold); along
 * the last dim in float32 the rows split across ctx's threads (*st: an
 * interrupt between them). Returns false, doing nothing, when the tensors
 * are not of that form. */
static bool scatter_add_lines(lg_ctx *ctx, lg_tensor *target,
                              const lg_tensor *index, const lg_tensor *src,
                              int64_t dim, lg_status *st) {
  if (!src || !is_line_along(index, dim) || lg_tensor_numel(index) == 0 ||
      (target->dtype != LG_FLOAT32 && target->dtype != LG_FLOAT64) ||
      !lg_tensor_is_contiguous(target) || !lg_tensor_is_contiguous(src) ||
      src->ndim != index->ndim || target->ndim != index->ndim)
    return false;
  int64_t outer = 1, inner = 1, n = index->sizes[dim], size = target->sizes[dim];
  for (int i = 0; i < index->ndim; i++) {
    if (src->sizes[i] != index->sizes[i]) return false;
    if (i != dim && target->sizes[i] != index->sizes[i]) return false;
    if (i < dim) outer *= index->sizes[i];
    if (i > dim) inner *= index->sizes[i];
  }
  const char *idx = lg_data_ptr(index);
  int64_t step = index->strides[dim] * (int64_t)lg_dtype_size(index->dtype);
  char *t_base = lg_data_ptr(target);
  const char *s_base = lg_data_ptr(src);
  bool f32 = target->dtype == LG_FLOAT32;
  if (inner == 1 && f32 && index->dtype == LG_INT64 && step == 8) {
    /* along the last dim: one element per index, each row of the target
     * its own (rows split across the context's threads; the additions
     * into one element keep their order) */
    line_rows job = {(const int64_t *)(const void *)idx,
                     (float *)(void *)t_base, (const float *)(const void *)s_base,
                     size, n};
    *st = lg_parallel_for(ctx, outer, LG_GRAIN_CHEAP / (n > 0 ? n : 1) + 1,
                          scatter_line_rows, &job);
    return true;
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t k = 0; k < n; k++) {
      int64_t row = o * size + load_index(idx + k * step, index->dtype) - 1;
      int64_t from = (o * n + k) * inner;
      if (f32) {
        float *t = (float *)(void *)t_base + row * inner;
        const float *f = (const float *)(const void *)s_base + from;
        for (int64_t i = 0; i < inner; i++) t[i] += f[i];
      } else {
        double *t = (double *)(void *)t_base + row * inner;
        const double *f = (const double *)(const void *)s_base + from;
        for (int64_t i = 0; i < inner; i++) t[i] += f[i];
      }
    }
  return true;
}

/* scatter_add along the last dim of dense float tensors with an int64
 * index and src of the index's shape, one row per index row (max_pool2d's
 * backward): target[o, index[o, k]] += src[o, k]. The rows are disjoint,
 * so they are split across the context's threads; within a row the adds
 * run in order, so results never depend on the thread count. */
typedef struct scatter_rows_job {
  char *target;
  const int64_t *index;
  const char *src;
  int64_t size, n; /* target row length, index row length */
  bool f32;
} scatter_rows_job;

static void scatter_rows_range(void *arg, int64_t begin, int64_t end) {
  const scatter_rows_job *j = arg;
  for (int64_t o = begin; o < end; o++) {
    const int64_t *ix = j->index + o * j->n;
    if (j->f32) {
      float *t = (float *)(void *)j->target + o * j->size;
      const float *f = (const float *)(const void *)j->src + o * j->n;
      for (int64_t k = 0; k < j->n; k++) t[ix[k] - 1] += f[k];
    } else {
      double *t = (double *)(void *)j->target + o * j->size;
      const double *f = (const double *)(const void *)j->src + o * j->n;
      for (int64_t k = 0; k < j->n; k++) t[ix[k] - 1] += f[k];
    }
  }
}

/* Returns false, doing nothing, when the tensors are not of that form. */
static bool scatter_add_rows(lg_ctx *ctx, lg_tensor *target,
                             const lg_tensor *index, const lg_tensor *src,
                             int64_t dim, lg_status *st) {
  int nd = index->ndim;
  if (!src || nd == 0 || dim != nd - 1 || index->dtype != LG_INT64 ||
      (target->dtype != LG_FLOAT32 && target->dtype != LG_FLOAT64) ||
      target->ndim != nd || src->ndim != nd ||
      !lg_tensor_is_contiguous(target) || !lg_tensor_is_contiguous(src) ||
      !lg_tensor_is_contiguous(index))
    return false;
  int64_t rows = 1;
  for (int i = 0; i < nd; i++) {
    if (src->sizes[i] != index->sizes[i]) return false;
    if (i < dim && target->sizes[i] != index->sizes[i]) return false;
    if (i < dim) rows *= index->sizes[i];
  }
  scatter_rows_job job = {lg_data_ptr(target),
                          (const int64_t *)(const void *)lg_data_ptr(index),
                          lg_data_ptr(src), target->sizes[dim],
                          index->sizes[dim], target->dtype == LG_FLOAT32};
  /* rows of at least a grain's elements (lg_parallel_for takes 0 as 1) */
  int64_t grain = job.n > 0 ? LG_GRAIN_CHEAP / job.n : 1;
  *st = lg_parallel_for(ctx, rows, grain, scatter_rows_range, &job);
  return true;
}

lg_status lg_kernel_scatter(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, const lg_params *p, lg_tensor **out) {
  const char *name = op == LG_OP_SCATTER_ADD ? "scatter_add" : "scatter";
  bool inplace = (p->flags & LG_FLAG_INPLACE) != 0;
  bool scalar = (p->flags & LG_FLAG_SCALAR_B) != 0;
  if (scalar && op == LG_OP_SCATTER_ADD)
    return lg_fail(ctx, LG_ERR_ARG, "scatter_add: expected a tensor src");
  if (n_in != (scalar ? 2 : 3))
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected %d tensor inputs, got %d",
                   name, scalar ? 2 : 3, n_in);
  lg_tensor *x = in[0], *index = in[1], *src = scalar ? NULL : in[2];
  int64_t dim = 0;
  lg_status st = check_index_dtype(ctx, name, index);
  if (!st) st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim);
  if (!st && src && src->dtype != x->dtype)
    st = lg_fail(ctx, LG_ERR_DTYPE,
                 "%s: expected src of the input's dtype %s, got %s", name,
                 lg_dtype_name(x->dtype), lg_dtype_name(src->dtype));
  if (!st) st = check_gather_shapes(ctx, name, x, index, src, dim);
  int64_t size = !st && x->ndim > 0 ? x->sizes[dim] : 1;
  if (!st) st = check_index_values(ctx, name, index, dim, size);
  if (st) return st;

  unsigned char value[8];
  if (scalar) {
    if (p->flags & LG_FLAG_SCALAR_INT)
      lg_store_int(value, x->dtype, p->scalar_int);
    else
      lg_store_double(value, x->dtype, p->scalar[0]);
  }
  /* src and index sharing the target's storage are read from copies, so
   * writes cannot change them midway (an index changed after its check
   * could otherwise write out of bounds) */
  lg_tensor *src_copy = NULL, *index_copy = NULL;
  lg_params none = {0};
  if (inplace && src && src->storage == x->storage)
    st = lg_kernel_clone(ctx, LG_OP_CLONE, &src, 1, &none, &src_copy);
  if (!st && inplace && index->storage == x->storage)
    st = lg_kernel_clone(ctx, LG_OP_CLONE, &index, 1, &none, &index_copy);
  if (!st) {
    if (inplace)
      st = lg_prepare_out(ctx, name, out, x->dtype, x->ndim, x->sizes);
    else
      st = lg_kernel_clone(ctx, LG_OP_CLONE, in, 1, &none, out);
  }
  if (st) {
    lg_tensor_release(src_copy);
    lg_tensor_release(index_copy);
    return st;
  }
  if (src_copy) src = src_copy;
  if (index_copy) index = index_copy;
  lg_tensor *target = *out;
  if (op == LG_OP_SCATTER_ADD &&
      scatter_add_lines(ctx, target, index, src, dim, &st)) {
    /* done by rows, maybe interrupted (out of place: released below) */
  } else if (op == LG_OP_SCATTER_ADD &&
             scatter_add_rows(ctx, target, index, src, dim, &st)) {
    /* done row by row, maybe interrupted (out of place: released below) */
  } else if (lg_tensor_numel(index) > 0) {
    int64_t t_strides[LG_MAX_DIMS];
    strides_without(target, dim, t_strides);
    int64_t dim_stride = target->ndim > 0 ? target->strides[dim] : 0;
    walker w;
    walker_init(&w, index->ndim, index->sizes);
    walker_add(&w, index->strides);
    walker_add(&w, src ? src->strides : NULL);
    walker_add(&w, t_strides);
    size_t item = lg_dtype_size(x->dtype);
    size_t index_item = lg_dtype_size(index->dtype);
    const char *idx = lg_data_ptr(index);
    const char *from = src ? lg_data_ptr(src) : (const char *)value;
    int64_t src_item = src ? (int64_t)item : 0;
    char *dst = lg_data_ptr(target);
    bool add = op == LG_OP_SCATTER_ADD;
    do {
      int64_t v =
          load_index(idx + w.offset[0] * (int64_t)index_item, index->dtype);
      char *to = dst + (w.offset[2] + (v - 1) * dim_stride) * (int64_t)item;
      const char *s = from + w.offset[1] * src_item;
      if (add)
        add_item(to, s, x->dtype);
      else
        copy_item(to, s, item);
    } while (walker_next(&w));
  }
  lg_tensor_release(src_copy);
  lg_tensor_release(index_copy);
  if (st && !inplace) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* ---- masked_fill and masked_select -------------------------------------- */

#define MASKED_FILL_LOOP(NAME, T)                                        \
  static void NAME(char **d, const int64_t *s, int64_t n, void *state) { \
    T value;                                                             \
    memcpy(&value, state, sizeof value);                                 \
    if (s[0] == sizeof(T) && s[1] == sizeof(T) && s[2] == 1) {           \
      T *o = (T *)(void *)d[0];                                          \
      const T *x = (const T *)(void *)d[1];                              \
      const unsigned char *m = (const unsigned char *)d[2];              \
      for (int64_t i = 0; i < n; i++) o[i] = m[i] ? value : x[i];        \
    } else {                                                             \
      for (int64_t i = 0; i < n; i++) {                                  \
        T v;                                                             \
        if (*(const unsigned char *)(d[2] + i * s[2]))                   \
          v = value;                                                     \
        else                                                             \
          memcpy(&v, d[1] + i * s[1], sizeof v);                         \
        memcpy(d[0] + i * s[0], &v, sizeof v);                           \
      }                                                                  \
    }                                                                    \
  }
MASKED_FILL_LOOP(masked_fill_1, uint8_t)
MASKED_FILL_LOOP(masked_fill_4, uint32_t)
MASKED_FILL_LOOP(masked_fill_8, uint64_t)

/* Fails unless mask is a bool (or uint8) tensor. */
static lg_status check_mask_dtype(lg_ctx *ctx, const char *name,
                                  const lg_tensor *mask) {
  if (mask->dtype == LG_BOOL || mask->dtype == LG_UINT8) return LG_OK;
  return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected a bool mask, got %s", name,
                 lg_dtype_name(mask->dtype));
}

/* x, mask (broadcast together) -> out: value where mask, else x; in place
 * the mask must broadcast to x's shape */
lg_status lg_kernel_masked_fill(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                                int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  (void)op;
  bool inplace = (p->flags & LG_FLAG_INPLACE) != 0;
  const char *name = inplace ? "masked_fill_" : "masked_fill";
  lg_tensor *x = in[0], *mask = in[1];
  lg_status st = check_mask_dtype(ctx, name, mask);
  if (st) return st;
  int nd;
  int64_t sizes[LG_MAX_DIMS];
  st = lg_broadcast_sizes(ctx, name, x->ndim, x->sizes, mask->ndim, mask->sizes,
                          &nd, sizes);
  if (st) return st;
  if (inplace &&
      (nd != x->ndim || lg_shape_numel(nd, sizes) != lg_tensor_numel(x))) {
    char a[160], b[160];
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "masked_fill_: mask of shape %s does not broadcast to the "
                   "tensor's shape %s",
                   lg_shape_str(a, sizeof a, mask->ndim, mask->sizes),
                   lg_shape_str(b, sizeof b, x->ndim, x->sizes));
  }
  unsigned char value[8];
  if (p->flags & LG_FLAG_SCALAR_INT)
    lg_store_int(value, x->dtype, p->scalar_int);
  else
    lg_store_double(value, x->dtype, p->scalar[0]);
  lg_tensor *mask_copy = NULL;
  if (inplace && mask->storage == x->storage) { /* read the mask from a copy */
    lg_params none = {0};
    st = lg_kernel_clone(ctx, LG_OP_CLONE, &mask, 1, &none, &mask_copy);
    if (st) return st;
    mask = mask_copy;
  }
  st = lg_prepare_out(ctx, name, out, x->dtype, nd, sizes);
  if (!st && (*out)->dtype != x->dtype) {
    lg_tensor_release(*out);
    st = lg_fail(ctx, LG_ERR_DTYPE, "%s: the output must be %s", name,
                 lg_dtype_name(x->dtype));
  }
  if (!st) {
    size_t item = lg_dtype_size(x->dtype);
    lg_iter it;
    lg_iter_init(&it, nd, sizes);
    lg_iter_add_tensor(&it, *out);
    lg_iter_add_tensor(&it, x);
    lg_iter_add_tensor(&it, mask);
    st = lg_iter_run_ctx(ctx, &it,
                         item == 1   ? masked_fill_1
                         : item == 4 ? masked_fill_4
                                     : masked_fill_8,
                         value);
    if (st) lg_tensor_release(*out);
  }
  lg_tensor_release(mask_copy);
  return st;
}

static void count_true(char **d, const int64_t *s, int64_t n, void *state) {
  int64_t *count = state, c = 0;
  for (int64_t i = 0; i < n; i++)
    c += *(const unsigned char *)(d[0] + i * s[0]) != 0;
  *count += c;
}

typedef struct select_state {
  char *cursor;
  size_t item;
} select_state;

static void select_true(char **d, const int64_t *s, int64_t n, void *state) {
  select_state *st = state;
  for (int64_t i = 0; i < n; i++)
    if (*(const unsigned char *)(d[1] + i * s[1])) {
      copy_item(st->cursor, d[0] + i * s[0], st->item);
      st->cursor += st->item;
    }
}

/* x, mask (broadcast together) -> out (K): the elements where mask holds,
 * in row-major order */
lg_status lg_kernel_masked_select(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                                  int n_in, const lg_params *p,
                                  lg_tensor **out) {
  (void)n_in;
  (void)op;
  lg_tensor *x = in[0], *mask = in[1];
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "masked_select: has no in-place form");
  lg_status st = check_mask_dtype(ctx, "masked_select", mask);
  if (st) return st;
  int nd;
  int64_t sizes[LG_MAX_DIMS];
  st = lg_broadcast_sizes(ctx, "masked_select", x->ndim, x->sizes, mask->ndim,
                          mask->sizes, &nd, sizes);
  if (st) return st;
  int64_t count = 0;
  lg_iter it;
  lg_iter_init(&it, nd, sizes);
  lg_iter_add_tensor(&it, mask);
  st = lg_iter_run_ctx(ctx, &it, count_true, &count);
  if (st) return st;
  st = lg_prepare_out(ctx, "masked_select", out, x->dtype, 1, &count);
  if (st) return st;
  if ((*out)->dtype != x->dtype || !lg_tensor_is_contiguous(*out)) {
    lg_tensor_release(*out);
    return lg_fail(ctx, LG_ERR_ARG,
                   "masked_select: the output must be a contiguous %s tensor",
                   lg_dtype_name(x->dtype));
  }
  select_state state = {lg_data_ptr(*out), lg_dtype_size(x->dtype)};
  lg_iter_init(&it, nd, sizes);
  lg_iter_add_tensor(&it, x);
  lg_iter_add_tensor(&it, mask);
  st = lg_iter_run_ctx(ctx, &it, select_true, &state);
  if (st) lg_tensor_release(*out);
  return st;
}
