/* test_dispatch.c: white-box tests of the dispatch layer stack (dispatch.c):
 * every op walks the layers from the top, the last one pushed first, down
 * to the kernel, autograd recording being the bottom layer; a layer can
 * handle an op by running another one layer down; ops run by backward
 * rules pass through the stack too; layers nest (pop only the top); the
 * stack grows past its inline slots. Also the op table's columns: the
 * batching and jvp placeholders fail naming the op, the saves and view
 * columns agree with the arities and the backward column, and an op
 * without a backward has no jvp rule either (no tangent). */
#include "autograd.h"
#include "test_util.h"

static lg_ctx *ctx;

/* A layer that counts what passes through it and logs its name. */
typedef struct counter {
  int ops;           /* ops seen                              */
  int per_op[LG_OP_COUNT];
  char *log;         /* shared visit log: one letter per visit */
  char letter;
} counter;

static lg_status count_layer(lg_ctx *c, const lg_layer *layer, int level,
                             lg_op op, int n_in, lg_tensor *const *in,
                             const lg_params *p, lg_tensor **outs) {
  counter *k = layer->ud;
  k->ops++;
  k->per_op[op]++;
  if (k->log) {
    size_t n = strlen(k->log);
    k->log[n] = k->letter;
    k->log[n + 1] = '\0';
  }
  return lg_dispatch(c, level, op, n_in, in, p, outs);
}

/* A layer that handles neg by running abs one layer down (on the same
 * inputs) and passes every other op on. */
static lg_status neg_is_abs(lg_ctx *c, const lg_layer *layer, int level,
                            lg_op op, int n_in, lg_tensor *const *in,
                            const lg_params *p, lg_tensor **outs) {
  (void)layer;
  if (op == LG_OP_NEG) op = LG_OP_ABS;
  return lg_dispatch(c, level, op, n_in, in, p, outs);
}

static lg_tensor *vec(const double *v, int64_t n) {
  lg_tensor *t = make_tensor(ctx, LG_FLOAT32, 1, &n, v);
  CHECK(t != NULL);
  return t;
}

static void test_bottom_is_autograd(void) {
  CHECK(ctx->n_layers == 1);
  CHECK(ctx->layers[0] == &lg_autograd_layer);
}

static void test_counting_and_backward(void) {
  counter k = {0};
  lg_layer layer = {"count", count_layer, &k};
  CHECK_OK(ctx, lg_layer_push(ctx, &layer));
  double a_v[] = {1, 2, 3, 4}, b_v[] = {10, 20, 30, 40};
  lg_tensor *a = vec(a_v, 4), *b = vec(b_v, 4), *sum = NULL, *prod = NULL;
  lg_tensor *total = NULL;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_ADD, a, b, NULL, &sum));
  CHECK(k.ops == 1 && k.per_op[LG_OP_ADD] == 1);
  CHECK(sum && lg_tensor_get(sum, 3) == 44);
  /* the autograd layer below still records */
  CHECK_OK(ctx, lg_tensor_set_requires_grad(ctx, a, true));
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MUL, a, b, NULL, &prod));
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_SUM, prod, NULL, &total));
  CHECK(!lg_tensor_is_leaf(total));
  CHECK(k.per_op[LG_OP_MUL] == 1 && k.per_op[LG_OP_SUM] == 1);
  /* the backward rules' ops go through the stack as well: mul's rule
   * multiplies the gradient by b */
  int before = k.per_op[LG_OP_MUL];
  CHECK_OK(ctx, lg_autograd_backward(ctx, 1, &total, NULL, NULL));
  CHECK(k.per_op[LG_OP_MUL] > before);
  CHECK(lg_tensor_grad(a) && lg_tensor_get(lg_tensor_grad(a), 2) == 30);
  CHECK_OK(ctx, lg_layer_pop(ctx, &layer));
  int seen = k.ops;
  lg_tensor_release(sum);
  sum = NULL;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_ADD, b, b, NULL, &sum));
  CHECK(k.ops == seen); /* popped: no longer visited */
  lg_tensor_release(a);
  lg_tensor_release(b);
  lg_tensor_release(sum);
  lg_tensor_release(prod);
  lg_tensor_release(total);
}

static void test_handling_layer(void) {
  lg_layer layer = {"neg_is_abs", neg_is_abs, NULL};
  double v[] = {-1.5, 2};
  lg_tensor *x = vec(v, 2), *y = NULL;
  CHECK_OK(ctx, lg_layer_push(ctx, &layer));
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_NEG, x, NULL, &y));
  CHECK(y && lg_tensor_get(y, 0) == 1.5 && lg_tensor_get(y, 1) == 2);
  CHECK_OK(ctx, lg_layer_pop(ctx, &layer));
  lg_tensor_release(y);
  y = NULL;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_NEG, x, NULL, &y));
  CHECK(y && lg_tensor_get(y, 0) == 1.5 && lg_tensor_get(y, 1) == -2);
  lg_tensor_release(x);
  lg_tensor_release(y);
}

static void test_nesting(void) {
  char log[64] = "";
  counter ka = {0}, kb = {0};
  ka.log = kb.log = log;
  ka.letter = 'a';
  kb.letter = 'b';
  lg_layer la = {"a", count_layer, &ka}, lb = {"b", count_layer, &kb};
  CHECK_OK(ctx, lg_layer_push(ctx, &la));
  CHECK_OK(ctx, lg_layer_push(ctx, &lb));
  double v[] = {1, 2};
  lg_tensor *x = vec(v, 2), *y = NULL;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_EXP, x, NULL, &y));
  CHECKF(strcmp(log, "ba") == 0, "visit order %s, expected ba", log);
  CHECK_FAILS(ctx, lg_layer_pop(ctx, &la), "a is not the top layer");
  CHECK_OK(ctx, lg_layer_pop(ctx, &lb));
  CHECK_OK(ctx, lg_layer_pop(ctx, &la));
  CHECK(ctx->n_layers == 1);
  lg_tensor_release(x);
  lg_tensor_release(y);
}

static void test_growth_and_inplace(void) {
  enum { N = 3 * LG_LAYERS_INLINE };
  counter k[N];
  lg_layer layers[N];
  memset(k, 0, sizeof k);
  for (int i = 0; i < N; i++) {
    layers[i] = (lg_layer){"count", count_layer, &k[i]};
    CHECK_OK(ctx, lg_layer_push(ctx, &layers[i]));
  }
  double v[] = {1, 2};
  lg_tensor *x = vec(v, 2), *y = NULL;
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_SQUARE, x, &p, &y));
  CHECK(y == x && lg_tensor_get(x, 1) == 4);
  for (int i = 0; i < N; i++) CHECK(k[i].ops == 1);
  for (int i = N - 1; i >= 0; i--) CHECK_OK(ctx, lg_layer_pop(ctx, &layers[i]));
  CHECK(ctx->n_layers == 1);
  lg_tensor_release(x);
  lg_tensor_release(y);
}

static void test_rule_placeholders(void) {
  double v[] = {1};
  lg_tensor *x = vec(v, 1), *out = NULL;
  int bdim = 0, out_bdim = -1;
  CHECK(lg_batch_rule(LG_OP_CONV2D_WEIGHT_GRAD) == lg_batch_nn);
  CHECK(lg_batch_rule(LG_OP_UNIQUE) == lg_batch_dynamic);
  CHECK(lg_batch_rule(LG_OP_ADD) == lg_batch_binary);
  CHECK(lg_jvp_rule(LG_OP_CUMPROD) == lg_jvp_cumprod);
  /* every row has a rule now: the placeholder, called directly */
  CHECK_FAILS(ctx, lg_batch_none(ctx, LG_OP_CONV2D_WEIGHT_GRAD, 1, &x, &bdim,
                                 NULL, &out, &out_bdim),
              "conv2d_weight_grad: vmap is not supported yet");
  CHECK_FAILS(ctx, lg_batch_dynamic(ctx, LG_OP_UNIQUE, 1, &x, &bdim, NULL,
                                    &out, &out_bdim),
              "unique: its result's shape depends on the values");
  CHECK_FAILS(ctx, lg_jvp_none(ctx, LG_OP_MATMUL, 1, &x, &x, NULL, &x, &out),
              "matmul: forward-mode AD is not supported yet");
  lg_tensor_release(x);
}

/* The op table's columns agree with each other: a row without a backward
 * saves nothing; views have one input and one output; saved outputs and
 * inputs exist. */
static void test_table_columns(void) {
  static const struct {
    const char *name;
    int n_in, n_out;
    lg_backward_fn backward;
    unsigned saves;
    int view;
    lg_jvp_fn jvp;
  } rows[] = {
#define ROW(id, name, kind, nin, nout, fwd, bwd, saves, view, batch, jvp)    \
  {name, nin, nout, bwd, saves, view, jvp},
      LG_OP_LIST(ROW)
#undef ROW
  };
  for (int op = 0; op < LG_OP_COUNT; op++) {
    const char *name = rows[op].name;
    unsigned saves = rows[op].saves;
    if (rows[op].backward == lg_backward_none) {
      CHECKF(saves == LG_SAVES_NONE, "%s: saves without a backward", name);
      CHECKF(rows[op].jvp == lg_jvp_nondiff, "%s: a jvp rule without a "
             "backward (expected lg_jvp_nondiff)", name);
    }
    if (rows[op].view != LG_VIEW_NO)
      CHECKF(rows[op].n_in == 1 && rows[op].n_out == 1,
             "%s: a view has one input and one output", name);
    for (int k = 0; k < 8; k++)
      if (saves & LG_OUT(k))
        CHECKF(k < rows[op].n_out, "%s saves output %d of %d", name, k + 1,
               rows[op].n_out);
    if (rows[op].n_in >= 0 && saves != LG_SAVES_NONE &&
        (saves & LG_SAVES_INPUTS) != LG_SAVES_INPUTS)
      for (int i = rows[op].n_in; i < LG_SAVES_MAX_INPUTS; i++)
        CHECKF(!(saves & LG_IN(i)), "%s saves input %d of %d", name, i + 1,
               rows[op].n_in);
  }
}

int main(void) {
  ctx = lg_ctx_new(NULL, NULL);
  test_bottom_is_autograd();
  test_counting_and_backward();
  test_handling_layer();
  test_nesting();
  test_growth_and_inplace();
  test_rule_placeholders();
  test_table_columns();
  lg_ctx_free(ctx);
  return test_report("test_dispatch");
}
