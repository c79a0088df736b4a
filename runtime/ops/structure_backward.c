/* structure_backward.c: backward rules of the triangular and diagonal ops
 * (structure.c). All four are linear: tril and triu mask the gradient the
 * same way; diagonal and diag_embed are each other's adjoint (the gradient
 * of a diagonal is the gradient embedded on that diagonal of zeros shaped
 * like the input, and back). The rules run recorded ops, so gradients of
 * gradients come free. */
#include "autograd.h"

lg_status lg_backward_structure(lg_ctx *ctx, lg_node *node,
                                lg_tensor *const *grad_out,
                                lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_params *p = &node->params;
  const lg_tensor_info *x = &node->input_info[0];
  lg_tensor *g = grad_out[0], *r = NULL;
  lg_params q = *p;
  switch (node->op) {
    case LG_OP_TRIL:
    case LG_OP_TRIU: r = lg_s_op(s, node->op, 1, &g, p); break;
    case LG_OP_DIAGONAL: { /* embed into zeros of the input's sizes */
      int64_t d1 = lg_dim_index(p->ints[0], x->ndim);
      int64_t d2 = lg_dim_index(p->ints[1], x->ndim);
      q.ints[0] = d1;
      q.ints[1] = d2;
      q.ints[2] = x->sizes[d1];
      q.ints[3] = x->sizes[d2];
      q.n_ints = 4;
      r = lg_s_op(s, LG_OP_DIAG_EMBED, 1, &g, &q);
      break;
    }
    case LG_OP_DIAG_EMBED:
      q.n_ints = 2;
      r = lg_s_op(s, LG_OP_DIAGONAL, 1, &g, &q);
      break;
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME,
                          "backward: no structure rule for %s",
                          lg_op_name(node->op));
  }
  grad_in[0] = lg_keep(s, lg_s_cast(s, r, x->dtype));
  return lg_scope_end(s);
}
