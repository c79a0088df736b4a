/* nn_loss.c: fused softmax / log_softmax over one dim, and the
 * cross_entropy and nll_loss kernels of nn.functional.
 *
 * Inputs are made dense in their own dtype first (lg_contiguous_as), then
 * viewed as (outer, n, inner) around the reduced dim; rows over the last
 * dim (inner == 1) take a contiguous fast path, other dims run the same
 * arithmetic with stride `inner`. Sums accumulate in double; float32 rows
 * exponentiate in float (vmath.h's lg_vexpf, vectorised on the fast path).
 * Every result is max-shifted, so exp never overflows. Large softmaxes
 * split their rows across the context's threads (parallel.h); a row's
 * arithmetic never depends on the thread count.
 *
 * Params conventions:
 *  - SOFTMAX, LOG_SOFTMAX: in[0] = x (float32/float64), p->dim (0-based,
 *    negative from the end). Out: same shape and dtype.
 *  - CROSS_ENTROPY: in[0] = logits (C), (N,C) or (N,C,d1,...); in[1] =
 *    target: 1-based integer class indices of shape () / (N) / (N,d1,...)
 *    (any integer dtype), or float class probabilities of the logits'
 *    shape and dtype; in[2] = class weight (C) when LG_FLAG_OPT1.
 *    p->ints[0] = reduction: 0 none, 1 mean, 2 sum;
 *    p->scalar[0] = label_smoothing in [0, 1]; ignore_index (1-based, index
 *    targets only) is p->scalar_int when LG_FLAG_SCALAR_INT is set.
 *  - NLL_LOSS: the same with log-probabilities as in[0], index targets only
 *    and no label smoothing.
 *  Reduction "none" gives the target's shape ((N,d1,..), or () for 1-D
 *  logits); "mean" and "sum" give a 0-d tensor. The mean over index
 *  targets divides by the summed weights of the non-ignored targets
 *  (PyTorch's weighted mean; NaN when that is 0); over probability targets
 *  it divides by the number of positions N*d1*...
 */
#include <math.h>

#include "core.h"
#include "dtype.h"
#include "parallel.h"
#include "vmath.h"

/* ---- softmax ------------------------------------------------------------ */

/* Geometry of a dense tensor around dim: (outer, n, inner). */
static void split_at(const lg_tensor *x, int64_t dim, int64_t *outer,
                     int64_t *n, int64_t *inner) {
  *outer = *inner = 1;
  for (int64_t d = 0; d < dim; d++) *outer *= x->sizes[d];
  *n = x->ndim ? x->sizes[dim] : 1;
  for (int64_t d = dim + 1; d < x->ndim; d++) *inner *= x->sizes[d];
}

/* ---- dense rows: the vectorised forms ---------------------------------- */

/* Rows with stride 1 take these loops, which GCC vectorises (float32:
 * vmath.h's exp; float64 keeps libm's exp, so only its max and the
 * scaling vectorise), cloned for AVX2 / AVX-512. Sums go to SUM_LANES
 * double partial sums, folded in a fixed order. */
#define SUM_LANES 16

static double fold_lanes(const double *acc) {
  double s = 0;
  for (int k = 0; k < SUM_LANES; k++) s += acc[k];
  return s;
}

/* Largest element of x[0..n), NaN when one is NaN, -inf when n == 0.
 * The max runs over integer keys that order like the floats (a float max
 * with NaN semantics doesn't vectorise); NaNs are caught by a flag. */
LG_VECTOR_CLONES static float dense_max_f32(const float *x, int64_t n) {
  int32_t best = INT32_MIN;
  int nan = 0;
  for (int64_t i = 0; i < n; i++) {
    int32_t b = (int32_t)lg_vm_bits(x[i]);
    int32_t key = b ^ ((b >> 31) & 0x7fffffff); /* GCC: arithmetic >> */
    best = key > best ? key : best;
    nan |= x[i] != x[i];
  }
  if (n == 0) return -INFINITY;
  if (nan) return NAN;
  return lg_vm_float((uint32_t)(best ^ ((best >> 31) & 0x7fffffff)));
}
static double dense_max_f64(const double *x, int64_t n) {
  double m = -INFINITY;
  int nan = 0;
  for (int64_t i = 0; i < n; i++) {
    m = x[i] > m ? x[i] : m;
    nan |= x[i] != x[i];
  }
  return nan ? NAN : m;
}

/* sum of exp(x - m); y = exp(x - m) as well unless y is NULL. With
 * PAD_TAIL, the last partial block of lanes (all of a row of 10 classes)
 * runs through a padded vector block too, instead of the scalar loop
 * (~73 instructions per element): the same function of each element and
 * the same adds into the same lanes, so the same bits. */
#define DENSE_EXP(SUF, T, EXP, PAD_TAIL)                                     \
  LG_VECTOR_CLONES static double dense_exp_##SUF(const T *x, T *y,           \
                                                 int64_t n, T m) {           \
    double acc[SUM_LANES] = {0};                                             \
    int64_t i = 0;                                                           \
    if (y) {                                                                 \
      for (; i + SUM_LANES <= n; i += SUM_LANES)                             \
        for (int k = 0; k < SUM_LANES; k++) {                                \
          T e = EXP(x[i + k] - m);                                           \
          y[i + k] = e;                                                      \
          acc[k] += (double)e;                                               \
        }                                                                    \
    } else {                                                                 \
      for (; i + SUM_LANES <= n; i += SUM_LANES)                             \
        for (int k = 0; k < SUM_LANES; k++)                                  \
          acc[k] += (double)EXP(x[i + k] - m);                               \
    }                                                                        \
    if (PAD_TAIL && i < n) { /* i is a multiple of SUM_LANES: lane k */      \
      T xt[SUM_LANES], et[SUM_LANES];                                        \
      int64_t rem = n - i;                                                   \
      for (int k = 0; k < SUM_LANES; k++) xt[k] = k < rem ? x[i + k] : m;    \
      for (int k = 0; k < SUM_LANES; k++) et[k] = EXP(xt[k] - m);            \
      for (int64_t k = 0; k < rem; k++) {                                    \
        if (y) y[i + k] = et[k];                                             \
        acc[k] += (double)et[k];                                             \
      }                                                                      \
      i = n;                                                                 \
    }                                                                        \
    for (; i < n; i++) {                                                     \
      T e = EXP(x[i] - m);                                                   \
      if (y) y[i] = e;                                                       \
      acc[i % SUM_LANES] += (double)e;                                       \
    }                                                                        \
    return fold_lanes(acc);                                                  \
  }                                                                          \
  /* y = x * scale */                                                        \
  LG_VECTOR_CLONES static void dense_scale_##SUF(T *y, int64_t n, T scale) { \
    for (int64_t i = 0; i < n; i++) y[i] *= scale;                           \
  }                                                                          \
  /* y = x - shift, computed in double */                                    \
  LG_VECTOR_CLONES static void dense_shift_##SUF(const T *x, T *y,           \
                                                 int64_t n, double shift) {  \
    for (int64_t i = 0; i < n; i++) y[i] = (T)((double)x[i] - shift);        \
  }
DENSE_EXP(f32, float, lg_vexpf, 1)
DENSE_EXP(f64, double, exp, 0)

/* ---- rows with any stride ------------------------------------------------ */

/* Per-type helpers: row max and log-sum-exp with a stride (stride 1 goes
 * to the dense loops), the softmax of a row, and of a range of rows. */
#define EXP_f32(v) lg_vexpf(v)
#define EXP_f64(v) exp(v)
#define ROW_HELPERS(SUF, T)                                                  \
  /* the max of a row, NaN when one element is NaN */                        \
  static inline T row_max_##SUF(const T *x, int64_t n, int64_t stride) {     \
    if (stride == 1) return dense_max_##SUF(x, n);                           \
    T m = -INFINITY;                                                         \
    for (int64_t k = 0; k < n; k++) {                                        \
      T v = x[k * stride];                                                   \
      if (v > m || isnan(v)) m = v;                                          \
      if (isnan(m)) break;                                                   \
    }                                                                        \
    return m;                                                                \
  }                                                                          \
  /* sum of exp(x - m) over a row */                                         \
  static inline double row_expsum_##SUF(const T *x, int64_t n,               \
                                        int64_t stride, T m) {               \
    if (stride == 1) return dense_exp_##SUF(x, NULL, n, m);                  \
    double s = 0;                                                            \
    for (int64_t k = 0; k < n; k++) s += (double)EXP_##SUF(x[k * stride] - m); \
    return s;                                                                \
  }                                                                          \
  /* log(sum(exp(x))) of a row */                                            \
  static inline double row_lse_##SUF(const T *x, int64_t n, int64_t stride) { \
    T m = row_max_##SUF(x, n, stride);                                       \
    if (isinf(m) && m < 0) return -INFINITY;                                 \
    return (double)m + log(row_expsum_##SUF(x, n, stride, m));               \
  }                                                                          \
  /* softmax (or log_softmax) of one row of x into y */                     \
  static inline void row_softmax_##SUF(const T *x, T *y, int64_t n,          \
                                       int64_t stride, bool take_log) {      \
    T m = row_max_##SUF(x, n, stride);                                       \
    if (take_log) {                                                          \
      double lse = (double)m + log(row_expsum_##SUF(x, n, stride, m));       \
      if (stride == 1) {                                                     \
        dense_shift_##SUF(x, y, n, lse);                                     \
        return;                                                              \
      }                                                                      \
      for (int64_t k = 0; k < n; k++)                                        \
        y[k * stride] = (T)((double)x[k * stride] - lse);                    \
      return;                                                                \
    }                                                                        \
    if (stride == 1) {                                                       \
      dense_scale_##SUF(y, n, (T)(1.0 / dense_exp_##SUF(x, y, n, m)));       \
      return;                                                                \
    }                                                                        \
    double s = 0;                                                            \
    for (int64_t k = 0; k < n; k++) {                                        \
      T e = (T)EXP_##SUF(x[k * stride] - m);                                 \
      y[k * stride] = e;                                                     \
      s += (double)e;                                                        \
    }                                                                        \
    T inv = (T)(1.0 / s);                                                    \
    for (int64_t k = 0; k < n; k++) y[k * stride] *= inv;                    \
  }                                                                          \
  /* x (outer, n, inner) -> y, softmax over n, for outer in [begin, end) */  \
  static void softmax_range_##SUF(const softmax_job *job, int64_t begin,     \
                                  int64_t end) {                             \
    const T *x = job->x;                                                     \
    T *y = job->y;                                                           \
    int64_t n = job->n, inner = job->inner;                                  \
    for (int64_t o = begin; o < end; o++)                                    \
      for (int64_t i = 0; i < inner; i++)                                    \
        row_softmax_##SUF(x + o * n * inner + i, y + o * n * inner + i, n,   \
                          inner, job->take_log);                             \
  }

/* One softmax call: x and y (outer, n, inner) of the job's dtype. */
typedef struct softmax_job {
  const void *x;
  void *y;
  int64_t n, inner;
  bool take_log, is_f32;
} softmax_job;

ROW_HELPERS(f32, float)
ROW_HELPERS(f64, double)

static void softmax_range(void *arg, int64_t begin, int64_t end) {
  const softmax_job *job = arg;
  if (job->is_f32) softmax_range_f32(job, begin, end);
  else softmax_range_f64(job, begin, end);
}

/* Fails unless t has a floating point dtype. */
static lg_status check_float(lg_ctx *ctx, const char *name, const char *what,
                             const lg_tensor *t) {
  if (lg_dtype_is_float(t->dtype)) return LG_OK;
  return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected a float32 or float64 %s, "
                 "got %s", name, what, lg_dtype_name(t->dtype));
}

/* x (.., n, ..) -> out (same), softmax or log_softmax over p->dim */
lg_status lg_kernel_softmax(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, const lg_params *p, lg_tensor **out) {
  const char *name = lg_op_name(op);
  lg_tensor *x = in[0], *dense = NULL;
  int64_t dim, outer, n, inner;
  (void)n_in;
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: can't run in place", name);
  lg_status st = check_float(ctx, name, "input", x);
  if (!st) st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim);
  if (!st) st = lg_contiguous_as(ctx, x, x->dtype, &dense);
  if (!st) st = lg_prepare_out(ctx, name, &out[0], x->dtype, x->ndim, x->sizes);
  if (st) {
    lg_tensor_release(dense);
    return st;
  }
  split_at(dense, dim, &outer, &n, &inner);
  softmax_job job = {lg_tensor_data(dense), lg_tensor_data(out[0]), n, inner,
                     op == LG_OP_LOG_SOFTMAX, x->dtype == LG_FLOAT32};
  int64_t per_outer = n * inner > 0 ? n * inner : 1;
  /* rows split across threads; each row's arithmetic is the same */
  st = lg_parallel_for(ctx, outer, LG_GRAIN_MATH / per_outer + 1,
                       softmax_range, &job);
  lg_tensor_release(dense);
  if (st) lg_tensor_release(out[0]);
  return st;
}

/* ---- cross_entropy and nll_loss ----------------------------------------- */

/* Reduction codes of p->ints[0] (the binding maps "none"/"mean"/"sum"). */
enum { REDUCTION_NONE = 0, REDUCTION_MEAN = 1, REDUCTION_SUM = 2 };

/* A checked loss call: logits viewed as (n, c, d) around class_dim. */
typedef struct loss_plan {
  int64_t n, c, d;
  int class_dim;
  int reduction;
  double smoothing;
  bool has_ignore;
  int64_t ignore_index;  /* 1-based, compared with the raw target values */
  bool prob;             /* probability targets */
  bool nll;
  double *weights;       /* c values (ones without a weight) */
} loss_plan;

/* Loads the class weights (C) as doubles into w (NULL weight: all ones). */
static lg_status load_weights(lg_ctx *ctx, const char *name,
                              const lg_tensor *weight, int64_t c,
                              double **w) {
  *w = lg_mem_alloc(ctx, (size_t)(c > 0 ? c : 1) * sizeof(double));
  if (!*w) return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory", name);
  for (int64_t k = 0; k < c; k++)
    (*w)[k] = weight ? lg_tensor_get(weight, k) : 1.0;
  return LG_OK;
}

/* Checks the inputs of op and fills pl (pl->weights is then owned). */
static lg_status plan_loss(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                          int n_in, const lg_params *p, loss_plan *pl) {
  const char *name = lg_op_name(op);
  const lg_tensor *x = in[0], *t = n_in > 1 ? in[1] : NULL;
  char a[160], b[160];
  pl->weights = NULL;
  pl->nll = op == LG_OP_NLL_LOSS;
  pl->reduction = (int)p->ints[0];
  pl->smoothing = pl->nll ? 0 : p->scalar[0];
  pl->has_ignore = (p->flags & LG_FLAG_SCALAR_INT) != 0;
  pl->ignore_index = p->scalar_int;
  int expected_in = 2 + !!(p->flags & LG_FLAG_OPT1);
  if (n_in != expected_in)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected %d tensor inputs (input, "
                   "target%s), got %d", name, expected_in,
                   expected_in == 3 ? ", weight" : "", n_in);
  if (pl->reduction < REDUCTION_NONE ||
      pl->reduction > REDUCTION_SUM)
    return lg_fail(ctx, LG_ERR_ARG, "%s: unknown reduction code %d", name,
                   pl->reduction);
  if (!(pl->smoothing >= 0 && pl->smoothing <= 1))
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected label_smoothing in [0, 1], "
                   "got %g", name, pl->smoothing);
  lg_status st = check_float(ctx, name, "input", x);
  if (st) return st;
  if (x->ndim < 1)
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected an input of shape (C), "
                   "(N,C) or (N,C,d1,...), got a 0-d tensor", name);
  pl->class_dim = x->ndim >= 2 ? 1 : 0;
  pl->n = x->ndim >= 2 ? x->sizes[0] : 1;
  pl->c = x->sizes[pl->class_dim];
  pl->d = 1;
  for (int i = 2; i < x->ndim; i++) pl->d *= x->sizes[i];
  pl->prob = lg_dtype_is_float(t->dtype);
  if (pl->prob) {
    bool same = t->dtype == x->dtype &&
                lg_tensor_has_shape(t, x->ndim, x->sizes);
    if (pl->nll || !same)
      return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected %s of shape %s, got a "
                     "target of dtype %s and shape %s", name,
                     pl->nll ? "integer class indices (1-based)"
                             : "class indices (an integer tensor) or "
                               "probabilities (of the input's dtype)",
                     pl->nll ? "the input's shape without dim 2"
                             : lg_shape_str(a, sizeof a, x->ndim, x->sizes),
                     lg_dtype_name(t->dtype),
                     lg_shape_str(b, sizeof b, t->ndim, t->sizes));
  } else {
    bool same = t->ndim == x->ndim - 1;
    for (int i = 0, j = 0; same && i < x->ndim; i++)
      if (i != pl->class_dim) same = t->sizes[j++] == x->sizes[i];
    if (!same || t->dtype == LG_BOOL) {
      int64_t want[LG_MAX_DIMS];
      for (int i = 0, j = 0; i < x->ndim; i++)
        if (i != pl->class_dim) want[j++] = x->sizes[i];
      return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected target class indices "
                     "of shape %s for an input of shape %s, got a target of "
                     "dtype %s and shape %s", name,
                     lg_shape_str(a, sizeof a, x->ndim - 1, want),
                     lg_shape_str((char[160]){0}, 160, x->ndim, x->sizes),
                     lg_dtype_name(t->dtype),
                     lg_shape_str(b, sizeof b, t->ndim, t->sizes));
    }
  }
  const lg_tensor *weight = NULL;
  if (p->flags & LG_FLAG_OPT1) {
    weight = in[2];
    if (weight->ndim != 1 || weight->sizes[0] != pl->c ||
        !lg_dtype_is_float(weight->dtype))
      return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected a float weight of shape "
                     "{%lld} (one per class), got a tensor of dtype %s and shape %s",
                     name, (long long)pl->c, lg_dtype_name(weight->dtype),
                     lg_shape_str(a, sizeof a, weight->ndim, weight->sizes));
  }
  return load_weights(ctx, name, weight, pl->c, &pl->weights);
}

static void plan_free(lg_ctx *ctx, loss_plan *pl) {
  if (pl->weights)
    lg_mem_free(ctx, pl->weights,
                (size_t)(pl->c > 0 ? pl->c : 1) * sizeof(double));
  pl->weights = NULL;
}

/* The class of an index target at pos, as 0-based, or -1 when ignored;
 * -2 (with the error set) when out of range. */
static int64_t target_class(lg_ctx *ctx, const char *name,
                            const loss_plan *pl, const int64_t *t,
                            int64_t pos) {
  int64_t v = t[pos];
  if (pl->has_ignore && v == pl->ignore_index) return -1;
  if (v < 1 || v > pl->c) {
    lg_fail(ctx, LG_ERR_INDEX, "%s: target %lld is out of bounds (expected "
            "a class in 1..%lld%s)", name, (long long)v, (long long)pl->c,
            pl->has_ignore ? " or the ignore_index" : "");
    return -2;
  }
  return v - 1;
}

/* 0-based classes of index targets t (-1: ignored) and the summed weight
 * of the non-ignored ones. */
static lg_status read_targets(lg_ctx *ctx, const char *name,
                             const loss_plan *pl, const int64_t *t,
                             int64_t *classes, double *denom) {
  double total = 0;
  for (int64_t pos = 0; pos < pl->n * pl->d; pos++) {
    int64_t c = target_class(ctx, name, pl, t, pos);
    if (c == -2) return LG_ERR_INDEX;
    classes[pos] = c;
    if (c >= 0) total += pl->weights[c];
  }
  *denom = total;
  return LG_OK;
}

/* Per-position losses of logits x (n, c, d) into loss (n*d, may be NULL)
 * and their sum. classes: 0-based (-1 ignored) for index targets, or
 * probs (same layout as x) for probability targets. */
#define LOSS_LOOP(SUF, T)                                                    \
  static double loss_loop_##SUF(const loss_plan *pl, const T *x,       \
                                const int64_t *classes, const T *probs,     \
                                T *loss) {                                   \
    int64_t c = pl->c, d = pl->d;                                            \
    const double *w = pl->weights;                                           \
    double eps = pl->smoothing, uniform = c > 0 ? eps / (double)c : 0;       \
    double total = 0;                                                        \
    for (int64_t n = 0; n < pl->n; n++) {                                    \
      for (int64_t i = 0; i < d; i++) {                                      \
        int64_t pos = n * d + i;                                             \
        const T *row = x + n * c * d + i;                                    \
        double l = 0;                                                        \
        if (pl->nll) {                                                       \
          int64_t k = classes[pos];                                          \
          if (k >= 0) l = -w[k] * (double)row[k * d];                        \
        } else if (probs) {                                                  \
          const T *prow = probs + n * c * d + i;                             \
          double lse = d == 1 ? row_lse_##SUF(row, c, 1)                     \
                              : row_lse_##SUF(row, c, d);                    \
          for (int64_t k = 0; k < c; k++) {                                  \
            double q = (double)prow[k * d] * (1 - eps) + uniform;            \
            l -= w[k] * q * ((double)row[k * d] - lse);                      \
          }                                                                  \
        } else {                                                             \
          int64_t k = classes[pos];                                          \
          if (k >= 0) {                                                      \
            double lse = d == 1 ? row_lse_##SUF(row, c, 1)                   \
                                : row_lse_##SUF(row, c, d);                  \
            l = -(1 - eps) * w[k] * ((double)row[k * d] - lse);              \
            if (eps > 0) {                                                   \
              double smooth = 0;                                             \
              for (int64_t j = 0; j < c; j++)                                \
                smooth += w[j] * ((double)row[j * d] - lse);                 \
              l -= uniform * smooth;                                         \
            }                                                                \
          }                                                                  \
        }                                                                    \
        if (loss) loss[pos] = (T)l;                                          \
        total += l;                                                          \
      }                                                                      \
    }                                                                        \
    return total;                                                            \
  }
LOSS_LOOP(f32, float)
LOSS_LOOP(f64, double)

/* logits (N,C,d..), target (N,d..) or (N,C,d..), [weight (C)]
 *   -> loss (N,d..) for reduction none, () otherwise */
lg_status lg_kernel_cross_entropy(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                                  int n_in, const lg_params *p,
                                  lg_tensor **out) {
  const char *name = lg_op_name(op);
  loss_plan pl = {0};
  lg_tensor *x = NULL, *t = NULL;
  int64_t *classes = NULL;
  size_t class_bytes = 0;
  double denom = 0;
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: can't run in place", name);
  lg_status st = plan_loss(ctx, op, in, n_in, p, &pl);
  if (!st) st = lg_contiguous_as(ctx, in[0], in[0]->dtype, &x);
  if (!st)
    st = lg_contiguous_as(ctx, in[1], pl.prob ? in[0]->dtype : LG_INT64, &t);
  if (!st && !pl.prob) {
    class_bytes = (size_t)(pl.n * pl.d > 0 ? pl.n * pl.d : 1) * sizeof(int64_t);
    classes = lg_mem_alloc(ctx, class_bytes);
    if (!classes) st = lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory", name);
    if (!st)
      st = read_targets(ctx, name, &pl, lg_tensor_data(t), classes,
                              &denom);
  }
  if (!st) {
    bool none = pl.reduction == REDUCTION_NONE;
    int64_t sizes[LG_MAX_DIMS];
    int ndim = 0;
    if (none)
      for (int i = 0; i < x->ndim; i++)
        if (i != pl.class_dim) sizes[ndim++] = x->sizes[i];
    st = lg_prepare_out(ctx, name, &out[0], x->dtype, ndim, sizes);
    if (!st) {
      double total;
      void *loss = none ? lg_tensor_data(out[0]) : NULL;
      if (x->dtype == LG_FLOAT32)
        total = loss_loop_f32(&pl, lg_tensor_data(x), classes,
                              pl.prob ? lg_tensor_data(t) : NULL, loss);
      else
        total = loss_loop_f64(&pl, lg_tensor_data(x), classes,
                              pl.prob ? lg_tensor_data(t) : NULL, loss);
      if (pl.prob) denom = (double)(pl.n * pl.d);
      if (pl.reduction == REDUCTION_MEAN) total /= denom;
      if (!none) lg_tensor_set(out[0], 0, total);
    }
  }
  if (classes) lg_mem_free(ctx, classes, class_bytes);
  plan_free(ctx, &pl);
  lg_tensor_release(x);
  lg_tensor_release(t);
  return st;
}
