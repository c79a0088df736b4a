/* test_sgemm_avx512.c: luagrad's own AVX-512 sgemm (sgemm_avx512.c)
 * against a double-precision reference: every transpose, beta 0, 1 and
 * 0.5, sizes cut by every block and panel edge (MR 8, NR 48, KC 384,
 * MC 512, NC 384; edge panels of up to 16, 32 and 47 columns) and sizes
 * under one panel, leading dims wider than the rows, which products it
 * takes on its own, and a c whose beta-0 garbage (NaN) must not leak in.
 * A tile of C computed by its own call has the bits of the same elements
 * in the whole call (what keeps a product split across threads equal to
 * one call). On a CPU without
 * AVX-512 the kernel declines and the test says so. */
#include <stdlib.h>

#include "sgemm_avx512.h"
#include "test_util.h"

static float value_at(int64_t i, int salt) {
  return (float)((i * 2654435761u + (uint64_t)salt * 40503u) % 2001) / 1000.0f - 1.0f;
}

static float *filled(int64_t n, int salt) {
  float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = value_at(i, salt);
  return x;
}

/* op(x)[r][c] of a row-major x with leading dim ld */
static double at(const float *x, bool t, int64_t ld, int64_t r, int64_t c) {
  return x[t ? c * ld + r : r * ld + c];
}

static void check(int64_t m, int64_t n, int64_t k, int pad) {
  for (int t = 0; t < 12; t++) {
    bool ta = t & 1, tb = t & 2;
    float beta = t / 4 == 0 ? 0.0f : t / 4 == 1 ? 1.0f : 0.5f;
    int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    float *a = filled((ta ? k : m) * lda, 1), *b = filled((tb ? n : k) * ldb, 2);
    float *c0 = filled(m * ldc, 3), *c = malloc((size_t)(m * ldc) * sizeof *c);
    memcpy(c, c0, (size_t)(m * ldc) * sizeof *c);
    if (beta == 0.0f)
      for (int64_t i = 0; i < m * ldc; i++) c[i] = NAN; /* only written */
    if (!lg_sgemm_avx512(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc)) {
      CHECKF(!__builtin_cpu_supports("avx512f"),
             "%lldx%lldx%lld: declined on an AVX-512 CPU", (long long)m,
             (long long)n, (long long)k);
      free(a), free(b), free(c0), free(c);
      return;
    }
    int64_t bad = 0;
    for (int64_t r = 0; r < m; r++)
      for (int64_t q = 0; q < n; q++) {
        double want = beta * (double)c0[r * ldc + q];
        for (int64_t p = 0; p < k; p++)
          want += at(a, ta, lda, r, p) * at(b, tb, ldb, p, q);
        double got = c[r * ldc + q];
        if (!(fabs(got - want) <= 1e-5 * (double)k + 1e-5)) bad++;
      }
    /* the gap between rows of c is never written */
    for (int64_t r = 0; r < m; r++)
      for (int64_t q = n; q < ldc; q++)
        if (beta == 0.0f ? !isnan(c[r * ldc + q]) : c[r * ldc + q] != c0[r * ldc + q]) bad++;
    CHECKF(bad == 0, "%lldx%lldx%lld ta=%d tb=%d beta=%g pad=%d: %lld wrong",
           (long long)m, (long long)n, (long long)k, ta, tb, beta, pad,
           (long long)bad);
    /* a tile of c on its own: rows [r0, m), columns [q0, n) */
    int64_t r0 = m / 3, q0 = n / 2;
    if (m - r0 >= 1 && n - q0 >= 1 && beta != 0.5f) {
      float *tile = malloc((size_t)(m * ldc) * sizeof *tile);
      memcpy(tile, c0, (size_t)(m * ldc) * sizeof *tile);
      const float *ai = a + (ta ? r0 : r0 * lda), *bj = b + (tb ? q0 * ldb : q0);
      if (lg_sgemm_avx512(ta, tb, m - r0, n - q0, k, ai, lda, bj, ldb, beta,
                          tile + r0 * ldc + q0, ldc)) {
        int64_t differ = 0;
        for (int64_t r = r0; r < m; r++)
          differ += memcmp(tile + r * ldc + q0, c + r * ldc + q0,
                           (size_t)(n - q0) * sizeof *c) != 0;
        CHECKF(differ == 0, "%lldx%lldx%lld ta=%d tb=%d: a tile's bits differ in %lld rows",
               (long long)m, (long long)n, (long long)k, ta, tb, (long long)differ);
      }
      free(tile);
    }
    free(a), free(b), free(c0), free(c);
  }
}

int main(void) {
  if (!__builtin_cpu_supports("avx512f"))
    printf("test_sgemm_avx512: no AVX-512 on this CPU, checking that it declines\n");
  check(8, 48, 256, 0);      /* one whole tile */
  check(64, 784, 288, 0);    /* conv2's forward block */
  check(13, 530, 11, 3);     /* cut tiles in both directions, a short k */
  check(97, 131, 211, 5);
  check(200, 400, 300, 0);   /* past NC and KC */
  check(530, 60, 40, 2);     /* past MC */
  check(288, 100, 520, 1);   /* two KC blocks and a part */
  check(9, 33, 600, 0);
  /* edge panels of 32 and 16 columns or fewer (the narrow kernels) */
  check(64, 128, 784, 0);    /* two panels and 32 columns */
  check(40, 64, 100, 1);     /* one panel and 16 */
  check(16, 32, 50, 0);
  check(11, 17, 30, 2);
  check(24, 81, 70, 0);      /* 33 columns past a panel: the full kernel */
  /* a x b^T with m < n runs as C^T = b a^T (the smaller operand packed);
   * here the whole product swaps and its tile (67 x 60) does not, and the
   * bits must agree */
  check(100, 120, 90, 0);
  check(32, 512, 512, 0);
  /* any size runs (a thin tile of a product split across threads) */
  check(3, 5, 2, 1);
  check(1, 70, 9, 0);
  check(20, 1, 300, 2);
  /* which products it takes on its own: big and wide enough */
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  CHECK(lg_sgemm_avx512_takes(64, 784, 288) == avx512);
  CHECK(!lg_sgemm_avx512_takes(4, 4, 4));
  CHECK(!lg_sgemm_avx512_takes(7, 4000, 4000));
  CHECK(!lg_sgemm_avx512_takes(512, 16, 512));
  CHECK(!lg_sgemm_avx512_takes(512, 512, 4));
  if (test_failures)
    fprintf(stderr, "test_sgemm_avx512: %d failures\n", test_failures);
  return test_failures != 0;
}
