/* test_vmath.c: the vectorisable float32 functions of runtime/ops/vmath.h
 * against double-precision libm over sweeps of float bit patterns (errors
 * in ulps of the float result), and their special values against glibc's
 * expf, tanhf, logf. Prints the worst error of each function. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "vmath.h"

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* |got - want| in units of the last place of the float nearest want
 * (the ulp of the smallest subnormal below the normal range). */
static double ulp_error(float got, double want) {
  if (isnan(want) || isnan(got)) return isnan(want) == isnan(got) ? 0 : 1e9;
  float w = (float)want; /* inf where the rounded result overflows */
  if (isinf(w) || isinf(got)) return got == w ? 0 : 1e9;
  int e;
  frexpf(w == 0 ? FLT_MIN : w, &e);
  double ulp = ldexp(1.0, (e - 24 < -149 ? -149 : e - 24));
  return fabs((double)got - want) / ulp;
}

static double sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }

typedef float (*vfn)(float);
typedef double (*ref_fn)(double);

/* Worst ulp error of f over the floats from lo to hi (same sign, lo
 * nearer zero), visiting about 3 million bit patterns. */
static double sweep(vfn f, ref_fn ref, float lo, float hi, float *worst_at) {
  uint32_t a, b;
  memcpy(&a, &lo, sizeof a);
  memcpy(&b, &hi, sizeof b);
  uint32_t step = ((b - a) / 3000000) | 1; /* odd: every mantissa pattern */
  double worst = 0;
  for (uint64_t u = a; u <= b; u += step) {
    float x = from_bits((uint32_t)u);
    double err = ulp_error(f(x), ref((double)x));
    if (err > worst) {
      worst = err;
      *worst_at = x;
    }
  }
  return worst;
}

static void check_function(const char *name, vfn f, ref_fn ref, double bound,
                           const float (*ranges)[2], int n_ranges) {
  double worst = 0;
  float at = 0;
  for (int i = 0; i < n_ranges; i++) {
    float w_at = 0;
    double w = sweep(f, ref, ranges[i][0], ranges[i][1], &w_at);
    if (w > worst) {
      worst = w;
      at = w_at;
    }
  }
  printf("%-8s worst error %.3f ulp at %.9g\n", name, worst, (double)at);
  if (!(worst <= bound)) {
    fprintf(stderr, "%s: worst error %.3f ulp at %.9g exceeds %.1f ulp\n",
            name, worst, (double)at, bound);
    test_failures++;
  }
}

/* Kernels through a loop, as the runtime calls them. */
static vfn vexp = lg_vexpf, vtanh = lg_vtanhf, vsig = lg_vsigmoidf,
           vlog = lg_vlogf;

static void test_accuracy(void) {
  static const float exp_ranges[][2] = {{0.0f, 89.0f}, {-0.0f, -104.0f}};
  static const float tanh_ranges[][2] = {{0.0f, 10.0f}, {-0.0f, -10.0f}};
  static const float sig_ranges[][2] = {{0.0f, 20.0f}, {-0.0f, -104.0f}};
  static const float log_ranges[][2] = {{0.0f, 3.0e38f}};
  check_function("exp", vexp, exp, 1.0, exp_ranges, 2);
  check_function("tanh", vtanh, tanh, 3.0, tanh_ranges, 2);
  check_function("sigmoid", vsig, sigmoid_ref, 2.5, sig_ranges, 2);
  check_function("log", vlog, log, 1.0, log_ranges, 1);
}

/* Same value as glibc, NaN matching NaN, signed zeros matching. */
static void check_same(const char *name, float got, float want, float x) {
  bool same = (isnan(got) && isnan(want)) ||
              (got == want && signbit(got) == signbit(want));
  if (!same) {
    fprintf(stderr, "%s(%g): got %.9g, glibc %.9g\n", name, (double)x,
            (double)got, (double)want);
    test_failures++;
  }
}

static void test_special_values(void) {
  const float specials[] = {0.0f,     -0.0f,     INFINITY, -INFINITY, NAN,
                            -NAN,     89.0f,     -104.0f,  -200.0f,   1e30f,
                            -1e30f,   FLT_MIN,   1e-45f,   -1e-45f,   FLT_MAX,
                            -FLT_MAX, 88.72283f, 88.7229f, -103.97f,  -87.5f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
    float x = specials[i];
    /* exp's extremes round alike (both within an ulp); compare exactly
     * where the result is 0, 1, inf or NaN */
    float e = lg_vexpf(x), ge = expf(x);
    if (isnan(ge) || isinf(ge) || ge == 0 || ge == 1) check_same("exp", e, ge, x);
    else CHECK(ulp_error(e, exp((double)x)) <= 1);
    check_same("tanh", lg_vtanhf(x), tanhf(x), x);
    float s = lg_vsigmoidf(x);
    CHECK(isnan(x) ? isnan(s) : ulp_error(s, sigmoid_ref((double)x)) <= 2.5);
    float l = lg_vlogf(x), gl = logf(x);
    if (isnan(gl) || isinf(gl)) check_same("log", l, gl, x);
    else CHECK(ulp_error(l, log((double)x)) <= 1);
  }
}

/* A loop over an array (the vectorised form) equals the scalar calls. */
static void test_loop_matches_scalar(void) {
  enum { N = 1003 };
  static float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = (float)(i - 500) * 0.173f;
  for (int i = 0; i < N; i++) y[i] = lg_vexpf(x[i]);
  for (int i = 0; i < N; i++) CHECK(y[i] == vexp(x[i]));
  for (int i = 0; i < N; i++) y[i] = lg_vtanhf(x[i]);
  for (int i = 0; i < N; i++) CHECK(y[i] == vtanh(x[i]));
}

int main(void) {
  test_accuracy();
  test_special_values();
  test_loop_matches_scalar();
  if (test_failures) fprintf(stderr, "%d check(s) failed\n", test_failures);
  return test_failures != 0;
}
