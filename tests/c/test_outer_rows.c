/* test_outer_rows.c: the AVX-512 outer-product rows (outer_rows.h)
 * against the plain products, element for element and bit for bit, at
 * every alignment of the output, row lengths below, at and around a
 * vector's lanes, strided a and gapped rows; and matmul's large k = 1
 * batches (the per-example weight gradients of vmap(grad)), which take
 * that path, against the naive reference at 1 and 2 threads. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "ops.h"
#include "outer_rows.h"
#include "test_util.h"

/* Deterministic values in [-1, 1], none zero. */
static double value(int64_t i, int seed) {
  uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(seed * 40503u);
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  return ((double)(h % 2000) + 1.0) / 1000.0 - 1.0005;
}

#define KERNEL_CASE(NAME, T, CALL)                                           \
  /* m rows of n at c + shift elements (row stride ldc), a with stride sa */ \
  static void NAME(int64_t m, int64_t n, int64_t ldc, int64_t sa,            \
                   int shift) {                                              \
    size_t len = (size_t)(m * ldc + 64);                                     \
    T *buf = aligned_alloc(64, ((len * sizeof(T) + 63) / 64) * 64);          \
    T *a = malloc((size_t)(m * sa) * sizeof(T));                             \
    T *b = malloc((size_t)n * sizeof(T));                                    \
    if (!buf || !a || !b) abort();                                           \
    for (int64_t i = 0; i < m * sa; i++) a[i] = (T)value(i, 1);              \
    for (int64_t j = 0; j < n; j++) b[j] = (T)value(j, 2);                   \
    for (size_t i = 0; i < len; i++) buf[i] = (T)7;                          \
    T *c = buf + shift;                                                      \
    if (!CALL(m, n, a, sa, b, c, ldc)) {                                     \
      free(buf), free(a), free(b); /* no AVX-512 here: nothing to test */    \
      return;                                                                \
    }                                                                        \
    int bad = 0;                                                             \
    for (int64_t i = 0; i < m; i++)                                          \
      for (int64_t j = 0; j < ldc; j++) {                                    \
        T want = j < n ? a[i * sa] * b[j] : (T)7;                            \
        if (memcmp(&c[i * ldc + j], &want, sizeof want)) bad++;              \
      }                                                                      \
    for (int s = 0; s < shift; s++) bad += buf[s] != (T)7;                   \
    for (size_t q = (size_t)(shift + m * ldc); q < len; q++)                 \
      bad += buf[q] != (T)7;                                                 \
    CHECKF(bad == 0, "%s: m %lld n %lld ldc %lld sa %lld shift %d: %d wrong", \
           #NAME, (long long)m, (long long)n, (long long)ldc, (long long)sa, \
           shift, bad);                                                      \
    free(buf), free(a), free(b);                                             \
  }
KERNEL_CASE(case_f32, float, lg_outer_rows_f32)
KERNEL_CASE(case_f64, double, lg_outer_rows_f64)

static void test_kernel(void) {
  const int64_t ns[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 128, 784};
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
    for (int shift = 0; shift < 17; shift++) {
      int64_t n = ns[k], m = 5 + shift % 3;
      case_f32(m, n, n, 1, shift);
      case_f64(m, n, n, 1, shift);
      case_f32(m, n, n + 5, 3, shift); /* gapped rows, strided a */
      case_f64(m, n, n + 2, 2, shift);
    }
  case_f32(1, 0, 0, 1, 0); /* empty rows */
}

/* A (B, M, 1) @ (B, 1, N) product of dtype against the reference. */
static void batch_case(lg_ctx *ctx, lg_dtype dt, int64_t B, int64_t M,
                       int64_t N, int threads) {
  lg_ctx_set_num_threads(ctx, threads);
  int64_t sa[3] = {B, M, 1}, sb[3] = {B, 1, N};
  lg_tensor *a = NULL, *b = NULL, *fast = NULL, *slow = NULL;
  CHECK_OK(ctx, lg_empty(ctx, dt, 3, sa, &a));
  CHECK_OK(ctx, lg_empty(ctx, dt, 3, sb, &b));
  for (int64_t i = 0; i < B * M; i++) lg_tensor_set(a, i, value(i, 3));
  for (int64_t i = 0; i < B * N; i++) lg_tensor_set(b, i, value(i, 4));
  lg_tensor *in[2] = {a, b};
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_MATMUL, 2, in, NULL, &fast));
  CHECK_OK(ctx, lg_matmul_reference(ctx, a, b, &slow));
  int64_t n = B * M * N, bad = 0;
  CHECK(fast && (int64_t)lg_tensor_numel(fast) * (int64_t)lg_dtype_size(dt) >=
                    LG_OUTER_ROWS_BYTES);
  for (int64_t i = 0; fast && slow && i < n; i++)
    bad += lg_tensor_get(fast, i) != lg_tensor_get(slow, i);
  CHECKF(bad == 0, "%s (%lld,%lld,1)@(%lld,1,%lld) at %d threads: %lld wrong",
         lg_dtype_name(dt), (long long)B, (long long)M, (long long)B,
         (long long)N, threads, (long long)bad);
  lg_tensor *all[] = {a, b, fast, slow};
  for (int i = 0; i < 4; i++) lg_tensor_release(all[i]);
}

int main(void) {
  test_kernel();
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  for (int threads = 1; threads <= 2; threads++) {
    batch_case(ctx, LG_FLOAT32, 64, 784, 128, threads); /* vmap(grad)'s */
    batch_case(ctx, LG_FLOAT32, 3, 1001, 701, threads); /* ragged rows */
    batch_case(ctx, LG_FLOAT64, 5, 333, 777, threads);
  }
  CHECKF(lg_ctx_bytes_in_use(ctx) == 0, "%zu bytes leaked",
         lg_ctx_bytes_in_use(ctx));
  lg_ctx_free(ctx);
  if (test_failures)
    fprintf(stderr, "test_outer_rows: %d failures\n", test_failures);
  return test_failures != 0;
}
