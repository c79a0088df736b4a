/* optim.c: fused in-place optimizer updates (SGD, Adam/AdamW, RMSprop,
 * Adagrad), one call per parameter over its whole buffer.
 *
 * Each optimizer's arithmetic is written once, as an element rule over the
 * values of one position in every operand (param, grad, state buffers),
 * in double precision and in the order of operations of PyTorch's
 * single-tensor implementation (torch/optim, 1.13). The rule runs over
 * blocks of values converted to double; only loading and storing a block
 * depends on dtype and layout (a converting copy for contiguous float32 and
 * float64, element by element for strided tensors), so the fast and slow
 * paths cannot disagree. Contiguous float32 operands skip the blocks:
 * SGD runs its double rule in one vectorised pass (same values), and Adam
 * has a float32 form of its rule (one pass, no conversions; vectorised
 * without amsgrad), which computes in float32 as PyTorch does for float32
 * tensors. The gradient is only read; every other operand is written and
 * gets its version counter bumped.
 */
#include "optim.h"

#include <math.h>
#include <string.h>

#include "core.h"
#include "dtype.h"
#include "vmath.h" /* LG_VECTOR_CLONES */

/* ---- operands ----------------------------------------------------------- */

/* Slots of the operands of an update: the parameter, its gradient, then up
 * to three state buffers. A NULL slot is unused by this call. */
enum { PARAM = 0, GRAD = 1, BUF0 = 2, BUF1 = 3, BUF2 = 4, N_SLOTS = 5 };

typedef struct operands {
  const char *op;                /* "sgd", ... for messages */
  lg_tensor *t[N_SLOTS];
  const char *names[N_SLOTS];    /* "exp_avg", ... for messages */
} operands;

/* Whether two elements of t share one memory location (a 0 stride). */
static bool has_self_overlap(const lg_tensor *t) {
  for (int d = 0; d < t->ndim; d++)
    if (t->sizes[d] > 1 && t->strides[d] == 0) return true;
  return false;
}

/* Checks dtypes, shapes and aliasing. */
static lg_status check_operands(lg_ctx *ctx, const operands *o) {
  const lg_tensor *p = o->t[PARAM];
  if (!p || !o->t[GRAD])
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a parameter and a gradient",
                   o->op);
  if (!lg_dtype_is_float(p->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "%s: expected a floating point parameter, got %s", o->op,
                   lg_dtype_name(p->dtype));
  char want[64], got[64];
  for (int k = 0; k < N_SLOTS; k++) {
    const lg_tensor *t = o->t[k];
    if (!t) continue;
    if (t->dtype != p->dtype)
      return lg_fail(ctx, LG_ERR_DTYPE,
                     "%s: %s has dtype %s, expected %s like the parameter",
                     o->op, o->names[k], lg_dtype_name(t->dtype),
                     lg_dtype_name(p->dtype));
    if (!lg_tensor_has_shape(t, p->ndim, p->sizes))
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "%s: %s has shape %s, expected %s like the parameter",
                     o->op, o->names[k],
                     lg_shape_str(got, sizeof got, t->ndim, t->sizes),
                     lg_shape_str(want, sizeof want, p->ndim, p->sizes));
    if (k == GRAD) continue; /* read only: may alias anything */
    if (has_self_overlap(t))
      return lg_fail(ctx, LG_ERR_ARG,
                     "%s: %s has elements sharing memory (an expanded view);"
                     " give it a tensor of its own", o->op, o->names[k]);
    for (int j = 0; j < k; j++)
      if (j != GRAD && o->t[j] && lg_tensor_same_storage(t, o->t[j]))
        return lg_fail(ctx, LG_ERR_ARG, "%s: %s and %s share memory", o->op,
                       o->names[j], o->names[k]);
  }
  return LG_OK;
}

/* ---- blocks ------------------------------------------------------------- */

/* Operands are processed BLOCK elements at a time: each operand's values
 * are loaded into a double row (a converting copy when contiguous, element
 * by element when strided), the rule runs over the rows in a loop free of
 * layout and dtype branches (so the compiler can vectorize it), and the
 * written rows are stored back. Layout and dtype are handled here once. */
#define BLOCK 256
typedef void (*block_rule)(const void *consts, double (*v)[BLOCK],
                           int64_t len);

/* RULE(c, v, j) updates position j of the rows v[slot] (unused slots hold
 * 0 and are never stored; the gradient is never stored). The constants
 * are copied to a local so the compiler sees that the rows cannot alias
 * them. */
#define DEFINE_BLOCK_RULE(NAME, CONSTS, RULE)                               \
  static void NAME(const void *consts, double (*v)[BLOCK], int64_t len) {   \
    const CONSTS c = *(const CONSTS *)consts;                               \
    for (int64_t j = 0; j < len; j++) RULE(&c, v, j);                       \
  }

static void load_row(const lg_tensor *t, bool contiguous, int64_t start,
                     int64_t len, double *row) {
  if (!contiguous) {
    for (int64_t j = 0; j < len; j++) row[j] = lg_tensor_get(t, start + j);
  } else if (t->dtype == LG_FLOAT32) {
    const float *src = (const float *)(void *)lg_data_ptr(t) + start;
    for (int64_t j = 0; j < len; j++) row[j] = (double)src[j];
  } else {
    memcpy(row, (const double *)(void *)lg_data_ptr(t) + start,
           (size_t)len * sizeof(double));
  }
}

static void store_row(lg_tensor *t, bool contiguous, int64_t start,
                      int64_t len, const double *row) {
  if (!contiguous) {
    for (int64_t j = 0; j < len; j++) lg_tensor_set(t, start + j, row[j]);
  } else if (t->dtype == LG_FLOAT32) {
    float *dst = (float *)(void *)lg_data_ptr(t) + start;
    for (int64_t j = 0; j < len; j++) dst[j] = (float)row[j];
  } else {
    memcpy((double *)(void *)lg_data_ptr(t) + start, row,
           (size_t)len * sizeof(double));
  }
}

/* Validates the operands, runs rule over every block, bumps versions. */
static lg_status run_update(lg_ctx *ctx, const operands *o, block_rule rule,
                            const void *consts) {
  lg_status st = check_operands(ctx, o);
  if (st != LG_OK) return st;
  bool contiguous[N_SLOTS];
  for (int k = 0; k < N_SLOTS; k++)
    contiguous[k] = o->t[k] && lg_tensor_is_contiguous(o->t[k]);
  double v[N_SLOTS][BLOCK]; /* a rule reads only the rows of given slots */
  int64_t n = lg_tensor_numel(o->t[PARAM]);
  for (int64_t start = 0; start < n; start += BLOCK) {
    int64_t len = n - start < BLOCK ? n - start : BLOCK;
    for (int k = 0; k < N_SLOTS; k++)
      if (o->t[k]) load_row(o->t[k], contiguous[k], start, len, v[k]);
    rule(consts, v, len);
    for (int k = 0; k < N_SLOTS; k++)
      if (o->t[k] && k != GRAD)
        store_row(o->t[k], contiguous[k], start, len, v[k]);
  }
  for (int k = 0; k < N_SLOTS; k++)
    if (o->t[k] && k != GRAD) lg_bump_version(o->t[k]);
  return LG_OK;
}

/* A state buffer the options require must be given. */
static lg_status require_buffer(lg_ctx *ctx, const operands *o, int slot,
                                const char *because) {
  if (o->t[slot]) return LG_OK;
  return lg_fail(ctx, LG_ERR_ARG, "%s: expected a state tensor %s (%s), "
                 "got none", o->op, o->names[slot], because);
}

/* ---- SGD ---------------------------------------------------------------- */

typedef struct sgd_consts {
  lg_sgd_opts o;
  bool use_momentum;
} sgd_consts;

/* d = +-g (+ wd p); buf = m buf + (1 - dampening) d (or d when fresh);
 * d = nesterov ? d + m buf : buf; p -= lr d */
static inline void sgd_rule(const sgd_consts *c, double (*v)[BLOCK],
                            int64_t j) {
  double d = c->o.maximize ? -v[GRAD][j] : v[GRAD][j];
  if (c->o.weight_decay != 0) d = d + c->o.weight_decay * v[PARAM][j];
  if (c->use_momentum) {
    double buf = c->o.first_step ? d
                                 : v[BUF0][j] * c->o.momentum +
                                       (1 - c->o.dampening) * d;
    v[BUF0][j] = buf;
    d = c->o.nesterov ? d + c->o.momentum * buf : buf;
  }
  v[PARAM][j] = v[PARAM][j] + -c->o.lr * d;
}
DEFINE_BLOCK_RULE(sgd_block, sgd_consts, sgd_rule)

/* sgd_rule over contiguous float32 operands in one pass, no block
 * buffers: the same double arithmetic in the same order (each value
 * widened on load, rounded on store, the momentum buffer used unrounded
 * for Nesterov as in the block form), so results are bit-identical; the
 * options are loop-invariant selects, so the loop vectorises. buf is NULL
 * without momentum. */
LG_VECTOR_CLONES
static void sgd_f32(const sgd_consts *consts, float *restrict param,
                    const float *restrict grad, float *restrict buf,
                    int64_t n) {
  const sgd_consts c = *consts;
  const bool decay = c.o.weight_decay != 0;
  if (!buf) {
    for (int64_t j = 0; j < n; j++) {
      double g = grad[j], p = param[j];
      double d = c.o.maximize ? -g : g;
      d = decay ? d + c.o.weight_decay * p : d;
      param[j] = (float)(p + -c.o.lr * d);
    }
    return;
  }
  for (int64_t j = 0; j < n; j++) {
    double g = grad[j], p = param[j], b = buf[j];
    double d = c.o.maximize ? -g : g;
    d = decay ? d + c.o.weight_decay * p : d;
    double nb = c.o.first_step ? d
                               : b * c.o.momentum + (1 - c.o.dampening) * d;
    buf[j] = (float)nb;
    d = c.o.nesterov ? d + c.o.momentum * nb : nb;
    param[j] = (float)(p + -c.o.lr * d);
  }
}

/* Whether every operand of o is a contiguous float32 tensor. */
static bool all_contiguous_f32(const operands *o) {
  for (int k = 0; k < N_SLOTS; k++)
    if (o->t[k] && (o->t[k]->dtype != LG_FLOAT32 ||
                    !lg_tensor_is_contiguous(o->t[k])))
      return false;
  return true;
}

/* The data of o's operands as float pointers (NULL for unused slots). */
static void f32_data(const operands *o, float **data) {
  for (int k = 0; k < N_SLOTS; k++)
    data[k] = o->t[k] ? (float *)(void *)lg_data_ptr(o->t[k]) : NULL;
}

static void bump_written(const operands *o) {
  for (int k = 0; k < N_SLOTS; k++)
    if (o->t[k] && k != GRAD) lg_bump_version(o->t[k]);
}

/* SGD with momentum, dampening, weight decay, Nesterov and maximize. */
lg_status lg_optim_sgd(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                       lg_tensor *momentum_buffer, const lg_sgd_opts *opts) {
  if (lg_tracing_outside_kernel(ctx)) { /* func.compile records it */
    lg_optim_call call = {.kind = LG_OPTIM_SGD, .o.sgd = *opts,
                          .t = {param, grad, momentum_buffer}};
    return lg_trace_optim(ctx, &call);
  }
  sgd_consts c = {*opts, opts->momentum != 0};
  operands o = {"sgd",
                {param, grad, c.use_momentum ? momentum_buffer : NULL},
                {"param", "grad", "momentum_buffer"}};
  if (c.use_momentum) {
    lg_status st = require_buffer(ctx, &o, BUF0, "momentum is not 0");
    if (st != LG_OK) return st;
  }
  if (!all_contiguous_f32(&o)) return run_update(ctx, &o, sgd_block, &c);
  lg_status st = check_operands(ctx, &o);
  if (st != LG_OK) return st;
  float *data[N_SLOTS];
  f32_data(&o, data);
  sgd_f32(&c, data[PARAM], data[GRAD], data[BUF0], lg_tensor_numel(param));
  bump_written(&o);
  return LG_OK;
}

/* ---- Adam / AdamW ------------------------------------------------------- */

/* An update whose step number is a plain integer while func.compile
 * traces: a replay would repeat that number, so the trace is refused
 * (lg_optim_step with the count in a tensor is recorded instead). */
static void untraceable_count(lg_ctx *ctx, const char *name) {
  if (lg_tracing_outside_kernel(ctx))
    lg_trace_taint(ctx, "%s's step number is a plain integer, which a replay "
                   "would repeat: keep the count in a tensor (optim.fn's "
                   "state.step, as tx.init makes it)", name);
}

typedef struct adam_consts {
  lg_adam_opts o;
  double step_size;             /* lr / (1 - beta1^step) */
  double bias_correction2_sqrt; /* sqrt(1 - beta2^step)  */
} adam_consts;

/* One Adam element of type T in PyTorch's order of operations: p, g, m,
 * s, mx are lvalues of T (g read only; mx only read with amsgrad). */
#define ADAM_ELEMENT(T, SQRT, MAX, c, p_, g_, m_, s_, mx_)                   \
  do {                                                                      \
    T e_g = c->o.maximize ? -(g_) : (g_);                                   \
    T e_p = (p_);                                                           \
    if (c->o.decoupled_weight_decay)                                        \
      e_p = e_p * (T)(1 - c->o.lr * c->o.weight_decay);                     \
    else if (c->o.weight_decay != 0)                                        \
      e_g = e_g + (T)c->o.weight_decay * e_p;                               \
    T e_m = (m_) * (T)c->o.beta1 + (T)(1 - c->o.beta1) * e_g;               \
    T e_s = (s_) * (T)c->o.beta2 + (T)(1 - c->o.beta2) * e_g * e_g;         \
    T e_second = e_s;                                                       \
    if (c->o.amsgrad) {                                                     \
      (mx_) = MAX((mx_), e_s);                                              \
      e_second = (mx_);                                                     \
    }                                                                       \
    T e_denom = SQRT(e_second) / (T)c->bias_correction2_sqrt + (T)c->o.eps; \
    (p_) = e_p + (T)-c->step_size * e_m / e_denom;                          \
    (m_) = e_m;                                                             \
    (s_) = e_s;                                                             \
  } while (0)

/* Slots: BUF0 exp_avg, BUF1 exp_avg_sq, BUF2 max_exp_avg_sq. */
static inline void adam_rule(const adam_consts *c, double (*v)[BLOCK],
                             int64_t j) {
  ADAM_ELEMENT(double, sqrt, fmax, c, v[PARAM][j], v[GRAD][j], v[BUF0][j],
               v[BUF1][j], v[BUF2][j]);
}

/* The float32 form over contiguous operands (mx NULL without amsgrad). */
static void adam_f32(const adam_consts *consts, float *restrict param,
                     const float *restrict grad, float *restrict avg,
                     float *restrict avg_sq, float *restrict max_sq,
                     int64_t n) {
  const adam_consts local = *consts, *c = &local;
  float unused = 0;
  for (int64_t j = 0; j < n; j++)
    ADAM_ELEMENT(float, sqrtf, fmaxf, c, param[j], grad[j], avg[j],
                 avg_sq[j], *(max_sq ? &max_sq[j] : &unused));
}

/* adam_f32 without amsgrad, in one vectorised pass: ADAM_ELEMENT's
 * operations in its order, with every option a loop-invariant select
 * instead of a branch (sqrtf vectorises because this file is compiled
 * with -fno-math-errno; it is correctly rounded either way), so results
 * are bit-identical to adam_f32. */
LG_VECTOR_CLONES
static void adam_f32_vec(const adam_consts *consts, float *restrict param,
                         const float *restrict grad, float *restrict avg,
                         float *restrict avg_sq, int64_t n) {
  const adam_consts c = *consts;
  const bool maximize = c.o.maximize, decoupled = c.o.decoupled_weight_decay;
  const bool l2 = !decoupled && c.o.weight_decay != 0;
  const float decay = (float)(1 - c.o.lr * c.o.weight_decay);
  const float wd = (float)c.o.weight_decay;
  const float b1 = (float)c.o.beta1, ob1 = (float)(1 - c.o.beta1);
  const float b2 = (float)c.o.beta2, ob2 = (float)(1 - c.o.beta2);
  const float bc2 = (float)c.bias_correction2_sqrt, eps = (float)c.o.eps;
  const float neg_step = (float)-c.step_size;
  for (int64_t j = 0; j < n; j++) {
    float g = maximize ? -grad[j] : grad[j];
    float p = param[j];
    p = decoupled ? p * decay : p;
    g = l2 ? g + wd * p : g;
    float m = avg[j] * b1 + ob1 * g;
    float s = avg_sq[j] * b2 + ob2 * g * g;
    float denom = sqrtf(s) / bc2 + eps;
    param[j] = p + neg_step * m / denom;
    avg[j] = m;
    avg_sq[j] = s;
  }
}
DEFINE_BLOCK_RULE(adam_block, adam_consts, adam_rule)

/* Adam (L2 weight decay folded into the gradient) or AdamW (decoupled). */
lg_status lg_optim_adam(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                        lg_tensor *exp_avg, lg_tensor *exp_avg_sq,
                        lg_tensor *max_exp_avg_sq, const lg_adam_opts *opts) {
  const char *name = opts->decoupled_weight_decay ? "adamw" : "adam";
  untraceable_count(ctx, name);
  if (opts->step < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a step count of 1 or more, "
                   "got %lld", name, (long long)opts->step);
  double step = (double)opts->step;
  adam_consts c = {*opts, opts->lr / (1 - pow(opts->beta1, step)),
                   sqrt(1 - pow(opts->beta2, step))};
  operands o = {name,
                {param, grad, exp_avg, exp_avg_sq,
                 opts->amsgrad ? max_exp_avg_sq : NULL},
                {"param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}};
  lg_status st = require_buffer(ctx, &o, BUF0, "always needed");
  if (st == LG_OK) st = require_buffer(ctx, &o, BUF1, "always needed");
  if (st == LG_OK && opts->amsgrad)
    st = require_buffer(ctx, &o, BUF2, "amsgrad is on");
  if (st != LG_OK) return st;
  if (!all_contiguous_f32(&o)) return run_update(ctx, &o, adam_block, &c);
  if ((st = check_operands(ctx, &o)) != LG_OK) return st;
  float *data[N_SLOTS];
  f32_data(&o, data);
  if (opts->amsgrad)
    adam_f32(&c, data[PARAM], data[GRAD], data[BUF0], data[BUF1], data[BUF2],
             lg_tensor_numel(param));
  else
    adam_f32_vec(&c, data[PARAM], data[GRAD], data[BUF0], data[BUF1],
                 lg_tensor_numel(param));
  bump_written(&o);
  return LG_OK;
}

/* ---- RMSprop ------------------------------------------------------------ */

/* Slots: BUF0 square_avg, BUF1 grad_avg, BUF2 momentum_buffer. */
static inline void rmsprop_rule(const lg_rmsprop_opts *c,
                                double (*v)[BLOCK], int64_t j) {
  double g = c->maximize ? -v[GRAD][j] : v[GRAD][j];
  if (c->weight_decay != 0) g = g + c->weight_decay * v[PARAM][j];
  double sq = v[BUF0][j] * c->alpha + (1 - c->alpha) * g * g;
  v[BUF0][j] = sq;
  double avg;
  if (c->centered) {
    double ga = v[BUF1][j] * c->alpha + (1 - c->alpha) * g;
    v[BUF1][j] = ga;
    avg = sqrt(sq + -1.0 * ga * ga);
  } else {
    avg = sqrt(sq);
  }
  avg = avg + c->eps;
  if (c->momentum > 0) {
    double buf = v[BUF2][j] * c->momentum + 1.0 * g / avg;
    v[BUF2][j] = buf;
    v[PARAM][j] = v[PARAM][j] + -c->lr * buf;
  } else {
    v[PARAM][j] = v[PARAM][j] + -c->lr * g / avg;
  }
}
DEFINE_BLOCK_RULE(rmsprop_block, lg_rmsprop_opts, rmsprop_rule)

/* RMSprop, optionally centered and with momentum. */
lg_status lg_optim_rmsprop(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                           lg_tensor *square_avg, lg_tensor *grad_avg,
                           lg_tensor *momentum_buffer,
                           const lg_rmsprop_opts *opts) {
  if (lg_tracing_outside_kernel(ctx)) { /* func.compile records it */
    lg_optim_call call = {.kind = LG_OPTIM_RMSPROP, .o.rmsprop = *opts,
                          .t = {param, grad, square_avg, grad_avg,
                                momentum_buffer}};
    return lg_trace_optim(ctx, &call);
  }
  operands o = {"rmsprop",
                {param, grad, square_avg, opts->centered ? grad_avg : NULL,
                 opts->momentum > 0 ? momentum_buffer : NULL},
                {"param", "grad", "square_avg", "grad_avg",
                 "momentum_buffer"}};
  lg_status st = require_buffer(ctx, &o, BUF0, "always needed");
  if (st == LG_OK && opts->centered)
    st = require_buffer(ctx, &o, BUF1, "centered is on");
  if (st == LG_OK && opts->momentum > 0)
    st = require_buffer(ctx, &o, BUF2, "momentum is above 0");
  if (st != LG_OK) return st;
  return run_update(ctx, &o, rmsprop_block, opts);
}

/* ---- Adagrad ------------------------------------------------------------ */

typedef struct adagrad_consts {
  lg_adagrad_opts o;
  double clr; /* lr / (1 + (step - 1) lr_decay) */
} adagrad_consts;

/* Slot BUF0: the running sum of squared gradients. */
static inline void adagrad_rule(const adagrad_consts *c,
                                double (*v)[BLOCK], int64_t j) {
  double g = c->o.maximize ? -v[GRAD][j] : v[GRAD][j];
  if (c->o.weight_decay != 0) g = g + c->o.weight_decay * v[PARAM][j];
  double sum = v[BUF0][j] + 1.0 * g * g;
  v[BUF0][j] = sum;
  v[PARAM][j] = v[PARAM][j] + -c->clr * g / (sqrt(sum) + c->o.eps);
}
DEFINE_BLOCK_RULE(adagrad_block, adagrad_consts, adagrad_rule)

/* Adagrad with learning-rate decay and weight decay. */
lg_status lg_optim_adagrad(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                           lg_tensor *state_sum,
                           const lg_adagrad_opts *opts) {
  untraceable_count(ctx, "adagrad");
  if (opts->step < 1)
    return lg_fail(ctx, LG_ERR_ARG, "adagrad: expected a step count of 1 or "
                   "more, got %lld", (long long)opts->step);
  adagrad_consts c = {
      *opts, opts->lr / (1 + (double)(opts->step - 1) * opts->lr_decay)};
  operands o = {"adagrad", {param, grad, state_sum, NULL, NULL},
                {"param", "grad", "sum", NULL, NULL}};
  lg_status st = require_buffer(ctx, &o, BUF0, "always needed");
  if (st != LG_OK) return st;
  return run_update(ctx, &o, adagrad_block, &c);
}

/* ---- one update of any kind ----------------------------------------------- */

/* The step number in t: a one-element integer tensor, from 1. */
static lg_status read_count(lg_ctx *ctx, const lg_tensor *t, int64_t *count) {
  if (lg_dtype_is_float(t->dtype) || t->dtype == LG_BOOL ||
      lg_tensor_numel(t) != 1)
    return lg_fail(ctx, LG_ERR_ARG, "optimizer step: expected the step count "
                   "as a one-element integer tensor, got a %s tensor of %lld "
                   "elements", lg_dtype_name(t->dtype),
                   (long long)lg_tensor_numel(t));
  *count = lg_load_int(lg_data_ptr(t), t->dtype);
  return LG_OK;
}

lg_status lg_optim_step(lg_ctx *ctx, const lg_optim_call *call) {
  if (lg_tracing_outside_kernel(ctx)) {
    if (call->t[LG_OPTIM_STEP] || call->kind == LG_OPTIM_SGD ||
        call->kind == LG_OPTIM_RMSPROP)
      return lg_trace_optim(ctx, call); /* it runs the update once, below */
  }
  lg_tensor *const *t = call->t;
  lg_optim_call c = *call;
  lg_status st = LG_OK;
  if (t[LG_OPTIM_STEP] && (c.kind == LG_OPTIM_ADAM || c.kind == LG_OPTIM_ADAGRAD))
    st = read_count(ctx, t[LG_OPTIM_STEP],
                    c.kind == LG_OPTIM_ADAM ? &c.o.adam.step : &c.o.adagrad.step);
  if (st) return st;
  switch (c.kind) {
    case LG_OPTIM_SGD:
      return lg_optim_sgd(ctx, t[0], t[1], t[2], &c.o.sgd);
    case LG_OPTIM_ADAM:
      return lg_optim_adam(ctx, t[0], t[1], t[2], t[3], t[4], &c.o.adam);
    case LG_OPTIM_RMSPROP:
      return lg_optim_rmsprop(ctx, t[0], t[1], t[2], t[3], t[4], &c.o.rmsprop);
    case LG_OPTIM_ADAGRAD:
      return lg_optim_adagrad(ctx, t[0], t[1], t[2], &c.o.adagrad);
  }
  return lg_fail(ctx, LG_ERR_ARG, "optimizer step: unknown kind %d", (int)c.kind);
}
