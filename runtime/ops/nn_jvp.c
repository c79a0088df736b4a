/* nn_jvp.c: jvp rules of the fused nn ops (see jvp.h for the layout):
 * softmax and log_softmax, cross_entropy and nll_loss, and the norms
 * (layer_norm, batch_norm, group_norm). Each is its own formula in
 * differentiable ops, not a decomposition of the forward:
 *   softmax      y (t - sum(y t))            over the softmax dim
 *   log_softmax  t - sum(exp(y) t)
 *   the losses   grouped: each loss value depends on one position's
 *                logits (reduction "none") or all of them, so the tangent
 *                is the sum of t times the loss's derivative (jvp.h)
 *   the norms    with x^ = (x - mean) rstd over a group,
 *                dx^ = rstd (t - mean(t) - x^ mean(x^ t)),
 *                dy = dx^ w + x^ dw + db (running statistics: dx^ = rstd t)
 */
#include "dtype.h"
#include "jvp.h"

lg_status lg_jvp_softmax(lg_ctx *ctx, lg_op op, int n_in,
                         lg_tensor *const *primal, lg_tensor *const *tangent,
                         const lg_params *p, lg_tensor *const *outs,
                         lg_tensor **out_tangent) {
  (void)n_in, (void)primal;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *t = tangent[0], *y = lg_s_alias(s, outs[0]);
  int64_t dim = lg_dim_index(p->dim, outs[0]->ndim);
  int nd = outs[0]->ndim > 0 ? 1 : 0;
  if (op == LG_OP_SOFTMAX) {
    lg_tensor *dot = lg_s_reduce_kept(s, LG_OP_SUM, B(MUL, y, t), nd, &dim);
    out_tangent[0] = lg_keep(s, B(MUL, y, B(SUB, t, dot)));
  } else {
    lg_tensor *dot = lg_s_reduce_kept(s, LG_OP_SUM, B(MUL, S(EXP, y), t), nd, &dim);
    out_tangent[0] = lg_keep(s, B(SUB, t, dot));
  }
  return lg_scope_end(s);
}

lg_status lg_jvp_loss(lg_ctx *ctx, lg_op op, int n_in,
                      lg_tensor *const *primal, lg_tensor *const *tangent,
                      const lg_params *p, lg_tensor *const *outs,
                      lg_tensor **out_tangent) {
  if (n_in > 2 && tangent[2])
    return lg_fail(ctx, LG_ERR_ARG, "%s: forward-mode AD through the class "
                   "weight is not supported (it is not differentiable)",
                   lg_op_name(op));
  bool none = p->ints[0] == 0;
  int64_t class_dim = primal[0]->ndim >= 2 ? 1 : 0;
  return lg_jvp_grouped(ctx, op, n_in, primal, tangent, p,
                        outs, out_tangent, none ? 1 : 0, &class_dim, false);
}

/* x^ and its tangent over dims (kept) of x: *xhat, *dxhat (NULL t: none). */
static void normalize(lg_scope *s, lg_tensor *x, lg_tensor *t, int n,
                      const int64_t *dims, double eps, lg_tensor **xhat,
                      lg_tensor **dxhat) {
  lg_tensor *c = B(SUB, x, lg_s_reduce_kept(s, LG_OP_MEAN, x, n, dims));
  lg_tensor *var = lg_s_reduce_kept(s, LG_OP_MEAN, S(SQUARE, c), n, dims);
  lg_tensor *rstd = S(RSQRT, K(ADD, var, eps));
  *xhat = B(MUL, c, rstd);
  *dxhat = NULL;
  if (!t) return;
  lg_tensor *tc = B(SUB, t, lg_s_reduce_kept(s, LG_OP_MEAN, t, n, dims));
  lg_tensor *proj = lg_s_reduce_kept(s, LG_OP_MEAN, B(MUL, *xhat, t), n, dims);
  *dxhat = B(MUL, rstd, B(SUB, tc, B(MUL, *xhat, proj)));
}

lg_status lg_jvp_norm(lg_ctx *ctx, lg_op op, int n_in,
                      lg_tensor *const *primal, lg_tensor *const *tangent,
                      const lg_params *p, lg_tensor *const *outs,
                      lg_tensor **out_tangent) {
  (void)n_in;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *x = primal[0], *t = tangent[0], *xhat = NULL, *dxhat = NULL;
  int nd = x->ndim, next = 1, iw = -1, ib = -1;
  int64_t dims[LG_MAX_DIMS];
  double eps = p->scalar[0];
  if (op == LG_OP_BATCH_NORM) {
    int irm = -1, irv = -1;
    if (p->flags & LG_FLAG_OPT1) irm = next++;
    if (p->flags & LG_FLAG_OPT2) irv = next++;
    if (p->flags & LG_FLAG_OPT3) iw = next++;
    if (p->flags & LG_FLAG_OPT4) ib = next++;
    if ((irm >= 0 && tangent[irm]) || (irv >= 0 && tangent[irv]))
      s->status = lg_fail(ctx, LG_ERR_ARG, "batch_norm: forward-mode AD "
                          "through the running statistics is not supported");
    if (p->flags & LG_FLAG_TRAINING) {
      int n = 0;
      for (int d = 0; d < nd; d++)
        if (d != 1) dims[n++] = d;
      normalize(s, x, t, n, dims, eps, &xhat, &dxhat);
    } else {
      lg_tensor *rstd = S(RSQRT, K(ADD, lg_s_per_channel(s, primal[irv], nd), eps));
      xhat = B(MUL, B(SUB, x, lg_s_per_channel(s, primal[irm], nd)), rstd);
      dxhat = t ? B(MUL, t, rstd) : NULL;
    }
  } else {
    if (p->flags & LG_FLAG_OPT1) iw = next++;
    if (p->flags & LG_FLAG_OPT2) ib = next++;
    if (op == LG_OP_LAYER_NORM) {
      for (int k = 0; k < p->n_ints; k++) dims[k] = nd - p->n_ints + k;
      normalize(s, x, t, p->n_ints, dims, eps, &xhat, &dxhat);
    } else { /* group_norm: (N, G, rest) groups */
      int64_t g_shape[3] = {x->sizes[0], p->scalar_int, -1}, d2 = 2;
      lg_tensor *xg = lg_s_reshape(s, x, 3, g_shape);
      lg_tensor *tg = t ? lg_s_reshape(s, t, 3, g_shape) : NULL;
      normalize(s, xg, tg, 1, &d2, eps, &xhat, &dxhat);
      xhat = lg_s_reshape(s, xhat, nd, x->sizes);
      if (dxhat) dxhat = lg_s_reshape(s, dxhat, nd, x->sizes);
    }
  }
  bool per_channel = op != LG_OP_LAYER_NORM;
  lg_tensor *w = iw >= 0 ? primal[iw] : NULL;
  lg_tensor *tw = iw >= 0 ? tangent[iw] : NULL;
  lg_tensor *tb = ib >= 0 ? tangent[ib] : NULL;
  if (per_channel) {
    w = lg_s_per_channel(s, w, nd);
    tw = lg_s_per_channel(s, tw, nd);
    tb = lg_s_per_channel(s, tb, nd);
  }
  lg_tensor *from_x = dxhat && w ? B(MUL, dxhat, w) : dxhat;
  lg_tensor *from_w = tw ? B(MUL, xhat, tw) : NULL;
  lg_tensor *sum = lg_s_sum_present(s, 3, (lg_tensor *[]){from_x, from_w, tb});
  out_tangent[0] = lg_keep(s, lg_s_expand_to(s, sum, outs[0]));
  return lg_scope_end(s);
}
