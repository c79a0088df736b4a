/* backward_linalg.c: the backward rules of matmul, for every torch.matmul
 * case (1-D operands, matrices, batched and broadcast batch dims), and of
 * the fused linear layer.
 *
 * The rule first restates the product as a batched matrix product: a 1-D
 * a becomes a (1, K) row, a 1-D b a (K, 1) column, and g gets back the
 * size-1 dims the forward dropped. Then ga = g @ b^T and gb = a^T @ g,
 * each summed over the batch dims its operand was broadcast along and
 * reshaped to the operand's own shape. Both are matmuls of saved inputs
 * and g, so with create_graph the second derivatives come from this same
 * rule.
 */
#include "autograd.h"

/* t reshaped to info's sizes. */
static lg_tensor *reshape_to(lg_scope *s, lg_tensor *t,
                             const lg_tensor_info *info) {
  lg_params p = {0};
  p.n_ints = info->ndim;
  for (int i = 0; i < info->ndim; i++) p.ints[i] = info->sizes[i];
  return lg_s_op(s, LG_OP_RESHAPE, 1, &t, &p);
}

/* t with its last two dims swapped. */
static lg_tensor *transpose(lg_scope *s, lg_tensor *t) {
  if (s->status || !t) return NULL;
  lg_params p = {0};
  p.n_ints = t->ndim;
  for (int i = 0; i < t->ndim; i++) p.ints[i] = i;
  p.ints[t->ndim - 2] = t->ndim - 1;
  p.ints[t->ndim - 1] = t->ndim - 2;
  return lg_s_op(s, LG_OP_PERMUTE, 1, &t, &p);
}

/* The operand's shape as a matrix (or a stack of them): a 1-D operand of
 * size K is a (1, K) row on the left, a (K, 1) column on the right. */
static lg_tensor_info as_matrix(const lg_tensor_info *info, bool left) {
  lg_tensor_info m = *info;
  if (info->ndim == 1) {
    m.ndim = 2;
    m.sizes[0] = left ? 1 : info->sizes[0];
    m.sizes[1] = left ? info->sizes[0] : 1;
  }
  return m;
}

/* a (.., M, K) @ b (.., K, N) -> out (.., M, N); 1-D operands promoted
 * as in as_matrix, broadcast batch dims summed back. */
lg_status lg_backward_matmul(lg_ctx *ctx, lg_node *node,
                             lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope s;
  lg_scope_begin(&s, ctx);
  const lg_tensor_info *ia = &node->input_info[0], *ib = &node->input_info[1];
  lg_tensor_info ma = as_matrix(ia, true), mb = as_matrix(ib, false);
  /* g with the dims a 1-D operand removed put back: (batch.., M, N) */
  lg_tensor_info full = node->output_info[0];
  full.ndim = 0;
  const lg_tensor_info *out = &node->output_info[0];
  int batch = out->ndim - (ia->ndim > 1) - (ib->ndim > 1);
  for (int i = 0; i < batch; i++) full.sizes[full.ndim++] = out->sizes[i];
  full.sizes[full.ndim++] = ma.sizes[ma.ndim - 2];
  full.sizes[full.ndim++] = mb.sizes[mb.ndim - 1];
  lg_tensor *g = reshape_to(&s, grad_out[0], &full);
  if (node->edges[0].node) {
    lg_tensor *b = reshape_to(&s, lg_saved(node, 1), &mb);
    lg_tensor *ga = lg_s_binary(&s, LG_OP_MATMUL, g, transpose(&s, b));
    grad_in[0] = lg_keep(&s, reshape_to(&s, lg_s_sum_to(&s, ga, &ma), ia));
  }
  if (node->edges[1].node) {
    lg_tensor *a = reshape_to(&s, lg_saved(node, 0), &ma);
    lg_tensor *gb = lg_s_binary(&s, LG_OP_MATMUL, transpose(&s, a), g);
    grad_in[1] = lg_keep(&s, reshape_to(&s, lg_s_sum_to(&s, gb, &mb), ib));
  }
  return lg_scope_end(&s);
}

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
  lg_scope s;
  lg_scope_begin(&s, ctx);
  lg_tensor *g = grad_out[0], *x = lg_saved(node, 0), *w = lg_saved(node, 1);
  if (node->edges[0].node)
    grad_in[0] = lg_keep(&s, lg_s_binary(&s, LG_OP_MATMUL, g, w));
  if (node->edges[1].node) {
    lg_tensor *gw = lg_s_binary(&s, LG_OP_MATMUL, transpose(&s, as_rows(&s, g)),
                                as_rows(&s, x));
    grad_in[1] = lg_keep(&s, gw);
  }
  if (node->n_inputs > 2 && node->edges[2].node) {
    lg_params p = {0};
    lg_tensor *rows = as_rows(&s, g);
    p.n_ints = 1; /* sum over the rows */
    grad_in[2] = lg_keep(&s, lg_s_op(&s, LG_OP_SUM, 1, &rows, &p));
  }
  return lg_scope_end(&s);
}
