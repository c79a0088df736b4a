/* backward_conv.c: backward rules of conv2d, conv_transpose2d,
 * conv2d_weight_grad and the 2-D pools, written as formulas in
 * differentiable ops (the convolutions themselves, scatter_add, matmul,
 * reshape), so a backward recorded under create_graph has its own gradient.
 *
 * The three convolutions are one correlation seen from three sides (see
 * conv.c), so each one's gradients are the other two: conv2d's input
 * gradient is conv_transpose2d of g with the output_padding that restores
 * the input size, its weight gradient is conv2d_weight_grad(x, g), and so
 * on around the triangle. Pools: max_pool2d adds g into zeros at its saved
 * indices; avg_pool2d scales g by 1/divisor and spreads it over each window
 * with conv_transpose2d of a ones kernel; adaptive_avg_pool2d multiplies by
 * the per-dim averaging matrices' transposes.
 */
#include <string.h>

#include "autograd.h"

/* Defined in pool.c. */
lg_status lg_avg_pool2d_scale(lg_ctx *ctx, const lg_params *p, int64_t h,
                              int64_t w, lg_dtype dtype, lg_tensor **out);
lg_status lg_adaptive_pool_matrix(lg_ctx *ctx, int64_t in_len, int64_t out_len,
                                  bool transposed, lg_dtype dtype,
                                  lg_tensor **out);

/* Whether input i of the node needs a gradient at all. */
static bool needs(const lg_node *node, int i) {
  return node->edges[i].node != NULL;
}

/* A convolution op on (a, b) with base's stride, padding, dilation and
 * groups, and extra in ints[6..7] (output_padding or kernel size). */
static lg_tensor *conv_op(lg_scope *s, lg_op op, lg_tensor *a, lg_tensor *b,
                          const lg_params *base, int64_t extra_h,
                          int64_t extra_w) {
  lg_params p = {0};
  memcpy(p.ints, base->ints, 6 * sizeof p.ints[0]);
  p.ints[6] = extra_h;
  p.ints[7] = extra_w;
  p.n_ints = 8;
  p.scalar_int = base->scalar_int;
  lg_tensor *in[2] = {a, b};
  return lg_s_op(s, op, 2, in, &p);
}

/* t narrowed to its first h rows and w columns (the last two dims). */
static lg_tensor *crop_to(lg_scope *s, lg_tensor *t, int64_t h, int64_t w) {
  for (int k = 0; k < 2 && t; k++) {
    int64_t want = k ? w : h;
    int dim = t->ndim - 2 + k;
    if (t->sizes[dim] == want) continue;
    lg_params p = {0};
    p.dim = dim;
    p.start = 0;
    p.length = want;
    t = lg_s_op(s, LG_OP_NARROW, 1, &t, &p);
  }
  return t;
}

/* conv_transpose2d(g, w) of exactly h x w: the output_padding makes up a
 * shortfall, a crop removes an excess (ceil_mode pools, dilated windows). */
static lg_tensor *transpose_to(lg_scope *s, lg_tensor *g, lg_tensor *w,
                               const lg_params *base, int64_t h, int64_t wd) {
  if (!g || !w) { /* a failed scope, or a released save: reports it */
    lg_tensor *in[2] = {g, w};
    return lg_s_op(s, LG_OP_CONV_TRANSPOSE2D, 2, in, NULL);
  }
  int64_t pad[2];
  for (int k = 0; k < 2; k++) {
    int64_t natural = (g->sizes[2 + k] - 1) * base->ints[k] -
                      2 * base->ints[2 + k] +
                      base->ints[4 + k] * (w->sizes[2 + k] - 1) + 1;
    int64_t want = k ? wd : h;
    pad[k] = want > natural ? want - natural : 0;
  }
  lg_tensor *r = conv_op(s, LG_OP_CONV_TRANSPOSE2D, g, w, base, pad[0], pad[1]);
  return crop_to(s, r, h, wd);
}

/* conv2d(x, w) cropped to h x wd (the adjoint of a padded transpose). */
static lg_tensor *conv_to(lg_scope *s, lg_tensor *x, lg_tensor *w,
                          const lg_params *base, int64_t h, int64_t wd) {
  return crop_to(s, conv_op(s, LG_OP_CONV2D, x, w, base, 0, 0), h, wd);
}

/* Sum of g over N, H, W: the bias gradient. */
static lg_tensor *bias_grad(lg_scope *s, lg_tensor *g) {
  lg_params p = {0};
  p.ints[0] = 0;
  p.ints[1] = 2;
  p.ints[2] = 3;
  p.n_ints = 3;
  return lg_s_op(s, LG_OP_SUM, 1, &g, &p);
}

static lg_tensor *reshape(lg_scope *s, lg_tensor *t, int ndim,
                          const int64_t *sizes) {
  lg_params p = {0};
  p.n_ints = ndim;
  memcpy(p.ints, sizes, (size_t)ndim * sizeof sizes[0]);
  return lg_s_op(s, LG_OP_RESHAPE, 1, &t, &p);
}

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
  lg_tensor *in[3] = {lg_s_zeros(s, &zi), reshape(s, index, 2, flat_g),
                      reshape(s, g, 2, flat_g)};
  lg_tensor *r = lg_s_op(s, LG_OP_SCATTER_ADD, 3, in, &p);
  return reshape(s, r, x->ndim, x->sizes);
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
  lg_tensor *r = transpose_to(s, reshape(s, scaled, 4, planes), ones, &cp, h, w);
  return reshape(s, r, nd, x->sizes);
}

/* (H, OH) @ g @ (OW, W): the transposed averaging matrices */
static lg_tensor *adaptive_grad(lg_scope *s, lg_tensor *g, lg_tensor *rows_t,
                                lg_tensor *cols) {
  lg_tensor *r = lg_s_binary(s, LG_OP_MATMUL, rows_t, g);
  return lg_s_binary(s, LG_OP_MATMUL, r, cols);
}

/* The pools: constants built here (scale, matrices) are released after
 * the scope. */
static lg_status pool_backward(lg_ctx *ctx, lg_node *node, lg_tensor *g,
                               lg_tensor **grad_in) {
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
    lg_scope s;
    lg_scope_begin(&s, ctx);
    lg_tensor *r = NULL;
    if (node->op == LG_OP_MAX_POOL2D) r = max_pool_grad(&s, node, g);
    else if (node->op == LG_OP_AVG_POOL2D) r = avg_pool_grad(&s, node, g, c1);
    else r = adaptive_grad(&s, g, c1, c2);
    grad_in[0] = lg_keep(&s, r);
    st = lg_scope_end(&s);
  }
  lg_tensor_release(c1);
  lg_tensor_release(c2);
  return st;
}

/* Gradients of the convolutions and pools (see the header comment). */
lg_status lg_backward_conv(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  if (node->op == LG_OP_MAX_POOL2D || node->op == LG_OP_AVG_POOL2D ||
      node->op == LG_OP_ADAPTIVE_AVG_POOL2D)
    return pool_backward(ctx, node, grad_out[0], grad_in);
  lg_scope s;
  lg_scope_begin(&s, ctx);
  const lg_params *p = &node->params;
  lg_tensor *g = grad_out[0];
  lg_tensor *a = lg_saved(node, 0), *b = lg_saved(node, 1);
  const int64_t *as = node->input_info[0].sizes, *bs = node->input_info[1].sizes;
  switch (node->op) {
    case LG_OP_CONV2D: /* a = x (image), b = w */
      if (needs(node, 0))
        grad_in[0] = lg_keep(&s, transpose_to(&s, g, b, p, as[2], as[3]));
      if (needs(node, 1))
        grad_in[1] = lg_keep(&s, conv_op(&s, LG_OP_CONV2D_WEIGHT_GRAD, a, g,
                                         p, bs[2], bs[3]));
      break;
    case LG_OP_CONV_TRANSPOSE2D: /* a = x (response), b = w; g the image */
      if (needs(node, 0))
        grad_in[0] = lg_keep(&s, conv_to(&s, g, b, p, as[2], as[3]));
      if (needs(node, 1))
        grad_in[1] = lg_keep(&s, conv_op(&s, LG_OP_CONV2D_WEIGHT_GRAD, g, a,
                                         p, bs[2], bs[3]));
      break;
    case LG_OP_CONV2D_WEIGHT_GRAD: /* a = image, b = response, g the weight */
      if (needs(node, 0))
        grad_in[0] = lg_keep(&s, transpose_to(&s, b, g, p, as[2], as[3]));
      if (needs(node, 1))
        grad_in[1] = lg_keep(&s, conv_to(&s, a, g, p, bs[2], bs[3]));
      break;
    default:
      s.status = lg_fail(ctx, LG_ERR_RUNTIME, "backward: no conv rule for %s",
                         lg_op_name(node->op));
  }
  if (node->op != LG_OP_CONV2D_WEIGHT_GRAD && node->n_inputs == 3 &&
      needs(node, 2))
    grad_in[2] = lg_keep(&s, bias_grad(&s, g));
  return lg_scope_end(&s);
}
