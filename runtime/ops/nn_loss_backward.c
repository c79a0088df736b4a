/* nn_loss_backward.c: backward rules of softmax, log_softmax,
 * cross_entropy and nll_loss (forwards and params conventions in
 * nn_loss.c).
 *
 * Every rule is a formula in differentiable ops, so under create_graph the
 * backward is itself recorded and double backward works. When nothing is
 * recorded (grad mode off during the backward run, the usual training
 * step) softmax, log_softmax and cross_entropy with class-index targets
 * take a fused path instead: the op's own softmax kernel, then one C loop
 * over its result. The formula path is the reference the fused one is
 * tested against (tests/c/test_nn_loss.c runs both).
 */
#include "dtype.h"
#include "formula.h"

/* A one-dim op (softmax, log_softmax) of a over dim. */
static lg_tensor *dim_op(lg_scope *s, lg_op op, lg_tensor *a, int64_t dim) {
  lg_params p = {0};
  p.dim = dim;
  return lg_s_op(s, op, 1, &a, &p);
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
  /* fused: not while func.compile traces, which records ops only */
  if (!ctx->grad_enabled && !ctx->trace)
    return softmax_fused(ctx, node, g, &grad_in[0]);
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *x = lg_saved(node, 0);
  int64_t dim = node->params.dim;
  lg_tensor *y = dim_op(s, LG_OP_SOFTMAX, x, dim), *r;
  if (node->op == LG_OP_SOFTMAX) /* y (g - sum(g y)) */
    r = B(MUL, y, B(SUB, g, lg_s_reduce_kept(s, LG_OP_SUM, B(MUL, g, y), 1, &dim)));
  else /* g - softmax(x) sum(g) */
    r = B(SUB, g, B(MUL, y, lg_s_reduce_kept(s, LG_OP_SUM, g, 1, &dim)));
  grad_in[0] = lg_keep(s, r);
  return lg_scope_end(s);
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

/* index_weights made of ops, for func.compile's trace (compile/trace.c),
 * so a replay rebuilds them from the targets it is given: q the one-hot of
 * the targets (smoothed), zero at ignored positions, qsum its per-position
 * sum, and (with ignore_index) the mean's denominator as a tensor, the
 * count of targets kept; without ignore_index it stays n d. No class
 * weights (loss_backward reads those the eager way). */
static void traced_index_weights(lg_scope *s, const lg_node *node,
                                 const loss_info *li, lg_tensor **q,
                                 lg_tensor **qsum, lg_tensor **denom) {
  const lg_tensor_info *xi = &node->input_info[0];
  lg_params up = {0}, sp = {0};
  up.dim = li->class_dim;
  lg_tensor *target = li->target, *mask = NULL;
  if (node->params.flags & LG_FLAG_SCALAR_INT) { /* ignore_index */
    lg_tensor *keep = K(NE, target, (double)node->params.scalar_int);
    lg_tensor *w[3] = {keep, target, lg_s_cast(s, B(EQ, target, target), target->dtype)};
    target = keep && w[2] ? lg_s_op(s, LG_OP_WHERE, 3, w, NULL) : NULL; /* ignored -> 1 */
    mask = lg_s_cast(s, keep, xi->dtype);
    if (li->reduction == REDUCTION_MEAN) *denom = lg_s_reduce_kept(s, LG_OP_SUM, mask, 0, NULL);
    mask = mask ? lg_s_op(s, LG_OP_UNSQUEEZE, 1, &mask, &up) : NULL;
  }
  lg_tensor *idx = target ? lg_s_op(s, LG_OP_UNSQUEEZE, 1, &target, &up) : NULL;
  sp.dim = li->class_dim;
  lg_tensor *ones = lg_s_cast(s, B(EQ, idx, idx), xi->dtype);
  lg_tensor *in[3] = {lg_s_zeros(s, xi), idx, ones};
  lg_tensor *onehot = in[0] && idx && ones ? lg_s_op(s, LG_OP_SCATTER, 3, in, &sp) : NULL;
  double eps = li->smoothing, uniform = li->c ? eps / (double)li->c : 0;
  if (eps > 0) onehot = K(ADD, K(MUL, onehot, 1 - eps), uniform);
  if (mask) onehot = B(MUL, onehot, mask);
  *q = onehot;
  /* sum_k q_k, as index_weights has it: (1 - eps) + eps (weights all 1) */
  double per = (1 - eps) + uniform * (double)li->c;
  if (mask) {
    *qsum = K(MUL, mask, per);
  } else {
    lg_tensor_info si = *xi;
    si.sizes[li->class_dim] = 1;
    *qsum = K(ADD, lg_s_zeros(s, &si), per);
  }
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
  if (li.weight && lg_needs(node, 2))
    return lg_fail(ctx, LG_ERR_RUNTIME, "%s: the gradient with respect to "
                   "weight is not implemented (as in PyTorch); detach the "
                   "weight", name);
  /* fused: not while func.compile traces, which records ops only */
  if (!ctx->grad_enabled && !ctx->trace && !li.prob && !li.nll &&
      !lg_needs(node, 1))
    return ce_fused(ctx, node, &li, g, &grad_in[0]);
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *q = NULL, *qsum = NULL, *wb = NULL, *denom_t = NULL;
  double denom = (double)(li.n * li.d);
  if (li.weight) {
    wb = li.weight;
    if (node->input_info[0].ndim > 2) wb = lg_s_per_channel(s, li.weight, node->input_info[0].ndim);
  }
  if (li.prob) { /* q = w (t (1 - eps) + eps / C) */
    q = li.target;
    if (li.smoothing > 0)
      q = K(ADD, K(MUL, q, 1 - li.smoothing), li.smoothing / (double)li.c);
    if (wb) q = B(MUL, q, wb);
    int64_t cd = li.class_dim;
    qsum = lg_s_reduce_kept(s, LG_OP_SUM, q, 1, &cd);
  } else if (!s->status && ctx->trace && !li.weight) {
    traced_index_weights(s, node, &li, &q, &qsum, &denom_t);
  } else if (!s->status) {
    lg_tensor *tq = NULL, *tsum = NULL;
    s->status = index_weights(ctx, node, &li, &tq, &tsum, &denom);
    q = lg_s_adopt(s, tq);
    qsum = lg_s_adopt(s, tsum);
  }
  /* the per-position scale, broadcast over the class dim */
  lg_tensor *scale = g;
  if (li.reduction == REDUCTION_MEAN)
    scale = denom_t ? B(DIV, g, denom_t) : K(DIV, g, denom);
  else if (li.reduction == REDUCTION_NONE && node->input_info[0].ndim >= 2) {
    lg_params up = {0};
    up.dim = 1;
    scale = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &g, &up);
  }
  if (lg_needs(node, 0)) {
    lg_tensor *core;
    if (li.nll) {
      core = S(NEG, q);
    } else {
      lg_tensor *p = dim_op(s, LG_OP_SOFTMAX, li.x, li.class_dim);
      core = B(SUB, B(MUL, p, qsum), q);
    }
    grad_in[0] = lg_keep(s, lg_s_cast(s, B(MUL, core, scale), li.x->dtype));
  }
  if (li.prob && lg_needs(node, 1)) { /* -(1 - eps) w log p */
    lg_tensor *lp = dim_op(s, LG_OP_LOG_SOFTMAX, li.x, li.class_dim);
    lg_tensor *r = K(MUL, lp, -(1 - li.smoothing));
    if (wb) r = B(MUL, r, wb);
    grad_in[1] = lg_keep(s, lg_s_cast(s, B(MUL, r, scale), li.target->dtype));
  }
  return lg_scope_end(s);
}

/* Backward rules of softmax, log_softmax, cross_entropy and nll_loss. */
lg_status lg_backward_loss(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_tensor *g = grad_out[0];
  switch (node->op) {
    case LG_OP_SOFTMAX:
    case LG_OP_LOG_SOFTMAX: return softmax_backward(ctx, node, g, grad_in);
    case LG_OP_CROSS_ENTROPY:
    case LG_OP_NLL_LOSS: return loss_backward(ctx, node, g, grad_in);
    default:
      return lg_fail(ctx, LG_ERR_RUNTIME, "backward: no loss rule for %s",
                     lg_op_name(node->op));
  }
}
