/* test_util.h: a tiny harness for the C unit tests: CHECK macros that
 * count failures and print where, and helpers to build small tensors. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "luagrad.h"

static int test_failures = 0;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,      \
              #cond);                                                       \
      test_failures++;                                                      \
    }                                                                       \
  } while (0)

/* CHECK with a printf-style message saying what was wrong. */
#define CHECKF(cond, ...)                                                   \
  do {                                                                      \
    if (!(cond)) {                                                          \
      test_failures++;                                                      \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                       \
      fprintf(stderr, __VA_ARGS__);                                         \
      fprintf(stderr, "\n");                                                \
    }                                                                       \
  } while (0)

#define CHECK_OK(ctx, expr)                                                 \
  do {                                                                      \
    lg_status st_ = (expr);                                                 \
    if (st_ != LG_OK) {                                                     \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,  \
              lg_ctx_error(ctx));                                           \
      test_failures++;                                                      \
    }                                                                       \
  } while (0)

#define CHECK_FAILS(ctx, expr, fragment)                                    \
  do {                                                                      \
    lg_status st_ = (expr);                                                 \
    if (st_ == LG_OK || !strstr(lg_ctx_error(ctx), fragment)) {             \
      fprintf(stderr, "%s:%d: expected %s to fail with '%s', got '%s'\n",   \
              __FILE__, __LINE__, #expr, fragment,                          \
              st_ == LG_OK ? "success" : lg_ctx_error(ctx));                \
      test_failures++;                                                      \
    }                                                                       \
  } while (0)

/* Compares every element of t with expected[] (row-major); prints the
 * worst difference on failure. */
static inline void check_values(const char *what, const lg_tensor *t,
                                const double *expected, int64_t n,
                                double tol) {
  if (lg_tensor_numel(t) != n) {
    fprintf(stderr, "%s: expected %lld elements, got %lld\n", what,
            (long long)n, (long long)lg_tensor_numel(t));
    test_failures++;
    return;
  }
  double worst = 0;
  int64_t at = -1;
  for (int64_t i = 0; i < n; i++) {
    double got = lg_tensor_get(t, i), want = expected[i];
    double diff = (isnan(got) && isnan(want)) ? 0 : fabs(got - want);
    if (got == want) diff = 0; /* equal infinities */
    if (!(diff <= worst)) {
      worst = diff;
      at = i;
    }
  }
  if (at >= 0 && !(worst <= tol)) {
    fprintf(stderr, "%s: worst difference %g at %lld (got %.9g, want %.9g)\n",
            what, worst, (long long)at, lg_tensor_get(t, at), expected[at]);
    test_failures++;
  }
}

/* A contiguous tensor of dtype holding values[] in the given shape. */
static inline lg_tensor *make_tensor(lg_ctx *ctx, lg_dtype dtype, int ndim,
                                     const int64_t *sizes,
                                     const double *values) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, dtype, ndim, sizes, &t) != LG_OK) return NULL;
  int64_t n = lg_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) lg_tensor_set(t, i, values[i]);
  return t;
}

static inline int test_report(const char *name) {
  if (test_failures) {
    fprintf(stderr, "%s: %d failure(s)\n", name, test_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

#endif
