/* create.c: tensors made from a rule rather than from data: arange,
 * linspace and eye, computed the way PyTorch's CPU kernels compute them so
 * the values agree to the last bit. */
#include <math.h>

#include "core.h"
#include "dtype.h"

/* start, start + step, ... while below stop (above, for step < 0): out (n)
 * with n = ceil((stop - start) / step). Integer dtypes truncate start and
 * step to integers and count exactly; floating dtypes compute start + i *
 * step in double, then round once to dtype. */
lg_status lg_arange(lg_ctx *ctx, lg_dtype dtype, double start, double stop,
                    double step, lg_tensor **out) {
  *out = NULL;
  if (dtype == LG_BOOL)
    return lg_fail(ctx, LG_ERR_DTYPE, "arange: bool is not supported");
  if (!isfinite(start) || !isfinite(stop) || !isfinite(step))
    return lg_fail(ctx, LG_ERR_ARG,
                   "arange: expected finite start, stop and step, got %g, "
                   "%g, %g", start, stop, step);
  if (step == 0)
    return lg_fail(ctx, LG_ERR_ARG, "arange: step must be nonzero");
  if ((step > 0 && start > stop) || (step < 0 && start < stop))
    return lg_fail(ctx, LG_ERR_ARG,
                   "arange: step %g goes away from stop (start %g, stop %g)",
                   step, start, stop);
  double count = ceil((stop - start) / step);
  if (!(count < 9.0e18))
    return lg_fail(ctx, LG_ERR_MEMORY,
                   "arange: %g elements are too many", count);
  int64_t n = (int64_t)count;
  lg_status st = lg_empty(ctx, dtype, 1, &n, out);
  if (st) return st;
  char *data = lg_tensor_data(*out);
  size_t item = lg_dtype_size(dtype);
  if (lg_dtype_is_float(dtype)) {
    for (int64_t i = 0; i < n; i++)
      lg_store_double(data + (size_t)i * item, dtype, start + step * (double)i);
  } else {
    int64_t first = lg_double_to_int64(start);
    int64_t stride = lg_double_to_int64(step);
    for (int64_t i = 0; i < n; i++) /* in uint64: wraps instead of UB */
      lg_store_int(data + (size_t)i * item, dtype,
                   (int64_t)((uint64_t)first + (uint64_t)i * (uint64_t)stride));
  }
  return LG_OK;
}

/* steps evenly spaced values from start to stop inclusive: out (steps).
 * PyTorch's symmetric formula: the first half counts up from start, the
 * second half down from stop, so both ends are exact. float32 computes in
 * float; the other dtypes in double, then convert (integers truncate). */
lg_status lg_linspace(lg_ctx *ctx, lg_dtype dtype, double start, double stop,
                      int64_t steps, lg_tensor **out) {
  *out = NULL;
  if (steps < 0)
    return lg_fail(ctx, LG_ERR_ARG,
                   "linspace: expected a non-negative number of steps, got "
                   "%lld", (long long)steps);
  lg_status st = lg_empty(ctx, dtype, 1, &steps, out);
  if (st) return st;
  char *data = lg_tensor_data(*out);
  size_t item = lg_dtype_size(dtype);
  if (steps == 1) {
    lg_store_double(data, dtype, start);
    return LG_OK;
  }
  int64_t half = steps / 2;
  if (dtype == LG_FLOAT32) {
    float *o = (float *)(void *)data;
    float fs = (float)start, fe = (float)stop;
    float step = (fe - fs) / (float)(steps - 1);
    for (int64_t i = 0; i < steps; i++)
      o[i] = i < half ? fs + step * (float)i
                      : fe - step * (float)(steps - i - 1);
    return LG_OK;
  }
  double step = (stop - start) / (double)(steps - 1);
  for (int64_t i = 0; i < steps; i++)
    lg_store_double(data + (size_t)i * item, dtype,
                    i < half ? start + step * (double)i
                             : stop - step * (double)(steps - i - 1));
  return LG_OK;
}

/* Ones on the main diagonal: out (n, m) */
lg_status lg_eye(lg_ctx *ctx, lg_dtype dtype, int64_t n, int64_t m,
                 lg_tensor **out) {
  *out = NULL;
  if (n < 0 || m < 0)
    return lg_fail(ctx, LG_ERR_ARG,
                   "eye: expected non-negative sizes, got %lld x %lld",
                   (long long)n, (long long)m);
  if ((unsigned)dtype >= LG_NUM_DTYPES)
    return lg_fail(ctx, LG_ERR_DTYPE, "eye: unknown dtype %d", (int)dtype);
  int64_t sizes[2] = {n, m};
  lg_status st = lg_full(ctx, dtype, 2, sizes, 0.0, out);
  if (st) {
    /* lg_full reports as "empty: ..."; name eye */
    return lg_fail(ctx, st, "eye: %lld x %lld is too large to allocate",
                   (long long)n, (long long)m);
  }
  char *data = lg_tensor_data(*out);
  size_t item = lg_dtype_size(dtype);
  int64_t diag = n < m ? n : m;
  for (int64_t i = 0; i < diag; i++)
    lg_store_int(data + (size_t)(i * m + i) * item, dtype, 1);
  return LG_OK;
}
