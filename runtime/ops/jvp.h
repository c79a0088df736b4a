/* jvp.h: what jvp rules (forward mode, the jvp column of lg_ops.h) are
 * written with, beside formula.h's shorthands.
 *
 * Layout of the rules: runtime/ops/jvp_common.c holds the helpers declared
 * here and the rule shapes shared by many rows (linear ops, multilinear
 * ops, elementwise ops through their backward rule, reductions through
 * theirs, fill_/copy_, no tangent); each family with rules of its own has
 * runtime/ops/<family>_jvp.c (nn_jvp.c: softmax, log_softmax, cross_entropy/nll_loss, the norms; pool_jvp.c: max_pool2d;
 * reduce_jvp.c: cumprod; rnn_jvp.c: lstm_cell and gru_cell).
 * A rule gets the primal inputs, their tangents (NULL: zero), the params
 * and the primal outputs, and returns one tangent per output (NULL: zero
 * or none) computed with differentiable ops, so that the other levels and
 * autograd see them (dual.c runs it with its own level suspended). */
#ifndef LG_JVP_H
#define LG_JVP_H

#include "formula.h"

/* The tangent of input i, or zeros shaped like the primal. */
lg_tensor *lg_s_tangent_or_zeros(lg_scope *s, lg_tensor *const *primal,
                                 lg_tensor *const *tangent, int i);

/* An alias (a view) of a primal output for a rule to compute with: a
 * node of the rule that saved the output itself would hold it, and it
 * holds that node through its tangent (a reference cycle). */
lg_tensor *lg_s_alias(lg_scope *s, lg_tensor *out);

/* The sum of the present terms (NULL ones are absent; all absent: NULL). */
lg_tensor *lg_s_sum_present(lg_scope *s, int n, lg_tensor *const *terms);

/* t broadcast to out's shape (t itself when it has it; NULL stays NULL). */
lg_tensor *lg_s_expand_to(lg_scope *s, lg_tensor *t, const lg_tensor *out);

/* Runs the backward rule of op on the given primals and outputs, as if the
 * op had been recorded, with grad_out[0] = g0 (other outputs zeros):
 * grads[i] (temporaries of s) for each input i whose want[i] is set. as_output: every input's
 * shape reads as output 0's (for elementwise ops the gradient is then not
 * summed over broadcast dims). */
lg_status lg_jvp_backward_of(lg_scope *s, lg_op op, int n_in,
                             lg_tensor *const *primal, const bool *want,
                             const lg_params *p, lg_tensor *const *outs,
                             lg_tensor *g0, bool as_output, lg_tensor **grads);

/* Each output element depends on its own group of input elements (a
 * reduction over dims): the tangent is sum over the group of t * d out /
 * d x, the derivative from the backward rule run with ones. The reduced
 * dims: dims[0..n) (n == 0: all), keepdim as given. */
lg_status lg_jvp_grouped(lg_ctx *ctx, lg_op op, int n_in,
                         lg_tensor *const *primal, lg_tensor *const *tangent,
                         const lg_params *p, lg_tensor *const *outs,
                         lg_tensor **out_tangent, int n, const int64_t *dims,
                         bool keepdim);

#endif
