/* nn_loss.c: fused softmax / log_softmax over one dim, and the
 * cross_entropy and nll_loss kernels of nn.functional.
 *
 * Inputs are made dense in their own dtype first (lg_contiguous_as), then
 * viewed as (outer, n, inner) around the reduced dim; rows over the last
 * dim (inner == 1) take a contiguous fast path, other dims run the same
 * arithmetic with stride `inner`. Sums accumulate in double; float32 rows
 * exponentiate in float. Every result is max-shifted, so exp never
 * overflows.
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

/* ---- softmax ------------------------------------------------------------ */

/* Geometry of a dense tensor around dim: (outer, n, inner). */
static void split_at(const lg_tensor *x, int64_t dim, int64_t *outer,
                     int64_t *n, int64_t *inner) {
  *outer = *inner = 1;
  for (int64_t d = 0; d < dim; d++) *outer *= x->sizes[d];
  *n = x->ndim ? x->sizes[dim] : 1;
  for (int64_t d = dim + 1; d < x->ndim; d++) *inner *= x->sizes[d];
}

/* Per-type helpers: the exp of a T difference, row max and log-sum-exp
 * with a stride (stride 1 inlines into the contiguous fast path). */
#define EXP_f32(v) ((double)expf(v))
#define EXP_f64(v) exp(v)
#define ROW_HELPERS(SUF, T)                                                  \
  static inline T row_max_##SUF(const T *x, int64_t n, int64_t stride) {     \
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
    double s = 0;                                                            \
    for (int64_t k = 0; k < n; k++) s += EXP_##SUF(x[k * stride] - m);       \
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
      for (int64_t k = 0; k < n; k++)                                        \
        y[k * stride] = (T)((double)x[k * stride] - lse);                    \
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
  /* x (outer, n, inner) -> y (outer, n, inner), softmax over n */           \
  static void softmax_##SUF(const T *x, T *y, int64_t outer, int64_t n,      \
                            int64_t inner, bool take_log) {                  \
    if (inner == 1) {                                                        \
      for (int64_t o = 0; o < outer; o++)                                    \
        row_softmax_##SUF(x + o * n, y + o * n, n, 1, take_log);             \
      return;                                                                \
    }                                                                        \
    for (int64_t o = 0; o < outer; o++)                                      \
      for (int64_t i = 0; i < inner; i++)                                    \
        row_softmax_##SUF(x + o * n * inner + i, y + o * n * inner + i, n,   \
                          inner, take_log);                                  \
  }
ROW_HELPERS(f32, float)
ROW_HELPERS(f64, double)

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
  bool take_log = op == LG_OP_LOG_SOFTMAX;
  if (x->dtype == LG_FLOAT32)
    softmax_f32(lg_tensor_data(dense), lg_tensor_data(out[0]), outer, n,
                inner, take_log);
  else
    softmax_f64(lg_tensor_data(dense), lg_tensor_data(out[0]), outer, n,
                inner, take_log);
  lg_tensor_release(dense);
  return LG_OK;
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
    bool same = t->ndim == x->ndim && t->dtype == x->dtype;
    for (int i = 0; same && i < x->ndim; i++) same = t->sizes[i] == x->sizes[i];
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
