/* ops_lapack.c: the Lua face of the LAPACK rows: lg._lapack, the raw op
 * call that lg.linalg (lua/luagrad/linalg.lua) builds every function on,
 * and PyTorch's top-level names for some of them (lg.inverse, lg.det,
 * lg.logdet, lg.slogdet, lg.cholesky_solve, lg.matrix_exp, lg.pinverse,
 * also tensor methods), which forward to lg.linalg. */
#include <string.h>

#include "lgl.h"

static const struct {
  const char *name;
  lg_op op;
} lapack_ops[] = {
    {"inv", LG_OP_LINALG_INV},         {"solve", LG_OP_LINALG_SOLVE},
    {"slogdet", LG_OP_LINALG_SLOGDET}, {"cholesky", LG_OP_LINALG_CHOLESKY},
    {"eigh", LG_OP_LINALG_EIGH},       {"svd", LG_OP_LINALG_SVD},
    {"qr", LG_OP_LINALG_QR},           {"matrix_exp", LG_OP_LINALG_MATRIX_EXP},
};

/* lg._lapack(name, a[, b], options): runs the LAPACK row called name on
 * the tensors (options: the LG_LINALG_* bits) and returns all its
 * outputs. Internal: lg.linalg checks the arguments first. */
static int l_lapack(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lg_op op = LG_OP_COUNT;
  for (size_t i = 0; i < sizeof lapack_ops / sizeof lapack_ops[0]; i++)
    if (strcmp(name, lapack_ops[i].name) == 0) op = lapack_ops[i].op;
  if (op == LG_OP_COUNT)
    return luaL_error(L, "_lapack: unknown routine \"%s\"", name);
  int n_in = op == LG_OP_LINALG_SOLVE ? 2 : 1;
  lg_tensor *in[2] = {NULL, NULL};
  for (int i = 0; i < n_in; i++) in[i] = lgl_check_tensor(L, 2 + i, name);
  lg_params p = {0};
  p.scalar_int = (int64_t)luaL_optinteger(L, 2 + n_in, 0);
  int n_out = lg_op_num_outputs(op);
  lgl_box *boxes[3];
  for (int i = 0; i < n_out; i++) boxes[i] = lgl_new_box(L);
  lg_tensor *outs[3] = {NULL, NULL, NULL};
  if (lg_op_run(lgl_ctx(L), op, n_in, in, &p, outs) != LG_OK) return lgl_error(L);
  for (int i = 0; i < n_out; i++) lgl_box_set(boxes[i], outs[i]);
  lgl_gc_pressure(L, lgl_get_state(L));
  return n_out;
}

/*** The inverse of square matrices (torch.inverse): lg.linalg.inv.
 * @param A tensor (.., n, n)
 * @return A^-1
 * @usage local Ainv = lg.inverse(A) -- or A:inverse()
 * @function inverse */

/*** The determinant (torch.det): lg.linalg.det.
 * @param A tensor (.., n, n)
 * @return det(A)
 * @usage local d = A:det()
 * @function det */

/*** log(det(A)) (torch.logdet): NaN for a negative determinant.
 * @param A tensor (.., n, n)
 * @return logdet
 * @usage local ld = lg.logdet(A)
 * @function logdet */

/*** Sign and log of the absolute determinant (torch.slogdet).
 * @param A tensor (.., n, n)
 * @return sign, logabsdet
 * @usage local sign, logabsdet = lg.slogdet(A)
 * @function slogdet */

/*** Solves A X = B from A's Cholesky factor (torch.cholesky_solve).
 * @param B tensor (.., n, k)
 * @param L tensor (.., n, n), lower (A = L L^T) or, with {upper = true}, upper
 * @param opts {upper = false}
 * @return X
 * @usage local X = lg.cholesky_solve(B, lg.linalg.cholesky(A))
 * @function cholesky_solve */

/*** The matrix exponential (torch.matrix_exp): lg.linalg.matrix_exp.
 * @param A tensor (.., n, n)
 * @return exp(A)
 * @usage local E = A:matrix_exp()
 * @function matrix_exp */

/*** The pseudoinverse (torch.pinverse): lg.linalg.pinv.
 * @param A tensor (.., m, n)
 * @param opts {atol, rtol, hermitian}
 * @return A^+
 * @usage local P = lg.pinverse(A)
 * @function pinverse */

/* A top-level name forwarding to lg.linalg's function (upvalue 1). */
static int l_forward(lua_State *L) {
  lgl_require(L, "luagrad.linalg");
  lua_getfield(L, -1, lua_tostring(L, lua_upvalueindex(1)));
  lua_remove(L, -2);
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* Registers lg._lapack and the torch-namespace aliases of lg.linalg. */
void lgl_open_lapack(lua_State *L, const lgl_tables *T) {
  static const char *const aliases[][2] = {
      {"inverse", "inv"},        {"det", "det"},
      {"logdet", "logdet"},      {"slogdet", "slogdet"},
      {"cholesky_solve", "cholesky_solve"},
      {"matrix_exp", "matrix_exp"}, {"pinverse", "pinv"}};
  static const luaL_Reg fns[] = {{"_lapack", l_lapack}, {NULL, NULL}};
  lua_pushvalue(L, T->module);
  lgl_setfuncs(L, fns, T->state, T->meta);
  lua_pop(L, 1);
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    for (int target = 0; target < 2; target++) {
      lua_pushstring(L, aliases[i][1]);
      lua_pushcclosure(L, l_forward, 1);
      lua_setfield(L, target ? T->module : T->methods, aliases[i][0]);
    }
}
