/* random.c: the counter-based generator (Philox4x32-10) and the tensors
 * drawn from it: rand, randn, randint, randperm (ops/sample.c has the
 * samplers whose parameters are tensors: bernoulli, normal, multinomial,
 * and the in-place uniform_ and normal_).
 *
 * Invariant: a stream is a pure function of (seed, offset). The key is
 * ctx->seed; the 128-bit counter is ctx->rng_offset, the number of 4-word
 * blocks handed out since the last manual_seed. Every call starts on a
 * fresh block and advances rng_offset by the blocks it used (a partly used
 * last block is dropped), so the same seed and the same calls give the same
 * numbers on every platform and build. The streams are luagrad's own: they
 * are not PyTorch's numbers for the same seed. Inside vmap a draw follows
 * the levels' randomness (vmap.h: fail, one draw for all examples, or one
 * per example, batched). Every fill goes through lg_draw_into, which
 * func.compile's trace records as a plan step (randperm and multinomial
 * are not recorded: a trace that draws them is refused).
 */
#include <math.h>

#include "core.h"
#include "vmap.h"
#include "dtype.h"
#include "random.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* Philox4x32-10 (Salmon et al., SC'11): the counter words are
 * (counter_lo low, counter_lo high, counter_hi low, counter_hi high), the
 * key words (key low, key high). Matches Random123's philox4x32_10. */
void lg_philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo,
               uint32_t out[4]) {
  uint32_t c0 = (uint32_t)counter_lo, c1 = (uint32_t)(counter_lo >> 32);
  uint32_t c2 = (uint32_t)counter_hi, c3 = (uint32_t)(counter_hi >> 32);
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

lg_status lg_check_float_dtype(lg_ctx *ctx, const char *op, lg_dtype dtype) {
  if (lg_dtype_is_float(dtype)) return LG_OK;
  return lg_fail(ctx, LG_ERR_DTYPE,
                 "%s: expected a floating point dtype (float32 or float64), "
                 "got %s", op, lg_dtype_name(dtype));
}

/* Uniform on [0, 1): shape sizes -> out (dtype float32 or float64) */
lg_status lg_rand(lg_ctx *ctx, lg_dtype dtype, int ndim, const int64_t *sizes,
                  lg_tensor **out) {
  *out = NULL;
  lg_status st = lg_check_float_dtype(ctx, "rand", dtype);
  if (st || (st = lg_vmap_random_empty(ctx, "rand", dtype, ndim, sizes, out)))
    return st;
  lg_draw d = {.kind = LG_DRAW_RAND};
  st = lg_draw_into(ctx, &d, NULL, *out);
  return st ? st : lg_vmap_random_wrap(ctx, out);
}

static void fill_rand(lg_stream *s, lg_tensor *out) {
  int64_t n = lg_tensor_numel(out);
  if (out->dtype == LG_FLOAT32) {
    float *o = (float *)(void *)lg_data_ptr(out);
    for (int64_t i = 0; i < n; i++) o[i] = (float)lg_stream_uniform(s, LG_FLOAT32);
  } else {
    double *o = (double *)(void *)lg_data_ptr(out);
    for (int64_t i = 0; i < n; i++) o[i] = lg_stream_uniform(s, out->dtype);
  }
}

/* Standard normal by Box-Muller: each pair of uniforms gives two values.
 * u1 is taken from (0, 1] so log(u1) is finite. */
lg_status lg_randn(lg_ctx *ctx, lg_dtype dtype, int ndim,
                   const int64_t *sizes, lg_tensor **out) {
  *out = NULL;
  lg_status st = lg_check_float_dtype(ctx, "randn", dtype);
  if (st || (st = lg_vmap_random_empty(ctx, "randn", dtype, ndim, sizes, out)))
    return st;
  lg_draw d = {.kind = LG_DRAW_RANDN};
  st = lg_draw_into(ctx, &d, NULL, *out);
  return st ? st : lg_vmap_random_wrap(ctx, out);
}

/* r <- r * scale + shift, in place, r contiguous and floating */
static void affine(lg_tensor *r, double scale, double shift) {
  int64_t n = lg_tensor_numel(r);
  if (r->dtype == LG_FLOAT32) {
    float *o = (float *)(void *)lg_data_ptr(r);
    for (int64_t i = 0; i < n; i++) o[i] = (float)(o[i] * scale + shift);
  } else {
    double *o = (double *)(void *)lg_data_ptr(r);
    for (int64_t i = 0; i < n; i++) o[i] = o[i] * scale + shift;
  }
}

static void fill_randn(lg_stream *s, const lg_draw *d, lg_tensor *out) {
  lg_dtype dtype = out->dtype;
  int64_t n = lg_tensor_numel(out);
  char *data = lg_data_ptr(out);
  size_t item = lg_dtype_size(dtype);
  for (int64_t i = 0; i < n; i += 2) {
    double u1 = 1.0 - lg_stream_uniform(s, dtype); /* (0, 1] */
    double u2 = lg_stream_uniform(s, dtype);
    double radius = sqrt(-2.0 * log(u1));
    double angle = 6.283185307179586476925 * u2;
    lg_store_double(data + (size_t)i * item, dtype, radius * cos(angle));
    if (i + 1 < n)
      lg_store_double(data + (size_t)(i + 1) * item, dtype,
                      radius * sin(angle));
  }
  if (d->affine) affine(out, d->a, d->b);
}

/* uniform_'s values: from + (to - from) u, kept below to where rounding to
 * float32 would reach it */
static void fill_uniform(lg_stream *s, double from, double to, lg_tensor *out) {
  int64_t n = lg_tensor_numel(out);
  double width = to - from;
  if (out->dtype == LG_FLOAT32) {
    float *o = (float *)(void *)lg_data_ptr(out), top = (float)to;
    float below = nextafterf(top, -INFINITY);
    for (int64_t i = 0; i < n; i++) {
      float v = (float)(from + width * lg_stream_uniform(s, LG_FLOAT32));
      o[i] = v < top || from == to ? v : below;
    }
  } else {
    double *o = (double *)(void *)lg_data_ptr(out);
    for (int64_t i = 0; i < n; i++)
      o[i] = from + width * lg_stream_uniform(s, LG_FLOAT64);
  }
}

/* A 64-bit draw modulo (high - low) per element. */
static void fill_randint(lg_stream *s, int64_t low, int64_t high,
                         lg_tensor *out) {
  uint64_t range = (uint64_t)high - (uint64_t)low;
  int64_t n = lg_tensor_numel(out);
  char *data = lg_data_ptr(out);
  size_t item = lg_dtype_size(out->dtype);
  for (int64_t i = 0; i < n; i++) {
    int64_t v = (int64_t)((uint64_t)low + lg_stream_next64(s) % range);
    lg_store_int(data + (size_t)i * item, out->dtype, v);
  }
}

lg_status lg_draw_into(lg_ctx *ctx, const lg_draw *d, lg_tensor *p,
                       lg_tensor *out) {
  bool record = lg_tracing_outside_kernel(ctx);
  if (record) ctx->trace_depth++; /* the draw itself is not the trace's */
  lg_status st = LG_OK;
  if (d->kind == LG_DRAW_BERNOULLI) {
    st = lg_draw_bernoulli(ctx, p, d->a, out);
  } else {
    lg_stream s;
    lg_stream_open(&s, ctx);
    switch (d->kind) {
      case LG_DRAW_RAND: fill_rand(&s, out); break;
      case LG_DRAW_UNIFORM: fill_uniform(&s, d->a, d->b, out); break;
      case LG_DRAW_RANDN: fill_randn(&s, d, out); break;
      case LG_DRAW_RANDINT: fill_randint(&s, d->low, d->high, out); break;
      case LG_DRAW_BERNOULLI: break;
    }
    lg_stream_close(&s);
  }
  if (record) {
    ctx->trace_depth--;
    if (!st) st = lg_trace_draw(ctx, d, p, out);
  }
  return st;
}

/* Smallest and largest values a dtype holds exactly (for randint's range). */
static void dtype_int_range(lg_dtype dtype, int64_t *lo, int64_t *hi) {
  switch (dtype) {
    case LG_BOOL: *lo = 0; *hi = 1; break;
    case LG_UINT8: *lo = 0; *hi = 255; break;
    case LG_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case LG_FLOAT32: *lo = -(1LL << 24); *hi = 1LL << 24; break;
    case LG_FLOAT64: *lo = -(1LL << 53); *hi = 1LL << 53; break;
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
  }
}

/* A 64-bit draw modulo (high - low): the bias is below range / 2^64, far
 * below anything a test can see for ranges under 2^32. */
lg_status lg_randint(lg_ctx *ctx, lg_dtype dtype, int64_t low, int64_t high,
                     int ndim, const int64_t *sizes, lg_tensor **out) {
  *out = NULL;
  if (low >= high)
    return lg_fail(ctx, LG_ERR_ARG,
                   "randint: expected low < high, got low = %lld and high = "
                   "%lld", (long long)low, (long long)high);
  int64_t lo, hi;
  dtype_int_range(dtype, &lo, &hi);
  if (low < lo || high - 1 > hi)
    return lg_fail(ctx, LG_ERR_ARG,
                   "randint: range [%lld, %lld) does not fit dtype %s",
                   (long long)low, (long long)high, lg_dtype_name(dtype));
  lg_status st = lg_vmap_random_empty(ctx, "randint", dtype, ndim, sizes, out);
  if (st) return st;
  lg_draw d = {.kind = LG_DRAW_RANDINT, .low = low, .high = high};
  st = lg_draw_into(ctx, &d, NULL, *out);
  return st ? st : lg_vmap_random_wrap(ctx, out);
}

/* Fisher-Yates over 1..n: a uniformly random permutation (int64, n) */
lg_status lg_randperm(lg_ctx *ctx, int64_t n, lg_tensor **out) {
  *out = NULL;
  if (n < 0)
    return lg_fail(ctx, LG_ERR_ARG,
                   "randperm: expected a non-negative n, got %lld",
                   (long long)n);
  lg_status st = lg_vmap_random_check(ctx, "randperm", false);
  if (st || (st = lg_empty(ctx, LG_INT64, 1, &n, out))) return st;
  int64_t *o = lg_tensor_data(*out);
  for (int64_t i = 0; i < n; i++) o[i] = i + 1;
  lg_stream s;
  lg_stream_open(&s, ctx);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(lg_stream_next64(&s) % (uint64_t)(i + 1));
    int64_t tmp = o[i];
    o[i] = o[j];
    o[j] = tmp;
  }
  lg_stream_close(&s);
  return LG_OK;
}
