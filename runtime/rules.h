/* rules.h: the per-op rule families beside the kernel and the backward
 * rule (runtime/autograd/autograd.h): the batching rule (vmap) and the jvp
 * rule (forward-mode AD), one column each in lg_ops.h. Rows without one
 * name lg_batch_none (vmap runs those ops in its per-example loop;
 * called directly it fails naming the op) and lg_jvp_none.
 */
#ifndef LG_RULES_H
#define LG_RULES_H

#include "luagrad.h"

/* A batching rule: runs op on inputs that carry a batch dim (in_bdim[i]:
 * input i's batch dim, -1 when it has none), as plain ops over the whole
 * batch, and says where each output's batch dim is (out_bdim). */
typedef lg_status (*lg_batch_fn)(lg_ctx *ctx, lg_op op, int n_in,
                                 lg_tensor *const *in, const int *in_bdim,
                                 const lg_params *p, lg_tensor **outs,
                                 int *out_bdim);

/* A jvp rule: the tangents of op's outputs (out_tangent) from its inputs'
 * tangents (tangent[i] NULL: zero), written with differentiable ops, given
 * the primal inputs and outputs. */
typedef lg_status (*lg_jvp_fn)(lg_ctx *ctx, lg_op op, int n_in,
                               lg_tensor *const *primal,
                               lg_tensor *const *tangent, const lg_params *p,
                               lg_tensor *const *outs,
                               lg_tensor **out_tangent);

/* Rule families named in lg_ops.h. */
#define LG_RULES_DECLARE(id, name, kind, nin, nout, fwd, bwd, saves, view,   \
                         batch, jvp)                                         \
  lg_status batch(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,     \
                  const int *in_bdim, const lg_params *p, lg_tensor **outs,  \
                  int *out_bdim);                                            \
  lg_status jvp(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *primal,   \
                lg_tensor *const *tangent, const lg_params *p,               \
                lg_tensor *const *outs, lg_tensor **out_tangent);
LG_OP_LIST(LG_RULES_DECLARE)
#undef LG_RULES_DECLARE

/* The op's rules from the op table. */
lg_batch_fn lg_batch_rule(lg_op op);
lg_jvp_fn lg_jvp_rule(lg_op op);

#endif
