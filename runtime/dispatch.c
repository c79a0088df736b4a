/* dispatch.c: the op table generated from lg_ops.h (names, kinds, arities,
 * kernels), and lg_op_run, the one entry point through which every op runs.
 *
 * lg_op_run checks the arguments, then walks the context's stack of layers
 * from the top: each layer handles the op or passes it one layer down
 * (lg_dispatch), and below the bottom layer the kernel runs. Autograd
 * recording is the bottom layer (autograd/record.c); this file knows no
 * layer by name.
 */
#include <string.h>

#include "core.h"

typedef struct op_info {
  const char *name;
  int kind;
  int n_inputs; /* -1: variable */
  int n_outputs;
  lg_forward_fn forward;
} op_info;

static const op_info op_table[LG_OP_COUNT] = {
#define LG_OP_ENTRY(id, name, kind, nin, nout, fwd, bwd, saves, view, batch, \
                    jvp)                                                     \
  {name, kind, nin, nout, fwd},
    LG_OP_LIST(LG_OP_ENTRY)
#undef LG_OP_ENTRY
};

const char *lg_op_name(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].name : "?";
}

int lg_op_num_outputs(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].n_outputs : 0;
}

lg_forward_fn lg_op_forward(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].forward : NULL;
}

int lg_op_kind(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? op_table[op].kind : 0;
}

/* ---- the layer stack ----------------------------------------------------- */

lg_status lg_layer_push(lg_ctx *ctx, const lg_layer *layer) {
  if (!ctx->layers) { /* a fresh context: the inline slots */
    ctx->layers = ctx->layers_inline;
    ctx->cap_layers = LG_LAYERS_INLINE;
  }
  if (ctx->n_layers == ctx->cap_layers) {
    int cap = ctx->cap_layers * 2;
    const lg_layer **grown = lg_mem_alloc(ctx, sizeof *grown * (size_t)cap);
    if (!grown) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
    memcpy(grown, ctx->layers, sizeof *grown * (size_t)ctx->n_layers);
    if (ctx->layers != ctx->layers_inline)
      lg_mem_free(ctx, ctx->layers, sizeof *grown * (size_t)ctx->cap_layers);
    ctx->layers = grown;
    ctx->cap_layers = cap;
  }
  ctx->layers[ctx->n_layers++] = layer;
  return LG_OK;
}

lg_status lg_layer_pop(lg_ctx *ctx, const lg_layer *layer) {
  if (ctx->n_layers == 0 || ctx->layers[ctx->n_layers - 1] != layer)
    return lg_fail(ctx, LG_ERR_ARG, "layer_pop: %s is not the top layer "
                   "(layers are popped in the reverse order of their push)",
                   layer ? layer->name : "NULL");
  ctx->n_layers--;
  return LG_OK;
}

/* Frees a grown stack (lg_ctx_free). */
void lg_layers_free(lg_ctx *ctx) {
  if (ctx->layers && ctx->layers != ctx->layers_inline)
    lg_mem_free(ctx, ctx->layers,
                sizeof *ctx->layers * (size_t)ctx->cap_layers);
  ctx->layers = NULL;
  ctx->n_layers = ctx->cap_layers = 0;
}

/* ---- running ops --------------------------------------------------------- */

/* The kernel, below every layer: no checks, no graph. */
lg_status lg_run_kernel(lg_ctx *ctx, lg_op op, int n_inputs,
                        lg_tensor *const *inputs, const lg_params *params,
                        lg_tensor **outs) {
  if (lg_tracing_outside_kernel(ctx)) /* func.compile records this call */
    return lg_trace_kernel(ctx, op, n_inputs, inputs, params, outs);
  const op_info *info = &op_table[op];
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i]->batched) /* its vmap has returned: no layer unwrapped it */
      return lg_fail(ctx, LG_ERR_ARG, "%s: a batched tensor escaped the "
                     "vmap that made it (return it from the vmapped "
                     "function instead of keeping it)", info->name);
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

/* out= requests: checks what no layer can fix. */
static lg_status check_out(lg_ctx *ctx, const op_info *info,
                           const lg_params *params, lg_tensor **outs) {
  if (!outs[0])
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= was requested without an "
                   "output tensor", info->name);
  if (params->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= and in place can't be "
                   "combined", info->name);
  return LG_OK;
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
  if (params->flags & LG_FLAG_OUT) {
    lg_status st = check_out(ctx, info, params, outs);
    if (st) return st;
  }
  if (lg_interrupt_pending(ctx)) return lg_check_interrupt(ctx);
  return lg_dispatch(ctx, ctx->n_layers, op, n_inputs, inputs, params, outs);
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
