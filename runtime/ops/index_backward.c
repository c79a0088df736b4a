/* index_backward.c: backward rules of the indexing ops (index_select,
 * gather, scatter, scatter_add, masked_fill, masked_select; forwards in
 * index.c).
 *
 * Every rule is a formula in differentiable ops run through the scope, so
 * with create_graph its own gradient is recorded: a gradient spread back
 * over indexed positions is a scatter_add into zeros (whose backward is a
 * gather). Index and mask inputs never get a gradient.
 */
#include <string.h>

#include "autograd.h"
#include "iter.h"

/* g padded with zeros at the end of each dim up to info's sizes (the
 * gradient of a src that an index covered only in part). */
static lg_tensor *pad_to(lg_scope *s, lg_tensor *g,
                         const lg_tensor_info *info) {
  for (int d = 0; g && d < info->ndim && d < g->ndim; d++)
    g = lg_s_pad_dim(s, g, d, 0, info->sizes[d] - g->sizes[d]);
  return g;
}

/* zeros shaped like input info, with g added at the index's positions
 * along dim: the adjoint of gather (and, with an expanded index, of
 * index_select). Repeated indices add up. */
static lg_tensor *scatter_add_into_zeros(lg_scope *s,
                                         const lg_tensor_info *info,
                                         int64_t dim, lg_tensor *index,
                                         lg_tensor *g) {
  lg_tensor *src = lg_s_cast(s, g, info->dtype);
  lg_tensor *in[3] = {lg_s_zeros(s, info), index, src};
  lg_params p = {0};
  p.dim = dim;
  return lg_s_op(s, LG_OP_SCATTER_ADD, 3, in, &p);
}

/* index_select's 1-d index laid along dim and expanded to g's shape, so
 * that index_select becomes a gather. */
static lg_tensor *index_as_gather(lg_scope *s, lg_tensor *index, int64_t dim,
                                  lg_tensor *g) {
  if (s->status) return NULL;
  int64_t sizes[LG_MAX_DIMS];
  for (int i = 0; i < g->ndim; i++) sizes[i] = i == dim ? -1 : 1;
  lg_tensor *laid = lg_s_reshape(s, index, g->ndim, sizes);
  lg_params e = {0};
  e.n_ints = g->ndim;
  for (int i = 0; i < g->ndim; i++) e.ints[i] = g->sizes[i];
  return lg_s_op(s, LG_OP_EXPAND, 1, &laid, &e);
}

/* gather(g, dim, index) padded with zeros to src's shape: the gradient of
 * scatter's src (an index smaller than src leaves the rest unused). */
static lg_tensor *src_grad(lg_scope *s, const lg_node *node, lg_tensor *g) {
  lg_tensor *in[2] = {g, lg_saved(node, 1)};
  lg_params p = {0};
  p.dim = node->params.dim;
  lg_tensor *picked = lg_s_op(s, LG_OP_GATHER, 2, in, &p);
  return lg_s_cast(s, pad_to(s, picked, &node->input_info[2]),
                   node->input_info[2].dtype);
}

/* scatter's input: the positions src overwrote lose their gradient, i.e.
 * g with zeros scattered into them. */
static lg_tensor *unscatter(lg_scope *s, const lg_node *node, lg_tensor *g) {
  lg_tensor *index = lg_saved(node, 1);
  if (s->status) return NULL;
  lg_tensor_info zeros = {g->dtype, index->ndim, {0}};
  memcpy(zeros.sizes, index->sizes, sizeof zeros.sizes);
  lg_tensor *in[3] = {g, index, lg_s_zeros(s, &zeros)};
  lg_params p = {0};
  p.dim = node->params.dim;
  return lg_s_op(s, LG_OP_SCATTER, 3, in, &p);
}

/* where(cond, 0, g) when zero_true, else where(cond, g, 0) */
static lg_tensor *zero_where(lg_scope *s, lg_tensor *cond, lg_tensor *g,
                             bool zero_true) {
  lg_tensor *in[2] = {cond, g};
  lg_params p = {0};
  p.flags = zero_true ? LG_FLAG_SCALAR_A : LG_FLAG_SCALAR_B;
  return lg_s_op(s, LG_OP_WHERE, 2, in, &p);
}

/* masked_select: element j of g belongs at the j-th true position of the
 * (broadcast, flattened) mask. The running count of the mask numbers those
 * positions 1, 2, ...; index_select picks g's element for each position
 * and where zeroes the false ones, so the result stays linear in g. */
static lg_tensor *unmask(lg_scope *s, const lg_node *node, lg_tensor *g) {
  const lg_tensor_info *x = &node->input_info[0], *m = &node->input_info[1];
  lg_tensor *mask = lg_saved(node, 1);
  int nd;
  int64_t sizes[LG_MAX_DIMS];
  if (s->status) return NULL;
  s->status = lg_broadcast_sizes(s->ctx, "masked_select backward", x->ndim,
                                 x->sizes, m->ndim, m->sizes, &nd, sizes);
  if (s->status) return NULL;
  if (lg_tensor_numel(g) == 0) return lg_s_zeros(s, x);
  lg_params e = {0}, flat = {0}, cum = {0}, at_least_one = {0}, pick = {0};
  e.n_ints = nd;
  memcpy(e.ints, sizes, sizeof sizes);
  flat.n_ints = 1;
  flat.ints[0] = -1;
  at_least_one.flags = LG_FLAG_HAS_MIN | LG_FLAG_SCALAR_INT;
  at_least_one.scalar[0] = 1;
  lg_tensor *wide = lg_s_op(s, LG_OP_EXPAND, 1, &mask, &e);
  lg_tensor *line = lg_s_op(s, LG_OP_RESHAPE, 1, &wide, &flat);
  lg_tensor *count = lg_s_op(s, LG_OP_CUMSUM, 1, &line, &cum);
  lg_tensor *position = lg_s_op(s, LG_OP_CLAMP, 1, &count, &at_least_one);
  lg_tensor *in[2] = {g, position};
  lg_tensor *spread = lg_s_op(s, LG_OP_INDEX_SELECT, 2, in, &pick);
  lg_tensor *placed = zero_where(s, line, spread, false);
  return lg_s_sum_to(s, lg_s_reshape(s, placed, nd, sizes), x);
}

/* The backward of the indexing ops. */
lg_status lg_backward_index(lg_ctx *ctx, lg_node *node,
                            lg_tensor *const *grad_out, lg_tensor **grad_in) {
  const lg_tensor_info *x = &node->input_info[0];
  lg_tensor *index = lg_saved(node, 1); /* the mask for the masked ops */
  int64_t dim = x->ndim > 0 ? lg_dim_index(node->params.dim, x->ndim) : 0;
  lg_tensor *g = grad_out[0], *r = NULL;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  switch (node->op) {
    case LG_OP_INDEX_SELECT:
      if (x->ndim == 0) r = g; /* the one element, picked once */
      else
        r = scatter_add_into_zeros(s, x, dim,
                                   index_as_gather(s, index, dim, g), g);
      break;
    case LG_OP_GATHER: r = scatter_add_into_zeros(s, x, dim, index, g); break;
    case LG_OP_SCATTER:
    case LG_OP_SCATTER_ADD:
      if (lg_needs(node, 2)) grad_in[2] = lg_keep(s, src_grad(s, node, g));
      if (!lg_needs(node, 0)) return lg_scope_end(s);
      r = node->op == LG_OP_SCATTER ? unscatter(s, node, g) : g;
      break;
    case LG_OP_MASKED_FILL: /* filled positions lose their gradient */
      r = lg_s_sum_to(s, zero_where(s, index, g, true), x);
      break;
    case LG_OP_MASKED_SELECT: r = unmask(s, node, g); break;
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME, "backward: no index rule for %s",
                          lg_op_name(node->op));
  }
  grad_in[0] = lg_keep(s, lg_s_cast(s, r, x->dtype));
  return lg_scope_end(s);
}
