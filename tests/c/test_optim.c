/* test_optim.c: the fused optimizer kernels (runtime/optim/optim.c) against naive
 * references written as PyTorch writes them, one whole-array pass per
 * tensor op, for contiguous float64 and float32 and strided float64
 * tensors; the vectorised float32 passes bit for bit (SGD against its
 * block rule, Adam against a plain float loop); plus version bumps and
 * the argument errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "test_util.h"

#define N 12 /* a {3, 4} parameter */
#define STEPS 5
static const int64_t SHAPE[2] = {3, 4};

/* Deterministic values in about [-1.5, 1.5). */
static double sample(int64_t seed, int64_t i) {
  uint64_t x = (uint64_t)(seed * 1000003 + i * 7919 + 17);
  x ^= x >> 13;
  x *= 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return (double)(x % 30000) / 10000.0 - 1.5;
}

/* ---- references: one pass per tensor op, as in torch/optim ---------- */

/* The gradient with maximize and L2 weight decay applied (d_p). */
static void effective_grad(const double *p, const double *g, double *d,
                           bool maximize, double weight_decay) {
  for (int i = 0; i < N; i++) d[i] = maximize ? -g[i] : g[i];
  if (weight_decay != 0)
    for (int i = 0; i < N; i++) d[i] += weight_decay * p[i];
}

static void ref_sgd(double *p, const double *g, double *buf,
                    const lg_sgd_opts *o) {
  double d[N];
  effective_grad(p, g, d, o->maximize, o->weight_decay);
  if (o->momentum != 0) {
    if (o->first_step) {
      for (int i = 0; i < N; i++) buf[i] = d[i];
    } else {
      for (int i = 0; i < N; i++) buf[i] *= o->momentum;
      for (int i = 0; i < N; i++) buf[i] += (1 - o->dampening) * d[i];
    }
    for (int i = 0; i < N; i++)
      d[i] = o->nesterov ? d[i] + o->momentum * buf[i] : buf[i];
  }
  for (int i = 0; i < N; i++) p[i] -= o->lr * d[i];
}

static void ref_adam(double *p, const double *g, double *m, double *v,
                     double *vmax, const lg_adam_opts *o) {
  double d[N], denom[N];
  if (o->decoupled_weight_decay) {
    for (int i = 0; i < N; i++) p[i] *= 1 - o->lr * o->weight_decay;
    effective_grad(p, g, d, o->maximize, 0);
  } else {
    effective_grad(p, g, d, o->maximize, o->weight_decay);
  }
  for (int i = 0; i < N; i++) m[i] = m[i] * o->beta1 + (1 - o->beta1) * d[i];
  for (int i = 0; i < N; i++)
    v[i] = v[i] * o->beta2 + (1 - o->beta2) * d[i] * d[i];
  double bc1 = 1 - pow(o->beta1, (double)o->step);
  double bc2 = 1 - pow(o->beta2, (double)o->step);
  const double *second = v;
  if (o->amsgrad) {
    for (int i = 0; i < N; i++) vmax[i] = v[i] > vmax[i] ? v[i] : vmax[i];
    second = vmax;
  }
  for (int i = 0; i < N; i++) denom[i] = sqrt(second[i]) / sqrt(bc2) + o->eps;
  for (int i = 0; i < N; i++) p[i] -= o->lr / bc1 * m[i] / denom[i];
}

static void ref_rmsprop(double *p, const double *g, double *sq, double *ga,
                        double *buf, const lg_rmsprop_opts *o) {
  double d[N], avg[N];
  effective_grad(p, g, d, o->maximize, o->weight_decay);
  for (int i = 0; i < N; i++)
    sq[i] = sq[i] * o->alpha + (1 - o->alpha) * d[i] * d[i];
  if (o->centered) {
    for (int i = 0; i < N; i++)
      ga[i] = ga[i] * o->alpha + (1 - o->alpha) * d[i];
    for (int i = 0; i < N; i++) avg[i] = sqrt(sq[i] - ga[i] * ga[i]);
  } else {
    for (int i = 0; i < N; i++) avg[i] = sqrt(sq[i]);
  }
  for (int i = 0; i < N; i++) avg[i] += o->eps;
  if (o->momentum > 0) {
    for (int i = 0; i < N; i++) buf[i] = buf[i] * o->momentum + d[i] / avg[i];
    for (int i = 0; i < N; i++) p[i] -= o->lr * buf[i];
  } else {
    for (int i = 0; i < N; i++) p[i] -= o->lr * d[i] / avg[i];
  }
}

static void ref_adagrad(double *p, const double *g, double *sum,
                        const lg_adagrad_opts *o) {
  double d[N];
  effective_grad(p, g, d, o->maximize, o->weight_decay);
  double clr = o->lr / (1 + (double)(o->step - 1) * o->lr_decay);
  for (int i = 0; i < N; i++) sum[i] += d[i] * d[i];
  for (int i = 0; i < N; i++) p[i] -= clr * d[i] / (sqrt(sum[i]) + o->eps);
}

/* ---- tensors in three layouts ------------------------------------------ */

typedef enum layout { F64, F32, F64_STRIDED } layout;
static const char *const LAYOUT_NAMES[] = {"float64", "float32",
                                           "float64 strided"};

/* A {3, 4} tensor holding values; F64_STRIDED is a transposed view of a
 * contiguous {4, 3} tensor (not contiguous: the fallback loop). */
static lg_tensor *make(lg_ctx *ctx, layout l, const double *values) {
  lg_tensor *t = NULL;
  if (l == F64_STRIDED) {
    int64_t sizes[2] = {SHAPE[1], SHAPE[0]};
    lg_tensor *base = NULL;
    if (lg_empty(ctx, LG_FLOAT64, 2, sizes, &base) != LG_OK) return NULL;
    lg_params p = {0};
    p.ints[0] = 1;
    p.ints[1] = 0;
    p.n_ints = 2;
    lg_status st = lg_op_run(ctx, LG_OP_PERMUTE, 1, &base, &p, &t);
    lg_tensor_release(base);
    if (st != LG_OK) return NULL;
    CHECK(!lg_tensor_is_contiguous(t));
  } else if (lg_empty(ctx, l == F32 ? LG_FLOAT32 : LG_FLOAT64, 2, SHAPE,
                      &t) != LG_OK) {
    return NULL;
  }
  for (int64_t i = 0; i < N; i++) lg_tensor_set(t, i, values[i]);
  return t;
}

/* State of one run: the reference arrays and the kernel's tensors. */
typedef struct run {
  double ref[5][N];      /* param, grad, buffers 0..2 */
  lg_tensor *t[5];
  int n_buffers;
} run;

/* Starts a run whose param and buffers start from seeded values (buffers
 * that hold squares start non-negative). */
static void run_start(lg_ctx *ctx, run *r, layout l, int n_buffers,
                      int64_t seed) {
  r->n_buffers = n_buffers;
  for (int k = 0; k < 5; k++) {
    for (int i = 0; i < N; i++)
      r->ref[k][i] = k >= 2 ? fabs(sample(seed + k, i)) * 0.1
                            : sample(seed + k, i);
    r->t[k] = k == 1 || k >= 2 + n_buffers ? NULL
                                           : make(ctx, l, r->ref[k]);
  }
}

/* Sets this step's gradient in both worlds. */
static void run_grad(lg_ctx *ctx, run *r, layout l, int step) {
  for (int i = 0; i < N; i++) r->ref[1][i] = sample(100 + step, i);
  lg_tensor_release(r->t[1]);
  r->t[1] = make(ctx, l, r->ref[1]);
}

static void run_check(run *r, layout l, const char *what, int step) {
  char label[160];
  double tol = l == F32 ? 2e-5 : 1e-13;
  for (int k = 0; k < 2 + r->n_buffers; k++) {
    if (k == 1) continue;
    snprintf(label, sizeof label, "%s %s step %d operand %d", what,
             LAYOUT_NAMES[l], step, k);
    check_values(label, r->t[k], r->ref[k], N, tol);
  }
}

static void run_end(run *r) {
  for (int k = 0; k < 5; k++) lg_tensor_release(r->t[k]);
}

/* ---- the kernels against the references --------------------------------- */

static void test_sgd(lg_ctx *ctx, layout l) {
  const lg_sgd_opts cases[] = {
      {.lr = 0.1},
      {.lr = 0.1, .momentum = 0.9},
      {.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.1},
      {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01},
      {.lr = 0.1, .momentum = 0.5, .weight_decay = 0.2, .maximize = true},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    run r;
    run_start(ctx, &r, l, 1, (int64_t)c);
    for (int step = 1; step <= STEPS; step++) {
      lg_sgd_opts o = cases[c];
      o.first_step = step == 1;
      run_grad(ctx, &r, l, step);
      ref_sgd(r.ref[0], r.ref[1], r.ref[2], &o);
      CHECK_OK(ctx, lg_optim_sgd(ctx, r.t[0], r.t[1], r.t[2], &o));
      run_check(&r, l, "sgd", step);
    }
    run_end(&r);
  }
}

static void test_adam(lg_ctx *ctx, layout l) {
  const lg_adam_opts cases[] = {
      {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
      {.lr = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
       .weight_decay = 0.1, .amsgrad = true},
      {.lr = 0.02, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-6, .maximize = true},
      {.lr = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
       .weight_decay = 0.3, .amsgrad = true, .decoupled_weight_decay = true},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    run r;
    run_start(ctx, &r, l, cases[c].amsgrad ? 3 : 2, 10 + (int64_t)c);
    for (int step = 1; step <= STEPS; step++) {
      lg_adam_opts o = cases[c];
      o.step = step;
      run_grad(ctx, &r, l, step);
      ref_adam(r.ref[0], r.ref[1], r.ref[2], r.ref[3], r.ref[4], &o);
      CHECK_OK(ctx, lg_optim_adam(ctx, r.t[0], r.t[1], r.t[2], r.t[3],
                                  r.t[4], &o));
      run_check(&r, l, "adam", step);
    }
    run_end(&r);
  }
}

static void test_rmsprop(lg_ctx *ctx, layout l) {
  const lg_rmsprop_opts cases[] = {
      {.lr = 0.01, .alpha = 0.99, .eps = 1e-8},
      {.lr = 0.01, .alpha = 0.99, .eps = 1e-8, .centered = true},
      {.lr = 0.01, .alpha = 0.99, .eps = 1e-8, .momentum = 0.9},
      {.lr = 0.02, .alpha = 0.9, .eps = 1e-6, .momentum = 0.5,
       .centered = true, .weight_decay = 0.1, .maximize = true},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    run r;
    run_start(ctx, &r, l, 3, 20 + (int64_t)c);
    /* the centered average must stay below the squares: start it at 0 */
    for (int i = 0; i < N; i++) {
      r.ref[3][i] = 0;
      lg_tensor_set(r.t[3], i, 0);
    }
    lg_tensor *grad_avg = cases[c].centered ? r.t[3] : NULL;
    lg_tensor *buf = cases[c].momentum > 0 ? r.t[4] : NULL;
    for (int step = 1; step <= STEPS; step++) {
      run_grad(ctx, &r, l, step);
      ref_rmsprop(r.ref[0], r.ref[1], r.ref[2], r.ref[3], r.ref[4], &cases[c]);
      CHECK_OK(ctx, lg_optim_rmsprop(ctx, r.t[0], r.t[1], r.t[2], grad_avg,
                                     buf, &cases[c]));
      run_check(&r, l, "rmsprop", step);
    }
    run_end(&r);
  }
}

static void test_adagrad(lg_ctx *ctx, layout l) {
  const lg_adagrad_opts cases[] = {
      {.lr = 0.01, .eps = 1e-10},
      {.lr = 0.1, .lr_decay = 0.1, .eps = 1e-10},
      {.lr = 0.1, .weight_decay = 0.1, .eps = 1e-6, .maximize = true},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    run r;
    run_start(ctx, &r, l, 1, 30 + (int64_t)c);
    for (int step = 1; step <= STEPS; step++) {
      lg_adagrad_opts o = cases[c];
      o.step = step;
      run_grad(ctx, &r, l, step);
      ref_adagrad(r.ref[0], r.ref[1], r.ref[2], &o);
      CHECK_OK(ctx, lg_optim_adagrad(ctx, r.t[0], r.t[1], r.t[2], &o));
      run_check(&r, l, "adagrad", step);
    }
    run_end(&r);
  }
}

/* ---- versions and errors ---------------------------------------------- */

static void test_versions_and_errors(lg_ctx *ctx) {
  double zeros[N] = {0};
  lg_tensor *p = make(ctx, F64, zeros), *g = make(ctx, F64, zeros);
  lg_tensor *m = make(ctx, F64, zeros), *v = make(ctx, F64, zeros);
  uint64_t pv = lg_tensor_version(p), gv = lg_tensor_version(g);
  uint64_t mv = lg_tensor_version(m);
  lg_adam_opts adam = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                       .step = 1};
  CHECK_OK(ctx, lg_optim_adam(ctx, p, g, m, v, NULL, &adam));
  CHECK(lg_tensor_version(p) > pv);
  CHECK(lg_tensor_version(m) > mv);
  CHECK(lg_tensor_version(g) == gv); /* the gradient is only read */

  lg_sgd_opts sgd = {.lr = 0.1, .momentum = 0.9};
  CHECK_FAILS(ctx, lg_optim_sgd(ctx, p, g, NULL, &sgd),
              "sgd: expected a state tensor momentum_buffer");
  CHECK_FAILS(ctx, lg_optim_sgd(ctx, p, g, p, &sgd),
              "sgd: param and momentum_buffer share memory");
  lg_tensor *f = make(ctx, F32, zeros);
  CHECK_FAILS(ctx, lg_optim_sgd(ctx, p, f, m, &sgd),
              "sgd: grad has dtype float32, expected float64");
  int64_t four = 4;
  lg_tensor *small = NULL, *ints = NULL, *expanded = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 1, &four, 0, &small));
  CHECK_FAILS(ctx, lg_optim_adam(ctx, p, g, small, v, NULL, &adam),
              "adam: exp_avg has shape {4}, expected {3,4}");
  CHECK_OK(ctx, lg_full(ctx, LG_INT64, 2, SHAPE, 0, &ints));
  CHECK_FAILS(ctx, lg_optim_adagrad(ctx, ints, ints, ints,
                                    &(lg_adagrad_opts){.lr = 1, .step = 1}),
              "adagrad: expected a floating point parameter, got int64");
  adam.step = 0;
  CHECK_FAILS(ctx, lg_optim_adam(ctx, p, g, m, v, NULL, &adam),
              "adam: expected a step count of 1 or more");
  adam.step = 1;
  adam.amsgrad = true;
  CHECK_FAILS(ctx, lg_optim_adam(ctx, p, g, m, v, NULL, &adam),
              "max_exp_avg_sq");
  /* an expanded view would write one location several times */
  lg_tensor *row = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 1, &four, 0, &row));
  lg_params ep = {0};
  ep.ints[0] = 3;
  ep.ints[1] = 4;
  ep.n_ints = 2;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_EXPAND, 1, &row, &ep, &expanded));
  CHECK_FAILS(ctx, lg_optim_sgd(ctx, expanded, g, NULL,
                                &(lg_sgd_opts){.lr = 0.1}),
              "param has elements sharing memory");
  lg_tensor *all[] = {p, g, m, v, f, small, ints, row, expanded};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
}

/* ---- the vectorised float32 passes, bit for bit ------------------------- */

#define LONG 1003 /* vector bodies and a tail on every ISA */

/* A float32 {LONG} tensor; strided: column 1 of a {LONG, 2} tensor. */
static lg_tensor *make_f32(lg_ctx *ctx, bool strided, const float *v) {
  int64_t sizes[2] = {LONG, 2};
  lg_tensor *t = NULL;
  if (!strided) {
    CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 1, sizes, &t));
  } else {
    lg_tensor *base = NULL;
    CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 2, sizes, &base));
    lg_params p = {0};
    p.dim = 1;
    p.start = 1;
    CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SELECT, 1, &base, &p, &t));
    lg_tensor_release(base);
    CHECK(!lg_tensor_is_contiguous(t));
  }
  for (int64_t i = 0; i < LONG; i++) lg_tensor_set(t, i, v[i]);
  return t;
}

static void check_same_f32(const char *what, const lg_tensor *t,
                           const float *want) {
  int bad = 0;
  for (int64_t i = 0; i < LONG; i++) {
    float got = (float)lg_tensor_get(t, i);
    if (memcmp(&got, &want[i], sizeof got) != 0) bad++;
  }
  CHECKF(bad == 0, "%s: %d of %d values differ", what, bad, LONG);
}

/* SGD's one-pass float32 loop against its block rule (taken by strided
 * operands): both compute in double, so every bit agrees. */
static void test_sgd_f32_pass(lg_ctx *ctx) {
  const lg_sgd_opts cases[] = {
      {.lr = 0.1},
      {.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.1},
      {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01},
      {.lr = 0.1, .momentum = 0.5, .weight_decay = 0.2, .maximize = true},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    lg_tensor *t[2][3]; /* [strided][param, grad, buffer] */
    float v[3][LONG];
    for (int k = 0; k < 3; k++)
      for (int i = 0; i < LONG; i++) v[k][i] = (float)sample(40 + k, i);
    for (int s = 0; s < 2; s++)
      for (int k = 0; k < 3; k++) t[s][k] = make_f32(ctx, s, v[k]);
    for (int step = 1; step <= 3; step++) {
      lg_sgd_opts o = cases[c];
      o.first_step = step == 1;
      for (int s = 0; s < 2; s++)
        CHECK_OK(ctx, lg_optim_sgd(ctx, t[s][0], t[s][1],
                                   o.momentum != 0 ? t[s][2] : NULL, &o));
    }
    float want[LONG];
    for (int k = 0; k < 3; k += 2) {
      for (int i = 0; i < LONG; i++) want[i] = (float)lg_tensor_get(t[1][k], i);
      check_same_f32(k ? "sgd f32 pass buffer" : "sgd f32 pass param",
                     t[0][k], want);
    }
    for (int s = 0; s < 2; s++)
      for (int k = 0; k < 3; k++) lg_tensor_release(t[s][k]);
  }
}

/* Adam's vectorised float32 pass against a plain float loop written in the
 * kernel's order of operations (torch's single-tensor Adam). */
static void test_adam_f32_pass(lg_ctx *ctx) {
  const lg_adam_opts cases[] = {
      {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
      {.lr = 0.02, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-6,
       .weight_decay = 0.1, .maximize = true},
      {.lr = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
       .weight_decay = 0.3, .decoupled_weight_decay = true},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    static float v[4][LONG]; /* param, grad, exp_avg, exp_avg_sq */
    lg_tensor *t[4];
    for (int k = 0; k < 4; k++) {
      for (int i = 0; i < LONG; i++) {
        float x = (float)sample(60 + k, i);
        v[k][i] = k == 3 ? x * x : x;
      }
      t[k] = make_f32(ctx, false, v[k]);
    }
    for (int step = 1; step <= 3; step++) {
      lg_adam_opts o = cases[c];
      o.step = step;
      CHECK_OK(ctx, lg_optim_adam(ctx, t[0], t[1], t[2], t[3], NULL, &o));
      double step_size = o.lr / (1 - pow(o.beta1, (double)step));
      float bc2 = (float)sqrt(1 - pow(o.beta2, (double)step));
      for (int i = 0; i < LONG; i++) {
        float g = o.maximize ? -v[1][i] : v[1][i], p = v[0][i];
        if (o.decoupled_weight_decay)
          p = p * (float)(1 - o.lr * o.weight_decay);
        else if (o.weight_decay != 0)
          g = g + (float)o.weight_decay * p;
        float m = v[2][i] * (float)o.beta1 + (float)(1 - o.beta1) * g;
        float s2 = v[3][i] * (float)o.beta2 + (float)(1 - o.beta2) * g * g;
        float denom = sqrtf(s2) / bc2 + (float)o.eps;
        v[0][i] = p + (float)-step_size * m / denom;
        v[2][i] = m;
        v[3][i] = s2;
      }
    }
    check_same_f32("adam f32 pass param", t[0], v[0]);
    check_same_f32("adam f32 pass exp_avg", t[2], v[2]);
    check_same_f32("adam f32 pass exp_avg_sq", t[3], v[3]);
    for (int k = 0; k < 4; k++) lg_tensor_release(t[k]);
  }
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  for (layout l = F64; l <= F64_STRIDED; l++) {
    test_sgd(ctx, l);
    test_adam(ctx, l);
    test_rmsprop(ctx, l);
    test_adagrad(ctx, l);
  }
  test_sgd_f32_pass(ctx);
  test_adam_f32_pass(ctx);
  test_versions_and_errors(ctx);
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);
  lg_ctx_free(ctx);
  return test_report("test_optim");
}
