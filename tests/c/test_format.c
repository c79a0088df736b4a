/* test_format.c: lg_tensor_format against PyTorch 1.13's str(tensor) for
 * the cases its formatter distinguishes (fixed, integer-valued, scientific,
 * ints, bools, 0-d, empty, non-finite, elided, wrapped suffixes), and the
 * print options kept per context (the Lua spec print_options_spec checks
 * them against PyTorch). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

static int failures;

/* A contiguous tensor holding values (converted to dtype). */
static lg_tensor *make(lg_ctx *ctx, lg_dtype dtype, int ndim,
                       const int64_t *sizes, const double *values) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, dtype, ndim, sizes, &t) != LG_OK) return NULL;
  int64_t n = lg_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) lg_tensor_set(t, i, values[i]);
  return t;
}

/* A tensor of 0, 1, 2, ... scaled. */
static lg_tensor *ramp(lg_ctx *ctx, lg_dtype dtype, int ndim,
                       const int64_t *sizes, double scale) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, dtype, ndim, sizes, &t) != LG_OK) return NULL;
  int64_t n = lg_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) lg_tensor_set(t, i, (double)i * scale);
  return t;
}

static void expect(lg_ctx *ctx, lg_tensor *t, const char *suffix,
                   const char *want, int line) {
  char *got = NULL;
  size_t len = 0;
  if (!t || lg_tensor_format(ctx, t, suffix, &got, &len) != LG_OK) {
    failures++;
    fprintf(stderr, "line %d: format failed: %s\n", line, lg_ctx_error(ctx));
  } else if (strcmp(got, want) != 0 || strlen(got) != len) {
    failures++;
    fprintf(stderr, "line %d:\n  want: %s\n  got:  %s\n", line, want, got);
  }
  lg_string_free(ctx, got, len);
  lg_tensor_release(t);
}
#define EXPECT(t, suffix, want) expect(ctx, t, suffix, want, __LINE__)

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  int64_t s3[1] = {3}, s2[1] = {2}, s22[2] = {2, 2}, s21[2] = {2, 1};
  double nan = NAN, inf = INFINITY;

  EXPECT(make(ctx, LG_FLOAT32, 1, s3, (double[]){1, 2, 3}), NULL,
         "tensor([1., 2., 3.])");
  EXPECT(make(ctx, LG_FLOAT32, 2, s22, (double[]){0.1234, -1.2345, 2, 3}),
         NULL,
         "tensor([[ 0.1234, -1.2345],\n"
         "        [ 2.0000,  3.0000]])");
  EXPECT(make(ctx, LG_INT64, 1, s3, (double[]){1, 2, 3}), NULL,
         "tensor([1, 2, 3])");
  EXPECT(make(ctx, LG_BOOL, 1, s2, (double[]){1, 0}), NULL,
         "tensor([ True, False])");
  EXPECT(make(ctx, LG_BOOL, 2, s21, (double[]){1, 0}), NULL,
         "tensor([[ True],\n        [False]])");
  EXPECT(make(ctx, LG_FLOAT32, 0, NULL, (double[]){3.5}), NULL,
         "tensor(3.5000)");
  EXPECT(make(ctx, LG_FLOAT32, 0, NULL, (double[]){2}), NULL, "tensor(2.)");
  EXPECT(make(ctx, LG_INT64, 0, NULL, (double[]){3}), NULL, "tensor(3)");
  EXPECT(make(ctx, LG_UINT8, 1, s2, (double[]){1, 2}), NULL,
         "tensor([1, 2], dtype=uint8)");
  EXPECT(make(ctx, LG_FLOAT32, 1, s3, (double[]){1e10, 1.5, 3}), NULL,
         "tensor([1.0000e+10, 1.5000e+00, 3.0000e+00])");
  EXPECT(make(ctx, LG_FLOAT32, 1, s2, (double[]){1e-5, 1.5}), NULL,
         "tensor([1.0000e-05, 1.5000e+00])");
  EXPECT(make(ctx, LG_FLOAT32, 1, s3, (double[]){nan, 1, -inf}), NULL,
         "tensor([nan, 1., -inf])");
  EXPECT(make(ctx, LG_FLOAT64, 1, s3, (double[]){nan, 1.5, -inf}), NULL,
         "tensor([   nan, 1.5000,   -inf], dtype=float64)");
  EXPECT(make(ctx, LG_FLOAT32, 1, s2, (double[]){inf, 0}), NULL,
         "tensor([inf, 0.])");
  EXPECT(make(ctx, LG_FLOAT32, 1, s2, (double[]){0, -0.0}), NULL,
         "tensor([0., -0.])");

  int64_t e0[1] = {0}, e03[2] = {0, 3};
  EXPECT(ramp(ctx, LG_FLOAT32, 1, e0, 1), NULL, "tensor([])");
  EXPECT(ramp(ctx, LG_FLOAT32, 2, e03, 1), NULL, "tensor([], size=(0, 3))");
  EXPECT(ramp(ctx, LG_INT64, 2, e03, 1), NULL,
         "tensor([], size=(0, 3), dtype=int64)");
  EXPECT(ramp(ctx, LG_INT64, 1, e0, 1), NULL, "tensor([], dtype=int64)");

  int64_t s2000[1] = {2000}, s100x11[2] = {100, 11}, s40[1] = {40};
  EXPECT(ramp(ctx, LG_FLOAT32, 1, s2000, 1), NULL,
         "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, "
         "1.9980e+03,\n        1.9990e+03])");
  EXPECT(ramp(ctx, LG_INT64, 2, s100x11, 1), NULL,
         "tensor([[   0,    1,    2,  ...,    8,    9,   10],\n"
         "        [  11,   12,   13,  ...,   19,   20,   21],\n"
         "        [  22,   23,   24,  ...,   30,   31,   32],\n"
         "        ...,\n"
         "        [1067, 1068, 1069,  ..., 1075, 1076, 1077],\n"
         "        [1078, 1079, 1080,  ..., 1086, 1087, 1088],\n"
         "        [1089, 1090, 1091,  ..., 1097, 1098, 1099]])");
  EXPECT(ramp(ctx, LG_FLOAT32, 1, s40, 1.0 / 7.0), NULL,
         "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, "
         "1.0000, 1.1429,\n"
         "        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, "
         "2.2857, 2.4286,\n"
         "        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, "
         "3.5714, 3.7143,\n"
         "        3.8571, 4.0000, 4.1429, 4.2857, 4.4286, 4.5714, 4.7143, "
         "4.8571, 5.0000,\n"
         "        5.1429, 5.2857, 5.4286, 5.5714])");
  int64_t s234[3] = {2, 3, 4};
  EXPECT(ramp(ctx, LG_INT64, 3, s234, 1), NULL,
         "tensor([[[ 0,  1,  2,  3],\n"
         "         [ 4,  5,  6,  7],\n"
         "         [ 8,  9, 10, 11]],\n"
         "\n"
         "        [[12, 13, 14, 15],\n"
         "         [16, 17, 18, 19],\n"
         "         [20, 21, 22, 23]]])");

  /* suffixes: inline, and wrapped past the line width */
  EXPECT(make(ctx, LG_FLOAT32, 2, s22, (double[]){2, 2, 2, 2}),
         ", grad_fn=<MulBackward0>",
         "tensor([[2., 2.],\n        [2., 2.]], grad_fn=<MulBackward0>)");
  int64_t s56[2] = {5, 6};
  EXPECT(ramp(ctx, LG_FLOAT32, 2, s56, 1234.5), "grad_fn=<MulBackward0>",
         "tensor([[    0.0000,  1234.5000,  2469.0000,  3703.5000,  4938.0000,  "
         "6172.5000],\n"
         "        [ 7407.0000,  8641.5000,  9876.0000, 11110.5000, 12345.0000, "
         "13579.5000],\n"
         "        [14814.0000, 16048.5000, 17283.0000, 18517.5000, 19752.0000, "
         "20986.5000],\n"
         "        [22221.0000, 23455.5000, 24690.0000, 25924.5000, 27159.0000, "
         "28393.5000],\n"
         "        [29628.0000, 30862.5000, 32097.0000, 33331.5000, 34566.0000, "
         "35800.5000]],\n"
         "       grad_fn=<MulBackward0>)");

  /* a transposed view prints its logical order */
  lg_tensor *m = make(ctx, LG_INT64, 2, s22, (double[]){1, 2, 3, 4}), *mt = NULL;
  int64_t ts[2] = {2, 2}, tst[2] = {1, 2};
  lg_tensor_view_of(ctx, m, 2, ts, tst, 0, &mt);
  EXPECT(mt, NULL, "tensor([[1, 3],\n        [2, 4]])");
  lg_tensor_release(m);

  /* print options belong to a context: another context keeps PyTorch's
   * defaults, and a rejected setting changes nothing */
  lg_ctx *other = lg_ctx_new(NULL, NULL);
  lg_print_options o = lg_ctx_print_options(ctx);
  o.precision = 2;
  o.linewidth = 30;
  if (lg_ctx_set_print_options(ctx, &o) != LG_OK) failures++;
  EXPECT(ramp(ctx, LG_FLOAT32, 1, s40, 1.0 / 7.0), NULL,
         "tensor([0.00, 0.14, 0.29,\n"
         "        0.43, 0.57, 0.71,\n"
         "        0.86, 1.00, 1.14,\n"
         "        1.29, 1.43, 1.57,\n"
         "        1.71, 1.86, 2.00,\n"
         "        2.14, 2.29, 2.43,\n"
         "        2.57, 2.71, 2.86,\n"
         "        3.00, 3.14, 3.29,\n"
         "        3.43, 3.57, 3.71,\n"
         "        3.86, 4.00, 4.14,\n"
         "        4.29, 4.43, 4.57,\n"
         "        4.71, 4.86, 5.00,\n"
         "        5.14, 5.29, 5.43,\n"
         "        5.57])");
  expect(other, make(other, LG_FLOAT32, 1, s2, (double[]){0.5, 1.25}), NULL,
         "tensor([0.5000, 1.2500])", __LINE__);
  lg_print_options bad = o;
  bad.edgeitems = 0;
  if (lg_ctx_set_print_options(ctx, &bad) != LG_ERR_ARG ||
      strstr(lg_ctx_error(ctx), "edgeitems") == NULL ||
      lg_ctx_print_options(ctx).edgeitems != 3) {
    failures++;
    fprintf(stderr, "a bad edgeitems was not refused: %s\n", lg_ctx_error(ctx));
  }
  lg_print_options profile;
  if (lg_print_options_profile("long", &profile) ||
      !lg_print_options_profile("default", &profile) ||
      lg_ctx_set_print_options(ctx, &profile) != LG_OK) {
    failures++;
    fprintf(stderr, "profiles: unknown accepted or default refused\n");
  }
  EXPECT(make(ctx, LG_FLOAT32, 1, s2, (double[]){0.5, 1.25}), NULL,
         "tensor([0.5000, 1.2500])");
  /* the longest value a forced fixed notation can print */
  profile.sci_mode = 0;
  profile.precision = 30;
  lg_ctx_set_print_options(ctx, &profile);
  lg_tensor *huge = make(ctx, LG_FLOAT64, 1, s2, (double[]){-1.7976931348623157e308, 0.5});
  char *text = NULL;
  size_t text_length = 0;
  if (lg_tensor_format(ctx, huge, NULL, &text, &text_length) != LG_OK ||
      strstr(text, "[-179769313486231570") == NULL || text_length < 340 ||
      strstr(text, " 0.500000000000000000000000000000]") == NULL) {
    failures++;
    fprintf(stderr, "DBL_MAX in fixed notation: %s\n", text ? text : "failed");
  }
  lg_string_free(ctx, text, text_length);
  lg_tensor_release(huge);
  lg_ctx_free(other);

  if (lg_ctx_bytes_in_use(ctx) != 0) {
    failures++;
    fprintf(stderr, "%zu bytes leaked\n", lg_ctx_bytes_in_use(ctx));
  }
  lg_ctx_free(ctx);
  if (failures) fprintf(stderr, "test_format: %d failures\n", failures);
  return failures != 0;
}
