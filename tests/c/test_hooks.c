/* test_hooks.c: the engine's gradient hooks (lg_ctx_set_grad_hook,
 * lg_tensor_set_has_hooks): which tensors meet the hook, in which order,
 * a replaced gradient, and a failing hook failing the backward. */
#include "test_util.h"
#include "luagrad_ext.h"

static lg_ctx *ctx;

/* out = t * k, recorded when t takes part in the graph. */
static lg_status scale(lg_ctx *c, lg_tensor *t, double k, lg_tensor **out) {
  lg_params p = {0};
  p.flags = LG_FLAG_SCALAR_B;
  p.scalar[0] = k;
  return lg_op_run(c, LG_OP_MUL, 1, &t, &p, out);
}

typedef struct record {
  int grad_calls, accumulated_calls;
  lg_tensor *accumulated_seen; /* the leaf given with LG_HOOK_ACCUMULATED */
  double grad_at_accumulate;   /* its .grad[0] then                       */
  double scale;                /* LG_HOOK_GRAD replaces g by g * scale     */
  bool fail;
} record;

static lg_status hook(lg_ctx *c, void *ud, lg_tensor *t, lg_grad_hook_kind kind,
                      lg_tensor **grad) {
  record *r = ud;
  if (r->fail) return lg_fail(c, LG_ERR_RUNTIME, "hook refused");
  if (kind == LG_HOOK_ACCUMULATED) {
    r->accumulated_calls++;
    r->accumulated_seen = t;
    r->grad_at_accumulate = lg_tensor_get(lg_tensor_grad(t), 0);
    return LG_OK;
  }
  r->grad_calls++;
  if (r->scale == 1) return LG_OK;
  lg_tensor *scaled = NULL;
  lg_status st = scale(c, *grad, r->scale, &scaled);
  if (st) return st;
  lg_tensor_release(*grad);
  *grad = scaled;
  return LG_OK;
}

static lg_tensor *ones(int64_t n) {
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 1, &n, 1, &t));
  return t;
}

/* loss = sum(x * 3) */
static lg_tensor *loss_of(lg_tensor *x) {
  lg_tensor *y = NULL, *loss = NULL;
  CHECK_OK(ctx, scale(ctx, x, 3, &y));
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_SUM, y, NULL, &loss));
  lg_tensor_release(y);
  return loss;
}

static void test_leaf(void) {
  record r = {0};
  r.scale = 2;
  lg_ctx_set_grad_hook(ctx, hook, &r);
  lg_tensor *x = ones(3), *plain = ones(3);
  CHECK_OK(ctx, lg_tensor_set_requires_grad(ctx, x, true));
  CHECK_OK(ctx, lg_tensor_set_requires_grad(ctx, plain, true));
  CHECK_OK(ctx, lg_tensor_set_has_hooks(ctx, x));
  lg_tensor *loss = loss_of(x), *other = loss_of(plain);
  CHECK_OK(ctx, lg_autograd_backward(ctx, 1, &loss, NULL, NULL));
  CHECK_OK(ctx, lg_autograd_backward(ctx, 1, &other, NULL, NULL));
  CHECK(r.grad_calls == 1 && r.accumulated_calls == 1); /* only x's */
  CHECK(r.accumulated_seen == x);
  CHECK(r.grad_at_accumulate == 6);                     /* 3, doubled */
  CHECK(lg_tensor_get(lg_tensor_grad(x), 2) == 6);
  CHECK(lg_tensor_get(lg_tensor_grad(plain), 2) == 3);
  r.fail = true;
  lg_tensor_release(loss);
  loss = loss_of(x);
  CHECK_FAILS(ctx, lg_autograd_backward(ctx, 1, &loss, NULL, NULL), "hook refused");
  lg_ctx_set_grad_hook(ctx, NULL, NULL);
  lg_tensor_release(loss);
  lg_tensor_release(other);
  lg_tensor_release(x);
  lg_tensor_release(plain);
}

static void test_non_leaf(void) {
  record r = {0};
  r.scale = 10;
  lg_ctx_set_grad_hook(ctx, hook, &r);
  lg_tensor *x = ones(2), *y = NULL, *loss = NULL, *constant = ones(1);
  CHECK_OK(ctx, lg_tensor_set_requires_grad(ctx, x, true));
  CHECK_OK(ctx, scale(ctx, x, 2, &y));
  CHECK_FAILS(ctx, lg_tensor_set_has_hooks(ctx, constant), "does not require grad");
  lg_tensor_release(constant);
  CHECK_OK(ctx, lg_tensor_set_has_hooks(ctx, y));
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_SUM, y, NULL, &loss));
  CHECK_OK(ctx, lg_autograd_backward(ctx, 1, &loss, NULL, NULL));
  CHECK(r.grad_calls == 1 && r.accumulated_calls == 0);
  CHECK(lg_tensor_get(lg_tensor_grad(x), 0) == 20); /* 1 * 10 * 2 */
  CHECK(lg_tensor_grad(y) == NULL);                  /* hooks don't retain */
  lg_ctx_set_grad_hook(ctx, NULL, NULL);
  lg_tensor_release(loss);
  lg_tensor_release(y);
  lg_tensor_release(x);
}

int main(void) {
  ctx = lg_ctx_new(NULL, NULL);
  test_leaf();
  test_non_leaf();
  lg_ctx_free(ctx);
  if (test_failures) fprintf(stderr, "%d failure(s)\n", test_failures);
  return test_failures != 0;
}
