/* test_gemm_split.c: lg_gemm across the context's pool (gemm_tiled.c).
 * Every shape and transpose is checked against a double-precision
 * reference, at 1, 2 and 3 threads, float32 and float64, beta 0 and 1; a
 * product whose tile grid already gives each of 2 threads a whole number
 * of tiles keeps its 1-thread bits there (each tile is the same
 * single-threaded call), and a float32 product that luagrad's AVX-512
 * sgemm takes keeps them at every thread count; and an interrupt
 * requested before the call stops it with LG_ERR_INTERRUPTED. */
#include <stdlib.h>

#include "blas_threads.h"
#include "gemm_tiled.h"
#include "sgemm_avx512.h"
#include "test_util.h"

static double value_at(int64_t i, int salt) {
  return (double)((i * 2654435761u + (uint64_t)salt * 40503u) % 2001) / 1000.0 - 1.0;
}

/* op(x)[r][c] for a row-major x with leading dim ld */
static double at(const void *x, lg_dtype dt, bool t, int64_t ld, int64_t r,
                 int64_t c) {
  int64_t i = t ? c * ld + r : r * ld + c;
  return dt == LG_FLOAT32 ? (double)((const float *)x)[i] : ((const double *)x)[i];
}

static void fill(void *x, lg_dtype dt, int64_t n, int salt) {
  for (int64_t i = 0; i < n; i++) {
    if (dt == LG_FLOAT32) ((float *)x)[i] = (float)value_at(i, salt);
    else ((double *)x)[i] = value_at(i, salt);
  }
}

/* c = op(a) op(b) + beta c0 with ctx's threads; returns c (malloc'd). */
static void *run(lg_ctx *ctx, lg_dtype dt, bool ta, bool tb, int64_t m,
                 int64_t n, int64_t k, const void *a, const void *b,
                 double beta) {
  size_t es = lg_dtype_size(dt);
  void *c = malloc((size_t)(m * n) * es);
  fill(c, dt, m * n, 3);
  lg_blas_enter_count(1);
  CHECK_OK(ctx, lg_gemm(ctx, dt, ta, tb, m, n, k, a, ta ? m : k, b,
                        tb ? k : n, beta, c, n));
  lg_blas_leave();
  return c;
}

static void check_shape(lg_dtype dt, int64_t m, int64_t n, int64_t k,
                        bool same_bits_at_2) {
  size_t es = lg_dtype_size(dt);
  void *a = malloc((size_t)(m * k) * es), *b = malloc((size_t)(k * n) * es);
  void *c0 = malloc((size_t)(m * n) * es);
  fill(a, dt, m * k, 1);
  fill(b, dt, k * n, 2);
  fill(c0, dt, m * n, 3);
  double tol = dt == LG_FLOAT32 ? 1e-4 * (double)k : 1e-12 * (double)k;
  for (int t = 0; t < 4; t++) {
    bool ta = t & 1, tb = t & 2;
    double beta = t == 3 ? 1.0 : 0.0;
    void *one = NULL;
    for (int threads = 1; threads <= 3; threads++) {
      lg_ctx *ctx = lg_ctx_new(NULL, NULL);
      lg_ctx_set_num_threads(ctx, threads);
      void *c = run(ctx, dt, ta, tb, m, n, k, a, b, beta);
      int64_t bad = 0;
      for (int64_t r = 0; r < m; r++)
        for (int64_t q = 0; q < n; q++) {
          double want = beta * at(c0, dt, false, n, r, q);
          for (int64_t p = 0; p < k; p++)
            want += at(a, dt, ta, ta ? m : k, r, p) * at(b, dt, tb, tb ? k : n, p, q);
          if (fabs(at(c, dt, false, n, r, q) - want) > tol) bad++;
        }
      CHECKF(bad == 0, "%s %lldx%lldx%lld ta=%d tb=%d beta=%g threads=%d: %lld wrong",
             dt == LG_FLOAT32 ? "f32" : "f64", (long long)m, (long long)n,
             (long long)k, ta, tb, beta, threads, (long long)bad);
      if (threads == 1) one = c;
      else {
        /* a product luagrad's AVX-512 sgemm takes runs every tile on it:
         * the same bits at every thread count */
        if ((same_bits_at_2 && threads == 2) ||
            (dt == LG_FLOAT32 && lg_sgemm_avx512_takes(m, n, k)))
          CHECKF(memcmp(one, c, (size_t)(m * n) * es) == 0,
                 "%lldx%lldx%lld threads=%d: bits differ from 1 thread",
                 (long long)m, (long long)n, (long long)k, threads);
        free(c);
      }
      lg_ctx_free(ctx);
    }
    free(one);
  }
  free(a);
  free(b);
  free(c0);
}

static void test_interrupt(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  lg_ctx_set_num_threads(ctx, 2);
  int64_t m = 300, n = 300, k = 300;
  float *a = calloc((size_t)(m * k), sizeof *a), *c = calloc((size_t)(m * n), sizeof *c);
  lg_ctx_interrupt(ctx);
  lg_blas_enter_count(1);
  lg_status st = lg_gemm(ctx, LG_FLOAT32, false, false, m, n, k, a, k, a, n,
                         0.0, c, n);
  lg_blas_leave();
  CHECK(st == LG_ERR_INTERRUPTED);
  free(a);
  free(c);
  lg_ctx_free(ctx);
}

int main(void) {
  /* one tile cut per thread along the longer side (a CNN's linear layer:
   * forward, weight and input gradients), odd sizes, a thin k; then
   * products of several tiles */
  check_shape(LG_FLOAT32, 128, 10, 1254, false);
  check_shape(LG_FLOAT32, 10, 1254, 128, false);
  check_shape(LG_FLOAT32, 128, 1254, 10, false);
  check_shape(LG_FLOAT64, 97, 131, 211, false);
  check_shape(LG_FLOAT32, 33, 517, 64, false);
  check_shape(LG_FLOAT32, 1100, 1100, 128, true); /* 2 x 2 tiles */
  check_shape(LG_FLOAT32, 700, 1300, 200, false); /* 1 x 2 at 1 thread, re-cut at 3 */
  check_shape(LG_FLOAT32, 64, 60, 300, false); /* tiles under 32 columns */
  test_interrupt();
  if (test_failures)
    fprintf(stderr, "test_gemm_split: %d failures\n", test_failures);
  return test_failures != 0;
}
