/* test_reduce.c: reductions, max/min/argmax over dims and cumsum/cumprod
 * checked against naive loops, contiguous inputs against strided views of
 * the same values (fast path against reference path), and error cases. */
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

/* Allocator that counts live bytes, to catch leaks on every path. */
#include "test_alloc.h"

static test_alloc allocator = TEST_ALLOC_UNLIMITED;

/* One-input op through the public entry point. */
static lg_status run1(lg_ctx *ctx, lg_op op, lg_tensor *x, const lg_params *p,
                      lg_tensor **out) {
  return lg_op_run(ctx, op, 1, &x, p, out);
}

static void release_host(void *ud, void *data) {
  (void)ud;
  free(data);
}

/* A value for flat position i: small, with ties, signs and some zeros. */
static double sample(lg_dtype dtype, int64_t i) {
  static const double table[9] = {-2, -1, 0, 1, 2, 1, -1, 2, 1};
  double v = table[(i * 7 + 3) % 9];
  if (dtype == LG_BOOL) return v != 0;
  if (dtype == LG_UINT8) return fabs(v);
  if (lg_dtype_is_float(dtype)) return v * 0.75 + 0.125 * (double)(i % 4);
  return v;
}

#define NDIM 3
static const int64_t SIZES[NDIM] = {3, 4, 5};
#define NUMEL 60

/* The sample values in shape SIZES, contiguous or as a strided view whose
 * memory order is (dim 2, dim 0, dim 1) with padding between elements. */
static lg_tensor *make_input(lg_ctx *ctx, lg_dtype dtype, bool strided) {
  double values[NUMEL];
  for (int64_t i = 0; i < NUMEL; i++) values[i] = sample(dtype, i);
  if (!strided) return make_tensor(ctx, dtype, NDIM, SIZES, values);
  int64_t strides[NDIM];
  strides[1] = 2;                   /* padding: every other slot */
  strides[0] = strides[1] * SIZES[1];
  strides[2] = strides[0] * SIZES[0];
  size_t bytes = (size_t)(strides[2] * SIZES[2]) * lg_dtype_size(dtype);
  void *data = calloc(1, bytes);
  lg_tensor *t = NULL;
  if (lg_tensor_wrap(ctx, dtype, NDIM, SIZES, strides, data, release_host,
                     NULL, &t) != LG_OK) {
    free(data);
    return NULL;
  }
  for (int64_t i = 0; i < NUMEL; i++) lg_tensor_set(t, i, values[i]);
  return t;
}

/* Naive result of op over one row of values (PyTorch semantics). */
static double naive(lg_op op, const double *v, int n, double param) {
  double acc = 0, m;
  int best = 0;
  switch (op) {
    case LG_OP_SUM:
      for (int i = 0; i < n; i++) acc += v[i];
      return acc;
    case LG_OP_MEAN:
      for (int i = 0; i < n; i++) acc += v[i];
      return acc / n;
    case LG_OP_PROD:
      acc = 1;
      for (int i = 0; i < n; i++) acc *= v[i];
      return acc;
    case LG_OP_AMAX:
    case LG_OP_AMIN:
    case LG_OP_ARGMAX:
    case LG_OP_ARGMIN:
      for (int i = 1; i < n && !isnan(v[best]); i++) {
        bool better = op == LG_OP_AMAX || op == LG_OP_ARGMAX ? v[i] > v[best]
                                                             : v[i] < v[best];
        if (isnan(v[i]) || better) best = i;
      }
      return op == LG_OP_AMAX || op == LG_OP_AMIN ? v[best] : best + 1;
    case LG_OP_ALL:
      for (int i = 0; i < n; i++)
        if (v[i] == 0) return 0;
      return 1;
    case LG_OP_ANY:
      for (int i = 0; i < n; i++)
        if (v[i] != 0) return 1;
      return 0;
    case LG_OP_VAR:
    case LG_OP_STD: {
      double mean = naive(LG_OP_MEAN, v, n, 0);
      for (int i = 0; i < n; i++) acc += (v[i] - mean) * (v[i] - mean);
      acc /= fmax(n - param, 0);
      return op == LG_OP_STD ? sqrt(acc) : acc;
    }
    case LG_OP_LOGSUMEXP:
      m = naive(LG_OP_AMAX, v, n, 0);
      for (int i = 0; i < n; i++) acc += exp(v[i] - m);
      return m + log(acc);
    case LG_OP_NORM:
      if (isinf(param)) {
        acc = fabs(v[0]);
        for (int i = 1; i < n; i++)
          acc = param > 0 ? fmax(acc, fabs(v[i])) : fmin(acc, fabs(v[i]));
        return acc;
      }
      for (int i = 0; i < n; i++)
        acc += param == 0 ? (v[i] != 0) : pow(fabs(v[i]), param);
      return param == 0 ? acc : pow(acc, 1 / param);
    default: return NAN;
  }
}

/* Splits x's values into rows over the reduced dims (mask bit d): rows[o]
 * holds the n values of output o in row-major order. Returns n. */
static int split_rows(const lg_tensor *x, unsigned mask, double rows[][NUMEL],
                      int *n_out) {
  int n_dim = lg_tensor_ndim(x);
  const int64_t *sizes = lg_tensor_sizes(x);
  int counts[NUMEL] = {0};
  int64_t numel = lg_tensor_numel(x);
  for (int64_t i = 0; i < numel; i++) {
    int64_t rest = i, o = 0, scale = 1;
    for (int d = n_dim - 1; d >= 0; d--) {
      int64_t c = rest % sizes[d];
      rest /= sizes[d];
      if (!(mask >> d & 1)) {
        o += c * scale;
        scale *= sizes[d];
      }
    }
    rows[o][counts[o]++] = lg_tensor_get(x, i);
    *n_out = (int)scale;
  }
  return counts[0];
}

static double rows_buf[NUMEL][NUMEL];

/* Runs op over mask (bits of dims) on x, checks shape and values against
 * the naive loop, and returns the result (caller releases). */
static lg_tensor *check_reduce(lg_ctx *ctx, lg_op op, lg_tensor *x,
                               unsigned mask, bool keepdim, double param,
                               const char *what) {
  lg_params p = {0};
  p.scalar[0] = param;
  for (int d = 0; d < NDIM; d++)
    if (mask >> d & 1) p.ints[p.n_ints++] = d == 1 ? -2 : d; /* a negative */
  if (mask == 7 && !keepdim) p.n_ints = 0; /* "all dims" spelled both ways */
  if (keepdim) p.flags |= LG_FLAG_KEEPDIM;
  lg_tensor *out = NULL;
  lg_status st = run1(ctx, op, x, &p, &out);
  if (st != LG_OK) {
    fprintf(stderr, "%s: failed: %s\n", what, lg_ctx_error(ctx));
    test_failures++;
    return NULL;
  }
  int n_out = 1;
  int n = split_rows(x, mask, rows_buf, &n_out);
  double expected[NUMEL];
  for (int o = 0; o < n_out; o++) expected[o] = naive(op, rows_buf[o], n, param);
  /* shape */
  int want_ndim = 0;
  for (int d = 0; d < NDIM; d++) {
    if (mask >> d & 1 && !keepdim) continue;
    int64_t want = mask >> d & 1 ? 1 : SIZES[d];
    if (want_ndim >= lg_tensor_ndim(out) ||
        lg_tensor_sizes(out)[want_ndim] != want) {
      fprintf(stderr, "%s: wrong size at dim %d\n", what, want_ndim);
      test_failures++;
    }
    want_ndim++;
  }
  CHECK(lg_tensor_ndim(out) == want_ndim);
  double tol = lg_tensor_dtype(out) == LG_FLOAT32 ? 2e-6 : 1e-12;
  double scale = 0;
  for (int o = 0; o < n_out; o++)
    if (isfinite(expected[o])) scale = fmax(scale, fabs(expected[o]));
  check_values(what, out, expected, n_out, tol * fmax(scale, 1));
  return out;
}

/* Exact equality of two results (fast path vs reference path). */
static void check_same(const char *what, const lg_tensor *a,
                       const lg_tensor *b) {
  if (!a || !b) return;
  CHECK(lg_tensor_dtype(a) == lg_tensor_dtype(b));
  int64_t n = lg_tensor_numel(a);
  CHECK(n == lg_tensor_numel(b));
  double worst = 0;
  for (int64_t i = 0; i < n && i < lg_tensor_numel(b); i++) {
    double x = lg_tensor_get(a, i), y = lg_tensor_get(b, i);
    if (x == y || (isnan(x) && isnan(y))) continue;
    worst = fmax(worst, isnan(x - y) ? INFINITY : fabs(x - y));
  }
  if (worst > 0) {
    fprintf(stderr, "%s: contiguous and strided differ by %g\n", what, worst);
    test_failures++;
  }
}

static void test_reductions(lg_ctx *ctx) {
  static const lg_dtype dtypes[] = {LG_FLOAT32, LG_FLOAT64, LG_INT32,
                                    LG_INT64, LG_BOOL, LG_UINT8};
  static const lg_op ops[] = {LG_OP_SUM, LG_OP_MEAN, LG_OP_PROD,
                              LG_OP_AMAX, LG_OP_AMIN, LG_OP_ALL, LG_OP_ANY,
                              LG_OP_VAR, LG_OP_STD, LG_OP_LOGSUMEXP,
                              LG_OP_NORM};
  static const double norm_ps[] = {2, 1, 0, 3, 0.5, HUGE_VAL, -HUGE_VAL};
  for (size_t di = 0; di < sizeof dtypes / sizeof *dtypes; di++) {
    lg_dtype dt = dtypes[di];
    lg_tensor *dense = make_input(ctx, dt, false);
    lg_tensor *strided = make_input(ctx, dt, true);
    CHECK(lg_tensor_is_contiguous(dense) && !lg_tensor_is_contiguous(strided));
    for (size_t oi = 0; oi < sizeof ops / sizeof *ops; oi++) {
      lg_op op = ops[oi];
      bool float_only = op == LG_OP_MEAN || op == LG_OP_VAR ||
                        op == LG_OP_STD || op == LG_OP_NORM;
      if (float_only && !lg_dtype_is_float(dt)) {
        lg_tensor *out = NULL;
        CHECK_FAILS(ctx, run1(ctx, op, dense, &(lg_params){0}, &out),
                    "floating point");
        continue;
      }
      int n_params = op == LG_OP_NORM ? 7 : op == LG_OP_VAR || op == LG_OP_STD ? 3 : 1;
      for (int pi = 0; pi < n_params; pi++) {
        double param = op == LG_OP_NORM ? norm_ps[pi] : (double)pi;
        for (unsigned mask = 1; mask < 8; mask++) {
          for (int keep = 0; keep < 2; keep++) {
            char what[160];
            snprintf(what, sizeof what, "%s %s mask %u keepdim %d p %g",
                     lg_op_name(op), lg_dtype_name(dt), mask, keep, param);
            lg_tensor *a = check_reduce(ctx, op, dense, mask, keep, param, what);
            lg_tensor *b = check_reduce(ctx, op, strided, mask, keep, param, what);
            check_same(what, a, b);
            lg_tensor_release(a);
            lg_tensor_release(b);
          }
        }
      }
    }
    lg_tensor_release(dense);
    lg_tensor_release(strided);
  }
}

/* Result dtypes follow PyTorch. */
static void test_dtypes(lg_ctx *ctx) {
  struct { lg_op op; lg_dtype in, out; } cases[] = {
      {LG_OP_SUM, LG_BOOL, LG_INT64},     {LG_OP_SUM, LG_INT32, LG_INT64},
      {LG_OP_SUM, LG_FLOAT32, LG_FLOAT32}, {LG_OP_PROD, LG_UINT8, LG_INT64},
      {LG_OP_AMAX, LG_INT32, LG_INT32},   {LG_OP_AMIN, LG_BOOL, LG_BOOL},
      {LG_OP_ALL, LG_FLOAT64, LG_BOOL},   {LG_OP_ANY, LG_INT64, LG_BOOL},
      {LG_OP_LOGSUMEXP, LG_INT64, LG_FLOAT32},
      {LG_OP_MEAN, LG_FLOAT64, LG_FLOAT64},
      {LG_OP_CUMSUM, LG_INT32, LG_INT64}, {LG_OP_CUMPROD, LG_BOOL, LG_INT64},
      {LG_OP_CUMSUM, LG_FLOAT32, LG_FLOAT32}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lg_tensor *x = make_input(ctx, cases[i].in, false), *out = NULL;
    lg_params p = {0};
    CHECK_OK(ctx, run1(ctx, cases[i].op, x, &p, &out));
    if (out && lg_tensor_dtype(out) != cases[i].out) {
      fprintf(stderr, "%s of %s gave %s\n", lg_op_name(cases[i].op),
              lg_dtype_name(cases[i].in), lg_dtype_name(lg_tensor_dtype(out)));
      test_failures++;
    }
    lg_tensor_release(out);
    lg_tensor_release(x);
  }
}

/* max/min over each dim and argmax/argmin over each dim and flattened. */
static void test_minmax(lg_ctx *ctx) {
  static const lg_dtype dtypes[] = {LG_FLOAT32, LG_FLOAT64, LG_INT32,
                                    LG_INT64, LG_BOOL};
  for (size_t di = 0; di < sizeof dtypes / sizeof *dtypes; di++) {
    lg_tensor *x[2] = {make_input(ctx, dtypes[di], false),
                       make_input(ctx, dtypes[di], true)};
    for (int want_max = 0; want_max < 2; want_max++) {
      lg_op dim_op = want_max ? LG_OP_MAX_DIM : LG_OP_MIN_DIM;
      lg_op arg_op = want_max ? LG_OP_ARGMAX : LG_OP_ARGMIN;
      lg_op val_op = want_max ? LG_OP_AMAX : LG_OP_AMIN;
      for (int dim = -1; dim < NDIM; dim++) { /* -1: flattened argmax */
        for (int keep = 0; keep < 2; keep++) {
          lg_tensor *arg[2] = {NULL, NULL}, *vi[2][2] = {{NULL}};
          for (int s = 0; s < 2; s++) {
            lg_params p = {0};
            p.dim = dim;
            if (dim < 0) p.n_ints = -1;
            if (keep) p.flags = LG_FLAG_KEEPDIM;
            CHECK_OK(ctx, run1(ctx, arg_op, x[s], &p, &arg[s]));
            if (dim >= 0)
              CHECK_OK(ctx, lg_op_run(ctx, dim_op, 1, &x[s], &p, vi[s]));
          }
          unsigned mask = dim < 0 ? 7u : 1u << dim;
          int n_out = 1;
          int n = split_rows(x[0], mask, rows_buf, &n_out);
          double want_idx[NUMEL], want_val[NUMEL];
          for (int o = 0; o < n_out; o++) {
            want_idx[o] = naive(arg_op, rows_buf[o], n, 0);
            want_val[o] = naive(val_op, rows_buf[o], n, 0);
          }
          char what[128];
          snprintf(what, sizeof what, "%s %s dim %d keepdim %d",
                   lg_op_name(arg_op), lg_dtype_name(dtypes[di]), dim, keep);
          for (int s = 0; s < 2; s++) {
            if (!arg[s]) continue;
            CHECK(lg_tensor_dtype(arg[s]) == LG_INT64);
            CHECK(lg_tensor_ndim(arg[s]) ==
                  (keep ? NDIM : dim < 0 ? 0 : NDIM - 1));
            check_values(what, arg[s], want_idx, n_out, 0);
            if (dim >= 0 && vi[s][0]) {
              check_values(what, vi[s][0], want_val, n_out, 0);
              check_values(what, vi[s][1], want_idx, n_out, 0);
              CHECK(lg_tensor_dtype(vi[s][0]) == dtypes[di]);
              CHECK(lg_tensor_dtype(vi[s][1]) == LG_INT64);
              CHECK(lg_tensor_ndim(vi[s][0]) == lg_tensor_ndim(arg[s]));
            }
          }
          check_same(what, arg[0], arg[1]);
          check_same(what, vi[0][0], vi[1][0]);
          for (int s = 0; s < 2; s++) {
            lg_tensor_release(arg[s]);
            lg_tensor_release(vi[s][0]);
            lg_tensor_release(vi[s][1]);
          }
        }
      }
    }
    lg_tensor_release(x[0]);
    lg_tensor_release(x[1]);
  }
}

/* max/argmax/amax with NaN and ties, the indices tensor of max_dim. */
static void test_nan_and_ties(lg_ctx *ctx) {
  int64_t n = 5;
  double v[5] = {1, NAN, 3, NAN, 3};
  lg_tensor *x = make_tensor(ctx, LG_FLOAT32, 1, &n, v), *out[2] = {0};
  lg_params p = {0};
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_MAX_DIM, 1, &x, &p, out));
  if (out[0]) {
    CHECK(isnan(lg_tensor_get(out[0], 0)));
    CHECK(lg_tensor_get_int(out[1], 0) == 2);
  }
  lg_tensor_release(out[0]);
  lg_tensor_release(out[1]);
  CHECK_OK(ctx, run1(ctx, LG_OP_AMIN, x, &p, &out[0]));
  if (out[0]) CHECK(isnan(lg_tensor_get(out[0], 0)));
  lg_tensor_release(out[0]);
  lg_tensor_release(x);
  double w[5] = {2, 5, 5, 1, 1};
  x = make_tensor(ctx, LG_FLOAT64, 1, &n, w);
  CHECK_OK(ctx, run1(ctx, LG_OP_ARGMAX, x, &p, &out[0]));
  if (out[0]) CHECK(lg_tensor_get_int(out[0], 0) == 2);
  lg_tensor_release(out[0]);
  CHECK_OK(ctx, run1(ctx, LG_OP_ARGMIN, x, &p, &out[0]));
  if (out[0]) CHECK(lg_tensor_get_int(out[0], 0) == 4);
  lg_tensor_release(out[0]);
  lg_tensor_release(x);
}

/* logsumexp keeps large and infinite inputs finite where PyTorch does. */
static void test_logsumexp_stable(lg_ctx *ctx) {
  int64_t n = 3;
  double big[3] = {1000, 1000, -1000}, ninf[3] = {-INFINITY, -INFINITY,
                                                  -INFINITY};
  double pinf[3] = {INFINITY, 1, INFINITY}, nan_row[3] = {1, NAN, 2};
  const double *rows[4] = {big, ninf, pinf, nan_row};
  double want[4] = {1000 + log(2.0), -INFINITY, INFINITY, NAN};
  for (int k = 0; k < 4; k++) {
    lg_tensor *x = make_tensor(ctx, LG_FLOAT32, 1, &n, rows[k]), *out = NULL;
    CHECK_OK(ctx, run1(ctx, LG_OP_LOGSUMEXP, x, &(lg_params){0}, &out));
    if (out) check_values("logsumexp special", out, &want[k], 1, 1e-4);
    lg_tensor_release(out);
    lg_tensor_release(x);
  }
}

/* Reductions over empty dims, and 0-d tensors. */
static void test_empty_and_scalar(lg_ctx *ctx) {
  int64_t shape[2] = {0, 3};
  lg_tensor *e = NULL, *out = NULL, *outs[2] = {0};
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 2, shape, &e));
  lg_params p = {0};
  p.n_ints = 1; /* dim 0, the empty one */
  struct { lg_op op; double want; } cases[] = {
      {LG_OP_SUM, 0}, {LG_OP_PROD, 1}, {LG_OP_MEAN, NAN},
      {LG_OP_ALL, 1}, {LG_OP_ANY, 0},  {LG_OP_LOGSUMEXP, -INFINITY},
      {LG_OP_NORM, 0}, {LG_OP_VAR, NAN}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    CHECK_OK(ctx, run1(ctx, cases[i].op, e, &p, &out));
    double want[3] = {cases[i].want, cases[i].want, cases[i].want};
    if (out) check_values(lg_op_name(cases[i].op), out, want, 3, 0);
    lg_tensor_release(out);
    out = NULL;
  }
  /* reducing the non-empty dim of an empty tensor gives an empty result */
  p.ints[0] = 1;
  CHECK_OK(ctx, run1(ctx, LG_OP_AMAX, e, &p, &out));
  if (out) CHECK(lg_tensor_numel(out) == 0 && lg_tensor_sizes(out)[0] == 0);
  lg_tensor_release(out);
  out = NULL;
  p.ints[0] = 0;
  CHECK_FAILS(ctx, run1(ctx, LG_OP_AMAX, e, &p, &out), "non-zero size");
  CHECK_FAILS(ctx, run1(ctx, LG_OP_AMIN, e, &(lg_params){0}, &out),
              "non-zero size");
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_MAX_DIM, 1, &e, &(lg_params){0}, outs),
              "non-zero size");
  CHECK_FAILS(ctx, run1(ctx, LG_OP_ARGMAX, e, &(lg_params){.n_ints = -1},
                           &out), "non-empty");
  lg_tensor_release(e);

  /* 0-d: every reduction returns the element itself (var: NaN) */
  lg_tensor *s = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 0, NULL, 5, &s));
  lg_params q = {0};
  q.n_ints = 1; /* dim 0 of a 0-d tensor is accepted, as in PyTorch */
  CHECK_OK(ctx, run1(ctx, LG_OP_SUM, s, &q, &out));
  if (out) CHECK(lg_tensor_ndim(out) == 0 && lg_tensor_get(out, 0) == 5);
  lg_tensor_release(out);
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_MAX_DIM, 1, &s, &q, outs));
  if (outs[1]) CHECK(lg_tensor_get_int(outs[1], 0) == 1);
  lg_tensor_release(outs[0]);
  lg_tensor_release(outs[1]);
  CHECK_OK(ctx, run1(ctx, LG_OP_CUMSUM, s, &q, &out));
  if (out) CHECK(lg_tensor_get(out, 0) == 5);
  lg_tensor_release(out);
  lg_tensor_release(s);
}

/* cumsum/cumprod along each dim, contiguous and strided, and in place. */
static void test_cumulative(lg_ctx *ctx) {
  static const lg_dtype dtypes[] = {LG_FLOAT32, LG_FLOAT64, LG_INT32,
                                    LG_BOOL};
  for (size_t di = 0; di < sizeof dtypes / sizeof *dtypes; di++) {
    lg_tensor *x[2] = {make_input(ctx, dtypes[di], false),
                       make_input(ctx, dtypes[di], true)};
    for (int prod = 0; prod < 2; prod++) {
      lg_op op = prod ? LG_OP_CUMPROD : LG_OP_CUMSUM;
      for (int dim = 0; dim < NDIM; dim++) {
        double want[NUMEL];
        int64_t step = 1;
        for (int d = dim + 1; d < NDIM; d++) step *= SIZES[d];
        for (int64_t i = 0; i < NUMEL; i++) {
          int64_t c = (i / step) % SIZES[dim];
          double v = lg_tensor_get(x[0], i);
          want[i] = c == 0 ? v : prod ? want[i - step] * v : want[i - step] + v;
        }
        lg_tensor *res[2] = {NULL, NULL};
        char what[96];
        snprintf(what, sizeof what, "%s %s dim %d", lg_op_name(op),
                 lg_dtype_name(dtypes[di]), dim);
        for (int s = 0; s < 2; s++) {
          lg_params p = {0};
          p.dim = dim - NDIM; /* negative dims */
          CHECK_OK(ctx, run1(ctx, op, x[s], &p, &res[s]));
          if (res[s]) check_values(what, res[s], want, NUMEL,
                                   dtypes[di] == LG_FLOAT32 ? 1e-5 : 1e-12);
        }
        check_same(what, res[0], res[1]);
        lg_tensor_release(res[0]);
        lg_tensor_release(res[1]);
        if (dtypes[di] == LG_BOOL) continue;
        /* in place on a copy of the strided view */
        lg_tensor *y = make_input(ctx, dtypes[di], true), *out = NULL;
        lg_params p = {0};
        p.dim = dim;
        p.flags = LG_FLAG_INPLACE;
        CHECK_OK(ctx, run1(ctx, op, y, &p, &out));
        CHECK(out == y);
        check_values(what, y, want, NUMEL,
                     dtypes[di] == LG_FLOAT32 ? 1e-5 : 1e-12);
        lg_tensor_release(out);
        lg_tensor_release(y);
      }
    }
    lg_tensor_release(x[0]);
    lg_tensor_release(x[1]);
  }
}

/* Leading-dim sum of a dense matrix (the bias-gradient shape) equals the
 * strided reference exactly. */
static void test_leading_sum(lg_ctx *ctx) {
  int64_t shape[2] = {37, 11}, tshape[2] = {11, 37};
  double values[37 * 11];
  for (int i = 0; i < 37 * 11; i++) values[i] = sin(i * 0.37) * 3;
  lg_tensor *a = make_tensor(ctx, LG_FLOAT32, 2, shape, values);
  /* the same matrix through a transposed layout */
  float *data = malloc(sizeof(float) * 37 * 11);
  for (int r = 0; r < 37; r++)
    for (int c = 0; c < 11; c++) data[c * 37 + r] = (float)values[r * 11 + c];
  int64_t strides[2] = {1, 37};
  lg_tensor *b = NULL;
  CHECK_OK(ctx, lg_tensor_wrap(ctx, LG_FLOAT32, 2, shape, strides, data,
                               release_host, NULL, &b));
  (void)tshape;
  for (int mean = 0; mean < 2; mean++) {
    lg_params p = {0};
    p.n_ints = 1;
    lg_tensor *ra = NULL, *rb = NULL;
    lg_op op = mean ? LG_OP_MEAN : LG_OP_SUM;
    CHECK_OK(ctx, run1(ctx, op, a, &p, &ra));
    CHECK_OK(ctx, run1(ctx, op, b, &p, &rb));
    check_same("leading sum", ra, rb);
    lg_tensor_release(ra);
    lg_tensor_release(rb);
  }
  lg_tensor_release(a);
  lg_tensor_release(b);
}

/* Sums and means of dense rows (the AVX-512 kernel of sum_rows.c where
 * the machine has it, four rows at a time plus the rest) equal the
 * strided reference path bit for bit: row lengths around the 32 lanes and
 * beyond, row counts around the group of four, float32 and float64, with
 * values of mixed magnitudes, +-1e30 pairs (whose cancellation makes the
 * result depend on the lane order) and an infinity and a NaN. */
static void test_row_sums(lg_ctx *ctx) {
  static const int64_t lengths[] = {1, 5, 16, 31, 32, 33, 47, 64, 100, 1031};
  static const int64_t counts[] = {1, 3, 4, 5, 9};
  static const lg_dtype dtypes[] = {LG_FLOAT32, LG_FLOAT64};
  for (size_t d = 0; d < 2; d++)
    for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++)
      for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        int64_t rows = counts[c], n = lengths[l];
        int64_t shape[2] = {rows, n}, strides[2] = {1, rows};
        double *values = malloc(sizeof(double) * (size_t)(rows * n));
        for (int64_t i = 0; i < rows * n; i++)
          values[i] = sin((double)i * 0.61) * pow(10, (double)(i % 13) - 6);
        /* +-1e30 in two lanes of a row: what survives of the other lanes
         * depends on the lane each element went to and the fold order */
        for (int64_t r = 0; r < rows && n > 17; r++) {
          values[r * n + (5 * r) % n] = 1e30;
          values[r * n + (5 * r + 17) % n] = -1e30;
        }
        if (rows > 2 && n > 40) {
          values[1 * n + 37] = INFINITY;
          values[2 * n + 3] = NAN;
        }
        lg_tensor *a = make_tensor(ctx, dtypes[d], 2, shape, values);
        /* the same matrix stored column by column */
        size_t item = lg_dtype_size(dtypes[d]);
        void *data = malloc(item * (size_t)(rows * n));
        lg_tensor *b = NULL;
        CHECK_OK(ctx, lg_tensor_wrap(ctx, dtypes[d], 2, shape, strides, data,
                                     release_host, NULL, &b));
        for (int64_t r = 0; r < rows; r++)
          for (int64_t i = 0; i < n; i++)
            if (b) lg_tensor_set(b, r * n + i, values[r * n + i]);
        for (int mean = 0; mean < 2; mean++) {
          lg_params p = {0};
          p.n_ints = 1;
          p.ints[0] = 1;
          lg_tensor *ra = NULL, *rb = NULL;
          lg_op op = mean ? LG_OP_MEAN : LG_OP_SUM;
          CHECK_OK(ctx, run1(ctx, op, a, &p, &ra));
          CHECK_OK(ctx, run1(ctx, op, b, &p, &rb));
          char what[96];
          snprintf(what, sizeof what, "%s %s rows %lld x %lld",
                   lg_dtype_name(dtypes[d]), lg_op_name(op), (long long)rows,
                   (long long)n);
          check_same(what, ra, rb);
          lg_tensor_release(ra);
          lg_tensor_release(rb);
        }
        lg_tensor_release(a);
        lg_tensor_release(b);
        free(values);
      }
}

static void test_errors(lg_ctx *ctx) {
  lg_tensor *x = make_input(ctx, LG_FLOAT32, false), *out = NULL;
  lg_tensor *xi = make_input(ctx, LG_INT64, false);
  lg_params p = {0};
  p.n_ints = 1;
  p.ints[0] = 3;
  CHECK_FAILS(ctx, run1(ctx, LG_OP_SUM, x, &p, &out), "out of range");
  p.ints[0] = -4;
  CHECK_FAILS(ctx, run1(ctx, LG_OP_MEAN, x, &p, &out), "out of range");
  p.n_ints = 2;
  p.ints[0] = 1;
  p.ints[1] = -2;
  CHECK_FAILS(ctx, run1(ctx, LG_OP_SUM, x, &p, &out), "twice");
  CHECK_FAILS(ctx, run1(ctx, LG_OP_MEAN, xi, &(lg_params){0}, &out),
              "floating point");
  CHECK_FAILS(ctx, run1(ctx, LG_OP_VAR, xi, &(lg_params){0}, &out),
              "floating point");
  lg_params d = {0};
  d.dim = 5;
  CHECK_FAILS(ctx, run1(ctx, LG_OP_ARGMAX, x, &d, &out), "out of range");
  CHECK_FAILS(ctx, run1(ctx, LG_OP_CUMSUM, x, &d, &out), "out of range");
  lg_tensor *outs[2] = {0};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_MIN_DIM, 1, &x, &d, outs),
              "out of range");
  lg_params inplace = {0};
  inplace.flags = LG_FLAG_INPLACE;
  CHECK_FAILS(ctx, run1(ctx, LG_OP_SUM, x, &inplace, &out), "in-place");
  lg_tensor *b = make_input(ctx, LG_BOOL, false);
  CHECK_FAILS(ctx, run1(ctx, LG_OP_CUMSUM, b, &inplace, &out), "cast");
  lg_tensor_release(b);
  lg_tensor_release(x);
  lg_tensor_release(xi);
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &allocator);
  test_reductions(ctx);
  test_dtypes(ctx);
  test_minmax(ctx);
  test_nan_and_ties(ctx);
  test_logsumexp_stable(ctx);
  test_empty_and_scalar(ctx);
  test_row_sums(ctx);
  test_cumulative(ctx);
  test_leading_sum(ctx);
  test_errors(ctx);
  lg_ctx_free(ctx);
  if (allocator.live_bytes != 0) {
    fprintf(stderr, "leak: %lld bytes still allocated\n", allocator.live_bytes);
    test_failures++;
  }
  return test_report("test_reduce");
}
