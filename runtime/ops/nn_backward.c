/* backward_nn.c: backward rules of softmax, log_softmax, cross_entropy,
 * nll_loss, layer_norm, batch_norm and group_norm (the params conventions
 * are in nn_loss.c and nn_norm.c).
 *
 * Every rule is a formula in differentiable ops, so under create_graph the
 * backward is itself recorded and double backward works. When nothing is
 * recorded (grad mode off during the backward run, the usual training
 * step) softmax, log_softmax and cross_entropy with class-index targets
 * take a fused path instead: the op's own softmax kernel, then one C loop
 * over its result. The formula path is the reference the fused one is
 * tested against (tests/c/test_nn_loss.c runs both).
 */
#include <math.h>

#include "autograd.h"
#include "dtype.h"

#define S(op, a) lg_s_unary(&s, LG_OP_##op, a)
#define B(op, a, b) lg_s_binary(&s, LG_OP_##op, a, b)
#define K(op, a, k) lg_s_scalar(&s, LG_OP_##op, a, k)
#define RK(op, k, a) lg_s_rscalar(&s, LG_OP_##op, k, a)

/* Whether input i of the node needs a gradient at all. */
static bool needs(const lg_node *node, int i) {
  return node->edges[i].node != NULL;
}

/* A one-dim op (softmax, log_softmax) of a over dim. */
static lg_tensor *dim_op(lg_scope *s, lg_op op, lg_tensor *a, int64_t dim) {
  lg_params p = {0};
  p.dim = dim;
  return lg_s_op(s, op, 1, &a, &p);
}

/* A reduction (SUM, MEAN, VAR with correction 0) over dims, kept. */
static lg_tensor *reduce_kept(lg_scope *s, lg_op op, lg_tensor *a, int n,
                              const int64_t *dims) {
  lg_params p = {0};
  p.flags = LG_FLAG_KEEPDIM;
  p.n_ints = n;
  for (int i = 0; i < n; i++) p.ints[i] = dims[i];
  return lg_s_op(s, op, 1, &a, &p);
}

/* a reshaped to sizes (a view when possible). */
static lg_tensor *reshape(lg_scope *s, lg_tensor *a, int n,
                          const int64_t *sizes) {
  lg_params p = {0};
  p.n_ints = n;
  for (int i = 0; i < n; i++) p.ints[i] = sizes[i];
  return lg_s_op(s, LG_OP_RESHAPE, 1, &a, &p);
}

/* A per-channel vector v (C) shaped to broadcast against x (N,C,*):
 * (C,1,...,1) with x's ndim - 1 dims. */
static lg_tensor *per_channel(lg_scope *s, lg_tensor *v, int x_ndim) {
  int64_t sizes[LG_MAX_DIMS];
  if (!v) return NULL;
  sizes[0] = v->sizes[0];
  for (int i = 1; i < x_ndim - 1; i++) sizes[i] = 1;
  return reshape(s, v, x_ndim - 1, sizes);
}

/* ---- softmax and log_softmax ---------------------------------------------- */

/* Fused: gx = y (g - sum(g y)) for softmax, g - y sum(g) for log_softmax,
 * with y the softmax, over (outer, n, inner) dense rows; gx may alias y. */
#define SOFTMAX_GRAD(SUF, T)                                                 \
  static void softmax_grad_##SUF(const T *y, const T *g, T *gx,              \
                                 int64_t outer, int64_t n, int64_t inner,    \
                                 bool from_log) {                            \
    for (int64_t o = 0; o < outer; o++)                                      \
      for (int64_t i = 0; i < inner; i++) {                                  \
        int64_t base = o * n * inner + i;                                    \
        double dot = 0;                                                      \
        for (int64_t k = 0; k < n; k++) {                                    \
          int64_t at = base + k * inner;                                     \
          dot += from_log ? (double)g[at] : (double)g[at] * (double)y[at];   \
        }                                                                    \
        T t = (T)dot;                                                        \
        for (int64_t k = 0; k < n; k++) {                                    \
          int64_t at = base + k * inner;                                     \
          gx[at] = from_log ? g[at] - y[at] * t : y[at] * (g[at] - t);       \
        }                                                                    \
      }                                                                      \
  }
SOFTMAX_GRAD(f32, float)
SOFTMAX_GRAD(f64, double)

/* The fused softmax / log_softmax gradient (nothing recorded). */
static lg_status softmax_fused(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                               lg_tensor **grad) {
  lg_tensor *x = lg_saved(node, 0), *y = NULL, *gd = NULL;
  int64_t dim, outer = 1, n, inner = 1;
  lg_status st = lg_wrap_dim(ctx, "softmax", node->params.dim, x->ndim, &dim);
  if (!st) st = lg_run1(ctx, LG_OP_SOFTMAX, x, &node->params, &y);
  if (!st) st = lg_contiguous_as(ctx, g, x->dtype, &gd);
  if (!st) {
    for (int64_t d = 0; d < dim; d++) outer *= x->sizes[d];
    n = x->ndim ? x->sizes[dim] : 1;
    for (int64_t d = dim + 1; d < x->ndim; d++) inner *= x->sizes[d];
    bool from_log = node->op == LG_OP_LOG_SOFTMAX;
    if (x->dtype == LG_FLOAT32)
      softmax_grad_f32(lg_tensor_data(y), lg_tensor_data(gd),
                       lg_tensor_data(y), outer, n, inner, from_log);
    else
      softmax_grad_f64(lg_tensor_data(y), lg_tensor_data(gd),
                       lg_tensor_data(y), outer, n, inner, from_log);
    *grad = y;
    y = NULL;
  }
  lg_tensor_release(y);
  lg_tensor_release(gd);
  return st;
}

static lg_status softmax_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                                  lg_tensor **grad_in) {
  if (!ctx->grad_enabled) return softmax_fused(ctx, node, g, &grad_in[0]);
  lg_scope s;
  lg_scope_begin(&s, ctx);
  lg_tensor *x = lg_saved(node, 0);
  int64_t dim = node->params.dim;
  lg_tensor *y = dim_op(&s, LG_OP_SOFTMAX, x, dim), *r;
  if (node->op == LG_OP_SOFTMAX) /* y (g - sum(g y)) */
    r = B(MUL, y, B(SUB, g, reduce_kept(&s, LG_OP_SUM, B(MUL, g, y), 1, &dim)));
  else /* g - softmax(x) sum(g) */
    r = B(SUB, g, B(MUL, y, reduce_kept(&s, LG_OP_SUM, g, 1, &dim)));
  grad_in[0] = lg_keep(&s, r);
  return lg_scope_end(&s);
}

/* ---- cross_entropy and nll_loss -------------------------------------------- */

enum { REDUCTION_NONE = 0, REDUCTION_MEAN = 1, REDUCTION_SUM = 2 };

/* What a loss rule needs to know about its node. Every loss is
 * sum_k -q_k log p_k per position (nll_loss: -q_k x_k), so its gradient is
 * scale * (softmax(x) sum(q) - q) (nll_loss: -scale * q). */
typedef struct loss_info {
  int class_dim, reduction;
  int64_t n, c, d;
  double smoothing;
  bool prob, nll;
  lg_tensor *x, *target, *weight;
} loss_info;

static void loss_info_of(const lg_node *node, loss_info *li) {
  const lg_params *p = &node->params;
  li->x = lg_saved(node, 0);
  li->target = lg_saved(node, 1);
  li->weight = (p->flags & LG_FLAG_OPT1) ? lg_saved(node, 2) : NULL;
  li->nll = node->op == LG_OP_NLL_LOSS;
  li->reduction = (int)p->ints[0];
  li->smoothing = li->nll ? 0 : p->scalar[0];
  li->prob = lg_dtype_is_float(node->input_info[1].dtype);
  const lg_tensor_info *xi = &node->input_info[0];
  li->class_dim = xi->ndim >= 2 ? 1 : 0;
  li->n = xi->ndim >= 2 ? xi->sizes[0] : 1;
  li->c = xi->sizes[li->class_dim];
  li->d = 1;
  for (int i = 2; i < xi->ndim; i++) li->d *= xi->sizes[i];
}

/* For index targets: q (x's shape) and sum_k q_k (the target's shape, with
 * the class dim kept as 1) as plain tensors, and the mean's denominator
 * (the summed weight of non-ignored targets). The forward validated the
 * targets. */
static lg_status index_weights(lg_ctx *ctx, const lg_node *node,
                               const loss_info *li, lg_tensor **q,
                               lg_tensor **qsum, double *denom) {
  const lg_tensor_info *xi = &node->input_info[0];
  lg_tensor_info si = *xi;
  si.sizes[li->class_dim] = 1;
  lg_status st = lg_full(ctx, xi->dtype, xi->ndim, xi->sizes, 0, q);
  if (!st) st = lg_full(ctx, xi->dtype, si.ndim, si.sizes, 0, qsum);
  if (st) return st;
  bool ignore = node->params.flags & LG_FLAG_SCALAR_INT;
  double eps = li->smoothing, uniform = li->c ? eps / (double)li->c : 0;
  double wsum = 0;
  for (int64_t k = 0; k < li->c; k++)
    wsum += li->weight ? lg_tensor_get(li->weight, k) : 1;
  *denom = 0;
  for (int64_t pos = 0; pos < li->n * li->d; pos++) {
    int64_t t = lg_tensor_get_int(li->target, pos);
    if (ignore && t == node->params.scalar_int) continue;
    int64_t cls = t - 1, n = pos / li->d, i = pos % li->d;
    double wc = li->weight ? lg_tensor_get(li->weight, cls) : 1;
    *denom += wc;
    for (int64_t k = 0; uniform > 0 && k < li->c; k++) {
      double wk = li->weight ? lg_tensor_get(li->weight, k) : 1;
      lg_tensor_set(*q, (n * li->c + k) * li->d + i, uniform * wk);
    }
    int64_t at = (n * li->c + cls) * li->d + i;
    lg_tensor_set(*q, at, lg_tensor_get(*q, at) + (1 - eps) * wc);
    lg_tensor_set(*qsum, pos, (1 - eps) * wc + uniform * wsum);
  }
  return LG_OK;
}

/* Fused: gx = scale (softmax(x) sum(q) - q) for class-index targets, in
 * place over the softmax y (n, c, d). scale is g (per position, none) or
 * g / denom (mean) or g (sum), one value when g_per_pos is NULL. */
#define CE_GRAD(SUF, T)                                                      \
  static void ce_grad_##SUF(T *y, const loss_info *li, const int64_t *t,     \
                            bool ignore, int64_t ignore_index,               \
                            const double *w, const T *g_per_pos,             \
                            double scale_all) {                              \
    int64_t c = li->c, d = li->d;                                            \
    double eps = li->smoothing, uniform = c ? eps / (double)c : 0, wsum = 0; \
    for (int64_t k = 0; k < c; k++) wsum += w ? w[k] : 1;                    \
    for (int64_t n = 0; n < li->n; n++)                                      \
      for (int64_t i = 0; i < d; i++) {                                      \
        int64_t pos = n * d + i;                                             \
        T *row = y + n * c * d + i;                                          \
        int64_t v = t[pos];                                                  \
        if (ignore && v == ignore_index) {                                   \
          for (int64_t k = 0; k < c; k++) row[k * d] = 0;                    \
          continue;                                                          \
        }                                                                    \
        int64_t cls = v - 1;                                                 \
        double scale = g_per_pos ? (double)g_per_pos[pos] : scale_all;       \
        double wc = w ? w[cls] : 1;                                          \
        T a = (T)(scale * ((1 - eps) * wc + uniform * wsum));                \
        if (uniform == 0) {                                                  \
          for (int64_t k = 0; k < c; k++) row[k * d] *= a;                   \
        } else {                                                             \
          for (int64_t k = 0; k < c; k++)                                    \
            row[k * d] = row[k * d] * a -                                    \
                         (T)(scale * uniform * (w ? w[k] : 1));              \
        }                                                                    \
        row[cls * d] -= (T)(scale * (1 - eps) * wc);                         \
      }                                                                      \
  }
CE_GRAD(f32, float)
CE_GRAD(f64, double)

/* The fused cross_entropy gradient for index targets (nothing recorded). */
static lg_status ce_fused(lg_ctx *ctx, const lg_node *node,
                          const loss_info *li, lg_tensor *g,
                          lg_tensor **grad) {
  lg_params sp = {0};
  lg_tensor *y = NULL, *t = NULL, *gd = NULL;
  double *w = NULL;
  size_t wbytes = (size_t)(li->c > 0 ? li->c : 1) * sizeof(double);
  sp.dim = li->class_dim;
  lg_status st = lg_run1(ctx, LG_OP_SOFTMAX, li->x, &sp, &y);
  if (!st) st = lg_contiguous_as(ctx, li->target, LG_INT64, &t);
  if (!st) st = lg_contiguous_as(ctx, g, li->x->dtype, &gd);
  if (!st && li->weight) {
    w = lg_mem_alloc(ctx, wbytes);
    if (!w) st = lg_fail(ctx, LG_ERR_MEMORY, "cross_entropy: out of memory");
    for (int64_t k = 0; !st && k < li->c; k++)
      w[k] = lg_tensor_get(li->weight, k);
  }
  if (!st) {
    const int64_t *tv = lg_tensor_data(t);
    bool ignore = node->params.flags & LG_FLAG_SCALAR_INT;
    int64_t ignore_index = node->params.scalar_int;
    double scale = lg_tensor_numel(gd) ? lg_tensor_get(gd, 0) : 0;
    if (li->reduction == REDUCTION_MEAN) {
      double denom = 0;
      for (int64_t pos = 0; pos < li->n * li->d; pos++)
        if (!(ignore && tv[pos] == ignore_index))
          denom += w ? w[tv[pos] - 1] : 1;
      scale /= denom;
    }
    bool per_pos = li->reduction == REDUCTION_NONE;
    if (li->x->dtype == LG_FLOAT32)
      ce_grad_f32(lg_tensor_data(y), li, tv, ignore, ignore_index, w,
                  per_pos ? lg_tensor_data(gd) : NULL, scale);
    else
      ce_grad_f64(lg_tensor_data(y), li, tv, ignore, ignore_index, w,
                  per_pos ? lg_tensor_data(gd) : NULL, scale);
    *grad = y;
    y = NULL;
  }
  if (w) lg_mem_free(ctx, w, wbytes);
  lg_tensor_release(y);
  lg_tensor_release(t);
  lg_tensor_release(gd);
  return st;
}

static lg_status loss_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                               lg_tensor **grad_in) {
  loss_info li;
  loss_info_of(node, &li);
  const char *name = lg_op_name(node->op);
  if (li.weight && needs(node, 2))
    return lg_fail(ctx, LG_ERR_RUNTIME, "%s: the gradient with respect to "
                   "weight is not implemented (as in PyTorch); detach the "
                   "weight", name);
  if (!ctx->grad_enabled && !li.prob && !li.nll && !needs(node, 1))
    return ce_fused(ctx, node, &li, g, &grad_in[0]);
  lg_scope s;
  lg_scope_begin(&s, ctx);
  lg_tensor *q = NULL, *qsum = NULL, *wb = NULL;
  double denom = (double)(li.n * li.d);
  if (li.weight) {
    wb = li.weight;
    if (node->input_info[0].ndim > 2) wb = per_channel(&s, li.weight, node->input_info[0].ndim);
  }
  if (li.prob) { /* q = w (t (1 - eps) + eps / C) */
    q = li.target;
    if (li.smoothing > 0)
      q = K(ADD, K(MUL, q, 1 - li.smoothing), li.smoothing / (double)li.c);
    if (wb) q = B(MUL, q, wb);
    int64_t cd = li.class_dim;
    qsum = reduce_kept(&s, LG_OP_SUM, q, 1, &cd);
  } else if (!s.status) {
    lg_tensor *tq = NULL, *tsum = NULL;
    s.status = index_weights(ctx, node, &li, &tq, &tsum, &denom);
    q = lg_s_track(&s, tq); /* the scope releases them */
    qsum = lg_s_track(&s, tsum);
  }
  /* the per-position scale, broadcast over the class dim */
  lg_tensor *scale = g;
  if (li.reduction == REDUCTION_MEAN) scale = K(DIV, g, denom);
  else if (li.reduction == REDUCTION_NONE && node->input_info[0].ndim >= 2) {
    lg_params up = {0};
    up.dim = 1;
    scale = lg_s_op(&s, LG_OP_UNSQUEEZE, 1, &g, &up);
  }
  if (needs(node, 0)) {
    lg_tensor *core;
    if (li.nll) {
      core = S(NEG, q);
    } else {
      lg_tensor *p = dim_op(&s, LG_OP_SOFTMAX, li.x, li.class_dim);
      core = B(SUB, B(MUL, p, qsum), q);
    }
    grad_in[0] = lg_keep(&s, lg_s_cast(&s, B(MUL, core, scale), li.x->dtype));
  }
  if (li.prob && needs(node, 1)) { /* -(1 - eps) w log p */
    lg_tensor *lp = dim_op(&s, LG_OP_LOG_SOFTMAX, li.x, li.class_dim);
    lg_tensor *r = K(MUL, lp, -(1 - li.smoothing));
    if (wb) r = B(MUL, r, wb);
    grad_in[1] = lg_keep(&s, lg_s_cast(&s, B(MUL, r, scale), li.target->dtype));
  }
  return lg_scope_end(&s);
}

/* ---- normalisation ----------------------------------------------------------- */

/* The normalisation core over dims of xv: xhat = (xv - mean) rstd and
 * dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), all kept dims. */
static void norm_core(lg_scope *s, lg_tensor *xv, lg_tensor *dxhat, int n,
                      const int64_t *dims, double eps, lg_tensor **xhat,
                      lg_tensor **dx) {
  lg_tensor *mean = reduce_kept(s, LG_OP_MEAN, xv, n, dims);
  lg_params vp = {0};
  vp.flags = LG_FLAG_KEEPDIM;
  vp.n_ints = n;
  for (int i = 0; i < n; i++) vp.ints[i] = dims[i];
  vp.scalar[0] = 0; /* biased */
  lg_tensor *var = lg_s_op(s, LG_OP_VAR, 1, &xv, &vp);
  lg_tensor *rstd = lg_s_unary(s, LG_OP_RSQRT, lg_s_scalar(s, LG_OP_ADD, var, eps));
  *xhat = lg_s_binary(s, LG_OP_MUL, lg_s_binary(s, LG_OP_SUB, xv, mean), rstd);
  if (!dxhat) return;
  lg_tensor *m1 = reduce_kept(s, LG_OP_MEAN, dxhat, n, dims);
  lg_tensor *m2 = reduce_kept(s, LG_OP_MEAN,
                              lg_s_binary(s, LG_OP_MUL, dxhat, *xhat), n, dims);
  lg_tensor *centred = lg_s_binary(s, LG_OP_SUB, dxhat, m1);
  *dx = lg_s_binary(s, LG_OP_MUL, rstd,
                    lg_s_binary(s, LG_OP_SUB, centred,
                                lg_s_binary(s, LG_OP_MUL, *xhat, m2)));
}

/* Sum of a over every dim but 1 (the channel), giving (C). */
static lg_tensor *sum_but_channel(lg_scope *s, lg_tensor *a) {
  lg_params p = {0};
  if (!a) return NULL;
  for (int i = 0; i < a->ndim; i++)
    if (i != 1) p.ints[p.n_ints++] = i;
  return lg_s_op(s, LG_OP_SUM, 1, &a, &p);
}

static lg_status layer_norm_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                                     lg_tensor **grad_in) {
  const lg_params *p = &node->params;
  lg_scope s;
  lg_scope_begin(&s, ctx);
  lg_tensor *x = lg_saved(node, 0), *xhat = NULL, *dx = NULL;
  int iw = (p->flags & LG_FLAG_OPT1) ? 1 : -1;
  int ib = (p->flags & LG_FLAG_OPT2) ? 1 + (iw > 0) : -1;
  lg_tensor *w = iw > 0 ? lg_saved(node, iw) : NULL;
  int k = p->n_ints;
  int64_t dims[LG_MAX_DIMS];
  for (int i = 0; i < k; i++) dims[i] = x->ndim - k + i;
  lg_tensor *dxhat = w ? B(MUL, g, w) : g;
  norm_core(&s, x, needs(node, 0) ? dxhat : NULL, k, dims, p->scalar[0],
            &xhat, &dx);
  if (needs(node, 0)) grad_in[0] = lg_keep(&s, dx);
  if (iw > 0 && needs(node, iw))
    grad_in[iw] = lg_keep(&s, lg_s_sum_to(&s, B(MUL, g, xhat), &node->input_info[iw]));
  if (ib > 0 && needs(node, ib))
    grad_in[ib] = lg_keep(&s, lg_s_sum_to(&s, g, &node->input_info[ib]));
  return lg_scope_end(&s);
}

static lg_status group_norm_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                                     lg_tensor **grad_in) {
  const lg_params *p = &node->params;
  lg_scope s;
  lg_scope_begin(&s, ctx);
  lg_tensor *x = lg_saved(node, 0), *xhat = NULL, *dx = NULL;
  int iw = (p->flags & LG_FLAG_OPT1) ? 1 : -1;
  int ib = (p->flags & LG_FLAG_OPT2) ? 1 + (iw > 0) : -1;
  lg_tensor *w = iw > 0 ? lg_saved(node, iw) : NULL;
  int64_t grouped[3] = {x->sizes[0], p->scalar_int, -1}, last = 2;
  lg_tensor *dxhat = w ? B(MUL, g, per_channel(&s, w, x->ndim)) : g;
  if (needs(node, 0)) dxhat = reshape(&s, dxhat, 3, grouped);
  norm_core(&s, reshape(&s, x, 3, grouped), needs(node, 0) ? dxhat : NULL, 1,
            &last, p->scalar[0], &xhat, &dx);
  if (needs(node, 0))
    grad_in[0] = lg_keep(&s, reshape(&s, dx, x->ndim, x->sizes));
  if (iw > 0 && needs(node, iw)) {
    lg_tensor *xh = reshape(&s, xhat, x->ndim, x->sizes);
    grad_in[iw] = lg_keep(&s, sum_but_channel(&s, B(MUL, g, xh)));
  }
  if (ib > 0 && needs(node, ib)) grad_in[ib] = lg_keep(&s, sum_but_channel(&s, g));
  return lg_scope_end(&s);
}

static lg_status batch_norm_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                                     lg_tensor **grad_in) {
  const lg_params *p = &node->params;
  lg_scope s;
  lg_scope_begin(&s, ctx);
  int slot[5] = {0, -1, -1, -1, -1}, next = 1; /* x rm rv w b */
  static const int flags[4] = {LG_FLAG_OPT1, LG_FLAG_OPT2, LG_FLAG_OPT3,
                               LG_FLAG_OPT4};
  for (int i = 0; i < 4; i++)
    if (p->flags & flags[i]) slot[i + 1] = next++;
  lg_tensor *x = lg_saved(node, 0), *xhat = NULL, *dx = NULL;
  lg_tensor *w = slot[3] > 0 ? lg_saved(node, slot[3]) : NULL;
  lg_tensor *wb = per_channel(&s, w, x->ndim);
  lg_tensor *dxhat = wb ? B(MUL, g, wb) : g;
  if (p->flags & LG_FLAG_TRAINING) {
    int64_t dims[LG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
      if (i != 1) dims[n++] = i;
    norm_core(&s, x, needs(node, 0) ? dxhat : NULL, n, dims, p->scalar[0],
              &xhat, &dx);
  } else { /* an affine map with the running statistics */
    lg_tensor *rm = per_channel(&s, lg_saved(node, slot[1]), x->ndim);
    lg_tensor *rv = per_channel(&s, lg_saved(node, slot[2]), x->ndim);
    lg_tensor *rstd = S(RSQRT, K(ADD, rv, p->scalar[0]));
    xhat = B(MUL, B(SUB, x, rm), rstd);
    dx = B(MUL, dxhat, rstd);
    dx = lg_s_cast(&s, dx, x->dtype);
    xhat = lg_s_cast(&s, xhat, x->dtype);
  }
  if (needs(node, 0)) grad_in[0] = lg_keep(&s, dx);
  if (w && needs(node, slot[3]))
    grad_in[slot[3]] = lg_keep(&s, lg_s_cast(&s, sum_but_channel(&s, B(MUL, g, xhat)), w->dtype));
  if (slot[4] > 0 && needs(node, slot[4]))
    grad_in[slot[4]] = lg_keep(&s, lg_s_cast(&s, sum_but_channel(&s, g), node->input_info[slot[4]].dtype));
  return lg_scope_end(&s);
}

/* Backward rules of the nn ops with fused forwards (lg_ops.h). */
lg_status lg_backward_nn(lg_ctx *ctx, lg_node *node, lg_tensor *const *grad_out,
                         lg_tensor **grad_in) {
  lg_tensor *g = grad_out[0];
  switch (node->op) {
    case LG_OP_SOFTMAX:
    case LG_OP_LOG_SOFTMAX: return softmax_backward(ctx, node, g, grad_in);
    case LG_OP_CROSS_ENTROPY:
    case LG_OP_NLL_LOSS: return loss_backward(ctx, node, g, grad_in);
    case LG_OP_LAYER_NORM: return layer_norm_backward(ctx, node, g, grad_in);
    case LG_OP_GROUP_NORM: return group_norm_backward(ctx, node, g, grad_in);
    case LG_OP_BATCH_NORM: return batch_norm_backward(ctx, node, g, grad_in);
    default:
      return lg_fail(ctx, LG_ERR_RUNTIME, "backward: no nn rule for %s",
                     lg_op_name(node->op));
  }
}
