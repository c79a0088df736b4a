/* structure_compose.c: the structure ops PyTorch itself writes as
 * compositions of other ops (trace, diag, roll, rot90, kron, cross, cdist,
 * repeat_interleave, take_along_dim, meshgrid). Each runs recorded ops
 * through a scope (autograd.h), so its gradient, jvp and batching come from
 * the ops it is made of, through every layer (vmap, forward AD, autograd).
 * Dims here are 0-based (the binding converts); shapes are one example's
 * under vmap, as every op sees them. */
#include <math.h>
#include <string.h>

#include "autograd.h"
#include "dtype.h"

/* Ends a scope whose result r goes to *out. */
static lg_status finish(lg_scope *s, lg_tensor *r, lg_tensor **out) {
  *out = lg_keep(s, r);
  return lg_scope_end(s);
}

static lg_tensor *run1(lg_scope *s, lg_op op, lg_tensor *x,
                       const lg_params *p) {
  return lg_s_op(s, op, 1, &x, p);
}

static lg_tensor *narrow(lg_scope *s, lg_tensor *x, int64_t dim, int64_t start,
                         int64_t length) {
  lg_params p = {0};
  p.dim = dim;
  p.start = start;
  p.length = length;
  return run1(s, LG_OP_NARROW, x, &p);
}

static lg_tensor *cat2(lg_scope *s, lg_tensor *a, lg_tensor *b, int64_t dim) {
  lg_tensor *both[2] = {a, b};
  lg_params p = {0};
  p.dim = dim;
  if (s->status) return NULL;
  return lg_s_op(s, LG_OP_CAT, 2, both, &p);
}

static lg_tensor *diagonal(lg_scope *s, lg_tensor *x, int64_t k, int64_t d1,
                           int64_t d2) {
  lg_params p = {0};
  p.start = k;
  p.ints[0] = d1;
  p.ints[1] = d2;
  p.n_ints = 2;
  return run1(s, LG_OP_DIAGONAL, x, &p);
}

/* x with dims d1 and d2 swapped (a view). */
static lg_tensor *swap(lg_scope *s, lg_tensor *x, int ndim, int64_t d1,
                       int64_t d2) {
  lg_params p = {0};
  p.n_ints = ndim;
  for (int i = 0; i < ndim; i++) p.ints[i] = i == d1 ? d2 : i == d2 ? d1 : i;
  return run1(s, LG_OP_PERMUTE, x, &p);
}

lg_status lg_trace(lg_ctx *ctx, lg_tensor *x, lg_tensor **out) {
  *out = NULL;
  if (x->ndim != 2)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "trace: expected a matrix (2-d tensor), got a %d-d one",
                   x->ndim);
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_params sum = {0};
  return finish(s, run1(s, LG_OP_SUM, diagonal(s, x, 0, 0, 1), &sum), out);
}

lg_status lg_diag(lg_ctx *ctx, lg_tensor *x, int64_t k, lg_tensor **out) {
  *out = NULL;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_params p = {0};
  p.start = k;
  p.ints[0] = 0;
  p.ints[1] = 1;
  p.n_ints = 2;
  lg_tensor *r = NULL;
  if (x->ndim == 1) {
    r = run1(s, LG_OP_DIAG_EMBED, x, &p);
  } else if (x->ndim == 2) { /* a copy, as torch.diag gives */
    r = run1(s, LG_OP_CLONE, run1(s, LG_OP_DIAGONAL, x, &p), NULL);
  } else {
    s->status = lg_fail(ctx, LG_ERR_SHAPE,
                        "diag: expected a 1-d or 2-d tensor, got a %d-d one",
                        x->ndim);
  }
  return finish(s, r, out);
}

/* x rolled by shift along dim: the last shift elements come first. */
static lg_tensor *roll_dim(lg_scope *s, lg_tensor *x, int64_t size,
                           int64_t shift, int64_t dim) {
  if (size == 0) return x;
  int64_t k = ((shift % size) + size) % size;
  if (k == 0) return x;
  return cat2(s, narrow(s, x, dim, size - k, k), narrow(s, x, dim, 0, size - k),
              dim);
}

lg_status lg_roll(lg_ctx *ctx, lg_tensor *x, int n_shifts,
                  const int64_t *shifts, int n_dims, const int64_t *dims,
                  lg_tensor **out) {
  *out = NULL;
  if (n_shifts < 1 || (n_dims != n_shifts && !(n_dims == 0 && n_shifts == 1)))
    return lg_fail(ctx, LG_ERR_ARG,
                   "roll: shifts and dims must align: got %d shifts and %d "
                   "dims (no dims takes one shift, over the flattened tensor)",
                   n_shifts, n_dims);
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *r = x;
  if (n_dims == 0) { /* over the flattened tensor, then x's shape back */
    int64_t numel = lg_tensor_numel(x);
    lg_tensor *flat = lg_s_reshape(s, x, 1, &numel);
    r = lg_s_reshape(s, roll_dim(s, flat, numel, shifts[0], 0), x->ndim,
                     x->sizes);
  }
  for (int i = 0; i < n_dims; i++) {
    int64_t d;
    lg_status st = lg_wrap_dim(ctx, "roll", dims[i], x->ndim, &d);
    if (st) {
      s->status = st;
      break;
    }
    r = roll_dim(s, r, x->sizes[d], shifts[i], d);
  }
  if (r == x) r = run1(s, LG_OP_CLONE, x, NULL); /* always a new tensor */
  return finish(s, r, out);
}

lg_status lg_rot90(lg_ctx *ctx, lg_tensor *x, int64_t k, int64_t d0,
                   int64_t d1, lg_tensor **out) {
  *out = NULL;
  if (x->ndim < 2)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "rot90: expected a tensor with at least 2 dims, got a %d-d "
                   "one",
                   x->ndim);
  int64_t a, b;
  lg_status st = lg_wrap_dim(ctx, "rot90", d0, x->ndim, &a);
  if (!st) st = lg_wrap_dim(ctx, "rot90", d1, x->ndim, &b);
  if (st) return st;
  if (a == b)
    return lg_fail(ctx, LG_ERR_ARG, "rot90: the two dims must differ, got "
                   "dim %lld twice", (long long)a + 1);
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_params flip = {0};
  flip.n_ints = 1;
  lg_tensor *r = NULL;
  switch (((k % 4) + 4) % 4) { /* PyTorch's flips and transposes */
    case 1:
      flip.ints[0] = b;
      r = swap(s, run1(s, LG_OP_FLIP, x, &flip), x->ndim, a, b);
      break;
    case 2:
      flip.ints[0] = a;
      flip.ints[1] = b;
      flip.n_ints = 2;
      r = run1(s, LG_OP_FLIP, x, &flip);
      break;
    case 3:
      flip.ints[0] = a;
      r = swap(s, run1(s, LG_OP_FLIP, x, &flip), x->ndim, a, b);
      break;
    default: r = run1(s, LG_OP_CLONE, x, NULL);
  }
  return finish(s, r, out);
}

lg_status lg_kron(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, lg_tensor **out) {
  *out = NULL;
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  if (2 * n > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "kron: at most %d dims are supported, got %d",
                   LG_MAX_DIMS / 2, n);
  /* a as (a_1, 1, a_2, 1, ...) times b as (1, b_1, 1, b_2, ...), then
   * each pair of dims merged: (a_1 b_1, a_2 b_2, ...) */
  int64_t as[LG_MAX_DIMS], bs[LG_MAX_DIMS], rs[LG_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
    int64_t sa = ia >= 0 ? a->sizes[ia] : 1, sb = ib >= 0 ? b->sizes[ib] : 1;
    if (sb != 0 && sa > INT64_MAX / sb)
      return lg_fail(ctx, LG_ERR_SHAPE, "kron: the result is too large");
    as[2 * i] = sa;
    as[2 * i + 1] = 1;
    bs[2 * i] = 1;
    bs[2 * i + 1] = sb;
    rs[i] = sa * sb;
  }
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *prod = lg_s_binary(s, LG_OP_MUL, lg_s_reshape(s, a, 2 * n, as),
                                lg_s_reshape(s, b, 2 * n, bs));
  return finish(s, lg_s_reshape(s, prod, n, rs), out);
}

lg_status lg_cross(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, bool has_dim,
                   int64_t dim, lg_tensor **out) {
  char sa[160], sb[160];
  *out = NULL;
  if (a->ndim != b->ndim)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "cross: the inputs must have the same number of dims, got "
                   "%s and %s",
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
  int64_t d = -1;
  if (has_dim) {
    lg_status st = lg_wrap_dim(ctx, "cross", dim, a->ndim, &d);
    if (st) return st;
  } else { /* torch.cross's default: the first dim of size 3 */
    for (int i = 0; i < a->ndim && d < 0; i++)
      if (a->sizes[i] == 3 && b->sizes[i] == 3) d = i;
    if (d < 0)
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "cross: no dim of size 3 in %s and %s",
                     lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                     lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
  }
  if (a->sizes[d] != 3 || b->sizes[d] != 3)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "cross: dim %lld must have size 3 in both inputs, got %s "
                   "and %s",
                   (long long)d + 1,
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *x[3], *y[3], *c[3];
  for (int i = 0; i < 3; i++) {
    x[i] = narrow(s, a, d, i, 1);
    y[i] = narrow(s, b, d, i, 1);
  }
  for (int i = 0; i < 3; i++) { /* c_i = x_{i+1} y_{i+2} - x_{i+2} y_{i+1} */
    int j = (i + 1) % 3, k = (i + 2) % 3;
    c[i] = lg_s_binary(s, LG_OP_SUB, lg_s_binary(s, LG_OP_MUL, x[j], y[k]),
                       lg_s_binary(s, LG_OP_MUL, x[k], y[j]));
  }
  lg_params p = {0};
  p.dim = d;
  lg_tensor *r = s->status ? NULL : lg_s_op(s, LG_OP_CAT, 3, c, &p);
  return finish(s, r, out);
}

/* PyTorch's matmul form of the Euclidean distances (its default for more
 * than 25 rows on a side): |a|^2 + |b|^2 - 2 a b^T, clamped at 1e-30
 * before the square root, as torch does. */
static lg_tensor *euclid_by_matmul(lg_scope *s, lg_tensor *a, lg_tensor *b) {
  lg_params sq = {0};
  sq.ints[0] = -1;
  sq.n_ints = 1;
  sq.flags = LG_FLAG_KEEPDIM;
  lg_tensor *an = run1(s, LG_OP_SUM, lg_s_unary(s, LG_OP_SQUARE, a), &sq);
  lg_tensor *bn = run1(s, LG_OP_SUM, lg_s_unary(s, LG_OP_SQUARE, b), &sq);
  lg_tensor *ab = lg_s_binary(s, LG_OP_MATMUL, a, lg_s_transpose(s, b));
  lg_tensor *d2 = lg_s_binary(s, LG_OP_ADD, lg_s_binary(s, LG_OP_ADD, an,
                                                        lg_s_transpose(s, bn)),
                              lg_s_scalar(s, LG_OP_MUL, ab, -2));
  lg_params clamp = {0};
  clamp.flags = LG_FLAG_HAS_MIN;
  clamp.scalar[0] = 1e-30;
  return lg_s_unary(s, LG_OP_SQRT, run1(s, LG_OP_CLAMP, d2, &clamp));
}

lg_status lg_cdist(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, double p,
                   lg_tensor **out) {
  char sa[160], sb[160];
  *out = NULL;
  if (a->ndim < 2 || b->ndim < 2)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "cdist: expected inputs with at least 2 dims, got %s and %s",
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
  if (a->sizes[a->ndim - 1] != b->sizes[b->ndim - 1])
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "cdist: the inputs must have the same number of columns "
                   "(last dim), got %s and %s",
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
  if (!(p >= 0))
    return lg_fail(ctx, LG_ERR_ARG, "cdist: p must be >= 0, got %g", p);
  if (!lg_dtype_is_float(a->dtype) || !lg_dtype_is_float(b->dtype))
    return lg_fail(ctx, LG_ERR_ARG,
                   "cdist: expected floating-point inputs, got %s and %s",
                   lg_dtype_name(a->dtype), lg_dtype_name(b->dtype));
  if (a->ndim + 1 > LG_MAX_DIMS || b->ndim + 1 > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_SHAPE, "cdist: too many dims");
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  int64_t rows_a = a->sizes[a->ndim - 2], rows_b = b->sizes[b->ndim - 2];
  if (p == 2 && (rows_a > 25 || rows_b > 25))
    return finish(s, euclid_by_matmul(s, a, b), out);
  /* (.., P, 1, M) - (.., 1, R, M), then the p-norm over M */
  lg_params u = {0};
  u.dim = -2;
  lg_tensor *au = run1(s, LG_OP_UNSQUEEZE, a, &u);
  u.dim = -3;
  lg_tensor *bu = run1(s, LG_OP_UNSQUEEZE, b, &u);
  lg_params norm = {0};
  norm.ints[0] = -1;
  norm.n_ints = 1;
  norm.scalar[0] = p;
  lg_tensor *r = run1(s, LG_OP_NORM, lg_s_binary(s, LG_OP_SUB, au, bu), &norm);
  return finish(s, r, out);
}

/* The repeats of repeat_interleave as int64 counts, checked (n of them, or
 * one for all). */
static lg_status read_repeats(lg_ctx *ctx, const lg_tensor *r, int64_t n,
                              int64_t *counts, int64_t *total) {
  int64_t m = lg_tensor_numel(r);
  if (r->batched)
    return lg_fail(ctx, LG_ERR_ARG, "repeat_interleave: a repeats tensor "
                   "that varies under vmap is not supported");
  if (r->dtype != LG_INT64 && r->dtype != LG_INT32)
    return lg_fail(ctx, LG_ERR_ARG,
                   "repeat_interleave: repeats must be an int64 or int32 "
                   "tensor, got %s", lg_dtype_name(r->dtype));
  if (r->ndim > 1 || (m != n && m != 1))
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "repeat_interleave: repeats must be a number or a 1-d "
                   "tensor of 1 or %lld elements (the size of the dim), got "
                   "%lld elements",
                   (long long)n, (long long)m);
  *total = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t c = lg_tensor_get_int(r, m == 1 ? 0 : i);
    if (c < 0)
      return lg_fail(ctx, LG_ERR_ARG,
                     "repeat_interleave: repeats must be >= 0, got %lld at "
                     "position %lld", (long long)c, (long long)i + 1);
    if (c > INT64_MAX / 2 - *total)
      return lg_fail(ctx, LG_ERR_SHAPE, "repeat_interleave: too large");
    counts[i] = c;
    *total += c;
  }
  return LG_OK;
}

/* The 1-based index tensor (total) repeating position i counts[i] times. */
static lg_tensor *repeat_index(lg_scope *s, int64_t n, const int64_t *counts,
                               int64_t total) {
  lg_tensor *idx = NULL;
  if (s->status) return NULL;
  s->status = lg_empty(s->ctx, LG_INT64, 1, &total, &idx);
  if (s->status) return NULL;
  int64_t *at = (int64_t *)lg_data_ptr(idx);
  for (int64_t i = 0; i < n; i++)
    for (int64_t c = 0; c < counts[i]; c++) *at++ = i + 1;
  return lg_s_adopt(s, idx);
}

lg_status lg_repeat_interleave(lg_ctx *ctx, lg_tensor *x, int64_t repeats,
                               lg_tensor *repeats_t, bool has_dim, int64_t dim,
                               lg_tensor **out) {
  *out = NULL;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *src = x;
  int64_t d = 0;
  if (!has_dim) { /* over the flattened tensor */
    int64_t numel = lg_tensor_numel(x);
    src = lg_s_reshape(s, x, 1, &numel);
  } else {
    lg_status st = x->ndim == 0 ? lg_fail(ctx, LG_ERR_ARG,
                                          "repeat_interleave: a 0-d tensor has "
                                          "no dim to repeat along (give no dim)")
                                : lg_wrap_dim(ctx, "repeat_interleave", dim,
                                              x->ndim, &d);
    if (st) {
      s->status = st;
      return lg_scope_end(s);
    }
  }
  if (s->status) return lg_scope_end(s);
  int nd = has_dim ? x->ndim : 1;
  const int64_t *sizes = has_dim ? x->sizes : &src->sizes[0];
  int64_t n = sizes[d];
  lg_tensor *r = NULL;
  if (!repeats_t) { /* (.., n, 1, ..) expanded to (.., n, k, ..), merged */
    if (repeats < 0) {
      s->status = lg_fail(ctx, LG_ERR_ARG,
                          "repeat_interleave: repeats must be >= 0, got %lld",
                          (long long)repeats);
      return lg_scope_end(s);
    }
    if (repeats > 0 && n > INT64_MAX / repeats) {
      s->status = lg_fail(ctx, LG_ERR_SHAPE, "repeat_interleave: the result "
                          "is too large");
      return lg_scope_end(s);
    }
    if (nd + 1 > LG_MAX_DIMS) {
      s->status = lg_fail(ctx, LG_ERR_SHAPE, "repeat_interleave: too many dims");
      return lg_scope_end(s);
    }
    lg_params u = {0}, e = {0};
    u.dim = d + 1;
    e.n_ints = nd + 1;
    int64_t merged[LG_MAX_DIMS];
    for (int i = 0; i < nd + 1; i++)
      e.ints[i] = i <= d ? sizes[i] : i == d + 1 ? repeats : sizes[i - 1];
    for (int i = 0; i < nd; i++) merged[i] = i == d ? n * repeats : sizes[i];
    lg_tensor *wide = run1(s, LG_OP_EXPAND, run1(s, LG_OP_UNSQUEEZE, src, &u), &e);
    r = lg_s_reshape(s, wide, nd, merged);
  } else {
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(int64_t);
    int64_t *counts = lg_mem_alloc(ctx, bytes), total = 0;
    if (!counts) {
      s->status = lg_fail(ctx, LG_ERR_MEMORY, "repeat_interleave: out of memory");
      return lg_scope_end(s);
    }
    s->status = read_repeats(ctx, repeats_t, n, counts, &total);
    lg_tensor *idx = repeat_index(s, n, counts, total);
    lg_mem_free(ctx, counts, bytes);
    lg_tensor *pair[2] = {src, idx};
    lg_params p = {0};
    p.dim = d;
    if (!s->status) r = lg_s_op(s, LG_OP_INDEX_SELECT, 2, pair, &p);
  }
  return finish(s, r, out);
}

lg_status lg_take_along_dim(lg_ctx *ctx, lg_tensor *x, lg_tensor *idx,
                            bool has_dim, int64_t dim, lg_tensor **out) {
  char sa[160], sb[160];
  *out = NULL;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_params p = {0};
  if (!has_dim) { /* both flattened */
    int64_t nx = lg_tensor_numel(x), ni = lg_tensor_numel(idx);
    lg_tensor *pair[2] = {lg_s_reshape(s, x, 1, &nx),
                          lg_s_reshape(s, idx, 1, &ni)};
    return finish(s, s->status ? NULL : lg_s_op(s, LG_OP_GATHER, 2, pair, &p),
                  out);
  }
  int64_t d = 0;
  lg_status st = LG_OK;
  if (x->ndim != idx->ndim)
    st = lg_fail(ctx, LG_ERR_SHAPE,
                 "take_along_dim: input and indices must have the same number "
                 "of dims, got %s and %s",
                 lg_shape_str(sa, sizeof sa, x->ndim, x->sizes),
                 lg_shape_str(sb, sizeof sb, idx->ndim, idx->sizes));
  if (!st) st = lg_wrap_dim(ctx, "take_along_dim", dim, x->ndim, &d);
  /* the other dims broadcast, as in PyTorch */
  lg_params ex = {0}, ei = {0};
  ex.n_ints = ei.n_ints = x->ndim;
  for (int i = 0; i < x->ndim && !st; i++) {
    int64_t a = x->sizes[i], b = idx->sizes[i];
    if (i != d && a != b && a != 1 && b != 1)
      st = lg_fail(ctx, LG_ERR_SHAPE,
                   "take_along_dim: input %s and indices %s do not broadcast "
                   "at dim %d",
                   lg_shape_str(sa, sizeof sa, x->ndim, x->sizes),
                   lg_shape_str(sb, sizeof sb, idx->ndim, idx->sizes), i + 1);
    int64_t m = a == 1 ? b : a;
    ex.ints[i] = i == d ? a : m;
    ei.ints[i] = i == d ? b : m;
  }
  if (st) {
    s->status = st;
    return lg_scope_end(s);
  }
  lg_tensor *pair[2] = {run1(s, LG_OP_EXPAND, x, &ex),
                        run1(s, LG_OP_EXPAND, idx, &ei)};
  p.dim = d;
  return finish(s, s->status ? NULL : lg_s_op(s, LG_OP_GATHER, 2, pair, &p),
                out);
}

lg_status lg_meshgrid(lg_ctx *ctx, int n, lg_tensor *const *xs, bool xy,
                      lg_tensor **outs) {
  for (int i = 0; i < n; i++) outs[i] = NULL;
  if (n < 1 || n > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG,
                   "meshgrid: expected 1 to %d tensors, got %d", LG_MAX_DIMS, n);
  lg_params grid = {0};
  grid.n_ints = n;
  for (int i = 0; i < n; i++) {
    if (xs[i]->ndim > 1)
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "meshgrid: expected 0-d or 1-d tensors, got a %d-d one "
                     "at position %d",
                     xs[i]->ndim, i + 1);
    if (xs[i]->dtype != xs[0]->dtype)
      return lg_fail(ctx, LG_ERR_ARG,
                     "meshgrid: expected tensors of one dtype, got %s and %s",
                     lg_dtype_name(xs[0]->dtype), lg_dtype_name(xs[i]->dtype));
    grid.ints[i] = lg_tensor_numel(xs[i]);
  }
  /* "xy": the first two inputs' dims swap places (Cartesian indexing) */
  bool swap01 = xy && n >= 2;
  if (swap01) {
    int64_t t = grid.ints[0];
    grid.ints[0] = grid.ints[1];
    grid.ints[1] = t;
  }
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  for (int i = 0; i < n; i++) {
    int at = swap01 && i < 2 ? 1 - i : i;
    int64_t shape[LG_MAX_DIMS];
    for (int j = 0; j < n; j++) shape[j] = j == at ? grid.ints[j] : 1;
    outs[i] = lg_keep(s, run1(s, LG_OP_EXPAND, lg_s_reshape(s, xs[i], n, shape),
                              &grid));
  }
  lg_status st = lg_scope_end(s);
  if (st)
    for (int i = 0; i < n; i++) {
      lg_tensor_release(outs[i]);
      outs[i] = NULL;
    }
  return st;
}
