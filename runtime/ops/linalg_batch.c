/* linalg_batch.c: the batching rules (vmap.h) of matmul and linear. The
 * batch folds into the product's batch dims, so a batch runs as one
 * (batched) gemm, never a loop: a batched operand against an unbatched
 * matrix or vector is a single product over all examples' rows; two batched
 * operands (or a batched matrix on the right) are one batched product with
 * the batch dim first. */
#include "vmap.h"

/* One matmul operand with its batch dim first (or none): an example's
 * vector as a matrix (left: (k) -> (1,k); right: (k) -> (k,1)), a batched
 * operand padded with size-1 dims to an example of rank r. */
static lg_status operand(lg_ctx *ctx, lg_tensor *x, int bdim, int r, bool left,
                         lg_tensor **out) {
  int rank = vb_rank(x, bdim);
  lg_tensor *f = NULL, *m = NULL;
  lg_status st = vb_front(ctx, x, bdim, rank == 1 ? 0 : r, &f);
  if (st || rank != 1) {
    *out = f;
    return st;
  }
  lg_params pu = {0};
  pu.dim = left ? f->ndim - 1 : f->ndim;
  st = vb_run1(ctx, LG_OP_UNSQUEEZE, f, &pu, &m);
  lg_tensor_release(f);
  if (st || bdim < 0) {
    *out = m;
    return st;
  }
  st = vb_front(ctx, m, 0, r, out);
  lg_tensor_release(m);
  return st;
}

/* Ends a rule: on success the result becomes outs[0], on failure it is
 * released and the status returned. */
static lg_status hand_out(lg_status st, lg_tensor *r, lg_tensor **outs) {
  if (st) {
    lg_tensor_release(r);
    return st;
  }
  outs[0] = r;
  return LG_OK;
}

lg_status lg_batch_matmul(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *in, const int *in_bdim,
                          const lg_params *p, lg_tensor **outs,
                          int *out_bdim) {
  (void)op, (void)n_in;
  int ra = vb_rank(in[0], in_bdim[0]), rb = vb_rank(in[1], in_bdim[1]);
  out_bdim[0] = 0;
  if (ra == 0 || rb == 0)
    return lg_fail(ctx, LG_ERR_ARG, "matmul: both arguments need at least "
                   "1 dim, got %dD and %dD", ra, rb);
  lg_tensor *a = NULL, *b = NULL, *m = NULL;
  lg_status st;
  if (in_bdim[1] < 0 && rb <= 2) { /* (batch rows) @ one matrix/vector */
    st = vb_front(ctx, in[0], in_bdim[0], 0, &a);
    if (!st) st = vb_run(ctx, LG_OP_MATMUL, 2, (lg_tensor *[]){a, in[1]}, p, outs);
    lg_tensor_release(a);
    return st;
  }
  /* vectors become matrices, both sides padded to one rank, batch first */
  int r = (ra > rb ? ra : rb) < 2 ? 2 : (ra > rb ? ra : rb);
  st = operand(ctx, in[0], in_bdim[0], r, true, &a);
  if (!st) st = operand(ctx, in[1], in_bdim[1], r, false, &b);
  if (!st) st = vb_run(ctx, LG_OP_MATMUL, 2, (lg_tensor *[]){a, b}, p, &m);
  lg_tensor_release(a);
  lg_tensor_release(b);
  if (st) return st;
  /* drop the dims the vectors gained: b's last, then a's row */
  lg_params ps = {0};
  ps.n_ints = 1;
  if (rb == 1) {
    ps.dim = m->ndim - 1;
    st = vb_run1(ctx, LG_OP_SQUEEZE, m, &ps, &a);
    lg_tensor_release(m);
    m = a;
    a = NULL;
  }
  if (!st && ra == 1) {
    ps.dim = m->ndim - (rb == 1 ? 1 : 2);
    st = vb_run1(ctx, LG_OP_SQUEEZE, m, &ps, &a);
    lg_tensor_release(m);
    m = a;
  }
  return hand_out(st, m, outs);
}

/* linear(x, w[, bias]): with w and bias unbatched, the kernel itself over
 * all examples' rows (one gemm); with per-example weights, one batched
 * matmul x (b, rows, in) @ w^T (b, in, out) plus the bias. */
lg_status lg_batch_linear(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *in, const int *in_bdim,
                          const lg_params *p, lg_tensor **outs,
                          int *out_bdim) {
  out_bdim[0] = 0;
  bool has_bias = n_in > 2;
  int rx = vb_rank(in[0], in_bdim[0]);
  lg_tensor *x = NULL, *w = NULL, *y = NULL, *t = NULL;
  lg_status st = vb_front(ctx, in[0], in_bdim[0], 0, &x);
  if (st) return st;
  if (in_bdim[1] < 0 && (!has_bias || in_bdim[2] < 0)) {
    st = vb_run(ctx, op, n_in, (lg_tensor *[]){x, in[1], has_bias ? in[2] : NULL}, p, outs);
    lg_tensor_release(x);
    return st;
  }
  if (in_bdim[1] < 0) { /* only the bias is batched: linear, then add it */
    lg_params q = *p;
    q.flags &= ~LG_FLAG_OPT1;
    st = vb_run(ctx, op, 2, (lg_tensor *[]){x, in[1]}, &q, &y);
  } else {
    /* x as (b, rows, in) or (rows, in); w^T (b, in, out) */
    int64_t bsz = in[1]->sizes[in_bdim[1]];
    st = vb_front(ctx, in[1], in_bdim[1], 0, &w);
    lg_params pt = {0};
    pt.n_ints = 3;
    pt.ints[0] = 0, pt.ints[1] = 2, pt.ints[2] = 1;
    if (!st) st = vb_run1(ctx, LG_OP_PERMUTE, w, &pt, &t);
    lg_tensor_release(w);
    w = t;
    t = NULL;
    lg_params pr = {0};
    int keep = in_bdim[0] >= 0; /* x's batch dim stays first */
    pr.n_ints = 2 + keep;
    if (keep) pr.ints[0] = bsz;
    pr.ints[keep] = -1;
    pr.ints[keep + 1] = x->sizes[x->ndim - 1];
    if (!st) st = vb_run1(ctx, LG_OP_RESHAPE, x, &pr, &t);
    if (!st) st = vb_run(ctx, LG_OP_MATMUL, 2, (lg_tensor *[]){t, w}, NULL, &y);
    lg_tensor_release(t);
    t = NULL;
    /* back to (b, example rows..., out) */
    lg_params pb = {0};
    pb.n_ints = 0;
    pb.ints[pb.n_ints++] = bsz;
    int lead = keep ? 1 : 0;
    for (int i = lead; i < x->ndim - 1; i++) pb.ints[pb.n_ints++] = x->sizes[i];
    pb.ints[pb.n_ints++] = in[1]->sizes[in_bdim[1] == 1 ? 0 : (in_bdim[1] == 0 ? 1 : 0)];
    if (!st) st = vb_run1(ctx, LG_OP_RESHAPE, y, &pb, &t);
    lg_tensor_release(y);
    y = t;
    t = NULL;
  }
  lg_tensor_release(x);
  lg_tensor_release(w);
  if (!st && has_bias) {
    lg_tensor *bias = NULL;
    st = vb_front(ctx, in[2], in_bdim[2], rx, &bias);
    if (!st) st = vb_run(ctx, LG_OP_ADD, 2, (lg_tensor *[]){y, bias}, NULL, &t);
    lg_tensor_release(bias);
    lg_tensor_release(y);
    y = t;
  }
  return hand_out(st, y, outs);
}
