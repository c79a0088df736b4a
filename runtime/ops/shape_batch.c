/* shape_batch.c: the batching rule (vmap.h) of the views and shape ops:
 * the batch dim goes to the front and the op's dims, sizes, permutation or
 * repeats are the example's shifted past it; cat batches its unbatched
 * inputs by expanding them. */
#include <string.h>

#include "vmap.h"

/* cat: every input batched at the front, dim shifted. */
static lg_status batch_cat(lg_ctx *ctx, int n_in, lg_tensor *const *in,
                           const int *in_bdim, const lg_params *p,
                           lg_tensor **outs) {
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  int r = 0;
  for (int i = 0; i < n_in; i++)
    if (in_bdim[i] >= 0) r = vb_rank(in[i], in_bdim[i]);
  size_t bytes = sizeof(lg_tensor *) * (size_t)n_in;
  lg_tensor **x = lg_mem_alloc(ctx, bytes);
  if (!x) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  memset(x, 0, bytes);
  lg_status st = LG_OK;
  for (int i = 0; i < n_in && !st; i++)
    st = vb_all(ctx, in[i], in_bdim[i], b, &x[i]);
  lg_params q = *p;
  q.dim = vb_dim(p->dim, r);
  if (!st) st = vb_run(ctx, LG_OP_CAT, n_in, x, &q, outs);
  vb_release(n_in, x);
  lg_mem_free(ctx, x, bytes);
  return st;
}

lg_status lg_batch_shape(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                         const int *in_bdim, const lg_params *p,
                         lg_tensor **outs, int *out_bdim) {
  out_bdim[0] = 0;
  if (op == LG_OP_CAT) return batch_cat(ctx, n_in, in, in_bdim, p, outs);
  int r = vb_rank(in[0], in_bdim[0]);
  int rank = r; /* the example's rank the op's params speak of */
  if (op == LG_OP_EXPAND || op == LG_OP_TILE) rank = p->n_ints > r ? p->n_ints : r;
  lg_tensor *x = NULL;
  lg_status st = vb_front(ctx, in[0], in_bdim[0], rank, &x);
  if (st) return st;
  int64_t b = x->sizes[0];
  lg_params q = *p;
  if (q.n_ints + 1 > LG_MAX_DIMS && op != LG_OP_SQUEEZE) {
    lg_tensor_release(x);
    return lg_fail(ctx, LG_ERR_ARG, "%s: more than %d dims inside vmap",
                   lg_op_name(op), LG_MAX_DIMS - 1);
  }
  switch (op) {
  case LG_OP_VIEW:
  case LG_OP_RESHAPE:
  case LG_OP_EXPAND:
    memmove(q.ints + 1, p->ints, sizeof(int64_t) * (size_t)p->n_ints);
    q.ints[0] = b;
    q.n_ints = p->n_ints + 1;
    /* a moved batch dim may leave no view: reshape copies then */
    if (op == LG_OP_VIEW && in_bdim[0] != 0) op = LG_OP_RESHAPE;
    break;
  case LG_OP_TILE: {
    int lead = rank - p->n_ints;
    q.ints[0] = 1;
    for (int i = 0; i < lead; i++) q.ints[1 + i] = 1;
    for (int i = 0; i < p->n_ints; i++) q.ints[1 + lead + i] = p->ints[i];
    q.n_ints = rank + 1;
    break;
  }
  case LG_OP_PERMUTE:
    q.ints[0] = 0;
    for (int i = 0; i < p->n_ints; i++) q.ints[i + 1] = vb_dim(p->ints[i], r);
    q.n_ints = p->n_ints + 1;
    break;
  case LG_OP_FLIP:
    for (int i = 0; i < p->n_ints; i++) q.ints[i] = vb_dim(p->ints[i], r);
    break;
  case LG_OP_SQUEEZE:
    if (p->n_ints == 0) { /* every size-1 dim of the example */
      op = LG_OP_RESHAPE;
      q.n_ints = 0;
      for (int i = 0; i < x->ndim; i++)
        if (i == 0 || x->sizes[i] != 1) q.ints[q.n_ints++] = x->sizes[i];
    } else {
      q.dim = vb_dim(p->dim, r);
    }
    break;
  case LG_OP_UNSQUEEZE:
    q.dim = vb_dim(p->dim, r + 1);
    break;
  default: /* NARROW SELECT: p->dim */
    q.dim = vb_dim(p->dim, r);
    break;
  }
  st = vb_run1(ctx, op, x, &q, outs);
  lg_tensor_release(x);
  return st;
}
