/* sort_backward.c: the backward rule of the value outputs of sort, topk,
 * kthvalue, median, cummax and cummin: each value is an input element
 * picked at the saved index (output 1), so the gradient is g added into
 * zeros at those indices along the dim (scatter_add: cummax/cummin pick
 * one element many times). Written with differentiable ops, so its own
 * gradient (a gather of the incoming one) follows for double backward. */
#include "formula.h"

/* Whether op drops its dim (one pick per line) and keepdim was off. */
static bool dropped_dim(const lg_node *node) {
  return (node->op == LG_OP_KTHVALUE || node->op == LG_OP_MEDIAN) &&
         !(node->params.flags & LG_FLAG_KEEPDIM);
}

lg_status lg_backward_sort(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_tensor_info *x = &node->input_info[0];
  lg_tensor *g = grad_out[0], *r = g;
  lg_tensor *index = node->saved_outputs ? node->saved_outputs[1] : NULL;
  if (!index) {
    s->status = lg_fail(ctx, LG_ERR_RUNTIME, "backward: %s lost its saved "
                        "indices", lg_op_name(node->op));
  } else if (x->ndim > 0) {
    lg_params at = {0};
    at.dim = lg_dim_index(node->params.dim, x->ndim);
    if (dropped_dim(node)) {
      g = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &g, &at);
      index = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &index, &at);
    }
    lg_tensor_info zeros = *x;
    zeros.dtype = g ? g->dtype : x->dtype;
    lg_tensor *in[3] = {lg_s_zeros(s, &zeros), index, g};
    r = lg_s_op(s, LG_OP_SCATTER_ADD, 3, in, &at);
  }
  grad_in[0] = lg_keep(s, lg_s_cast(s, r, x->dtype));
  return lg_scope_end(s);
}
