/* pool_backward.c: backward rules of the 2-D pools (forwards in pool.c),
 * written as formulas in differentiable ops (scatter_add, conv_transpose2d,
 * matmul, reshape), so a backward recorded under create_graph has its own
 * gradient. max_pool2d adds g into zeros at its saved indices; avg_pool2d
 * scales g by 1/divisor and spreads it over each window with
 * conv_transpose2d of a ones kernel; adaptive_avg_pool2d multiplies by the
 * per-dim averaging matrices' transposes.
 */
#include "autograd.h"
#include "ops.h"

/* The leading (plane) count of a pooled shape. */
static int64_t planes_of(const lg_tensor_info *x) {
  int64_t n = 1;
  for (int d = 0; d < x->ndim - 2; d++) n *= x->sizes[d];
  return n;
}

/* zeros (planes, H*W) with g added at the 1-based plane positions index */
static lg_tensor *max_pool_grad(lg_scope *s, const lg_node *node,
                                lg_tensor *g) {
  const lg_tensor_info *x = &node->input_info[0];
  lg_tensor *index = node->saved_outputs ? node->saved_outputs[1] : NULL;
  int64_t planes = planes_of(x);
  int64_t flat_x[2] = {planes, x->sizes[x->ndim - 2] * x->sizes[x->ndim - 1]};
  int64_t flat_g[2] = {planes, -1};
  lg_tensor_info zi = {x->dtype, 2, {flat_x[0], flat_x[1]}};
  lg_params p = {0};
  p.dim = 1;
  lg_tensor *in[3] = {lg_s_zeros(s, &zi), lg_s_reshape(s, index, 2, flat_g),
                      lg_s_reshape(s, g, 2, flat_g)};
  lg_tensor *r = lg_s_op(s, LG_OP_SCATTER_ADD, 3, in, &p);
  return lg_s_reshape(s, r, x->ndim, x->sizes);
}

/* conv_transpose2d of g / divisor with a ones kernel, plane by plane */
static lg_tensor *avg_pool_grad(lg_scope *s, const lg_node *node, lg_tensor *g,
                                lg_tensor *scale) {
  const lg_tensor_info *x = &node->input_info[0];
  const lg_params *p = &node->params;
  int nd = x->ndim;
  int64_t h = x->sizes[nd - 2], w = x->sizes[nd - 1];
  lg_params cp = {0}; /* stride, padding, dilation 1, groups 1 */
  cp.ints[0] = p->ints[2] ? p->ints[2] : p->ints[0];
  cp.ints[1] = p->ints[3] ? p->ints[3] : p->ints[1];
  cp.ints[2] = p->ints[4];
  cp.ints[3] = p->ints[5];
  cp.ints[4] = cp.ints[5] = 1;
  lg_tensor_info ki = {x->dtype, 4, {1, 1, p->ints[0], p->ints[1]}};
  lg_tensor *ones = lg_s_scalar(s, LG_OP_ADD, lg_s_zeros(s, &ki), 1);
  lg_tensor *scaled = lg_s_binary(s, LG_OP_MUL, g, scale);
  int64_t planes[4] = {planes_of(x), 1, g ? g->sizes[nd - 2] : 0,
                       g ? g->sizes[nd - 1] : 0};
  lg_tensor *r = lg_s_conv_transpose_to(s, lg_s_reshape(s, scaled, 4, planes), ones, &cp, h, w);
  return lg_s_reshape(s, r, nd, x->sizes);
}

/* (H, OH) @ g @ (OW, W): the transposed averaging matrices */
static lg_tensor *adaptive_grad(lg_scope *s, lg_tensor *g, lg_tensor *rows_t,
                                lg_tensor *cols) {
  lg_tensor *r = lg_s_binary(s, LG_OP_MATMUL, rows_t, g);
  return lg_s_binary(s, LG_OP_MATMUL, r, cols);
}

/* The pools: constants built here (scale, matrices) are released after
 * the scope. */
lg_status lg_backward_pool(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_tensor *g = grad_out[0];
  const lg_tensor_info *x = &node->input_info[0];
  int nd = x->ndim;
  int64_t h = x->sizes[nd - 2], w = x->sizes[nd - 1];
  lg_tensor *c1 = NULL, *c2 = NULL;
  lg_status st = LG_OK;
  if (node->op == LG_OP_AVG_POOL2D) {
    st = lg_avg_pool2d_scale(ctx, &node->params, h, w, x->dtype, &c1);
  } else if (node->op == LG_OP_ADAPTIVE_AVG_POOL2D) {
    st = lg_adaptive_pool_matrix(ctx, h, node->params.ints[0], true, x->dtype,
                                 &c1);
    if (!st)
      st = lg_adaptive_pool_matrix(ctx, w, node->params.ints[1], false,
                                   x->dtype, &c2);
  }
  if (!st) {
    lg_scope scope, *s = &scope;
    lg_scope_begin(s, ctx);
    lg_tensor *r = NULL;
    if (node->op == LG_OP_MAX_POOL2D) r = max_pool_grad(s, node, g);
    else if (node->op == LG_OP_AVG_POOL2D) r = avg_pool_grad(s, node, g, c1);
    else r = adaptive_grad(s, g, c1, c2);
    grad_in[0] = lg_keep(s, r);
    st = lg_scope_end(s);
  }
  lg_tensor_release(c1);
  lg_tensor_release(c2);
  return st;
}
