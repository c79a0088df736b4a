/* ops_linalg.c: the Lua face of the matrix products: matmul, mm, bmm, mv,
 * dot, outer and addmm, each a module function and a tensor method;
 * matmul, mm and addmm take a trailing {out = y} that writes the product
 * into y without allocating (contiguous y of the result dtype). */

/***
 * Matrix products through OpenBLAS: matmul, mm, bmm, mv, dot, outer, addmm.
 * @module lg
 */
#include "lgl_out.h"

typedef lg_status (*product_fn)(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                                lg_tensor **out);

/* Runs a two-operand composite with the result's box made first. */
static int product(lua_State *L, const char *fname, product_fn fn) {
  lg_tensor *a = lgl_check_tensor(L, 1, fname);
  lg_tensor *b = lgl_check_tensor(L, 2, fname);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (fn(lgl_ctx(L), a, b, &out) != LG_OK) return lgl_error(L);
  lgl_box_set(box, out);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/*** The matrix product with PyTorch's rules: 1-D . 1-D is a dot, 2-D x 2-D a
 * matrix product, and batched with broadcasting for more dims (OpenBLAS).
 * @function matmul
 * @param a a tensor
 * @param b a tensor
 * @param[opt] opts {out = tensor}
 * @return a tensor
 * @usage lg.matmul(x, w:t())
 */
/* lg.matmul(a, b[, {out = y}]) / a:matmul(b[, {out = y}]) */
static int l_matmul(lua_State *L) {
  lg_tensor *in[2] = {lgl_check_tensor(L, 1, "matmul"),
                      lgl_check_tensor(L, 2, "matmul")};
  lgl_check_options(L, 3, "matmul", LGL_OPTIONS("out"));
  return lgl_run_op_out(L, LG_OP_MATMUL, 2, in, NULL, 1,
                        lgl_opt_out(L, 3, "matmul"));
}

/*** The product of two 2-D matrices.
 * Also a method, `a:mm(b)`.
 * @function mm
 * @param a a tensor
 * @param b a tensor
 * @return a tensor
 * @usage lg.mm(a, b)
 */
/* lg.mm(a, b[, {out = y}]): with out=, the ranks are checked here and the
 * product runs as matmul into y (lg_mm itself has no output slot). */
static int l_mm(lua_State *L) {
  lgl_check_options(L, 3, "mm", LGL_OPTIONS("out"));
  int out_idx = lgl_opt_out(L, 3, "mm");
  if (!out_idx) return product(L, "mm", lg_mm);
  lg_tensor *in[2] = {lgl_check_tensor(L, 1, "mm"), lgl_check_tensor(L, 2, "mm")};
  if (lg_tensor_ndim(in[0]) != 2 || lg_tensor_ndim(in[1]) != 2)
    return luaL_error(L, "mm: expected two 2-D tensors, got %d-D and %d-D",
                      lg_tensor_ndim(in[0]), lg_tensor_ndim(in[1]));
  return lgl_run_op_out(L, LG_OP_MATMUL, 2, in, NULL, 1, out_idx);
}
/*** The batched product of (B, n, m) and (B, m, p) tensors.
 * Also a method, `a:bmm(b)`.
 * @function bmm
 * @param a a tensor
 * @param b a tensor
 * @return a tensor
 * @usage lg.bmm(a, b)
 */
static int l_bmm(lua_State *L) { return product(L, "bmm", lg_bmm); }
/*** The product of a matrix and a vector.
 * Also a method, `a:mv(b)`.
 * @function mv
 * @param a a tensor
 * @param b a tensor
 * @return a tensor
 * @usage lg.mv(m, v)
 */
static int l_mv(lua_State *L) { return product(L, "mv", lg_mv); }
/*** The dot product of two 1-D tensors (a 0-d tensor).
 * Also a method, `a:dot(b)`.
 * @function dot
 * @param a a tensor
 * @param b a tensor
 * @return a tensor
 * @usage lg.dot(a, b)
 */
static int l_dot(lua_State *L) { return product(L, "dot", lg_dot); }
/*** The outer product of two 1-D tensors.
 * Also a method, `a:outer(b)`.
 * @function outer
 * @param a a tensor
 * @param b a tensor
 * @return a tensor
 * @usage lg.outer(a, b)
 */
static int l_outer(lua_State *L) { return product(L, "outer", lg_outer); }

/* A number field of the options table at idx (absent: dflt). */
static double opt_number(lua_State *L, int idx, const char *field,
                         double dflt) {
  if (lua_type(L, idx) != LUA_TTABLE) return dflt;
  lua_getfield(L, idx, field);
  double v = dflt;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "addmm: expected a number for option %s, got %s", field,
                 lgl_typename(L, -1));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* Runs a binary op in place on the out tensor y: y = y op other (other a
 * tensor, or the number factor when other is NULL). */
static void out_update(lua_State *L, lg_op op, lg_tensor *y, lg_tensor *other,
                       double factor) {
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE;
  lg_tensor *in[2] = {y, other}, *res = NULL;
  if (!other) {
    p.flags |= LG_FLAG_SCALAR_B;
    p.scalar[0] = factor;
  }
  if (lg_op_run(lgl_ctx(L), op, other ? 2 : 1, in, &p, &res) != LG_OK)
    lgl_error(L);
  lg_tensor_release(res);
}

/* addmm with out=: y = a @ b (matmul into y), then y *= alpha, then
 * y += beta * c; with beta 1 and alpha 1 nothing is allocated. */
static int addmm_out(lua_State *L, lg_tensor *c, lg_tensor *a, lg_tensor *b,
                     double beta, double alpha, int out_idx) {
  lg_tensor *y = lgl_to_tensor(L, out_idx);
  if (lg_tensor_ndim(a) != 2 || lg_tensor_ndim(b) != 2)
    return luaL_error(L, "addmm: expected 2-D matrices for mat1 and mat2, "
                      "got %d-D and %d-D", lg_tensor_ndim(a),
                      lg_tensor_ndim(b));
  if (beta != 0 && lg_ctx_grad_enabled(lgl_ctx(L)) &&
      lg_tensor_requires_grad(c))
    return luaL_error(L, "addmm: out= arguments don't support automatic "
                      "differentiation, but one of the arguments requires "
                      "grad (use no_grad, or drop out=)");
  if (beta != 0 && lg_tensor_same_storage(y, c))
    return luaL_error(L, "addmm: out must not share memory with input");
  lg_tensor *in[2] = {a, b};
  lgl_run_op_out(L, LG_OP_MATMUL, 2, in, NULL, 1, out_idx);
  if (alpha != 1) out_update(L, LG_OP_MUL, y, NULL, alpha);
  if (beta == 1) {
    out_update(L, LG_OP_ADD, y, c, 0);
  } else if (beta != 0) {
    lgl_box *box = lgl_new_box(L); /* beta * c, owned by Lua meanwhile */
    lg_params p = {0};
    p.flags = LG_FLAG_SCALAR_B;
    p.scalar[0] = beta;
    lg_tensor *scaled = NULL;
    if (lg_run1(lgl_ctx(L), LG_OP_MUL, c, &p, &scaled) != LG_OK)
      return lgl_error(L);
    lgl_box_set(box, scaled);
    out_update(L, LG_OP_ADD, y, scaled, 0);
  }
  lua_pushvalue(L, out_idx);
  return 1;
}

/*** beta * c + alpha * (a @ b), with a and b 2-D.
 * @function addmm
 * @param c a tensor broadcastable to the product
 * @param a a 2-D tensor
 * @param b a 2-D tensor
 * @param[opt] opts {beta = 1, alpha = 1, out}
 * @return a tensor
 * @usage lg.addmm(bias, x, w)
 */
/* lg.addmm(c, a, b, {beta = 1, alpha = 1, out = y}) / c:addmm(a, b, opts):
 * beta * c + alpha * (a @ b) */
static int l_addmm(lua_State *L) {
  lg_tensor *c = lgl_check_tensor(L, 1, "addmm");
  lg_tensor *a = lgl_check_tensor(L, 2, "addmm");
  lg_tensor *b = lgl_check_tensor(L, 3, "addmm");
  if (!lua_isnoneornil(L, 4) && lua_type(L, 4) != LUA_TTABLE)
    luaL_error(L, "addmm: expected an options table {beta =, alpha =} as "
               "argument 4, got %s", lgl_typename(L, 4));
  lgl_check_options(L, 4, "addmm", LGL_OPTIONS("alpha", "beta", "out"));
  double beta = opt_number(L, 4, "beta", 1);
  double alpha = opt_number(L, 4, "alpha", 1);
  int out_idx = lgl_opt_out(L, 4, "addmm");
  if (out_idx) return addmm_out(L, c, a, b, beta, alpha, out_idx);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_addmm(lgl_ctx(L), c, a, b, beta, alpha, &out) != LG_OK)
    return lgl_error(L);
  lgl_box_set(box, out);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/* lg._linear(x, w[, b]): x w^T + b as one op (the kernel of F.linear) */
static int l_linear(lua_State *L) {
  lg_tensor *in[3] = {lgl_check_tensor(L, 1, "linear"),
                      lgl_check_tensor(L, 2, "linear"), NULL};
  lg_params p = {0};
  int n = 2;
  if (!lua_isnoneornil(L, 3)) {
    in[n++] = lgl_check_tensor(L, 3, "linear");
    p.flags = LG_FLAG_OPT1;
  }
  return lgl_run_op(L, LG_OP_LINEAR, n, in, &p, 0);
}

/* Registers the products as module functions and as tensor methods. */
void lgl_open_linalg(lua_State *L, const lgl_tables *T) {
  static const luaL_Reg fns[] = {
      {"matmul", l_matmul}, {"mm", l_mm},       {"bmm", l_bmm},
      {"mv", l_mv},         {"dot", l_dot},     {"outer", l_outer},
      {"addmm", l_addmm},   {NULL, NULL}};
  static const luaL_Reg raw[] = {{"_linear", l_linear}, {NULL, NULL}};
  lgl_register_family(L, T, fns, fns);
  lgl_register_family(L, T, raw, NULL);
}
