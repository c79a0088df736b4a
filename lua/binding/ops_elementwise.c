/* ops_elementwise.c: Lua wrappers for the elementwise ops. The uniform
 * kinds (unary, binary, comparison, predicate) have one wrapper each,
 * registered for every op of the kind in lg_ops.h (ops_table.c) as a
 * method, an in-place method (name_; not for predicates) and a module
 * function, the out-of-place ones taking a trailing {out = t} that writes
 * the result into t (no allocation); clamp and where have their own
 * wrappers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lgl_out.h"

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
static int l_binary_(lua_State *L) { return lgl_binary(L, lgl_upvalue_op(L), 1); }

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
