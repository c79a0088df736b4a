/* shape_backward.c: backward rules of the shape ops (view, expand,
 * permute, squeeze, unsqueeze, narrow, select, reshape, flip, tile, cat).
 *
 * Every rule is a formula in differentiable ops run through the scope, so
 * with create_graph its own gradient is recorded: a zero-padded slice is a
 * cat of zero blocks around the gradient (index_backward.c pads the same
 * way, through lg_s_pad_dim).
 */
#include <string.h>

#include "autograd.h"

/* Tile: the output holds reps[i] copies along dim i, so the gradient of
 * dim i is the sum of its reps[i] blocks: per repeated dim, a reshape to
 * (outer, reps, size * inner) and a sum over the middle. */
static lg_tensor *untile(lg_scope *s, lg_tensor *g, const lg_node *node) {
  const lg_tensor_info *x = &node->input_info[0];
  const lg_params *p = &node->params;
  int n = g ? g->ndim : 0;
  int64_t sizes[LG_MAX_DIMS];
  if (g) memcpy(sizes, g->sizes, sizeof sizes);
  for (int i = 0; g && i < n; i++) {
    int ri = i - (n - p->n_ints), xi = i - (n - x->ndim);
    int64_t reps = ri >= 0 ? p->ints[ri] : 1;
    int64_t size = xi >= 0 ? x->sizes[xi] : 1;
    if (reps == 1) continue;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < i; d++) outer *= sizes[d];
    for (int d = i + 1; d < n; d++) inner *= sizes[d];
    int64_t blocks[3] = {outer, reps, size * inner};
    lg_params sum = {0};
    sum.ints[0] = 1;
    sum.n_ints = 1;
    lg_tensor *r = lg_s_reshape(s, g, 3, blocks);
    g = lg_s_op(s, LG_OP_SUM, 1, &r, &sum);
    sizes[i] = size;
  }
  return lg_s_reshape_to(s, g, x);
}

/* Cat: input k's gradient is its own stretch of g along dim. */
static void uncat(lg_scope *s, const lg_node *node, lg_tensor *g,
                  lg_tensor **grad_in) {
  int64_t dim = lg_dim_index(node->params.dim, node->input_info[0].ndim);
  int64_t offset = 0;
  for (int k = 0; k < node->n_inputs; k++) {
    const lg_tensor_info *info = &node->input_info[k];
    if (lg_needs(node, k)) {
      lg_params p = {0};
      p.dim = dim;
      p.start = offset;
      p.length = info->sizes[dim];
      lg_tensor *piece = lg_s_op(s, LG_OP_NARROW, 1, &g, &p);
      grad_in[k] = lg_keep(s, lg_s_cast(s, piece, info->dtype));
    }
    offset += info->sizes[dim];
  }
}

/* The backward of the shape ops: each moves g back to the input's layout. */
lg_status lg_backward_shape(lg_ctx *ctx, lg_node *node,
                            lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_params *p = &node->params;
  const lg_tensor_info *x = &node->input_info[0];
  lg_tensor *g = grad_out[0], *r = NULL;
  switch (node->op) {
    case LG_OP_VIEW: /* same elements, other sizes (incl. size-1 dims) */
    case LG_OP_RESHAPE:
    case LG_OP_SQUEEZE:
    case LG_OP_UNSQUEEZE: r = lg_s_reshape_to(s, g, x); break;
    case LG_OP_EXPAND: r = lg_s_sum_to(s, g, x); break;
    case LG_OP_PERMUTE: { /* the inverse permutation */
      lg_params inv = {0};
      inv.n_ints = p->n_ints;
      for (int i = 0; i < p->n_ints; i++)
        inv.ints[lg_dim_index(p->ints[i], x->ndim)] = i;
      r = lg_s_op(s, LG_OP_PERMUTE, 1, &g, &inv);
      break;
    }
    case LG_OP_NARROW: {
      int64_t dim = lg_dim_index(p->dim, x->ndim), size = x->sizes[dim];
      int64_t start = p->start < 0 ? p->start + size : p->start;
      r = lg_s_pad_dim(s, g, dim, start, size - start - p->length);
      break;
    }
    case LG_OP_SELECT: { /* the selected slice as a narrow of length 1 */
      int64_t dim = lg_dim_index(p->dim, x->ndim), size = x->sizes[dim];
      int64_t index = p->start < 0 ? p->start + size : p->start;
      lg_params u = {0};
      u.dim = dim;
      lg_tensor *slice = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &g, &u);
      r = lg_s_pad_dim(s, slice, dim, index, size - index - 1);
      break;
    }
    case LG_OP_FLIP: r = lg_s_op(s, LG_OP_FLIP, 1, &g, p); break;
    case LG_OP_TILE: r = untile(s, g, node); break;
    case LG_OP_CAT: uncat(s, node, g, grad_in); return lg_scope_end(s);
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME, "backward: no shape rule for %s",
                          lg_op_name(node->op));
  }
  grad_in[0] = lg_keep(s, lg_s_cast(s, r, x->dtype));
  return lg_scope_end(s);
}
