/* ops_linalg.c: the Lua face of the matrix products: matmul, mm, bmm, mv,
 * dot, outer and addmm, each a module function and a tensor method. */
#include "lgl.h"

typedef lg_status (*product_fn)(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                                lg_tensor **out);

/* Runs a two-operand composite with the result's box made first. */
static int product(lua_State *L, const char *fname, product_fn fn) {
  lg_tensor *a = lgl_check_tensor(L, 1, fname);
  lg_tensor *b = lgl_check_tensor(L, 2, fname);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (fn(lgl_ctx(L), a, b, &out) != LG_OK) return lgl_error(L);
  box->t = out;
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/* lg.matmul(a, b) / a:matmul(b) */
static int l_matmul(lua_State *L) {
  lg_tensor *in[2] = {lgl_check_tensor(L, 1, "matmul"),
                      lgl_check_tensor(L, 2, "matmul")};
  return lgl_run_op(L, LG_OP_MATMUL, 2, in, NULL, 1);
}

static int l_mm(lua_State *L) { return product(L, "mm", lg_mm); }
static int l_bmm(lua_State *L) { return product(L, "bmm", lg_bmm); }
static int l_mv(lua_State *L) { return product(L, "mv", lg_mv); }
static int l_dot(lua_State *L) { return product(L, "dot", lg_dot); }
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
                 luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* lg.addmm(c, a, b, {beta = 1, alpha = 1}) / c:addmm(a, b, opts):
 * beta * c + alpha * (a @ b) */
static int l_addmm(lua_State *L) {
  lg_tensor *c = lgl_check_tensor(L, 1, "addmm");
  lg_tensor *a = lgl_check_tensor(L, 2, "addmm");
  lg_tensor *b = lgl_check_tensor(L, 3, "addmm");
  if (!lua_isnoneornil(L, 4) && lua_type(L, 4) != LUA_TTABLE)
    luaL_error(L, "addmm: expected an options table {beta =, alpha =} as "
               "argument 4, got %s", luaL_typename(L, 4));
  double beta = opt_number(L, 4, "beta", 1);
  double alpha = opt_number(L, 4, "alpha", 1);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_addmm(lgl_ctx(L), c, a, b, beta, alpha, &out) != LG_OK)
    return lgl_error(L);
  box->t = out;
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/* Registers the products as module functions and as tensor methods. */
void lgl_open_linalg(lua_State *L, const lgl_tables *T) {
  static const luaL_Reg fns[] = {
      {"matmul", l_matmul}, {"mm", l_mm},       {"bmm", l_bmm},
      {"mv", l_mv},         {"dot", l_dot},     {"outer", l_outer},
      {"addmm", l_addmm},   {NULL, NULL}};
  lua_pushvalue(L, T->module);
  lgl_setfuncs(L, fns, T->state, T->meta);
  lua_pop(L, 1);
  lua_pushvalue(L, T->methods);
  lgl_setfuncs(L, fns, T->state, T->meta);
  lua_pop(L, 1);
}
