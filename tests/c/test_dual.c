/* test_dual.c: forward mode's C API (runtime/autograd/dual.c): dual levels
 * as layers of the dispatch stack (entered and exited in order, the wrong
 * order refused), make_dual's checks, tangents found only at their level
 * and only while it is active, nested levels (forward over forward), in
 * place on a dual updating its tangent tensor, ops without a tangent,
 * out= refused, and levels left open freed with their context (the
 * sanitizer build sees a leak otherwise). */
#include "luagrad_ext.h"
#include "test_util.h"

static lg_ctx *ctx;

static lg_tensor *vec(const double *v, int64_t n) {
  lg_tensor *t = make_tensor(ctx, LG_FLOAT64, 1, &n, v);
  CHECK(t != NULL);
  return t;
}

static void test_levels_and_checks(void) {
  double xv[] = {1, 2, 3}, tv[] = {0.5, -1, 2};
  lg_tensor *x = vec(xv, 3), *t = vec(tv, 3), *short_t = vec(tv, 2);
  lg_tensor *d = NULL, *p = NULL, *tan = NULL;
  uint64_t a = 0, b = 0;
  CHECK(lg_dual_level_current(ctx) == 0);
  CHECK_FAILS(ctx, lg_make_dual(ctx, x, t, 1, &d), "no dual level is active");
  CHECK_OK(ctx, lg_dual_level_enter(ctx, &a));
  CHECK_OK(ctx, lg_dual_level_enter(ctx, &b));
  CHECK(a > 0 && b > a && lg_dual_level_current(ctx) == b);
  CHECK_FAILS(ctx, lg_dual_level_exit(ctx, a), "not the innermost layer");
  CHECK_FAILS(ctx, lg_make_dual(ctx, x, short_t, b, &d), "make_dual: the tangent");
  CHECK(d == NULL);
  CHECK_OK(ctx, lg_make_dual(ctx, x, t, a, &d));
  CHECK(lg_tensor_is_dual(d) && !lg_tensor_is_dual(x));
  CHECK(lg_tensor_tangent(d, a) == t && lg_tensor_tangent(d, b) == NULL);
  CHECK_OK(ctx, lg_unpack_dual(ctx, d, b, &p, &tan));
  CHECK(tan == NULL && p == d); /* nothing at b: t itself comes back */
  lg_tensor_release(p);
  CHECK_OK(ctx, lg_dual_level_exit(ctx, b));
  CHECK_OK(ctx, lg_dual_level_exit(ctx, a));
  CHECK(!lg_tensor_is_dual(d) && lg_dual_level_current(ctx) == 0);
  CHECK_OK(ctx, lg_unpack_dual(ctx, d, a, &p, &tan));
  CHECK(tan == NULL); /* a exited: its tangent is never found again */
  lg_tensor_release(p);
  lg_tensor_release(d);
  lg_tensor_release(x);
  lg_tensor_release(t);
  lg_tensor_release(short_t);
}

static void test_ops(void) {
  double xv[] = {0.5, -1, 2}, tv[] = {1, 2, 3};
  lg_tensor *x = vec(xv, 3), *t = vec(tv, 3), *d = NULL, *y = NULL;
  uint64_t a = 0, b = 0;
  CHECK_OK(ctx, lg_dual_level_enter(ctx, &a));
  CHECK_OK(ctx, lg_make_dual(ctx, x, t, a, &d));
  /* y = d * d: tangent 2 x t */
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MUL, d, d, NULL, &y));
  double want[] = {1, -4, 12};
  check_values("tangent of x*x", lg_tensor_tangent(y, a), want, 3, 1e-12);
  /* no tangent for a comparison */
  lg_tensor *cmp = NULL;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_GT, d, x, NULL, &cmp));
  CHECK(lg_tensor_tangent(cmp, a) == NULL);
  /* in place: the same tangent tensor, updated (exp_: t e^y) */
  lg_tensor *ty = lg_tensor_retain(lg_tensor_tangent(y, a)), *r = NULL;
  lg_params ip = {0};
  ip.flags = LG_FLAG_INPLACE;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_EXP, y, &ip, &r));
  CHECK(r == y && lg_tensor_tangent(y, a) == ty);
  double after[] = {1 * exp(0.25), -4 * exp(1.0), 12 * exp(4.0)};
  check_values("tangent after exp_", ty, after, 3, 1e-9);
  /* out= with a dual input */
  lg_params op = {0};
  op.flags = LG_FLAG_OUT;
  lg_tensor *out = NULL;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_CLONE, x, NULL, &out));
  lg_tensor *outs[1] = {out};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_NEG, 1, &d, &op, outs),
              "neg: out= arguments don't support forward-mode AD");
  /* forward over forward: sin at level b of a dual at a */
  lg_tensor *dd = NULL, *s = NULL;
  CHECK_OK(ctx, lg_dual_level_enter(ctx, &b));
  CHECK_OK(ctx, lg_make_dual(ctx, d, t, b, &dd));
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_SIN, dd, NULL, &s));
  lg_tensor *sb = lg_tensor_tangent(s, b);
  CHECK(sb != NULL);
  /* d/da of cos(x) t = -sin(x) t t */
  double second[3];
  for (int i = 0; i < 3; i++) second[i] = -sin(xv[i]) * tv[i] * tv[i];
  check_values("second derivative", lg_tensor_tangent(sb, a), second, 3, 1e-12);
  CHECK_OK(ctx, lg_dual_level_exit(ctx, b));
  CHECK_OK(ctx, lg_dual_level_exit(ctx, a));
  lg_tensor_release(s);
  lg_tensor_release(dd);
  lg_tensor_release(out);
  lg_tensor_release(r);
  lg_tensor_release(ty);
  lg_tensor_release(cmp);
  lg_tensor_release(y);
  lg_tensor_release(d);
  lg_tensor_release(x);
  lg_tensor_release(t);
}

static void test_open_levels_freed(void) {
  lg_ctx *other = lg_ctx_new(NULL, NULL);
  uint64_t a = 0, b = 0;
  CHECK_OK(other, lg_dual_level_enter(other, &a));
  CHECK_OK(other, lg_dual_level_enter(other, &b));
  lg_ctx_free(other); /* both levels still open: freed with the context */
}

int main(void) {
  ctx = lg_ctx_new(NULL, NULL);
  test_levels_and_checks();
  test_ops();
  test_open_levels_freed();
  lg_ctx_free(ctx);
  return test_report("test_dual");
}
