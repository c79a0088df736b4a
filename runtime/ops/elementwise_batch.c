/* elementwise_batch.c: the batching rules (vmap.h) of the elementwise ops:
 * unary ops keep the batch dim where it is; binary ops, comparisons, where
 * and copy_ move every batched operand's batch dim to the front, padded so
 * that the examples broadcast as they would alone (an unbatched operand
 * broadcasts against the whole batch); in place, the target's batch dim is
 * moved by a view, so the op still writes into its storage. */
#include "vmap.h"

lg_status lg_batch_unary(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                         const int *in_bdim, const lg_params *p,
                         lg_tensor **outs, int *out_bdim) {
  (void)n_in;
  out_bdim[0] = in_bdim[0];
  return vb_run(ctx, op, 1, in, p, outs);
}

lg_status lg_batch_binary(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *in, const int *in_bdim,
                          const lg_params *p, lg_tensor **outs,
                          int *out_bdim) {
  enum { MAX_IN = 4 };
  if (n_in > MAX_IN) return lg_batch_loop(ctx, op, n_in, in, in_bdim, p, outs, out_bdim);
  bool inplace = (p->flags & LG_FLAG_INPLACE) || op == LG_OP_COPY;
  int rank = 0;
  for (int i = 0; i < n_in; i++) {
    int r = vb_rank(in[i], in_bdim[i]);
    if (r > rank) rank = r;
  }
  if (inplace) rank = vb_rank(in[0], in_bdim[0]);
  lg_tensor *x[MAX_IN] = {0};
  lg_status st = LG_OK;
  for (int i = 0; i < n_in && !st; i++)
    st = vb_front(ctx, in[i], in_bdim[i], i == 0 && inplace ? 0 : rank, &x[i]);
  if (!st) st = vb_run(ctx, op, n_in, x, p, outs);
  out_bdim[0] = 0;
  vb_release(n_in, x);
  return st;
}
