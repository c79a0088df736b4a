/* reduce_backward.c: backward rules of the reductions (sum mean prod amax
 * amin logsumexp var std norm), of max/min over a dim and of cumsum and
 * cumprod, following PyTorch 1.13's derivatives.
 *
 * Every rule is a formula in differentiable ops run through the scope, so
 * with create_graph its own gradient is recorded. The gradient of a
 * reduction is brought back to the input's shape by unsqueezing the reduced
 * dims (when keepdim was false, in increasing dim order) and broadcasting;
 * a reduced value a rule needs (prod, amax, logsumexp, std, norm) is
 * recomputed with keepdim from the saved input, so that it is itself a
 * differentiable function of the input for higher derivatives. Where a
 * formula divides, zeros of the denominator are replaced by ones before
 * dividing and the affected entries are then selected away with where:
 * selecting away alone would leave 0 * inf = NaN in double backward.
 */
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "formula.h"

/* ---- helpers ------------------------------------------------------------ */

/* Which dims of the input the node reduced: params->ints (all when n_ints
 * is 0) for the reductions, params->dim for the one-dim ops. */
static void reduced_dims(const lg_node *node, bool *reduced) {
  const lg_params *p = &node->params;
  int ndim = node->input_info[0].ndim;
  bool one_dim = node->op == LG_OP_MAX_DIM || node->op == LG_OP_MIN_DIM;
  for (int d = 0; d < LG_MAX_DIMS; d++)
    reduced[d] = !one_dim && p->n_ints == 0;
  if (one_dim) {
    if (ndim > 0) reduced[p->dim < 0 ? p->dim + ndim : p->dim] = true;
    return;
  }
  for (int k = 0; k < p->n_ints && ndim > 0; k++)
    reduced[p->ints[k] < 0 ? p->ints[k] + ndim : p->ints[k]] = true;
}

/* How many input elements each output element summarises. */
static double reduced_count(const lg_node *node, const bool *reduced) {
  const lg_tensor_info *x = &node->input_info[0];
  double n = 1;
  for (int d = 0; d < x->ndim; d++)
    if (reduced[d]) n *= (double)x->sizes[d];
  return n;
}

/* A tensor shaped like the node's output -> the keepdim shape: the reduced
 * dims are unsqueezed back in increasing order (nothing when keepdim). */
static lg_tensor *restore(lg_scope *s, const lg_node *node, lg_tensor *t) {
  bool reduced[LG_MAX_DIMS];
  if (node->params.flags & LG_FLAG_KEEPDIM) return t;
  reduced_dims(node, reduced);
  for (int d = 0; d < node->input_info[0].ndim; d++) {
    if (!reduced[d]) continue;
    lg_params p = {0};
    p.dim = d;
    t = lg_s_op(s, LG_OP_UNSQUEEZE, 1, &t, &p);
  }
  return t;
}

/* A keepdim-shaped tensor broadcast to the input's shape. */
static lg_tensor *expand_to_input(lg_scope *s, const lg_node *node,
                                  lg_tensor *t) {
  const lg_tensor_info *x = &node->input_info[0];
  lg_params p = {0};
  p.n_ints = x->ndim;
  memcpy(p.ints, x->sizes, sizeof(int64_t) * (size_t)x->ndim);
  return lg_s_op(s, LG_OP_EXPAND, 1, &t, &p);
}

/* op of x over the node's dims with keepdim: the node's own reduction (or
 * a sibling such as mean for var), recomputed as a function of x. */
static lg_tensor *reduce_keepdim(lg_scope *s, const lg_node *node, lg_op op,
                                 lg_tensor *x) {
  lg_params p = node->params;
  p.flags |= LG_FLAG_KEEPDIM;
  return lg_s_op(s, op, 1, &x, &p);
}

/* where(cond, v, t) with a number v. */
static lg_tensor *fill_where(lg_scope *s, lg_tensor *cond, double v,
                             lg_tensor *t) {
  lg_params p = {0};
  lg_tensor *in[2] = {cond, t};
  p.flags = LG_FLAG_SCALAR_A;
  p.scalar[0] = v;
  return lg_s_op(s, LG_OP_WHERE, 2, in, &p);
}

/* A one-dim op of t along dim: cumsum, cumprod, flip, unsqueeze, or a sum
 * over that dim. */
static lg_tensor *along(lg_scope *s, lg_op op, lg_tensor *t, int64_t dim) {
  lg_params p = {0};
  p.dim = dim;
  p.ints[0] = dim;
  p.n_ints = 1;
  return lg_s_op(s, op, 1, &t, &p);
}

/* Sum from the end along dim: out_i = sum_{j >= i} t_j. */
static lg_tensor *reverse_cumsum(lg_scope *s, lg_tensor *t, int64_t dim) {
  lg_tensor *flipped = along(s, LG_OP_FLIP, t, dim);
  return along(s, LG_OP_FLIP, along(s, LG_OP_CUMSUM, flipped, dim), dim);
}

/* A shape op (PERMUTE, RESHAPE) of t with n ints: a permutation or sizes. */
static lg_tensor *shape_op(lg_scope *s, lg_op op, lg_tensor *t, int n,
                           const int64_t *ints) {
  lg_params p = {0};
  p.n_ints = n;
  memcpy(p.ints, ints, sizeof(int64_t) * (size_t)n);
  return lg_s_op(s, op, 1, &t, &p);
}

/* Whether t holds an exact zero, read from the data as PyTorch does: the
 * formula is chosen at the point where the gradient is taken. */
static bool has_zero(lg_scope *s, lg_tensor *t) {
  lg_params p = {0};
  lg_tensor *z = K(EQ, t, 0);
  lg_tensor *any = lg_s_op(s, LG_OP_ANY, 1, &z, &p);
  return any && lg_tensor_get(any, 0) != 0;
}

/* ---- the rules ---------------------------------------------------------- */

/* Products of all entries but one along the last dim of y (..., N):
 * exclusive cumprods from both ends, multiplied (no division, so exact
 * with zeros and a polynomial for higher derivatives). */
static lg_tensor *products_of_others(lg_scope *s, lg_tensor *y) {
  if (s->status) return NULL;
  int last = y->ndim - 1;
  int64_t n = y->sizes[last];
  lg_tensor_info ones_info = {y->dtype, y->ndim, {0}};
  memcpy(ones_info.sizes, y->sizes, sizeof ones_info.sizes);
  ones_info.sizes[last] = 1;
  lg_tensor *ones = K(ADD, lg_s_zeros(s, &ones_info), 1);
  lg_tensor *side[2];
  for (int k = 0; k < 2; k++) { /* k = 1: from the end, on the flipped y */
    lg_tensor *v = k ? along(s, LG_OP_FLIP, y, last) : y;
    lg_params np = {0}, cp = {0};
    np.dim = cp.dim = last;
    np.length = n - 1;
    lg_tensor *parts[2] = {ones, lg_s_op(s, LG_OP_NARROW, 1, &v, &np)};
    lg_tensor *exclusive =
        along(s, LG_OP_CUMPROD, lg_s_op(s, LG_OP_CAT, 2, parts, &cp), last);
    side[k] = k ? along(s, LG_OP_FLIP, exclusive, last) : exclusive;
  }
  return B(MUL, side[0], side[1]);
}

/* prod: g * prod / x when x has no zeros (PyTorch's fast path). With
 * zeros, g times the product of the others, from exclusive cumprods over
 * the reduced dims moved last and flattened (PyTorch's
 * prod_safe_zeros_backward): exact for any number of zeros, and so are
 * second derivatives (through cumprod's rule). */
static lg_tensor *prod_grad(lg_scope *s, const lg_node *node, lg_tensor *x,
                            lg_tensor *gk) {
  const lg_tensor_info *info = &node->input_info[0];
  if (info->ndim == 0) return gk;
  if (!has_zero(s, x))
    return B(MUL, gk, B(DIV, reduce_keepdim(s, node, LG_OP_PROD, x), x));
  bool reduced[LG_MAX_DIMS];
  reduced_dims(node, reduced);
  int64_t perm[LG_MAX_DIMS], inverse[LG_MAX_DIMS];
  int64_t permuted[LG_MAX_DIMS], flat[LG_MAX_DIMS], flat_g[LG_MAX_DIMS];
  int n = 0, n_kept = 0;
  for (int pass = 0; pass < 2; pass++) /* kept dims, then reduced ones */
    for (int d = 0; d < info->ndim; d++)
      if (reduced[d] == (pass == 1)) perm[n++] = d;
  int64_t count = 1;
  for (int i = 0; i < n; i++) {
    inverse[perm[i]] = i;
    permuted[i] = info->sizes[perm[i]];
    if (reduced[perm[i]]) count *= permuted[i];
    else flat[n_kept] = flat_g[n_kept] = permuted[i], n_kept++;
  }
  flat[n_kept] = count;
  flat_g[n_kept] = 1;
  lg_tensor *y = shape_op(s, LG_OP_RESHAPE,
                          shape_op(s, LG_OP_PERMUTE, x, n, perm), n_kept + 1, flat);
  lg_tensor *g_flat = shape_op(s, LG_OP_RESHAPE,
                               shape_op(s, LG_OP_PERMUTE, gk, n, perm),
                               n_kept + 1, flat_g);
  lg_tensor *r = B(MUL, g_flat, products_of_others(s, y));
  /* back: unflatten to the permuted shape, then the inverse permutation */
  r = shape_op(s, LG_OP_RESHAPE, r, n, permuted);
  return shape_op(s, LG_OP_PERMUTE, r, n, inverse);
}

/* amax/amin and the max-abs norms: the gradient is split evenly among the
 * entries equal to the result (ties share it, as in PyTorch's amax). */
static lg_tensor *even_split(lg_scope *s, const lg_node *node, lg_tensor *v,
                             lg_tensor *result, lg_tensor *gk) {
  lg_tensor *mask = lg_s_cast(s, B(EQ, v, result), v->dtype);
  lg_tensor *count = reduce_keepdim(s, node, LG_OP_SUM, mask);
  return B(MUL, B(DIV, gk, count), mask);
}

/* var: gk * 2 (x - mean) / (N - correction), gk in the keepdim shape. */
static lg_tensor *var_grad(lg_scope *s, const lg_node *node, lg_tensor *x,
                           lg_tensor *gk) {
  bool reduced[LG_MAX_DIMS];
  reduced_dims(node, reduced);
  double dof = reduced_count(node, reduced) - node->params.scalar[0];
  lg_tensor *centered = B(SUB, x, reduce_keepdim(s, node, LG_OP_MEAN, x));
  return B(MUL, gk, K(MUL, centered, 2.0 / dof));
}

/* norm of x with p = params->scalar[0] (PyTorch's norm_backward):
 *   p = 0: zero; p = 1: g sign(x); p = 2: g x / norm (0 where norm == 0);
 *   p = +-inf: g sign(x) split evenly among the entries with |x| == norm;
 *   other p: g sign(x) |x|^(p-1) / norm^(p-1), 0 where norm == 0, and for
 *   p < 1 also 0 where x == 0 (|x|^(p-1) is infinite there). */
static lg_tensor *norm_grad(lg_scope *s, const lg_node *node, lg_tensor *x,
                            lg_tensor *gk) {
  double p = node->params.scalar[0];
  if (p == 0) return lg_s_zeros(s, &node->input_info[0]);
  if (p == 1) return B(MUL, gk, S(SIGN, x));
  lg_tensor *norm = reduce_keepdim(s, node, LG_OP_NORM, x);
  if (isinf(p))
    return B(MUL, S(SIGN, x), even_split(s, node, S(ABS, x), norm, gk));
  lg_tensor *norm_is_zero = K(EQ, norm, 0);
  lg_tensor *safe_norm = fill_where(s, norm_is_zero, 1, norm);
  if (p == 2)
    return fill_where(s, norm_is_zero, 0, B(MUL, gk, B(DIV, x, safe_norm)));
  lg_tensor *scale = fill_where(
      s, norm_is_zero, 0, B(DIV, gk, K(POW, safe_norm, p - 1)));
  lg_tensor *scaled;
  if (p < 1) {
    lg_tensor *x_is_zero = K(EQ, x, 0);
    lg_tensor *power = K(POW, S(ABS, fill_where(s, x_is_zero, 1, x)), p - 1);
    scaled = fill_where(s, x_is_zero, 0, B(MUL, S(SIGN, x), power));
  } else {
    scaled = B(MUL, S(SIGN, x), K(POW, S(ABS, x), p - 1));
  }
  return B(MUL, scaled, scale);
}

/* max/min over a dim: g goes to the returned index only (PyTorch's
 * value_selecting_reduction_backward): a scatter of g into zeros. */
static lg_tensor *select_grad(lg_scope *s, const lg_node *node, lg_tensor *g) {
  const lg_tensor_info *x = &node->input_info[0];
  lg_tensor *index = node->saved_outputs ? node->saved_outputs[1] : NULL;
  if (!index) {
    s->status = lg_fail(s->ctx, LG_ERR_RUNTIME,
                        "backward: %s lost its saved indices",
                        lg_op_name(node->op));
    return NULL;
  }
  if (x->ndim == 0) return g;
  lg_tensor_info zeros_info = *x;
  zeros_info.dtype = g->dtype;
  lg_tensor *in[3] = {lg_s_zeros(s, &zeros_info), restore(s, node, index),
                      restore(s, node, g)};
  lg_params p = {0};
  p.dim = node->params.dim;
  return lg_s_op(s, LG_OP_SCATTER, 3, in, &p);
}

/* cumprod's gradient as sum_{j >= i} g_j prod_{m <= j, m != i} x_m, with
 * the products of all but x_i from a cumprod over a new dim j of x with
 * x_i replaced by one: (..., n, n, ...) memory, but no division, so exact
 * with any zeros, and its own derivatives (through cumprod's rule) too. */
static lg_tensor *cumprod_grad_pairwise(lg_scope *s, lg_tensor *x,
                                        lg_tensor *g, int64_t dim) {
  if (s->status) return NULL;
  int64_t n = x->sizes[dim], sizes[LG_MAX_DIMS];
  lg_tensor *eye = NULL;
  if (x->ndim >= LG_MAX_DIMS) {
    s->status = lg_fail(s->ctx, LG_ERR_SHAPE, "cumprod backward: needs a "
                        "dim more than the %d-d input", x->ndim);
    return NULL;
  }
  if ((s->status = lg_eye(s->ctx, x->dtype, n, n, &eye))) return NULL;
  if (!lg_s_adopt(s, eye)) return NULL; /* released with the scope */
  for (int d = 0; d <= x->ndim; d++) sizes[d] = 1;
  sizes[dim] = sizes[dim + 1] = n; /* dims i and j */
  eye = shape_op(s, LG_OP_RESHAPE, eye, x->ndim + 1, sizes);
  lg_tensor *upper = along(s, LG_OP_CUMSUM, eye, dim + 1); /* j >= i */
  lg_tensor *rows = fill_where(s, K(NE, eye, 0), 1, along(s, LG_OP_UNSQUEEZE, x, dim));
  lg_tensor *others = along(s, LG_OP_CUMPROD, rows, dim + 1);
  lg_tensor *terms = B(MUL, B(MUL, along(s, LG_OP_UNSQUEEZE, g, dim), others), upper);
  return along(s, LG_OP_SUM, terms, dim + 1);
}

/* cumprod along dim, out = cumprod(x). Without zeros: reverse_cumsum(g
 * out) / x. With zeros under create_graph: the pairwise formula above.
 * Otherwise, with k the first zero of a slice: entries before k keep the
 * formula; entries after k get 0 (their products all contain x_k), which
 * the formula also gives once x's zeros are replaced by ones; x_k gets
 * sum_{j >= k} g_j prod_{m <= j, m != k} x_m, computed as
 * (prod_{m < k} x_m) * reverse_cumsum(g * cumprod of x with the entries up
 * to k replaced by ones): exact, in O(n) memory like PyTorch's. */
static lg_tensor *cumprod_grad(lg_scope *s, lg_tensor *x, lg_tensor *g,
                               int64_t dim) {
  lg_tensor *out = along(s, LG_OP_CUMPROD, x, dim);
  lg_tensor *spread = reverse_cumsum(s, B(MUL, g, out), dim);
  if (!has_zero(s, x)) return B(DIV, spread, x);
  if (lg_ctx_grad_enabled(s->ctx)) return cumprod_grad_pairwise(s, x, g, dim);
  lg_tensor *zero = K(EQ, x, 0);
  lg_tensor *zero_f = lg_s_cast(s, zero, x->dtype);
  /* zeros strictly before each position; up_to_first: m <= k */
  lg_tensor *zeros_before = B(SUB, along(s, LG_OP_CUMSUM, zero_f, dim), zero_f);
  lg_tensor *up_to_first = K(EQ, zeros_before, 0);
  lg_tensor *first_zero = B(MUL, zero, up_to_first);
  lg_tensor *before = along(s, LG_OP_CUMPROD, fill_where(s, first_zero, 1, x), dim);
  lg_tensor *after = along(s, LG_OP_CUMPROD, fill_where(s, up_to_first, 1, x), dim);
  lg_tensor *at_first = B(MUL, before, reverse_cumsum(s, B(MUL, g, after), dim));
  lg_tensor *in[3] = {first_zero, at_first,
                      B(DIV, spread, fill_where(s, zero, 1, x))};
  return lg_s_op(s, LG_OP_WHERE, 3, in, NULL);
}

/* The backward of every op in this file; see the helpers for the formulas
 * that need explaining. grad_in[0] has the input's shape and dtype. */
lg_status lg_backward_reduce(lg_ctx *ctx, lg_node *node,
                             lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope;
  lg_scope *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_tensor_info *info = &node->input_info[0];
  lg_tensor *x = lg_saved(node, 0), *g = grad_out[0], *r = NULL;
  int64_t dim = info->ndim > 0 && node->params.dim < 0
                    ? node->params.dim + info->ndim
                    : node->params.dim;
  bool reduced[LG_MAX_DIMS];
  reduced_dims(node, reduced);
  switch (node->op) {
    case LG_OP_SUM: r = expand_to_input(s, node, restore(s, node, g)); break;
    case LG_OP_MEAN:
      r = expand_to_input(
          s, node, restore(s, node, K(DIV, g, reduced_count(node, reduced))));
      break;
    case LG_OP_PROD: r = prod_grad(s, node, x, restore(s, node, g)); break;
    case LG_OP_AMAX:
    case LG_OP_AMIN:
      r = even_split(s, node, x, reduce_keepdim(s, node, node->op, x),
                     restore(s, node, g));
      break;
    case LG_OP_LOGSUMEXP: { /* g softmax(x), stable for large x */
      lg_tensor *lse = reduce_keepdim(s, node, LG_OP_LOGSUMEXP, x);
      r = B(MUL, restore(s, node, g), S(EXP, B(SUB, x, lse)));
      break;
    }
    case LG_OP_VAR: r = var_grad(s, node, x, restore(s, node, g)); break;
    case LG_OP_STD: { /* var's gradient of g / (2 std); 0 where std == 0 */
      lg_tensor *std = reduce_keepdim(s, node, LG_OP_STD, x);
      lg_tensor *std_is_zero = K(EQ, std, 0);
      lg_tensor *safe_std = fill_where(s, std_is_zero, 1, std);
      lg_tensor *gk = B(DIV, restore(s, node, g), K(MUL, safe_std, 2));
      r = var_grad(s, node, x, fill_where(s, std_is_zero, 0, gk));
      break;
    }
    case LG_OP_NORM: r = norm_grad(s, node, x, restore(s, node, g)); break;
    case LG_OP_MAX_DIM:
    case LG_OP_MIN_DIM: r = select_grad(s, node, g); break;
    case LG_OP_CUMSUM: /* out_j = sum_{i <= j} x_i */
      r = info->ndim == 0 ? g : reverse_cumsum(s, g, dim);
      break;
    case LG_OP_CUMPROD:
      r = info->ndim == 0 ? g : cumprod_grad(s, x, g, dim);
      break;
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME,
                          "backward: no reduction rule for %s",
                          lg_op_name(node->op));
  }
  grad_in[0] = lg_keep(s, lg_s_cast(s, r, info->dtype));
  return lg_scope_end(s);
}
