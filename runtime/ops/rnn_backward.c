/* rnn_backward.c: the backward rule of lstm_cell and gru_cell (rnn.c).
 *
 * A plain backward runs the fused kernel (lg_rnn_cell_backward): one pass
 * that recomputes the gates from the saved inputs. Under create_graph the
 * same formulas are written with differentiable ops instead, so the
 * gradient is itself recorded and double backward works; both paths give
 * the same values (tests/lua/rnn_cell_spec.lua checks each by gradcheck).
 */
#include "autograd.h"
#include "rnn.h"

#define B(op, a, b) lg_s_binary(s, LG_OP_##op, a, b)
#define RK(op, k, a) lg_s_rscalar(s, LG_OP_##op, k, a)

/* Chunk k of the gates (N, G H) along dim 1. */
static lg_tensor *chunk(lg_scope *s, lg_tensor *t, int64_t h, int k) {
  lg_params p = {0};
  p.dim = 1;
  p.start = k * h;
  p.length = h;
  return lg_s_op(s, LG_OP_NARROW, 1, &t, &p);
}

static lg_tensor *cat(lg_scope *s, int n, lg_tensor **pieces) {
  lg_params p = {0};
  p.dim = 1;
  return lg_s_op(s, LG_OP_CAT, n, pieces, &p);
}

/* d/dx of sigmoid(x) = s (1 - s) and of tanh(x) = 1 - t^2, times g. */
static lg_tensor *dsig(lg_scope *s, lg_tensor *g, lg_tensor *y) {
  return B(MUL, g, B(MUL, y, RK(SUB, 1, y)));
}
static lg_tensor *dtanh(lg_scope *s, lg_tensor *g, lg_tensor *y) {
  return B(MUL, g, RK(SUB, 1, B(MUL, y, y)));
}

/* in: xg, hg, c; grad: dh', dc' -> d(xg + hg) in out[0], dc in out[1] */
static void lstm_graph(lg_scope *s, lg_tensor *const *in, int64_t h,
                       lg_tensor *const *grad, lg_tensor **out) {
  lg_tensor *pre = B(ADD, in[0], in[1]), *c = in[2];
  lg_tensor *i = lg_s_unary(s, LG_OP_SIGMOID, chunk(s, pre, h, 0));
  lg_tensor *f = lg_s_unary(s, LG_OP_SIGMOID, chunk(s, pre, h, 1));
  lg_tensor *g = lg_s_unary(s, LG_OP_TANH, chunk(s, pre, h, 2));
  lg_tensor *o = lg_s_unary(s, LG_OP_SIGMOID, chunk(s, pre, h, 3));
  lg_tensor *tc = lg_s_unary(s, LG_OP_TANH, B(ADD, B(MUL, f, c), B(MUL, i, g)));
  lg_tensor *dct = B(ADD, grad[1], dtanh(s, B(MUL, grad[0], o), tc));
  lg_tensor *pieces[4] = {dsig(s, B(MUL, dct, g), i), dsig(s, B(MUL, dct, c), f),
                          dtanh(s, B(MUL, dct, i), g),
                          dsig(s, B(MUL, grad[0], tc), o)};
  out[0] = cat(s, 4, pieces);
  out[1] = B(MUL, dct, f);
}

/* in: xg, hg, h; grad: dh' -> dxg, dhg, dh in out[0..2] */
static void gru_graph(lg_scope *s, lg_tensor *const *in, int64_t h,
                      lg_tensor *const *grad, lg_tensor **out) {
  lg_tensor *pre = B(ADD, in[0], in[1]), *hn = chunk(s, in[1], h, 2);
  lg_tensor *r = lg_s_unary(s, LG_OP_SIGMOID, chunk(s, pre, h, 0));
  lg_tensor *z = lg_s_unary(s, LG_OP_SIGMOID, chunk(s, pre, h, 1));
  lg_tensor *n = lg_s_unary(s, LG_OP_TANH,
                            B(ADD, chunk(s, in[0], h, 2), B(MUL, r, hn)));
  lg_tensor *dn = dtanh(s, B(MUL, grad[0], RK(SUB, 1, z)), n);
  lg_tensor *dz = dsig(s, B(MUL, grad[0], B(SUB, in[2], n)), z);
  lg_tensor *dr = dsig(s, B(MUL, dn, hn), r);
  lg_tensor *xs[3] = {dr, dz, dn}, *hs[3] = {dr, dz, B(MUL, dn, r)};
  out[0] = cat(s, 3, xs);
  out[1] = cat(s, 3, hs);
  out[2] = B(MUL, grad[0], z);
}

lg_status lg_backward_rnn(lg_ctx *ctx, lg_node *node,
                          lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *in[3] = {lg_saved(node, 0), lg_saved(node, 1), lg_saved(node, 2)};
  lg_tensor *g[3] = {NULL, NULL, NULL};
  bool lstm = node->op == LG_OP_LSTM_CELL;
  int64_t h = node->input_info[2].sizes[1];
  /* the fused pass (not while func.compile traces: it records ops only);
   * its results join the scope */
  if (!ctx->grad_enabled && !ctx->trace) {
    s->status = lg_rnn_cell_backward(ctx, node->op, in, grad_out, g);
    for (int k = 0; k < 3; k++) lg_s_adopt(s, g[k]);
  } else if (lstm) {
    lstm_graph(s, in, h, grad_out, g);
  } else {
    gru_graph(s, in, h, grad_out, g);
  }
  if (lstm) { /* xg and hg get the same gradient */
    g[2] = g[1];
    g[1] = g[0];
  }
  for (int k = 0; k < 3; k++)
    if (node->edges[k].node) grad_in[k] = lg_keep(s, g[k]);
  return lg_scope_end(s);
}
