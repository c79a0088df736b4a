/* sample.c: samplers whose parameters are tensors or in-place targets:
 * uniform_ and normal_ (fill a tensor), normal with tensor mean/std,
 * bernoulli, and multinomial (1-based category indices).
 *
 * All draw from the context's Philox stream (random.h), so manual_seed
 * reproduces them. None takes part in autograd: PyTorch's derivatives of
 * normal and bernoulli with respect to their parameters are zero, so the
 * results are plain tensors; the in-place fills go through copy_, so a
 * tensor in the graph gets a zero gradient behind the new values and a
 * leaf that requires grad is refused unless grad mode is off (nn.init).
 * Inside vmap they run under randomness "same" on unbatched tensors only.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "autograd.h"
#include "dtype.h"
#include "iter.h"
#include "random.h"
#include "vmap.h"

/* A value for an error message: NaN without its sign ("nan", not "-nan"). */
static double shown(double v) { return isnan(v) ? fabs(v) : v; }

/* ---- in-place fills ------------------------------------------------------ */

/* Writes the values of src into t through copy_ (so autograd sees the
 * write), after checking that t may be written in place as `name`. */
static lg_status write_into(lg_ctx *ctx, const char *name, lg_tensor *t,
                            lg_tensor *src) {
  lg_status st = lg_autograd_check_inplace(ctx, t, name);
  if (st) return st;
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE;
  lg_tensor *in[2] = {t, src}, *out = NULL;
  st = lg_op_run(ctx, LG_OP_COPY, 2, in, &p, &out);
  lg_tensor_release(out);
  return st;
}

static lg_status check_float_tensor(lg_ctx *ctx, const char *name,
                                    const lg_tensor *t) {
  if (lg_dtype_is_float(t->dtype)) return LG_OK;
  return lg_fail(ctx, LG_ERR_DTYPE,
                 "%s: expected a floating point tensor (float32 or float64), "
                 "got %s", name, lg_dtype_name(t->dtype));
}

/* The largest finite value of a float dtype. */
static double float_max(lg_dtype dtype) {
  return dtype == LG_FLOAT32 ? FLT_MAX : DBL_MAX;
}

/* t <- values uniform on [from, to): from + (to - from) u, kept below to
 * where rounding to float32 would reach it */
lg_status lg_uniform_(lg_ctx *ctx, lg_tensor *t, double from, double to) {
  lg_status vst = lg_vmap_random_plain(ctx, "uniform_", 1, (const lg_tensor *[]){t});
  if (vst) return vst;
  lg_status st = check_float_tensor(ctx, "uniform_", t);
  if (st) return st;
  if (!(from <= to))
    return lg_fail(ctx, LG_ERR_ARG,
                   "uniform_: expected from <= to, got from = %g and to = %g",
                   from, to);
  double width = to - from, limit = float_max(t->dtype);
  if (!(fabs(from) <= limit && fabs(to) <= limit && width <= limit))
    return lg_fail(ctx, LG_ERR_ARG,
                   "uniform_: expected from, to and to - from within the "
                   "finite range of %s, got from = %g and to = %g",
                   lg_dtype_name(t->dtype), from, to);
  lg_tensor *r = NULL;
  st = lg_empty(ctx, t->dtype, t->ndim, t->sizes, &r);
  lg_draw d = {.kind = LG_DRAW_UNIFORM, .a = from, .b = to};
  if (!st) st = lg_draw_into(ctx, &d, NULL, r);
  if (st) {
    lg_tensor_release(r);
    return st;
  }
  st = write_into(ctx, "uniform_", t, r);
  lg_tensor_release(r);
  return st;
}

static lg_status check_std(lg_ctx *ctx, const char *name, double std) {
  if (std >= 0) return LG_OK;
  return lg_fail(ctx, LG_ERR_ARG, "%s: expected std >= 0, got std = %g",
                 name, shown(std));
}

/* t <- values from N(mean, std^2) */
lg_status lg_normal_(lg_ctx *ctx, lg_tensor *t, double mean, double std) {
  lg_status vst = lg_vmap_random_plain(ctx, "normal_", 1, (const lg_tensor *[]){t});
  if (vst) return vst;
  lg_status st = check_float_tensor(ctx, "normal_", t);
  if (st || (st = check_std(ctx, "normal_", std))) return st;
  lg_tensor *r = NULL;
  st = lg_empty(ctx, t->dtype, t->ndim, t->sizes, &r);
  lg_draw d = {.kind = LG_DRAW_RANDN, .a = std, .b = mean, .affine = true};
  if (!st) st = lg_draw_into(ctx, &d, NULL, r);
  if (!st) st = write_into(ctx, "normal_", t, r);
  lg_tensor_release(r);
  return st;
}

/* ---- normal with tensor parameters --------------------------------------- */

/* A contiguous float64 copy of t in *copy when every element passes
 * valid; otherwise fails with "<expected>, got <value> at flat position
 * <k>" (1-based). */
static lg_status check_values(lg_ctx *ctx, lg_tensor *t, bool (*valid)(double),
                              const char *expected, lg_tensor **copy) {
  lg_status st = lg_contiguous_as(ctx, t, LG_FLOAT64, copy);
  if (st) return st;
  const double *v = lg_tensor_data(*copy);
  int64_t n = lg_tensor_numel(*copy);
  for (int64_t i = 0; i < n; i++) {
    if (valid(v[i])) continue;
    st = lg_fail(ctx, LG_ERR_ARG, "%s, got %g at flat position %lld",
                 expected, shown(v[i]), (long long)i + 1);
    lg_tensor_release(*copy);
    *copy = NULL;
    return st;
  }
  return LG_OK;
}

static bool is_std(double v) { return v >= 0; } /* NaN is not */
static bool is_probability(double p) { return p >= 0 && p <= 1; }

/* mean (broadcast with std) -> mean + std * z, z standard normal of the
 * broadcast shape, in mean's dtype; computed outside the graph */
lg_status lg_normal(lg_ctx *ctx, lg_tensor *mean, lg_tensor *std,
                    lg_tensor **out) {
  *out = NULL;
  lg_status vst = lg_vmap_random_plain(ctx, "normal", 2, (const lg_tensor *[]){mean, std});
  if (vst) return vst;
  if (!lg_dtype_is_float(mean->dtype) || !lg_dtype_is_float(std->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "normal: expected floating point mean and std, got %s and "
                   "%s", lg_dtype_name(mean->dtype),
                   lg_dtype_name(std->dtype));
  lg_tensor *pair[2] = {mean, std};
  int nd;
  int64_t sizes[LG_MAX_DIMS];
  lg_status st = lg_broadcast_shape(ctx, "normal", 2, pair, &nd, sizes);
  lg_tensor *checked = NULL;
  if (st) return st;
  /* a check, not part of the value: func.compile does not record it (a
   * replay does not check std again) */
  ctx->trace_depth += ctx->trace != NULL;
  st = check_values(ctx, std, is_std,
                    "normal: expected every element of std >= 0", &checked);
  ctx->trace_depth -= ctx->trace != NULL;
  if (st) return st;
  lg_tensor_release(checked);
  lg_tensor *z = NULL, *s = NULL, *scaled = NULL;
  bool grad_mode = ctx->grad_enabled;
  ctx->grad_enabled = false;
  st = lg_randn(ctx, mean->dtype, nd, sizes, &z);
  if (!st) st = lg_contiguous_as(ctx, std, mean->dtype, &s);
  if (!st) st = lg_run2(ctx, LG_OP_MUL, z, s, NULL, &scaled);
  if (!st) st = lg_run2(ctx, LG_OP_ADD, scaled, mean, NULL, out);
  ctx->grad_enabled = grad_mode;
  lg_tensor_release(z);
  lg_tensor_release(s);
  lg_tensor_release(scaled);
  return st;
}

/* ---- bernoulli -------------------------------------------------------------- */

/* out (contiguous) <- 1 with probability probs[i] (or p when probs is
 * NULL), else 0 */
static void fill_bernoulli(lg_ctx *ctx, const double *probs, double p,
                           lg_tensor *out) {
  char *data = lg_data_ptr(out);
  size_t item = lg_dtype_size(out->dtype);
  int64_t n = lg_tensor_numel(out);
  lg_stream s;
  lg_stream_open(&s, ctx);
  for (int64_t i = 0; i < n; i++) {
    double u = lg_stream_uniform(&s, LG_FLOAT64);
    lg_store_int(data + (size_t)i * item, out->dtype,
                 u < (probs ? probs[i] : p));
  }
  lg_stream_close(&s);
}

lg_status lg_draw_bernoulli(lg_ctx *ctx, lg_tensor *p, double p_scalar,
                            lg_tensor *out) {
  if (!p) {
    fill_bernoulli(ctx, NULL, p_scalar, out);
    return LG_OK;
  }
  lg_tensor *c = NULL;
  lg_status st = check_values(ctx, p, is_probability,
                              "bernoulli: expected probabilities in [0, 1]",
                              &c);
  if (st) return st;
  fill_bernoulli(ctx, lg_tensor_data(c), 0, out);
  lg_tensor_release(c);
  return LG_OK;
}

/* p (probabilities in [0, 1]) -> out (p's shape and dtype) of 0s and 1s */
lg_status lg_bernoulli(lg_ctx *ctx, lg_tensor *p, lg_tensor **out) {
  *out = NULL;
  lg_status vst = lg_vmap_random_plain(ctx, "bernoulli", 1, (const lg_tensor *[]){p});
  if (vst) return vst;
  if (!lg_dtype_is_float(p->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "bernoulli: expected floating point probabilities "
                   "(float32 or float64), got %s", lg_dtype_name(p->dtype));
  lg_status st = lg_empty(ctx, p->dtype, p->ndim, p->sizes, out);
  lg_draw d = {.kind = LG_DRAW_BERNOULLI};
  if (!st) st = lg_draw_into(ctx, &d, p, *out);
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* like (any dtype) -> out (like's shape and dtype): 1 with probability p */
lg_status lg_bernoulli_scalar(lg_ctx *ctx, const lg_tensor *like, double p,
                              lg_tensor **out) {
  *out = NULL;
  lg_status vst = lg_vmap_random_plain(ctx, "bernoulli", 1, (const lg_tensor *[]){like});
  if (vst) return vst;
  if (!is_probability(p))
    return lg_fail(ctx, LG_ERR_ARG, "bernoulli: expected p in [0, 1], got %g",
                   shown(p));
  lg_status st = lg_empty(ctx, like->dtype, like->ndim, like->sizes, out);
  lg_draw d = {.kind = LG_DRAW_BERNOULLI, .a = p};
  if (!st) st = lg_draw_into(ctx, &d, NULL, *out);
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* ---- multinomial ------------------------------------------------------------ */

/* A category's key in the race that samples without replacement. */
typedef struct race_entry {
  double key;
  int64_t category;
} race_entry;

static int by_key(const void *a, const void *b) {
  const race_entry *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->category > y->category) - (x->category < y->category);
}

/* Checks one row of weights: finite, non-negative, a positive sum, and
 * enough non-zero categories to sample k without replacement. */
static lg_status check_row(lg_ctx *ctx, const double *w, int64_t n,
                           int64_t row, int64_t k, bool replacement) {
  double total = 0;
  int64_t nonzero = 0;
  for (int64_t j = 0; j < n; j++) {
    if (!(w[j] >= 0 && w[j] < INFINITY))
      return lg_fail(ctx, LG_ERR_ARG,
                     "multinomial: expected finite non-negative weights, got "
                     "%g in row %lld at category %lld", shown(w[j]),
                     (long long)row + 1, (long long)j + 1);
    total += w[j];
    nonzero += w[j] > 0;
  }
  if (!(total > 0))
    return lg_fail(ctx, LG_ERR_ARG,
                   "multinomial: expected weights with a positive sum, got "
                   "all zeros in row %lld", (long long)row + 1);
  if (!replacement && k > nonzero)
    return lg_fail(ctx, LG_ERR_ARG,
                   "multinomial: expected num_samples <= the number of "
                   "categories with non-zero weight without replacement, got "
                   "num_samples = %lld and %lld such categories in row %lld",
                   (long long)k, (long long)nonzero, (long long)row + 1);
  return LG_OK;
}

/* With replacement: inverse CDF by binary search over the running sums. */
static void sample_with_replacement(lg_stream *s, const double *w, int64_t n,
                                    double *cumulative, int64_t k,
                                    int64_t *out) {
  double total = 0;
  int64_t last = 0; /* the last category with a positive weight */
  for (int64_t j = 0; j < n; j++) {
    total += w[j];
    cumulative[j] = total;
    if (w[j] > 0) last = j;
  }
  for (int64_t i = 0; i < k; i++) {
    double u = lg_stream_uniform(s, LG_FLOAT64) * total;
    int64_t lo = 0, hi = n; /* the first j with cumulative[j] > u */
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (cumulative[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    out[i] = (lo < n ? lo : last) + 1; /* rounding at the top: the last */
  }
}

/* Moves heap[i] down until it is no smaller than its children (a max-heap
 * of n entries by key). */
static void sift_down(race_entry *heap, int64_t n, int64_t i) {
  for (;;) {
    int64_t largest = i, l = 2 * i + 1, r = l + 1;
    if (l < n && by_key(&heap[l], &heap[largest]) > 0) largest = l;
    if (r < n && by_key(&heap[r], &heap[largest]) > 0) largest = r;
    if (largest == i) return;
    race_entry tmp = heap[i];
    heap[i] = heap[largest];
    heap[largest] = tmp;
    i = largest;
  }
}

/* Without replacement: each category with weight w draws E / w (E
 * exponential); the k smallest keys, in order, are distributed as k
 * successive draws that each remove the drawn category. A max-heap keeps
 * the k smallest seen so far: O(n log k), then the k are sorted. */
static void sample_without_replacement(lg_stream *s, const double *w,
                                       int64_t n, race_entry *heap,
                                       int64_t k, int64_t *out) {
  int64_t size = 0;
  for (int64_t j = 0; j < n; j++) {
    if (!(w[j] > 0)) continue;
    double e = -log1p(-lg_stream_uniform(s, LG_FLOAT64)); /* u in [0, 1) */
    race_entry entry = {e / w[j], j};
    if (size < k) { /* sift up */
      int64_t i = size++;
      while (i > 0 && by_key(&entry, &heap[(i - 1) / 2]) > 0) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
      }
      heap[i] = entry;
    } else if (by_key(&entry, &heap[0]) < 0) {
      heap[0] = entry;
      sift_down(heap, size, 0);
    }
  }
  qsort(heap, (size_t)size, sizeof *heap, by_key);
  for (int64_t i = 0; i < k; i++) out[i] = heap[i].category + 1;
}

/* weights (n) or (rows, n), non-negative -> out (k) or (rows, k) int64,
 * 1-based categories */
lg_status lg_multinomial(lg_ctx *ctx, lg_tensor *weights, int64_t k,
                         bool replacement, lg_tensor **out) {
  *out = NULL;
  lg_status vst = lg_vmap_random_plain(ctx, "multinomial", 1, (const lg_tensor *[]){weights});
  if (vst) return vst;
  if (weights->ndim != 1 && weights->ndim != 2)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "multinomial: expected 1-D or 2-D weights, got %d-D",
                   weights->ndim);
  if (!lg_dtype_is_float(weights->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "multinomial: expected floating point weights (float32 or "
                   "float64), got %s", lg_dtype_name(weights->dtype));
  if (k <= 0)
    return lg_fail(ctx, LG_ERR_ARG,
                   "multinomial: expected num_samples >= 1, got %lld",
                   (long long)k);
  int64_t rows = weights->ndim == 2 ? weights->sizes[0] : 1;
  int64_t n = weights->sizes[weights->ndim - 1];
  if (n == 0 && rows > 0)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "multinomial: expected at least one category, got 0");
  lg_tensor *c = NULL;
  lg_status st = lg_contiguous_as(ctx, weights, LG_FLOAT64, &c);
  if (st) return st;
  const double *w = lg_tensor_data(c);
  for (int64_t r = 0; r < rows && !st; r++)
    st = check_row(ctx, w + r * n, n, r, k, replacement);
  int64_t sizes[2] = {rows, k};
  if (!st)
    st = lg_empty(ctx, LG_INT64, weights->ndim, sizes + (2 - weights->ndim),
                  out);
  /* one draw without replacement is one draw with it: the inverse CDF is
   * the cheaper way (no logarithm per category) */
  bool by_cdf = replacement || k == 1;
  size_t scratch_bytes = by_cdf ? (size_t)n * sizeof(double)
                                : (size_t)k * sizeof(race_entry);
  void *scratch = NULL;
  if (!st && rows > 0 && n > 0 &&
      !(scratch = lg_mem_alloc(ctx, scratch_bytes))) {
    st = lg_fail(ctx, LG_ERR_MEMORY, "multinomial: out of memory");
    lg_tensor_release(*out);
    *out = NULL;
  }
  if (!st) {
    int64_t *o = lg_tensor_data(*out);
    lg_stream s;
    lg_stream_open(&s, ctx);
    for (int64_t r = 0; r < rows; r++) {
      if (by_cdf)
        sample_with_replacement(&s, w + r * n, n, scratch, k, o + r * k);
      else
        sample_without_replacement(&s, w + r * n, n, scratch, k, o + r * k);
    }
    lg_stream_close(&s);
  }
  if (scratch) lg_mem_free(ctx, scratch, scratch_bytes);
  lg_tensor_release(c);
  return st;
}
