/* scope.c: the scope helpers backward rules are written with
 * (autograd.h), and lg_backward_none for ops without a gradient. */
#include <string.h>

#include "autograd.h"
#include "dtype.h"

void lg_scope_begin(lg_scope *s, lg_ctx *ctx) {
  s->ctx = ctx;
  s->status = LG_OK;
  s->n = 0;
  s->cap = LG_SCOPE_INLINE;
  s->temps = s->inline_temps;
}

lg_status lg_scope_end(lg_scope *s) {
  for (int i = 0; i < s->n; i++) lg_tensor_release(s->temps[i]);
  if (s->temps != s->inline_temps)
    lg_mem_free(s->ctx, s->temps, sizeof(lg_tensor *) * (size_t)s->cap);
  s->n = 0;
  s->cap = LG_SCOPE_INLINE;
  s->temps = s->inline_temps;
  return s->status;
}

lg_tensor *lg_keep(lg_scope *s, lg_tensor *t) {
  if (s->status || !t) return NULL;
  return lg_tensor_retain(t);
}

/* Doubles the temporaries' array; false (status set) when out of memory. */
static bool grow(lg_scope *s) {
  size_t cap = (size_t)s->cap * 2;
  lg_tensor **temps = cap <= (size_t)1 << 28
                          ? lg_mem_alloc(s->ctx, sizeof(lg_tensor *) * cap)
                          : NULL;
  if (!temps) {
    s->status = lg_fail(s->ctx, LG_ERR_MEMORY,
                        "backward: out of memory for a rule's %d temporaries",
                        s->n + 1);
    return false;
  }
  memcpy(temps, s->temps, sizeof(lg_tensor *) * (size_t)s->n);
  if (s->temps != s->inline_temps)
    lg_mem_free(s->ctx, s->temps, sizeof(lg_tensor *) * (size_t)s->cap);
  s->temps = temps;
  s->cap = (int)cap;
  return true;
}

/* Registers t as a temporary; on failure releases it (status set). */
static lg_tensor *track(lg_scope *s, lg_tensor *t) {
  if (!t) return NULL;
  if (s->n == s->cap && !grow(s)) {
    lg_tensor_release(t);
    return NULL;
  }
  s->temps[s->n++] = t;
  return t;
}

lg_tensor *lg_s_adopt(lg_scope *s, lg_tensor *t) {
  if (t && s->status) lg_tensor_release(t);
  return t && !s->status ? track(s, t) : NULL;
}

lg_status lg_s_op_all(lg_scope *s, lg_op op, int n, lg_tensor *const *in,
                      const lg_params *p, lg_tensor **outs) {
  int n_out = lg_op_num_outputs(op);
  for (int k = 0; k < n_out; k++) outs[k] = NULL;
  if (s->status) return s->status;
  for (int i = 0; i < n; i++)
    if (!in[i])
      return s->status = lg_fail(s->ctx, LG_ERR_RUNTIME,
                                 "backward: %s got a missing operand",
                                 lg_op_name(op));
  if ((s->status = lg_op_run(s->ctx, op, n, in, p, outs))) return s->status;
  for (int k = 0; k < n_out; k++) /* a failed one releases the rest */
    if (s->status) lg_tensor_release(outs[k]);
    else track(s, outs[k]);
  if (s->status)
    for (int k = 0; k < n_out; k++) outs[k] = NULL;
  return s->status;
}

lg_tensor *lg_s_op(lg_scope *s, lg_op op, int n, lg_tensor *const *in,
                   const lg_params *p) {
  enum { FEW = 4 };
  lg_tensor *outs[FEW];
  if (lg_op_num_outputs(op) > FEW) {
    s->status = lg_fail(s->ctx, LG_ERR_RUNTIME, "backward: %s has more "
                        "outputs than lg_s_op takes", lg_op_name(op));
    return NULL;
  }
  return lg_s_op_all(s, op, n, in, p, outs) ? NULL : outs[0];
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

lg_tensor *lg_s_reshape(lg_scope *s, lg_tensor *t, int ndim,
                        const int64_t *sizes) {
  lg_params p = {0};
  p.n_ints = ndim;
  for (int i = 0; i < ndim; i++) p.ints[i] = sizes[i];
  return lg_s_op(s, LG_OP_RESHAPE, 1, &t, &p);
}

lg_tensor *lg_s_reshape_to(lg_scope *s, lg_tensor *t,
                           const lg_tensor_info *info) {
  return lg_s_reshape(s, t, info->ndim, info->sizes);
}

lg_tensor *lg_s_transpose(lg_scope *s, lg_tensor *t) {
  if (s->status || !t) return NULL;
  lg_params p = {0};
  p.n_ints = t->ndim;
  for (int i = 0; i < t->ndim; i++) p.ints[i] = i;
  p.ints[t->ndim - 2] = t->ndim - 1;
  p.ints[t->ndim - 1] = t->ndim - 2;
  return lg_s_op(s, LG_OP_PERMUTE, 1, &t, &p);
}

lg_tensor *lg_s_reduce_kept(lg_scope *s, lg_op op, lg_tensor *a, int n,
                            const int64_t *dims) {
  lg_params p = {0};
  p.flags = LG_FLAG_KEEPDIM;
  p.n_ints = n;
  for (int i = 0; i < n; i++) p.ints[i] = dims[i];
  return lg_s_op(s, op, 1, &a, &p);
}

lg_tensor *lg_s_sum_channels(lg_scope *s, lg_tensor *a) {
  if (s->status || !a) return NULL;
  lg_params p = {0};
  if (a->ndim > 2) { /* (N, C, *) -> (N, C): dense rows */
    for (int i = 2; i < a->ndim; i++) p.ints[p.n_ints++] = i;
    a = lg_s_op(s, LG_OP_SUM, 1, &a, &p);
  }
  p.n_ints = 1; /* (N, C) -> (C): whole rows added */
  p.ints[0] = 0;
  return lg_s_op(s, LG_OP_SUM, 1, &a, &p);
}

lg_tensor *lg_s_per_channel(lg_scope *s, lg_tensor *v, int x_ndim) {
  int64_t sizes[LG_MAX_DIMS];
  if (!v) return NULL;
  sizes[0] = v->sizes[0];
  for (int i = 1; i < x_ndim - 1; i++) sizes[i] = 1;
  return lg_s_reshape(s, v, x_ndim - 1, sizes);
}

lg_tensor *lg_s_pad_dim(lg_scope *s, lg_tensor *g, int64_t dim,
                        int64_t before, int64_t after) {
  if (s->status || !g) return NULL;
  if (before == 0 && after == 0) return g;
  lg_tensor *pieces[3];
  int n = 0;
  lg_tensor_info zeros = {g->dtype, g->ndim, {0}};
  memcpy(zeros.sizes, g->sizes, sizeof zeros.sizes);
  if (before > 0) {
    zeros.sizes[dim] = before;
    pieces[n++] = lg_s_zeros(s, &zeros);
  }
  pieces[n++] = g;
  if (after > 0) {
    zeros.sizes[dim] = after;
    pieces[n++] = lg_s_zeros(s, &zeros);
  }
  lg_params p = {0};
  p.dim = dim;
  return lg_s_op(s, LG_OP_CAT, n, pieces, &p);
}

/* Ops without a gradient never get a node; this is never called. */
lg_status lg_backward_none(lg_ctx *ctx, lg_node *node,
                           lg_tensor *const *grad_out, lg_tensor **grad_in) {
  (void)node;
  (void)grad_out;
  (void)grad_in;
  return lg_fail(ctx, LG_ERR_RUNTIME, "backward: op is not differentiable");
}
