/* nn_batch.c: the batching rules (vmap.h) of the nn kernels. Ops whose
 * examples are batches of independent rows or planes fold the vmap batch
 * into their own leading batch dim (N): pooling, and conv2d, layer_norm,
 * group_norm and eval-mode batch_norm with shared weights. Per-example
 * weights or statistics fold the batch into the channels instead: conv2d
 * with per-example weights is one grouped conv, conv2d_weight_grad (vmap
 * over a conv's backward) one grouped weight gradient, batch_norm with each
 * example's own batch statistics (or batched running statistics) one
 * batch_norm over b*C channels. Per-example affine weights of layer_norm,
 * group_norm and batch_norm with shared statistics scale and shift after
 * the norm. The fused losses reduce over each example only: they run with
 * reduction "none" on the folded batch and reduce per example (a mean over
 * the targets that are not ignored). Weighted loss means run the
 * per-example loop. */
#include "vmap.h"

/* Runs op on x (batch dim first) with N folded into the batch (when the
 * example has `rank_n` dims, N being its first) and the other inputs
 * unbatched; splits the outputs back. */
static lg_status fold_n(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                        const int *in_bdim, const lg_params *p, int rank_n,
                        lg_tensor **outs, int *out_bdim) {
  enum { MAX_IN = 8 };
  int r = vb_rank(in[0], in_bdim[0]);
  int nout = lg_op_num_outputs(op);
  lg_tensor *x = NULL, *args[MAX_IN] = {0}, *o[2] = {0};
  lg_status st = vb_front(ctx, in[0], in_bdim[0], 0, &x);
  if (st) return st;
  int64_t b = x->sizes[0];
  bool fold = r == rank_n;
  if (fold) {
    st = vb_fold(ctx, x, 2, &args[0]);
    lg_tensor_release(x);
  } else {
    args[0] = x;
  }
  for (int i = 1; i < n_in; i++) args[i] = in[i];
  if (!st) st = vb_run(ctx, op, n_in, args, p, o);
  lg_tensor_release(args[0]);
  for (int k = 0; k < nout; k++) {
    out_bdim[k] = 0;
    if (!st && fold) st = vb_unfold(ctx, o[k], b, &outs[k]);
    else if (!st) outs[k] = lg_tensor_retain(o[k]);
  }
  vb_release(nout, o);
  if (st) vb_release(nout, outs);
  return st;
}

static bool others_unbatched(int n_in, const int *in_bdim) {
  for (int i = 1; i < n_in; i++)
    if (in_bdim[i] >= 0) return false;
  return true;
}

/* conv2d (or conv_transpose2d) with per-example weights (an ensemble, or
 * grad's batched alias): one grouped conv. x (b, N, C, H, W) -> (N, b*C, H,
 * W), w (b, O, C/g, kh, kw) -> (b*O, C/g, kh, kw) (transposed: (b, C, O/g,
 * kh, kw) -> (b*C, O/g, kh, kw)), groups b*g, bias (b, O) -> (b*O); the
 * result (N, b*O, OH, OW) is viewed as (N, b, O, OH, OW), batch dim 1. */
static lg_status grouped_conv(lg_ctx *ctx, lg_op op, int n_in,
                              lg_tensor *const *in,
                              const int *in_bdim, const lg_params *p,
                              lg_tensor **outs, int *out_bdim) {
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  lg_tensor *xs = NULL, *x = NULL, *w = NULL, *bias = NULL, *y = NULL;
  lg_status st = vb_all(ctx, in[0], in_bdim[0], b, &xs); /* (b,N,C,H,W) */
  if (!st) st = vb_fold_channels(ctx, xs, &x);
  lg_tensor *ws = NULL;
  if (!st) st = vb_all(ctx, in[1], in_bdim[1], b, &ws);
  if (!st) st = vb_fold(ctx, ws, 2, &w);
  lg_tensor_release(ws);
  if (!st && n_in > 2) {
    lg_tensor *bs = NULL;
    st = vb_all(ctx, in[2], in_bdim[2], b, &bs);
    if (!st) st = vb_fold(ctx, bs, 2, &bias);
    lg_tensor_release(bs);
  }
  lg_params q = *p;
  q.scalar_int = b * (p->scalar_int == 0 ? 1 : p->scalar_int);
  if (!st) st = vb_run(ctx, op, n_in, (lg_tensor *[]){x, w, bias}, &q, &y);
  if (!st) st = vb_unfold_channels(ctx, y, b, outs);
  out_bdim[0] = 1;
  vb_release(5, (lg_tensor *[]){xs, x, w, bias, y});
  return st;
}

/* conv2d_weight_grad(image, response) per example (vmap over a conv's
 * backward: per-sample gradients of a CNN): one grouped weight gradient.
 * Both (b, N, ., ., .) fold their batch into the channels, (N, b*C, H, W)
 * and (N, b*O, OH, OW); with groups b*g the result (b*O, C/g, kh, kw) is
 * each example's gradient in turn, viewed as (b, O, C/g, kh, kw). */
static lg_status conv_weight_grad(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                                  const int *in_bdim, const lg_params *p,
                                  lg_tensor **outs, int *out_bdim) {
  int64_t b = vb_batch_size(2, in, in_bdim);
  lg_tensor *all = NULL, *f[2] = {0}, *y = NULL;
  lg_status st = LG_OK;
  for (int i = 0; i < 2 && !st; i++) {
    st = vb_all(ctx, in[i], in_bdim[i], b, &all);
    if (!st) st = vb_fold_channels(ctx, all, &f[i]);
    vb_release(1, &all);
  }
  lg_params q = *p;
  q.scalar_int = b * (p->scalar_int == 0 ? 1 : p->scalar_int);
  if (!st) st = vb_run(ctx, op, 2, f, &q, &y);
  if (!st) st = vb_unfold(ctx, y, b, outs);
  out_bdim[0] = 0;
  vb_release(2, f);
  lg_tensor_release(y);
  return st;
}

/* layer_norm with per-example weight or bias: the norm without them over
 * all examples' rows, then * weight + bias, each padded to the example. */
static lg_status layer_norm_affine(lg_ctx *ctx, int n_in, lg_tensor *const *in,
                                   const int *in_bdim, const lg_params *p,
                                   lg_tensor **outs, int *out_bdim) {
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  int r = vb_rank(in[0], in_bdim[0]), k = 1;
  lg_tensor *x = NULL, *y = NULL, *t = NULL, *f = NULL;
  lg_params q = *p;
  q.flags &= ~(LG_FLAG_OPT1 | LG_FLAG_OPT2);
  lg_status st = vb_all(ctx, in[0], in_bdim[0], b, &x);
  if (!st) st = vb_run1(ctx, LG_OP_LAYER_NORM, x, &q, &y);
  lg_op ops[2] = {LG_OP_MUL, LG_OP_ADD};
  int flags[2] = {LG_FLAG_OPT1, LG_FLAG_OPT2};
  for (int i = 0; i < 2 && !st; i++) {
    if (!(p->flags & flags[i]) || k >= n_in) continue;
    st = vb_front(ctx, in[k], in_bdim[k], r, &f);
    k++;
    if (!st) st = vb_run(ctx, ops[i], 2, (lg_tensor *[]){y, f}, NULL, &t);
    vb_release(1, &f);
    vb_release(1, &y);
    y = t;
    t = NULL;
  }
  out_bdim[0] = 0;
  lg_tensor_release(x);
  if (st) lg_tensor_release(y);
  else outs[0] = y;
  return st;
}

/* ---- batch_norm and group_norm with batched weights or statistics ---- */

/* The optional inputs of batch_norm (running_mean, running_var, weight,
 * bias) and group_norm (weight, bias): where each sits in `in` (-1: absent). */
static void norm_slots(lg_op op, int n_in, const lg_params *p, int slot[4]) {
  static const int bn[4] = {LG_FLAG_OPT1, LG_FLAG_OPT2, LG_FLAG_OPT3,
                            LG_FLAG_OPT4};
  static const int gn[4] = {0, 0, LG_FLAG_OPT1, LG_FLAG_OPT2};
  const int *flags = op == LG_OP_BATCH_NORM ? bn : gn;
  int next = 1;
  for (int i = 0; i < 4; i++)
    slot[i] = flags[i] && (p->flags & flags[i]) && next < n_in ? next++ : -1;
}

/* y * f (op MUL) or y + f (ADD) with f a per-channel (C) factor, batched or
 * not, viewed to broadcast against y's examples (N, C, ...) of rank r: (C,
 * 1...) or, batched, (b, 1, C, 1...) against y with its batch dim first. */
static lg_status channel_affine(lg_ctx *ctx, lg_op op, lg_tensor *y,
                                lg_tensor *f, int fbdim, int r,
                                lg_tensor **out) {
  lg_tensor *front = NULL, *v = NULL;
  lg_status st = vb_front(ctx, f, fbdim, 0, &front);
  if (st) return st;
  lg_params pv = {0};
  if (fbdim >= 0) pv.ints[pv.n_ints++] = front->sizes[0], pv.ints[pv.n_ints++] = 1;
  pv.ints[pv.n_ints++] = front->sizes[front->ndim - 1];
  for (int i = 2; i < r; i++) pv.ints[pv.n_ints++] = 1;
  st = vb_run1(ctx, LG_OP_RESHAPE, front, &pv, &v);
  if (!st) st = vb_run(ctx, op, 2, (lg_tensor *[]){y, v}, NULL, out);
  vb_release(2, (lg_tensor *[]){front, v});
  return st;
}

/* The norm without its affine inputs (over the batch folded into N when x
 * is batched, else once), then * weight + bias per example: group_norm
 * with per-example weights, batch_norm whose statistics are shared. */
static lg_status norm_then_affine(lg_ctx *ctx, lg_op op,
                                  lg_tensor *const *in, const int *in_bdim,
                                  const lg_params *p, const int slot[4],
                                  lg_tensor **outs, int *out_bdim) {
  enum { MAX_IN = 3 };
  int r = vb_rank(in[0], in_bdim[0]);
  lg_tensor *args[MAX_IN] = {in[0]}, *y = NULL, *t = NULL;
  int bd[MAX_IN] = {in_bdim[0]}, n = 1, ybd = -1;
  lg_params q = *p;
  if (op == LG_OP_BATCH_NORM) {
    q.flags &= ~(LG_FLAG_OPT3 | LG_FLAG_OPT4);
    for (int i = 0; i < 2; i++)
      if (slot[i] >= 0) args[n] = in[slot[i]], bd[n++] = -1;
  } else {
    q.flags &= ~(LG_FLAG_OPT1 | LG_FLAG_OPT2);
  }
  lg_status st;
  if (in_bdim[0] >= 0)
    st = fold_n(ctx, op, n, args, bd, &q, r, &y, &ybd);
  else
    st = vb_run(ctx, op, n, args, &q, &y);
  lg_op ops[2] = {LG_OP_MUL, LG_OP_ADD};
  for (int i = 0; i < 2 && !st; i++) {
    int k = slot[2 + i];
    if (k < 0) continue;
    st = channel_affine(ctx, ops[i], y, in[k], in_bdim[k], r, &t);
    if (in_bdim[k] >= 0) ybd = 0;
    vb_release(1, &y);
    y = t;
    t = NULL;
  }
  out_bdim[0] = ybd;
  if (st) lg_tensor_release(y);
  else outs[0] = y;
  return st;
}

static lg_status group_norm_affine(lg_ctx *ctx, int n_in,
                                   lg_tensor *const *in, const int *in_bdim,
                                   const lg_params *p, lg_tensor **outs,
                                   int *out_bdim) {
  int slot[4];
  norm_slots(LG_OP_GROUP_NORM, n_in, p, slot);
  return norm_then_affine(ctx, LG_OP_GROUP_NORM, in, in_bdim, p, slot,
                          outs, out_bdim);
}

/* batch_norm with per-example statistics (batch statistics of batched x,
 * or batched running statistics): the batch folds into the channels,
 * x (b, N, C, ...) -> (N, b*C, ...), every (C) input -> (b*C), so each
 * example's channel is its own channel of one batch_norm (statistics over
 * the example's own N and spatial dims, as functorch). Batched running
 * statistics are updated in place, each example's its own (written back
 * when their layout needed a copy). */
static lg_status batch_norm_channels(lg_ctx *ctx, lg_tensor *const *in,
                                     const int *in_bdim, const lg_params *p,
                                     const int slot[4], lg_tensor **outs,
                                     int *out_bdim) {
  enum { N_IN = 5 };
  int64_t b = vb_batch_size(N_IN, in, in_bdim);
  lg_tensor *all = NULL, *args[N_IN] = {0}, *front[2] = {0}, *y = NULL;
  lg_status st = vb_all(ctx, in[0], in_bdim[0], b, &all);
  if (!st) st = vb_fold_channels(ctx, all, &args[0]);
  vb_release(1, &all);
  int n = 1;
  for (int i = 0; i < 4 && !st; i++) {
    if (slot[i] < 0) continue;
    lg_tensor *f = NULL;
    st = vb_all(ctx, in[slot[i]], in_bdim[slot[i]], b, &f); /* (b, C) */
    if (!st) st = vb_fold(ctx, f, 2, &args[n++]);
    if (i < 2) front[i] = f;
    else lg_tensor_release(f);
  }
  if (!st) st = vb_run(ctx, LG_OP_BATCH_NORM, n, args, p, &y);
  /* running statistics updated in a copy: write them back */
  bool training = (p->flags & LG_FLAG_TRAINING) != 0;
  for (int i = 0, k = 1; i < 2 && !st; i++) {
    if (slot[i] < 0) continue;
    lg_tensor *upd = args[k++], *v = NULL, *done = NULL;
    if (!training || upd->storage == front[i]->storage) continue;
    lg_params pv = {0}, pc = {0};
    pv.n_ints = 2;
    pv.ints[0] = front[i]->sizes[0], pv.ints[1] = front[i]->sizes[1];
    pc.flags = LG_FLAG_INPLACE;
    st = vb_run1(ctx, LG_OP_RESHAPE, upd, &pv, &v);
    if (!st) st = vb_run(ctx, LG_OP_COPY, 2, (lg_tensor *[]){front[i], v}, &pc, &done);
    vb_release(2, (lg_tensor *[]){v, done});
  }
  if (!st) st = vb_unfold_channels(ctx, y, b, outs);
  out_bdim[0] = 1;
  vb_release(N_IN, args);
  vb_release(2, front);
  lg_tensor_release(y);
  return st;
}

/* batch_norm inside vmap with anything but x batched, or in training mode:
 * batch statistics of batched x are each example's own (functorch's rule);
 * running statistics updated in place must then be batched too (as in
 * functorch: an error naming the fixes otherwise); shared statistics with
 * per-example weight or bias normalise once, then scale per example. */
static lg_status batch_norm_rule(lg_ctx *ctx, int n_in, lg_tensor *const *in,
                                 const int *in_bdim, const lg_params *p,
                                 lg_tensor **outs, int *out_bdim) {
  int slot[4];
  norm_slots(LG_OP_BATCH_NORM, n_in, p, slot);
  bool training = (p->flags & LG_FLAG_TRAINING) != 0;
  bool stats_batched = false, stats_shared = false;
  for (int i = 0; i < 2; i++) {
    if (slot[i] < 0) continue;
    if (in_bdim[slot[i]] >= 0) stats_batched = true;
    else stats_shared = true;
  }
  if (training && stats_shared && (in_bdim[0] >= 0 || stats_batched))
    return lg_fail(ctx, LG_ERR_ARG, "batch_norm: got a batched input inside "
                   "vmap in training mode while running_mean or running_var, "
                   "which it updates in place, are not batched. A module "
                   "that does not need eval mode: set track_running_stats = "
                   "false (func.replace_all_batch_norm_modules_(model) does "
                   "it for every batch norm of a model); or batch the "
                   "running statistics too (stack_module_state's buffers), "
                   "or call the model in eval mode");
  if (n_in > 5 || vb_rank(in[0], in_bdim[0]) < 2)
    return lg_fail(ctx, LG_ERR_ARG, "batch_norm: expected an input of at "
                   "least 2 dims (N, C, ...) inside vmap, got %dD",
                   vb_rank(in[0], in_bdim[0]));
  if (!stats_batched && !(training && in_bdim[0] >= 0))
    return norm_then_affine(ctx, LG_OP_BATCH_NORM, in, in_bdim, p,
                            slot, outs, out_bdim);
  return batch_norm_channels(ctx, in, in_bdim, p, slot, outs, out_bdim);
}

/* conv2d, conv_transpose2d (x (N,C,H,W)), the pools ((N,C,H,W) or
 * (C,H,W)), layer_norm (rows), group_norm ((N,C,...)), batch_norm by its
 * running statistics ((N,C,...); with batch statistics: the loop). */
lg_status lg_batch_nn(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                      const int *in_bdim, const lg_params *p, lg_tensor **outs,
                      int *out_bdim) {
  if ((op == LG_OP_CONV2D || op == LG_OP_CONV_TRANSPOSE2D) && n_in >= 2 && n_in <= 3 &&
      vb_rank(in[0], in_bdim[0]) == 4 && vb_rank(in[1], in_bdim[1]) == 4 &&
      (in_bdim[1] >= 0 || (n_in == 3 && in_bdim[2] >= 0)))
    return grouped_conv(ctx, op, n_in, in, in_bdim, p, outs, out_bdim);
  if (op == LG_OP_CONV2D_WEIGHT_GRAD && n_in == 2 &&
      vb_rank(in[0], in_bdim[0]) == 4 && vb_rank(in[1], in_bdim[1]) == 4)
    return conv_weight_grad(ctx, op, in, in_bdim, p, outs, out_bdim);
  if (op == LG_OP_LAYER_NORM && !others_unbatched(n_in, in_bdim))
    return layer_norm_affine(ctx, n_in, in, in_bdim, p, outs, out_bdim);
  /* batch_norm normalising by the running statistics is per element */
  bool eval_bn = op == LG_OP_BATCH_NORM && !(p->flags & LG_FLAG_TRAINING);
  if (op == LG_OP_BATCH_NORM &&
      (!eval_bn || in_bdim[0] < 0 || !others_unbatched(n_in, in_bdim)))
    return batch_norm_rule(ctx, n_in, in, in_bdim, p, outs, out_bdim);
  if (op == LG_OP_GROUP_NORM && !others_unbatched(n_in, in_bdim))
    return group_norm_affine(ctx, n_in, in, in_bdim, p, outs, out_bdim);
  if (in_bdim[0] < 0 || !others_unbatched(n_in, in_bdim) ||
      vb_rank(in[0], in_bdim[0]) < 2 || n_in > 8)
    return lg_batch_loop(ctx, op, n_in, in, in_bdim, p, outs, out_bdim);
  int rank_n = op == LG_OP_LAYER_NORM ? -1 /* rows: no fold needed */
               : op == LG_OP_GROUP_NORM || eval_bn ? vb_rank(in[0], in_bdim[0])
                                                   : 4;
  return fold_n(ctx, op, n_in, in, in_bdim, p, rank_n, outs, out_bdim);
}

/* Sums l (batch first) over every dim but the batch (op SUM or MEAN). */
static lg_status per_example(lg_ctx *ctx, lg_op op, lg_tensor *l,
                             lg_tensor **out) {
  if (l->ndim == 1) {
    *out = lg_tensor_retain(l);
    return LG_OK;
  }
  lg_params ps = {0};
  ps.n_ints = l->ndim - 1;
  for (int i = 1; i < l->ndim; i++) ps.ints[i - 1] = i;
  return vb_run1(ctx, op, l, &ps, out);
}

/* The mean over an example's non-ignored index targets t (batch first):
 * its summed loss over their count (NaN when all are ignored, as the
 * kernel's mean). */
static lg_status ignoring_mean(lg_ctx *ctx, lg_tensor *l, lg_tensor *t,
                               int64_t ignore, lg_tensor **out) {
  lg_tensor *total = NULL, *keep = NULL, *count = NULL, *f = NULL;
  lg_params pn = {0};
  pn.flags = LG_FLAG_SCALAR_B | LG_FLAG_SCALAR_INT;
  pn.scalar_int = ignore;
  pn.scalar[0] = (double)ignore;
  lg_params pf = {0};
  pf.dtype = l->dtype;
  lg_status st = per_example(ctx, LG_OP_SUM, l, &total);
  if (!st) st = vb_run1(ctx, LG_OP_NE, t, &pn, &keep);
  if (!st) st = vb_run1(ctx, LG_OP_TO_DTYPE, keep, &pf, &f);
  if (!st) st = per_example(ctx, LG_OP_SUM, f, &count);
  if (!st) st = vb_run(ctx, LG_OP_DIV, 2, (lg_tensor *[]){total, count}, NULL, out);
  vb_release(4, (lg_tensor *[]){total, keep, f, count});
  return st;
}

/* cross_entropy, nll_loss: (logits, target[, weight]) per example. */
lg_status lg_batch_loss(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                        const int *in_bdim, const lg_params *p,
                        lg_tensor **outs, int *out_bdim) {
  int reduction = (int)p->ints[0];
  bool index_target = !lg_dtype_is_float(in[1]->dtype);
  bool ignoring = index_target && (p->flags & LG_FLAG_SCALAR_INT);
  /* per-example class weights, or a weighted mean: the loop */
  if (n_in > 2 && (in_bdim[2] >= 0 || reduction == 1))
    return lg_batch_loop(ctx, op, n_in, in, in_bdim, p, outs, out_bdim);
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  int r = vb_rank(in[0], in_bdim[0]);
  lg_tensor *x = NULL, *t = NULL, *l = NULL, *u = NULL;
  lg_status st = vb_all(ctx, in[0], in_bdim[0], b, &x);
  if (!st) st = vb_all(ctx, in[1], in_bdim[1], b, &t);
  bool fold = r >= 2; /* (N, C, ...): the batch folds into N */
  if (!st && fold) {
    st = vb_fold(ctx, x, 2, &u);
    lg_tensor_release(x);
    x = u;
    u = NULL;
    if (!st) st = vb_fold(ctx, t, 2, &u);
    lg_tensor_release(t);
    t = u;
    u = NULL;
  }
  lg_params q = *p;
  q.ints[0] = 0; /* none */
  if (!st) st = vb_run(ctx, op, n_in, (lg_tensor *[]){x, t, n_in > 2 ? in[2] : NULL}, &q, &l);
  lg_tensor_release(x);
  if (!st && fold) {
    st = vb_unfold(ctx, l, b, &u);
    lg_tensor_release(l);
    l = u;
    u = NULL;
    if (!st) st = vb_unfold(ctx, t, b, &u);
    lg_tensor_release(t);
    t = u;
  }
  out_bdim[0] = 0;
  if (!st) {
    if (reduction == 0)
      outs[0] = lg_tensor_retain(l);
    else if (reduction == 1 && ignoring)
      st = ignoring_mean(ctx, l, t, p->scalar_int, outs);
    else
      st = per_example(ctx, reduction == 1 ? LG_OP_MEAN : LG_OP_SUM, l, outs);
  }
  lg_tensor_release(l);
  lg_tensor_release(t);
  return st;
}

/* lstm_cell, gru_cell: independent rows (N, G*H) of every input, so the
 * batch folds into N (every input batched, an unbatched one expanded). */
lg_status lg_batch_rows(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                        const int *in_bdim, const lg_params *p,
                        lg_tensor **outs, int *out_bdim) {
  enum { MAX_IN = 4 };
  if (n_in > MAX_IN)
    return lg_batch_loop(ctx, op, n_in, in, in_bdim, p, outs, out_bdim);
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  int nout = lg_op_num_outputs(op);
  lg_tensor *x[MAX_IN] = {0}, *o[2] = {0};
  lg_status st = LG_OK;
  for (int i = 0; i < n_in && !st; i++) {
    lg_tensor *all = NULL;
    st = vb_all(ctx, in[i], in_bdim[i], b, &all);
    if (!st && all->ndim == 3) st = vb_fold(ctx, all, 2, &x[i]);
    else if (!st) x[i] = lg_tensor_retain(all);
    lg_tensor_release(all);
  }
  bool folded = vb_rank(in[0], in_bdim[0]) == 2;
  if (!st) st = vb_run(ctx, op, n_in, x, p, o);
  for (int k = 0; k < nout && !st; k++) {
    out_bdim[k] = 0;
    if (folded) st = vb_unfold(ctx, o[k], b, &outs[k]);
    else outs[k] = lg_tensor_retain(o[k]);
  }
  vb_release(n_in, x);
  vb_release(nout, o);
  if (st) vb_release(nout, outs);
  return st;
}
