/* jvp_common.c: the helpers jvp.h declares (tangent-or-zeros, alias,
 * sum of present terms, expand_to, a backward rule run as a jvp, the
 * grouped rule) and the jvp rules shared by many rows of lg_ops.h (see
 * jvp.h for the layout of the rule files):
 *   lg_jvp_linear       ops linear in their float inputs (views, shape ops,
 *                       cat, sum, mean, cumsum, clone, casts, index ops,
 *                       where, avg pools): the op itself on the tangents
 *                       (zeros for the missing ones; index and mask inputs
 *                       and the constants of where/masked_fill as given)
 *   lg_jvp_multilinear  matmul, linear, the convolutions: linear in each
 *                       float input apart (a bias adds): the sum of the op
 *                       with one input replaced by its tangent
 *   lg_jvp_elementwise  unary math, clamp and binary arithmetic: their
 *                       Jacobian is diagonal (after broadcasting), so the
 *                       backward rule applied to the broadcast tangent is
 *                       the jvp (PyTorch's auto_element_wise)
 *   lg_jvp_reduce       reductions and max/min over a dim: lg_jvp_grouped
 *   lg_jvp_copy         fill_ (no tangent) and copy_ (the source's)
 *   lg_jvp_nondiff      comparisons, predicates, arg-reductions: none
 */
#include <string.h>

#include "dtype.h"
#include "jvp.h"

static void info_of(const lg_tensor *t, lg_tensor_info *info) {
  info->dtype = t->dtype;
  info->ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) info->sizes[i] = t->sizes[i];
}

lg_tensor *lg_s_tangent_or_zeros(lg_scope *s, lg_tensor *const *primal,
                                 lg_tensor *const *tangent, int i) {
  if (tangent[i]) return tangent[i];
  lg_tensor_info info;
  info_of(primal[i], &info);
  return lg_s_zeros(s, &info);
}

lg_tensor *lg_s_sum_present(lg_scope *s, int n, lg_tensor *const *terms) {
  lg_tensor *sum = NULL;
  for (int i = 0; i < n; i++)
    if (terms[i]) sum = sum ? B(ADD, sum, terms[i]) : terms[i];
  return sum;
}

lg_tensor *lg_s_alias(lg_scope *s, lg_tensor *out) {
  if (!out) return NULL;
  lg_params p = {0};
  p.n_ints = out->ndim;
  for (int i = 0; i < out->ndim; i++) p.ints[i] = out->sizes[i];
  return lg_s_op(s, LG_OP_RESHAPE, 1, &out, &p);
}

lg_tensor *lg_s_expand_to(lg_scope *s, lg_tensor *t, const lg_tensor *out) {
  if (!t || lg_tensor_has_shape(t, out->ndim, out->sizes)) return t;
  lg_params p = {0};
  p.n_ints = out->ndim;
  for (int i = 0; i < out->ndim; i++) p.ints[i] = out->sizes[i];
  return lg_s_op(s, LG_OP_EXPAND, 1, &t, &p);
}

lg_status lg_jvp_nondiff(lg_ctx *ctx, lg_op op, int n_in,
                         lg_tensor *const *primal, lg_tensor *const *tangent,
                         const lg_params *p, lg_tensor *const *outs,
                         lg_tensor **out_tangent) {
  (void)ctx, (void)op, (void)n_in, (void)primal, (void)tangent, (void)p;
  (void)outs, (void)out_tangent;
  return LG_OK;
}

lg_status lg_jvp_linear(lg_ctx *ctx, lg_op op, int n_in,
                        lg_tensor *const *primal, lg_tensor *const *tangent,
                        const lg_params *p, lg_tensor *const *outs,
                        lg_tensor **out_tangent) {
  (void)outs;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  enum { MAX_IN = 32 };
  if (n_in > MAX_IN)
    return lg_fail(ctx, LG_ERR_ARG, "%s: forward-mode AD takes at most %d "
                   "inputs", lg_op_name(op), MAX_IN);
  lg_tensor *args[MAX_IN];
  for (int i = 0; i < n_in; i++)
    args[i] = lg_dtype_is_float(primal[i]->dtype)
                  ? lg_s_tangent_or_zeros(s, primal, tangent, i)
                  : primal[i];
  lg_params q = *p;
  if (op == LG_OP_WHERE || op == LG_OP_MASKED_FILL) { /* constants: 0 */
    q.scalar[0] = q.scalar[1] = 0;
    q.scalar_int = 0;
  }
  /* the tangent's layout may not allow a view where the primal's did */
  lg_op run = op == LG_OP_VIEW ? LG_OP_RESHAPE : op;
  out_tangent[0] = lg_keep(s, lg_s_op(s, run, n_in, args, &q));
  return lg_scope_end(s);
}

lg_status lg_jvp_multilinear(lg_ctx *ctx, lg_op op, int n_in,
                             lg_tensor *const *primal,
                             lg_tensor *const *tangent, const lg_params *p,
                             lg_tensor *const *outs, lg_tensor **out_tangent) {
  (void)outs;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  bool has_bias = n_in == 3 && (p->flags & LG_FLAG_OPT1);
  lg_tensor *bias_t = has_bias ? tangent[2] : NULL, *sum = NULL;
  for (int i = 0; i < 2; i++) {
    if (!tangent[i] && !(i == 1 && bias_t && !sum)) continue;
    /* input i -> its tangent (zeros only to carry a lone bias tangent) */
    lg_tensor *args[3] = {primal[0], primal[1], bias_t};
    args[i] = lg_s_tangent_or_zeros(s, primal, tangent, i);
    lg_params q = *p;
    int n = bias_t ? 3 : 2;
    if (!bias_t) q.flags &= ~LG_FLAG_OPT1;
    lg_tensor *term = lg_s_op(s, op, n, args, &q);
    bias_t = NULL; /* the bias tangent enters once */
    sum = sum ? B(ADD, sum, term) : term;
  }
  out_tangent[0] = lg_keep(s, sum);
  return lg_scope_end(s);
}

lg_status lg_jvp_backward_of(lg_scope *s, lg_op op, int n_in,
                             lg_tensor *const *primal, const bool *want,
                             const lg_params *p, lg_tensor *const *outs,
                             lg_tensor *g0, bool as_output, lg_tensor **grads) {
  enum { MAX_IN = 8, MAX_OUT = 2 };
  for (int i = 0; i < n_in && i < MAX_IN; i++) grads[i] = NULL;
  if (s->status) return s->status;
  int n_out = lg_op_num_outputs(op);
  if (n_in > MAX_IN || n_out > MAX_OUT)
    return s->status = lg_fail(s->ctx, LG_ERR_RUNTIME, "%s: jvp through the "
                               "backward rule takes at most %d inputs",
                               lg_op_name(op), MAX_IN);
  lg_edge edges[MAX_IN];
  lg_tensor *saved[MAX_IN], *saved_out[MAX_OUT], *grad_out[MAX_OUT];
  lg_tensor_info in_info[MAX_IN], out_info[MAX_OUT];
  uint64_t versions[MAX_IN];
  lg_node node;
  memset(&node, 0, sizeof node);
  node.refcount = 1;
  node.ctx = s->ctx;
  node.kind = LG_NODE_OP;
  node.op = op;
  node.params = *p;
  node.n_inputs = n_in;
  node.n_outputs = n_out;
  node.edges = edges;
  node.saved = saved;
  node.saved_versions = versions;
  node.saved_outputs = saved_out;
  node.input_info = in_info;
  node.output_info = out_info;
  for (int k = 0; k < n_out; k++) {
    info_of(outs[k], &out_info[k]);
    saved_out[k] = outs[k];
    grad_out[k] = k == 0 ? g0 : lg_s_zeros(s, &out_info[k]);
  }
  for (int i = 0; i < n_in; i++) {
    /* a non-NULL edge only marks the input as wanted (lg_needs) */
    edges[i] = (lg_edge){want[i] ? &node : NULL, 0};
    saved[i] = primal[i];
    versions[i] = 0;
    info_of(as_output ? outs[0] : primal[i], &in_info[i]);
    if (as_output) in_info[i].dtype = primal[i]->dtype;
  }
  if (s->status) return s->status;
  lg_status st = lg_backward_rule(op)(s->ctx, &node, grad_out, grads);
  if (st) s->status = st;
  for (int i = 0; i < n_in; i++) grads[i] = lg_s_adopt(s, grads[i]);
  return s->status;
}

lg_status lg_jvp_elementwise(lg_ctx *ctx, lg_op op, int n_in,
                             lg_tensor *const *primal,
                             lg_tensor *const *tangent, const lg_params *p,
                             lg_tensor *const *outs, lg_tensor **out_tangent) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *sum = NULL;
  for (int i = 0; i < n_in && i < 2; i++) {
    if (!tangent[i]) continue;
    bool want[2] = {i == 0, i == 1};
    lg_tensor *grads[2] = {NULL, NULL};
    lg_jvp_backward_of(s, op, n_in, primal, want, p, outs,
                       lg_s_expand_to(s, tangent[i], outs[0]), true, grads);
    lg_tensor *term = lg_s_expand_to(s, lg_s_cast(s, grads[i], outs[0]->dtype), outs[0]);
    sum = sum ? B(ADD, sum, term) : term;
  }
  out_tangent[0] = lg_keep(s, sum);
  return lg_scope_end(s);
}

lg_status lg_jvp_grouped(lg_ctx *ctx, lg_op op, int n_in,
                         lg_tensor *const *primal, lg_tensor *const *tangent,
                         const lg_params *p, lg_tensor *const *outs,
                         lg_tensor **out_tangent, int n, const int64_t *dims,
                         bool keepdim) {
  enum { MAX_IN = 8 };
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  bool want[MAX_IN];
  lg_tensor *grads[MAX_IN];
  if (n_in > MAX_IN)
    return lg_fail(ctx, LG_ERR_ARG, "%s: forward-mode AD takes at most %d "
                   "inputs", lg_op_name(op), MAX_IN);
  for (int i = 0; i < n_in; i++) want[i] = tangent[i] != NULL;
  lg_tensor_info oi;
  info_of(outs[0], &oi);
  lg_tensor *ones = K(ADD, lg_s_zeros(s, &oi), 1);
  lg_jvp_backward_of(s, op, n_in, primal, want, p, outs, ones, false, grads);
  lg_tensor *sum = NULL;
  for (int i = 0; i < n_in; i++) {
    if (!grads[i]) continue;
    lg_tensor *term = B(MUL, tangent[i], grads[i]);
    sum = sum ? B(ADD, sum, term) : term;
  }
  lg_params q = {0};
  q.n_ints = n;
  for (int k = 0; k < n; k++) q.ints[k] = dims[k];
  if (keepdim) q.flags = LG_FLAG_KEEPDIM;
  lg_tensor *r = sum ? lg_s_op(s, LG_OP_SUM, 1, &sum, &q) : NULL;
  out_tangent[0] = lg_keep(s, lg_s_cast(s, r, outs[0]->dtype));
  return lg_scope_end(s);
}

lg_status lg_jvp_reduce(lg_ctx *ctx, lg_op op, int n_in,
                        lg_tensor *const *primal, lg_tensor *const *tangent,
                        const lg_params *p, lg_tensor *const *outs,
                        lg_tensor **out_tangent) {
  bool keepdim = (p->flags & LG_FLAG_KEEPDIM) != 0;
  if (op == LG_OP_MAX_DIM || op == LG_OP_MIN_DIM) {
    if (primal[0]->ndim == 0) /* max of a 0-d tensor: itself */
      return lg_jvp_linear(ctx, LG_OP_CLONE, 1, primal, tangent, p, outs,
                           out_tangent);
    return lg_jvp_grouped(ctx, op, n_in, primal, tangent, p, outs,
                          out_tangent, 1, &p->dim, keepdim);
  }
  return lg_jvp_grouped(ctx, op, n_in, primal, tangent, p, outs, out_tangent,
                        p->n_ints, p->ints, keepdim);
}

lg_status lg_jvp_copy(lg_ctx *ctx, lg_op op, int n_in,
                      lg_tensor *const *primal, lg_tensor *const *tangent,
                      const lg_params *p, lg_tensor *const *outs,
                      lg_tensor **out_tangent) {
  (void)primal, (void)p;
  if (op != LG_OP_COPY || n_in < 2 || !tangent[1]) return LG_OK;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  out_tangent[0] = lg_keep(
      s, lg_s_expand_to(s, lg_s_cast(s, tangent[1], outs[0]->dtype), outs[0]));
  return lg_scope_end(s);
}
