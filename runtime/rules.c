/* rules.c: the batching and jvp columns of the op table (rules.h), and the
 * placeholders lg_batch_none and lg_jvp_none of the ops without one. */
#include "core.h"

static const lg_batch_fn batch_rules[LG_OP_COUNT] = {
#define LG_BATCH_ENTRY(id, name, kind, nin, nout, fwd, bwd, saves, view,     \
                       batch, jvp)                                           \
  batch,
    LG_OP_LIST(LG_BATCH_ENTRY)
#undef LG_BATCH_ENTRY
};

static const lg_jvp_fn jvp_rules[LG_OP_COUNT] = {
#define LG_JVP_ENTRY(id, name, kind, nin, nout, fwd, bwd, saves, view, batch, \
                     jvp)                                                    \
  jvp,
    LG_OP_LIST(LG_JVP_ENTRY)
#undef LG_JVP_ENTRY
};

lg_batch_fn lg_batch_rule(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? batch_rules[op] : lg_batch_none;
}

lg_jvp_fn lg_jvp_rule(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? jvp_rules[op] : lg_jvp_none;
}

lg_status lg_batch_none(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                        const int *in_bdim, const lg_params *p,
                        lg_tensor **outs, int *out_bdim) {
  (void)n_in, (void)in, (void)in_bdim, (void)p, (void)outs, (void)out_bdim;
  return lg_fail(ctx, LG_ERR_ARG, "%s: vmap is not supported yet",
                 lg_op_name(op));
}

lg_status lg_jvp_none(lg_ctx *ctx, lg_op op, int n_in,
                      lg_tensor *const *primal, lg_tensor *const *tangent,
                      const lg_params *p, lg_tensor *const *outs,
                      lg_tensor **out_tangent) {
  (void)n_in, (void)primal, (void)tangent, (void)p, (void)outs;
  (void)out_tangent;
  return lg_fail(ctx, LG_ERR_ARG,
                 "%s: forward-mode AD is not supported yet", lg_op_name(op));
}
