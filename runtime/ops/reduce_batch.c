/* reduce_batch.c: the batching rules (vmap.h) of the reductions and of the
 * ops over one dim (max/min with indices, argmax/argmin, cumsum/cumprod,
 * softmax/log_softmax): the batch dim goes to the front and every dim the op
 * names shifts past it; "every dim" becomes every dim of the example. */
#include "vmap.h"

/* SUM MEAN PROD AMAX AMIN LOGSUMEXP ALL ANY VAR STD NORM: p->ints dims. */
lg_status lg_batch_reduce(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *in, const int *in_bdim,
                          const lg_params *p, lg_tensor **outs,
                          int *out_bdim) {
  (void)n_in;
  int r = vb_rank(in[0], in_bdim[0]);
  lg_tensor *x = NULL;
  lg_status st = vb_front(ctx, in[0], in_bdim[0], r > 0 ? r : 1, &x);
  if (st) return st;
  lg_params q = *p;
  if (p->n_ints == 0) { /* every dim of the example (a 0-d one as 1 dim) */
    q.n_ints = r > 0 ? r : 1;
    for (int i = 0; i < q.n_ints; i++) q.ints[i] = i + 1;
  } else {
    for (int i = 0; i < p->n_ints; i++) q.ints[i] = vb_dim(p->ints[i], r);
  }
  out_bdim[0] = 0;
  st = vb_run1(ctx, op, x, &q, outs);
  lg_tensor_release(x);
  return st;
}

/* MAX_DIM MIN_DIM ARGMAX ARGMIN CUMSUM CUMPROD SOFTMAX LOG_SOFTMAX and the
 * sorting ops (SORT TOPK KTHVALUE MEDIAN CUMMAX CUMMIN): p->dim
 * (argmax/argmin over the flattened example when p->n_ints == -1). */
lg_status lg_batch_dim(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                       const int *in_bdim, const lg_params *p,
                       lg_tensor **outs, int *out_bdim) {
  (void)n_in;
  int r = vb_rank(in[0], in_bdim[0]);
  lg_tensor *x = NULL, *flat = NULL;
  lg_status st = vb_front(ctx, in[0], in_bdim[0], r > 0 ? r : 1, &x);
  if (st) return st;
  lg_params q = *p;
  out_bdim[0] = out_bdim[1] = 0;
  if ((op == LG_OP_ARGMAX || op == LG_OP_ARGMIN) && p->n_ints == -1) {
    lg_params pr = {0};
    pr.n_ints = 2;
    pr.ints[0] = x->sizes[0];
    pr.ints[1] = -1;
    st = vb_run1(ctx, LG_OP_RESHAPE, x, &pr, &flat);
    q.n_ints = 0;
    q.dim = 1;
    q.flags &= ~LG_FLAG_KEEPDIM;
    lg_tensor *idx = NULL;
    if (!st) st = vb_run1(ctx, op, flat, &q, &idx);
    if (!st && (p->flags & LG_FLAG_KEEPDIM)) { /* all ones of the example */
      lg_params pk = {0};
      pk.n_ints = r + 1;
      pk.ints[0] = x->sizes[0];
      for (int i = 1; i <= r; i++) pk.ints[i] = 1;
      st = vb_run1(ctx, LG_OP_RESHAPE, idx, &pk, outs);
      lg_tensor_release(idx);
    } else {
      outs[0] = idx;
    }
  } else {
    q.dim = vb_dim(p->dim, r > 0 ? r : 1);
    st = vb_run(ctx, op, 1, &x, &q, outs);
  }
  lg_tensor_release(flat);
  lg_tensor_release(x);
  return st;
}
