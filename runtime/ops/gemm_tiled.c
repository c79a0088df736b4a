/* gemm_tiled.c: cblas gemm, in tiles of C when the product is large, so
 * lg_ctx_interrupt can stop it between tiles: one OpenBLAS call can't be
 * stopped once it runs. A tile holds about TILE_WORK multiply-adds (a few
 * milliseconds on one core); smaller products are one call, so small ops
 * pay one flag load. Tiles are square-ish (side >= 64) so the repacking
 * each call does stays a small fraction of its arithmetic. A product with
 * k = 1 (an outer product) is written directly, not through cblas. */
#include <cblas.h>
#include <math.h>

#include "gemm_tiled.h"

#define TILE_WORK ((int64_t)1 << 27)
#define TILE_MIN 64

/* c = a b^T for k = 1 (an outer product: per-example weight gradients of
 * a linear layer under vmap(grad)) in one pass that only writes c: with
 * beta 0 OpenBLAS first zeroes c and then adds the rank-1 product into it,
 * three passes over a c that may be far larger than the caches. */
#define OUTER_KERNEL(NAME, T)                                                 \
  static void NAME(int64_t m, int64_t n, const T *a, int64_t sa,             \
                   const T *b, int64_t sb, T *c, int64_t ldc) {              \
    for (int64_t i = 0; i < m; i++) {                                        \
      T ai = a[i * sa];                                                      \
      T *restrict row = c + i * ldc;                                         \
      if (sb == 1)                                                           \
        for (int64_t j = 0; j < n; j++) row[j] = ai * b[j];                  \
      else                                                                   \
        for (int64_t j = 0; j < n; j++) row[j] = ai * b[j * sb];             \
    }                                                                        \
  }
OUTER_KERNEL(outer_f32, float)
OUTER_KERNEL(outer_f64, double)

void lg_gemm_call(lg_dtype dtype, bool ta, bool tb, int64_t m, int64_t n,
                      int64_t k, const void *a, int64_t lda, const void *b,
                      int64_t ldb, double beta, void *c, int64_t ldc) {
  if (k == 1 && beta == 0.0) {
    /* op(a) (m,1): a's column (NoTrans, stride lda) or its row; op(b)
     * (1,n): b's row or its column (Trans, stride ldb) */
    int64_t sa = ta ? 1 : lda, sb = tb ? ldb : 1;
    if (dtype == LG_FLOAT32) outer_f32(m, n, a, sa, b, sb, c, ldc);
    else outer_f64(m, n, a, sa, b, sb, c, ldc);
    return;
  }
  CBLAS_TRANSPOSE ta_ = ta ? CblasTrans : CblasNoTrans;
  CBLAS_TRANSPOSE tb_ = tb ? CblasTrans : CblasNoTrans;
  if (dtype == LG_FLOAT32)
    cblas_sgemm(CblasRowMajor, ta_, tb_, (int)m, (int)n, (int)k, 1.0f, a,
                (int)lda, b, (int)ldb, (float)beta, c, (int)ldc);
  else
    cblas_dgemm(CblasRowMajor, ta_, tb_, (int)m, (int)n, (int)k, 1.0, a,
                (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

lg_status lg_gemm(lg_ctx *ctx, lg_dtype dtype, bool ta, bool tb, int64_t m,
                  int64_t n, int64_t k, const void *a, int64_t lda,
                  const void *b, int64_t ldb, double beta, void *c,
                  int64_t ldc) {
  if (lg_interrupt_pending(ctx)) return lg_check_interrupt(ctx);
  int64_t kk = k > 0 ? k : 1;
  if (m * n <= TILE_WORK / kk) {
    lg_gemm_call(dtype, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    return LG_OK;
  }
  int64_t side = (int64_t)sqrt((double)(TILE_WORK / kk));
  side = side < TILE_MIN ? TILE_MIN : side / TILE_MIN * TILE_MIN;
  int64_t rows = m < side ? m : side; /* a thin C gets wider tiles */
  int64_t cols = TILE_WORK / kk / rows;
  cols = cols < TILE_MIN ? TILE_MIN : cols;
  size_t es = lg_dtype_size(dtype);
  const char *pa = a, *pb = b;
  char *pc = c;
  for (int64_t j = 0; j < n; j += cols) {
    int64_t tn = n - j < cols ? n - j : cols;
    /* columns j.. of op(b): b's columns, or its rows when transposed */
    const char *bj = pb + (size_t)(tb ? j * ldb : j) * es;
    for (int64_t i = 0; i < m; i += rows) {
      if (lg_interrupt_pending(ctx)) return lg_check_interrupt(ctx);
      int64_t tm = m - i < rows ? m - i : rows;
      const char *ai = pa + (size_t)(ta ? i : i * lda) * es;
      lg_gemm_call(dtype, ta, tb, tm, tn, k, ai, lda, bj, ldb, beta,
                pc + (size_t)(i * ldc + j) * es, ldc);
    }
  }
  return LG_OK;
}
