/* rnn_jvp.c: the jvp rules of the fused recurrent cells (see jvp.h for the
 * layout; the gate conventions are rnn.c's, PyTorch's order). With
 * a = xg + hg and da = dxg + dhg (chunks of H columns):
 *   lstm_cell  di = i(1-i) da_i, df = f(1-f) da_f, dg = (1-g^2) da_g,
 *              do = o(1-o) da_o; dc' = df c + f dc + di g + i dg;
 *              dh' = do tanh(c') + o (1 - tanh(c')^2) dc'
 *   gru_cell   dr = r(1-r) da_r, dz = z(1-z) da_z,
 *              dn = (1 - n^2)(dxg_n + dr hg_n + r dhg_n);
 *              dh' = dn + dz (h - n) + z (dh - dn)
 * The gates are recomputed from the inputs with differentiable ops, so
 * the tangents are differentiable again; an absent tangent drops its
 * terms. */
#include "jvp.h"

/* Columns [k H, (k + 1) H) of t (NULL stays NULL). */
static lg_tensor *chunk(lg_scope *s, lg_tensor *t, int64_t k, int64_t h) {
  if (!t) return NULL;
  lg_params p = {0};
  p.dim = 1;
  p.start = k * h;
  p.length = h;
  return lg_s_op(s, LG_OP_NARROW, 1, &t, &p);
}

/* a * b, NULL when b is absent */
static lg_tensor *times(lg_scope *s, lg_tensor *a, lg_tensor *b) {
  return b ? B(MUL, a, b) : NULL;
}

/* sigmoid(x) and its derivative's factor s (1 - s) */
static lg_tensor *sigmoid_slope(lg_scope *s, lg_tensor *sg) {
  return B(MUL, sg, RK(SUB, 1, sg));
}

lg_status lg_jvp_rnn(lg_ctx *ctx, lg_op op, int n_in,
                     lg_tensor *const *primal, lg_tensor *const *tangent,
                     const lg_params *p, lg_tensor *const *outs,
                     lg_tensor **out_tangent) {
  (void)n_in, (void)p;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *xg = primal[0], *hg = primal[1], *state = primal[2];
  lg_tensor *dstate = tangent[2];
  int64_t h = state->sizes[1];
  lg_tensor *terms[2] = {tangent[0], tangent[1]};
  lg_tensor *a = B(ADD, xg, hg), *da = lg_s_sum_present(s, 2, terms);
  if (op == LG_OP_LSTM_CELL) {
    lg_tensor *i = S(SIGMOID, chunk(s, a, 0, h)), *f = S(SIGMOID, chunk(s, a, 1, h));
    lg_tensor *g = S(TANH, chunk(s, a, 2, h)), *o = S(SIGMOID, chunk(s, a, 3, h));
    lg_tensor *di = times(s, sigmoid_slope(s, i), chunk(s, da, 0, h));
    lg_tensor *df = times(s, sigmoid_slope(s, f), chunk(s, da, 1, h));
    lg_tensor *dg = times(s, RK(SUB, 1, S(SQUARE, g)), chunk(s, da, 2, h));
    lg_tensor *d_o = times(s, sigmoid_slope(s, o), chunk(s, da, 3, h));
    lg_tensor *dc_terms[4] = {times(s, state, df), times(s, f, dstate),
                              times(s, g, di), times(s, i, dg)};
    lg_tensor *dc = lg_s_sum_present(s, 4, dc_terms);
    lg_tensor *tc = S(TANH, lg_s_alias(s, outs[1]));
    lg_tensor *dh_terms[2] = {times(s, tc, d_o),
                              times(s, B(MUL, o, RK(SUB, 1, S(SQUARE, tc))), dc)};
    out_tangent[0] = lg_keep(s, lg_s_sum_present(s, 2, dh_terms));
    out_tangent[1] = lg_keep(s, dc);
  } else {
    lg_tensor *r = S(SIGMOID, chunk(s, a, 0, h)), *z = S(SIGMOID, chunk(s, a, 1, h));
    lg_tensor *hn = chunk(s, hg, 2, h);
    lg_tensor *n = S(TANH, B(ADD, chunk(s, xg, 2, h), B(MUL, r, hn)));
    lg_tensor *dr = times(s, sigmoid_slope(s, r), chunk(s, da, 0, h));
    lg_tensor *dz = times(s, sigmoid_slope(s, z), chunk(s, da, 1, h));
    lg_tensor *pre[3] = {chunk(s, tangent[0], 2, h), times(s, hn, dr),
                         times(s, r, chunk(s, tangent[1], 2, h))};
    lg_tensor *dn = times(s, RK(SUB, 1, S(SQUARE, n)), lg_s_sum_present(s, 3, pre));
    lg_tensor *keep = dstate ? (dn ? B(SUB, dstate, dn) : dstate)
                             : (dn ? S(NEG, dn) : NULL);
    lg_tensor *dh_terms[3] = {dn, times(s, B(SUB, state, n), dz), times(s, z, keep)};
    out_tangent[0] = lg_keep(s, lg_s_sum_present(s, 3, dh_terms));
  }
  return lg_scope_end(s);
}
