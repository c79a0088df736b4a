/* ops_nn_loss.c: raw Lua entry points of the fused softmax, loss and
 * normalisation kernels, on which nn.functional is written in Lua. The
 * t:softmax(d) / t:log_softmax(d) methods and lg.softmax / lg.log_softmax
 * are generated (LG_KIND_ALONG_DIM, ops_reduce.c); lg._softmax and
 * lg._log_softmax are the same functions.
 *
 * Positional arguments (dims and class targets 1-based; nil skips an
 * optional argument and takes its default):
 *   lg._softmax(x, dim)               lg._log_softmax(x, dim)
 *   lg._cross_entropy(input, target, weight, reduction, ignore_index,
 *                     label_smoothing)
 *       target: integer class indices 1..C of shape (N[,d..]) or () for a
 *       (C) input, or float probabilities of the input's shape;
 *       reduction "none" | "mean" (default) | "sum"; ignore_index nil for
 *       none; label_smoothing in [0, 1], default 0
 *   lg._nll_loss(input, target, weight, reduction, ignore_index)
 *   lg._layer_norm(x, normalized_shape, weight, bias, eps)
 *       normalized_shape: an integer or an array of the last dims' sizes;
 *       eps default 1e-5
 *   lg._batch_norm(x, running_mean, running_var, weight, bias, training,
 *                  momentum, eps)
 *       training: a boolean (default false); momentum a number, default
 *       0.1 (the running statistics are updated in place when training);
 *       eps default 1e-5
 *   lg._group_norm(x, num_groups, weight, bias, eps)
 */
#include <string.h>

#include "lgl.h"

/* Reduction codes of the loss kernels (runtime/ops/nn_loss.c). */
enum { REDUCTION_NONE = 0, REDUCTION_MEAN = 1, REDUCTION_SUM = 2 };

#define MAX_NN_INPUTS 5

/* A list of op inputs, optional ones appended with their flags. */
typedef struct inputs {
  lg_tensor *t[MAX_NN_INPUTS];
  int n;
} inputs;

/* Appends the tensor at idx when it is not nil, setting flag in p. */
static void opt_tensor(lua_State *L, int idx, const char *fname,
                       const char *what, inputs *in, lg_params *p, int flag) {
  if (lua_isnoneornil(L, idx)) return;
  lg_tensor *t = lgl_to_tensor(L, idx);
  if (!t)
    luaL_error(L, "%s: expected a tensor or nil for %s (argument %d), got %s",
               fname, what, idx, lgl_typename(L, idx));
  in->t[in->n++] = t;
  p->flags |= flag;
}

/* A number argument, or dflt when nil. */
static double opt_number(lua_State *L, int idx, const char *fname,
                         const char *what, double dflt) {
  if (lua_isnoneornil(L, idx)) return dflt;
  if (lua_type(L, idx) != LUA_TNUMBER)
    return luaL_error(L, "%s: expected a number for %s (argument %d), got %s",
                      fname, what, idx, lgl_typename(L, idx));
  return lua_tonumber(L, idx);
}

/* input, target, weight, reduction, ignore_index[, label_smoothing] */
static int loss(lua_State *L, lg_op op) {
  const char *fname = lg_op_name(op);
  inputs in = {{NULL}, 0};
  lg_params p = {0};
  in.t[in.n++] = lgl_check_tensor(L, 1, fname);
  in.t[in.n++] = lgl_check_tensor(L, 2, fname);
  opt_tensor(L, 3, fname, "weight", &in, &p, LG_FLAG_OPT1);
  p.ints[0] = REDUCTION_MEAN;
  p.n_ints = 1;
  if (!lua_isnoneornil(L, 4)) {
    const char *r = lua_tostring(L, 4);
    if (lua_type(L, 4) != LUA_TSTRING) r = NULL;
    if (r && strcmp(r, "none") == 0) p.ints[0] = REDUCTION_NONE;
    else if (r && strcmp(r, "sum") == 0) p.ints[0] = REDUCTION_SUM;
    else if (!r || strcmp(r, "mean") != 0)
      return luaL_error(L, "%s: expected reduction \"none\", \"mean\" or "
                        "\"sum\", got %s", fname,
                        r ? r : lgl_typename(L, 4));
  }
  if (!lua_isnoneornil(L, 5)) {
    p.scalar_int = lgl_check_integer(L, 5, fname, "ignore_index");
    p.flags |= LG_FLAG_SCALAR_INT;
  }
  if (op == LG_OP_CROSS_ENTROPY) {
    p.scalar[0] = opt_number(L, 6, fname, "label_smoothing", 0);
    if (!(p.scalar[0] >= 0 && p.scalar[0] <= 1))
      return luaL_error(L, "%s: expected label_smoothing in [0, 1], got %f",
                        fname, p.scalar[0]);
  }
  return lgl_run_op(L, op, in.n, in.t, &p, 0);
}
static int l_cross_entropy(lua_State *L) {
  return loss(L, LG_OP_CROSS_ENTROPY);
}
static int l_nll_loss(lua_State *L) { return loss(L, LG_OP_NLL_LOSS); }

/* x, normalized_shape, weight, bias, eps */
static int l_layer_norm(lua_State *L) {
  const char *fname = "layer_norm";
  inputs in = {{NULL}, 0};
  lg_params p = {0};
  in.t[in.n++] = lgl_check_tensor(L, 1, fname);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    p.ints[0] = lgl_check_integer(L, 2, fname, "normalized_shape");
    p.n_ints = 1;
  } else if (lua_type(L, 2) == LUA_TTABLE && !lgl_to_tensor(L, 2)) {
    int ndim = 0;
    lgl_check_shape(L, 2, fname, &ndim, p.ints);
    p.n_ints = ndim;
  } else {
    return luaL_error(L, "%s: expected normalized_shape (an integer or an "
                      "array of sizes) as argument 2, got %s", fname,
                      lgl_typename(L, 2));
  }
  opt_tensor(L, 3, fname, "weight", &in, &p, LG_FLAG_OPT1);
  opt_tensor(L, 4, fname, "bias", &in, &p, LG_FLAG_OPT2);
  p.scalar[0] = opt_number(L, 5, fname, "eps", 1e-5);
  return lgl_run_op(L, LG_OP_LAYER_NORM, in.n, in.t, &p, 0);
}

/* x, running_mean, running_var, weight, bias, training, momentum, eps */
static int l_batch_norm(lua_State *L) {
  const char *fname = "batch_norm";
  inputs in = {{NULL}, 0};
  lg_params p = {0};
  in.t[in.n++] = lgl_check_tensor(L, 1, fname);
  opt_tensor(L, 2, fname, "running_mean", &in, &p, LG_FLAG_OPT1);
  opt_tensor(L, 3, fname, "running_var", &in, &p, LG_FLAG_OPT2);
  opt_tensor(L, 4, fname, "weight", &in, &p, LG_FLAG_OPT3);
  opt_tensor(L, 5, fname, "bias", &in, &p, LG_FLAG_OPT4);
  if (!lua_isnoneornil(L, 6) && lua_type(L, 6) != LUA_TBOOLEAN)
    return luaL_error(L, "%s: expected a boolean for training (argument 6), "
                      "got %s", fname, lgl_typename(L, 6));
  if (lua_toboolean(L, 6)) p.flags |= LG_FLAG_TRAINING;
  p.scalar[1] = opt_number(L, 7, fname, "momentum", 0.1);
  p.scalar[0] = opt_number(L, 8, fname, "eps", 1e-5);
  return lgl_run_op(L, LG_OP_BATCH_NORM, in.n, in.t, &p, 0);
}

/* x, num_groups, weight, bias, eps */
static int l_group_norm(lua_State *L) {
  const char *fname = "group_norm";
  inputs in = {{NULL}, 0};
  lg_params p = {0};
  in.t[in.n++] = lgl_check_tensor(L, 1, fname);
  p.scalar_int = lgl_check_integer(L, 2, fname, "num_groups");
  opt_tensor(L, 3, fname, "weight", &in, &p, LG_FLAG_OPT1);
  opt_tensor(L, 4, fname, "bias", &in, &p, LG_FLAG_OPT2);
  p.scalar[0] = opt_number(L, 5, fname, "eps", 1e-5);
  return lgl_run_op(L, LG_OP_GROUP_NORM, in.n, in.t, &p, 0);
}

static const luaL_Reg raw_functions[] = {
    {"_cross_entropy", l_cross_entropy},
    {"_nll_loss", l_nll_loss},
    {"_layer_norm", l_layer_norm},
    {"_batch_norm", l_batch_norm},
    {"_group_norm", l_group_norm},
    {NULL, NULL}};

/* Registers the raw entry points; _softmax and _log_softmax are the
 * generated lg.softmax and lg.log_softmax (lgl_open_reduce runs first). */
void lgl_open_nn_loss(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, raw_functions, NULL);
  lua_pushvalue(L, T->module);
  lua_getfield(L, -1, "softmax");
  lua_setfield(L, -2, "_softmax");
  lua_getfield(L, -1, "log_softmax");
  lua_setfield(L, -2, "_log_softmax");
  lua_pop(L, 1);
}
