/* test_pool_max2x2.c: max_pool2d's 2x2 stride-2 window in float32 (which
 * runs 16 windows at a time with AVX-512 where the CPU has it, pool.c)
 * against the same data in float64 (the scalar select loop): the same
 * values and the same indices for every width from 2 to 41 (rows of 1 to
 * 20 windows, a last odd column left out), odd heights, ties (values drawn
 * from three levels, so the first of equals must win) and NaNs (which win
 * over any number, the first NaN of a window kept). */
#include <stdlib.h>

#include "ops.h"
#include "test_util.h"

static void check_width(lg_ctx *ctx, int64_t h, int64_t w, unsigned seed) {
  int64_t sizes[3] = {3, h, w}, n = 3 * h * w;
  lg_tensor *x32 = NULL, *x64 = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 3, sizes, &x32));
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT64, 3, sizes, &x64));
  float *a = lg_tensor_data(x32);
  double *b = lg_tensor_data(x64);
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    unsigned r = (seed >> 16) % 40;
    float v = r == 0 ? NAN : (float)(r % 3) - 1.0f; /* -1, 0, 1 and NaN */
    a[i] = v;
    b[i] = (double)v;
  }
  lg_params p = {0};
  int64_t v[8] = {2, 2, 2, 2, 0, 0, 1, 1};
  memcpy(p.ints, v, sizeof v);
  lg_tensor *o32[2] = {NULL, NULL}, *o64[2] = {NULL, NULL};
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_MAX_POOL2D, 1, &x32, &p, o32));
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_MAX_POOL2D, 1, &x64, &p, o64));
  if (o32[0] && o64[0]) {
    int64_t m = lg_tensor_numel(o32[0]), bad = 0;
    const float *y32 = lg_tensor_data(o32[0]);
    const double *y64 = lg_tensor_data(o64[0]);
    const int64_t *i32 = lg_tensor_data(o32[1]), *i64 = lg_tensor_data(o64[1]);
    for (int64_t i = 0; i < m; i++) {
      bool same = isnan(y64[i]) ? isnan(y32[i]) : (double)y32[i] == y64[i];
      if (!same || i32[i] != i64[i]) bad++;
    }
    CHECKF(bad == 0, "h=%lld w=%lld: %lld windows differ", (long long)h,
           (long long)w, (long long)bad);
  }
  lg_tensor *ts[] = {x32, x64, o32[0], o32[1], o64[0], o64[1]};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lg_tensor_release(ts[i]);
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  for (int threads = 1; threads <= 2; threads++) {
    lg_ctx_set_num_threads(ctx, threads);
    for (int64_t w = 2; w <= 41; w++) check_width(ctx, 5 + w % 4, w, (unsigned)w);
    check_width(ctx, 28, 28, 7); /* the demo CNN's plane */
  }
  lg_ctx_free(ctx);
  return test_report("test_pool_max2x2");
}
