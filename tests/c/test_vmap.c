/* test_vmap.c: white-box tests of vmap in the runtime (runtime/vmap): a
 * batched tensor shows one example through the accessors and holds the
 * batch; a level's layer runs the batching rule once over the batch (an
 * unbatched operand broadcasting against every example), nested levels
 * unwrap in turn, the per-example loop covers an op without a rule and is
 * reported once, random draws follow the level's randomness, an in-place
 * write into an unbatched tensor and a batched tensor outliving its level
 * fail naming the op, and levels pop only innermost first. */
#include <math.h>
#include <string.h>

#include "test_util.h"
#include "vmap.h"

static lg_ctx *ctx;

static lg_tensor *arange(int64_t n, int ndim, const int64_t *sizes) {
  lg_tensor *t = NULL, *v = NULL;
  CHECK_OK(ctx, lg_arange(ctx, LG_FLOAT32, 0, (double)n, 1, &t));
  lg_params p = {0};
  p.n_ints = ndim;
  for (int i = 0; i < ndim; i++) p.ints[i] = sizes[i];
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_VIEW, t, &p, &v));
  lg_tensor_release(t);
  return v;
}

static void test_wrap_and_binary(void) {
  int64_t s23[] = {2, 3}, s3[] = {3};
  lg_tensor *x = arange(6, 2, s23), *y = arange(3, 1, s3);
  int level = 0;
  CHECK_OK(ctx, lg_vmap_push(ctx, 3, LG_RANDOMNESS_ERROR, &level));
  lg_tensor *b = NULL, *sum = NULL;
  /* batch dim 2 (0-based 1): examples are the columns of x, of shape {2} */
  CHECK_OK(ctx, lg_vmap_wrap(ctx, x, 1, level, &b));
  CHECK(lg_tensor_ndim(b) == 1 && lg_tensor_sizes(b)[0] == 2);
  CHECK(lg_tensor_batch_level(b) == level);
  /* b (example {2}) + y's first two entries, unbatched */
  lg_params pn = {0};
  pn.dim = 0, pn.start = 0, pn.length = 2;
  lg_tensor *y2 = NULL;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_NARROW, y, &pn, &y2));
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_ADD, b, y2, NULL, &sum));
  int bdim = -1;
  lg_tensor *v = lg_vmap_value(sum, level, &bdim);
  CHECK(v && bdim == 0 && lg_tensor_sizes(v)[0] == 3 && lg_tensor_sizes(v)[1] == 2);
  /* example j, element i: x[i][j] + y[i] = 3i + j + i */
  for (int j = 0; j < 3; j++)
    for (int i = 0; i < 2; i++)
      CHECKF(lg_tensor_get(v, j * 2 + i) == 3 * i + j + i, "sum[%d][%d]", j, i);
  /* an in-place write of batched values into y2 fails, naming the op */
  lg_params pi = {0};
  pi.flags = LG_FLAG_INPLACE;
  lg_tensor *r = NULL;
  CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_ADD, y2, b, &pi, &r),
              "add: an in-place op can't write batched values");
  /* random draws fail under randomness "error" */
  CHECK_FAILS(ctx, lg_rand(ctx, LG_FLOAT32, 1, s3, &r), "rand: a random op inside vmap");
  CHECK_OK(ctx, lg_vmap_pop(ctx, level));
  /* the level is gone: the batched tensor can't be used */
  CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_ADD, sum, y2, NULL, &r), "escaped the vmap");
  lg_tensor_release(sum);
  lg_tensor_release(b);
  lg_tensor_release(y2);
  lg_tensor_release(x);
  lg_tensor_release(y);
}

static void test_nested_and_random(void) {
  int64_t s234[] = {2, 3, 4};
  lg_tensor *x = arange(24, 3, s234);
  int outer = 0, inner = 0;
  CHECK_OK(ctx, lg_vmap_push(ctx, 2, LG_RANDOMNESS_DIFFERENT, &outer));
  CHECK_OK(ctx, lg_vmap_push(ctx, 3, LG_RANDOMNESS_SAME, &inner));
  CHECK_FAILS(ctx, lg_vmap_pop(ctx, outer), "not the innermost");
  lg_tensor *b1 = NULL, *b2 = NULL, *s = NULL;
  CHECK_OK(ctx, lg_vmap_wrap(ctx, x, 0, outer, &b1));
  CHECK_OK(ctx, lg_vmap_wrap(ctx, b1, 0, inner, &b2));
  CHECK(lg_tensor_ndim(b2) == 1 && lg_tensor_sizes(b2)[0] == 4);
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_SUM, b2, NULL, &s));
  CHECK(lg_tensor_ndim(s) == 0);
  int bd = -1;
  lg_tensor *mid = lg_vmap_value(s, inner, &bd);
  lg_tensor *phys = mid ? lg_vmap_value(mid, outer, &bd) : NULL;
  CHECK(phys && lg_tensor_numel(phys) == 6);
  if (phys) CHECK(lg_tensor_get(phys, 0) == 0 + 1 + 2 + 3);
  /* a draw is per example of the outer level, shared by the inner one */
  lg_tensor *r = NULL;
  int64_t s5[] = {5};
  CHECK_OK(ctx, lg_rand(ctx, LG_FLOAT32, 1, s5, &r));
  CHECK(lg_tensor_batch_level(r) == outer && lg_tensor_ndim(r) == 1);
  lg_tensor *rv = lg_vmap_value(r, outer, &bd);
  CHECK(rv && lg_tensor_sizes(rv)[0] == 2 && lg_tensor_sizes(rv)[1] == 5);
  lg_tensor_release(r);
  CHECK_OK(ctx, lg_vmap_pop(ctx, inner));
  CHECK_OK(ctx, lg_vmap_pop(ctx, outer));
  lg_tensor_release(s);
  lg_tensor_release(b2);
  lg_tensor_release(b1);
  lg_tensor_release(x);
}

/* batch_norm in training mode: each example normalised by its own batch
 * statistics (the rule, no loop and no warning) */
static void test_batch_norm_rule(void) {
  int64_t s1[] = {4, 2, 1};
  lg_tensor *x = arange(8, 3, s1), *out = NULL;
  int level = 0;
  CHECK_OK(ctx, lg_vmap_push(ctx, 4, LG_RANDOMNESS_ERROR, &level));
  lg_tensor *b = NULL;
  CHECK_OK(ctx, lg_vmap_wrap(ctx, x, 0, level, &b));
  lg_params p = {0};
  p.flags = LG_FLAG_TRAINING;
  p.scalar[0] = 1e-5;
  lg_tensor *in[1] = {b};
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_BATCH_NORM, 1, in, &p, &out));
  CHECK(lg_vmap_take_warning(ctx) == NULL);
  int bd = -1;
  lg_tensor *v = lg_vmap_value(out, level, &bd);
  /* each example's two values (N=2, C=1) normalise to -1, +1 (up to eps) */
  CHECK(v && lg_tensor_sizes(v)[bd] == 4);
  for (int64_t e = 0; v && e < 4; e++) {
    lg_tensor *ex = NULL;
    lg_params ps = {0};
    ps.dim = bd, ps.start = e;
    CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SELECT, 1, &v, &ps, &ex));
    if (ex) CHECK(fabs(lg_tensor_get(ex, 0) + 1) < 1e-3 && fabs(lg_tensor_get(ex, 1) - 1) < 1e-3);
    lg_tensor_release(ex);
  }
  CHECK_OK(ctx, lg_vmap_pop(ctx, level));
  lg_tensor_release(out);
  lg_tensor_release(b);
  lg_tensor_release(x);
}

/* cross_entropy's weighted mean has no rule: the per-example loop, which
 * warns once naming the op and gives each example's own loss */
static void test_loop_fallback(void) {
  int64_t s1[] = {4, 2, 3}, s2[] = {2}, s3[] = {3};
  lg_tensor *x = arange(24, 3, s1), *t = NULL, *w = NULL, *out = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_INT64, 1, s2, 2, &t));
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 1, s3, 0.5, &w));
  int level = 0;
  CHECK_OK(ctx, lg_vmap_push(ctx, 4, LG_RANDOMNESS_ERROR, &level));
  lg_tensor *b = NULL;
  CHECK_OK(ctx, lg_vmap_wrap(ctx, x, 0, level, &b));
  lg_params p = {0};
  p.flags = LG_FLAG_OPT1;
  p.ints[0] = 1; /* mean */
  p.n_ints = 1;
  lg_tensor *in[3] = {b, t, w};
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CROSS_ENTROPY, 3, in, &p, &out));
  const char *warned = lg_vmap_take_warning(ctx);
  CHECK(warned && strcmp(warned, "cross_entropy") == 0);
  CHECK(lg_vmap_take_warning(ctx) == NULL);
  int bd = -1;
  lg_tensor *v = lg_vmap_value(out, level, &bd);
  CHECK_OK(ctx, lg_vmap_pop(ctx, level));
  /* every example's rows are (a, a+1, a+2): the loss of class 2 is the
   * same, log(1 + e + e^2) - 1 */
  double want = log(1 + exp(1.0) + exp(2.0)) - 1;
  CHECK(v && lg_tensor_numel(v) == 4);
  for (int64_t e = 0; v && e < 4; e++) CHECK(fabs(lg_tensor_get(v, e) - want) < 1e-5);
  lg_tensor_release(out);
  lg_tensor_release(b);
  lg_tensor_release(t);
  lg_tensor_release(w);
  lg_tensor_release(x);
}

int main(void) {
  ctx = lg_ctx_new(NULL, NULL);
  test_wrap_and_binary();
  test_nested_and_random();
  test_batch_norm_rule();
  test_loop_fallback();
  lg_ctx_free(ctx);
  return test_report("test_vmap");
}
