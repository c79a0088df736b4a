/* linalg_backward.c: the backward rule of matmul, for every torch.matmul
 * case (1-D operands, matrices, batched and broadcast batch dims).
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
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
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
  lg_tensor *g = lg_s_reshape_to(s, grad_out[0], &full);
  if (node->edges[0].node) {
    lg_tensor *b = lg_s_reshape_to(s, lg_saved(node, 1), &mb);
    lg_tensor *ga = lg_s_binary(s, LG_OP_MATMUL, g, lg_s_transpose(s, b));
    grad_in[0] = lg_keep(s, lg_s_reshape_to(s, lg_s_sum_to(s, ga, &ma), ia));
  }
  if (node->edges[1].node) {
    lg_tensor *a = lg_s_reshape_to(s, lg_saved(node, 0), &ma);
    lg_tensor *gb = lg_s_binary(s, LG_OP_MATMUL, lg_s_transpose(s, a), g);
    grad_in[1] = lg_keep(s, lg_s_reshape_to(s, lg_s_sum_to(s, gb, &mb), ib));
  }
  return lg_scope_end(s);
}
