/* batched.c: batched tensors (vmap.h): an lg_tensor showing one example
 * (example 0's geometry on the value's storage) whose `batched` field holds
 * the whole batch, its batch dim and its vmap level. */
#include "vmap.h"

lg_status lg_vmap_wrap(lg_ctx *ctx, lg_tensor *value, int bdim, int level,
                       lg_tensor **out) {
  *out = NULL;
  if (!value || bdim < 0 || bdim >= value->ndim)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: batch dim %d is out of range for "
                   "a %d-d tensor", bdim + 1, value ? value->ndim : 0);
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < value->ndim; i++) {
    if (i == bdim) continue;
    sizes[n] = value->sizes[i];
    strides[n++] = value->strides[i];
  }
  lg_batched *b = lg_mem_alloc(ctx, sizeof *b);
  if (!b) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  lg_status st =
      lg_tensor_view_of(ctx, value, n, sizes, strides, value->offset, out);
  if (st) {
    lg_mem_free(ctx, b, sizeof *b);
    return st;
  }
  b->value = lg_tensor_retain(value);
  b->bdim = bdim;
  b->level = level;
  (*out)->batched = b;
  return LG_OK;
}

void lg_batched_free(lg_ctx *ctx, lg_batched *b) {
  lg_tensor_release(b->value);
  lg_mem_free(ctx, b, sizeof *b);
}

lg_tensor *lg_vmap_value(const lg_tensor *t, int level, int *bdim) {
  if (!t || !t->batched || t->batched->level != level) return NULL;
  if (bdim) *bdim = t->batched->bdim;
  return t->batched->value;
}

int lg_tensor_batch_level(const lg_tensor *t) {
  return t && t->batched ? t->batched->level : 0;
}
