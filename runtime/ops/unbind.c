/* unbind.c: lg_unbind, the slices of a tensor along one dim as views that
 * share a single graph node (a custom node, "UnbindBackward0"). Its
 * backward stacks the slices' gradients, so T per-step slices of a
 * sequence cost one gradient of the sequence's size, where T selects
 * would each give a zero-padded full-size gradient to be summed (the
 * quadratic backward of issue 12). The stack is a recorded op, so the
 * gradient is differentiable under create_graph. */
#include <stdint.h>

#include "autograd.h"

static lg_status unbind_backward(lg_ctx *ctx, void *ud, int n_out,
                                 lg_tensor *const *grad_out, int n_in,
                                 lg_tensor **grad_in) {
  (void)n_in;
  return lg_stack(ctx, n_out, grad_out, (int64_t)(intptr_t)ud, &grad_in[0]);
}

lg_status lg_unbind(lg_ctx *ctx, lg_tensor *t, int64_t dim,
                    lg_tensor **outs) {
  if (t->ndim == 0)
    return lg_fail(ctx, LG_ERR_ARG, "unbind: cannot unbind a 0-d tensor");
  int64_t d;
  lg_status st = lg_wrap_dim(ctx, "unbind", dim, t->ndim, &d);
  if (st) return st;
  int64_t n = t->sizes[d];
  if (n > INT32_MAX)
    return lg_fail(ctx, LG_ERR_ARG, "unbind: too many slices (%lld)",
                   (long long)n);
  for (int64_t k = 0; k < n; k++) outs[k] = NULL;
  lg_params p = {0};
  p.dim = d;
  bool recording = ctx->grad_enabled;
  ctx->grad_enabled = false; /* views outside the graph, through every layer */
  for (int64_t k = 0; k < n && !st; k++) {
    p.start = k;
    st = lg_op_run(ctx, LG_OP_SELECT, 1, &t, &p, &outs[k]);
  }
  ctx->grad_enabled = recording;
  if (!st && n > 0 && recording && lg_tensor_requires_grad(t)) {
    st = lg_autograd_attach_custom(ctx, "UnbindBackward0", 1, &t, (int)n,
                                   outs, unbind_backward, (void *)(intptr_t)d,
                                   NULL);
    /* views of a tensor in the graph: in-place changes are refused, as for
     * the other view ops */
    for (int64_t k = 0; k < n && !st; k++)
      ((lg_autograd_meta *)outs[k]->autograd)->is_view = true;
  }
  if (st)
    for (int64_t k = 0; k < n; k++) {
      lg_tensor_release(outs[k]);
      outs[k] = NULL;
    }
  return st;
}
