/* ops_nn_conv.c: raw Lua entry points of the convolution and pooling
 * kernels (runtime/ops/conv.c, runtime/ops/pool.c), on which nn.functional is
 * written in Lua. Every size argument is an explicit integer here; the Lua
 * layer supplies PyTorch's defaults, pairs and 3-D (unbatched) inputs.
 *
 *   lg._conv2d(x, w, b_or_nil, stride_h, stride_w, pad_h, pad_w,
 *              dil_h, dil_w, groups)                       -> out
 *   lg._conv_transpose2d(x, w, b_or_nil, stride_h, stride_w, pad_h, pad_w,
 *              out_pad_h, out_pad_w, dil_h, dil_w, groups) -> out
 *   lg._max_pool2d(x, kh, kw, stride_h, stride_w, pad_h, pad_w,
 *              dil_h, dil_w, ceil_mode)                    -> values, indices
 *   lg._avg_pool2d(x, kh, kw, stride_h, stride_w, pad_h, pad_w,
 *              ceil_mode, count_include_pad[, divisor_override])  -> out
 *   lg._adaptive_avg_pool2d(x, oh, ow)                     -> out
 *
 * x is (N,C,H,W) for the convolutions, (N,C,H,W) or (C,H,W) for the pools;
 * w is (O,C/groups,kh,kw) for conv2d and (C,O/groups,kh,kw) for
 * conv_transpose2d. ceil_mode and count_include_pad are booleans. The
 * max_pool2d indices are int64, 1-based flat positions h*W + w + 1 within
 * each H x W plane (PyTorch's return_indices plus one).
 */
#include "lgl.h"

/* Option bits of the pools' scalar_int (runtime/ops/pool.c). */
#define POOL_CEIL_MODE 1
#define POOL_COUNT_INCLUDE_PAD 2

/* Reads count integers from idx on into dst, naming each by names[i]. */
static void check_ints(lua_State *L, int idx, int count, const char *fname,
                       const char *const *names, int64_t *dst) {
  for (int i = 0; i < count; i++)
    dst[i] = lgl_check_integer(L, idx + i, fname, names[i]);
}

static bool check_bool(lua_State *L, int idx, const char *fname,
                       const char *what) {
  if (!lua_isboolean(L, idx))
    return luaL_error(L, "%s: expected a boolean for %s (argument %d), got %s",
                      fname, what, idx, lgl_typename(L, idx));
  return lua_toboolean(L, idx);
}

/* x, w, optional bias, then the ints of conv.c's params layout. */
static int convolution(lua_State *L, lg_op op) {
  static const char *const conv_names[] = {
      "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w"};
  static const char *const transpose_names[] = {
      "stride_h", "stride_w", "pad_h", "pad_w", "out_pad_h", "out_pad_w",
      "dil_h", "dil_w"};
  const char *fname = op == LG_OP_CONV2D ? "conv2d" : "conv_transpose2d";
  lg_tensor *in[3];
  in[0] = lgl_check_tensor(L, 1, fname);
  in[1] = lgl_check_tensor(L, 2, fname);
  int n_in = 2;
  lg_params p = {0};
  if (!lua_isnil(L, 3)) {
    in[2] = lgl_check_tensor(L, 3, fname);
    n_in = 3;
    p.flags |= LG_FLAG_OPT1;
  }
  int64_t v[8];
  if (op == LG_OP_CONV2D) {
    check_ints(L, 4, 6, fname, conv_names, v);
    for (int i = 0; i < 6; i++) p.ints[i] = v[i];
    p.n_ints = 6;
  } else { /* output_padding sits between padding and dilation here */
    check_ints(L, 4, 8, fname, transpose_names, v);
    for (int i = 0; i < 4; i++) p.ints[i] = v[i];
    p.ints[4] = v[6];
    p.ints[5] = v[7];
    p.ints[6] = v[4];
    p.ints[7] = v[5];
    p.n_ints = 8;
  }
  int groups_idx = op == LG_OP_CONV2D ? 10 : 12;
  p.scalar_int = lgl_check_integer(L, groups_idx, fname, "groups");
  if (p.scalar_int < 1)
    return luaL_error(L, "%s: expected groups >= 1, got %I", fname,
                      (lua_Integer)p.scalar_int);
  return lgl_run_op(L, op, n_in, in, &p, 0);
}

static int l_conv2d(lua_State *L) { return convolution(L, LG_OP_CONV2D); }
static int l_conv_transpose2d(lua_State *L) {
  return convolution(L, LG_OP_CONV_TRANSPOSE2D);
}

static int l_max_pool2d(lua_State *L) {
  static const char *const names[] = {"kh", "kw", "stride_h", "stride_w",
                                      "pad_h", "pad_w", "dil_h", "dil_w"};
  lg_tensor *x = lgl_check_tensor(L, 1, "max_pool2d");
  lg_params p = {0};
  check_ints(L, 2, 8, "max_pool2d", names, p.ints);
  p.n_ints = 8;
  if (check_bool(L, 10, "max_pool2d", "ceil_mode"))
    p.scalar_int |= POOL_CEIL_MODE;
  return lgl_run_op(L, LG_OP_MAX_POOL2D, 1, &x, &p, 0);
}

static int l_avg_pool2d(lua_State *L) {
  static const char *const names[] = {"kh", "kw", "stride_h", "stride_w",
                                      "pad_h", "pad_w"};
  lg_tensor *x = lgl_check_tensor(L, 1, "avg_pool2d");
  lg_params p = {0};
  check_ints(L, 2, 6, "avg_pool2d", names, p.ints);
  p.n_ints = 6;
  if (check_bool(L, 8, "avg_pool2d", "ceil_mode"))
    p.scalar_int |= POOL_CEIL_MODE;
  if (check_bool(L, 9, "avg_pool2d", "count_include_pad"))
    p.scalar_int |= POOL_COUNT_INCLUDE_PAD;
  if (!lua_isnoneornil(L, 10)) {
    int64_t d = lgl_check_integer(L, 10, "avg_pool2d", "divisor_override");
    if (d < 1)
      return luaL_error(L, "avg_pool2d: expected divisor_override >= 1, got %I",
                        (lua_Integer)d);
    p.scalar[0] = (double)d;
  }
  return lgl_run_op(L, LG_OP_AVG_POOL2D, 1, &x, &p, 0);
}

static int l_adaptive_avg_pool2d(lua_State *L) {
  static const char *const names[] = {"oh", "ow"};
  lg_tensor *x = lgl_check_tensor(L, 1, "adaptive_avg_pool2d");
  lg_params p = {0};
  check_ints(L, 2, 2, "adaptive_avg_pool2d", names, p.ints);
  p.n_ints = 2;
  return lgl_run_op(L, LG_OP_ADAPTIVE_AVG_POOL2D, 1, &x, &p, 0);
}

static const luaL_Reg conv_functions[] = {
    {"_conv2d", l_conv2d},
    {"_conv_transpose2d", l_conv_transpose2d},
    {"_max_pool2d", l_max_pool2d},
    {"_avg_pool2d", l_avg_pool2d},
    {"_adaptive_avg_pool2d", l_adaptive_avg_pool2d},
    {NULL, NULL}};

/* Registers the raw convolution and pooling entry points on the module. */
void lgl_open_nn_conv(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, conv_functions, NULL);
}
