/* test_vmath_kernels.c: the eager tanh, exp and sigmoid kernels (the loops
 * that func.compile's fused groups run too) against their references:
 * float32 against vmath.h's scalar function bit for bit and within the
 * function's ulp bound of double libm, float64 against libm bit for bit
 * (tanh, exp) or within 2 ulp (sigmoid), over odd sizes (the SIMD loops'
 * tails), strided views (the iterator's strided loop) and 1, 2 and 3
 * threads on a large tensor (bit-identical results). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "test_util.h"
#include "vmath.h"

static double sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }
/* float64 sigmoid as elementwise.c computes it (two branches) */
static double sigmoid_f64(double x) {
  return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

typedef struct op_case {
  const char *name;
  lg_op op;
  float (*f32)(float);       /* the kernel's float32 function            */
  double (*f64)(double);     /* the kernel's float64 function            */
  double (*ref)(double);     /* exact enough reference                   */
  double bound;              /* ulps of the float32 result against ref   */
} op_case;

static const op_case CASES[] = {
    {"tanh", LG_OP_TANH, lg_vtanhf, tanh, tanh, 3.0},
    {"exp", LG_OP_EXP, lg_vexpf, exp, exp, 1.0},
    {"sigmoid", LG_OP_SIGMOID, lg_vsigmoidf, sigmoid_f64, sigmoid_ref, 2.5},
};

/* |got - want| in units of the last place of the float nearest want. */
static double ulp_error(float got, double want) {
  if (isnan(want) || isnan(got)) return isnan(want) == isnan(got) ? 0 : 1e9;
  float w = (float)want;
  if (isinf(w) || isinf(got)) return got == w ? 0 : 1e9;
  int e;
  frexpf(w == 0 ? FLT_MIN : w, &e);
  return fabs((double)got - want) / ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
}

static bool same_bits_f(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }
static bool same_bits_d(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

/* Input value i: spread over [-12, 12] with the specials mixed in. */
static double input(int64_t i) {
  static const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, NAN,
                                    1e-40, -1e-30, 9.05, -9.2, 88.0, 0.625};
  if (i % 13 == 5) return specials[(i / 13) % 11];
  return (double)((i * 7919) % 24001 - 12000) / 1000.0;
}

/* Runs op over a float tensor of n elements (contiguous, or every third
 * element of a wrapped buffer) and checks each result. */
static void check_size(lg_ctx *ctx, const op_case *c, lg_dtype dtype,
                       int64_t n, bool strided) {
  size_t item = lg_dtype_size(dtype);
  int64_t step = strided ? 3 : 1;
  char *buf = calloc((size_t)(n * step + 1), item);
  if (!buf) {
    CHECK(buf != NULL);
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    if (dtype == LG_FLOAT32) ((float *)(void *)buf)[i * step] = (float)input(i);
    else ((double *)(void *)buf)[i * step] = input(i);
  }
  lg_tensor *x = NULL, *y = NULL;
  int64_t sizes[1] = {n}, strides[1] = {step};
  CHECK_OK(ctx, lg_tensor_wrap(ctx, dtype, 1, sizes, strides, buf, NULL, NULL, &x));
  CHECK_OK(ctx, lg_op_run(ctx, c->op, 1, &x, NULL, &y));
  if (y) {
    int64_t bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
      if (dtype == LG_FLOAT32) {
        float xi = ((const float *)(void *)buf)[i * step];
        float got = ((const float *)lg_tensor_data(y))[i];
        double err = ulp_error(got, c->ref((double)xi));
        if (err > worst) worst = err;
        if (!same_bits_f(got, c->f32(xi)) || !(err <= c->bound)) bad++;
      } else {
        double xi = ((const double *)(void *)buf)[i * step];
        double got = ((const double *)lg_tensor_data(y))[i];
        if (!same_bits_d(got, c->f64(xi))) bad++;
      }
    }
    CHECKF(bad == 0, "%s %s n=%lld%s: %lld element(s) differ (worst %.2f ulp)",
           c->name, dtype == LG_FLOAT32 ? "float32" : "float64", (long long)n,
           strided ? " strided" : "", (long long)bad, worst);
  }
  lg_tensor_release(y);
  lg_tensor_release(x);
  free(buf);
}

/* Odd sizes around the vector widths (4, 8, 16 floats) and one large. */
static void test_sizes(lg_ctx *ctx) {
  static const int64_t sizes[] = {1, 2, 3, 7, 15, 17, 31, 33, 63, 65, 127, 1000, 4099};
  for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
      for (int strided = 0; strided < 2; strided++) {
        check_size(ctx, &CASES[k], LG_FLOAT32, sizes[s], strided);
        check_size(ctx, &CASES[k], LG_FLOAT64, sizes[s], strided);
      }
}

/* A tensor large enough to split across threads: the same bits for 1, 2
 * and 3 threads (and equal to the scalar function). */
static void test_threads(lg_ctx *ctx) {
  enum { N = 1000003 };
  int64_t sizes[1] = {N};
  lg_tensor *x = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 1, sizes, &x));
  if (!x) return;
  float *xv = lg_tensor_data(x);
  for (int64_t i = 0; i < N; i++) xv[i] = (float)input(i);
  for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
    lg_tensor *y[3] = {NULL, NULL, NULL};
    for (int t = 0; t < 3; t++) {
      lg_ctx_set_num_threads(ctx, t + 1);
      CHECK_OK(ctx, lg_op_run(ctx, CASES[k].op, 1, &x, NULL, &y[t]));
    }
    lg_ctx_set_num_threads(ctx, 1);
    if (y[0] && y[1] && y[2]) {
      const float *a = lg_tensor_data(y[0]), *b = lg_tensor_data(y[1]),
                  *c = lg_tensor_data(y[2]);
      int64_t bad = 0;
      for (int64_t i = 0; i < N; i++)
        if (!same_bits_f(a[i], b[i]) || !same_bits_f(a[i], c[i]) ||
            !same_bits_f(a[i], CASES[k].f32(xv[i])))
          bad++;
      CHECKF(bad == 0, "%s: %lld element(s) differ between thread counts",
             CASES[k].name, (long long)bad);
    }
    for (int t = 0; t < 3; t++) lg_tensor_release(y[t]);
  }
  lg_tensor_release(x);
}

/* tanh's own promises: odd (bitwise), tanh(x) == x below 2^-25, exactly
 * +-1 from 9.02 on (where float tanh rounds to 1), NaN in NaN out. */
static void test_tanh_shape(void) {
  int64_t odd = 0, tiny = 0, sat = 0;
  for (uint32_t u = 0; u < 0x7f800000u; u += 4093) {
    float x;
    memcpy(&x, &u, sizeof x);
    float y = lg_vtanhf(x);
    if (!same_bits_f(lg_vtanhf(-x), -y)) odd++;
    if (x < 0x1p-25f && !same_bits_f(y, x)) tiny++;
    if (x >= 9.02f && y != 1.0f) sat++;
  }
  CHECKF(odd == 0, "tanh(-x) != -tanh(x) for %lld inputs", (long long)odd);
  CHECKF(tiny == 0, "tanh(x) != x for %lld tiny inputs", (long long)tiny);
  CHECKF(sat == 0, "tanh(x) != 1 for %lld inputs >= 9.02", (long long)sat);
  CHECK(isnan(lg_vtanhf(NAN)) && isnan(lg_vtanhf(-NAN)));
  CHECK(lg_vtanhf(INFINITY) == 1.0f && lg_vtanhf(-INFINITY) == -1.0f);
  CHECK(lg_vtanhf(0.0f) == 0.0f && !signbit(lg_vtanhf(0.0f)));
  CHECK(lg_vtanhf(-0.0f) == 0.0f && signbit(lg_vtanhf(-0.0f)));
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  if (!ctx) return 1;
  test_sizes(ctx);
  test_threads(ctx);
  test_tanh_shape();
  lg_ctx_free(ctx);
  return test_report("test_vmath_kernels");
}
