/* copy_backward.c: backward rules of the copies (to, clone, fill_,
 * copy_; forwards in copy.c), formulas in differentiable ops. */
#include "formula.h"

/* to, clone, fill_ and copy_ */
lg_status lg_backward_copy(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *g = grad_out[0];
  switch (node->op) {
    case LG_OP_TO_DTYPE:
    case LG_OP_CLONE:
      grad_in[0] = lg_keep(s, lg_s_cast(s, g, node->input_info[0].dtype));
      break;
    case LG_OP_FILL: /* every value was replaced */
      grad_in[0] = lg_keep(s, K(MUL, g, 0));
      break;
    case LG_OP_COPY:
      if (lg_needs(node, 0)) grad_in[0] = lg_keep(s, K(MUL, g, 0));
      if (lg_needs(node, 1))
        grad_in[1] = lg_keep(s, lg_s_sum_to(s, g, &node->input_info[1]));
      break;
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME, "backward: no copy rule for %s",
                          lg_op_name(node->op));
  }
  return lg_scope_end(s);
}
