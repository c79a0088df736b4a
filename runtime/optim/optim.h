/* optim.h: fused in-place optimizer updates (SGD, Adam/AdamW, RMSprop,
 * Adagrad), one call per parameter over its whole buffer.
 *
 * Each call reads the gradient, rewrites the parameter and the optimizer's
 * state buffers in place following PyTorch's single-tensor update rules,
 * and bumps the version counter of every tensor it wrote. The updates are
 * not ops of the op table: nothing is recorded for autograd, whatever the
 * grad mode. The parameter must be floating point; gradient and buffers
 * must have its dtype and shape. Contiguous float32/float64 operands are
 * read and written with converting block copies; strided ones element by
 * element; both feed the same update rule.
 */
#ifndef LG_OPTIM_H
#define LG_OPTIM_H

#include "luagrad.h"

/* torch.optim.SGD's rule for one parameter. */
typedef struct lg_sgd_opts {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first_step; /* the momentum buffer is fresh: set it to the step */
} lg_sgd_opts;

/* torch.optim.Adam's rule; decoupled_weight_decay selects AdamW's. */
typedef struct lg_adam_opts {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step; /* this step's number, counting from 1 */
  bool amsgrad, maximize, decoupled_weight_decay;
} lg_adam_opts;

/* torch.optim.RMSprop's rule. */
typedef struct lg_rmsprop_opts {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
} lg_rmsprop_opts;

/* torch.optim.Adagrad's rule. */
typedef struct lg_adagrad_opts {
  double lr, lr_decay, weight_decay, eps;
  int64_t step; /* this step's number, counting from 1 */
  bool maximize;
} lg_adagrad_opts;

/* param (N) -= lr * direction(grad (N)); momentum_buffer (N) is required
 * when momentum != 0 and ignored (may be NULL) otherwise. */
lg_status lg_optim_sgd(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                       lg_tensor *momentum_buffer, const lg_sgd_opts *opts);
/* Adam/AdamW on param (N) with exp_avg, exp_avg_sq (N) and, when amsgrad,
 * max_exp_avg_sq (N; may be NULL otherwise). */
lg_status lg_optim_adam(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                        lg_tensor *exp_avg, lg_tensor *exp_avg_sq,
                        lg_tensor *max_exp_avg_sq, const lg_adam_opts *opts);
/* RMSprop on param (N) with square_avg (N), grad_avg (N, when centered)
 * and momentum_buffer (N, when momentum > 0). */
lg_status lg_optim_rmsprop(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                           lg_tensor *square_avg, lg_tensor *grad_avg,
                           lg_tensor *momentum_buffer,
                           const lg_rmsprop_opts *opts);
/* Adagrad on param (N) with the running sum of squares state_sum (N). */
lg_status lg_optim_adagrad(lg_ctx *ctx, lg_tensor *param, lg_tensor *grad,
                           lg_tensor *state_sum, const lg_adagrad_opts *opts);

/* One update of any of the four, its step number optionally read from a
 * tensor (the pure form's state.step; func.compile records such an update
 * as a plan step that reads the count at every replay). */
typedef enum lg_optim_kind {
  LG_OPTIM_SGD, LG_OPTIM_ADAM, LG_OPTIM_RMSPROP, LG_OPTIM_ADAGRAD
} lg_optim_kind;

/* Operand slots of an lg_optim_call; unused ones NULL. */
enum {
  LG_OPTIM_PARAM, LG_OPTIM_GRAD, LG_OPTIM_BUF0, LG_OPTIM_BUF1, LG_OPTIM_BUF2,
  LG_OPTIM_STEP, LG_OPTIM_SLOTS
};

typedef struct lg_optim_call {
  lg_optim_kind kind;
  union {
    lg_sgd_opts sgd;
    lg_adam_opts adam;
    lg_rmsprop_opts rmsprop;
    lg_adagrad_opts adagrad;
  } o;
  /* param, grad, then the buffers in the order of the kind's function
   * (sgd: momentum_buffer; adam: exp_avg, exp_avg_sq, max_exp_avg_sq;
   * rmsprop: square_avg, grad_avg, momentum_buffer; adagrad: sum), then
   * LG_OPTIM_STEP: a one-element integer tensor whose value replaces
   * o.adam.step / o.adagrad.step (this update's number, from 1), or NULL */
  lg_tensor *t[LG_OPTIM_SLOTS];
} lg_optim_call;

/* Runs call; while func.compile traces, records it instead (then runs it). */
lg_status lg_optim_step(lg_ctx *ctx, const lg_optim_call *call);

#endif
