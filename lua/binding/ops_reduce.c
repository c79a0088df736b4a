/* ops_reduce.c: Lua wrappers for the reductions (sum mean prod amax amin
 * logsumexp all any var std norm max min argmax argmin cumsum cumprod),
 * each registered as a tensor method and as an lg.* function. The kinds
 * LG_KIND_REDUCE (sum ... any), LG_KIND_ARGREDUCE (argmax, argmin) and
 * LG_KIND_ALONG_DIM (cumsum, cumprod, and softmax and log_softmax of the nn
 * family) have one wrapper each, registered for every op of the kind in
 * lg_ops.h (ops_table.c).
 *
 * Argument forms (dims 1-based, negative from the end):
 *   t:sum()  t:sum(d)  t:sum({d1, d2})  t:sum(d, true)  t:sum(d, {keepdim=true})
 *   t:sum({keepdim=true})            every dim, kept as size 1
 *   t:max()  -> 0-d max;  t:max(d[, keepdim]) -> values, indices;
 *   t:max(u) -> elementwise maximum (u a tensor)
 *   t:argmax() -> 0-d flat index;  t:argmax(d[, keepdim])
 *   t:var([dims][, {unbiased=, correction=, keepdim=}]), same for std
 *   t:norm([p[, dims[, keepdim]]]) with p a number, math.huge or "fro"
 *   t:cumsum(d), t:cumprod(d)
 * A bare boolean after the dims always means keepdim (luagrad's rule), also for
 * var/std where PyTorch's positional form would read it as unbiased.
 */

/***
 * Reductions: sum, mean, max, argmax, var, norm, cumsum, softmax.
 * @module lg
 */
#include <math.h>
#include <string.h>

#include "lgl.h"

/* Whether idx holds dims: an integer, or a non-empty array table. */
static bool is_dims(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) return true;
  return lua_type(L, idx) == LUA_TTABLE && !lgl_to_tensor(L, idx) &&
         lua_rawlen(L, idx) > 0;
}

/* Reads optional dims at idx into p (nil, an empty table or nothing: every
 * dim). Returns the index of the keepdim / options slot after them. */
static int opt_dims(lua_State *L, int idx, const lg_tensor *t,
                    const char *fname, lg_params *p) {
  p->n_ints = 0;
  if (is_dims(L, idx)) {
    lgl_check_dims(L, idx, lg_tensor_ndim(t), fname, p);
    return idx + 1;
  }
  if (lua_isnil(L, idx)) return idx + 1;
  /* an empty table: dims {} when something follows, else options */
  if (lua_type(L, idx) == LUA_TTABLE && !lgl_to_tensor(L, idx) &&
      !lua_isnone(L, idx + 1))
    return idx + 1;
  if (lua_isnone(L, idx) || lua_type(L, idx) == LUA_TTABLE) return idx;
  return luaL_error(L, "%s: expected a dim, a table of dims or an options "
                    "table as argument %d, got %s", fname, idx,
                    lgl_typename(L, idx));
}

/* keepdim given as a bare boolean or an options table at idx. */
static bool opt_keepdim(lua_State *L, int idx, const char *fname) {
  switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: return false;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx);
    case LUA_TTABLE:
      if (!lgl_to_tensor(L, idx)) return lgl_opt_bool(L, idx, "keepdim", 0);
      /* fall through */
    default:
      return luaL_error(L, "%s: expected keepdim (a boolean) or an options "
                        "table as argument %d, got %s", fname, idx,
                        lgl_typename(L, idx));
  }
}

/*** The sum over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function sum
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:sum(2)
 */
/*** The mean (floating tensors) over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function mean
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:mean({1, 2}, true)
 */
/*** The product over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function prod
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:prod(1)
 */
/*** The maximum (no indices; several dims allowed) over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function amax
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:amax(2)
 */
/*** The minimum (no indices; several dims allowed) over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function amin
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:amin(2)
 */
/*** log(sum(exp(t))), computed stably over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function logsumexp
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:logsumexp(2)
 */
/*** Whether every element is non-zero (a bool tensor) over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function all
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:all()
 */
/*** Whether some element is non-zero (a bool tensor) over dims (1-based; an integer or a table of them) or over
 * everything when no dims are given; keepdim keeps the reduced dims as size 1.
 * Also a method.
 * @function any
 * @param t a tensor
 * @param[opt] dims an integer or a table of integers (negative: from the end)
 * @param[opt] keepdim a boolean, or an options table {keepdim = false}
 * @return a tensor (0-d when everything is reduced)
 * @usage t:any(1)
 */
/* t:op([dims][, keepdim]): LG_KIND_REDUCE. */
static int l_reduce(lua_State *L) {
  lg_op op = lgl_upvalue_op(L);
  const char *fname = lg_op_name(op);
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  int next = opt_dims(L, 2, t, fname, &p);
  lgl_check_options(L, next, fname, LGL_OPTIONS("keepdim"));
  if (opt_keepdim(L, next, fname)) p.flags |= LG_FLAG_KEEPDIM;
  return lgl_run_op(L, op, 1, &t, &p, 1);
}

/*** The maximum: of everything (a 0-d tensor); over one dim, two values
 * (values, indices), the indices 1-based int64; or elementwise against
 * another tensor (maximum). PyTorch returns a named tuple; here two returns.
 * @function max
 * @param t a tensor
 * @param[opt] dim an integer dim, or a tensor for the elementwise form
 * @param[opt] keepdim a boolean or {keepdim = false}
 * @return a tensor, or values and indices
 * @usage local values, indices = t:max(2)
 */
/*** The minimum: of everything, over one dim (values, 1-based indices) or
 * elementwise against another tensor, as max.
 * @function min
 * @param t a tensor
 * @param[opt] dim an integer dim, or a tensor
 * @param[opt] keepdim a boolean or {keepdim = false}
 * @return a tensor, or values and indices
 * @usage local values, indices = t:min(1)
 */
/* max/min: of everything, over one dim (values, indices), or elementwise
 * against another tensor. */
static int minmax(lua_State *L, bool want_max) {
  const char *fname = want_max ? "max" : "min";
  if (lgl_to_tensor(L, 2))
    return lgl_binary(L, want_max ? LG_OP_MAXIMUM : LG_OP_MINIMUM, 0);
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  if (lua_type(L, 2) == LUA_TNUMBER) {
    p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), fname);
    lgl_check_options(L, 3, fname, LGL_OPTIONS("keepdim"));
    if (opt_keepdim(L, 3, fname)) p.flags |= LG_FLAG_KEEPDIM;
    return lgl_run_op(L, want_max ? LG_OP_MAX_DIM : LG_OP_MIN_DIM, 1, &t, &p,
                      1);
  }
  if (is_dims(L, 2))
    return luaL_error(L, "%s: expected one dim (an integer) or a tensor, got "
                      "a table of dims (use %s for several dims)", fname,
                      want_max ? "amax" : "amin");
  int next = opt_dims(L, 2, t, fname, &p);
  lgl_check_options(L, next, fname, LGL_OPTIONS("keepdim"));
  if (opt_keepdim(L, next, fname)) p.flags |= LG_FLAG_KEEPDIM;
  if (lg_tensor_numel(t) == 0) /* name max/min, not amax/amin */
    return luaL_error(L, "%s: expected a non-empty tensor, got one with no "
                      "elements (give a dim to reduce an empty tensor)",
                      fname);
  return lgl_run_op(L, want_max ? LG_OP_AMAX : LG_OP_AMIN, 1, &t, &p, 1);
}
static int l_max(lua_State *L) { return minmax(L, true); }
static int l_min(lua_State *L) { return minmax(L, false); }

/*** The 1-based index (int64) of the largest element over one dim, or in
 * the flattened tensor when no dim is given (PyTorch's indices are 0-based).
 * @function argmax
 * @param t a tensor
 * @param[opt] dim an integer
 * @param[opt] keepdim a boolean or {keepdim = false}
 * @return an int64 tensor
 * @usage t:argmax(2)
 */
/*** The 1-based index (int64) of the smallest element over one dim, or in
 * the flattened tensor when no dim is given (PyTorch's indices are 0-based).
 * @function argmin
 * @param t a tensor
 * @param[opt] dim an integer
 * @param[opt] keepdim a boolean or {keepdim = false}
 * @return an int64 tensor
 * @usage t:argmin(2)
 */
/* t:op([dim][, keepdim]) over one dim, or of the flattened tensor:
 * LG_KIND_ARGREDUCE. */
static int l_argreduce(lua_State *L) {
  lg_op op = lgl_upvalue_op(L);
  const char *fname = lg_op_name(op);
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  int next = 2;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), fname);
    next = 3;
  } else if (is_dims(L, 2)) {
    return luaL_error(L, "%s: expected one dim (an integer), got a table",
                      fname);
  } else {
    p.n_ints = -1; /* flattened: see reduce.c */
    if (lua_isnil(L, 2) && !lua_isnone(L, 2)) next = 3;
  }
  lgl_check_options(L, next, fname, LGL_OPTIONS("keepdim"));
  if (opt_keepdim(L, next, fname)) p.flags |= LG_FLAG_KEEPDIM;
  return lgl_run_op(L, op, 1, &t, &p, 1);
}

/*** The variance over dims (or everything), with Bessel's correction by default
 * (correction = 1; unbiased = false is correction = 0).
 * @function var
 * @param t a floating tensor
 * @param[opt] dims an integer or a table of integers
 * @param[opt] opts keepdim, or {correction = 1, unbiased = true, keepdim = false}
 * @return a tensor
 * @usage t:var(1, {correction = 0})
 */
/*** The standard deviation over dims (or everything), with Bessel's correction by default
 * (correction = 1; unbiased = false is correction = 0).
 * @function std
 * @param t a floating tensor
 * @param[opt] dims an integer or a table of integers
 * @param[opt] opts keepdim, or {correction = 1, unbiased = true, keepdim = false}
 * @return a tensor
 * @usage t:std(1, {correction = 0})
 */
/* var/std: [dims][, keepdim | {unbiased=, correction=, keepdim=}] */
static int var_std(lua_State *L, lg_op op) {
  const char *fname = lg_op_name(op);
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  int next = opt_dims(L, 2, t, fname, &p);
  lgl_check_options(L, next, fname,
                    LGL_OPTIONS("correction", "keepdim", "unbiased"));
  if (opt_keepdim(L, next, fname)) p.flags |= LG_FLAG_KEEPDIM;
  p.scalar[0] = 1; /* unbiased by default */
  if (lua_type(L, next) == LUA_TTABLE) {
    lua_getfield(L, next, "unbiased");
    lua_getfield(L, next, "correction");
    if (!lua_isnil(L, -2) && !lua_isnil(L, -1))
      return luaL_error(L, "%s: give unbiased or correction, not both",
                        fname);
    if (!lua_isnil(L, -2)) p.scalar[0] = lua_toboolean(L, -2) ? 1 : 0;
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "%s: expected a number for correction, got %s",
                          fname, lgl_typename(L, -1));
      p.scalar[0] = lua_tonumber(L, -1);
    }
    lua_pop(L, 2);
  }
  return lgl_run_op(L, op, 1, &t, &p, 1);
}
static int l_var(lua_State *L) { return var_std(L, LG_OP_VAR); }
static int l_std(lua_State *L) { return var_std(L, LG_OP_STD); }

/*** The p-norm over dims (or everything): p a number (default 2; math.huge
 * for max |x|) or "fro".
 * @function norm
 * @param t a tensor
 * @param[opt] p a number or "fro"
 * @param[opt] dims an integer or a table of integers
 * @param[opt] keepdim a boolean
 * @return a tensor
 * @usage t:norm(); t:norm(1, 2)
 */
/* norm([p[, dims[, keepdim]]]): p a number (math.huge: max |x|) or "fro" */
static int l_norm(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "norm");
  lg_params p = {0};
  p.scalar[0] = 2;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    p.scalar[0] = lua_tonumber(L, 2);
    if (isnan(p.scalar[0]))
      return luaL_error(L, "norm: expected a number for p, got nan");
  } else if (lua_type(L, 2) == LUA_TSTRING) {
    if (strcmp(lua_tostring(L, 2), "fro") != 0)
      return luaL_error(L, "norm: expected p to be a number or \"fro\", got "
                        "\"%s\"", lua_tostring(L, 2));
  } else if (!lua_isnoneornil(L, 2)) {
    return luaL_error(L, "norm: expected p to be a number or \"fro\", got %s",
                      lgl_typename(L, 2));
  }
  int next = opt_dims(L, 3, t, "norm", &p);
  lgl_check_options(L, next, "norm", LGL_OPTIONS("keepdim"));
  if (opt_keepdim(L, next, "norm")) p.flags |= LG_FLAG_KEEPDIM;
  return lgl_run_op(L, LG_OP_NORM, 1, &t, &p, 1);
}

/*** The running sum along dim d (1-based; required, as in PyTorch).
 * Also a method.
 * @function cumsum
 * @param t a tensor
 * @param d the dim
 * @return a tensor of t's shape
 * @usage t:cumsum(2)
 */
/*** The running product along dim d (1-based; required, as in PyTorch).
 * Also a method.
 * @function cumprod
 * @param t a tensor
 * @param d the dim
 * @return a tensor of t's shape
 * @usage t:cumprod(2)
 */
/*** exp(t) / sum(exp(t)) along dim d, computed stably (1-based; required, as in PyTorch).
 * Also a method.
 * @function softmax
 * @param t a tensor
 * @param d the dim
 * @return a tensor of t's shape
 * @usage t:softmax(2)
 */
/*** log(softmax(t)) along dim d, computed stably (1-based; required, as in PyTorch).
 * Also a method.
 * @function log_softmax
 * @param t a tensor
 * @param d the dim
 * @return a tensor of t's shape
 * @usage t:log_softmax(2)
 */
/* t:op(d), the dim required as in PyTorch: LG_KIND_ALONG_DIM. */
static int l_along_dim(lua_State *L) {
  lg_op op = lgl_upvalue_op(L);
  const char *fname = lg_op_name(op);
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  if (lua_isnoneornil(L, 2))
    return luaL_error(L, "%s: expected a dim as argument 2, got %s", fname,
                      lgl_typename(L, 2));
  p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), fname);
  return lgl_run_op(L, op, 1, &t, &p, 1);
}

static const luaL_Reg reduce_functions[] = {
    {"max", l_max}, {"min", l_min}, {"var", l_var},
    {"std", l_std}, {"norm", l_norm}, {NULL, NULL}};

/* Registers the reductions as methods and module functions. */
void lgl_open_reduce(lua_State *L, const lgl_tables *T) {
  lgl_register_kind(L, T, LG_KIND_REDUCE, l_reduce, NULL);
  lgl_register_kind(L, T, LG_KIND_ARGREDUCE, l_argreduce, NULL);
  lgl_register_kind(L, T, LG_KIND_ALONG_DIM, l_along_dim, NULL);
  lgl_register_family(L, T, reduce_functions, reduce_functions);
}
