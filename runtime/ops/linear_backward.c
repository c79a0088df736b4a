/* linear_backward.c: the backward rule of the fused linear layer (forward
 * in linear.c), matmuls and a sum, so recorded under create_graph like
 * every rule. */
#include "autograd.h"

/* t viewed as rows (m, last dim). */
static lg_tensor *as_rows(lg_scope *s, lg_tensor *t) {
  if (s->status || !t) return NULL;
  lg_params p = {0};
  p.n_ints = 2;
  p.ints[0] = -1;
  p.ints[1] = t->sizes[t->ndim - 1];
  return lg_s_op(s, LG_OP_RESHAPE, 1, &t, &p);
}

/* y = x w^T + b, x (..., in), w (out, in): gx = g @ w, gw = g^T @ x over
 * all rows, gb = the column sums of g; matmuls and a sum, so recorded
 * under create_graph like every rule. */
lg_status lg_backward_linear(lg_ctx *ctx, lg_node *node,
                             lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *g = grad_out[0], *x = lg_saved(node, 0), *w = lg_saved(node, 1);
  if (node->edges[0].node)
    grad_in[0] = lg_keep(s, lg_s_binary(s, LG_OP_MATMUL, g, w));
  if (node->edges[1].node) {
    lg_tensor *gw = lg_s_binary(s, LG_OP_MATMUL, lg_s_transpose(s, as_rows(s, g)),
                                as_rows(s, x));
    grad_in[1] = lg_keep(s, gw);
  }
  if (node->n_inputs > 2 && node->edges[2].node) {
    lg_params p = {0};
    lg_tensor *rows = as_rows(s, g), *gb;
    p.n_ints = 1; /* sum over the rows */
    if (rows && rows->sizes[0] == 1) { /* one row (batch 1): its copy */
      p.n_ints = 1;
      p.ints[0] = rows->sizes[1];
      gb = lg_s_op(s, LG_OP_RESHAPE, 1, &rows, &p);
      gb = lg_s_unary(s, LG_OP_CLONE, gb);
    } else {
      gb = lg_s_op(s, LG_OP_SUM, 1, &rows, &p);
    }
    grad_in[2] = lg_keep(s, gb);
  }
  return lg_scope_end(s);
}
