/* sort_jvp.c: the jvp rule of sort, topk, kthvalue, median, cummax and
 * cummin (see jvp.h for the layout): each value output is the input at
 * the returned index, so its tangent is the input's tangent gathered at
 * those indices along the dim (squeezed where the op drops the dim); the
 * indices have none. */
#include "jvp.h"

lg_status lg_jvp_sort(lg_ctx *ctx, lg_op op, int n_in,
                      lg_tensor *const *primal, lg_tensor *const *tangent,
                      const lg_params *p, lg_tensor *const *outs,
                      lg_tensor **out_tangent) {
  (void)n_in;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *t = tangent[0];
  int nd = primal[0]->ndim;
  out_tangent[0] = out_tangent[1] = NULL;
  if (!t) return lg_scope_end(s);
  if (nd == 0) { /* one element: the value is the input */
    out_tangent[0] = lg_keep(s, lg_s_op(s, LG_OP_CLONE, 1, &t, NULL));
    return lg_scope_end(s);
  }
  lg_params at = {0};
  at.dim = lg_dim_index(p->dim, nd);
  lg_tensor *index = lg_s_alias(s, outs[1]);
  bool dropped = (op == LG_OP_KTHVALUE || op == LG_OP_MEDIAN) &&
                 !(p->flags & LG_FLAG_KEEPDIM);
  if (dropped) index = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &index, &at);
  lg_tensor *in[2] = {t, index};
  lg_tensor *r = lg_s_op(s, LG_OP_GATHER, 2, in, &at);
  if (dropped) {
    at.n_ints = 1;
    at.ints[0] = at.dim;
    r = lg_s_op(s, LG_OP_SQUEEZE, 1, &r, &at);
  }
  out_tangent[0] = lg_keep(s, r);
  return lg_scope_end(s);
}
