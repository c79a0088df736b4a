/* test_random.c: Philox4x32-10 against Random123's known answers, stream
 * reproducibility, recorded first values of the generators and samplers
 * (they must never change: scripts rely on seeds), ranges, and randperm
 * being a permutation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "test_util.h"


static void test_philox_known_answers(void) {
  /* Random123's kat_vectors for philox4x32_10 */
  static const struct {
    uint64_t key, hi, lo;
    uint32_t out[4];
  } kat[] = {
      {0, 0, 0, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {~0ULL, ~0ULL, ~0ULL, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {0x299f31d0a4093822ULL, 0x0370734413198a2eULL, 0x85a308d3243f6a88ULL,
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
    uint32_t o[4];
    lg_philox(kat[i].key, kat[i].hi, kat[i].lo, o);
    CHECKF(memcmp(o, kat[i].out, sizeof o) == 0,
          "philox kat %zu: got %08x %08x %08x %08x", i, o[0], o[1], o[2],
          o[3]);
  }
}

static void test_same_seed_same_numbers(lg_ctx *ctx) {
  int64_t shape[1] = {37};
  lg_tensor *a = NULL, *b = NULL, *c = NULL;
  lg_ctx_manual_seed(ctx, 1234);
  CHECKF(lg_randn(ctx, LG_FLOAT32, 1, shape, &a) == LG_OK, "%s",
        lg_ctx_error(ctx));
  CHECKF(lg_randn(ctx, LG_FLOAT32, 1, shape, &c) == LG_OK, "%s",
        lg_ctx_error(ctx));
  lg_ctx_manual_seed(ctx, 1234);
  CHECKF(lg_randn(ctx, LG_FLOAT32, 1, shape, &b) == LG_OK, "%s",
        lg_ctx_error(ctx));
  CHECKF(memcmp(lg_tensor_data(a), lg_tensor_data(b), 37 * sizeof(float)) == 0,
        "randn: the same seed gave different numbers");
  CHECKF(memcmp(lg_tensor_data(a), lg_tensor_data(c), 37 * sizeof(float)) != 0,
        "randn: two calls gave the same numbers");
  lg_tensor_release(a);
  lg_tensor_release(b);
  lg_tensor_release(c);
}

/* The first values for seed 42, recorded when the generator was written. */
static void test_recorded_values(lg_ctx *ctx) {
  static const double rand32[4] = {0.61295986175537109, 0.4685865044593811,
                                   0.073231697082519531, 0.34086149930953979};
  static const double randn64[3] = {1.234541820550271, 0.61184993553045863,
                                    -2.9550533475152116};
  static const int64_t randint[5] = {9, 9, 3, 5, 7};
  static const int64_t perm[6] = {1, 3, 6, 2, 5, 4};
  lg_tensor *t = NULL;
  int64_t n4 = 4, n3 = 3, n5 = 5;
  lg_ctx_manual_seed(ctx, 42);
  CHECKF(lg_rand(ctx, LG_FLOAT32, 1, &n4, &t) == LG_OK, "%s", lg_ctx_error(ctx));
  for (int i = 0; t && i < 4; i++)
    CHECKF(lg_tensor_get(t, i) == rand32[i], "rand[%d] = %.17g, recorded %.17g",
          i, lg_tensor_get(t, i), rand32[i]);
  lg_tensor_release(t);
  lg_ctx_manual_seed(ctx, 42);
  CHECKF(lg_randn(ctx, LG_FLOAT64, 1, &n3, &t) == LG_OK, "%s",
        lg_ctx_error(ctx));
  for (int i = 0; t && i < 3; i++)
    CHECKF(fabs(lg_tensor_get(t, i) - randn64[i]) < 1e-15,
          "randn[%d] = %.17g, recorded %.17g", i, lg_tensor_get(t, i),
          randn64[i]);
  lg_tensor_release(t);
  lg_ctx_manual_seed(ctx, 42);
  CHECKF(lg_randint(ctx, LG_INT64, 0, 10, 1, &n5, &t) == LG_OK, "%s",
        lg_ctx_error(ctx));
  for (int i = 0; t && i < 5; i++)
    CHECKF(lg_tensor_get_int(t, i) == randint[i],
          "randint[%d] = %lld, recorded %lld", i,
          (long long)lg_tensor_get_int(t, i), (long long)randint[i]);
  lg_tensor_release(t);
  lg_ctx_manual_seed(ctx, 42);
  CHECKF(lg_randperm(ctx, 6, &t) == LG_OK, "%s", lg_ctx_error(ctx));
  for (int i = 0; t && i < 6; i++)
    CHECKF(lg_tensor_get_int(t, i) == perm[i],
          "randperm[%d] = %lld, recorded %lld", i,
          (long long)lg_tensor_get_int(t, i), (long long)perm[i]);
  lg_tensor_release(t);
}

static void test_ranges(lg_ctx *ctx) {
  int64_t n = 100000;
  lg_tensor *t = NULL;
  lg_ctx_manual_seed(ctx, 7);
  for (int d = 0; d < 2; d++) {
    lg_dtype dtype = d ? LG_FLOAT64 : LG_FLOAT32;
    CHECKF(lg_rand(ctx, dtype, 1, &n, &t) == LG_OK, "%s", lg_ctx_error(ctx));
    double lo = 1, hi = 0, sum = 0;
    for (int64_t i = 0; i < n; i++) {
      double v = lg_tensor_get(t, i);
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      sum += v;
    }
    CHECKF(lo >= 0 && hi < 1, "rand %s: values outside [0, 1): %g %g",
          lg_dtype_name(dtype), lo, hi);
    CHECKF(fabs(sum / (double)n - 0.5) < 0.01, "rand %s: mean %g",
          lg_dtype_name(dtype), sum / (double)n);
    lg_tensor_release(t);
    CHECKF(lg_randn(ctx, dtype, 1, &n, &t) == LG_OK, "%s", lg_ctx_error(ctx));
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
      double v = lg_tensor_get(t, i);
      CHECKF(isfinite(v), "randn: non-finite value");
      s1 += v;
      s2 += v * v;
    }
    double mean = s1 / (double)n, var = s2 / (double)n - mean * mean;
    CHECKF(fabs(mean) < 0.02 && fabs(var - 1) < 0.03,
          "randn %s: mean %g variance %g", lg_dtype_name(dtype), mean, var);
    lg_tensor_release(t);
  }
  int counts[7] = {0};
  CHECKF(lg_randint(ctx, LG_INT32, -3, 4, 1, &n, &t) == LG_OK, "%s",
        lg_ctx_error(ctx));
  for (int64_t i = 0; i < n; i++) {
    int64_t v = lg_tensor_get_int(t, i);
    CHECKF(v >= -3 && v < 4, "randint: %lld outside [-3, 4)", (long long)v);
    if (v >= -3 && v < 4) counts[v + 3]++;
  }
  for (int i = 0; i < 7; i++)
    CHECKF(counts[i] > n / 7 - 1000 && counts[i] < n / 7 + 1000,
          "randint: value %d drawn %d times of %lld", i - 3, counts[i],
          (long long)n);
  lg_tensor_release(t);
  CHECKF(lg_randint(ctx, LG_INT64, 5, 5, 1, &n, &t) == LG_ERR_ARG,
        "randint: empty range accepted");
  CHECKF(lg_randint(ctx, LG_UINT8, 0, 300, 1, &n, &t) == LG_ERR_ARG,
        "randint: range past uint8 accepted");
  CHECKF(lg_rand(ctx, LG_INT64, 1, &n, &t) == LG_ERR_DTYPE,
        "rand: int64 accepted");
}

static void test_randperm(lg_ctx *ctx) {
  for (int64_t n = 0; n < 50; n += 7) {
    lg_tensor *t = NULL;
    CHECKF(lg_randperm(ctx, n, &t) == LG_OK, "%s", lg_ctx_error(ctx));
    char seen[64] = {0};
    for (int64_t i = 0; i < n; i++) {
      int64_t v = lg_tensor_get_int(t, i);
      CHECKF(v >= 1 && v <= n && !seen[v], "randperm(%lld): bad value %lld",
            (long long)n, (long long)v);
      if (v >= 1 && v <= n) seen[v] = 1;
    }
    lg_tensor_release(t);
  }
  lg_tensor *t = NULL;
  CHECKF(lg_randperm(ctx, -1, &t) == LG_ERR_ARG, "randperm(-1) accepted");
}

/* Compares the n values of t with recorded ones (exactly), naming what. */
static void check_recorded(const char *what, lg_tensor *t, const double *want,
                           int n) {
  CHECKF(t && lg_tensor_numel(t) == n, "%s: no result or wrong size", what);
  for (int i = 0; t && i < n; i++)
    CHECKF(lg_tensor_get(t, i) == want[i], "%s[%d] = %.17g, recorded %.17g",
           what, i, lg_tensor_get(t, i), want[i]);
  lg_tensor_release(t);
}

/* The samplers' first values for seed 42 (they must never change either). */
static void test_sampler_recorded_values(lg_ctx *ctx) {
  static const double without[3] = {2, 4, 1}, with[5] = {4, 1, 4, 3, 4};
  static const double coin[6] = {0, 1, 0, 0, 0, 0};
  static const double uniform[3] = {0.2259197623788316, -0.85353652511683231,
                                    0.975437301829021};
  static const double normal[3] = {3.4690836411005419, 2.2236998710609175,
                                   -4.9101066950304233};
  int64_t n4 = 4, n3 = 3, n6 = 6;
  lg_tensor *w = NULL, *half = NULL, *t = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 1, &n4, &w));
  for (int i = 0; w && i < 4; i++) lg_tensor_set(w, i, i + 1);
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 1, &n6, 0.5, &half));
  if (!w || !half) return;
  lg_ctx_manual_seed(ctx, 42);
  CHECK_OK(ctx, lg_multinomial(ctx, w, 3, false, &t));
  check_recorded("multinomial", t, without, 3);
  lg_ctx_manual_seed(ctx, 42);
  CHECK_OK(ctx, lg_multinomial(ctx, w, 5, true, &t));
  check_recorded("multinomial with replacement", t, with, 5);
  lg_ctx_manual_seed(ctx, 42);
  CHECK_OK(ctx, lg_bernoulli(ctx, half, &t));
  check_recorded("bernoulli", t, coin, 6);
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT64, 1, &n3, &t));
  lg_ctx_manual_seed(ctx, 42);
  CHECK_OK(ctx, lg_uniform_(ctx, t, -1, 1));
  check_recorded("uniform_", lg_tensor_retain(t), uniform, 3);
  lg_ctx_manual_seed(ctx, 42);
  CHECK_OK(ctx, lg_normal_(ctx, t, 1, 2));
  check_recorded("normal_", t, normal, 3);
  lg_tensor_release(w);
  lg_tensor_release(half);
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  test_philox_known_answers();
  test_same_seed_same_numbers(ctx);
  test_recorded_values(ctx);
  test_ranges(ctx);
  test_randperm(ctx);
  test_sampler_recorded_values(ctx);
  CHECKF(lg_ctx_bytes_in_use(ctx) == 0, "%zu bytes leaked",
        lg_ctx_bytes_in_use(ctx));
  lg_ctx_free(ctx);
  if (test_failures) fprintf(stderr, "test_random: %d failures\n", test_failures);
  return test_failures != 0;
}
