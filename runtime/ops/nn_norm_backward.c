/* nn_norm_backward.c: backward rules of layer_norm, batch_norm and
 * group_norm (forwards and params conventions in nn_norm.c), formulas in
 * differentiable ops, so under create_graph the backward is itself
 * recorded and double backward works.
 */
#include "formula.h"

/* The normalisation core over dims of xv: xhat = (xv - mean) rstd and
 * dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), all kept dims. */
static void norm_core(lg_scope *s, lg_tensor *xv, lg_tensor *dxhat, int n,
                      const int64_t *dims, double eps, lg_tensor **xhat,
                      lg_tensor **dx) {
  lg_tensor *mean = lg_s_reduce_kept(s, LG_OP_MEAN, xv, n, dims);
  lg_params vp = {0};
  vp.flags = LG_FLAG_KEEPDIM;
  vp.n_ints = n;
  for (int i = 0; i < n; i++) vp.ints[i] = dims[i];
  vp.scalar[0] = 0; /* biased */
  lg_tensor *var = lg_s_op(s, LG_OP_VAR, 1, &xv, &vp);
  lg_tensor *rstd = lg_s_unary(s, LG_OP_RSQRT, lg_s_scalar(s, LG_OP_ADD, var, eps));
  *xhat = lg_s_binary(s, LG_OP_MUL, lg_s_binary(s, LG_OP_SUB, xv, mean), rstd);
  if (!dxhat) return;
  lg_tensor *m1 = lg_s_reduce_kept(s, LG_OP_MEAN, dxhat, n, dims);
  lg_tensor *m2 = lg_s_reduce_kept(s, LG_OP_MEAN,
                              lg_s_binary(s, LG_OP_MUL, dxhat, *xhat), n, dims);
  lg_tensor *centred = lg_s_binary(s, LG_OP_SUB, dxhat, m1);
  *dx = lg_s_binary(s, LG_OP_MUL, rstd,
                    lg_s_binary(s, LG_OP_SUB, centred,
                                lg_s_binary(s, LG_OP_MUL, *xhat, m2)));
}


/* The input slots of layer_norm's and group_norm's optional weight (OPT1)
 * and bias (OPT2); -1 when absent. */
static void affine_slots(const lg_node *node, int *iw, int *ib) {
  *iw = (node->params.flags & LG_FLAG_OPT1) ? 1 : -1;
  *ib = (node->params.flags & LG_FLAG_OPT2) ? 1 + (*iw > 0) : -1;
}

static lg_status layer_norm_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                                     lg_tensor **grad_in) {
  const lg_params *p = &node->params;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *x = lg_saved(node, 0), *xhat = NULL, *dx = NULL;
  int iw, ib;
  affine_slots(node, &iw, &ib);
  lg_tensor *w = iw > 0 ? lg_saved(node, iw) : NULL;
  int k = p->n_ints;
  int64_t dims[LG_MAX_DIMS];
  for (int i = 0; i < k; i++) dims[i] = x->ndim - k + i;
  lg_tensor *dxhat = w ? B(MUL, g, w) : g;
  norm_core(s, x, lg_needs(node, 0) ? dxhat : NULL, k, dims, p->scalar[0],
            &xhat, &dx);
  if (lg_needs(node, 0)) grad_in[0] = lg_keep(s, dx);
  if (iw > 0 && lg_needs(node, iw))
    grad_in[iw] = lg_keep(s, lg_s_sum_to(s, B(MUL, g, xhat), &node->input_info[iw]));
  if (ib > 0 && lg_needs(node, ib))
    grad_in[ib] = lg_keep(s, lg_s_sum_to(s, g, &node->input_info[ib]));
  return lg_scope_end(s);
}

static lg_status group_norm_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                                     lg_tensor **grad_in) {
  const lg_params *p = &node->params;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  int iw, ib;
  affine_slots(node, &iw, &ib);
  lg_tensor *x = lg_saved(node, 0), *xhat = NULL, *dx = NULL;
  lg_tensor *w = iw > 0 ? lg_saved(node, iw) : NULL;
  int64_t grouped[3] = {x->sizes[0], p->scalar_int, -1}, last = 2;
  lg_tensor *dxhat = w ? B(MUL, g, lg_s_per_channel(s, w, x->ndim)) : g;
  if (lg_needs(node, 0)) dxhat = lg_s_reshape(s, dxhat, 3, grouped);
  norm_core(s, lg_s_reshape(s, x, 3, grouped),
            lg_needs(node, 0) ? dxhat : NULL, 1, &last, p->scalar[0], &xhat,
            &dx);
  if (lg_needs(node, 0))
    grad_in[0] = lg_keep(s, lg_s_reshape(s, dx, x->ndim, x->sizes));
  if (iw > 0 && lg_needs(node, iw)) {
    lg_tensor *xh = lg_s_reshape(s, xhat, x->ndim, x->sizes);
    grad_in[iw] = lg_keep(s, lg_s_sum_channels(s, B(MUL, g, xh)));
  }
  if (ib > 0 && lg_needs(node, ib)) grad_in[ib] = lg_keep(s, lg_s_sum_channels(s, g));
  return lg_scope_end(s);
}

static lg_status batch_norm_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                                     lg_tensor **grad_in) {
  const lg_params *p = &node->params;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  int slot[5] = {0, -1, -1, -1, -1}, next = 1; /* x rm rv w b */
  static const int flags[4] = {LG_FLAG_OPT1, LG_FLAG_OPT2, LG_FLAG_OPT3,
                               LG_FLAG_OPT4};
  for (int i = 0; i < 4; i++)
    if (p->flags & flags[i]) slot[i + 1] = next++;
  lg_tensor *x = lg_saved(node, 0), *xhat = NULL, *dx = NULL;
  lg_tensor *w = slot[3] > 0 ? lg_saved(node, slot[3]) : NULL;
  lg_tensor *wb = lg_s_per_channel(s, w, x->ndim);
  lg_tensor *dxhat = wb ? B(MUL, g, wb) : g;
  if (p->flags & LG_FLAG_TRAINING) {
    int64_t dims[LG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
      if (i != 1) dims[n++] = i;
    norm_core(s, x, lg_needs(node, 0) ? dxhat : NULL, n, dims, p->scalar[0],
              &xhat, &dx);
  } else { /* an affine map with the running statistics */
    lg_tensor *rm = lg_s_per_channel(s, lg_saved(node, slot[1]), x->ndim);
    lg_tensor *rv = lg_s_per_channel(s, lg_saved(node, slot[2]), x->ndim);
    lg_tensor *rstd = S(RSQRT, K(ADD, rv, p->scalar[0]));
    xhat = B(MUL, B(SUB, x, rm), rstd);
    dx = B(MUL, dxhat, rstd);
    dx = lg_s_cast(s, dx, x->dtype);
    xhat = lg_s_cast(s, xhat, x->dtype);
  }
  if (lg_needs(node, 0)) grad_in[0] = lg_keep(s, dx);
  if (w && lg_needs(node, slot[3]))
    grad_in[slot[3]] = lg_keep(s, lg_s_cast(s, lg_s_sum_channels(s, B(MUL, g, xhat)), w->dtype));
  if (slot[4] > 0 && lg_needs(node, slot[4]))
    grad_in[slot[4]] = lg_keep(s, lg_s_cast(s, lg_s_sum_channels(s, g), node->input_info[slot[4]].dtype));
  return lg_scope_end(s);
}

/* Backward rules of layer_norm, batch_norm and group_norm. */
lg_status lg_backward_norm(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_tensor *g = grad_out[0];
  switch (node->op) {
    case LG_OP_LAYER_NORM: return layer_norm_backward(ctx, node, g, grad_in);
    case LG_OP_GROUP_NORM: return group_norm_backward(ctx, node, g, grad_in);
    case LG_OP_BATCH_NORM: return batch_norm_backward(ctx, node, g, grad_in);
    default:
      return lg_fail(ctx, LG_ERR_RUNTIME, "backward: no norm rule for %s",
                     lg_op_name(node->op));
  }
}
