/* lapack.c: the kernels of the LAPACK rows of lg_ops.h (inv, solve,
 * slogdet, cholesky, eigh, svd, qr, matrix_exp), for float32 and float64
 * matrices batched over the leading dims, any strides.
 *
 * Each batch element is gathered through the strides into a column-major
 * double scratch matrix, factored by LAPACK (lapack.h: dgesv, dgetrf,
 * dpotrf, dsyevd, dgesdd, dgeqrf + dorgqr) or, for matrix_exp, by scaling
 * and squaring a Taylor series with cblas_dgemm, and the results are
 * scattered into the outputs in the tensor's own dtype. float32 therefore
 * computes in double (at least as accurate as PyTorch's sgetrf path).
 *
 * Failures name the public function and, for a batch, the 1-based batch
 * element: "linalg.inv: batch element {2}: the matrix is singular (U[3,3]
 * is zero)". A singular matrix is an error for inv and solve, sign 0 and
 * logabsdet -inf for slogdet (PyTorch's documented result); a matrix that
 * is not positive-definite names the failing leading minor for cholesky.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "dtype.h"
#include "lapack.h"

/* The name users call (the op table's names are linalg_inv, ...). */
static const char *public_name(lg_op op) {
  switch (op) {
    case LG_OP_LINALG_INV: return "linalg.inv";
    case LG_OP_LINALG_SOLVE: return "linalg.solve";
    case LG_OP_LINALG_SLOGDET: return "linalg.slogdet";
    case LG_OP_LINALG_CHOLESKY: return "linalg.cholesky";
    case LG_OP_LINALG_EIGH: return "linalg.eigh";
    case LG_OP_LINALG_SVD: return "linalg.svd";
    case LG_OP_LINALG_QR: return "linalg.qr";
    default: return "linalg.matrix_exp";
  }
}

/* ---- strided access ----------------------------------------------------- */

/* Element offset of batch element b over t's first nb dims. */
static int64_t batch_off(const lg_tensor *t, int nb, int64_t b) {
  int64_t off = 0;
  for (int d = nb - 1; d >= 0; d--) {
    int64_t sz = t->sizes[d];
    off += (b % sz) * t->strides[d];
    b /= sz;
  }
  return off;
}

static double get(const lg_tensor *t, int64_t off) {
  const char *base = lg_data_ptr(t);
  return t->dtype == LG_FLOAT32 ? (double)((const float *)base)[off]
                                : ((const double *)base)[off];
}

static void put(lg_tensor *t, int64_t off, double v) {
  char *base = lg_data_ptr(t);
  if (t->dtype == LG_FLOAT32) ((float *)base)[off] = (float)v;
  else ((double *)base)[off] = v;
}

/* Matrix b of t (its last two dims) into buf, column-major, ld = rows. */
static void load(const lg_tensor *t, int nb, int64_t b, double *buf) {
  int64_t r = t->sizes[t->ndim - 2], c = t->sizes[t->ndim - 1];
  int64_t rs = t->strides[t->ndim - 2], cs = t->strides[t->ndim - 1];
  int64_t o = batch_off(t, nb, b);
  for (int64_t j = 0; j < c; j++)
    for (int64_t i = 0; i < r; i++) buf[i + j * r] = get(t, o + i * rs + j * cs);
}

/* Column-major buf (leading dim ld) into matrix b of out (its last two dims
 * give the extent). */
static void store(lg_tensor *out, int nb, int64_t b, const double *buf,
                  int64_t ld) {
  int64_t r = out->sizes[out->ndim - 2], c = out->sizes[out->ndim - 1];
  int64_t rs = out->strides[out->ndim - 2], cs = out->strides[out->ndim - 1];
  int64_t o = batch_off(out, nb, b);
  for (int64_t j = 0; j < c; j++)
    for (int64_t i = 0; i < r; i++) put(out, o + i * rs + j * cs, buf[i + j * ld]);
}

/* A vector per batch element (out's last dim). */
static void store_vec(lg_tensor *out, int nb, int64_t b, const double *v) {
  int64_t n = out->sizes[out->ndim - 1], st = out->strides[out->ndim - 1];
  int64_t o = batch_off(out, nb, b);
  for (int64_t i = 0; i < n; i++) put(out, o + i * st, v[i]);
}

/* "batch element {2, 1}: " (1-based) for batched inputs, "" otherwise. */
static const char *where(char *buf, size_t size, const lg_tensor *t, int nb,
                         int64_t b) {
  if (nb == 0) return "";
  int64_t idx[LG_MAX_DIMS];
  for (int d = nb - 1; d >= 0; d--) {
    idx[d] = b % t->sizes[d] + 1;
    b /= t->sizes[d];
  }
  char shape[160];
  snprintf(buf, size, "batch element %s: ",
           lg_shape_str(shape, sizeof shape, nb, idx));
  return buf;
}

/* ---- checks ------------------------------------------------------------- */

static lg_status check_matrix(lg_ctx *ctx, const char *name,
                              const lg_tensor *t, bool square) {
  char s[160];
  if (t->dtype != LG_FLOAT32 && t->dtype != LG_FLOAT64)
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "%s: expected a float32 or float64 tensor, got %s", name,
                   lg_dtype_name(t->dtype));
  if (t->ndim < 2)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: expected a matrix or a batch of matrices (at least 2 "
                   "dims), got shape %s",
                   name, lg_shape_str(s, sizeof s, t->ndim, t->sizes));
  if (square && t->sizes[t->ndim - 1] != t->sizes[t->ndim - 2])
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: expected square matrices, got shape %s", name,
                   lg_shape_str(s, sizeof s, t->ndim, t->sizes));
  if (t->sizes[t->ndim - 1] > 0x3fffffff || t->sizes[t->ndim - 2] > 0x3fffffff)
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: matrices of shape %s are too large "
                   "for LAPACK", name,
                   lg_shape_str(s, sizeof s, t->ndim, t->sizes));
  return LG_OK;
}

static lg_status check_solve(lg_ctx *ctx, const lg_tensor *a,
                             const lg_tensor *b) {
  lg_status st = check_matrix(ctx, "linalg.solve", a, true);
  if (!st) st = check_matrix(ctx, "linalg.solve", b, false);
  if (st) return st;
  char sa[160], sb[160];
  if (a->dtype != b->dtype)
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "linalg.solve: A and B must have one dtype, got %s and %s",
                   lg_dtype_name(a->dtype), lg_dtype_name(b->dtype));
  bool fits = a->ndim == b->ndim && b->sizes[b->ndim - 2] == a->sizes[a->ndim - 1];
  for (int d = 0; fits && d < a->ndim - 2; d++) fits = a->sizes[d] == b->sizes[d];
  if (!fits)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "linalg.solve: A of shape %s and B of shape %s don't fit "
                   "(B must have %lld rows and A's batch dims)",
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes),
                   (long long)a->sizes[a->ndim - 1]);
  return LG_OK;
}

/* ---- scratch ------------------------------------------------------------ */

/* One allocation of doubles (and LAPACK ints after them) for a call. */
typedef struct scratch {
  lg_ctx *ctx;
  void *mem;
  size_t bytes;
} scratch;

static lg_status scratch_get(scratch *sc, size_t n_doubles, size_t n_ints,
                             double **d, lapack_int **iv) {
  sc->bytes = (n_doubles + 1) * sizeof(double) + (n_ints + 1) * sizeof(lapack_int);
  sc->mem = lg_mem_alloc(sc->ctx, sc->bytes);
  if (!sc->mem) return lg_fail(sc->ctx, LG_ERR_MEMORY, "out of memory");
  *d = sc->mem;
  if (iv) *iv = (lapack_int *)(*d + n_doubles + 1);
  return LG_OK;
}

static void scratch_free(scratch *sc) {
  if (sc->mem) lg_mem_free(sc->ctx, sc->mem, sc->bytes);
  sc->mem = NULL;
}

static lg_status lapack_failed(lg_ctx *ctx, const char *name, const char *routine,
                               lapack_int info) {
  return lg_fail(ctx, LG_ERR_RUNTIME, "%s: LAPACK %s failed (info %d)", name,
                 routine, (int)info);
}

/* ---- the kernels -------------------------------------------------------- */

/* inv (b = NULL: solve against the identity) and solve. */
static lg_status run_solve(lg_ctx *ctx, lg_op op, lg_tensor *a, lg_tensor *b,
                           lg_tensor *out, int nb, int64_t count) {
  const char *name = public_name(op);
  lapack_int n = (lapack_int)a->sizes[a->ndim - 1];
  lapack_int k = b ? (lapack_int)b->sizes[b->ndim - 1] : n;
  lapack_int ld = n > 0 ? n : 1;
  scratch sc = {ctx, NULL, 0};
  double *m = NULL;
  lapack_int *ipiv = NULL;
  lg_status st = scratch_get(&sc, (size_t)n * n + (size_t)n * k, (size_t)n, &m, &ipiv);
  double *rhs = m + (size_t)n * n;
  for (int64_t e = 0; !st && e < count; e++) {
    load(a, nb, e, m);
    if (b) {
      load(b, nb, e, rhs);
    } else {
      memset(rhs, 0, sizeof(double) * (size_t)n * n);
      for (lapack_int i = 0; i < n; i++) rhs[i + (size_t)i * n] = 1;
    }
    lapack_int info = 0;
    if (n > 0 && k > 0) dgesv_(&n, &k, m, &ld, ipiv, rhs, &ld, &info);
    char w[200];
    if (info > 0)
      st = lg_fail(ctx, LG_ERR_ARG, "%s: %sthe matrix is singular (U[%d,%d] "
                   "is zero)", name, where(w, sizeof w, a, nb, e), (int)info,
                   (int)info);
    else if (info < 0)
      st = lapack_failed(ctx, name, "dgesv", info);
    else
      store(out, nb, e, rhs, n);
  }
  scratch_free(&sc);
  return st;
}

static lg_status run_slogdet(lg_ctx *ctx, lg_tensor *a, lg_tensor *sign,
                             lg_tensor *logabs, int nb, int64_t count) {
  lapack_int n = (lapack_int)a->sizes[a->ndim - 1], ld = n > 0 ? n : 1;
  scratch sc = {ctx, NULL, 0};
  double *m = NULL;
  lapack_int *ipiv = NULL;
  lg_status st = scratch_get(&sc, (size_t)n * n, (size_t)n, &m, &ipiv);
  for (int64_t e = 0; !st && e < count; e++) {
    load(a, nb, e, m);
    lapack_int info = 0;
    if (n > 0) dgetrf_(&n, &n, m, &ld, ipiv, &info);
    if (info < 0) {
      st = lapack_failed(ctx, "linalg.slogdet", "dgetrf", info);
      break;
    }
    double sg = 1, la = 0;
    if (info > 0) {
      sg = 0, la = -HUGE_VAL;
    } else {
      for (lapack_int i = 0; i < n; i++) {
        double u = m[i + (size_t)i * n];
        if (u < 0) sg = -sg;
        if (ipiv[i] != i + 1) sg = -sg;
        la += log(fabs(u));
      }
    }
    put(sign, batch_off(sign, nb, e), sg);
    put(logabs, batch_off(logabs, nb, e), la);
  }
  scratch_free(&sc);
  return st;
}

static lg_status run_cholesky(lg_ctx *ctx, lg_tensor *a, lg_tensor *out,
                              int nb, int64_t count) {
  lapack_int n = (lapack_int)a->sizes[a->ndim - 1], ld = n > 0 ? n : 1;
  scratch sc = {ctx, NULL, 0};
  double *m = NULL;
  lg_status st = scratch_get(&sc, (size_t)n * n, 0, &m, NULL);
  for (int64_t e = 0; !st && e < count; e++) {
    load(a, nb, e, m);
    lapack_int info = 0;
    if (n > 0) dpotrf_("L", &n, m, &ld, &info, 1);
    char w[200];
    if (info > 0) {
      st = lg_fail(ctx, LG_ERR_ARG, "linalg.cholesky: %sthe factorization "
                   "could not be completed because the input is not "
                   "positive-definite (the leading minor of order %d is not "
                   "positive-definite)", where(w, sizeof w, a, nb, e), (int)info);
    } else if (info < 0) {
      st = lapack_failed(ctx, "linalg.cholesky", "dpotrf", info);
    } else {
      for (lapack_int j = 1; j < n; j++)
        for (lapack_int i = 0; i < j; i++) m[i + (size_t)j * n] = 0;
      store(out, nb, e, m, n);
    }
  }
  scratch_free(&sc);
  return st;
}

static lg_status run_eigh(lg_ctx *ctx, lg_tensor *a, bool upper,
                          lg_tensor *vals, lg_tensor *vecs, int nb,
                          int64_t count) {
  lapack_int n = (lapack_int)a->sizes[a->ndim - 1], ld = n > 0 ? n : 1;
  const char *uplo = upper ? "U" : "L";
  /* workspace query */
  double wq = 0, dummy = 0;
  lapack_int iq = 0, info = 0, m1 = -1;
  if (n > 0) dsyevd_("V", uplo, &n, &dummy, &ld, &dummy, &wq, &m1, &iq, &m1, &info, 1, 1);
  lapack_int lwork = (lapack_int)wq + 1, liwork = iq + 1;
  scratch sc = {ctx, NULL, 0};
  double *m = NULL;
  lapack_int *iwork = NULL;
  lg_status st = scratch_get(&sc, (size_t)n * n + (size_t)n + (size_t)lwork,
                             (size_t)liwork, &m, &iwork);
  double *w = m + (size_t)n * n, *work = w + n;
  for (int64_t e = 0; !st && e < count; e++) {
    load(a, nb, e, m);
    info = 0;
    if (n > 0)
      dsyevd_("V", uplo, &n, m, &ld, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    char wh[200];
    if (info > 0)
      st = lg_fail(ctx, LG_ERR_RUNTIME, "linalg.eigh: %sthe algorithm failed "
                   "to converge (%d off-diagonal elements did not converge to "
                   "zero)", where(wh, sizeof wh, a, nb, e), (int)info);
    else if (info < 0)
      st = lapack_failed(ctx, "linalg.eigh", "dsyevd", info);
    else {
      store_vec(vals, nb, e, w);
      store(vecs, nb, e, m, n);
    }
  }
  scratch_free(&sc);
  return st;
}

static lg_status run_svd(lg_ctx *ctx, lg_tensor *a, bool full, lg_tensor *u,
                         lg_tensor *sv, lg_tensor *vh, int nb, int64_t count) {
  lapack_int m = (lapack_int)a->sizes[a->ndim - 2];
  lapack_int n = (lapack_int)a->sizes[a->ndim - 1];
  lapack_int k = m < n ? m : n;
  lapack_int ucols = full ? m : k, vrows = full ? n : k;
  lapack_int lda = m > 0 ? m : 1, ldu = lda, ldvt = vrows > 0 ? vrows : 1;
  const char *jobz = full ? "A" : "S";
  double wq = 0, dummy = 0;
  lapack_int info = 0, m1 = -1, iq = 0;
  if (k > 0)
    dgesdd_(jobz, &m, &n, &dummy, &lda, &dummy, &dummy, &ldu, &dummy, &ldvt,
            &wq, &m1, &iq, &info, 1);
  lapack_int lwork = (lapack_int)wq + 1;
  scratch sc = {ctx, NULL, 0};
  double *mat = NULL;
  lapack_int *iwork = NULL;
  size_t sz = (size_t)m * n + (size_t)k + (size_t)m * ucols +
              (size_t)vrows * n + (size_t)lwork;
  lg_status st = scratch_get(&sc, sz, 8 * (size_t)k, &mat, &iwork);
  double *s = mat + (size_t)m * n, *um = s + k, *vt = um + (size_t)m * ucols;
  double *work = vt + (size_t)vrows * n;
  for (int64_t e = 0; !st && e < count; e++) {
    load(a, nb, e, mat);
    info = 0;
    if (k > 0) {
      dgesdd_(jobz, &m, &n, mat, &lda, s, um, &ldu, vt, &ldvt, work, &lwork,
              iwork, &info, 1);
    } else { /* an empty matrix: the full factors are identities */
      memset(um, 0, sizeof(double) * (size_t)m * ucols);
      memset(vt, 0, sizeof(double) * (size_t)vrows * n);
      for (lapack_int i = 0; i < ucols && i < m; i++) um[i + (size_t)i * m] = 1;
      for (lapack_int i = 0; i < vrows && i < n; i++) vt[i + (size_t)i * vrows] = 1;
    }
    char wh[200];
    if (info > 0)
      st = lg_fail(ctx, LG_ERR_RUNTIME, "linalg.svd: %sthe algorithm failed "
                   "to converge", where(wh, sizeof wh, a, nb, e));
    else if (info < 0)
      st = lapack_failed(ctx, "linalg.svd", "dgesdd", info);
    else {
      store(u, nb, e, um, m);
      store_vec(sv, nb, e, s);
      store(vh, nb, e, vt, vrows);
    }
  }
  scratch_free(&sc);
  return st;
}

static lg_status run_qr(lg_ctx *ctx, lg_tensor *a, int opts, lg_tensor *q,
                        lg_tensor *r, int nb, int64_t count) {
  lapack_int m = (lapack_int)a->sizes[a->ndim - 2];
  lapack_int n = (lapack_int)a->sizes[a->ndim - 1];
  lapack_int k = m < n ? m : n, lda = m > 0 ? m : 1;
  bool complete = opts & LG_LINALG_FULL, want_q = !(opts & LG_LINALG_NO_Q);
  lapack_int qcols = complete ? m : k, rrows = complete ? m : k;
  lapack_int cols = n > qcols ? n : qcols;
  double wq1 = 0, wq2 = 0, dummy = 0;
  lapack_int info = 0, m1 = -1;
  if (m > 0 && n > 0) dgeqrf_(&m, &n, &dummy, &lda, &dummy, &wq1, &m1, &info);
  if (m > 0 && want_q) dorgqr_(&m, &qcols, &k, &dummy, &lda, &dummy, &wq2, &m1, &info);
  lapack_int lwork = (lapack_int)(wq1 > wq2 ? wq1 : wq2) + 1;
  scratch sc = {ctx, NULL, 0};
  double *mat = NULL;
  size_t sz = (size_t)m * cols + (size_t)k + (size_t)rrows * n + (size_t)lwork;
  lg_status st = scratch_get(&sc, sz, 0, &mat, NULL);
  double *tau = mat + (size_t)m * cols, *rm = tau + k, *work = rm + (size_t)rrows * n;
  for (int64_t e = 0; !st && e < count; e++) {
    load(a, nb, e, mat);
    info = 0;
    if (m > 0 && n > 0) dgeqrf_(&m, &n, mat, &lda, tau, work, &lwork, &info);
    if (info < 0) {
      st = lapack_failed(ctx, "linalg.qr", "dgeqrf", info);
      break;
    }
    for (lapack_int j = 0; j < n; j++)
      for (lapack_int i = 0; i < rrows; i++)
        rm[i + (size_t)j * rrows] = i <= j && i < m ? mat[i + (size_t)j * m] : 0;
    store(r, nb, e, rm, rrows);
    if (!want_q) continue;
    if (m > 0) dorgqr_(&m, &qcols, &k, mat, &lda, tau, work, &lwork, &info);
    if (info < 0) {
      st = lapack_failed(ctx, "linalg.qr", "dorgqr", info);
      break;
    }
    store(q, nb, e, mat, m);
  }
  scratch_free(&sc);
  return st;
}

/* ---- matrix_exp: scaling and squaring of a Taylor series ---------------- */

static double norm1(int64_t n, const double *a) {
  double best = 0;
  for (int64_t j = 0; j < n; j++) {
    double c = 0;
    for (int64_t i = 0; i < n; i++) c += fabs(a[i + j * n]);
    if (c > best) best = c;
  }
  return best;
}

static void gemm(int n, const double *a, const double *b, double *c) {
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n,
              b, n, 0.0, c, n);
}

/* exp(a) into r: a scaled by 2^-s to norm1 <= 1/2, the series summed until
 * its terms no longer change the sum, then squared s times. t1, t2:
 * scratch; a is overwritten. */
static void expm(int n, double *a, double *r, double *t1, double *t2) {
  size_t nn = (size_t)n * n;
  double nrm = norm1(n, a);
  int s = 0;
  if (nrm > 0.5 && isfinite(nrm)) s = (int)ceil(log2(nrm / 0.5));
  if (s > 1000) s = 1000;
  double scale = ldexp(1.0, -s);
  for (size_t i = 0; i < nn; i++) a[i] *= scale;
  memset(r, 0, sizeof(double) * nn);
  memset(t1, 0, sizeof(double) * nn);
  for (int i = 0; i < n; i++) r[i + (size_t)i * n] = t1[i + (size_t)i * n] = 1;
  for (int k = 1; k <= 40; k++) { /* t1 = a^k / k! */
    gemm(n, t1, a, t2);
    for (size_t i = 0; i < nn; i++) t1[i] = t2[i] / k;
    for (size_t i = 0; i < nn; i++) r[i] += t1[i];
    if (norm1(n, t1) <= 1e-18 * norm1(n, r)) break;
  }
  for (int i = 0; i < s; i++) {
    gemm(n, r, r, t2);
    memcpy(r, t2, sizeof(double) * nn);
  }
}

static lg_status run_matrix_exp(lg_ctx *ctx, lg_tensor *a, lg_tensor *out,
                                int nb, int64_t count) {
  int n = (int)a->sizes[a->ndim - 1];
  size_t nn = (size_t)n * n;
  scratch sc = {ctx, NULL, 0};
  double *m = NULL;
  lg_status st = scratch_get(&sc, 4 * nn, 0, &m, NULL);
  for (int64_t e = 0; !st && e < count; e++) {
    load(a, nb, e, m);
    expm(n, m, m + nn, m + 2 * nn, m + 3 * nn);
    store(out, nb, e, m + nn, n);
  }
  scratch_free(&sc);
  return st;
}

/* ---- the kernel of every LAPACK row -------------------------------------- */

/* The output shapes of op on a (sizes[k], ndims[k] per output). */
static int output_shapes(lg_op op, lg_tensor *const *in, int opts,
                         int64_t sizes[3][LG_MAX_DIMS], int ndims[3]) {
  const lg_tensor *a = in[0];
  int nb = a->ndim - 2;
  int64_t m = a->sizes[nb], n = a->sizes[nb + 1], k = m < n ? m : n;
  bool full = opts & LG_LINALG_FULL;
  int n_out = lg_op_num_outputs(op);
  for (int i = 0; i < n_out; i++) {
    memcpy(sizes[i], a->sizes, sizeof(int64_t) * (size_t)a->ndim);
    ndims[i] = a->ndim;
  }
  switch (op) {
    case LG_OP_LINALG_SOLVE:
      memcpy(sizes[0], in[1]->sizes, sizeof(int64_t) * (size_t)in[1]->ndim);
      break;
    case LG_OP_LINALG_SLOGDET: ndims[0] = ndims[1] = nb; break;
    case LG_OP_LINALG_EIGH: ndims[0] = nb + 1; break;
    case LG_OP_LINALG_SVD:
      sizes[0][nb + 1] = full ? m : k;
      ndims[1] = nb + 1, sizes[1][nb] = k;
      sizes[2][nb] = full ? n : k;
      break;
    case LG_OP_LINALG_QR:
      if (opts & LG_LINALG_NO_Q) ndims[0] = 1, sizes[0][0] = 0;
      else sizes[0][nb + 1] = full ? m : k;
      sizes[1][nb] = full ? m : k;
      break;
    default: break;
  }
  return n_out;
}

static lg_status run(lg_ctx *ctx, lg_op op, lg_tensor *const *in, int opts,
                     lg_tensor **out) {
  lg_tensor *a = in[0];
  int nb = a->ndim - 2;
  int64_t count = lg_shape_numel(nb, a->sizes);
  switch (op) {
    case LG_OP_LINALG_INV: return run_solve(ctx, op, a, NULL, out[0], nb, count);
    case LG_OP_LINALG_SOLVE: return run_solve(ctx, op, a, in[1], out[0], nb, count);
    case LG_OP_LINALG_SLOGDET: return run_slogdet(ctx, a, out[0], out[1], nb, count);
    case LG_OP_LINALG_CHOLESKY: return run_cholesky(ctx, a, out[0], nb, count);
    case LG_OP_LINALG_EIGH:
      return run_eigh(ctx, a, opts & LG_LINALG_UPPER, out[0], out[1], nb, count);
    case LG_OP_LINALG_SVD:
      return run_svd(ctx, a, opts & LG_LINALG_FULL, out[0], out[1], out[2], nb, count);
    case LG_OP_LINALG_QR: return run_qr(ctx, a, opts, out[0], out[1], nb, count);
    default: return run_matrix_exp(ctx, a, out[0], nb, count);
  }
}

lg_status lg_kernel_lapack(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *a = in[0];
  bool square = op != LG_OP_LINALG_SVD && op != LG_OP_LINALG_QR;
  lg_status st = op == LG_OP_LINALG_SOLVE
                     ? check_solve(ctx, a, in[1])
                     : check_matrix(ctx, public_name(op), a, square);
  if (st) return st;
  int opts = (int)p->scalar_int;
  int64_t sizes[3][LG_MAX_DIMS];
  int ndims[3];
  int n_out = output_shapes(op, in, opts, sizes, ndims);
  /* a given out[0] (out=) is retained by lg_prepare_out, so on failure
   * every prepared output holds a reference of ours to drop */
  int prepared = 0;
  for (; prepared < n_out && !st; prepared++)
    st = lg_prepare_out(ctx, lg_op_name(op), &out[prepared], a->dtype,
                        ndims[prepared], sizes[prepared]);
  if (st) prepared--; /* the failed one holds nothing */
  if (!st) st = run(ctx, op, in, opts, out);
  if (st)
    for (int i = 0; i < prepared; i++) {
      lg_tensor_release(out[i]);
      out[i] = NULL;
    }
  return st;
}
