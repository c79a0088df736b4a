/* conv_backward.c: backward rules of conv2d, conv_transpose2d and
 * conv2d_weight_grad, written as formulas in differentiable ops (the
 * convolutions themselves), so a backward recorded under create_graph has
 * its own gradient.
 *
 * The three convolutions are one correlation seen from three sides (see
 * conv.c), so each one's gradients are the other two: conv2d's input
 * gradient is conv_transpose2d of g with the output_padding that restores
 * the input size, its weight gradient is conv2d_weight_grad(x, g), and so
 * on around the triangle.
 */
#include <string.h>

#include "autograd.h"

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
lg_tensor *lg_s_conv_transpose_to(lg_scope *s, lg_tensor *g, lg_tensor *w,
                                  const lg_params *base, int64_t h,
                                  int64_t wd) {
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


/* Gradients of the convolutions (see the header comment). */
lg_status lg_backward_conv(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_params *p = &node->params;
  lg_tensor *g = grad_out[0];
  lg_tensor *a = lg_saved(node, 0), *b = lg_saved(node, 1);
  const int64_t *as = node->input_info[0].sizes, *bs = node->input_info[1].sizes;
  switch (node->op) {
    case LG_OP_CONV2D: /* a = x (image), b = w */
      if (lg_needs(node, 0))
        grad_in[0] = lg_keep(s, lg_s_conv_transpose_to(s, g, b, p, as[2], as[3]));
      if (lg_needs(node, 1))
        grad_in[1] = lg_keep(s, conv_op(s, LG_OP_CONV2D_WEIGHT_GRAD, a, g,
                                         p, bs[2], bs[3]));
      break;
    case LG_OP_CONV_TRANSPOSE2D: /* a = x (response), b = w; g the image */
      if (lg_needs(node, 0))
        grad_in[0] = lg_keep(s, conv_to(s, g, b, p, as[2], as[3]));
      if (lg_needs(node, 1))
        grad_in[1] = lg_keep(s, conv_op(s, LG_OP_CONV2D_WEIGHT_GRAD, g, a,
                                         p, bs[2], bs[3]));
      break;
    case LG_OP_CONV2D_WEIGHT_GRAD: /* a = image, b = response, g the weight */
      if (lg_needs(node, 0))
        grad_in[0] = lg_keep(s, lg_s_conv_transpose_to(s, b, g, p, as[2], as[3]));
      if (lg_needs(node, 1))
        grad_in[1] = lg_keep(s, conv_to(s, a, g, p, bs[2], bs[3]));
      break;
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME, "backward: no conv rule for %s",
                          lg_op_name(node->op));
  }
  if (node->op != LG_OP_CONV2D_WEIGHT_GRAD && node->n_inputs == 3 &&
      lg_needs(node, 2))
    grad_in[2] = lg_keep(s, lg_s_sum_channels(s, g)); /* over N, H, W */
  return lg_scope_end(s);
}
