/* nn_norm.c: fused layer_norm, batch_norm and group_norm forwards.
 *
 * Each normalises groups of elements of a dense copy of x by their mean
 * and biased variance, y = (x - mean) / sqrt(var + eps) * weight + bias.
 * Statistics take two passes in double (the mean, then squared deviations
 * from it); the normalising pass runs in x's own dtype. layer_norm and
 * group_norm groups are contiguous rows; a batch_norm group is the
 * channel c of every sample, i.e. N blocks of the spatial size S.
 *
 * Params conventions (optional inputs follow x in this order, each present
 * only when its flag is set):
 *  - LAYER_NORM: x (*, normalized_shape), weight (OPT1) and bias (OPT2) of
 *    normalized_shape; p->ints[0..n_ints) = normalized_shape (n_ints >= 1
 *    trailing dims of x); p->scalar[0] = eps.
 *  - BATCH_NORM: x (N,C) or (N,C,d1,...), running_mean (OPT1), running_var
 *    (OPT2), weight (OPT3), bias (OPT4), each of shape (C);
 *    p->scalar[0] = eps, p->scalar[1] = momentum. With LG_FLAG_TRAINING
 *    the batch statistics normalise (biased variance) and the running
 *    statistics, when given, are updated in place:
 *    r = (1 - momentum) r + momentum * stat, with the unbiased variance.
 *    Without it the running statistics (then required) normalise.
 *  - GROUP_NORM: x (N,C,*), weight (OPT1), bias (OPT2) of shape (C);
 *    p->scalar_int = number of groups (dividing C); p->scalar[0] = eps.
 */
#include <math.h>

#include "core.h"
#include "dtype.h"

/* The affine parameters of one call, dense in x's dtype (ones / zeros
 * when absent), and the statistics scratch. */
typedef struct norm_args {
  lg_tensor *x;              /* dense copy of the input                 */
  lg_tensor *weight, *bias;  /* dense, x's dtype, never NULL once ready */
  lg_tensor *running_mean, *running_var; /* as given (batch_norm)      */
  int64_t groups;            /* statistics groups                       */
  int64_t group_size;        /* elements per group                      */
  double *mean, *rstd;       /* groups values each                      */
} norm_args;

static void args_free(lg_ctx *ctx, norm_args *a) {
  lg_tensor_release(a->x);
  lg_tensor_release(a->weight);
  lg_tensor_release(a->bias);
  if (a->mean) lg_mem_free(ctx, a->mean, (size_t)a->groups * sizeof(double));
  if (a->rstd) lg_mem_free(ctx, a->rstd, (size_t)a->groups * sizeof(double));
}

/* The optional input at *next when flag is set, checked to be a float
 * tensor of the given shape; NULL when absent. */
static lg_status take_optional(lg_ctx *ctx, const char *name,
                               const char *what, lg_tensor *const *in,
                               int n_in, int *next, bool present, int ndim,
                               const int64_t *sizes, lg_tensor **out) {
  *out = NULL;
  if (!present) return LG_OK;
  if (*next >= n_in)
    return lg_fail(ctx, LG_ERR_ARG, "%s: %s is flagged but missing", name,
                   what);
  lg_tensor *t = in[(*next)++];
  if (!lg_dtype_is_float(t->dtype) ||
      !lg_tensor_has_shape(t, ndim, sizes)) {
    char a[160], b[160];
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected a float %s of shape %s, "
                   "got a tensor of dtype %s and shape %s", name, what,
                   lg_shape_str(a, sizeof a, ndim, sizes),
                   lg_dtype_name(t->dtype),
                   lg_shape_str(b, sizeof b, t->ndim, t->sizes));
  }
  *out = t;
  return LG_OK;
}

/* Dense weight / bias in dtype, or ones / zeros of shape (n) when absent. */
static lg_status affine_or_default(lg_ctx *ctx, lg_tensor *given,
                                   lg_dtype dtype, int64_t n, double dflt,
                                   lg_tensor **out) {
  if (given) return lg_contiguous_as(ctx, given, dtype, out);
  return lg_full(ctx, dtype, 1, &n, dflt, out);
}

/* Allocates the statistics arrays for a->groups groups. */
static lg_status alloc_stats(lg_ctx *ctx, const char *name, norm_args *a) {
  size_t bytes = (size_t)(a->groups > 0 ? a->groups : 1) * sizeof(double);
  if (a->groups <= 0) a->groups = 1;
  a->mean = lg_mem_alloc(ctx, bytes);
  a->rstd = lg_mem_alloc(ctx, bytes);
  if (!a->mean || !a->rstd)
    return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory", name);
  return LG_OK;
}

/* ---- typed loops ---------------------------------------------------------- */

#define NORM_LOOPS(SUF, T)                                                   \
  /* mean and biased variance of the blocks x[b * stride .. + len), b < n */ \
  static void block_stats_##SUF(const T *x, int64_t n, int64_t stride,       \
                                int64_t len, double *mean, double *var) {    \
    double s = 0, m2 = 0;                                                    \
    for (int64_t b = 0; b < n; b++)                                          \
      for (int64_t i = 0; i < len; i++) s += (double)x[b * stride + i];      \
    double count = (double)(n * len), mu = count > 0 ? s / count : NAN;      \
    for (int64_t b = 0; b < n; b++)                                          \
      for (int64_t i = 0; i < len; i++) {                                    \
        double dv = (double)x[b * stride + i] - mu;                          \
        m2 += dv * dv;                                                       \
      }                                                                      \
    *mean = mu;                                                              \
    *var = count > 0 ? m2 / count : NAN;                                     \
  }                                                                          \
  /* layer_norm: rows of m, y = (x - mean) rstd w[j] + b[j] */               \
  static void layer_apply_##SUF(const T *x, T *y, int64_t rows, int64_t m,   \
                                const double *mean, const double *rstd,      \
                                const T *w, const T *b) {                    \
    for (int64_t r = 0; r < rows; r++) {                                     \
      const T *xr = x + r * m;                                               \
      T *yr = y + r * m;                                                     \
      T mu = (T)mean[r], rs = (T)rstd[r];                                    \
      for (int64_t j = 0; j < m; j++) yr[j] = (xr[j] - mu) * rs * w[j] + b[j]; \
    }                                                                        \
  }                                                                          \
  /* x (n, c, s): y = x scale + shift per (sample, channel) */               \
  static void channel_apply_##SUF(const T *x, T *y, int64_t n, int64_t c,    \
                                  int64_t s, const double *scale,            \
                                  const double *shift, bool per_sample) {    \
    for (int64_t i = 0; i < n; i++)                                          \
      for (int64_t k = 0; k < c; k++) {                                      \
        int64_t at = per_sample ? i * c + k : k;                             \
        T a = (T)scale[at], bb = (T)shift[at];                               \
        const T *xb = x + (i * c + k) * s;                                   \
        T *yb = y + (i * c + k) * s;                                         \
        for (int64_t j = 0; j < s; j++) yb[j] = xb[j] * a + bb;              \
      }                                                                      \
  }
NORM_LOOPS(f32, float)
NORM_LOOPS(f64, double)

static void block_stats(lg_dtype dtype, const void *x, int64_t n,
                        int64_t stride, int64_t len, double *mean,
                        double *var) {
  if (dtype == LG_FLOAT32) block_stats_f32(x, n, stride, len, mean, var);
  else block_stats_f64(x, n, stride, len, mean, var);
}

static void channel_apply(lg_dtype dtype, const void *x, void *y, int64_t n,
                          int64_t c, int64_t s, const double *scale,
                          const double *shift, bool per_sample) {
  if (dtype == LG_FLOAT32)
    channel_apply_f32(x, y, n, c, s, scale, shift, per_sample);
  else
    channel_apply_f64(x, y, n, c, s, scale, shift, per_sample);
}

/* ---- the three ops ---------------------------------------------------------- */

/* x (*, normalized_shape) -> y (same) */
static lg_status layer_norm(lg_ctx *ctx, lg_tensor *const *in, int n_in,
                            const lg_params *p, norm_args *a,
                            lg_tensor **out) {
  const char *name = "layer_norm";
  lg_tensor *x = in[0], *w = NULL, *b = NULL;
  int k = p->n_ints;
  char s1[160], s2[160];
  if (k < 1 || k > x->ndim)
    return lg_fail(ctx, LG_ERR_SHAPE, "layer_norm: expected normalized_shape "
                   "of 1..%d dims for an input of shape %s, got %d dims",
                   x->ndim, lg_shape_str(s1, sizeof s1, x->ndim, x->sizes), k);
  int64_t m = 1;
  for (int i = 0; i < k; i++) {
    if (x->sizes[x->ndim - k + i] != p->ints[i])
      return lg_fail(ctx, LG_ERR_SHAPE, "layer_norm: normalized_shape %s "
                     "does not match the last dims of the input of shape %s",
                     lg_shape_str(s1, sizeof s1, k, p->ints),
                     lg_shape_str(s2, sizeof s2, x->ndim, x->sizes));
    m *= p->ints[i];
  }
  int next = 1;
  lg_status st = take_optional(ctx, name, "weight", in, n_in, &next,
                               p->flags & LG_FLAG_OPT1, k, p->ints, &w);
  if (!st) st = take_optional(ctx, name, "bias", in, n_in, &next,
                              p->flags & LG_FLAG_OPT2, k, p->ints, &b);
  if (!st) st = affine_or_default(ctx, w, x->dtype, m, 1, &a->weight);
  if (!st) st = affine_or_default(ctx, b, x->dtype, m, 0, &a->bias);
  a->group_size = m;
  a->groups = m > 0 ? lg_tensor_numel(x) / m : 0;
  if (!st) st = alloc_stats(ctx, name, a);
  if (!st) st = lg_prepare_out(ctx, name, out, x->dtype, x->ndim, x->sizes);
  if (st || m == 0) return st;
  const char *xd = lg_tensor_data(a->x);
  size_t item = lg_dtype_size(x->dtype);
  for (int64_t r = 0; r < a->groups; r++) {
    double var;
    block_stats(x->dtype, xd + (size_t)(r * m) * item, 1, m, m, &a->mean[r],
                &var);
    a->rstd[r] = 1 / sqrt(var + p->scalar[0]);
  }
  if (x->dtype == LG_FLOAT32)
    layer_apply_f32(lg_tensor_data(a->x), lg_tensor_data(*out), a->groups, m,
                    a->mean, a->rstd, lg_tensor_data(a->weight),
                    lg_tensor_data(a->bias));
  else
    layer_apply_f64(lg_tensor_data(a->x), lg_tensor_data(*out), a->groups, m,
                    a->mean, a->rstd, lg_tensor_data(a->weight),
                    lg_tensor_data(a->bias));
  return LG_OK;
}

/* The (N, C, S) view of x (N,C,*), or an error naming op. */
static lg_status channels_of(lg_ctx *ctx, const char *name,
                             const lg_tensor *x, int64_t *n, int64_t *c,
                             int64_t *s) {
  if (x->ndim < 2) {
    char s1[160];
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected an input of shape (N,C) "
                   "or (N,C,...), got %s", name,
                   lg_shape_str(s1, sizeof s1, x->ndim, x->sizes));
  }
  *n = x->sizes[0];
  *c = x->sizes[1];
  *s = 1;
  for (int i = 2; i < x->ndim; i++) *s *= x->sizes[i];
  return LG_OK;
}

/* scale = rstd w, shift = b - mean rstd w for each of count slots: slot
 * `at` uses the weight of channel at % channels and the statistics of
 * group at / per_group. */
static lg_status fold_affine(lg_ctx *ctx, const char *name, const norm_args *a,
                             int64_t count, int64_t channels,
                             int64_t per_group, double **scale,
                             double **shift) {
  size_t bytes = (size_t)(count > 0 ? count : 1) * sizeof(double);
  *scale = lg_mem_alloc(ctx, bytes);
  *shift = lg_mem_alloc(ctx, bytes);
  if (!*scale || !*shift)
    return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory", name);
  for (int64_t at = 0; at < count; at++) {
    int64_t ch = at % channels, g = at / per_group;
    double w = lg_tensor_get(a->weight, ch), b = lg_tensor_get(a->bias, ch);
    (*scale)[at] = a->rstd[g] * w;
    (*shift)[at] = b - a->mean[g] * a->rstd[g] * w;
  }
  return LG_OK;
}

/* Runs the channel pass with folded affine parameters. */
static lg_status apply_folded(lg_ctx *ctx, const char *name,
                              const norm_args *a, int64_t n, int64_t c,
                              int64_t s, int64_t per_group, bool per_sample,
                              lg_tensor *out) {
  double *scale = NULL, *shift = NULL;
  int64_t count = per_sample ? n * c : c;
  lg_status st = fold_affine(ctx, name, a, count, c, per_group, &scale, &shift);
  if (!st)
    channel_apply(a->x->dtype, lg_tensor_data(a->x), lg_tensor_data(out), n,
                  c, s, scale, shift, per_sample);
  size_t bytes = (size_t)(count > 0 ? count : 1) * sizeof(double);
  if (scale) lg_mem_free(ctx, scale, bytes);
  if (shift) lg_mem_free(ctx, shift, bytes);
  return st;
}

/* x (N,C,*) -> y (same), groups of C/G channels per sample */
static lg_status group_norm(lg_ctx *ctx, lg_tensor *const *in, int n_in,
                            const lg_params *p, norm_args *a,
                            lg_tensor **out) {
  const char *name = "group_norm";
  lg_tensor *x = in[0], *w = NULL, *b = NULL;
  int64_t n = 0, c = 0, s = 0, g = p->scalar_int;
  lg_status st = channels_of(ctx, name, x, &n, &c, &s);
  if (st) return st;
  if (g < 1 || c % g != 0)
    return lg_fail(ctx, LG_ERR_ARG, "group_norm: expected num_groups to be a "
                   "positive divisor of the %lld channels, got %lld",
                   (long long)c, (long long)g);
  int next = 1;
  st = take_optional(ctx, name, "weight", in, n_in, &next,
                     p->flags & LG_FLAG_OPT1, 1, &c, &w);
  if (!st) st = take_optional(ctx, name, "bias", in, n_in, &next,
                              p->flags & LG_FLAG_OPT2, 1, &c, &b);
  if (!st) st = affine_or_default(ctx, w, x->dtype, c, 1, &a->weight);
  if (!st) st = affine_or_default(ctx, b, x->dtype, c, 0, &a->bias);
  a->groups = n * g;
  a->group_size = c / g * s;
  if (!st) st = alloc_stats(ctx, name, a);
  if (!st) st = lg_prepare_out(ctx, name, out, x->dtype, x->ndim, x->sizes);
  if (st || lg_tensor_numel(x) == 0) return st;
  const char *xd = lg_tensor_data(a->x);
  size_t item = lg_dtype_size(x->dtype);
  for (int64_t r = 0; r < n * g; r++) {
    double var;
    int64_t m = a->group_size;
    block_stats(x->dtype, xd + (size_t)(r * m) * item, 1, m, m, &a->mean[r],
                &var);
    a->rstd[r] = 1 / sqrt(var + p->scalar[0]);
  }
  /* (sample, channel) at = i*c + k belongs to group at / (c/g) */
  return apply_folded(ctx, name, a, n, c, s, c / g, true, *out);
}

/* r[k] = (1 - momentum) r[k] + momentum v, leaving the version counter
 * alone (see the comment at the call). */
static void update_running(lg_tensor *r, int64_t k, double momentum,
                           double v) {
  double old = lg_tensor_get(r, k);
  lg_store_double((char *)r->storage->data + lg_flat_to_offset(r, k),
                  r->dtype, (1 - momentum) * old + momentum * v);
}

/* x (N,C,*) -> y (same), statistics per channel over N and * */
static lg_status batch_norm(lg_ctx *ctx, lg_tensor *const *in, int n_in,
                            const lg_params *p, norm_args *a,
                            lg_tensor **out) {
  const char *name = "batch_norm";
  lg_tensor *x = in[0], *w = NULL, *b = NULL;
  int64_t n = 0, c = 0, s = 0;
  bool training = p->flags & LG_FLAG_TRAINING;
  double eps = p->scalar[0], momentum = p->scalar[1];
  lg_status st = channels_of(ctx, name, x, &n, &c, &s);
  if (st) return st;
  int next = 1;
  st = take_optional(ctx, name, "running_mean", in, n_in, &next,
                     p->flags & LG_FLAG_OPT1, 1, &c, &a->running_mean);
  if (!st) st = take_optional(ctx, name, "running_var", in, n_in, &next,
                              p->flags & LG_FLAG_OPT2, 1, &c, &a->running_var);
  if (!st) st = take_optional(ctx, name, "weight", in, n_in, &next,
                              p->flags & LG_FLAG_OPT3, 1, &c, &w);
  if (!st) st = take_optional(ctx, name, "bias", in, n_in, &next,
                              p->flags & LG_FLAG_OPT4, 1, &c, &b);
  if (st) return st;
  if (!training && (!a->running_mean || !a->running_var))
    return lg_fail(ctx, LG_ERR_ARG, "batch_norm: evaluation mode needs "
                   "running_mean and running_var (or training = true)");
  if (training && n * s <= 1) {
    char s1[160];
    return lg_fail(ctx, LG_ERR_SHAPE, "batch_norm: expected more than 1 value "
                   "per channel when training, got an input of shape %s",
                   lg_shape_str(s1, sizeof s1, x->ndim, x->sizes));
  }
  st = affine_or_default(ctx, w, x->dtype, c, 1, &a->weight);
  if (!st) st = affine_or_default(ctx, b, x->dtype, c, 0, &a->bias);
  a->groups = c;
  a->group_size = n * s;
  if (!st) st = alloc_stats(ctx, name, a);
  if (!st) st = lg_prepare_out(ctx, name, out, x->dtype, x->ndim, x->sizes);
  if (st) return st;
  const char *xd = lg_tensor_data(a->x);
  size_t item = lg_dtype_size(x->dtype);
  for (int64_t k = 0; k < c; k++) {
    double mean, var;
    if (training) {
      block_stats(x->dtype, xd + (size_t)(k * s) * item, n, c * s, s, &mean,
                  &var);
    } else {
      mean = lg_tensor_get(a->running_mean, k);
      var = lg_tensor_get(a->running_var, k);
    }
    a->mean[k] = mean;
    a->rstd[k] = 1 / sqrt(var + eps);
    /* Running statistics are buffers, never differentiated in training
     * mode: the update leaves their version counter alone, as PyTorch's
     * does not save them, so a module used twice in one graph can still
     * run its backward. */
    double count = (double)(n * s);
    if (training && a->running_mean)
      update_running(a->running_mean, k, momentum, mean);
    if (training && a->running_var)
      update_running(a->running_var, k, momentum, var * count / (count - 1));
  }
  return apply_folded(ctx, name, a, n, c, s, 1, false, *out);
}

/* layer_norm / batch_norm / group_norm: x -> y of x's shape and dtype */
lg_status lg_kernel_norm(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                         int n_in, const lg_params *p, lg_tensor **out) {
  const char *name = lg_op_name(op);
  norm_args a = {0};
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: can't run in place", name);
  if (!lg_dtype_is_float(in[0]->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected a float32 or float64 "
                   "input, got %s", name, lg_dtype_name(in[0]->dtype));
  if (!(p->scalar[0] >= 0))
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected eps >= 0, got %g", name,
                   p->scalar[0]);
  lg_status st = lg_contiguous_as(ctx, in[0], in[0]->dtype, &a.x);
  if (!st) {
    switch (op) {
      case LG_OP_LAYER_NORM: st = layer_norm(ctx, in, n_in, p, &a, out); break;
      case LG_OP_GROUP_NORM: st = group_norm(ctx, in, n_in, p, &a, out); break;
      case LG_OP_BATCH_NORM: st = batch_norm(ctx, in, n_in, p, &a, out); break;
      default: st = lg_fail(ctx, LG_ERR_ARG, "%s: not a norm op", name);
    }
  }
  if (st && *out) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  args_free(ctx, &a);
  return st;
}
