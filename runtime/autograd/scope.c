/* backward_util.c: the scope helpers backward rules are written with
 * (autograd.h), and lg_backward_none for ops without a gradient. */
#include <string.h>

#include "autograd.h"
#include "dtype.h"

void lg_scope_begin(lg_scope *s, lg_ctx *ctx) {
  s->ctx = ctx;
  s->status = LG_OK;
  s->n = 0;
}

lg_status lg_scope_end(lg_scope *s) {
  for (int i = 0; i < s->n; i++) lg_tensor_release(s->temps[i]);
  s->n = 0;
  return s->status;
}

lg_tensor *lg_keep(lg_scope *s, lg_tensor *t) {
  if (s->status || !t) return NULL;
  return lg_tensor_retain(t);
}

static lg_tensor *track(lg_scope *s, lg_tensor *t) {
  if (s->n == LG_SCOPE_MAX) {
    lg_tensor_release(t);
    s->status = lg_fail(s->ctx, LG_ERR_RUNTIME,
                        "backward: a rule used more than %d temporaries",
                        LG_SCOPE_MAX);
    return NULL;
  }
  s->temps[s->n++] = t;
  return t;
}

lg_tensor *lg_s_op(lg_scope *s, lg_op op, int n, lg_tensor *const *in,
                   const lg_params *p) {
  if (s->status) return NULL;
  for (int i = 0; i < n; i++)
    if (!in[i]) {
      s->status = lg_fail(s->ctx, LG_ERR_RUNTIME,
                          "backward: %s got a missing operand",
                          lg_op_name(op));
      return NULL;
    }
  lg_tensor *outs[2] = {NULL, NULL};
  s->status = lg_op_run(s->ctx, op, n, in, p, outs);
  if (s->status) return NULL;
  lg_tensor_release(outs[1]); /* second outputs (indices) are not wanted */
  return track(s, outs[0]);
}

lg_tensor *lg_s_unary(lg_scope *s, lg_op op, lg_tensor *a) {
  return lg_s_op(s, op, 1, &a, NULL);
}

lg_tensor *lg_s_binary(lg_scope *s, lg_op op, lg_tensor *a, lg_tensor *b) {
  lg_tensor *in[2] = {a, b};
  return lg_s_op(s, op, 2, in, NULL);
}

lg_tensor *lg_s_scalar(lg_scope *s, lg_op op, lg_tensor *a, double k) {
  lg_params p = {0};
  p.flags = LG_FLAG_SCALAR_B;
  p.scalar[0] = k;
  return lg_s_op(s, op, 1, &a, &p);
}

lg_tensor *lg_s_rscalar(lg_scope *s, lg_op op, double k, lg_tensor *a) {
  lg_params p = {0};
  p.flags = LG_FLAG_SCALAR_A;
  p.scalar[0] = k;
  return lg_s_op(s, op, 1, &a, &p);
}

lg_tensor *lg_s_sum_to(lg_scope *s, lg_tensor *g, const lg_tensor_info *to) {
  if (s->status || !g) return NULL;
  int lead = g->ndim - to->ndim;
  lg_params p = {0};
  for (int i = 0; i < g->ndim; i++) {
    bool added = i < lead;
    bool expanded = !added && to->sizes[i - lead] == 1 && g->sizes[i] != 1;
    if (added || expanded) p.ints[p.n_ints++] = i;
  }
  lg_tensor *r = g;
  if (p.n_ints > 0) {
    p.flags = LG_FLAG_KEEPDIM;
    r = lg_s_op(s, LG_OP_SUM, 1, &g, &p);
  }
  if (!r) return NULL;
  if (r->ndim != to->ndim) { /* drop the added leading dims */
    lg_params v = {0};
    v.n_ints = to->ndim;
    for (int i = 0; i < to->ndim; i++) v.ints[i] = to->sizes[i];
    r = lg_s_op(s, LG_OP_VIEW, 1, &r, &v);
  }
  return lg_s_cast(s, r, to->dtype);
}

lg_tensor *lg_s_zeros(lg_scope *s, const lg_tensor_info *info) {
  if (s->status) return NULL;
  lg_tensor *t = NULL;
  lg_dtype dt = lg_dtype_is_float(info->dtype) ? info->dtype : LG_FLOAT32;
  s->status = lg_full(s->ctx, dt, info->ndim, info->sizes, 0, &t);
  return s->status ? NULL : track(s, t);
}

lg_tensor *lg_s_cast(lg_scope *s, lg_tensor *g, lg_dtype dtype) {
  if (s->status || !g) return NULL;
  if (g->dtype == dtype || !lg_dtype_is_float(dtype)) return g;
  lg_params p = {0};
  p.dtype = dtype;
  return lg_s_op(s, LG_OP_TO_DTYPE, 1, &g, &p);
}

/* Ops without a gradient never get a node; this is never called. */
lg_status lg_backward_none(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  (void)node;
  (void)grad_out;
  (void)grad_in;
  return lg_fail(ctx, LG_ERR_RUNTIME, "backward: op is not differentiable");
}
