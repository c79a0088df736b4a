/* lapack_backward.c: the backward rules of the LAPACK rows (inv, solve,
 * slogdet, cholesky, eigh, svd, qr, matrix_exp) and the matrix shorthands
 * of lapack_rules.h. The factors a rule needs are recomputed from the
 * saved input by running the op again (a differentiable output can't be
 * saved: it would hold its own node), so under create_graph the second
 * derivatives come from these same rules. The formulas, with X^T the
 * transpose over the last two dims and g the output gradients:
 *   inv       X = A^-1: gA = -X^T g X^T
 *   solve     X = A^-1 B: gB = A^-T g, gA = -gB X^T
 *   slogdet   gA = g_logabsdet A^-T (the sign has no gradient)
 *   cholesky  gA = sym(L^-T Phi(L^T g) L^-1), Phi: the lower triangle
 *             with the diagonal halved, sym(X) = (X + X^T) / 2
 *   eigh      gA = Q (skew(Q^T gQ) / E + diag(gL)) Q^T, E_ij = l_j - l_i,
 *             skew(X) = (X - X^T) / 2
 *   svd       PyTorch's svd_backward (reduced factors; full ones are
 *             narrowed first): (skew(U^T gU) S + S skew(V^T gV)) / E +
 *             diag(gS), E_ij = s_j^2 - s_i^2, skew(X) = X - X^T, plus the
 *             (I - U U^T) gU S^-1 or V side term of a non-square A
 *   qr        m >= n: gA = (gQ + Q copyltu(M)) R^-T, M = R gR^T - gQ^T Q;
 *             m < n: that on the square part, plus Q gR2 for the rest
 *   matrix_exp  gA = the upper-right block of exp([[A^T, g], [0, A^T]])
 * eigh and svd share PyTorch's caveat: the gradient of the vectors is
 * infinite or NaN when eigenvalues (singular values) repeat, as the
 * vectors are not unique there; eigenvalues and singular values alone
 * (LG_LINALG_VALUES: eigvalsh, svdvals) are differentiable everywhere.
 */
#include <stdio.h>

#include "lapack_rules.h"

/* ---- shorthands (lapack_rules.h) ---------------------------------------- */

lg_tensor *lr_const_matrix(lg_scope *s, int64_t n, lg_dtype dtype,
                           lr_const kind) {
  if (s->status) return NULL;
  lg_tensor *t = NULL;
  int64_t sizes[2] = {n, n};
  s->status = lg_full(s->ctx, dtype, 2, sizes, 0, &t);
  if (s->status) return NULL;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double v = 0;
      switch (kind) {
        case LR_EYE: v = i == j; break;
        case LR_OFFDIAG: v = i != j; break;
        case LR_TRIL: v = i >= j; break;
        case LR_STRICT_TRIL: v = i > j; break;
        case LR_PHI: v = i > j ? 1 : (i == j ? 0.5 : 0); break;
      }
      if (dtype == LG_FLOAT32) ((float *)lg_tensor_data(t))[i * n + j] = (float)v;
      else ((double *)lg_tensor_data(t))[i * n + j] = v;
    }
  return lg_s_adopt(s, t);
}

lg_tensor *lr_mm(lg_scope *s, lg_tensor *a, lg_tensor *b) {
  return B(MATMUL, a, b);
}

lg_tensor *lr_mt(lg_scope *s, lg_tensor *t) { return lg_s_transpose(s, t); }

lg_tensor *lr_unsq(lg_scope *s, lg_tensor *t, int64_t dim) {
  lg_params p = {0};
  p.dim = dim;
  return lg_s_op(s, LG_OP_UNSQUEEZE, 1, &t, &p);
}

lg_tensor *lr_masked(lg_scope *s, lg_tensor *x, lr_const kind) {
  if (s->status || !x) return NULL;
  return B(MUL, x, lr_const_matrix(s, x->sizes[x->ndim - 1], x->dtype, kind));
}

lg_tensor *lr_diag(lg_scope *s, lg_tensor *x) {
  if (s->status || !x) return NULL;
  lg_params p = {0};
  p.n_ints = 1;
  p.ints[0] = x->ndim - 1;
  lg_tensor *m = lr_masked(s, x, LR_EYE);
  return lg_s_op(s, LG_OP_SUM, 1, &m, &p);
}

lg_tensor *lr_diag_embed(lg_scope *s, lg_tensor *v) {
  if (s->status || !v) return NULL;
  return B(MUL, lr_unsq(s, v, -2),
           lr_const_matrix(s, v->sizes[v->ndim - 1], v->dtype, LR_EYE));
}

lg_tensor *lr_gaps(lg_scope *s, lg_tensor *v) {
  if (s->status || !v) return NULL;
  lg_tensor *e = lr_const_matrix(s, v->sizes[v->ndim - 1], v->dtype, LR_EYE);
  return B(ADD, B(SUB, lr_unsq(s, v, -2), lr_unsq(s, v, -1)), e);
}

lg_tensor *lr_narrow(lg_scope *s, lg_tensor *t, int64_t dim, int64_t start,
                     int64_t len) {
  if (s->status || !t) return NULL;
  lg_params p = {0};
  p.dim = dim;
  p.start = start;
  p.length = len;
  return lg_s_op(s, LG_OP_NARROW, 1, &t, &p);
}

lg_status lr_run(lg_scope *s, lg_op op, lg_tensor *a, const lg_params *p,
                 lg_tensor **outs) {
  return lg_s_op_all(s, op, 1, &a, p, outs);
}

static lg_tensor *cat2(lg_scope *s, lg_tensor *a, lg_tensor *b, int64_t dim) {
  lg_params p = {0};
  p.dim = dim;
  return lg_s_op(s, LG_OP_CAT, 2, (lg_tensor *[]){a, b}, &p);
}

lg_tensor *lr_exp_frechet(lg_scope *s, lg_tensor *a, lg_tensor *b) {
  if (s->status || !a || !b) return NULL;
  int64_t n = a->sizes[a->ndim - 1];
  lg_tensor *top = cat2(s, a, b, -1);
  lg_tensor *bottom = cat2(s, K(MUL, a, 0.0), a, -1);
  lg_tensor *e = lg_s_op(s, LG_OP_LINALG_MATRIX_EXP, 1,
                         (lg_tensor *[]){cat2(s, top, bottom, -2)}, NULL);
  return lr_narrow(s, lr_narrow(s, e, -2, 0, n), -1, n, n);
}

static lg_tensor *inv(lg_scope *s, lg_tensor *a) {
  return lg_s_op(s, LG_OP_LINALG_INV, 1, &a, NULL);
}

/* ---- the rules ---------------------------------------------------------- */

static lg_tensor *cholesky_grad(lg_scope *s, lg_tensor *a, lg_tensor *g) {
  lg_tensor *l = lg_s_op(s, LG_OP_LINALG_CHOLESKY, 1, &a, NULL);
  lg_tensor *phi = lr_masked(s, lr_mm(s, lr_mt(s, l), g), LR_PHI);
  lg_tensor *linv = inv(s, l);
  lg_tensor *ga = lr_mm(s, lr_mm(s, lr_mt(s, linv), phi), linv);
  return K(MUL, B(ADD, ga, lr_mt(s, ga)), 0.5);
}

static lg_tensor *eigh_grad(lg_scope *s, lg_tensor *a, const lg_params *p,
                            lg_tensor *gl, lg_tensor *gq) {
  /* the factors through the full rule, so that second derivatives of
   * eigvalsh flow through the eigenvectors too */
  lg_params q = *p;
  q.scalar_int &= ~LG_LINALG_VALUES;
  lg_tensor *f[2] = {NULL, NULL};
  if (lr_run(s, LG_OP_LINALG_EIGH, a, &q, f)) return NULL;
  lg_tensor *inner = lr_diag_embed(s, gl);
  if (!(p->scalar_int & LG_LINALG_VALUES)) {
    lg_tensor *vg = lr_mm(s, lr_mt(s, f[1]), gq);
    lg_tensor *skew = K(MUL, B(SUB, vg, lr_mt(s, vg)), 0.5);
    inner = B(ADD, inner, B(DIV, skew, lr_gaps(s, f[0])));
  }
  return lr_mm(s, lr_mm(s, f[1], inner), lr_mt(s, f[1]));
}

static lg_tensor *svd_grad(lg_scope *s, lg_tensor *a, const lg_params *p,
                           lg_tensor *const *g) {
  lg_params q = *p; /* as in eigh_grad */
  q.scalar_int &= ~LG_LINALG_VALUES;
  lg_tensor *f[3] = {NULL, NULL, NULL};
  if (lr_run(s, LG_OP_LINALG_SVD, a, &q, f)) return NULL;
  int64_t m = a->sizes[a->ndim - 2], n = a->sizes[a->ndim - 1];
  int64_t k = m < n ? m : n;
  lg_tensor *u = f[0], *sv = f[1], *vh = f[2], *gu = g[0], *gs = g[1], *gvh = g[2];
  if (p->scalar_int & LG_LINALG_FULL) {
    u = lr_narrow(s, u, -1, 0, k), gu = lr_narrow(s, gu, -1, 0, k);
    vh = lr_narrow(s, vh, -2, 0, k), gvh = lr_narrow(s, gvh, -2, 0, k);
  }
  if (p->scalar_int & LG_LINALG_VALUES) /* svdvals: U diag(gS) Vh */
    return lr_mm(s, B(MUL, u, lr_unsq(s, gs, -2)), vh);
  lg_tensor *srow = lr_unsq(s, sv, -2), *scol = lr_unsq(s, sv, -1);
  lg_tensor *uhgu = lr_mm(s, lr_mt(s, u), gu), *vhgv = lr_mm(s, vh, lr_mt(s, gvh));
  uhgu = B(SUB, uhgu, lr_mt(s, uhgu));
  vhgv = B(SUB, vhgv, lr_mt(s, vhgv));
  lg_tensor *inner = B(DIV, B(ADD, B(MUL, uhgu, srow), B(MUL, scol, vhgv)),
                       lr_gaps(s, B(MUL, sv, sv)));
  inner = B(ADD, inner, lr_diag_embed(s, gs));
  if (m > n) {
    lg_tensor *gusinv = B(DIV, gu, srow);
    lg_tensor *ga = B(ADD, lr_mm(s, u, inner), gusinv);
    ga = B(SUB, ga, lr_mm(s, u, lr_mm(s, lr_mt(s, u), gusinv)));
    return lr_mm(s, ga, vh);
  }
  if (n > m) {
    lg_tensor *sinvgvh = B(DIV, gvh, scol);
    lg_tensor *ga = B(ADD, lr_mm(s, inner, vh), sinvgvh);
    ga = B(SUB, ga, lr_mm(s, lr_mm(s, sinvgvh, lr_mt(s, vh)), vh));
    return lr_mm(s, u, ga);
  }
  return lr_mm(s, lr_mm(s, u, inner), vh);
}

/* The square-R case: gA = (gQ + Q copyltu(M)) R^-T, M = R gR^T - gQ^T Q. */
static lg_tensor *qr_square_grad(lg_scope *s, lg_tensor *q, lg_tensor *r,
                                 lg_tensor *gq, lg_tensor *gr) {
  lg_tensor *mm = B(SUB, lr_mm(s, r, lr_mt(s, gr)), lr_mm(s, lr_mt(s, gq), q));
  lg_tensor *copyltu = B(ADD, lr_masked(s, mm, LR_TRIL),
                         lr_mt(s, lr_masked(s, mm, LR_STRICT_TRIL)));
  return lr_mm(s, B(ADD, gq, lr_mm(s, q, copyltu)), lr_mt(s, inv(s, r)));
}

static lg_tensor *qr_grad(lg_scope *s, lg_tensor *a, const lg_params *p,
                          lg_tensor *gq, lg_tensor *gr) {
  int64_t m = a->sizes[a->ndim - 2], n = a->sizes[a->ndim - 1];
  if (s->status) return NULL;
  if (p->scalar_int & LG_LINALG_NO_Q) {
    s->status = lg_fail(s->ctx, LG_ERR_ARG, "linalg.qr: the derivative of "
                        "linalg.qr depends on Q, which mode \"r\" does not "
                        "compute; use mode \"reduced\" to differentiate");
    return NULL;
  }
  if ((p->scalar_int & LG_LINALG_FULL) && m > n) {
    s->status = lg_fail(s->ctx, LG_ERR_ARG, "linalg.qr: the QR decomposition "
                        "is not differentiable when mode is \"complete\" and "
                        "nrows > ncols (got %lld x %lld)", (long long)m,
                        (long long)n);
    return NULL;
  }
  lg_tensor *f[2] = {NULL, NULL};
  if (lr_run(s, LG_OP_LINALG_QR, a, p, f)) return NULL;
  if (m >= n) return qr_square_grad(s, f[0], f[1], gq, gr);
  /* A = [X | Y] = Q [R1 | R2]: X's rule with gQ + Y gR2^T, then Q gR2 */
  lg_tensor *y = lr_narrow(s, a, -1, m, n - m), *gr2 = lr_narrow(s, gr, -1, m, n - m);
  lg_tensor *gx = qr_square_grad(s, f[0], lr_narrow(s, f[1], -1, 0, m),
                                 B(ADD, gq, lr_mm(s, y, lr_mt(s, gr2))),
                                 lr_narrow(s, gr, -1, 0, m));
  return cat2(s, gx, lr_mm(s, f[0], gr2), -1);
}

lg_status lg_backward_lapack(lg_ctx *ctx, lg_node *node,
                             lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *a = lg_saved(node, 0), *g = grad_out[0];
  const lg_params *p = &node->params;
  switch (node->op) {
    case LG_OP_LINALG_INV: {
      lg_tensor *xt = lr_mt(s, inv(s, a));
      grad_in[0] = lg_keep(s, S(NEG, lr_mm(s, lr_mm(s, xt, g), xt)));
      break;
    }
    case LG_OP_LINALG_SOLVE: {
      lg_tensor *b = lg_saved(node, 1);
      lg_tensor *gb = lg_s_op(s, LG_OP_LINALG_SOLVE, 2,
                              (lg_tensor *[]){lr_mt(s, a), g}, NULL);
      if (lg_needs(node, 1)) grad_in[1] = lg_keep(s, gb);
      if (lg_needs(node, 0)) {
        lg_tensor *x = lg_s_op(s, LG_OP_LINALG_SOLVE, 2, (lg_tensor *[]){a, b}, NULL);
        grad_in[0] = lg_keep(s, S(NEG, lr_mm(s, gb, lr_mt(s, x))));
      }
      break;
    }
    case LG_OP_LINALG_SLOGDET: {
      lg_tensor *gl = lr_unsq(s, lr_unsq(s, grad_out[1], -1), -1);
      lg_tensor *ainv = inv(s, a);
      if (s->status == LG_ERR_ARG) { /* say whose gradient needs the inverse */
        char prev[LG_ERROR_SIZE];
        snprintf(prev, sizeof prev, "%s", ctx->error);
        s->status = lg_fail(ctx, LG_ERR_ARG, "linalg.slogdet (also det, "
                            "logdet): the gradient needs an invertible "
                            "matrix (%s)", prev);
      }
      grad_in[0] = lg_keep(s, B(MUL, gl, lr_mt(s, ainv)));
      break;
    }
    case LG_OP_LINALG_CHOLESKY:
      grad_in[0] = lg_keep(s, cholesky_grad(s, a, g));
      break;
    case LG_OP_LINALG_EIGH:
      grad_in[0] = lg_keep(s, eigh_grad(s, a, p, g, grad_out[1]));
      break;
    case LG_OP_LINALG_SVD:
      grad_in[0] = lg_keep(s, svd_grad(s, a, p, grad_out));
      break;
    case LG_OP_LINALG_QR:
      grad_in[0] = lg_keep(s, qr_grad(s, a, p, g, grad_out[1]));
      break;
    default: /* matrix_exp */
      grad_in[0] = lg_keep(s, lr_exp_frechet(s, lr_mt(s, a), g));
      break;
  }
  return lg_scope_end(s);
}
