/* test_softmax_tail.c: float32 softmax and log_softmax over dense rows of
 * every length 1..50 (rows of 10 classes are all "tail": shorter than the
 * 16 sum lanes) against the kernel's documented arithmetic computed here
 * element by element (nn_loss.c: m = the row's max, e = lg_vexpf(x - m),
 * e added into double lane k mod 16, the lanes folded in order; softmax
 * e * (float)(1 / sum), log_softmax x - (m + log(sum)) in double), bit
 * for bit, at 1 and 2 threads. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "ops.h"
#include "test_util.h"
#include "vmath.h"

#define LANES 16

/* Deterministic values in [-12, 12]. */
static float value(int64_t i) {
  uint32_t h = (uint32_t)(i * 2654435761u);
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  return (float)((double)(h % 24001) / 1000.0 - 12.0);
}

/* The row's softmax (take_log false) or log_softmax as the kernel defines
 * it. */
static void reference(const float *x, float *y, int64_t n, bool take_log) {
  float m = x[0];
  for (int64_t k = 1; k < n; k++) m = x[k] > m ? x[k] : m;
  double acc[LANES] = {0};
  for (int64_t k = 0; k < n; k++) acc[k % LANES] += (double)lg_vexpf(x[k] - m);
  double s = 0;
  for (int k = 0; k < LANES; k++) s += acc[k];
  if (take_log) {
    double lse = (double)m + log(s);
    for (int64_t k = 0; k < n; k++) y[k] = (float)((double)x[k] - lse);
    return;
  }
  float inv = (float)(1.0 / s);
  for (int64_t k = 0; k < n; k++) y[k] = lg_vexpf(x[k] - m) * inv;
}

static void row_case(lg_ctx *ctx, int64_t rows, int64_t n, bool take_log) {
  int64_t sizes[2] = {rows, n};
  lg_tensor *x = NULL, *y = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 2, sizes, &x));
  float *px = (float *)(void *)lg_data_ptr(x);
  for (int64_t i = 0; i < rows * n; i++) px[i] = value(i + 1000 * n);
  lg_params p = {0};
  p.dim = 1;
  CHECK_OK(ctx, lg_op_run(ctx, take_log ? LG_OP_LOG_SOFTMAX : LG_OP_SOFTMAX,
                          1, &x, &p, &y));
  int bad = 0;
  float want[64];
  for (int64_t r = 0; y && r < rows; r++) {
    reference(px + r * n, want, n, take_log);
    const float *got = (const float *)(const void *)lg_data_ptr(y) + r * n;
    bad += memcmp(got, want, (size_t)n * sizeof(float)) != 0;
  }
  CHECKF(bad == 0, "%s rows of %lld: %d of %lld rows differ",
         take_log ? "log_softmax" : "softmax", (long long)n, bad,
         (long long)rows);
  lg_tensor_release(x);
  lg_tensor_release(y);
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  for (int threads = 1; threads <= 2; threads++) {
    lg_ctx_set_num_threads(ctx, threads);
    for (int64_t n = 1; n <= 50; n++) {
      row_case(ctx, 64, n, false);
      row_case(ctx, 64, n, true);
    }
  }
  CHECKF(lg_ctx_bytes_in_use(ctx) == 0, "%zu bytes leaked",
         lg_ctx_bytes_in_use(ctx));
  lg_ctx_free(ctx);
  return test_report("test_softmax_tail");
}
