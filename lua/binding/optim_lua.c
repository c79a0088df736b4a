/* optim_lua.c: the raw fused optimizer updates (runtime/optim/optim.h) as
 * lg._sgd_step, lg._adam_step, lg._rmsprop_step and lg._adagrad_step,
 * the C half of lua/luagrad/optim.lua.
 *
 * Each call updates param and the state buffers in place (bumping their
 * versions), never records for autograd, and returns param. Buffers that
 * the options leave unused may be nil. Positional arguments, all required:
 *
 *   lg._sgd_step(param, grad, momentum_buffer_or_nil, lr, momentum,
 *                dampening, weight_decay, nesterov, maximize, first_step)
 *       first_step: the momentum buffer is fresh and is set to the step
 *   lg._sgd_step_params(params, lr, weight_decay, maximize)
 *       without momentum, every parameter of the array that has a .grad
 *       (returns nothing)
 *   lg._adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq_or_nil,
 *                 step, lr, beta1, beta2, eps, weight_decay, amsgrad,
 *                 maximize, decoupled_weight_decay)
 *       step: this step's number from 1, an integer or a one-element
 *       integer tensor (read when the update runs: func.compile records
 *       such an update, and a replay reads the count then);
 *       decoupled_weight_decay: AdamW
 *   lg._rmsprop_step(param, grad, square_avg, grad_avg_or_nil,
 *                    momentum_buffer_or_nil, lr, alpha, eps, weight_decay,
 *                    momentum, centered, maximize)
 *   lg._adagrad_step(param, grad, sum, step, lr, lr_decay, weight_decay,
 *                    eps, maximize)
 *       step: as _adam_step's
 */
#include "lgl.h"

/* A tensor or nil at idx. */
static lg_tensor *opt_tensor(lua_State *L, int idx, const char *fname) {
  if (lua_isnil(L, idx)) return NULL;
  return lgl_check_tensor(L, idx, fname);
}

static double check_number(lua_State *L, int idx, const char *fname,
                           const char *what) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    return luaL_error(L, "%s: expected a number for %s (argument %d), got %s",
                      fname, what, idx, lgl_typename(L, idx));
  return lua_tonumber(L, idx);
}

static bool check_boolean(lua_State *L, int idx, const char *fname,
                          const char *what) {
  if (lua_type(L, idx) != LUA_TBOOLEAN)
    return luaL_error(L, "%s: expected a boolean for %s (argument %d), got "
                      "%s", fname, what, idx, lgl_typename(L, idx));
  return lua_toboolean(L, idx);
}

/* The step number at idx: an integer (*count) or a tensor (returned). */
static lg_tensor *check_step(lua_State *L, int idx, const char *fname,
                             int64_t *count) {
  lg_tensor *t = lgl_to_tensor(L, idx);
  *count = t ? 1 : lgl_check_integer(L, idx, fname, "step");
  return t;
}

/* Raises the runtime's error, or returns param (argument 1). */
static int finish(lua_State *L, lg_status st) {
  if (st != LG_OK) return lgl_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_sgd_step(lua_State *L) {
  const char *f = "_sgd_step";
  lg_tensor *param = lgl_check_tensor(L, 1, f);
  lg_tensor *grad = lgl_check_tensor(L, 2, f);
  lg_tensor *buf = opt_tensor(L, 3, f);
  lg_sgd_opts o = {
      .lr = check_number(L, 4, f, "lr"),
      .momentum = check_number(L, 5, f, "momentum"),
      .dampening = check_number(L, 6, f, "dampening"),
      .weight_decay = check_number(L, 7, f, "weight_decay"),
      .nesterov = check_boolean(L, 8, f, "nesterov"),
      .maximize = check_boolean(L, 9, f, "maximize"),
      .first_step = check_boolean(L, 10, f, "first_step"),
  };
  return finish(L, lg_optim_sgd(lgl_ctx(L), param, grad, buf, &o));
}

/* lg._sgd_step_params(params, lr, weight_decay, maximize): SGD without
 * momentum over a whole array of parameters; each one that has a .grad is
 * updated as _sgd_step would (same kernel, same values), without a Lua
 * round trip or a .grad userdata per parameter. */
static int l_sgd_step_params(lua_State *L) {
  const char *f = "_sgd_step_params";
  luaL_checktype(L, 1, LUA_TTABLE);
  lg_sgd_opts o = {
      .lr = check_number(L, 2, f, "lr"),
      .weight_decay = check_number(L, 3, f, "weight_decay"),
      .maximize = check_boolean(L, 4, f, "maximize"),
  };
  lg_ctx *ctx = lgl_ctx(L);
  for (lua_Integer i = 1; lua_rawgeti(L, 1, i) != LUA_TNIL; i++) {
    lg_tensor *p = lgl_check_tensor(L, -1, f);
    lua_pop(L, 1); /* p stays alive in the array */
    lg_tensor *g = lg_tensor_grad(p);
    if (g && lg_optim_sgd(ctx, p, g, NULL, &o) != LG_OK) return lgl_error(L);
  }
  return 0;
}

static int l_adam_step(lua_State *L) {
  const char *f = "_adam_step";
  lg_tensor *param = lgl_check_tensor(L, 1, f);
  lg_tensor *grad = lgl_check_tensor(L, 2, f);
  lg_tensor *exp_avg = lgl_check_tensor(L, 3, f);
  lg_tensor *exp_avg_sq = lgl_check_tensor(L, 4, f);
  lg_tensor *max_exp_avg_sq = opt_tensor(L, 5, f);
  int64_t step;
  lg_tensor *step_t = check_step(L, 6, f, &step);
  lg_adam_opts o = {
      .step = step,
      .lr = check_number(L, 7, f, "lr"),
      .beta1 = check_number(L, 8, f, "beta1"),
      .beta2 = check_number(L, 9, f, "beta2"),
      .eps = check_number(L, 10, f, "eps"),
      .weight_decay = check_number(L, 11, f, "weight_decay"),
      .amsgrad = check_boolean(L, 12, f, "amsgrad"),
      .maximize = check_boolean(L, 13, f, "maximize"),
      .decoupled_weight_decay =
          check_boolean(L, 14, f, "decoupled_weight_decay"),
  };
  lg_optim_call call = {.kind = LG_OPTIM_ADAM, .o.adam = o,
                        .t = {param, grad, exp_avg, exp_avg_sq,
                              max_exp_avg_sq, step_t}};
  return finish(L, lg_optim_step(lgl_ctx(L), &call));
}

static int l_rmsprop_step(lua_State *L) {
  const char *f = "_rmsprop_step";
  lg_tensor *param = lgl_check_tensor(L, 1, f);
  lg_tensor *grad = lgl_check_tensor(L, 2, f);
  lg_tensor *square_avg = lgl_check_tensor(L, 3, f);
  lg_tensor *grad_avg = opt_tensor(L, 4, f);
  lg_tensor *buf = opt_tensor(L, 5, f);
  lg_rmsprop_opts o = {
      .lr = check_number(L, 6, f, "lr"),
      .alpha = check_number(L, 7, f, "alpha"),
      .eps = check_number(L, 8, f, "eps"),
      .weight_decay = check_number(L, 9, f, "weight_decay"),
      .momentum = check_number(L, 10, f, "momentum"),
      .centered = check_boolean(L, 11, f, "centered"),
      .maximize = check_boolean(L, 12, f, "maximize"),
  };
  return finish(L, lg_optim_rmsprop(lgl_ctx(L), param, grad, square_avg,
                                    grad_avg, buf, &o));
}

static int l_adagrad_step(lua_State *L) {
  const char *f = "_adagrad_step";
  lg_tensor *param = lgl_check_tensor(L, 1, f);
  lg_tensor *grad = lgl_check_tensor(L, 2, f);
  lg_tensor *sum = lgl_check_tensor(L, 3, f);
  int64_t step;
  lg_tensor *step_t = check_step(L, 4, f, &step);
  lg_adagrad_opts o = {
      .step = step,
      .lr = check_number(L, 5, f, "lr"),
      .lr_decay = check_number(L, 6, f, "lr_decay"),
      .weight_decay = check_number(L, 7, f, "weight_decay"),
      .eps = check_number(L, 8, f, "eps"),
      .maximize = check_boolean(L, 9, f, "maximize"),
  };
  lg_optim_call call = {.kind = LG_OPTIM_ADAGRAD, .o.adagrad = o,
                        .t = {param, grad, sum, NULL, NULL, step_t}};
  return finish(L, lg_optim_step(lgl_ctx(L), &call));
}

static const luaL_Reg optim_functions[] = {
    {"_sgd_step", l_sgd_step},         {"_sgd_step_params", l_sgd_step_params},
    {"_adam_step", l_adam_step},
    {"_rmsprop_step", l_rmsprop_step}, {"_adagrad_step", l_adagrad_step},
    {NULL, NULL}};

/* Registers the raw optimizer updates on the module table. */
void lgl_open_optim(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, optim_functions, NULL);
}
