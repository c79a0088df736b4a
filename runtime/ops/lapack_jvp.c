/* lapack_jvp.c: the jvp rules (forward mode) of the LAPACK rows, with dA
 * the input's tangent (see jvp.h for the layout):
 *   inv        dX = -X dA X
 *   solve      dX = A^-1 (dB - dA X)
 *   slogdet    dlogabsdet = tr(A^-1 dA); the sign has no tangent
 *   cholesky   dL = L Phi(L^-1 dA L^-T)
 *   eigh       C = Q^T dA Q: dl = diag(C), dQ = Q (C / E off the diagonal)
 *   svd        dP = U^T dA V: dS = diag(dP), dU = U ((dP S + S dP^T) / E)
 *              + (I - U U^T) dA V S^-1, dV likewise (PyTorch's svd_jvp)
 *   qr         (m >= n) C = Q^T dA R^-1, W = tril(C, -1) - tril(C, -1)^T:
 *              dR = (C - W) R, dQ = Q W + dA R^-1 - Q C
 *   matrix_exp dE = the upper-right block of exp([[A, dA], [0, A]])
 * with E the gaps of lapack_rules.h. The factors are the primal outputs
 * (aliases), so the tangents stay differentiable. */
#include "jvp.h"
#include "lapack_rules.h"

static lg_tensor *eigh_jvp(lg_scope *s, const lg_params *p,
                           lg_tensor *const *outs, lg_tensor *da,
                           lg_tensor **dq) {
  lg_tensor *l = lg_s_alias(s, outs[0]), *q = lg_s_alias(s, outs[1]);
  lg_tensor *c = lr_mm(s, lr_mm(s, lr_mt(s, q), da), q);
  if (!(p->scalar_int & LG_LINALG_VALUES))
    *dq = lr_mm(s, q, lr_masked(s, B(DIV, c, lr_gaps(s, l)), LR_OFFDIAG));
  return lr_diag(s, c);
}

static lg_status svd_jvp(lg_scope *s, lg_tensor *a, const lg_params *p,
                         lg_tensor *const *outs, lg_tensor *da,
                         lg_tensor **out_t) {
  int64_t m = a->sizes[a->ndim - 2], n = a->sizes[a->ndim - 1];
  int64_t k = m < n ? m : n;
  bool full = p->scalar_int & LG_LINALG_FULL;
  lg_tensor *u = lg_s_alias(s, outs[0]), *sv = lg_s_alias(s, outs[1]);
  lg_tensor *vh = lg_s_alias(s, outs[2]);
  if (full) u = lr_narrow(s, u, -1, 0, k), vh = lr_narrow(s, vh, -2, 0, k);
  lg_tensor *v = lr_mt(s, vh);
  lg_tensor *dav = lr_mm(s, da, v);
  lg_tensor *dp = lr_mm(s, lr_mt(s, u), dav);
  out_t[1] = lr_diag(s, dp);
  if (p->scalar_int & LG_LINALG_VALUES) return s->status;
  lg_tensor *srow = lr_unsq(s, sv, -2), *scol = lr_unsq(s, sv, -1);
  lg_tensor *e = lr_gaps(s, B(MUL, sv, sv)), *dpt = lr_mt(s, dp);
  lg_tensor *iu = B(DIV, B(ADD, B(MUL, dp, srow), B(MUL, scol, dpt)), e);
  lg_tensor *iv = B(DIV, B(ADD, B(MUL, scol, dp), B(MUL, dpt, srow)), e);
  lg_tensor *du = lr_mm(s, u, lr_masked(s, iu, LR_OFFDIAG));
  lg_tensor *dv = lr_mm(s, v, lr_masked(s, iv, LR_OFFDIAG));
  if (m > n)
    du = B(ADD, du, B(DIV, B(SUB, dav, lr_mm(s, u, dp)), srow));
  if (n > m) {
    lg_tensor *datu = lr_mm(s, lr_mt(s, da), u);
    dv = B(ADD, dv, B(DIV, B(SUB, datu, lr_mm(s, v, dpt)), srow));
  }
  lg_tensor *dvh = lr_mt(s, dv);
  if (full && !s->status) { /* the completing columns (rows) get no tangent, as in PyTorch */
    if (m > k) du = lg_s_pad_dim(s, du, du->ndim - 1, 0, m - k);
    if (n > k) dvh = lg_s_pad_dim(s, dvh, dvh->ndim - 2, 0, n - k);
  }
  out_t[0] = du;
  out_t[2] = dvh;
  return s->status;
}

/* Square R: C = Q^T dA R^-1, W = tril(C, -1) - tril(C, -1)^T. */
static void qr_square_jvp(lg_scope *s, lg_tensor *q, lg_tensor *r,
                          lg_tensor *da, lg_tensor **dq, lg_tensor **dr) {
  lg_tensor *dari = lr_mm(s, da, lg_s_op(s, LG_OP_LINALG_INV, 1, &r, NULL));
  lg_tensor *c = lr_mm(s, lr_mt(s, q), dari);
  lg_tensor *low = lr_masked(s, c, LR_STRICT_TRIL);
  lg_tensor *w = B(SUB, low, lr_mt(s, low));
  *dr = lr_mm(s, B(SUB, c, w), r);
  *dq = B(ADD, lr_mm(s, q, w), B(SUB, dari, lr_mm(s, q, c)));
}

static lg_status qr_jvp(lg_scope *s, lg_tensor *a, const lg_params *p,
                        lg_tensor *const *outs, lg_tensor *da,
                        lg_tensor **out_t) {
  int64_t m = a->sizes[a->ndim - 2], n = a->sizes[a->ndim - 1];
  bool ok = !(p->scalar_int & LG_LINALG_NO_Q) &&
            (!(p->scalar_int & LG_LINALG_FULL) || m <= n);
  if (!ok) {
    if (!s->status)
      s->status = lg_fail(s->ctx, LG_ERR_ARG, "linalg.qr: forward-mode AD "
                          "needs Q, and mode \"reduced\" when nrows > ncols "
                          "(got %lld x %lld)", (long long)m, (long long)n);
    return s->status;
  }
  lg_tensor *q = lg_s_alias(s, outs[0]), *r = lg_s_alias(s, outs[1]);
  if (m >= n) {
    qr_square_jvp(s, q, r, da, &out_t[0], &out_t[1]);
    return s->status;
  }
  /* A = [X | Y] = Q [R1 | R2]: X's square rule, then dR2 = Q^T (dY - dQ R2) */
  lg_tensor *dr1 = NULL;
  qr_square_jvp(s, q, lr_narrow(s, r, -1, 0, m), lr_narrow(s, da, -1, 0, m),
                &out_t[0], &dr1);
  lg_tensor *dy = lr_narrow(s, da, -1, m, n - m), *r2 = lr_narrow(s, r, -1, m, n - m);
  lg_tensor *dr2 = lr_mm(s, lr_mt(s, q), B(SUB, dy, lr_mm(s, out_t[0], r2)));
  out_t[1] = lg_s_op(s, LG_OP_CAT, 2, (lg_tensor *[]){dr1, dr2},
                     &(lg_params){.dim = -1});
  return s->status;
}

lg_status lg_jvp_lapack(lg_ctx *ctx, lg_op op, int n_in,
                        lg_tensor *const *primal, lg_tensor *const *tangent,
                        const lg_params *p, lg_tensor *const *outs,
                        lg_tensor **out_tangent) {
  (void)n_in;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *a = primal[0], *da = tangent[0];
  lg_tensor *t[3] = {NULL, NULL, NULL};
  if (op == LG_OP_LINALG_SOLVE) {
    lg_tensor *x = lg_s_alias(s, outs[0]);
    lg_tensor *terms[2] = {tangent[1], da ? S(NEG, lr_mm(s, da, x)) : NULL};
    lg_tensor *rhs = lg_s_sum_present(s, 2, terms);
    if (rhs) t[0] = lg_s_op(s, LG_OP_LINALG_SOLVE, 2, (lg_tensor *[]){a, rhs}, NULL);
  } else if (da) {
    switch (op) {
      case LG_OP_LINALG_INV: {
        lg_tensor *x = lg_s_alias(s, outs[0]);
        t[0] = S(NEG, lr_mm(s, lr_mm(s, x, da), x));
        break;
      }
      case LG_OP_LINALG_SLOGDET: {
        lg_tensor *x = lg_s_op(s, LG_OP_LINALG_SOLVE, 2, (lg_tensor *[]){a, da}, NULL);
        t[1] = lr_diag(s, x);
        if (t[1]) {
          lg_params ps = {0};
          ps.n_ints = 1;
          ps.ints[0] = t[1]->ndim - 1;
          t[1] = lg_s_op(s, LG_OP_SUM, 1, &t[1], &ps);
        }
        break;
      }
      case LG_OP_LINALG_CHOLESKY: {
        lg_tensor *l = lg_s_alias(s, outs[0]);
        lg_tensor *linv = lg_s_op(s, LG_OP_LINALG_INV, 1, &l, NULL);
        lg_tensor *inner = lr_mm(s, lr_mm(s, linv, da), lr_mt(s, linv));
        t[0] = lr_mm(s, l, lr_masked(s, inner, LR_PHI));
        break;
      }
      case LG_OP_LINALG_EIGH:
        t[0] = eigh_jvp(s, p, outs, da, &t[1]);
        break;
      case LG_OP_LINALG_SVD:
        svd_jvp(s, a, p, outs, da, t);
        break;
      case LG_OP_LINALG_QR:
        qr_jvp(s, a, p, outs, da, t);
        break;
      default: /* matrix_exp */
        t[0] = lr_exp_frechet(s, a, da);
        break;
    }
  }
  for (int k = 0; k < lg_op_num_outputs(op); k++) out_tangent[k] = lg_keep(s, t[k]);
  return lg_scope_end(s);
}
