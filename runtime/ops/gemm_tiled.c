/* gemm_tiled.c: cblas gemm, in tiles of C when the product is large, so
 * lg_ctx_interrupt can stop it between tiles: one OpenBLAS call can't be
 * stopped once it runs. A tile holds about TILE_WORK multiply-adds (a few
 * milliseconds on one core); smaller products are one call, so small ops
 * pay one flag load. Tiles are square-ish (side >= 64) so the repacking
 * each call does stays a small fraction of its arithmetic, and of equal
 * size. With several threads the tiles split across the context's pool
 * (while there are few, the grid is cut finer along C's longer side until
 * each thread has a whole number), each tile one lg_gemm_call on its own
 * thread (blas_threads.h). A product with k = 1 (an outer product) is
 * written directly, and a float32 product on a CPU with AVX-512 runs
 * luagrad's own kernel (sgemm_avx512.h); the rest is cblas. */
#include <cblas.h>
#include <math.h>

#include "blas_threads.h"
#include "gemm_tiled.h"
#include "parallel.h"
#include "sgemm_avx512.h"
#include "vmath.h"

#define TILE_WORK ((int64_t)1 << 27)
#define TILE_MIN 64
#define SPLIT_WORK 1048576.0

/* c = a b^T for k = 1 (an outer product: per-example weight gradients of
 * a linear layer under vmap(grad)) in one pass that only writes c: with
 * beta 0 OpenBLAS first zeroes c and then adds the rank-1 product into it,
 * three passes over a c that may be far larger than the caches. Cloned
 * for AVX-512 and AVX2 (vmath.h): the stores are the whole cost. */
#define OUTER_KERNEL(NAME, T)                                                 \
  LG_VECTOR_CLONES static void NAME(int64_t m, int64_t n, const T *a,      \
                                    int64_t sa, const T *b, int64_t sb,     \
                                    T *c, int64_t ldc) {                    \
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

/* lg_gemm_call with the kernel chosen: own, luagrad's AVX-512 sgemm (for
 * every tile of a product it takes, whatever the tile's size). */
static void call_with(bool own, lg_dtype dtype, bool ta, bool tb, int64_t m,
                      int64_t n, int64_t k, const void *a, int64_t lda,
                      const void *b, int64_t ldb, double beta, void *c,
                      int64_t ldc) {
  if (k == 1 && beta == 0.0) {
    /* op(a) (m,1): a's column (NoTrans, stride lda) or its row; op(b)
     * (1,n): b's row or its column (Trans, stride ldb) */
    int64_t sa = ta ? 1 : lda, sb = tb ? ldb : 1;
    if (dtype == LG_FLOAT32) outer_f32(m, n, a, sa, b, sb, c, ldc);
    else outer_f64(m, n, a, sa, b, sb, c, ldc);
    return;
  }
  if (own && lg_sgemm_avx512(ta, tb, m, n, k, a, lda, b, ldb, (float)beta, c, ldc))
    return;
  CBLAS_TRANSPOSE ta_ = ta ? CblasTrans : CblasNoTrans;
  CBLAS_TRANSPOSE tb_ = tb ? CblasTrans : CblasNoTrans;
  if (dtype == LG_FLOAT32)
    cblas_sgemm(CblasRowMajor, ta_, tb_, (int)m, (int)n, (int)k, 1.0f, a,
                (int)lda, b, (int)ldb, (float)beta, c, (int)ldc);
  else
    cblas_dgemm(CblasRowMajor, ta_, tb_, (int)m, (int)n, (int)k, 1.0, a,
                (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void lg_gemm_call(lg_dtype dtype, bool ta, bool tb, int64_t m, int64_t n,
                  int64_t k, const void *a, int64_t lda, const void *b,
                  int64_t ldb, double beta, void *c, int64_t ldc) {
  call_with(dtype == LG_FLOAT32 && lg_sgemm_avx512_takes(m, n, k), dtype, ta,
            tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/* One product cut into a grid of tiles of C (rows x cols each, the last
 * of a row or column of tiles smaller), tile t at grid row t % tiles_m,
 * column t / tiles_m. */
typedef struct gemm_grid {
  lg_dtype dtype;
  bool ta, tb, own; /* own: every tile on luagrad's AVX-512 sgemm */
  int64_t m, n, k, lda, ldb, ldc, rows, cols, tiles_m;
  const char *a, *b;
  char *c;
  double beta;
} gemm_grid;

static void run_tiles(void *arg, int64_t t0, int64_t t1) {
  const gemm_grid *g = arg;
  size_t es = lg_dtype_size(g->dtype);
  for (int64_t t = t0; t < t1; t++) {
    int64_t i = t % g->tiles_m * g->rows, j = t / g->tiles_m * g->cols;
    int64_t tm = g->m - i < g->rows ? g->m - i : g->rows;
    int64_t tn = g->n - j < g->cols ? g->n - j : g->cols;
    /* rows i.. of op(a) (a's columns when transposed); columns j.. of
     * op(b) (b's rows when transposed) */
    const char *ai = g->a + (size_t)(g->ta ? i : i * g->lda) * es;
    const char *bj = g->b + (size_t)(g->tb ? j * g->ldb : j) * es;
    call_with(g->own, g->dtype, g->ta, g->tb, tm, tn, g->k, ai, g->lda, bj,
              g->ldb, g->beta, g->c + (size_t)(i * g->ldc + j) * es, g->ldc);
  }
}

/* n cut into d equal shares, rounded up to a multiple of 16 (a whole
 * number of OpenBLAS's register blocks) when above 16. */
static int64_t share_of(int64_t n, int64_t d) {
  int64_t s = (n + d - 1) / d;
  return s > 16 ? (s + 15) / 16 * 16 : s;
}

lg_status lg_gemm(lg_ctx *ctx, lg_dtype dtype, bool ta, bool tb, int64_t m,
                  int64_t n, int64_t k, const void *a, int64_t lda,
                  const void *b, int64_t ldb, double beta, void *c,
                  int64_t ldc) {
  if (lg_interrupt_pending(ctx)) return lg_check_interrupt(ctx);
  int64_t kk = k > 0 ? k : 1;
  int threads = lg_ctx_num_threads(ctx);
  /* worth the pool's hand-off: about 2^20 multiply-adds or more (a k = 1
   * product is a memory-bound write, split only when large) */
  bool split = threads > 1 && m > 0 && n > 0 &&
               (double)m * (double)n * (double)kk >= SPLIT_WORK &&
               (k > 1 || m * n >= 2 * LG_GRAIN_CHEAP);
  if (!split && m * n <= TILE_WORK / kk) {
    lg_gemm_call(dtype, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    return LG_OK;
  }
  /* tiles_m x tiles_n tiles of about TILE_WORK, square-ish (side >= 64;
   * a thin C gets wider tiles), of equal size (a 1024^3 product cut
   * 320 x 409 left tiles of 64 x 206 at the edges, and the thread with
   * the big ones did 65% of the work) */
  int64_t tiles_m = 1, tiles_n = 1;
  if (m * n > TILE_WORK / kk) {
    int64_t side = (int64_t)sqrt((double)(TILE_WORK / kk));
    side = side < TILE_MIN ? TILE_MIN : side / TILE_MIN * TILE_MIN;
    int64_t rows = m < side ? m : side;
    int64_t cols = TILE_WORK / kk / rows;
    cols = cols < TILE_MIN ? TILE_MIN : cols;
    tiles_m = (m + rows - 1) / rows;
    tiles_n = (n + cols - 1) / cols;
  }
  /* on the pool: a whole number of tiles per thread while tiles are few,
   * more along C's longer side */
  if (split && tiles_m * tiles_n < 8 * threads)
    while ((tiles_m * tiles_n) % threads) {
      if (n / tiles_n >= m / tiles_m) tiles_n++;
      else tiles_m++;
    }
  /* the kernel is the whole product's choice, so a tile cut narrow for
   * the threads keeps the same arithmetic (and bits) */
  bool own = dtype == LG_FLOAT32 && lg_sgemm_avx512_takes(m, n, k);
  gemm_grid g = {dtype, ta, tb, own, m, n, k, lda, ldb, ldc,
                 share_of(m, tiles_m), share_of(n, tiles_n), 0, a, b, c, beta};
  g.tiles_m = (m + g.rows - 1) / g.rows;
  int64_t tiles = g.tiles_m * ((n + g.cols - 1) / g.cols);
  /* OpenBLAS runs each tile on its calling thread (the callers hold the
   * gate at one thread), the tiles split across the context's pool */
  return split ? lg_parallel_for(ctx, tiles, 1, run_tiles, &g)
               : lg_serial_for(ctx, tiles, 1, run_tiles, &g);
}
