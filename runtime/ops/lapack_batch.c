/* lapack_batch.c: the batching rule (vmap.h) of the LAPACK rows. Their
 * kernels already run over leading batch dims, so the vmap dim moves to
 * the front of every input (an unbatched operand of solve is expanded to
 * the batch) and the batch runs as one call; every output comes back
 * batched at dim 0, except qr's empty Q of mode "r", which has no
 * examples. */
#include "vmap.h"

lg_status lg_batch_lapack(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *in, const int *in_bdim,
                          const lg_params *p, lg_tensor **outs,
                          int *out_bdim) {
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  lg_tensor *x[2] = {NULL, NULL};
  lg_status st = LG_OK;
  for (int i = 0; i < n_in && i < 2 && !st; i++)
    st = vb_all(ctx, in[i], in_bdim[i], b, &x[i]);
  if (!st) st = vb_run(ctx, op, n_in, x, p, outs);
  lg_tensor_release(x[0]);
  lg_tensor_release(x[1]);
  for (int k = 0; k < lg_op_num_outputs(op); k++) out_bdim[k] = 0;
  if (op == LG_OP_LINALG_QR && (p->scalar_int & LG_LINALG_NO_Q)) out_bdim[0] = -1;
  return st;
}
