/* reduce_jvp.c: the jvp rule of cumprod (see jvp.h for the layout; the
 * other reductions and cumsum use the shared shapes of jvp_common.c).
 *
 * Along the dim, y_i = prod_{k <= i} x_k, so
 *   dy_i = sum_{j <= i} t_j L_j C_{j,i},
 * with L_j = y_{j-1} (1 for j = 0), the product before j, and
 * C_{j,i} = prod_{j < k <= i} x_k (1 for i <= j): the running product along
 * i of x with the entries i <= j replaced by 1, an (n, n) block per line.
 * No formula divides by x, so zeros in x are exact. */
#include "jvp.h"

/* A bool mask over 0..n-1 along dims d (j) and d + 1 (i) of ndim dims,
 * the others of size 1: i > j (cmp GT) or i >= j (GE); with d + 1 == ndim
 * (no i dim), j == 0 (cmp EQ). */
static lg_tensor *index_mask(lg_scope *s, int64_t n, int ndim, int64_t d,
                             lg_op cmp) {
  lg_tensor *a = NULL;
  if (s->status) return NULL;
  s->status = lg_arange(s->ctx, LG_INT64, 0, (double)n, 1, &a);
  a = lg_s_adopt(s, a);
  int64_t row[LG_MAX_DIMS], col[LG_MAX_DIMS];
  for (int k = 0; k < ndim; k++) row[k] = col[k] = 1;
  row[d] = n;
  lg_tensor *j = lg_s_reshape(s, a, ndim, row);
  if (cmp == LG_OP_EQ) return K(EQ, j, 0);
  col[d + 1] = n;
  return lg_s_binary(s, cmp, lg_s_reshape(s, a, ndim, col), j);
}

/* where(mask, a, k) */
static lg_tensor *where_k(lg_scope *s, lg_tensor *mask, lg_tensor *a,
                          double k) {
  lg_params w = {0};
  w.flags = LG_FLAG_SCALAR_B;
  w.scalar[1] = k;
  lg_tensor *in[2] = {mask, a};
  return lg_s_op(s, LG_OP_WHERE, 2, in, &w);
}

lg_status lg_jvp_cumprod(lg_ctx *ctx, lg_op op, int n_in,
                         lg_tensor *const *primal, lg_tensor *const *tangent,
                         const lg_params *p, lg_tensor *const *outs,
                         lg_tensor **out_tangent) {
  (void)op, (void)n_in;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *x = primal[0], *t = tangent[0];
  int nd = x->ndim;
  int64_t d = nd > 0 ? lg_dim_index(p->dim, nd) : 0;
  if (nd == 0 || x->sizes[d] < 2) { /* y = x */
    out_tangent[0] = lg_keep(s, t);
    return lg_scope_end(s);
  }
  int64_t n = x->sizes[d];
  lg_params at_d = {0}, at_i = {0}, before = {0};
  at_d.dim = d;
  at_i.dim = d + 1;
  before.dim = d;
  before.length = n - 1;
  /* L: y shifted one place along d, 1 in front */
  lg_tensor *y = lg_s_alias(s, outs[0]);
  lg_tensor *head = lg_s_op(s, LG_OP_NARROW, 1, &y, &before);
  lg_tensor *in[2] = {index_mask(s, n, nd, d, LG_OP_EQ), lg_s_pad_dim(s, head, d, 1, 0)};
  lg_params w = {0};
  w.flags = LG_FLAG_SCALAR_A;
  w.scalar[0] = 1;
  lg_tensor *l = lg_s_op(s, LG_OP_WHERE, 2, in, &w);
  /* C over [.., n (j), n (i), ..] */
  lg_tensor *xi = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &x, &at_d);
  lg_tensor *after_j = index_mask(s, n, nd + 1, d, LG_OP_GT);
  lg_tensor *xm = where_k(s, after_j, xi, 1);
  lg_tensor *c = lg_s_op(s, LG_OP_CUMPROD, 1, &xm, &at_i);
  /* sum over j <= i of t_j L_j C_{j,i} */
  lg_tensor *tl = B(MUL, t, l);
  lg_tensor *tj = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &tl, &at_i);
  lg_tensor *terms = where_k(s, index_mask(s, n, nd + 1, d, LG_OP_GE),
                             B(MUL, tj, c), 0);
  lg_params sum = {0};
  sum.n_ints = 1;
  sum.ints[0] = d;
  out_tangent[0] = lg_keep(s, lg_s_op(s, LG_OP_SUM, 1, &terms, &sum));
  return lg_scope_end(s);
}
