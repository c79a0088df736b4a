/* structure_batch.c: the batching rule (vmap.h) of tril, triu, diagonal
 * and diag_embed: the batch dim goes to the front; tril and triu act on
 * the last two dims, so only their rank needs checking; the dims of
 * diagonal (the example's rank) and diag_embed (the result's rank) shift
 * past the batch dim. */
#include "vmap.h"

lg_status lg_batch_structure(lg_ctx *ctx, lg_op op, int n_in,
                             lg_tensor *const *in, const int *in_bdim,
                             const lg_params *p, lg_tensor **outs,
                             int *out_bdim) {
  (void)n_in;
  out_bdim[0] = 0;
  int r = vb_rank(in[0], in_bdim[0]);
  if ((op != LG_OP_DIAG_EMBED && r < 2) || r < 1)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: expected a tensor with at least %d dims, got a %d-d "
                   "one",
                   lg_op_name(op), op == LG_OP_DIAG_EMBED ? 1 : 2, r);
  lg_tensor *x = NULL;
  lg_status st = vb_front(ctx, in[0], in_bdim[0], r, &x);
  if (st) return st;
  lg_params q = *p;
  if (op == LG_OP_DIAGONAL || op == LG_OP_DIAG_EMBED) {
    int rank = op == LG_OP_DIAGONAL ? r : r + 1;
    q.ints[0] = vb_dim(p->ints[0], rank);
    q.ints[1] = vb_dim(p->ints[1], rank);
  }
  st = vb_run1(ctx, op, x, &q, outs);
  lg_tensor_release(x);
  return st;
}
