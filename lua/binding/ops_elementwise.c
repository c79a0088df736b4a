/* ops_elementwise.c: Lua wrappers for the elementwise ops. The uniform
 * kinds (unary, binary, comparison, predicate) have one wrapper each,
 * registered for every op of the kind in lg_ops.h (ops_table.c) as a
 * method, an in-place method (name_; not for predicates) and a module
 * function, the out-of-place ones taking a trailing {out = t} that writes
 * the result into t (no allocation); clamp and where have their own
 * wrappers. */

/***
 * Elementwise math, comparisons, clamp and where.
 * @module lg
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lgl_out.h"

/*** |t| elementwise.
 * Also a method, `t:abs()`, and in place, `t:abs_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function abs
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.abs(lg.tensor({-2, 3})) --> {2, 3}
 */
/*** -t elementwise (also the unary minus operator).
 * Also a method, `t:neg()`, and in place, `t:neg_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function neg
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.neg(t)
 */
/*** The smallest integer not below each element (the dtype is kept).
 * Also a method, `t:ceil()`, and in place, `t:ceil_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function ceil
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.ceil(lg.tensor({1.2})) --> {2.}
 */
/*** The largest integer not above each element (the dtype is kept).
 * Also a method, `t:floor()`, and in place, `t:floor_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function floor
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.floor(t)
 */
/*** Rounds half to even, as PyTorch (the dtype is kept).
 * Also a method, `t:round()`, and in place, `t:round_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function round
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.round(lg.tensor({0.5, 1.5})) --> {0., 2.}
 */
/*** -1, 0 or 1 by the sign of each element.
 * Also a method, `t:sign()`, and in place, `t:sign_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function sign
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.sign(t)
 */
/*** max(t, 0) elementwise.
 * Also a method, `t:relu()`, and in place, `t:relu_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function relu
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.relu(lg.tensor({-1, 2})) --> {0, 2}
 */
/*** t * t elementwise.
 * Also a method, `t:square()`, and in place, `t:square_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function square
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage t:square()
 */
/*** Cosine elementwise; integer inputs give float32.
 * Also a method, `t:cos()`, and in place, `t:cos_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function cos
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.cos(t)
 */
/*** Sine elementwise; integer inputs give float32.
 * Also a method, `t:sin()`, and in place, `t:sin_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function sin
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.sin(t)
 */
/*** Hyperbolic tangent elementwise.
 * Also a method, `t:tanh()`, and in place, `t:tanh_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function tanh
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.tanh(t)
 */
/*** e^t elementwise; integer inputs give float32.
 * Also a method, `t:exp()`, and in place, `t:exp_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function exp
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.exp(lg.tensor({0, 1}))
 */
/*** e^t - 1 elementwise, accurate near 0.
 * Also a method, `t:expm1()`, and in place, `t:expm1_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function expm1
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.expm1(t)
 */
/*** Natural logarithm elementwise (negative inputs give NaN, 0 gives -inf).
 * Also a method, `t:log()`, and in place, `t:log_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function log
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.log(t)
 */
/*** log(1 + t) elementwise, accurate near 0.
 * Also a method, `t:log1p()`, and in place, `t:log1p_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function log1p
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.log1p(t)
 */
/*** Square root elementwise.
 * Also a method, `t:sqrt()`, and in place, `t:sqrt_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function sqrt
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.sqrt(t)
 */
/*** 1 / sqrt(t) elementwise.
 * Also a method, `t:rsqrt()`, and in place, `t:rsqrt_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function rsqrt
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.rsqrt(t)
 */
/*** 1 / t elementwise.
 * Also a method, `t:reciprocal()`, and in place, `t:reciprocal_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function reciprocal
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.reciprocal(t)
 */
/*** The error function elementwise.
 * Also a method, `t:erf()`, and in place, `t:erf_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function erf
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.erf(t)
 */
/*** 1 / (1 + e^-t) elementwise.
 * Also a method, `t:sigmoid()`, and in place, `t:sigmoid_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function sigmoid
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.sigmoid(t)
 */
/*** log(1 + e^t) elementwise (PyTorch's beta = 1, threshold = 20).
 * Also a method, `t:softplus()`, and in place, `t:softplus_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function softplus
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.softplus(t)
 */
/*** GELU elementwise, the exact (erf) form; nn.functional.gelu also has the tanh approximation.
 * Also a method, `t:gelu()`, and in place, `t:gelu_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function gelu
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.gelu(t)
 */
/*** t * sigmoid(t) elementwise.
 * Also a method, `t:silu()`, and in place, `t:silu_()`. With `{out = y}` the
 * result is written into y (no allocation).
 * @function silu
 * @param t a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.silu(t)
 */
/*** Whether each element is NaN (a bool tensor; integers never are).
 * Also a method, `t:isnan()`.
 * @function isnan
 * @param t a tensor
 * @return a bool tensor
 * @usage lg.isnan(t)
 */
/*** Whether each element is +-inf (a bool tensor).
 * Also a method, `t:isinf()`.
 * @function isinf
 * @param t a tensor
 * @return a bool tensor
 * @usage lg.isinf(t)
 */
/*** Whether each element is finite (a bool tensor).
 * Also a method, `t:isfinite()`.
 * @function isfinite
 * @param t a tensor
 * @return a bool tensor
 * @usage lg.isfinite(t)
 */
/*** The bool tensor of `t == 0` (logical negation).
 * Also a method, `t:logical_not()`.
 * @function logical_not
 * @param t a tensor
 * @return a bool tensor
 * @usage lg.logical_not(t)
 */
/* op(t[, {out = y}]) and t:op_() */
static int unary(lua_State *L, int inplace) {
  lg_op op = lgl_upvalue_op(L);
  lg_tensor *t = lgl_check_tensor(L, 1, lg_op_name(op));
  lg_params p = {0};
  if (inplace) p.flags = LG_FLAG_INPLACE;
  lgl_check_options(L, 2, lg_op_name(op), LGL_OPTIONS("out"));
  int out_idx = inplace ? 0 : lgl_opt_out(L, 2, lg_op_name(op));
  return lgl_run_op_out(L, op, 1, &t, &p, 1, out_idx);
}
static int l_unary(lua_State *L) { return unary(L, 0); }
static int l_unary_(lua_State *L) { return unary(L, 1); }

/* Whether lgl_binary accepts the value at idx as an operand. */
static bool is_operand(lua_State *L, int idx) {
  int type = lua_type(L, idx);
  return type == LUA_TNUMBER || type == LUA_TBOOLEAN || lgl_to_tensor(L, idx);
}

/*** a + b elementwise, broadcasting (also the + operator).
 * Either operand may be a number. Also a method, `a:add(b)`, and in place,
 * `a:add_(b)` (the result must keep a's shape and dtype).
 * @function add
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("add: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.add(lg.tensor({1, 2}), 3)
 */
/*** a - b elementwise, broadcasting (also the - operator).
 * Either operand may be a number. Also a method, `a:sub(b)`, and in place,
 * `a:sub_(b)` (the result must keep a's shape and dtype).
 * @function sub
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("sub: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.sub(lg.tensor({1, 2}), 3)
 */
/*** a * b elementwise, broadcasting (also the * operator; matrix products are matmul).
 * Either operand may be a number. Also a method, `a:mul(b)`, and in place,
 * `a:mul_(b)` (the result must keep a's shape and dtype).
 * @function mul
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("mul: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.mul(lg.tensor({1, 2}), 3)
 */
/*** a / b elementwise, broadcasting; true division (int / int is float32), as PyTorch's div.
 * Either operand may be a number. Also a method, `a:div(b)`, and in place,
 * `a:div_(b)` (the result must keep a's shape and dtype).
 * @function div
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("div: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.div(lg.tensor({1, 2}), 3)
 */
/*** a ^ b elementwise, broadcasting (also the ^ operator).
 * Either operand may be a number. Also a method, `a:pow(b)`, and in place,
 * `a:pow_(b)` (the result must keep a's shape and dtype).
 * @function pow
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("pow: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.pow(lg.tensor({1, 2}), 3)
 */
/*** The larger of a and b elementwise, broadcasting (NaN propagates).
 * Either operand may be a number. Also a method, `a:maximum(b)`, and in place,
 * `a:maximum_(b)` (the result must keep a's shape and dtype).
 * @function maximum
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("maximum: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.maximum(lg.tensor({1, 2}), 3)
 */
/*** The smaller of a and b elementwise, broadcasting (NaN propagates).
 * Either operand may be a number. Also a method, `a:minimum(b)`, and in place,
 * `a:minimum_(b)` (the result must keep a's shape and dtype).
 * @function minimum
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("minimum: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.minimum(lg.tensor({1, 2}), 3)
 */
/*** a - floor(a / b) * b elementwise (the sign of b, Python's %; also the % operator).
 * Either operand may be a number. Also a method, `a:remainder(b)`, and in place,
 * `a:remainder_(b)` (the result must keep a's shape and dtype).
 * @function remainder
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("remainder: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.remainder(lg.tensor({1, 2}), 3)
 */
/*** floor(a / b) elementwise (also the // operator).
 * Either operand may be a number. Also a method, `a:floor_divide(b)`, and in place,
 * `a:floor_divide_(b)` (the result must keep a's shape and dtype).
 * @function floor_divide
 * @param a a tensor or number
 * @param b a tensor or number
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @raise when the shapes are not broadcastable ("floor_divide: shapes {2,3} and {4} are not broadcastable")
 * @usage lg.floor_divide(lg.tensor({1, 2}), 3)
 */
/*** The bool tensor of `a == b` elementwise, broadcasting.
 * Lua's == on tensors is identity, so compare values with `a:eq(b)`.
 * In place, `a:eq_(b)` writes 0/1 in a's dtype.
 * @function eq
 * @param a a tensor or number
 * @param b a tensor or number
 * @return a bool tensor
 * @usage lg.eq(lg.tensor({1, 2}), 2)
 */
/*** The bool tensor of `a ~= b` elementwise, broadcasting.
 * Lua's == on tensors is identity, so compare values with `a:ne(b)`.
 * In place, `a:ne_(b)` writes 0/1 in a's dtype.
 * @function ne
 * @param a a tensor or number
 * @param b a tensor or number
 * @return a bool tensor
 * @usage lg.ne(lg.tensor({1, 2}), 2)
 */
/*** The bool tensor of `a < b` elementwise, broadcasting.
 * Lua's == on tensors is identity, so compare values with `a:lt(b)`.
 * In place, `a:lt_(b)` writes 0/1 in a's dtype.
 * @function lt
 * @param a a tensor or number
 * @param b a tensor or number
 * @return a bool tensor
 * @usage lg.lt(lg.tensor({1, 2}), 2)
 */
/*** The bool tensor of `a <= b` elementwise, broadcasting.
 * Lua's == on tensors is identity, so compare values with `a:le(b)`.
 * In place, `a:le_(b)` writes 0/1 in a's dtype.
 * @function le
 * @param a a tensor or number
 * @param b a tensor or number
 * @return a bool tensor
 * @usage lg.le(lg.tensor({1, 2}), 2)
 */
/*** The bool tensor of `a > b` elementwise, broadcasting.
 * Lua's == on tensors is identity, so compare values with `a:gt(b)`.
 * In place, `a:gt_(b)` writes 0/1 in a's dtype.
 * @function gt
 * @param a a tensor or number
 * @param b a tensor or number
 * @return a bool tensor
 * @usage lg.gt(lg.tensor({1, 2}), 2)
 */
/*** The bool tensor of `a >= b` elementwise, broadcasting.
 * Lua's == on tensors is identity, so compare values with `a:ge(b)`.
 * In place, `a:ge_(b)` writes 0/1 in a's dtype.
 * @function ge
 * @param a a tensor or number
 * @param b a tensor or number
 * @return a bool tensor
 * @usage lg.ge(lg.tensor({1, 2}), 2)
 */
/* op(a, b[, {out = y}]): lgl_binary decodes the operands; an out request
 * is left for its lgl_run_op only once the operands are known to be valid,
 * so lgl_binary can't raise between the request and the run. */
static int l_binary(lua_State *L) {
  lg_op op = lgl_upvalue_op(L);
  lgl_check_options(L, 3, lg_op_name(op), LGL_OPTIONS("out"));
  int out_idx = lgl_opt_out(L, 3, lg_op_name(op));
  if (out_idx && is_operand(L, 1) && is_operand(L, 2) &&
      (lgl_to_tensor(L, 1) || lgl_to_tensor(L, 2)))
    lgl_push_out_request(L, out_idx);
  return lgl_binary(L, op, 0);
}
/*** Alias of mul (PyTorch's name; also a method).
 * @function multiply
 * @usage lg.multiply(a, b)
 */
/*** Alias of sub (PyTorch's name; also a method).
 * @function subtract
 * @usage lg.subtract(a, b)
 */
/*** Alias of div (PyTorch's name; also a method).
 * @function divide
 * @usage lg.divide(a, b)
 */
/*** Alias of div (PyTorch's name; also a method).
 * @function true_divide
 * @usage lg.true_divide(a, b)
 */
/*** Alias of remainder (PyTorch's name; also a method).
 * @function fmod_floor
 * @usage lg.fmod_floor(a, b)
 */
/*** Alias of gt (PyTorch's name; also a method).
 * @function greater
 * @usage lg.greater(a, b)
 */
/*** Alias of lt (PyTorch's name; also a method).
 * @function less
 * @usage lg.less(a, b)
 */
/*** Alias of eq (PyTorch's name; also a method).
 * @function equal_elements
 * @usage lg.equal_elements(a, b)
 */
static int l_binary_(lua_State *L) { return lgl_binary(L, lgl_upvalue_op(L), 1); }

/*** Clamps each element into [min, max]; either bound may be nil.
 * Also `t:clamp(min, max)`, `t:clamp{min = 0}` and in place `t:clamp_(...)`.
 * @function clamp
 * @param t a tensor
 * @param min the lower bound (number or nil), or an options table {min, max}
 * @param max the upper bound (number or nil)
 * @return a tensor
 * @usage lg.clamp(t, 0, 1); t:clamp{max = 6}
 */
/*** Alias of clamp.
 * @function clip
 * @usage t:clip(-1, 1)
 */
/*** max(t, min) elementwise: clamp with only a lower bound.
 * @function clamp_min
 * @param t a tensor
 * @param min a number
 * @return a tensor
 * @usage t:clamp_min(0)
 */
/*** min(t, max) elementwise: clamp with only an upper bound.
 * @function clamp_max
 * @param t a tensor
 * @param max a number
 * @return a tensor
 * @usage t:clamp_max(1)
 */
/* clamp(t, min, max) with either bound nil, or clamp(t, {min=, max=}) */
static int clamp(lua_State *L, int inplace, int which) {
  lg_tensor *t = lgl_check_tensor(L, 1, "clamp");
  lg_params p = {0};
  int lo = 2, hi = 3;
  lgl_check_options(L, 2, "clamp", LGL_OPTIONS("max", "min"));
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_getfield(L, 2, "min");
    lua_getfield(L, 2, "max");
    lo = lua_gettop(L) - 1;
    hi = lo + 1;
  }
  if (which == 2) { /* clamp_max(v) */
    hi = lo;
    lo = 0;
  } else if (which == 1) {
    hi = 0;
  }
  bool all_int = true;
  if (lo && !lua_isnoneornil(L, lo)) {
    if (lua_type(L, lo) != LUA_TNUMBER)
      return luaL_error(L, "clamp: expected a number for min, got %s",
                        lgl_typename(L, lo));
    p.flags |= LG_FLAG_HAS_MIN;
    p.scalar[0] = lua_tonumber(L, lo);
    all_int = all_int && lua_isinteger(L, lo);
  }
  if (hi && !lua_isnoneornil(L, hi)) {
    if (lua_type(L, hi) != LUA_TNUMBER)
      return luaL_error(L, "clamp: expected a number for max, got %s",
                        lgl_typename(L, hi));
    p.flags |= LG_FLAG_HAS_MAX;
    p.scalar[1] = lua_tonumber(L, hi);
    all_int = all_int && lua_isinteger(L, hi);
  }
  if (all_int) p.flags |= LG_FLAG_SCALAR_INT;
  if (inplace) p.flags |= LG_FLAG_INPLACE;
  return lgl_run_op(L, LG_OP_CLAMP, 1, &t, &p, 1);
}
static int l_clamp(lua_State *L) { return clamp(L, 0, 0); }
static int l_clamp_(lua_State *L) { return clamp(L, 1, 0); }
static int l_clamp_min(lua_State *L) { return clamp(L, 0, 1); }
static int l_clamp_max(lua_State *L) { return clamp(L, 0, 2); }

/*** a where cond holds, b elsewhere, broadcasting the three.
 * The method form follows PyTorch: `a:where(cond, b)`.
 * @function where
 * @param cond a bool tensor
 * @param a a tensor or number
 * @param b a tensor or number
 * @return a tensor
 * @usage lg.where(x:gt(0), x, 0)
 */
/* where(cond, a, b): a and b tensors or numbers */
static int where(lua_State *L, int cond_idx, int a_idx, int b_idx) {
  lg_tensor *in[3];
  int n = 0;
  lg_params p = {0};
  in[n++] = lgl_check_tensor(L, cond_idx, "where");
  int ints = 0, scalars = 0;
  lg_tensor *a = lgl_to_tensor(L, a_idx), *b = lgl_to_tensor(L, b_idx);
  if (a) in[n++] = a;
  else if (lua_type(L, a_idx) == LUA_TNUMBER) {
    p.flags |= LG_FLAG_SCALAR_A;
    p.scalar[0] = lua_tonumber(L, a_idx);
    ints += lua_isinteger(L, a_idx);
    scalars++;
  } else
    return luaL_error(L, "where: expected a tensor or number as input, got %s",
                      lgl_typename(L, a_idx));
  if (b) in[n++] = b;
  else if (lua_type(L, b_idx) == LUA_TNUMBER) {
    p.flags |= LG_FLAG_SCALAR_B;
    p.scalar[1] = lua_tonumber(L, b_idx);
    ints += lua_isinteger(L, b_idx);
    scalars++;
  } else
    return luaL_error(L, "where: expected a tensor or number as other, got %s",
                      lgl_typename(L, b_idx));
  if (scalars && ints == scalars) p.flags |= LG_FLAG_SCALAR_INT;
  return lgl_run_op(L, LG_OP_WHERE, n, in, &p, 0);
}
static int l_where(lua_State *L) { return where(L, 1, 2, 3); }
/* x:where(cond, y) as in PyTorch */
static int m_where(lua_State *L) { return where(L, 2, 1, 3); }

static const luaL_Reg both[] = {
    {"clamp", l_clamp},         {"clip", l_clamp},
    {"clamp_min", l_clamp_min}, {"clamp_max", l_clamp_max},
    {NULL, NULL},
};
static const luaL_Reg methods_only[] = {
    {"clamp_", l_clamp_}, {"clip_", l_clamp_}, {"where", m_where},
    {NULL, NULL},
};
static const luaL_Reg module_only[] = {{"where", l_where}, {NULL, NULL}};

void lgl_open_elementwise(lua_State *L, const lgl_tables *T) {
  lgl_register_kind(L, T, LG_KIND_UNARY, l_unary, l_unary_);
  lgl_register_kind(L, T, LG_KIND_UNARY_FLOAT, l_unary, l_unary_);
  lgl_register_kind(L, T, LG_KIND_BINARY, l_binary, l_binary_);
  lgl_register_kind(L, T, LG_KIND_COMPARE, l_binary, l_binary_);
  lgl_register_kind(L, T, LG_KIND_PREDICATE, l_unary, NULL);
  for (int target = 0; target < 2; target++) {
    lua_pushvalue(L, target ? T->module : T->methods);
    lgl_setfuncs(L, both, T->state, T->meta);
    lgl_setfuncs(L, target ? module_only : methods_only, T->state, T->meta);
    lua_pop(L, 1);
  }
  /* Aliases: PyTorch's multiply, subtract, divide, true_divide, greater
   * and less, and two luagrad names PyTorch does not have: fmod_floor
   * (remainder, floor rounding; torch.fmod truncates) and equal_elements
   * (eq; torch.equal compares whole tensors). */
  static const char *const aliases[][2] = {
      {"multiply", "mul"}, {"subtract", "sub"}, {"divide", "div"},
      {"true_divide", "div"}, {"fmod_floor", "remainder"},
      {"greater", "gt"}, {"less", "lt"}, {"equal_elements", "eq"},
  };
  for (int target = 0; target < 2; target++) {
    int tbl = target ? T->module : T->methods;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
      lua_getfield(L, tbl, aliases[i][1]);
      lua_setfield(L, tbl, aliases[i][0]);
    }
  }
}
