/* ops_random.c: Lua wrappers of the samplers of runtime/ops/sample.c:
 * lg.multinomial and t:multinomial, lg.bernoulli and t:bernoulli,
 * lg.normal in PyTorch's overloads, and the in-place t:uniform_ and
 * t:normal_. PyTorch's keyword arguments are a trailing options table or
 * positional arguments in PyTorch's order. Each result's box is made
 * before the C tensor, so a Lua error can never orphan one.
 */

/***
 * Sampling: multinomial, bernoulli, normal and the in-place fills.
 * @module lg
 */
#include "lgl.h"

/* Stores out in box, or raises the runtime's error under fname. */
static int finish(lua_State *L, const char *fname, lgl_box *box, lg_status st,
                  lg_tensor *out) {
  if (st != LG_OK) return lgl_error_as(L, fname);
  lgl_box_set(box, out);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/*** n 1-based category indices (int64) drawn from non-negative weights (1-D:
 * shape {n}; 2-D: each row, {rows, n}). Without replacement no row repeats
 * a category (PyTorch would return zero-weight categories when n is too
 * large; luagrad refuses).
 * @function multinomial
 * @param weights a 1-D or 2-D tensor
 * @param n the number of samples
 * @param[opt] opts {replacement = false}
 * @return an int64 tensor
 * @usage lg.multinomial(probs, 1)
 */
/* multinomial(weights, num_samples, {replacement = false}): 1-based
 * int64 category indices, (num_samples) or (rows, num_samples) */
static int l_multinomial(lua_State *L) {
  const char *fname = "multinomial";
  static const char *const names[] = {"replacement", NULL};
  lg_tensor *w = lgl_check_tensor(L, 1, fname);
  int64_t k = lgl_check_integer(L, 2, fname, "num_samples");
  lgl_check_options(L, 3, fname, names);
  lgl_push_keyword(L, 3, 0, names[0]);
  bool replacement = lgl_pop_boolean(L, false, fname, names[0]);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  lg_status st = lg_multinomial(lgl_ctx(L), w, k, replacement, &out);
  return finish(L, fname, box, st, out);
}

/*** 0s and 1s drawn with the probabilities in p (p's dtype); `t:bernoulli(p)`
 * with a number p gives samples shaped and typed like t.
 * @function bernoulli
 * @param p a tensor of probabilities (or t and a number)
 * @return a tensor
 * @usage lg.bernoulli(lg.full({3}, 0.5))
 */
/* bernoulli(p): 0s and 1s drawn with the probabilities in p (p's dtype);
 * bernoulli(t, p) with a number p: shaped and typed like t */
static int l_bernoulli(lua_State *L) {
  const char *fname = "bernoulli";
  static const char *const names[] = {"p", NULL};
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lgl_check_options(L, 2, fname, names);
  int type = lgl_push_keyword(L, 2, 0, names[0]);
  bool scalar = type != LUA_TNIL;
  double p = lgl_pop_number(L, 0, fname, names[0]);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  lg_ctx *ctx = lgl_ctx(L);
  lg_status st = scalar ? lg_bernoulli_scalar(ctx, t, p, &out)
                        : lg_bernoulli(ctx, t, &out);
  return finish(L, fname, box, st, out);
}

/* A 0-d tensor of dtype holding v (normal's number side); NULL with the
 * context's error set when out of memory. */
static lg_tensor *number_tensor(lg_ctx *ctx, double v, lg_dtype dtype) {
  lg_tensor *t = NULL;
  lg_full(ctx, dtype, 0, NULL, v, &t);
  return t;
}

/* normal(mean, std) with a tensor on either side or both (broadcast; the
 * result has mean's dtype, or std's when mean is a number); std defaults
 * to 1 after a tensor mean */
static int normal_tensors(lua_State *L, lg_tensor *mean, lg_tensor *std) {
  const char *fname = "normal";
  if (!lua_isnoneornil(L, 3))
    return luaL_error(L, "normal: expected no size with a tensor mean or "
                      "std (the result takes their broadcast shape), got "
                      "%s as argument 3", lgl_typename(L, 3));
  double number = mean ? (lua_isnoneornil(L, 2) ? 1 : lua_tonumber(L, 2))
                       : lua_tonumber(L, 1);
  lgl_box *box = lgl_new_box(L);
  lg_ctx *ctx = lgl_ctx(L);
  lg_tensor *made = NULL, *out = NULL;
  if (!mean) mean = made = number_tensor(ctx, number, lg_tensor_dtype(std));
  else if (!std) std = made = number_tensor(ctx, number, lg_tensor_dtype(mean));
  lg_status st = mean && std ? lg_normal(ctx, mean, std, &out) : LG_ERR_MEMORY;
  lg_tensor_release(made);
  return finish(L, fname, box, st, out);
}

/* normal(mean, std, size..., {dtype, requires_grad}) with numbers */
static int normal_numbers(lua_State *L) {
  const char *fname = "normal";
  double mean = lua_tonumber(L, 1), std = lua_tonumber(L, 2);
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
  if (lua_isnoneornil(L, 3))
    return luaL_error(L, "normal: expected a size after number mean and std");
  int opts = lgl_check_shape(L, 3, fname, &ndim, sizes);
  if (!lua_isnoneornil(L, opts) && lua_type(L, opts) != LUA_TTABLE)
    return luaL_error(L, "normal: expected an options table after the size, "
                      "got %s", lgl_typename(L, opts));
  static const char *const names[] = {"dtype", "requires_grad", NULL};
  lgl_check_options(L, opts, fname, names);
  lg_dtype dtype = lgl_opt_dtype(L, opts, LG_FLOAT32, fname);
  if (!lg_dtype_is_float(dtype))
    return luaL_error(L, "normal: expected a floating point dtype (float32 "
                      "or float64), got %s", lg_dtype_name(dtype));
  bool requires_grad = lgl_opt_bool(L, opts, "requires_grad", 0);
  lgl_box *box = lgl_new_box(L);
  lg_ctx *ctx = lgl_ctx(L);
  lg_tensor *out = NULL;
  lg_status st = lg_empty(ctx, dtype, ndim, sizes, &out);
  if (!st) st = lg_normal_(ctx, out, mean, std);
  if (!st && requires_grad) st = lg_tensor_set_requires_grad(ctx, out, true);
  if (st) {
    lg_tensor_release(out);
    out = NULL;
  }
  return finish(L, fname, box, st, out);
}

/*** Normal samples: normal(mean, std) with a tensor on either side or both
 * (broadcast; std defaults to 1), or normal(mean, std, shape, opts) with
 * numbers. Not differentiable (write mean + std * lg.randn(shape) for that).
 * @function normal
 * @param mean a tensor or number
 * @param std a tensor or number
 * @param[opt] shape sizes when both are numbers
 * @return a tensor
 * @usage lg.normal(0, 0.1, {3, 3})
 */
/* lg.normal in PyTorch's overloads: (tensor, tensor), (tensor[, number]),
 * (number, tensor), (number, number, size..., opts) */
static int l_normal(lua_State *L) {
  lg_tensor *mean = lgl_to_tensor(L, 1), *std = lgl_to_tensor(L, 2);
  bool mean_number = lua_type(L, 1) == LUA_TNUMBER;
  bool std_number = lua_type(L, 2) == LUA_TNUMBER;
  if (!mean && !mean_number)
    return luaL_error(L, "normal: expected a tensor or number as mean, got %s",
                      lgl_typename(L, 1));
  if (!std && !std_number && !(mean && lua_isnoneornil(L, 2)))
    return luaL_error(L, "normal: expected a tensor or number as std, got %s",
                      lgl_typename(L, 2));
  if (mean || std) return normal_tensors(L, mean, std);
  return normal_numbers(L);
}

typedef lg_status (*fill_fn)(lg_ctx *ctx, lg_tensor *t, double a, double b);

/* t:name(a = dflt[0], b = dflt[1]) for the in-place fills; returns t */
static int fill_(lua_State *L, const char *fname, const char *const *names,
                 const double *dflt, fill_fn fn) {
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lgl_check_options(L, 2, fname, names);
  double v[2];
  for (int k = 0; k < 2; k++) {
    lgl_push_keyword(L, 2, k, names[k]);
    v[k] = lgl_pop_number(L, dflt[k], fname, names[k]);
  }
  if (fn(lgl_ctx(L), t, v[0], v[1]) != LG_OK) return lgl_error(L);
  lua_settop(L, 1);
  return 1;
}

/*** Fills t in place with uniform samples in [from, to) (defaults 0, 1).
 * @function Tensor:uniform_
 * @param[opt] from a number
 * @param[opt] to a number
 * @return t
 * @usage w:uniform_(-0.1, 0.1)
 */
/* t:uniform_(from = 0, to = 1): values uniform on [from, to), in place */
static int m_uniform_(lua_State *L) {
  static const char *const names[] = {"from", "to", NULL};
  static const double dflt[2] = {0, 1};
  return fill_(L, "uniform_", names, dflt, lg_uniform_);
}

/*** Fills t in place with normal samples (mean 0, std 1 by default).
 * @function Tensor:normal_
 * @param[opt] mean a number
 * @param[opt] std a number
 * @return t
 * @usage w:normal_(0, 0.02)
 */
/* t:normal_(mean = 0, std = 1): values from N(mean, std^2), in place */
static int m_normal_(lua_State *L) {
  static const char *const names[] = {"mean", "std", NULL};
  static const double dflt[2] = {0, 1};
  return fill_(L, "normal_", names, dflt, lg_normal_);
}

/* Registers the samplers (module functions and tensor methods). */
void lgl_open_random(lua_State *L, const lgl_tables *T) {
  static const luaL_Reg module_fns[] = {{"multinomial", l_multinomial},
                                        {"bernoulli", l_bernoulli},
                                        {"normal", l_normal},
                                        {NULL, NULL}};
  static const luaL_Reg methods[] = {{"multinomial", l_multinomial},
                                     {"bernoulli", l_bernoulli},
                                     {"uniform_", m_uniform_},
                                     {"normal_", m_normal_},
                                     {NULL, NULL}};
  lgl_register_family(L, T, module_fns, methods);
}
