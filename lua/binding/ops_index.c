/* ops_index.c: Lua wrappers for the indexing ops: index_select, gather,
 * scatter(_), scatter_add(_), masked_fill(_) and masked_select. Dims are
 * 1-based; index tensors hold 1-based int64 (or int32) positions. */

/***
 * Indexing ops: index_select, gather, scatter, masked_fill.
 * @module lg
 */
#include "lgl.h"

/*** The entries of t at the 1-based positions in index (a 1-D integer
 * tensor) along dim d.
 * @function index_select
 * @param t a tensor
 * @param d a dim
 * @param index an int64/int32 tensor of 1-based positions
 * @return a tensor
 * @usage t:index_select(1, lg.tensor({3, 1}))
 */
/* t:index_select(d, index) */
static int l_index_select(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "index_select");
  lg_params p = {0};
  p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), "index_select");
  lg_tensor *in[2] = {t, lgl_check_tensor(L, 3, "index_select")};
  return lgl_run_op(L, LG_OP_INDEX_SELECT, 2, in, &p, 1);
}

/*** out[i][j] = t[index[i][j]][j] along dim d (index 1-based, as t's rank).
 * @function gather
 * @param t a tensor
 * @param d a dim
 * @param index an integer tensor of 1-based positions
 * @return a tensor of index's shape
 * @usage logits:gather(2, targets:unsqueeze(2))
 */
/* t:gather(d, index) */
static int l_gather(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "gather");
  lg_params p = {0};
  p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), "gather");
  lg_tensor *in[2] = {t, lgl_check_tensor(L, 3, "gather")};
  return lgl_run_op(L, LG_OP_GATHER, 2, in, &p, 1);
}

/* A tensor of t's dtype holding the number at idx, expanded (stride 0) to
 * shape's sizes: the src of a scatter with a scalar value. Its box stays
 * on the stack so a later error cannot leak it. */
static lg_tensor *scalar_source(lua_State *L, int idx, const lg_tensor *t,
                                const lg_tensor *shape, const char *fname) {
  lg_params value = {0};
  if (!lgl_to_scalar(L, idx, &value, 0))
    luaL_error(L, "%s: expected a tensor or a number as the source, got %s",
               fname, lgl_typename(L, idx));
  lg_ctx *ctx = lgl_ctx(L);
  lgl_box *filled = lgl_new_box(L);
  lg_tensor *f = NULL;
  if (lg_empty(ctx, lg_tensor_dtype(t), 0, NULL, &f) != LG_OK) lgl_error(L);
  lgl_box_set(filled, f);
  lg_params fill = value;
  fill.flags |= LG_FLAG_INPLACE;
  lg_tensor *res = NULL;
  if (lg_op_run(ctx, LG_OP_FILL, 1, &f, &fill, &res) != LG_OK)
    lgl_error(L);
  lg_tensor_release(res);
  lgl_box *expanded = lgl_new_box(L);
  lg_params p = {0};
  p.n_ints = lg_tensor_ndim(shape);
  for (int i = 0; i < lg_tensor_ndim(shape); i++) p.ints[i] = lg_tensor_sizes(shape)[i];
  lg_tensor *e = NULL;
  if (lg_run1(ctx, LG_OP_EXPAND, f, &p, &e) != LG_OK)
    lgl_error(L);
  lgl_box_set(expanded, e);
  return e;
}

/* t:scatter(d, index, src) with src a tensor or a number; scatter_add
 * takes a tensor only */
static int scatter(lua_State *L, lg_op op, int inplace) {
  const char *fname = op == LG_OP_SCATTER_ADD
                          ? (inplace ? "scatter_add_" : "scatter_add")
                          : (inplace ? "scatter_" : "scatter");
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), fname);
  lg_tensor *index = lgl_check_tensor(L, 3, fname);
  lg_tensor *src = lgl_to_tensor(L, 4);
  if (!src) {
    if (op == LG_OP_SCATTER_ADD) lgl_check_tensor(L, 4, fname);
    /* a number becomes an expanded tensor: lg_op_run counts 3 inputs */
    src = scalar_source(L, 4, t, index, fname);
  }
  if (inplace) p.flags |= LG_FLAG_INPLACE;
  lg_tensor *in[3] = {t, index, src};
  return lgl_run_op(L, op, 3, in, &p, 1);
}
/*** A copy of t with src's values written at the 1-based positions of index
 * along dim d (src a tensor or number); in place `t:scatter_(d, index, src)`.
 * @function scatter
 * @param t a tensor
 * @param d a dim
 * @param index an integer tensor of 1-based positions
 * @param src a tensor or number
 * @return a tensor
 * @usage lg.zeros(3):scatter(1, lg.tensor({2}), 1)
 */
static int l_scatter(lua_State *L) { return scatter(L, LG_OP_SCATTER, 0); }
static int l_scatter_(lua_State *L) { return scatter(L, LG_OP_SCATTER, 1); }
/*** A copy of t with src's values added at the 1-based positions of index
 * along dim d (repeated positions accumulate); in place `t:scatter_add_(...)`.
 * @function scatter_add
 * @param t a tensor
 * @param d a dim
 * @param index an integer tensor of 1-based positions
 * @param src a tensor
 * @return a tensor
 * @usage lg.zeros(3):scatter_add(1, lg.tensor({1, 1}), lg.ones(2))
 */
static int l_scatter_add(lua_State *L) {
  return scatter(L, LG_OP_SCATTER_ADD, 0);
}
static int l_scatter_add_(lua_State *L) {
  return scatter(L, LG_OP_SCATTER_ADD, 1);
}

/* t:masked_fill(mask, value): value a number, boolean or 0-d tensor (read
 * as a number: no gradient flows into it) */
static int masked_fill(lua_State *L, int inplace) {
  const char *fname = inplace ? "masked_fill_" : "masked_fill";
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_tensor *mask = lgl_check_tensor(L, 2, fname);
  lg_params p = {0};
  lg_tensor *value = lgl_to_tensor(L, 3);
  if (value) {
    if (lg_tensor_batch_level(value))
      return luaL_error(L, "%s: the value is a batched tensor (inside vmap), "
                        "one number per example; use lg.where(mask, value, "
                        "x) instead", fname);
    if (lg_tensor_ndim(value) != 0)
      return luaL_error(L,
                        "%s: expected a 0-d tensor as the value, got a "
                        "%d-d one",
                        fname, lg_tensor_ndim(value));
    if (lg_dtype_is_float(lg_tensor_dtype(value))) {
      p.scalar[0] = lg_tensor_get(value, 0);
    } else {
      p.scalar_int = lg_tensor_get_int(value, 0);
      p.scalar[0] = (double)p.scalar_int;
      p.flags |= LG_FLAG_SCALAR_INT;
    }
  } else if (!lgl_to_scalar(L, 3, &p, 0)) {
    return luaL_error(L,
                      "%s: expected a number, boolean or 0-d tensor as "
                      "the value, got %s",
                      fname, lgl_typename(L, 3));
  }
  if (inplace) p.flags |= LG_FLAG_INPLACE;
  lg_tensor *in[2] = {t, mask};
  return lgl_run_op(L, LG_OP_MASKED_FILL, 2, in, &p, 1);
}
/*** A copy of t with value where mask (bool, broadcast to t) holds; in place
 * `t:masked_fill_(mask, value)`.
 * @function masked_fill
 * @param t a tensor
 * @param mask a bool tensor
 * @param value a number
 * @return a tensor
 * @usage scores:masked_fill(pad, -math.huge)
 */
static int l_masked_fill(lua_State *L) { return masked_fill(L, 0); }
static int l_masked_fill_(lua_State *L) { return masked_fill(L, 1); }

/*** The 1-D tensor of t's elements where mask holds.
 * @function masked_select
 * @param t a tensor
 * @param mask a bool tensor
 * @return a 1-D tensor
 * @usage t:masked_select(t:gt(0))
 */
/* t:masked_select(mask): 1-d tensor of the elements where mask holds */
static int l_masked_select(lua_State *L) {
  lg_tensor *in[2] = {lgl_check_tensor(L, 1, "masked_select"),
                      lgl_check_tensor(L, 2, "masked_select")};
  lg_params p = {0};
  return lgl_run_op(L, LG_OP_MASKED_SELECT, 2, in, &p, 1);
}

/* Out-of-place ops: methods and lg.X functions (self = argument 1). */
static const luaL_Reg shared_functions[] = {
    {"index_select", l_index_select},
    {"gather", l_gather},
    {"scatter", l_scatter},
    {"scatter_add", l_scatter_add},
    {"masked_fill", l_masked_fill},
    {"masked_select", l_masked_select},
    {NULL, NULL},
};

static const luaL_Reg in_place_methods[] = {
    {"scatter_", l_scatter_},
    {"scatter_add_", l_scatter_add_},
    {"masked_fill_", l_masked_fill_},
    {NULL, NULL},
};

/* Registers the indexing methods and lg.index_select, lg.gather, ... */
void lgl_open_index(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, shared_functions, shared_functions);
  lgl_register_family(L, T, NULL, in_place_methods);
}
