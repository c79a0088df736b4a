/* index_batch.c: the batching rule (vmap.h) of the index ops: the batch
 * dim goes to the front of every operand (an unbatched one expanded when
 * the op needs equal ranks) and the op's dim shifts past it; index_select
 * with per-example indices is a gather. masked_select and unique are
 * refused (lg_batch_dynamic), their results' shapes depending on the values
 * (each example would have its own), as functorch refuses them. */
#include "vmap.h"

/* index_select with per-example indices (b, k): a gather along the dim with
 * the indices viewed as (b, 1.., k, 1..) and expanded over x's other dims. */
static lg_status index_select_batched(lg_ctx *ctx, lg_tensor *const *in,
                                      const int *in_bdim, const lg_params *p,
                                      lg_tensor **outs) {
  int64_t b = vb_batch_size(2, in, in_bdim);
  int r = vb_rank(in[0], in_bdim[0]);
  int64_t dim = vb_dim(p->dim, r);
  lg_tensor *x = NULL, *i = NULL, *v = NULL, *e = NULL;
  lg_status st = vb_all(ctx, in[0], in_bdim[0], b, &x);
  if (!st) st = vb_all(ctx, in[1], in_bdim[1], b, &i); /* (b, k) */
  lg_params pv = {0}, pe = {0};
  if (!st) {
    pv.n_ints = pe.n_ints = x->ndim;
    for (int d = 0; d < x->ndim; d++) {
      pv.ints[d] = d == 0 ? b : d == dim ? i->sizes[1] : 1;
      pe.ints[d] = d == dim ? i->sizes[1] : x->sizes[d];
    }
    st = vb_run1(ctx, LG_OP_RESHAPE, i, &pv, &v);
  }
  if (!st) st = vb_run1(ctx, LG_OP_EXPAND, v, &pe, &e);
  lg_params pg = {0};
  pg.dim = dim;
  if (!st) st = vb_run(ctx, LG_OP_GATHER, 2, (lg_tensor *[]){x, e}, &pg, outs);
  vb_release(4, (lg_tensor *[]){x, i, v, e});
  return st;
}

/* unique (and masked_select): no rule can exist, an example's result size
 * depending on its values; an error rather than the per-example loop. */
lg_status lg_batch_dynamic(lg_ctx *ctx, lg_op op, int n_in,
                           lg_tensor *const *in, const int *in_bdim,
                           const lg_params *p, lg_tensor **outs,
                           int *out_bdim) {
  (void)n_in, (void)in, (void)in_bdim, (void)p, (void)outs, (void)out_bdim;
  if (op == LG_OP_MASKED_SELECT)
    return lg_fail(ctx, LG_ERR_ARG, "masked_select: its result's shape "
                   "depends on the values, so it can't run inside vmap; use "
                   "lg.where (or masked_fill) instead");
  return lg_fail(ctx, LG_ERR_ARG, "%s: its result's shape depends on the "
                 "values (each example would have its own), so it can't run "
                 "on a batched tensor inside vmap; call it outside vmap, or "
                 "on each example", lg_op_name(op));
}

lg_status lg_batch_index(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                         const int *in_bdim, const lg_params *p,
                         lg_tensor **outs, int *out_bdim) {
  enum { MAX_IN = 3 };
  if (op == LG_OP_MASKED_SELECT)
    return lg_batch_dynamic(ctx, op, n_in, in, in_bdim, p, outs, out_bdim);
  if (op == LG_OP_INDEX_SELECT && in_bdim[1] >= 0 && in[1]->ndim == 2) {
    out_bdim[0] = 0;
    return index_select_batched(ctx, in, in_bdim, p, outs);
  }
  if ((op == LG_OP_INDEX_SELECT && in_bdim[1] >= 0) || n_in > MAX_IN)
    return lg_batch_loop(ctx, op, n_in, in, in_bdim, p, outs, out_bdim);
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  int r = vb_rank(in[0], in_bdim[0]);
  lg_tensor *x[MAX_IN] = {0};
  lg_status st = LG_OK;
  for (int i = 0; i < n_in && !st; i++) {
    if (op == LG_OP_INDEX_SELECT && i == 1)
      x[i] = lg_tensor_retain(in[i]);
    else if (op == LG_OP_MASKED_FILL && i == 1) /* the mask broadcasts */
      st = vb_front(ctx, in[i], in_bdim[i], r, &x[i]);
    else
      st = vb_all(ctx, in[i], in_bdim[i], b, &x[i]);
  }
  lg_params q = *p;
  q.dim = vb_dim(p->dim, r);
  out_bdim[0] = 0;
  if (!st) st = vb_run(ctx, op, n_in, x, &q, outs);
  vb_release(n_in, x);
  return st;
}
