/* structure.c: the kernels of the triangular and diagonal ops: tril and
 * triu (copies with the entries off one side of a diagonal zeroed), the
 * diagonal view and diag_embed, its inverse (a copy).
 *
 * Params: params->start is the diagonal offset k (0 the main diagonal, > 0
 * above it, < 0 below); diagonal and diag_embed take their two dims,
 * 0-based (negative from the end), in params->ints[0..1]. diag_embed may
 * give the sizes of those two dims in params->ints[2..3] (n_ints == 4: the
 * backward of a diagonal of a non-square matrix); otherwise both are
 * n + |k| for a diagonal of length n. Error messages speak in 1-based dims.
 */
#include <string.h>

#include "core.h"
#include "dtype.h"

/* The largest diagonal offset diag_embed accepts: n + |k| stays far from
 * overflow (and no tensor has a dim that large anyway). */
#define LG_MAX_OFFSET ((int64_t)1 << 50)

static lg_status no_inplace(lg_ctx *ctx, lg_op op, const lg_params *p) {
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", lg_op_name(op));
  return LG_OK;
}

/* x (..., R, C) -> copy with the entries above (tril) or below (triu)
 * diagonal k zeroed */
lg_status lg_kernel_triangle(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                             int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  lg_status st = no_inplace(ctx, op, p);
  if (st) return st;
  if (x->ndim < 2)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: expected a tensor with at least 2 dims, got a %d-d one",
                   lg_op_name(op), x->ndim);
  /* a contiguous source, or a contiguous copy of it (no out= form) */
  lg_tensor *src = x, *copy = NULL, *y = NULL;
  lg_params none = {0};
  if (!lg_tensor_is_contiguous(x)) { /* clone fills a non-NULL *out */
    st = lg_kernel_clone(ctx, LG_OP_CLONE, in, 1, &none, &copy);
    if (!st) src = copy;
  }
  if (!st) st = lg_empty(ctx, x->dtype, x->ndim, x->sizes, &y);
  if (st) {
    if (src != x) lg_tensor_release(src);
    return st;
  }
  *out = y;
  int64_t rows = y->sizes[y->ndim - 2], cols = y->sizes[y->ndim - 1];
  int64_t matrices = rows * cols == 0 ? 0 : lg_tensor_numel(y) / (rows * cols);
  /* beyond these bounds every k acts alike (and i + k cannot overflow) */
  int64_t k = p->start > cols ? cols : p->start < -rows ? -rows : p->start;
  int64_t item = (int64_t)lg_dtype_size(y->dtype), row_bytes = cols * item;
  /* each row in one pass: its kept columns [keep0, keep1) copied, the
   * rest zeroed */
  const char *from = lg_data_ptr(src);
  char *to = lg_data_ptr(y);
  for (int64_t m = 0; m < matrices; m++)
    for (int64_t i = 0; i < rows; i++) {
      int64_t keep0 = 0, keep1 = cols;
      if (op == LG_OP_TRIL)
        keep1 = i + k + 1 < 0 ? 0 : i + k + 1 > cols ? cols : i + k + 1;
      else
        keep0 = i + k < 0 ? 0 : i + k > cols ? cols : i + k;
      if (keep0 > 0) memset(to, 0, (size_t)(keep0 * item));
      if (keep1 > keep0)
        memcpy(to + keep0 * item, from + keep0 * item,
               (size_t)((keep1 - keep0) * item));
      if (keep1 < cols)
        memset(to + keep1 * item, 0, (size_t)((cols - keep1) * item));
      from += row_bytes;
      to += row_bytes;
    }
  if (src != x) lg_tensor_release(src);
  return LG_OK;
}

/* The two dims of diagonal/diag_embed (params->ints[0..1]) against rank
 * ndim, 0-based and distinct. */
static lg_status two_dims(lg_ctx *ctx, lg_op op, const lg_params *p, int ndim,
                          int64_t *d1, int64_t *d2) {
  if (p->n_ints < 2)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected two dims", lg_op_name(op));
  lg_status st = lg_wrap_dim(ctx, lg_op_name(op), p->ints[0], ndim, d1);
  if (!st) st = lg_wrap_dim(ctx, lg_op_name(op), p->ints[1], ndim, d2);
  if (st) return st;
  if (*d1 == *d2)
    return lg_fail(ctx, LG_ERR_ARG,
                   "%s: the two dims must differ, got dim %lld twice",
                   lg_op_name(op), (long long)*d1 + 1);
  return LG_OK;
}

/* Geometry of the diagonal k of x over dims d1, d2: x's other dims in
 * order, then the diagonal (length max(0, min(s1 - max(-k,0),
 * s2 - max(k,0))), stride s1 + s2). Returns the new rank. */
static int diagonal_geometry(const lg_tensor *x, int64_t k, int64_t d1,
                             int64_t d2, int64_t *sizes, int64_t *strides,
                             int64_t *offset) {
  int n = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (i == d1 || i == d2) continue;
    sizes[n] = x->sizes[i];
    strides[n] = x->strides[i];
    n++;
  }
  int64_t len = k >= 0 ? x->sizes[d1] : x->sizes[d1] + k;
  int64_t other = k >= 0 ? x->sizes[d2] - k : x->sizes[d2];
  if (other < len) len = other;
  if (len < 0) len = 0;
  *offset = x->offset;
  if (len > 0) *offset += k >= 0 ? k * x->strides[d2] : -k * x->strides[d1];
  sizes[n] = len;
  strides[n] = x->strides[d1] + x->strides[d2];
  return n + 1;
}

/* x (.., s1 at d1, .., s2 at d2, ..) -> view (.., L): the diagonal k of
 * every matrix over dims d1, d2, appended as the last dim */
lg_status lg_kernel_diagonal(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                             int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t d1 = 0, d2 = 0, sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS], offset;
  lg_status st = no_inplace(ctx, op, p);
  if (st) return st;
  if (x->ndim < 2)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "diagonal: expected a tensor with at least 2 dims, got a "
                   "%d-d one",
                   x->ndim);
  st = two_dims(ctx, op, p, x->ndim, &d1, &d2);
  if (st) return st;
  int n = diagonal_geometry(x, p->start, d1, d2, sizes, strides, &offset);
  return lg_tensor_view_of(ctx, x, n, sizes, strides, offset, out);
}

/* x (.., n) -> out (.., m1 at d1, .., m2 at d2, ..): zeros with x's last
 * dim written on diagonal k of each matrix over d1, d2 (m1 = m2 = n + |k|
 * unless params give them) */
lg_status lg_kernel_diag_embed(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                               int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t d1 = 0, d2 = 0, k = p->start;
  lg_status st = no_inplace(ctx, op, p);
  if (st) return st;
  if (x->ndim < 1)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "diag_embed: expected a tensor with at least 1 dim, got a "
                   "0-d one");
  if (x->ndim + 1 > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_SHAPE, "diag_embed: the result has more than "
                   "%d dims", LG_MAX_DIMS);
  int rank = x->ndim + 1;
  st = two_dims(ctx, op, p, rank, &d1, &d2);
  if (st) return st;
  if (k > LG_MAX_OFFSET || k < -LG_MAX_OFFSET)
    return lg_fail(ctx, LG_ERR_ARG, "diag_embed: the offset %lld is too large",
                   (long long)k);
  int64_t n = x->sizes[x->ndim - 1], absk = k < 0 ? -k : k;
  int64_t sizes[LG_MAX_DIMS];
  for (int i = 0, j = 0; i < rank; i++) {
    if (i == d1)
      sizes[i] = p->n_ints >= 4 ? p->ints[2] : n + absk;
    else if (i == d2)
      sizes[i] = p->n_ints >= 4 ? p->ints[3] : n + absk;
    else
      sizes[i] = x->sizes[j++];
  }
  st = lg_check_shape(ctx, "diag_embed", rank, sizes, NULL);
  lg_tensor *y = NULL, *diag = NULL, *copied = NULL; /* no out= form */
  if (!st) st = lg_empty(ctx, x->dtype, rank, sizes, &y);
  if (st) return st;
  *out = y;
  memset(lg_data_ptr(y), 0, (size_t)lg_tensor_numel(y) * lg_dtype_size(y->dtype));
  int64_t dsizes[LG_MAX_DIMS], dstrides[LG_MAX_DIMS], offset;
  int dn = diagonal_geometry(y, k, d1, d2, dsizes, dstrides, &offset);
  if (dsizes[dn - 1] != n) {
    st = lg_fail(ctx, LG_ERR_SHAPE,
                 "diag_embed: a diagonal of length %lld does not fit dims of "
                 "sizes %lld and %lld at offset %lld",
                 (long long)n, (long long)sizes[d1], (long long)sizes[d2],
                 (long long)k);
  } else {
    st = lg_tensor_view_of(ctx, y, dn, dsizes, dstrides, offset, &diag);
  }
  if (!st) {
    lg_tensor *copy_in[2] = {diag, x};
    lg_params copy = {0};
    copy.flags = LG_FLAG_INPLACE;
    st = lg_kernel_copy(ctx, LG_OP_COPY, copy_in, 2, &copy, &copied);
  }
  lg_tensor_release(copied);
  lg_tensor_release(diag);
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}
