/* test_core.c: storage and views, the broadcasting iterator, type
 * promotion, the elementwise kernels (fast contiguous path against the
 * strided path), in-place writes, and allocation failure. */
#include <stdlib.h>

#include "test_alloc.h"
#include "test_util.h"

static void test_storage_and_views(lg_ctx *ctx) {
  int64_t shape[2] = {2, 3};
  lg_tensor *a = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 2, shape, 2.5, &a));
  CHECK(lg_tensor_numel(a) == 6);
  CHECK(lg_tensor_is_contiguous(a));
  CHECK(lg_tensor_strides(a)[0] == 3 && lg_tensor_strides(a)[1] == 1);
  CHECK(lg_ctx_bytes_in_use(ctx) >= 24);
  lg_tensor *r = lg_tensor_retain(a);
  CHECK(r == a);
  lg_tensor_release(r);
  /* in-place write bumps the version counter */
  uint64_t v0 = lg_tensor_version(a);
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE;
  p.scalar[0] = 7;
  lg_tensor *out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_FILL, 1, &a, &p, &out));
  CHECK(out == a);
  CHECK(lg_tensor_version(a) == v0 + 1);
  CHECK(lg_tensor_get(a, 5) == 7);
  lg_tensor_release(out);
  lg_tensor_release(a);
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);
  /* impossible sizes fail cleanly */
  int64_t huge[2] = {INT64_MAX / 2, 4};
  lg_tensor *h = NULL;
  CHECK_FAILS(ctx, lg_empty(ctx, LG_FLOAT32, 2, huge, &h), "too large");
  int64_t negative[1] = {-3};
  CHECK_FAILS(ctx, lg_empty(ctx, LG_FLOAT32, 1, negative, &h), "non-negative");
  CHECK(h == NULL);
}

static void test_wrap(lg_ctx *ctx) {
  float host[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[2] = {2, 3}, strides[2] = {1, 2}; /* column-major view */
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_tensor_wrap(ctx, LG_FLOAT32, 2, shape, strides, host, NULL,
                               NULL, &t));
  CHECK(!lg_tensor_is_contiguous(t));
  CHECK(lg_tensor_get(t, 1) == 3); /* element (0,1) */
  CHECK(lg_tensor_data(t) == (void *)host);
  lg_tensor *c = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CLONE, 1, &t, NULL, &c));
  double want[6] = {1, 3, 5, 2, 4, 6};
  check_values("clone of a strided view", c, want, 6, 0);
  lg_tensor_release(c);
  lg_tensor_release(t);
}

/* The same binary op on contiguous and on strided operands must agree. */
static void test_binary_paths(lg_ctx *ctx, lg_op op, lg_dtype dtype) {
  enum { R = 5, C = 7 };
  double a_vals[R * C], b_vals[R * C];
  for (int i = 0; i < R * C; i++) {
    a_vals[i] = (i % 11) - 4.5;
    b_vals[i] = ((i * 7) % 5) + 0.5;
  }
  int64_t shape[2] = {R, C};
  lg_tensor *a = make_tensor(ctx, dtype, 2, shape, a_vals);
  lg_tensor *b = make_tensor(ctx, dtype, 2, shape, b_vals);
  /* strided copies: the transpose of a contiguous (C, R) tensor */
  double at_vals[R * C], bt_vals[R * C];
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++) {
      at_vals[j * R + i] = a_vals[i * C + j];
      bt_vals[j * R + i] = b_vals[i * C + j];
    }
  int64_t tshape[2] = {C, R};
  lg_tensor *at = make_tensor(ctx, dtype, 2, tshape, at_vals);
  lg_tensor *bt = make_tensor(ctx, dtype, 2, tshape, bt_vals);
  int64_t strides[2] = {1, R};
  lg_tensor *av = NULL, *bv = NULL;
  CHECK_OK(ctx, lg_tensor_wrap(ctx, dtype, 2, shape, strides,
                               lg_tensor_data(at), NULL, NULL, &av));
  CHECK_OK(ctx, lg_tensor_wrap(ctx, dtype, 2, shape, strides,
                               lg_tensor_data(bt), NULL, NULL, &bv));
  lg_tensor *fast = NULL, *slow = NULL;
  lg_tensor *in_fast[2] = {a, b}, *in_slow[2] = {av, bv};
  CHECK_OK(ctx, lg_op_run(ctx, op, 2, in_fast, NULL, &fast));
  CHECK_OK(ctx, lg_op_run(ctx, op, 2, in_slow, NULL, &slow));
  if (fast && slow) {
    double expected[R * C];
    for (int i = 0; i < R * C; i++) expected[i] = lg_tensor_get(fast, i);
    char what[64];
    snprintf(what, sizeof what, "%s %s strided", lg_op_name(op),
             lg_dtype_name(dtype));
    check_values(what, slow, expected, R * C, 0);
  }
  lg_tensor *all[] = {a, b, at, bt, av, bv, fast, slow};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
}

static void test_broadcast_and_promotion(lg_ctx *ctx) {
  int64_t s23[2] = {2, 3}, s3[1] = {3}, s21[2] = {2, 1};
  double v6[6] = {1, 2, 3, 4, 5, 6}, v3[3] = {10, 20, 30}, v2[2] = {100, 200};
  lg_tensor *a = make_tensor(ctx, LG_INT32, 2, s23, v6);
  lg_tensor *b = make_tensor(ctx, LG_FLOAT32, 1, s3, v3);
  lg_tensor *c = make_tensor(ctx, LG_INT64, 2, s21, v2);
  lg_tensor *out = NULL;
  lg_tensor *ab[2] = {a, b};
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_ADD, 2, ab, NULL, &out));
  CHECK(lg_tensor_dtype(out) == LG_FLOAT32);
  double want_ab[6] = {11, 22, 33, 14, 25, 36};
  check_values("int32 + float32 broadcast", out, want_ab, 6, 0);
  lg_tensor_release(out);
  lg_tensor *ac[2] = {a, c};
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_MUL, 2, ac, NULL, &out));
  CHECK(lg_tensor_dtype(out) == LG_INT64);
  double want_ac[6] = {100, 200, 300, 800, 1000, 1200};
  check_values("int32 * int64 column", out, want_ac, 6, 0);
  lg_tensor_release(out);
  /* true division of integers gives float32 */
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_DIV, 2, ac, NULL, &out));
  CHECK(lg_tensor_dtype(out) == LG_FLOAT32);
  lg_tensor_release(out);
  /* int tensor + 2.5 -> float32; int tensor + 2 stays int32 */
  lg_params p = {0};
  p.flags = LG_FLAG_SCALAR_B;
  p.scalar[0] = 2.5;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_ADD, 1, &a, &p, &out));
  CHECK(lg_tensor_dtype(out) == LG_FLOAT32);
  lg_tensor_release(out);
  p.flags = LG_FLAG_SCALAR_B | LG_FLAG_SCALAR_INT;
  p.scalar_int = 2;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_ADD, 1, &a, &p, &out));
  CHECK(lg_tensor_dtype(out) == LG_INT32);
  lg_tensor_release(out);
  /* 10 - a: scalar on the left */
  p.flags = LG_FLAG_SCALAR_A | LG_FLAG_SCALAR_INT;
  p.scalar_int = 10;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SUB, 1, &a, &p, &out));
  double want_rsub[6] = {9, 8, 7, 6, 5, 4};
  check_values("10 - a", out, want_rsub, 6, 0);
  lg_tensor_release(out);
  /* integer division by zero is an error, not a trap */
  p.flags = LG_FLAG_SCALAR_B | LG_FLAG_SCALAR_INT;
  p.scalar_int = 0;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_FLOOR_DIVIDE, 1, &a, &p, &out),
              "division by zero");
  /* shapes that do not broadcast */
  int64_t s4[1] = {4};
  lg_tensor *d = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 1, s4, 1, &d));
  lg_tensor *ad[2] = {a, d};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_ADD, 2, ad, NULL, &out),
              "add: shapes {2,3} and {4} are not broadcastable");
  /* in place: a float result can't go into an int tensor */
  p.flags = LG_FLAG_SCALAR_B | LG_FLAG_INPLACE;
  p.scalar[0] = 0.5;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_MUL, 1, &a, &p, &out), "can't be cast");
  /* in place into float32 from a float64 operand is allowed */
  lg_tensor *e = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 1, s3, 0.5, &e));
  lg_tensor *be[2] = {b, e};
  p.flags = LG_FLAG_INPLACE;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_ADD, 2, be, &p, &out));
  CHECK(out == b && lg_tensor_dtype(b) == LG_FLOAT32);
  CHECK(lg_tensor_get(b, 2) == 30.5);
  lg_tensor_release(out);
  lg_tensor *all[] = {a, b, c, d, e};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
}

static void test_unary(lg_ctx *ctx) {
  int64_t s[1] = {5};
  double x[5] = {-2, -0.5, 0, 0.5, 3};
  lg_tensor *t = make_tensor(ctx, LG_FLOAT64, 1, s, x);
  struct { lg_op op; double (*ref)(double); } cases[] = {
      {LG_OP_EXP, exp}, {LG_OP_TANH, tanh}, {LG_OP_SIN, sin},
      {LG_OP_FLOOR, floor}, {LG_OP_ABS, fabs}, {LG_OP_ERF, erf},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    lg_tensor *out = NULL;
    CHECK_OK(ctx, lg_op_run(ctx, cases[k].op, 1, &t, NULL, &out));
    double want[5];
    for (int i = 0; i < 5; i++) want[i] = cases[k].ref(x[i]);
    check_values(lg_op_name(cases[k].op), out, want, 5, 1e-15);
    lg_tensor_release(out);
  }
  /* sigmoid is stable for large inputs */
  double big[5] = {-1000, -50, 0, 50, 1000};
  lg_tensor *b = make_tensor(ctx, LG_FLOAT32, 1, s, big), *out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SIGMOID, 1, &b, NULL, &out));
  double want_sig[5] = {0, 1.9287498479639178e-22, 0.5, 1, 1};
  check_values("sigmoid", out, want_sig, 5, 1e-7);
  lg_tensor_release(out);
  lg_tensor_release(b);
  /* integer input of a float op computes in float32 */
  lg_tensor *i = make_tensor(ctx, LG_INT64, 1, s, (double[]){0, 1, 2, 3, 4});
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SQRT, 1, &i, NULL, &out));
  CHECK(lg_tensor_dtype(out) == LG_FLOAT32);
  lg_tensor_release(out);
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_NEG, 1, &i, NULL, &out));
  CHECK(lg_tensor_dtype(out) == LG_INT64 && lg_tensor_get(out, 4) == -4);
  lg_tensor_release(out);
  lg_tensor_release(i);
  lg_tensor_release(t);
}

/* Every allocation failing in turn gives a clean status and no leak. */
static void test_allocation_failure(void) {
  for (int budget = 0; budget < 12; budget++) {
    test_alloc f = {budget, 0, 0};
    lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &f);
    if (!ctx) {
      CHECK(f.live == 0);
      continue;
    }
    int64_t s[2] = {3, 4};
    lg_tensor *a = NULL, *b = NULL, *c = NULL;
    if (lg_full(ctx, LG_INT32, 2, s, 1, &a) == LG_OK &&
        lg_full(ctx, LG_FLOAT64, 2, s, 2, &b) == LG_OK) {
      lg_tensor *in[2] = {a, b};
      lg_status st = lg_op_run(ctx, LG_OP_ADD, 2, in, NULL, &c);
      CHECK(st == LG_OK || st == LG_ERR_MEMORY);
      CHECK((st == LG_OK) == (c != NULL));
    }
    lg_tensor_release(a);
    lg_tensor_release(b);
    lg_tensor_release(c);
    lg_ctx_free(ctx);
    CHECK(f.live == 0);
  }
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  test_storage_and_views(ctx);
  test_wrap(ctx);
  lg_op ops[] = {LG_OP_ADD, LG_OP_SUB, LG_OP_MUL, LG_OP_DIV, LG_OP_POW,
                 LG_OP_MAXIMUM, LG_OP_REMAINDER, LG_OP_LT, LG_OP_EQ};
  lg_dtype dtypes[] = {LG_FLOAT32, LG_FLOAT64};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    for (size_t j = 0; j < 2; j++) test_binary_paths(ctx, ops[i], dtypes[j]);
  test_binary_paths(ctx, LG_OP_ADD, LG_INT64);
  test_binary_paths(ctx, LG_OP_MUL, LG_INT32);
  test_broadcast_and_promotion(ctx);
  test_unary(ctx);
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);
  lg_ctx_free(ctx);
  test_allocation_failure();
  return test_report("test_core");
}
