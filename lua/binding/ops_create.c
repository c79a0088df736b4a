/* ops_create.c: the Lua face of tensor creation: lg.tensor from nested
 * tables, zeros/ones/empty/full, arange/linspace/eye, the random
 * generators, the *_like variants, and manual_seed/initial_seed.
 *
 * Every function makes its result's box before the C tensor, so a Lua
 * error can never orphan one; runtime failures are re-raised with the Lua
 * function's name ("zeros: out of memory ...").
 */

/***
 * Creating tensors: tensor, zeros, arange, rand, ... and the seed.
 * @module lg
 */
#include <stdio.h>
#include <string.h>

#include "lgl.h"

/* Stores t into box (made earlier) or raises under fname. */
static int finish(lua_State *L, lgl_box *box, lg_status st, lg_tensor *t,
                  const char *fname) {
  if (st != LG_OK) return lgl_error_as(L, fname);
  lgl_box_set(box, t);
  /* the options table, when given, is the argument just below the box */
  int opts = lua_gettop(L) - 1;
  if (opts >= 1 && lua_type(L, opts) == LUA_TTABLE &&
      lgl_opt_bool(L, opts, "requires_grad", 0) &&
      lg_tensor_set_requires_grad(lgl_ctx(L), t, true) != LG_OK)
    return lgl_error_as(L, fname);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/* The options table at idx: absent, nil or a table; anything else is an
 * error naming what was expected. */
static void check_options(lua_State *L, int idx, const char *fname) {
  int type = lua_type(L, idx);
  if (type == LUA_TNONE || type == LUA_TNIL || type == LUA_TTABLE) {
    if (type == LUA_TTABLE && !lua_isnoneornil(L, idx + 1))
      luaL_error(L, "%s: unexpected argument %d (%s) after the options table",
                 fname, idx + 1, lgl_typename(L, idx + 1));
    lgl_check_options(L, idx, fname, LGL_OPTIONS("dtype", "requires_grad"));
    return;
  }
  luaL_error(L, "%s: expected sizes and then an options table, got %s as "
             "argument %d", fname, lgl_typename(L, idx), idx);
}

/* A shape from idx on, then options; returns the options' index. */
static int shape_and_options(lua_State *L, int idx, const char *fname,
                             int *ndim, int64_t *sizes) {
  int opts = lgl_check_shape(L, idx, fname, ndim, sizes);
  check_options(L, opts, fname);
  return opts;
}

/* ---- lg.tensor ------------------------------------------------------------ */

#define KIND_BOOL 0
#define KIND_INT 1
#define KIND_FLOAT 2

/* Writes "[2][1]" (the 1-based path to a nested element) into buf. */
static const char *path_str(char *buf, size_t size, int depth,
                            const int64_t *path) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < depth && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "[%lld]",
                             (long long)path[i]);
  return buf;
}

/* First pass over the table at the top of the stack: the shape (from the
 * first elements), rectangularity, and the widest element kind. */
static void scan_nested(lua_State *L, int depth, int ndim,
                        const int64_t *sizes, int64_t *path, int *kind) {
  int64_t len = (int64_t)lua_rawlen(L, -1);
  char where[128];
  if (len != sizes[depth])
    luaL_error(L, "tensor: the table at %s has %I elements, expected %I "
               "(nested tables must be rectangular)",
               depth ? path_str(where, sizeof where, depth, path) : "the top",
               (lua_Integer)len, (lua_Integer)sizes[depth]);
  for (int64_t i = 1; i <= len; i++) {
    path[depth] = i;
    int type = lua_rawgeti(L, -1, (lua_Integer)i);
    if (depth + 1 < ndim) {
      if (type != LUA_TTABLE || lgl_to_tensor(L, -1))
        luaL_error(L, "tensor: expected a table at %s, got %s",
                   path_str(where, sizeof where, depth + 1, path),
                   lgl_typename(L, -1));
      scan_nested(L, depth + 1, ndim, sizes, path, kind);
    } else if (type == LUA_TNUMBER) {
      int k = lua_isinteger(L, -1) ? KIND_INT : KIND_FLOAT;
      if (k > *kind) *kind = k;
    } else if (type != LUA_TBOOLEAN) {
      luaL_error(L, "tensor: expected a number or boolean at %s, got %s",
                 path_str(where, sizeof where, depth + 1, path),
                 lgl_typename(L, -1));
    }
    lua_pop(L, 1);
  }
}

/* Second pass: stores the elements in row-major order. */
static void fill_nested(lua_State *L, int depth, int ndim,
                        const int64_t *sizes, lg_tensor *t, int64_t *pos) {
  char *data = lg_tensor_data(t);
  size_t item = lg_dtype_size(lg_tensor_dtype(t));
  lg_dtype dtype = lg_tensor_dtype(t);
  for (int64_t i = 1; i <= sizes[depth]; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i);
    if (depth + 1 < ndim) {
      fill_nested(L, depth + 1, ndim, sizes, t, pos);
    } else {
      char *p = data + (size_t)(*pos)++ * item;
      if (lua_isboolean(L, -1))
        lg_store_int(p, dtype, lua_toboolean(L, -1));
      else if (lua_isinteger(L, -1))
        lg_store_int(p, dtype, (int64_t)lua_tointeger(L, -1));
      else
        lg_store_double(p, dtype, lua_tonumber(L, -1));
    }
    lua_pop(L, 1);
  }
}

static lg_dtype kind_dtype(int kind) {
  return kind == KIND_BOOL ? LG_BOOL : kind == KIND_INT ? LG_INT64 : LG_FLOAT32;
}

/*** A tensor from data: a number or boolean (0-d), nested array tables, or a
 * tensor (copied). Integers give int64, any float float32, booleans bool,
 * unless opts.dtype says otherwise.
 * @function tensor
 * @param data a number, boolean, nested table or tensor
 * @param[opt] opts {dtype, requires_grad = false}
 * @return a tensor
 * @usage lg.tensor({{1, 2}, {3, 4}}, {dtype = "float64"})
 */
/* lg.tensor(data, opts): number, boolean, nested array tables or a tensor
 * (copied). Integers give int64, any float gives float32, booleans bool. */
static int l_tensor(lua_State *L) {
  const char *fname = "tensor";
  check_options(L, 2, fname);
  lg_ctx *ctx = lgl_ctx(L);
  lg_tensor *src = lgl_to_tensor(L, 1);
  if (src) {
    lg_dtype dtype = lgl_opt_dtype(L, 2, lg_tensor_dtype(src), fname);
    lgl_box *box = lgl_new_box(L);
    lg_tensor *t = NULL;
    lg_params p = {0};
    p.dtype = dtype;
    lg_status st = lg_op_run(ctx, LG_OP_TO_DTYPE, 1, &src, &p, &t);
    return finish(L, box, st, t, fname);
  }
  int type = lua_type(L, 1);
  if (type == LUA_TNUMBER || type == LUA_TBOOLEAN) {
    int kind = type == LUA_TBOOLEAN ? KIND_BOOL
               : lua_isinteger(L, 1) ? KIND_INT : KIND_FLOAT;
    lg_dtype dtype = lgl_opt_dtype(L, 2, kind_dtype(kind), fname);
    lgl_box *box = lgl_new_box(L);
    lg_tensor *t = NULL;
    lg_status st = lg_empty(ctx, dtype, 0, NULL, &t);
    if (st == LG_OK) {
      if (kind == KIND_FLOAT)
        lg_store_double(lg_tensor_data(t), dtype, lua_tonumber(L, 1));
      else
        lg_store_int(lg_tensor_data(t), dtype,
                     kind == KIND_BOOL ? lua_toboolean(L, 1)
                                       : (int64_t)lua_tointeger(L, 1));
    }
    return finish(L, box, st, t, fname);
  }
  if (type != LUA_TTABLE)
    luaL_error(L, "tensor: expected a number, boolean, table or tensor, got "
               "%s", lgl_typename(L, 1));
  /* the shape follows the first elements down */
  int ndim = 0;
  int64_t sizes[LG_MAX_DIMS];
  luaL_checkstack(L, LG_MAX_DIMS + 4, "tensor: nesting too deep");
  lua_pushvalue(L, 1);
  for (;;) {
    if (ndim == LG_MAX_DIMS)
      luaL_error(L, "tensor: expected at most %d nested levels", LG_MAX_DIMS);
    sizes[ndim++] = (int64_t)lua_rawlen(L, -1);
    if (sizes[ndim - 1] == 0) break;
    int t1 = lua_rawgeti(L, -1, 1);
    if (t1 != LUA_TTABLE || lgl_to_tensor(L, -1)) {
      lua_pop(L, 1);
      break;
    }
  }
  lua_settop(L, 2);
  int kind = KIND_BOOL;
  int64_t path[LG_MAX_DIMS];
  bool empty = false;
  for (int i = 0; i < ndim; i++) empty = empty || sizes[i] == 0;
  lua_pushvalue(L, 1);
  scan_nested(L, 0, ndim, sizes, path, &kind);
  if (empty) kind = KIND_FLOAT; /* torch.tensor([]) is float32 */
  lg_dtype dtype = lgl_opt_dtype(L, 2, kind_dtype(kind), fname);
  lgl_box *box = lgl_new_box(L);
  lua_insert(L, -2); /* the data table back on top */
  lg_tensor *t = NULL;
  lg_status st = lg_empty(ctx, dtype, ndim, sizes, &t);
  if (st == LG_OK && !empty) {
    int64_t pos = 0;
    fill_nested(L, 0, ndim, sizes, t, &pos);
  }
  lua_pop(L, 1);
  return finish(L, box, st, t, fname);
}

/* ---- constant fills -------------------------------------------------------- */

typedef lg_status (*random_fn)(lg_ctx *ctx, lg_dtype dtype, int ndim,
                               const int64_t *sizes, lg_tensor **out);

/* fname(shape..., opts): a tensor of the shape given from argument 1 on,
 * drawn by random when given, else filled with value. */
static int make_shaped(lua_State *L, const char *fname, random_fn random,
                       double value) {
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
  int opts = shape_and_options(L, 1, fname, &ndim, sizes);
  lg_dtype dtype = lgl_opt_dtype(L, opts, LG_FLOAT32, fname);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *t = NULL;
  lg_status st = random ? random(lgl_ctx(L), dtype, ndim, sizes, &t)
                        : lg_full(lgl_ctx(L), dtype, ndim, sizes, value, &t);
  return finish(L, box, st, t, fname);
}

static int fill_shape(lua_State *L, const char *fname, double value) {
  return make_shaped(L, fname, NULL, value);
}

/*** A tensor of the shape filled with 0. The shape is integers or one table;
 * options come last.
 * @function zeros
 * @param ... sizes, or one table of sizes
 * @param[opt] opts {dtype = "float32", requires_grad = false}
 * @return a tensor
 * @usage lg.zeros(2, 3, {dtype = "float64"})
 */
static int l_zeros(lua_State *L) { return fill_shape(L, "zeros", 0); }
/*** A tensor of the shape filled with 1. The shape is integers or one table;
 * options come last.
 * @function ones
 * @param ... sizes, or one table of sizes
 * @param[opt] opts {dtype = "float32", requires_grad = false}
 * @return a tensor
 * @usage lg.ones(2, 3, {dtype = "float64"})
 */
static int l_ones(lua_State *L) { return fill_shape(L, "ones", 1); }
/*** A tensor of the shape filled with 0 (luagrad zero-fills: uninitialised memory helps nobody in Lua). The shape is integers or one table;
 * options come last.
 * @function empty
 * @param ... sizes, or one table of sizes
 * @param[opt] opts {dtype = "float32", requires_grad = false}
 * @return a tensor
 * @usage lg.empty(2, 3, {dtype = "float64"})
 */
/* empty is zero-filled anyway: uninitialised memory helps nobody in Lua */
static int l_empty(lua_State *L) { return fill_shape(L, "empty", 0); }

/* The dtype PyTorch infers from a fill value: bool, int64 or float32. */
static lg_dtype value_dtype(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TBOOLEAN) return LG_BOOL;
  return lua_isinteger(L, idx) ? LG_INT64 : LG_FLOAT32;
}

static void check_value(lua_State *L, int idx, const char *fname) {
  int type = lua_type(L, idx);
  if (type != LUA_TNUMBER && type != LUA_TBOOLEAN)
    luaL_error(L, "%s: expected a number or boolean fill value, got %s",
               fname, lgl_typename(L, idx));
}

/* Fills a new tensor with the Lua value at idx (integers exactly). */
static lg_status full_value(lua_State *L, int idx, lg_dtype dtype, int ndim,
                            const int64_t *sizes, lg_tensor **t) {
  lg_ctx *ctx = lgl_ctx(L);
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx))
    return lg_full(ctx, dtype, ndim, sizes, lua_tonumber(L, idx), t);
  lg_status st = lg_empty(ctx, dtype, ndim, sizes, t);
  if (st) return st;
  int64_t v = lua_type(L, idx) == LUA_TBOOLEAN ? lua_toboolean(L, idx)
                                               : (int64_t)lua_tointeger(L, idx);
  int64_t n = lg_tensor_numel(*t);
  char *data = lg_tensor_data(*t);
  size_t item = lg_dtype_size(dtype);
  for (int64_t i = 0; i < n; i++) lg_store_int(data + (size_t)i * item, dtype, v);
  return LG_OK;
}

/*** A tensor of the shape filled with value (the last number): `full({2, 3},
 * 7)` or `full(2, 3, 7)`. The dtype follows the value (an integer gives
 * int64, as PyTorch) unless opts.dtype.
 * @function full
 * @param shape a table of sizes (or sizes as integers)
 * @param value a number or boolean
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.full({2, 2}, 0.5)
 */
/* lg.full(shape, value, opts): shape as one table, or as integers followed
 * by the value (the last number is the value). */
static int l_full(lua_State *L) {
  const char *fname = "full";
  int ndim = 0, value_idx;
  int64_t sizes[LG_MAX_DIMS];
  if (lua_type(L, 1) == LUA_TTABLE) {
    value_idx = lgl_check_shape(L, 1, fname, &ndim, sizes);
  } else {
    int last = 1;
    while (lua_type(L, last) == LUA_TNUMBER) last++;
    if (last == 1)
      luaL_error(L, "full: expected a shape and a fill value, got %s",
                 lgl_typename(L, 1));
    if (lua_type(L, last) == LUA_TBOOLEAN) last++;
    value_idx = last - 1;
    for (int i = 1; i < value_idx; i++) {
      if (ndim == LG_MAX_DIMS)
        luaL_error(L, "full: expected at most %d dims", LG_MAX_DIMS);
      int64_t v = lgl_check_integer(L, i, fname, "a size");
      if (v < 0)
        luaL_error(L, "full: expected a non-negative size at dim %d, got %I",
                   i, (lua_Integer)v);
      sizes[ndim++] = v;
    }
  }
  check_value(L, value_idx, fname);
  check_options(L, value_idx + 1, fname);
  lg_dtype dtype = lgl_opt_dtype(L, value_idx + 1, value_dtype(L, value_idx),
                                 fname);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *t = NULL;
  lg_status st = full_value(L, value_idx, dtype, ndim, sizes, &t);
  return finish(L, box, st, t, fname);
}

/* ---- ranges ---------------------------------------------------------------- */

/* What arange, linspace and eye make once their arguments are read. */
typedef struct range_request {
  enum { RANGE_ARANGE, RANGE_LINSPACE, RANGE_EYE } kind;
  double start, stop, step; /* arange, linspace (start, stop) */
  int64_t n, m;             /* linspace: n steps; eye: n x m   */
} range_request;

/* Checks the options at opts, then makes the tensor r asks for. */
static int make_range(lua_State *L, const char *fname, int opts,
                      lg_dtype default_dtype, const range_request *r) {
  check_options(L, opts, fname);
  lg_dtype dtype = lgl_opt_dtype(L, opts, default_dtype, fname);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *t = NULL;
  lg_ctx *ctx = lgl_ctx(L);
  lg_status st;
  switch (r->kind) {
    case RANGE_ARANGE:
      st = lg_arange(ctx, dtype, r->start, r->stop, r->step, &t);
      break;
    case RANGE_LINSPACE:
      st = lg_linspace(ctx, dtype, r->start, r->stop, r->n, &t);
      break;
    default:
      st = lg_eye(ctx, dtype, r->n, r->m, &t);
      break;
  }
  return finish(L, box, st, t, fname);
}

/*** The values start, start+step, ... below stop (stop excluded, as PyTorch):
 * int64 when every argument is an integer, float32 otherwise.
 * @function arange
 * @param[opt] start default 0
 * @param stop the end (excluded)
 * @param[opt] step default 1
 * @param[opt] opts {dtype, requires_grad}
 * @return a 1-D tensor
 * @usage lg.arange(5) --> {0, 1, 2, 3, 4}; lg.arange(1, 4) --> {1, 2, 3}
 */
/* lg.arange([start,] stop[, step], opts): int64 when every argument is an
 * integer, float32 otherwise, as PyTorch. */
static int l_arange(lua_State *L) {
  int n = 0;
  while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) n++;
  if (n == 0)
    luaL_error(L, "arange: expected ([start,] stop [, step]), got %s",
               lgl_typename(L, 1));
  bool all_int = true;
  for (int i = 1; i <= n; i++) all_int = all_int && lua_isinteger(L, i);
  range_request r = {.kind = RANGE_ARANGE, .step = 1};
  if (n == 1) {
    r.stop = lua_tonumber(L, 1);
  } else {
    r.start = lua_tonumber(L, 1);
    r.stop = lua_tonumber(L, 2);
    if (n == 3) r.step = lua_tonumber(L, 3);
  }
  return make_range(L, "arange", n + 1, all_int ? LG_INT64 : LG_FLOAT32, &r);
}

/*** steps values evenly spaced from start to stop, both included.
 * @function linspace
 * @param start a number
 * @param stop a number
 * @param steps an integer
 * @param[opt] opts {dtype, requires_grad}
 * @return a 1-D tensor
 * @usage lg.linspace(0, 1, 5)
 */
/* lg.linspace(start, stop, steps, opts) */
static int l_linspace(lua_State *L) {
  range_request r = {.kind = RANGE_LINSPACE};
  r.start = luaL_checknumber(L, 1);
  r.stop = luaL_checknumber(L, 2);
  r.n = lgl_check_integer(L, 3, "linspace", "steps");
  return make_range(L, "linspace", 4, LG_FLOAT32, &r);
}

/*** The n x m identity matrix (m defaults to n).
 * @function eye
 * @param n rows
 * @param[opt] m columns
 * @param[opt] opts {dtype, requires_grad}
 * @return a 2-D tensor
 * @usage lg.eye(3)
 */
/* lg.eye(n[, m], opts) */
static int l_eye(lua_State *L) {
  range_request r = {.kind = RANGE_EYE};
  r.n = r.m = lgl_check_integer(L, 1, "eye", "n");
  int opts = 2;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    r.m = lgl_check_integer(L, 2, "eye", "m");
    opts = 3;
  }
  return make_range(L, "eye", opts, LG_FLOAT32, &r);
}

/* ---- random ------------------------------------------------------------------ */

static int random_shape(lua_State *L, const char *fname, random_fn fn) {
  return make_shaped(L, fname, fn, 0);
}

/*** Uniform samples in [0, 1) of the shape (lg.manual_seed makes them repeat).
 * @function rand
 * @param ... sizes, or one table
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.rand(2, 3)
 */
/*** Standard normal samples of the shape.
 * @function randn
 * @param ... sizes, or one table
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.randn(4, 4, {dtype = "float64"})
 */
static int l_rand(lua_State *L) { return random_shape(L, "rand", lg_rand); }
static int l_randn(lua_State *L) { return random_shape(L, "randn", lg_randn); }

/*** Uniform integers in low..high-1 (high excluded, as PyTorch; int64 unless
 * opts.dtype). The shape is one table or integers after low and high;
 * `randint(1, n + 1, shape)` gives 1-based indices. The PyTorch form
 * randint(high, {shape}) starts at 0.
 * @function randint
 * @param low the smallest value
 * @param high one past the largest
 * @param shape a table of sizes (or integers)
 * @param[opt] opts {dtype}
 * @return a tensor
 * @usage lg.randint(1, 7, 2, 3) -- dice
 */
/* lg.randint(low, high, shape, opts) or lg.randint(high, shape, opts); a
 * shape given as integers follows low and high. */
static int l_randint(lua_State *L) {
  const char *fname = "randint";
  int64_t low = 0, high;
  int shape_idx;
  if (lua_type(L, 2) == LUA_TTABLE && !lgl_to_tensor(L, 2)) {
    high = lgl_check_integer(L, 1, fname, "high");
    shape_idx = 2;
  } else {
    low = lgl_check_integer(L, 1, fname, "low");
    high = lgl_check_integer(L, 2, fname, "high");
    shape_idx = 3;
  }
  if (lua_isnoneornil(L, shape_idx))
    luaL_error(L, "randint: expected a shape after low and high");
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
  int opts = shape_and_options(L, shape_idx, fname, &ndim, sizes);
  lg_dtype dtype = lgl_opt_dtype(L, opts, LG_INT64, fname);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *t = NULL;
  lg_status st = lg_randint(lgl_ctx(L), dtype, low, high, ndim, sizes, &t);
  return finish(L, box, st, t, fname);
}

/* Converts *t to dtype when it differs (for options on int64 results). */
static lg_status convert(lg_ctx *ctx, lg_tensor **t, lg_dtype dtype) {
  if (lg_tensor_dtype(*t) == dtype) return LG_OK;
  lg_params p = {0};
  p.dtype = dtype;
  lg_tensor *converted = NULL;
  lg_status st = lg_op_run(ctx, LG_OP_TO_DTYPE, 1, t, &p, &converted);
  lg_tensor_release(*t);
  *t = converted;
  return st;
}

/*** A random permutation of 1..n (int64; 1-based, unlike PyTorch's 0..n-1).
 * @function randperm
 * @param n an integer
 * @param[opt] opts {dtype}
 * @return a 1-D tensor
 * @usage lg.randperm(5)
 */
/* lg.randperm(n, opts): a permutation of 1..n */
static int l_randperm(lua_State *L) {
  const char *fname = "randperm";
  int64_t n = lgl_check_integer(L, 1, fname, "n");
  check_options(L, 2, fname);
  lg_dtype dtype = lgl_opt_dtype(L, 2, LG_INT64, fname);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *t = NULL;
  lg_ctx *ctx = lgl_ctx(L);
  lg_status st = lg_randperm(ctx, n, &t);
  if (st == LG_OK) st = convert(ctx, &t, dtype);
  return finish(L, box, st, t, fname);
}

/*** Seeds the counter-based generator (Philox4x32-10) of this Lua state, so
 * every random function gives the same numbers on every run.
 * @function manual_seed
 * @param n an integer
 * @usage lg.manual_seed(0)
 */
/* lg.manual_seed(n) */
static int l_manual_seed(lua_State *L) {
  int64_t seed = lgl_check_integer(L, 1, "manual_seed", "the seed");
  lg_ctx_manual_seed(lgl_ctx(L), (uint64_t)seed);
  return 0;
}

/*** The seed the generator started from (the last manual_seed).
 * @function initial_seed
 * @return an integer
 * @usage lg.initial_seed()
 */
/* lg.initial_seed() */
static int l_initial_seed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lg_ctx_seed(lgl_ctx(L)));
  return 1;
}

/* ---- *_like ------------------------------------------------------------------ */

/* The template tensor at 1, and the dtype from the options at opts_idx. */
static lg_tensor *like_args(lua_State *L, int opts_idx, const char *fname,
                            lg_dtype *dtype) {
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  check_options(L, opts_idx, fname);
  *dtype = lgl_opt_dtype(L, opts_idx, lg_tensor_dtype(t), fname);
  return t;
}

static int fill_like(lua_State *L, const char *fname, double value) {
  lg_dtype dtype;
  lg_tensor *t = like_args(L, 2, fname, &dtype);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  lg_status st = lg_full(lgl_ctx(L), dtype, lg_tensor_ndim(t),
                         lg_tensor_sizes(t), value, &out);
  return finish(L, box, st, out, fname);
}

/*** A tensor of t's shape and dtype (unless opts.dtype) filled with zeros.
 * Also a method, `t:zeros_like()`.
 * @function zeros_like
 * @param t a tensor
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.zeros_like(t)
 */
static int l_zeros_like(lua_State *L) { return fill_like(L, "zeros_like", 0); }
/*** A tensor of t's shape and dtype (unless opts.dtype) filled with ones.
 * Also a method, `t:ones_like()`.
 * @function ones_like
 * @param t a tensor
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.ones_like(t)
 */
static int l_ones_like(lua_State *L) { return fill_like(L, "ones_like", 1); }
/*** A tensor of t's shape and dtype (unless opts.dtype) filled with zeros (as empty).
 * Also a method, `t:empty_like()`.
 * @function empty_like
 * @param t a tensor
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.empty_like(t)
 */
static int l_empty_like(lua_State *L) { return fill_like(L, "empty_like", 0); }

/*** A tensor of t's shape and dtype filled with v.
 * @function full_like
 * @param t a tensor
 * @param v a number
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.full_like(t, 7)
 */
/* t:full_like(v, opts) / lg.full_like(t, v, opts): keeps t's dtype */
static int l_full_like(lua_State *L) {
  const char *fname = "full_like";
  check_value(L, 2, fname);
  lg_dtype dtype;
  lg_tensor *t = like_args(L, 3, fname, &dtype);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  lg_status st = full_value(L, 2, dtype, lg_tensor_ndim(t), lg_tensor_sizes(t),
                            &out);
  return finish(L, box, st, out, fname);
}

static int random_like(lua_State *L, const char *fname, random_fn fn) {
  lg_dtype dtype;
  lg_tensor *t = like_args(L, 2, fname, &dtype);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  lg_status st = fn(lgl_ctx(L), dtype, lg_tensor_ndim(t), lg_tensor_sizes(t),
                    &out);
  return finish(L, box, st, out, fname);
}

/*** Uniform samples in [0, 1) of t's shape and dtype.
 * @function rand_like
 * @param t a floating tensor
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.rand_like(t)
 */
static int l_rand_like(lua_State *L) {
  return random_like(L, "rand_like", lg_rand);
}
/*** Standard normal samples of t's shape and dtype.
 * @function randn_like
 * @param t a floating tensor
 * @param[opt] opts {dtype, requires_grad}
 * @return a tensor
 * @usage lg.randn_like(t)
 */
static int l_randn_like(lua_State *L) {
  return random_like(L, "randn_like", lg_randn);
}

/*** Uniform integers in low..high-1 (low defaults to 0) of t's shape and dtype.
 * @function randint_like
 * @param t a tensor
 * @param[opt] low default 0
 * @param high one past the largest
 * @param[opt] opts {dtype}
 * @return a tensor
 * @usage lg.randint_like(t, 1, 11)
 */
/* randint_like(t, [low,] high, opts) */
static int l_randint_like(lua_State *L) {
  const char *fname = "randint_like";
  int64_t low = 0, high;
  int opts = 3;
  if (lua_type(L, 3) == LUA_TNUMBER) {
    low = lgl_check_integer(L, 2, fname, "low");
    high = lgl_check_integer(L, 3, fname, "high");
    opts = 4;
  } else {
    high = lgl_check_integer(L, 2, fname, "high");
  }
  lg_dtype dtype;
  lg_tensor *t = like_args(L, opts, fname, &dtype);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  lg_status st = lg_randint(lgl_ctx(L), dtype, low, high, lg_tensor_ndim(t),
                            lg_tensor_sizes(t), &out);
  return finish(L, box, st, out, fname);
}

/* Registers the creation functions (module) and the *_like methods. */
void lgl_open_create(lua_State *L, const lgl_tables *T) {
  static const luaL_Reg module_fns[] = {
      {"tensor", l_tensor},           {"zeros", l_zeros},
      {"ones", l_ones},               {"empty", l_empty},
      {"full", l_full},               {"arange", l_arange},
      {"linspace", l_linspace},       {"eye", l_eye},
      {"rand", l_rand},               {"randn", l_randn},
      {"randint", l_randint},         {"randperm", l_randperm},
      {"manual_seed", l_manual_seed}, {"initial_seed", l_initial_seed},
      {"zeros_like", l_zeros_like},   {"ones_like", l_ones_like},
      {"empty_like", l_empty_like},   {"full_like", l_full_like},
      {"rand_like", l_rand_like},     {"randn_like", l_randn_like},
      {"randint_like", l_randint_like}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
      {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like},
      {"empty_like", l_empty_like}, {"full_like", l_full_like},
      {"rand_like", l_rand_like},   {"randn_like", l_randn_like},
      {"randint_like", l_randint_like}, {NULL, NULL}};
  lgl_register_family(L, T, module_fns, methods);
}
