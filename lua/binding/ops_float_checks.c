/* ops_float_checks.c: Lua wrappers of the floating-point checks that take
 * options: nan_to_num (and nan_to_num_), isclose and allclose, each a
 * module function and a tensor method (isnan, isinf and isfinite are
 * predicates of the op table, with generated wrappers). PyTorch's keyword
 * arguments are a trailing options table or positional arguments in
 * PyTorch's order: t:isclose(u, {atol = 1e-6}) or t:isclose(u, 1e-5, 1e-6).
 */

/***
 * Floating-point checks: nan_to_num, isclose, allclose.
 * @module lg
 */
#include <float.h>

#include "lgl_out.h"

/* nan_to_num(t, nan = 0, posinf = largest, neginf = lowest finite value of
 * t's dtype[, {out = y}]) and t:nan_to_num_(...) */
static int nan_to_num(lua_State *L, bool inplace) {
  const char *fname = inplace ? "nan_to_num_" : "nan_to_num";
  static const char *const names[] = {"nan", "posinf", "neginf", "out", NULL};
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lgl_check_options(L, 2, fname, names);
  double largest = lg_tensor_dtype(t) == LG_FLOAT32 ? FLT_MAX : DBL_MAX;
  lg_params p = {0};
  const double dflt[3] = {0, largest, -largest};
  for (int k = 0; k < 3; k++) {
    lgl_push_keyword(L, 2, k, names[k]);
    p.scalar[k] = lgl_pop_number(L, dflt[k], fname, names[k]);
  }
  if (inplace) p.flags = LG_FLAG_INPLACE;
  int out_idx = inplace ? 0 : lgl_opt_out(L, 2, fname);
  return lgl_run_op_out(L, LG_OP_NAN_TO_NUM, 1, &t, &p, 1, out_idx);
}
/*** Replaces NaN (default 0), +inf and -inf (defaults: the dtype's largest and
 * lowest finite values); in place `t:nan_to_num_()`. The gradient is
 * grad * isfinite(t), as PyTorch's.
 * @function nan_to_num
 * @param t a tensor
 * @param[opt] nan a number, or an options table {nan = 0, posinf, neginf}
 * @param[opt] posinf a number
 * @param[opt] neginf a number
 * @return a tensor
 * @usage lg.nan_to_num(t, {nan = 0})
 */
static int l_nan_to_num(lua_State *L) { return nan_to_num(L, false); }
static int l_nan_to_num_(lua_State *L) { return nan_to_num(L, true); }

/* The two tensors and the tolerances of isclose / allclose. */
static void close_args(lua_State *L, const char *fname, lg_tensor **in,
                       lg_params *p) {
  static const char *const names[] = {"rtol", "atol", "equal_nan", NULL};
  in[0] = lgl_check_tensor(L, 1, fname);
  in[1] = lgl_check_tensor(L, 2, fname);
  lgl_check_options(L, 3, fname, names);
  lgl_push_keyword(L, 3, 0, names[0]);
  p->scalar[0] = lgl_pop_number(L, 1e-5, fname, names[0]);
  lgl_push_keyword(L, 3, 1, names[1]);
  p->scalar[1] = lgl_pop_number(L, 1e-8, fname, names[1]);
  lgl_push_keyword(L, 3, 2, names[2]);
  if (lgl_pop_boolean(L, false, fname, names[2]))
    p->flags |= LG_FLAG_EQUAL_NAN;
}

/*** The bool tensor of `a == b or |a - b| <= atol + rtol * |b|`, broadcasting
 * (not symmetric in a and b, as PyTorch).
 * @function isclose
 * @param a a tensor
 * @param b a tensor
 * @param[opt] opts {rtol = 1e-5, atol = 1e-8, equal_nan = false}
 * @return a bool tensor
 * @usage a:isclose(b, {atol = 1e-6})
 */
/* isclose(a, b, {rtol = 1e-5, atol = 1e-8, equal_nan = false}): a bool
 * tensor, broadcast */
static int l_isclose(lua_State *L) {
  lg_tensor *in[2];
  lg_params p = {0};
  close_args(L, "isclose", in, &p);
  return lgl_run_op(L, LG_OP_ISCLOSE, 2, in, &p, 0);
}

/*** Whether isclose holds everywhere (a Lua boolean).
 * @function allclose
 * @param a a tensor
 * @param b a tensor
 * @param[opt] opts {rtol = 1e-5, atol = 1e-8, equal_nan = false}
 * @return a boolean
 * @usage assert(a:allclose(b))
 */
/* allclose(a, b, opts): whether isclose holds everywhere (a Lua boolean) */
static int l_allclose(lua_State *L) {
  lg_tensor *in[2], *close = NULL;
  lg_params p = {0};
  close_args(L, "allclose", in, &p);
  lg_ctx *ctx = lgl_ctx(L);
  if (lg_op_run(ctx, LG_OP_ISCLOSE, 2, in, &p, &close) != LG_OK)
    return lgl_error_as(L, "allclose"); /* not the runtime's "isclose" */
  const bool *v = lg_tensor_data(close); /* a fresh contiguous result */
  int64_t n = lg_tensor_numel(close);
  bool all = true;
  for (int64_t i = 0; i < n && all; i++) all = v[i];
  lg_tensor_release(close);
  lua_pushboolean(L, all);
  return 1;
}

/* Registers the checks as module functions and as tensor methods. */
void lgl_open_float_checks(lua_State *L, const lgl_tables *T) {
  static const luaL_Reg fns[] = {
      {"nan_to_num", l_nan_to_num}, {"isclose", l_isclose},
      {"allclose", l_allclose},     {NULL, NULL}};
  static const luaL_Reg methods_only[] = {{"nan_to_num_", l_nan_to_num_},
                                          {NULL, NULL}};
  for (int target = 0; target < 2; target++) {
    lua_pushvalue(L, target ? T->module : T->methods);
    lgl_setfuncs(L, fns, T->state, T->meta);
    if (!target) lgl_setfuncs(L, methods_only, T->state, T->meta);
    lua_pop(L, 1);
  }
}
