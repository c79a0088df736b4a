/* shape.c: the shape kernels: views that share their input's storage (view,
 * expand, permute, squeeze, unsqueeze, narrow, select), the copying ones
 * (reshape, flip, tile, cat) and the composite lg_stack.
 *
 * Invariant: a view kernel never touches element data; it only computes new
 * sizes, strides (in elements, possibly 0 for expand) and an offset over the
 * same storage. Error messages speak in 1-based dims and positions, the way
 * Lua users see them, although params carry 0-based values.
 */
#include <string.h>

#include "core.h"
#include "dtype.h"

/* Fails for ops that have no in-place form. */
static lg_status reject_inplace(lg_ctx *ctx, lg_op op, const lg_params *p) {
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", lg_op_name(op));
  return LG_OK;
}

/* p->ints[0..n_ints) as dims 0..ndim-1 into dims, each at most once
 * (permute, flip). */
static lg_status distinct_dims(lg_ctx *ctx, lg_op op, const lg_params *p,
                               int ndim, int64_t *dims) {
  bool seen[LG_MAX_DIMS] = {false};
  if (p->n_ints < 0 || p->n_ints > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected at most %d dims, got %d",
                   lg_op_name(op), LG_MAX_DIMS, p->n_ints);
  for (int i = 0; i < p->n_ints; i++) {
    lg_status st = lg_wrap_dim(ctx, lg_op_name(op), p->ints[i], ndim, &dims[i]);
    if (st) return st;
    if (seen[dims[i]])
      return lg_fail(ctx, LG_ERR_ARG, "%s: dim %lld appears twice",
                     lg_op_name(op), (long long)dims[i] + 1);
    seen[dims[i]] = true;
  }
  return LG_OK;
}

/* Resolves one -1 in sizes against numel (PyTorch's infer_size). */
static lg_status infer_size(lg_ctx *ctx, const char *name, int64_t numel, int n,
                            const int64_t *in_sizes, int64_t *sizes) {
  char buf[160];
  int infer = -1;
  int64_t known = 1;
  if (n < 0 || n > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected at most %d sizes, got %d",
                   name, LG_MAX_DIMS, n);
  for (int i = 0; i < n; i++) {
    sizes[i] = in_sizes[i];
    if (in_sizes[i] == -1) {
      if (infer >= 0)
        return lg_fail(ctx, LG_ERR_SHAPE,
                       "%s: only one dimension can be inferred (-1), got %s",
                       name, lg_shape_str(buf, sizeof buf, n, in_sizes));
      infer = i;
    } else if (in_sizes[i] < 0) {
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "%s: invalid size %lld at dim %d of the shape %s", name,
                     (long long)in_sizes[i], i + 1,
                     lg_shape_str(buf, sizeof buf, n, in_sizes));
    } else {
      if (in_sizes[i] != 0 && known > INT64_MAX / in_sizes[i])
        return lg_fail(ctx, LG_ERR_SHAPE, "%s: shape %s is too large", name,
                       lg_shape_str(buf, sizeof buf, n, in_sizes));
      known *= in_sizes[i];
    }
  }
  if (infer >= 0) {
    if (known == 0)
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "%s: cannot reshape a tensor of %lld elements into shape "
                     "%s: the size -1 is ambiguous",
                     name, (long long)numel,
                     lg_shape_str(buf, sizeof buf, n, in_sizes));
    if (numel % known == 0) {
      sizes[infer] = numel / known;
      return LG_OK;
    }
  } else if (known == numel) {
    return LG_OK;
  }
  return lg_fail(ctx, LG_ERR_SHAPE,
                 "%s: shape %s is invalid for an input of %lld elements", name,
                 lg_shape_str(buf, sizeof buf, n, in_sizes), (long long)numel);
}

/* Strides that let sizes view x's elements in row-major order without a
 * copy (PyTorch's computeStride); false when no such strides exist. */
static bool view_strides(const lg_tensor *x, int n, const int64_t *sizes,
                         int64_t *strides) {
  if (x->ndim == 0 || lg_tensor_numel(x) == 0) {
    lg_contiguous_strides(n, sizes, strides);
    return true;
  }
  int view_d = n - 1;
  int64_t chunk_base_stride = x->strides[x->ndim - 1];
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = x->ndim - 1; d >= 0; d--) {
    tensor_numel *= x->sizes[d];
    /* a chunk of dims ends where memory stops being contiguous */
    if (d == 0 || (x->sizes[d - 1] != 1 &&
                   x->strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || sizes[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= sizes[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = x->strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

/* x -> view of x with sizes p->ints[0..n_ints) (one may be -1) */
lg_status lg_kernel_view(lg_ctx *ctx, lg_op op, lg_tensor *const *in, int n_in,
                         const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  lg_status st = reject_inplace(ctx, op, p);
  if (!st)
    st = infer_size(ctx, "view", lg_tensor_numel(x), p->n_ints, p->ints, sizes);
  if (st) return st;
  if (!view_strides(x, p->n_ints, sizes, strides)) {
    char a[160], b[160], c[160];
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "view: size %s is not compatible with the input's size %s "
                   "and strides %s; use reshape, which copies when needed",
                   lg_shape_str(a, sizeof a, p->n_ints, sizes),
                   lg_shape_str(b, sizeof b, x->ndim, x->sizes),
                   lg_shape_str(c, sizeof c, x->ndim, x->strides));
  }
  return lg_tensor_view_of(ctx, x, p->n_ints, sizes, strides, x->offset, out);
}

/* x -> contiguous-looking x with sizes p->ints (a view when possible) */
lg_status lg_kernel_reshape(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  lg_status st = reject_inplace(ctx, op, p);
  if (!st)
    st = infer_size(ctx, "reshape", lg_tensor_numel(x), p->n_ints, p->ints,
                    sizes);
  if (st) return st;
  if (view_strides(x, p->n_ints, sizes, strides))
    return lg_tensor_view_of(ctx, x, p->n_ints, sizes, strides, x->offset, out);
  lg_tensor *copy = NULL;
  lg_params none = {0};
  st = lg_kernel_clone(ctx, LG_OP_CLONE, in, 1, &none, &copy);
  if (st) return st;
  lg_contiguous_strides(p->n_ints, sizes, strides);
  st = lg_tensor_view_of(ctx, copy, p->n_ints, sizes, strides, 0, out);
  lg_tensor_release(copy);
  return st;
}

/* x (s...) -> view (p->ints...) with stride 0 on broadcast dims; -1 keeps a
 * size, new dims may be added in front */
lg_status lg_kernel_expand(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int n = p->n_ints, lead = n - x->ndim;
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  char a[160], b[160];
  lg_status st = reject_inplace(ctx, op, p);
  if (st) return st;
  if (n > LG_MAX_DIMS || lead < 0)
    return lg_fail(
        ctx, LG_ERR_SHAPE,
        "expand: the number of sizes given (%d) must be at least the "
        "number of dims of the tensor (%d), and at most %d",
        n, x->ndim, LG_MAX_DIMS);
  for (int i = 0; i < n; i++) {
    int64_t want = p->ints[i];
    if (i < lead) {
      if (want < 0)
        return lg_fail(ctx, LG_ERR_SHAPE,
                       "expand: the size %lld is not allowed in the new "
                       "leading dim %d (target sizes %s)",
                       (long long)want, i + 1,
                       lg_shape_str(a, sizeof a, n, p->ints));
      sizes[i] = want;
      strides[i] = 0;
      continue;
    }
    int64_t have = x->sizes[i - lead];
    if (want == -1 || want == have) {
      sizes[i] = have;
      strides[i] = x->strides[i - lead];
    } else if (have == 1 && want >= 0) {
      sizes[i] = want;
      strides[i] = 0;
    } else {
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "expand: the expanded size %lld must match the existing "
                     "size %lld at non-singleton dim %d (target sizes %s, "
                     "tensor sizes %s)",
                     (long long)want, (long long)have, i + 1,
                     lg_shape_str(a, sizeof a, n, p->ints),
                     lg_shape_str(b, sizeof b, x->ndim, x->sizes));
    }
  }
  st = lg_check_shape(ctx, "expand", n, sizes, NULL);
  if (st) return st;
  return lg_tensor_view_of(ctx, x, n, sizes, strides, x->offset, out);
}

/* x -> view with dims reordered: out dim i is x dim p->ints[i] */
lg_status lg_kernel_permute(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  lg_status st = reject_inplace(ctx, op, p);
  if (st) return st;
  if (p->n_ints != x->ndim)
    return lg_fail(ctx, LG_ERR_ARG,
                   "permute: expected %d dims (one per dim of the tensor), "
                   "got %d",
                   x->ndim, p->n_ints);
  int64_t dims[LG_MAX_DIMS];
  st = distinct_dims(ctx, op, p, x->ndim, dims);
  if (st) return st;
  for (int i = 0; i < x->ndim; i++) {
    sizes[i] = x->sizes[dims[i]];
    strides[i] = x->strides[dims[i]];
  }
  return lg_tensor_view_of(ctx, x, x->ndim, sizes, strides, x->offset, out);
}

/* x -> view without size-1 dims: all of them when p->n_ints == 0, else
 * only p->dim (left alone when its size is not 1, as in PyTorch) */
lg_status lg_kernel_squeeze(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS], dim = -1;
  lg_status st = reject_inplace(ctx, op, p);
  if (st) return st;
  if (p->n_ints != 0) {
    st = lg_wrap_dim(ctx, "squeeze", p->dim, x->ndim, &dim);
    if (st) return st;
  }
  int n = 0;
  for (int i = 0; i < x->ndim; i++) {
    bool drop = x->sizes[i] == 1 && (dim < 0 || dim == i);
    if (drop) continue;
    sizes[n] = x->sizes[i];
    strides[n] = x->strides[i];
    n++;
  }
  return lg_tensor_view_of(ctx, x, n, sizes, strides, x->offset, out);
}

/* x (s...) -> view with a new size-1 dim at p->dim (0..ndim, or negative
 * -1..-(ndim+1)) */
lg_status lg_kernel_unsqueeze(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                              int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS], dim;
  lg_status st = reject_inplace(ctx, op, p);
  if (st) return st;
  if (x->ndim >= LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "unsqueeze: a tensor has at most %d dims, got one with %d",
                   LG_MAX_DIMS, x->ndim);
  st = lg_wrap_dim(ctx, "unsqueeze", p->dim, x->ndim + 1, &dim);
  if (st) return st;
  /* x's dims with the new one inserted at dim */
  for (int i = 0; i < x->ndim; i++) {
    sizes[i + (i >= dim)] = x->sizes[i];
    strides[i + (i >= dim)] = x->strides[i];
  }
  sizes[dim] = 1;
  strides[dim] = dim < x->ndim ? x->sizes[dim] * x->strides[dim] : 1;
  return lg_tensor_view_of(ctx, x, x->ndim + 1, sizes, strides, x->offset,
                           out);
}

/* The checks narrow and select share: no in-place form, x not 0-d (verb
 * names what cannot be done to it); p->dim as 0..ndim-1 into *dim, its
 * size into *size and p->start (negative counts from the end) as a 0-based
 * *start. */
static lg_status dim_and_start(lg_ctx *ctx, lg_op op, const lg_params *p,
                               const lg_tensor *x, const char *verb,
                               int64_t *dim, int64_t *size, int64_t *start) {
  lg_status st = reject_inplace(ctx, op, p);
  if (st) return st;
  if (x->ndim == 0)
    return lg_fail(ctx, LG_ERR_ARG, "%s: cannot %s a 0-d tensor",
                   lg_op_name(op), verb);
  st = lg_wrap_dim(ctx, lg_op_name(op), p->dim, x->ndim, dim);
  if (st) return st;
  *size = x->sizes[*dim];
  *start = p->start < 0 ? p->start + *size : p->start;
  return LG_OK;
}

/* x -> view of positions start..start+length-1 (0-based; a negative start
 * counts from the end) along p->dim */
lg_status lg_kernel_narrow(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t dim = 0, size = 0, start = 0;
  lg_status st = dim_and_start(ctx, op, p, x, "narrow", &dim, &size, &start);
  if (st) return st;
  if (start < 0 || start > size)
    return lg_fail(ctx, LG_ERR_INDEX,
                   "narrow: start %lld out of range for dim %lld of size %lld "
                   "(expected 1..%lld)",
                   (long long)(p->start < 0 ? p->start : p->start + 1),
                   (long long)dim + 1, (long long)size, (long long)size + 1);
  if (p->length < 0 || p->length > size - start)
    return lg_fail(ctx, LG_ERR_INDEX,
                   "narrow: start %lld with length %lld goes past the end of "
                   "dim %lld of size %lld",
                   (long long)start + 1, (long long)p->length,
                   (long long)dim + 1, (long long)size);
  int64_t sizes[LG_MAX_DIMS];
  memcpy(sizes, x->sizes, sizeof sizes);
  sizes[dim] = p->length;
  return lg_tensor_view_of(ctx, x, x->ndim, sizes, x->strides,
                           x->offset + start * x->strides[dim], out);
}

/* x (.., s_dim, ..) -> view (.., ..) at index p->start (0-based; negative
 * counts from the end) along p->dim */
lg_status lg_kernel_select(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t dim = 0, size = 0, index = 0;
  lg_status st =
      dim_and_start(ctx, op, p, x, "select from", &dim, &size, &index);
  if (st) return st;
  if (index < 0 || index >= size)
    return lg_fail(ctx, LG_ERR_INDEX,
                   "select: index %lld out of range for dim %lld of size %lld "
                   "(expected 1..%lld or -%lld..-1)",
                   (long long)(p->start < 0 ? p->start : p->start + 1),
                   (long long)dim + 1, (long long)size, (long long)size,
                   (long long)size);
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (i == dim) continue;
    sizes[n] = x->sizes[i];
    strides[n] = x->strides[i];
    n++;
  }
  return lg_tensor_view_of(ctx, x, n, sizes, strides,
                           x->offset + index * x->strides[dim], out);
}

/* x -> copy of x reversed along the dims p->ints */
lg_status lg_kernel_flip(lg_ctx *ctx, lg_op op, lg_tensor *const *in, int n_in,
                         const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  int64_t strides[LG_MAX_DIMS], offset = x->offset, dims[LG_MAX_DIMS];
  lg_status st = reject_inplace(ctx, op, p);
  if (!st) st = distinct_dims(ctx, op, p, x->ndim, dims);
  if (st) return st;
  memcpy(strides, x->strides, sizeof strides);
  for (int i = 0; i < p->n_ints; i++) {
    int64_t d = dims[i];
    if (x->ndim == 0 || x->sizes[d] == 0) continue;
    offset += (x->sizes[d] - 1) * strides[d];
    strides[d] = -strides[d];
  }
  /* a view with negative strides, then a contiguous copy of it */
  lg_tensor *reversed = NULL;
  st = lg_tensor_view_of(ctx, x, x->ndim, x->sizes, strides, offset, &reversed);
  if (st) return st;
  lg_params none = {0};
  st = lg_kernel_clone(ctx, LG_OP_CLONE, &reversed, 1, &none, out);
  lg_tensor_release(reversed);
  return st;
}

/* Copies n elements of item bytes from a strided source (stride in
 * elements) into contiguous dst. */
static void copy_strided(char *dst, const char *src, int64_t stride, int64_t n,
                         size_t item) {
  if (stride == 1) {
    memcpy(dst, src, (size_t)n * item);
    return;
  }
  int64_t step = stride * (int64_t)item;
  for (int64_t i = 0; i < n; i++)
    memcpy(dst + i * (int64_t)item, src + i * step, item);
}

/* x (s...) -> out (s * reps...): x repeated reps[d] times along each dim;
 * fewer reps than dims are padded with leading 1s, more reps add dims */
lg_status lg_kernel_tile(lg_ctx *ctx, lg_op op, lg_tensor *const *in, int n_in,
                         const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  lg_status st = reject_inplace(ctx, op, p);
  if (st) return st;
  if (p->n_ints < 0 || p->n_ints > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG,
                   "tile: expected at most %d repetitions, got %d", LG_MAX_DIMS,
                   p->n_ints);
  int n = p->n_ints > x->ndim ? p->n_ints : x->ndim;
  int64_t reps[LG_MAX_DIMS], src_sizes[LG_MAX_DIMS], src_strides[LG_MAX_DIMS];
  int64_t sizes[LG_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    int ri = i - (n - p->n_ints), xi = i - (n - x->ndim);
    reps[i] = ri >= 0 ? p->ints[ri] : 1;
    if (reps[i] < 0)
      return lg_fail(ctx, LG_ERR_ARG,
                     "tile: expected non-negative repetitions, got %lld",
                     (long long)reps[i]);
    src_sizes[i] = xi >= 0 ? x->sizes[xi] : 1;
    src_strides[i] = xi >= 0 ? x->strides[xi] : 0;
    if (src_sizes[i] != 0 && reps[i] > INT64_MAX / src_sizes[i])
      return lg_fail(ctx, LG_ERR_SHAPE, "tile: the result is too large");
    sizes[i] = src_sizes[i] * reps[i];
  }
  st = lg_empty(ctx, x->dtype, n, sizes, out);
  if (st || lg_tensor_numel(*out) == 0) return st;
  size_t item = lg_dtype_size(x->dtype);
  char *dst = lg_data_ptr(*out);
  const char *base = lg_data_ptr(x);
  if (n == 0) {
    memcpy(dst, base, item);
    return LG_OK;
  }
  /* walk the output's rows (all dims but the last) in order; each row is
   * the source row for the wrapped position, repeated reps[last] times */
  int last = n - 1;
  int64_t row = src_sizes[last], pos[LG_MAX_DIMS] = {0}, src_off = 0;
  for (;;) {
    const char *src = base + src_off * (int64_t)item;
    copy_strided(dst, src, src_strides[last], row, item);
    for (int64_t r = 1; r < reps[last]; r++)
      memcpy(dst + r * row * (int64_t)item, dst, (size_t)row * item);
    dst += sizes[last] * (int64_t)item;
    int d = last - 1;
    for (; d >= 0; d--) {
      pos[d]++;
      int64_t wrapped = pos[d] % src_sizes[d];
      src_off +=
          wrapped == 0 ? -(src_sizes[d] - 1) * src_strides[d] : src_strides[d];
      if (pos[d] < sizes[d]) break;
      pos[d] = 0;
    }
    if (d < 0) return LG_OK;
  }
}

/* (x_1, ..., x_n) -> out: the inputs joined along p->dim; every other dim
 * must agree; the result dtype promotes over all inputs */
lg_status lg_kernel_cat(lg_ctx *ctx, lg_op op, lg_tensor *const *in, int n_in,
                        const lg_params *p, lg_tensor **out) {
  char a[160], b[160];
  lg_status st = reject_inplace(ctx, op, p);
  if (st) return st;
  if (n_in < 1)
    return lg_fail(ctx, LG_ERR_ARG,
                   "cat: expected a non-empty list of tensors");
  lg_tensor *first = in[0];
  for (int k = 0; k < n_in; k++)
    if (in[k]->ndim == 0)
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "cat: a 0-d tensor (at position %d) cannot be "
                     "concatenated",
                     k + 1);
  int64_t dim;
  st = lg_wrap_dim(ctx, "cat", p->dim, first->ndim, &dim);
  if (st) return st;
  int64_t sizes[LG_MAX_DIMS];
  memcpy(sizes, first->sizes, sizeof sizes);
  sizes[dim] = 0;
  lg_dtype dtype = first->dtype;
  for (int k = 0; k < n_in; k++) {
    const lg_tensor *t = in[k];
    if (t->ndim != first->ndim)
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "cat: tensors must have the same number of dims: got %d "
                     "(position 1) and %d (position %d)",
                     first->ndim, t->ndim, k + 1);
    for (int i = 0; i < t->ndim; i++)
      if (i != dim && t->sizes[i] != first->sizes[i])
        return lg_fail(ctx, LG_ERR_SHAPE,
                       "cat: sizes must match except in dim %lld: got %s "
                       "(position 1) and %s (position %d)",
                       (long long)dim + 1,
                       lg_shape_str(a, sizeof a, first->ndim, first->sizes),
                       lg_shape_str(b, sizeof b, t->ndim, t->sizes), k + 1);
    if (t->sizes[dim] > INT64_MAX - sizes[dim])
      return lg_fail(ctx, LG_ERR_SHAPE, "cat: the result is too large");
    sizes[dim] += t->sizes[dim];
    dtype = lg_promote(dtype, t->dtype);
  }
  st = lg_prepare_out(ctx, "cat", out, dtype, first->ndim, sizes);
  if (st) return st;
  int64_t offset = 0;
  for (int k = 0; k < n_in && !st; k++) {
    lg_tensor *t = in[k], *slot = NULL, *copied = NULL;
    if (t->sizes[dim] == 0) continue;
    int64_t slot_sizes[LG_MAX_DIMS];
    memcpy(slot_sizes, sizes, sizeof slot_sizes);
    slot_sizes[dim] = t->sizes[dim];
    st = lg_tensor_view_of(ctx, *out, first->ndim, slot_sizes, (*out)->strides,
                           (*out)->offset + offset * (*out)->strides[dim],
                           &slot);
    if (st) break;
    lg_tensor *copy_in[2] = {slot, t};
    lg_params copy_params = {0};
    copy_params.flags = LG_FLAG_INPLACE;
    st = lg_kernel_copy(ctx, LG_OP_COPY, copy_in, 2, &copy_params, &copied);
    lg_tensor_release(copied);
    lg_tensor_release(slot);
    offset += t->sizes[dim];
  }
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* Stacks n equally shaped tensors along a new dim (unsqueeze each, then
 * cat), through lg_op_run so autograd sees both steps. */
lg_status lg_stack(lg_ctx *ctx, int n, lg_tensor *const *inputs, int64_t dim,
                   lg_tensor **out) {
  char a[160], b[160];
  *out = NULL;
  if (n < 1 || !inputs)
    return lg_fail(ctx, LG_ERR_ARG,
                   "stack: expected a non-empty list of tensors");
  for (int k = 0; k < n; k++)
    if (!inputs[k])
      return lg_fail(ctx, LG_ERR_ARG, "stack: input %d is NULL", k + 1);
  const lg_tensor *first = inputs[0];
  for (int k = 1; k < n; k++) {
    const lg_tensor *t = inputs[k];
    if (!lg_tensor_has_shape(t, first->ndim, first->sizes))
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "stack: expected tensors of equal shape, got %s at "
                     "position 1 and %s at position %d",
                     lg_shape_str(a, sizeof a, first->ndim, first->sizes),
                     lg_shape_str(b, sizeof b, t->ndim, t->sizes), k + 1);
  }
  int64_t wrapped;
  lg_status st = lg_wrap_dim(ctx, "stack", dim, first->ndim + 1, &wrapped);
  if (st) return st;
  size_t bytes = (size_t)n * sizeof(lg_tensor *);
  lg_tensor **views = lg_mem_alloc(ctx, bytes);
  if (!views) return lg_fail(ctx, LG_ERR_MEMORY, "stack: out of memory");
  memset(views, 0, bytes);
  lg_params p = {0};
  p.dim = wrapped;
  for (int k = 0; k < n && !st; k++)
    st = lg_run1(ctx, LG_OP_UNSQUEEZE, inputs[k], &p, &views[k]);
  if (!st) st = lg_op_run(ctx, LG_OP_CAT, n, views, &p, out);
  for (int k = 0; k < n; k++) lg_tensor_release(views[k]);
  lg_mem_free(ctx, views, bytes);
  return st;
}
