/* iter.c: broadcasting and the strided N-d elementwise iterator (with a
 * variant that runs long rows in steps an interrupt can stop between, and
 * one that splits a long flat row across threads). */
#include "iter.h"
#include "parallel.h"

#include "dtype.h"

lg_status lg_broadcast_sizes(lg_ctx *ctx, const char *op, int ndim_a,
                             const int64_t *a, int ndim_b, const int64_t *b,
                             int *ndim, int64_t *sizes) {
  int n = ndim_a > ndim_b ? ndim_a : ndim_b;
  for (int i = 0; i < n; i++) {
    int ia = ndim_a - n + i, ib = ndim_b - n + i;
    int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      char bufa[160], bufb[160];
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "%s: shapes %s and %s are not broadcastable", op,
                     lg_shape_str(bufa, sizeof bufa, ndim_a, a),
                     lg_shape_str(bufb, sizeof bufb, ndim_b, b));
    }
    sizes[i] = sa == 1 ? sb : sa;
  }
  *ndim = n;
  return LG_OK;
}

lg_status lg_broadcast_shape(lg_ctx *ctx, const char *op, int n,
                             lg_tensor *const *tensors, int *ndim,
                             int64_t *sizes) {
  int nd = tensors[0]->ndim;
  for (int i = 0; i < nd; i++) sizes[i] = tensors[0]->sizes[i];
  for (int k = 1; k < n; k++) {
    int64_t prev[LG_MAX_DIMS];
    for (int i = 0; i < nd; i++) prev[i] = sizes[i];
    lg_status st = lg_broadcast_sizes(ctx, op, nd, prev, tensors[k]->ndim,
                                      tensors[k]->sizes, &nd, sizes);
    if (st) return st;
  }
  *ndim = nd;
  return LG_OK;
}

void lg_iter_init(lg_iter *it, int ndim, const int64_t *sizes) {
  it->n_operands = 0;
  it->ndim = ndim;
  for (int i = 0; i < ndim; i++) it->sizes[i] = sizes[i];
}

void lg_iter_add_tensor(lg_iter *it, const lg_tensor *t) {
  int k = it->n_operands++;
  int64_t item = (int64_t)lg_dtype_size(t->dtype);
  it->data[k] = lg_data_ptr(t);
  for (int i = 0; i < it->ndim; i++) {
    int ti = t->ndim - it->ndim + i;
    it->strides[k][i] =
        (ti < 0 || t->sizes[ti] == 1) ? 0 : t->strides[ti] * item;
  }
}

void lg_iter_add_scalar(lg_iter *it, void *data) {
  int k = it->n_operands++;
  it->data[k] = data;
  for (int i = 0; i < it->ndim; i++) it->strides[k][i] = 0;
}

/* Drops size-1 dims and merges dim i into i+1 when every operand steps
 * through both as through one. */
static void coalesce(lg_iter *it) {
  int out = 0;
  for (int i = 0; i < it->ndim; i++) {
    if (it->sizes[i] == 1) continue;
    if (out > 0) {
      int prev = out - 1;
      bool mergeable = true;
      for (int k = 0; k < it->n_operands && mergeable; k++)
        mergeable = it->strides[k][prev] == it->strides[k][i] * it->sizes[i];
      if (mergeable) {
        it->sizes[prev] *= it->sizes[i];
        for (int k = 0; k < it->n_operands; k++)
          it->strides[k][prev] = it->strides[k][i];
        continue;
      }
    }
    it->sizes[out] = it->sizes[i];
    for (int k = 0; k < it->n_operands; k++)
      it->strides[k][out] = it->strides[k][i];
    out++;
  }
  it->ndim = out;
}

/* Calls loop over every innermost row; with a ctx, rows longer than
 * LG_ITER_STEP elements are cut into steps, and the interrupt flag is
 * looked at whenever LG_ITER_STEP elements have run since the last look
 * (so only between steps or rows, never per element). */
static lg_status iter_run(lg_ctx *ctx, lg_iter *it, lg_loop_fn loop,
                          void *state) {
  for (int i = 0; i < it->ndim; i++)
    if (it->sizes[i] == 0) return LG_OK;
  coalesce(it);
  int nops = it->n_operands;
  char *ptr[LG_ITER_MAX_OPERANDS];
  int64_t inner_strides[LG_ITER_MAX_OPERANDS];
  for (int k = 0; k < nops; k++) ptr[k] = it->data[k];
  if (it->ndim == 0) { /* a single element */
    for (int k = 0; k < nops; k++) inner_strides[k] = 0;
    loop(ptr, inner_strides, 1, state);
    return LG_OK;
  }
  int last = it->ndim - 1;
  int64_t len = it->sizes[last], since = 0;
  for (int k = 0; k < nops; k++) inner_strides[k] = it->strides[k][last];
  int64_t counter[LG_MAX_DIMS] = {0};
  for (;;) {
    if (!ctx || len <= LG_ITER_STEP) {
      loop(ptr, inner_strides, len, state);
      since += len;
    } else { /* one long row in steps */
      char *at[LG_ITER_MAX_OPERANDS];
      for (int64_t done = 0; done < len; done += LG_ITER_STEP) {
        if (done > 0 && lg_interrupt_pending(ctx)) {
          lg_status st = lg_check_interrupt(ctx);
          if (st) return st;
        }
        for (int k = 0; k < nops; k++) at[k] = ptr[k] + done * inner_strides[k];
        int64_t n = len - done < LG_ITER_STEP ? len - done : LG_ITER_STEP;
        loop(at, inner_strides, n, state);
      }
    }
    int d = last - 1;
    for (; d >= 0; d--) { /* odometer step over the outer dims */
      for (int k = 0; k < nops; k++) ptr[k] += it->strides[k][d];
      if (++counter[d] < it->sizes[d]) break;
      for (int k = 0; k < nops; k++)
        ptr[k] -= it->strides[k][d] * it->sizes[d];
      counter[d] = 0;
    }
    if (d < 0) return LG_OK;
    if (ctx && since >= LG_ITER_STEP) {
      since = 0;
      if (lg_interrupt_pending(ctx)) {
        lg_status st = lg_check_interrupt(ctx);
        if (st) return st;
      }
    }
  }
}

void lg_iter_run(lg_iter *it, lg_loop_fn loop, void *state) {
  iter_run(NULL, it, loop, state);
}

lg_status lg_iter_run_ctx(lg_ctx *ctx, lg_iter *it, lg_loop_fn loop,
                          void *state) {
  return iter_run(ctx, it, loop, state);
}

lg_status lg_iter_run_split(lg_ctx *ctx, lg_iter *it, lg_loop_fn loop,
                            const void *state, int64_t grain) {
  for (int i = 0; i < it->ndim; i++)
    if (it->sizes[i] == 0) return LG_OK;
  coalesce(it);
  if (it->ndim == 1 && it->sizes[0] > grain) { /* one flat row */
    int64_t strides[LG_ITER_MAX_OPERANDS];
    for (int k = 0; k < it->n_operands; k++) strides[k] = it->strides[k][0];
    return lg_parallel_loop(ctx, loop, it->n_operands, it->data, strides,
                            it->sizes[0], (void *)(uintptr_t)state, grain);
  }
  return iter_run(ctx, it, loop, (void *)(uintptr_t)state);
}
