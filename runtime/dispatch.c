/* dispatch.c: the op table generated from lg_ops.h and lg_op_run, the one
 * entry point through which every op runs; it hands ops that need a graph
 * to autograd/record.c, which records them. */
#include <string.h>

#include "autograd.h"

typedef struct op_info {
  const char *name;
  int kind;
  int n_inputs; /* -1: variable */
  int n_outputs;
  lg_forward_fn forward;
  lg_backward_fn backward;
} op_info;

static const op_info op_table[LG_OP_COUNT] = {
#define LG_OP_ENTRY(id, name, kind, nin, nout, fwd, bwd) {name, kind, nin, nout, fwd, bwd},
    LG_OP_LIST(LG_OP_ENTRY)
#undef LG_OP_ENTRY
};

const char *lg_op_name(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].name : "?";
}

int lg_op_num_outputs(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].n_outputs : 0;
}

int lg_op_kind(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].kind : 0;
}

/* out=: checks the request, then runs the kernel into the caller's outs[0]
 * without recording (PyTorch refuses out= when autograd would need it). */
static lg_status run_out(lg_ctx *ctx, lg_op op, int n_inputs,
                         lg_tensor *const *inputs, const lg_params *params,
                         lg_tensor **outs) {
  const char *name = op_table[op].name;
  lg_tensor *given = outs[0];
  if (!given)
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= was requested without an "
                   "output tensor", name);
  if (params->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= and in place can't be "
                   "combined", name);
  bool needs_grad = lg_autograd_needs_grad(given);
  for (int i = 0; i < n_inputs && !needs_grad; i++)
    needs_grad = lg_autograd_needs_grad(inputs[i]);
  if (ctx->grad_enabled && needs_grad &&
      op_table[op].backward != lg_backward_none)
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= arguments don't support "
                   "automatic differentiation, but one of the arguments "
                   "requires grad (use no_grad, or drop out=)", name);
  return lg_op_run_forward(ctx, op, n_inputs, inputs, params, outs);
}

/* Runs op; see luagrad.h. */
lg_status lg_op_run(lg_ctx *ctx, lg_op op, int n_inputs,
                    lg_tensor *const *inputs, const lg_params *params,
                    lg_tensor **outs) {
  static const lg_params no_params;
  if ((unsigned)op >= LG_OP_COUNT)
    return lg_fail(ctx, LG_ERR_ARG, "op_run: unknown op %d", (int)op);
  const op_info *info = &op_table[op];
  if (!params) params = &no_params;
  int scalar_operands =
      info->kind == LG_KIND_BINARY || info->kind == LG_KIND_COMPARE ||
              op == LG_OP_WHERE
          ? !!(params->flags & LG_FLAG_SCALAR_A) +
                !!(params->flags & LG_FLAG_SCALAR_B)
          : 0;
  if (info->n_inputs >= 0 && n_inputs != info->n_inputs - scalar_operands)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected %d tensor inputs, got %d",
                   info->name, info->n_inputs - scalar_operands, n_inputs);
  if (n_inputs < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected at least one tensor",
                   info->name);
  for (int i = 0; i < n_inputs; i++)
    if (!inputs[i])
      return lg_fail(ctx, LG_ERR_ARG, "%s: input %d is NULL", info->name,
                     i + 1);
  if (params->flags & LG_FLAG_OUT) return run_out(ctx, op, n_inputs, inputs,
                                                  params, outs);
  bool handled;
  lg_status st = lg_autograd_record_run(ctx, op, n_inputs, inputs, params,
                                        outs, &handled);
  if (handled || st) return st;
  return lg_op_run_forward(ctx, op, n_inputs, inputs, params, outs);
}

/* The forward half of lg_op_run: no checks, no graph. */
lg_status lg_op_run_forward(lg_ctx *ctx, lg_op op, int n_inputs,
                            lg_tensor *const *inputs, const lg_params *params,
                            lg_tensor **outs) {
  const op_info *info = &op_table[op];
  bool inplace = (params->flags & LG_FLAG_INPLACE) != 0;
  /* out=: the kernel validates the given outs[0] (lg_prepare_out) and
   * writes into it; kernels without out support replace it, caught below */
  lg_tensor *given = (params->flags & LG_FLAG_OUT) ? outs[0] : NULL;
  for (int i = 0; i < info->n_outputs; i++) outs[i] = NULL;
  if (inplace) outs[0] = inputs[0];
  if (given) outs[0] = given;
  lg_status st = info->forward(ctx, op, inputs, n_inputs, params, outs);
  if (st != LG_OK) {
    for (int i = 0; i < info->n_outputs; i++) outs[i] = NULL;
    return st;
  }
  if (given && outs[0] != given) {
    for (int i = 0; i < info->n_outputs; i++) {
      lg_tensor_release(outs[i]);
      outs[i] = NULL;
    }
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= is not supported by this op",
                   info->name);
  }
  if (inplace || given) outs[0]->storage->version++;
  return LG_OK;
}

lg_backward_fn lg_backward_rule(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].backward : lg_backward_none;
}

lg_status lg_run1(lg_ctx *ctx, lg_op op, lg_tensor *a, const lg_params *p,
                  lg_tensor **out) {
  lg_tensor *in[1] = {a};
  return lg_op_run(ctx, op, 1, in, p, out);
}

lg_status lg_run2(lg_ctx *ctx, lg_op op, lg_tensor *a, lg_tensor *b,
                  const lg_params *p, lg_tensor **out) {
  lg_tensor *in[2] = {a, b};
  return lg_op_run(ctx, op, 2, in, p, out);
}
