/* ops_structure.c: Lua wrappers of the structure ops (tril, triu, diag,
 * diagonal, diag_embed, trace, roll, rot90, kron, cross, cdist,
 * repeat_interleave, take_along_dim, meshgrid) and the shape helpers
 * movedim, unflatten, swapaxes/swapdims and atleast_1d/2d/3d. Dims and
 * indices are 1-based (negative from the end), as everywhere in Lua. */
#include <string.h>

#include "lgl.h"

/* Pushes the result of a runtime composite (fills *slot) or raises. */
#define PUSH_RESULT(L, call_with_slot)                                       \
  do {                                                                       \
    lgl_box *box_ = lgl_new_box(L);                                          \
    lg_tensor *result_ = NULL, **slot = &result_;                            \
    if ((call_with_slot) != LG_OK) return lgl_error(L);                      \
    lgl_box_set(box_, *slot);                                                \
    lgl_gc_pressure(L, lgl_get_state(L));                                    \
    return 1;                                                                \
  } while (0)

static int64_t opt_integer(lua_State *L, int idx, int64_t dflt,
                           const char *fname, const char *what) {
  return lua_isnoneornil(L, idx) ? dflt : lgl_check_integer(L, idx, fname, what);
}

/* The optional dim at idx against t's rank, 0-based into *dim; whether it
 * was given. */
static bool opt_dim(lua_State *L, int idx, lg_tensor *t, const char *fname,
                    int64_t *dim) {
  *dim = 0;
  if (lua_isnoneornil(L, idx)) return false;
  *dim = lgl_check_dim(L, idx, lg_tensor_ndim(t), fname);
  return true;
}

static int triangle(lua_State *L, lg_op op, const char *fname) {
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  p.start = opt_integer(L, 2, 0, fname, "the diagonal");
  return lgl_run_op(L, op, 1, &t, &p, 1);
}

/*** The lower triangle: entries above diagonal k zeroed.
 * @function tril
 * @tparam Tensor t at least 2-d (the last two dims are the matrices)
 * @int[opt=0] k the diagonal: 0 the main one, > 0 above it, < 0 below
 * @treturn Tensor a copy
 * @usage lg.tril(lg.ones(3, 3))        -- ones on and below the diagonal */
static int l_tril(lua_State *L) { return triangle(L, LG_OP_TRIL, "tril"); }

/*** The upper triangle: entries below diagonal k zeroed.
 * @function triu
 * @tparam Tensor t at least 2-d
 * @int[opt=0] k the diagonal
 * @treturn Tensor a copy
 * @usage local mask = lg.ones(4, 4):triu(1):bool() -- a causal mask */
static int l_triu(lua_State *L) { return triangle(L, LG_OP_TRIU, "triu"); }

/*** The diagonal k over dims dim1 and dim2, as a VIEW (like
 * torch.diagonal): those dims go and the diagonal becomes the last dim.
 * @function diagonal
 * @tparam Tensor t at least 2-d
 * @int[opt=0] offset the diagonal
 * @int[opt=1] dim1
 * @int[opt=2] dim2
 * @treturn Tensor a view sharing t's storage
 * @usage local d = x:diagonal()   -- x (n, n) -> d (n) */
static int l_diagonal(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "diagonal");
  int nd = lg_tensor_ndim(t);
  if (nd < 2)
    return luaL_error(L, "diagonal: expected a tensor with at least 2 dims, "
                      "got a %d-d one", nd);
  lg_params p = {0};
  p.start = opt_integer(L, 2, 0, "diagonal", "the offset");
  p.ints[0] = lua_isnoneornil(L, 3) ? 0 : lgl_check_dim(L, 3, nd, "diagonal");
  p.ints[1] = lua_isnoneornil(L, 4) ? 1 : lgl_check_dim(L, 4, nd, "diagonal");
  p.n_ints = 2;
  return lgl_run_op(L, LG_OP_DIAGONAL, 1, &t, &p, 1);
}

/*** Matrices with t's last dim on diagonal `offset` of dims dim1, dim2 of
 * the result (one more dim than t; zeros elsewhere).
 * @function diag_embed
 * @tparam Tensor t at least 1-d
 * @int[opt=0] offset
 * @int[opt=-2] dim1 a dim of the result
 * @int[opt=-1] dim2 a dim of the result
 * @treturn Tensor
 * @usage lg.diag_embed(lg.tensor({{1, 2}, {3, 4}}))  -- (2, 2, 2) */
static int l_diag_embed(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "diag_embed");
  int nd = lg_tensor_ndim(t) + 1;
  if (nd < 2)
    return luaL_error(L, "diag_embed: expected a tensor with at least 1 dim, "
                      "got a 0-d one");
  lg_params p = {0};
  p.start = opt_integer(L, 2, 0, "diag_embed", "the offset");
  p.ints[0] = lua_isnoneornil(L, 3) ? nd - 2 : lgl_check_dim(L, 3, nd, "diag_embed");
  p.ints[1] = lua_isnoneornil(L, 4) ? nd - 1 : lgl_check_dim(L, 4, nd, "diag_embed");
  p.n_ints = 2;
  return lgl_run_op(L, LG_OP_DIAG_EMBED, 1, &t, &p, 1);
}

/*** torch.diag: a 1-d t becomes a matrix with t on diagonal k; a 2-d t
 * gives a copy of its diagonal k.
 * @function diag
 * @tparam Tensor t 1-d or 2-d
 * @int[opt=0] k
 * @treturn Tensor
 * @usage lg.diag(lg.tensor({1, 2, 3}))  -- a 3x3 diagonal matrix */
static int l_diag(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "diag");
  int64_t k = opt_integer(L, 2, 0, "diag", "the diagonal");
  PUSH_RESULT(L, lg_diag(lgl_ctx(L), t, k, slot));
}

/*** The sum of the main diagonal of a matrix (non-square allowed).
 * @function trace
 * @tparam Tensor t 2-d
 * @treturn Tensor 0-d
 * @usage lg.eye(3):trace():item()   -- 3 */
static int l_trace(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "trace");
  PUSH_RESULT(L, lg_trace(lgl_ctx(L), t, slot));
}

/* Integers as one number or an array table at idx into out; the count. */
static int int_list(lua_State *L, int idx, const char *fname, const char *what,
                    int64_t *out) {
  if (lua_type(L, idx) != LUA_TTABLE) {
    out[0] = lgl_check_integer(L, idx, fname, what);
    return 1;
  }
  int n = (int)lua_rawlen(L, idx);
  if (n > LG_MAX_DIMS)
    luaL_error(L, "%s: expected at most %d values for %s, got %d", fname,
               LG_MAX_DIMS, what, n);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, idx, i + 1);
    out[i] = lgl_check_integer(L, -1, fname, what);
    lua_pop(L, 1);
  }
  return n;
}

/*** Rolls t along dims: elements shifted past the end come back at the
 * start. Without dims, t is rolled as if flattened (one shift).
 * @function roll
 * @tparam Tensor t
 * @tparam int|{int,...} shifts
 * @tparam[opt] int|{int,...} dims as many as shifts
 * @treturn Tensor a copy
 * @usage x:roll(1, 1); x:roll({1, -2}, {1, 2}); x:roll(3) */
static int l_roll(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "roll");
  int64_t shifts[LG_MAX_DIMS], dims[LG_MAX_DIMS];
  int ns = int_list(L, 2, "roll", "a shift", shifts), nd = 0;
  if (!lua_isnoneornil(L, 3)) {
    nd = int_list(L, 3, "roll", "a dim", dims);
    for (int i = 0; i < nd; i++)
      dims[i] = lgl_dim_value(L, dims[i], lg_tensor_ndim(t), "roll");
  }
  PUSH_RESULT(L, lg_roll(lgl_ctx(L), t, ns, shifts, nd, dims, slot));
}

/*** Rotates by k quarter turns in the plane of dims, from the first dim
 * towards the second.
 * @function rot90
 * @tparam Tensor t at least 2-d
 * @int[opt=1] k
 * @tparam[opt={1,2}] {int,int} dims
 * @treturn Tensor
 * @usage img:rot90(1, {2, 3}) */
static int l_rot90(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "rot90");
  int64_t k = opt_integer(L, 2, 1, "rot90", "k"), dims[LG_MAX_DIMS] = {1, 2};
  if (!lua_isnoneornil(L, 3)) {
    if (int_list(L, 3, "rot90", "a dim", dims) != 2 || lua_type(L, 3) != LUA_TTABLE)
      return luaL_error(L, "rot90: expected two dims as a table {d1, d2}");
  }
  int nd = lg_tensor_ndim(t);
  if (nd < 2)
    return luaL_error(L, "rot90: expected a tensor with at least 2 dims, got "
                      "a %d-d one", nd);
  int64_t d0 = lgl_dim_value(L, dims[0], nd, "rot90");
  int64_t d1 = lgl_dim_value(L, dims[1], nd, "rot90");
  PUSH_RESULT(L, lg_rot90(lgl_ctx(L), t, k, d0, d1, slot));
}

/*** The Kronecker product (any number of dims; the shorter is padded with
 * leading size-1 dims).
 * @function kron
 * @tparam Tensor a
 * @tparam Tensor b
 * @treturn Tensor sizes a_i * b_i
 * @usage lg.kron(lg.eye(2), lg.ones(2, 2)) -- (4, 4) block diagonal */
static int l_kron(lua_State *L) {
  lg_tensor *a = lgl_check_tensor(L, 1, "kron");
  lg_tensor *b = lgl_check_tensor(L, 2, "kron");
  PUSH_RESULT(L, lg_kron(lgl_ctx(L), a, b, slot));
}

/*** The cross product of 3-vectors along dim (other dims broadcast).
 * @function cross
 * @tparam Tensor a
 * @tparam Tensor b with as many dims as a
 * @int[opt] dim of size 3 in both; default the first such dim (torch.cross)
 * @treturn Tensor
 * @usage lg.cross(u, v, -1) */
static int l_cross(lua_State *L) {
  lg_tensor *a = lgl_check_tensor(L, 1, "cross");
  lg_tensor *b = lgl_check_tensor(L, 2, "cross");
  int64_t dim;
  bool has_dim = opt_dim(L, 3, a, "cross", &dim);
  PUSH_RESULT(L, lg_cross(lgl_ctx(L), a, b, has_dim, dim, slot));
}

/*** The p-norm distances between the rows of x1 and of x2 (batched over
 * leading dims, which broadcast).
 * @function cdist
 * @tparam Tensor x1 (.., P, M)
 * @tparam Tensor x2 (.., R, M)
 * @number[opt=2] p >= 0 (math.huge: the max norm)
 * @treturn Tensor (.., P, R)
 * @usage local D = lg.cdist(x, centers) */
static int l_cdist(lua_State *L) {
  lg_tensor *a = lgl_check_tensor(L, 1, "cdist");
  lg_tensor *b = lgl_check_tensor(L, 2, "cdist");
  double p = lua_isnoneornil(L, 3) ? 2.0 : luaL_checknumber(L, 3);
  PUSH_RESULT(L, lg_cdist(lgl_ctx(L), a, b, p, slot));
}

/*** Repeats each element (along dim, or of the flattened tensor) `repeats`
 * times, or repeats[i] times for element i.
 * @function repeat_interleave
 * @tparam Tensor t
 * @tparam int|Tensor repeats a count, or an int tensor of one count per
 *   element (or one for all)
 * @int[opt] dim without it the result is 1-d
 * @treturn Tensor
 * @usage lg.tensor({1, 2}):repeat_interleave(2)  -- {1, 1, 2, 2} */
static int l_repeat_interleave(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "repeat_interleave");
  lg_tensor *rt = lgl_to_tensor(L, 2);
  int64_t r = rt ? 0 : lgl_check_integer(L, 2, "repeat_interleave", "repeats");
  int64_t dim;
  bool has_dim = opt_dim(L, 3, t, "repeat_interleave", &dim);
  PUSH_RESULT(L, lg_repeat_interleave(lgl_ctx(L), t, r, rt, has_dim, dim, slot));
}

/*** Picks values of t at 1-based indices along dim (gather, with the other
 * dims broadcast); without dim both are flattened.
 * @function take_along_dim
 * @tparam Tensor t
 * @tparam Tensor indices int64, as many dims as t
 * @int[opt] dim
 * @treturn Tensor
 * @usage x:take_along_dim(x:argmax(2, true), 2) -- the row maxima */
static int l_take_along_dim(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "take_along_dim");
  lg_tensor *idx = lgl_check_tensor(L, 2, "take_along_dim");
  int64_t dim;
  bool has_dim = opt_dim(L, 3, t, "take_along_dim", &dim);
  PUSH_RESULT(L, lg_take_along_dim(lgl_ctx(L), t, idx, has_dim, dim, slot));
}

/*** Coordinate grids from 1-d tensors: several results, one per input.
 * @function meshgrid
 * @tparam Tensor ... 0-d or 1-d tensors (or one array table of them)
 * @tparam[opt] table options {indexing = "ij" (default) | "xy"}
 * @treturn Tensor... one grid per input (an array table when the inputs
 *   came as one)
 * @usage local X, Y = lg.meshgrid(xs, ys, {indexing = "xy"}) */
static int l_meshgrid(lua_State *L) {
  int top = lua_gettop(L), n = 0;
  bool xy = false, as_table = false;
  if (top >= 1 && lua_type(L, top) == LUA_TTABLE && !lgl_to_tensor(L, top) &&
      lua_rawlen(L, top) == 0) { /* the options */
    lgl_check_options(L, top, "meshgrid", LGL_OPTIONS("indexing"));
    lua_getfield(L, top, "indexing");
    if (!lua_isnil(L, -1)) {
      const char *ix = lua_tostring(L, -1);
      if (!ix || (strcmp(ix, "ij") != 0 && strcmp(ix, "xy") != 0))
        return luaL_error(L, "meshgrid: indexing must be \"ij\" or \"xy\", "
                          "got %s", ix ? ix : lgl_typename(L, -1));
      xy = strcmp(ix, "xy") == 0;
    }
    lua_pop(L, 1);
    top--;
  }
  lua_settop(L, top);
  if (top == 1 && lua_type(L, 1) == LUA_TTABLE && !lgl_to_tensor(L, 1)) {
    as_table = true;
    n = (int)lua_rawlen(L, 1);
    for (int i = 1; i <= n; i++) lua_rawgeti(L, 1, i);
    lua_remove(L, 1);
  } else {
    n = top;
  }
  if (n < 1 || n > LG_MAX_DIMS)
    return luaL_error(L, "meshgrid: expected 1 to %d tensors, got %d",
                      LG_MAX_DIMS, n);
  lg_tensor *xs[LG_MAX_DIMS], *outs[LG_MAX_DIMS];
  for (int i = 0; i < n; i++) xs[i] = lgl_check_tensor(L, i + 1, "meshgrid");
  if (as_table) lua_createtable(L, n, 0);
  lgl_box *boxes[LG_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    boxes[i] = lgl_new_box(L);
    if (as_table) lua_rawseti(L, n + 1, i + 1);
  }
  if (lg_meshgrid(lgl_ctx(L), n, xs, xy, outs) != LG_OK) return lgl_error(L);
  for (int i = 0; i < n; i++) lgl_box_set(boxes[i], outs[i]);
  lgl_gc_pressure(L, lgl_get_state(L));
  return as_table ? 1 : n;
}

/*** Moves dims to new positions; the others keep their order (a view).
 * @function movedim
 * @tparam Tensor t
 * @tparam int|{int,...} source
 * @tparam int|{int,...} destination as many as source
 * @treturn Tensor
 * @usage img:movedim(1, -1)  -- (C, H, W) -> (H, W, C) */
static int l_movedim(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "movedim");
  int nd = lg_tensor_ndim(t);
  lg_params src = {0}, dst = {0}, perm = {0};
  if (lua_isnoneornil(L, 2) || lua_isnoneornil(L, 3))
    return luaL_error(L, "movedim: expected source and destination dims");
  lgl_check_dims(L, 2, nd, "movedim", &src);
  lgl_check_dims(L, 3, nd, "movedim", &dst);
  if (src.n_ints != dst.n_ints)
    return luaL_error(L, "movedim: source and destination must have as many "
                      "dims, got %d and %d", src.n_ints, dst.n_ints);
  int64_t taken[LG_MAX_DIMS] = {0}, placed[LG_MAX_DIMS] = {0};
  for (int i = 0; i < nd; i++) perm.ints[i] = -1;
  for (int i = 0; i < src.n_ints; i++) {
    perm.ints[dst.ints[i]] = src.ints[i];
    taken[src.ints[i]] = placed[dst.ints[i]] = 1;
  }
  for (int i = 0, next = 0; i < nd; i++) { /* the rest, in order */
    if (placed[i]) continue;
    while (taken[next]) next++;
    perm.ints[i] = next++;
  }
  perm.n_ints = nd;
  return lgl_run_op(L, LG_OP_PERMUTE, 1, &t, &perm, 1);
}

/*** Splits dim into the given sizes (one may be -1), a view.
 * @function unflatten
 * @tparam Tensor t
 * @int dim
 * @tparam {int,...} sizes their product is the size of dim
 * @treturn Tensor
 * @usage x:unflatten(2, {4, -1})  -- (B, 12) -> (B, 4, 3) */
static int l_unflatten(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "unflatten");
  int nd = lg_tensor_ndim(t);
  if (nd == 0) return luaL_error(L, "unflatten: cannot unflatten a 0-d tensor");
  int64_t dim = lgl_check_dim(L, 2, nd, "unflatten"), sizes[LG_MAX_DIMS];
  luaL_argexpected(L, lua_type(L, 3) == LUA_TTABLE, 3, "table of sizes");
  int n = int_list(L, 3, "unflatten", "a size", sizes);
  if (n < 1 || nd - 1 + n > LG_MAX_DIMS)
    return luaL_error(L, "unflatten: expected 1 to %d sizes, got %d",
                      LG_MAX_DIMS - nd + 1, n);
  int64_t size = lg_tensor_sizes(t)[dim], known = 1;
  int infer = -1;
  for (int i = 0; i < n; i++) {
    if (sizes[i] == -1 && infer < 0) {
      infer = i;
    } else if (sizes[i] < 0) {
      return luaL_error(L, "unflatten: invalid size %I at position %d (one "
                        "size may be -1)", (lua_Integer)sizes[i], i + 1);
    } else {
      if (sizes[i] != 0 && known > INT64_MAX / sizes[i])
        return luaL_error(L, "unflatten: the sizes are too large");
      known *= sizes[i];
    }
  }
  if (infer >= 0 && known != 0 && size % known == 0) sizes[infer] = size / known;
  else if (infer >= 0) known = -1; /* cannot be inferred */
  if ((infer < 0 && known != size) || known < 0)
    return luaL_error(L, "unflatten: the sizes do not multiply to %I, the "
                      "size of dim %d", (lua_Integer)size, (int)dim + 1);
  lg_params p = {0};
  for (int i = 0; i < nd; i++) {
    if (i != dim) {
      p.ints[p.n_ints++] = lg_tensor_sizes(t)[i];
      continue;
    }
    for (int j = 0; j < n; j++) p.ints[p.n_ints++] = sizes[j];
  }
  return lgl_run_op(L, LG_OP_VIEW, 1, &t, &p, 1);
}

static int swap_named(lua_State *L, const char *fname) {
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  int nd = lg_tensor_ndim(t);
  int64_t d1 = lgl_check_dim(L, 2, nd, fname), d2 = lgl_check_dim(L, 3, nd, fname);
  lg_params p = {0};
  p.n_ints = nd;
  for (int i = 0; i < nd; i++) p.ints[i] = i == d1 ? d2 : i == d2 ? d1 : i;
  return lgl_run_op(L, LG_OP_PERMUTE, 1, &t, &p, 1);
}

/*** Swaps two dims (numpy's name for transpose), a view.
 * @function swapaxes
 * @tparam Tensor t
 * @int d1
 * @int d2
 * @treturn Tensor
 * @usage x:swapaxes(1, 2) */
static int l_swapaxes(lua_State *L) { return swap_named(L, "swapaxes"); }
/*** The same as swapaxes.
 * @function swapdims
 * @tparam Tensor t
 * @int d1
 * @int d2
 * @treturn Tensor
 * @usage x:swapdims(1, 2) */
static int l_swapdims(lua_State *L) { return swap_named(L, "swapdims"); }

/* t viewed with at least n dims, as torch.atleast_nd shapes it: 0-d ->
 * (1,..), 1-d (k) -> (1, k) and (1, k, 1), 2-d (a, b) -> (a, b, 1); a
 * tensor with enough dims comes back itself. Pushes the result. */
static void push_atleast(lua_State *L, int idx, int n, const char *fname) {
  lg_tensor *t = lgl_check_tensor(L, idx, fname);
  int nd = lg_tensor_ndim(t);
  if (nd >= n) {
    lua_pushvalue(L, idx);
    return;
  }
  const int64_t *s = lg_tensor_sizes(t);
  lg_params p = {0};
  p.n_ints = n;
  for (int i = 0; i < n; i++) p.ints[i] = 1;
  if (nd == 1) p.ints[n == 1 ? 0 : 1] = s[0];
  if (nd == 2) {
    p.ints[0] = s[0];
    p.ints[1] = s[1];
  }
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_run1(lgl_ctx(L), LG_OP_VIEW, t, &p, &out) != LG_OK) lgl_error(L);
  lgl_box_set(box, out);
}

static int atleast(lua_State *L, int n, const char *fname) {
  int top = lua_gettop(L);
  if (top == 1 && lua_type(L, 1) == LUA_TTABLE && !lgl_to_tensor(L, 1)) {
    int len = (int)lua_rawlen(L, 1);
    lua_createtable(L, len, 0);
    for (int i = 1; i <= len; i++) {
      lua_rawgeti(L, 1, i);
      push_atleast(L, lua_gettop(L), n, fname);
      lua_rawseti(L, 2, i);
      lua_pop(L, 1);
    }
    return 1;
  }
  if (top == 0) return luaL_error(L, "%s: expected a tensor", fname);
  luaL_checkstack(L, top, fname);
  for (int i = 1; i <= top; i++) push_atleast(L, i, n, fname);
  lgl_gc_pressure(L, lgl_get_state(L));
  return top;
}

/*** t viewed with at least 1 dim (several tensors: several results; an
 * array table: an array table).
 * @function atleast_1d
 * @tparam Tensor t
 * @treturn Tensor
 * @usage lg.atleast_1d(lg.tensor(3)).shape  -- {1} */
static int l_atleast_1d(lua_State *L) { return atleast(L, 1, "atleast_1d"); }
/*** t viewed with at least 2 dims: a vector (k) becomes (1, k).
 * @function atleast_2d
 * @tparam Tensor t
 * @treturn Tensor
 * @usage lg.atleast_2d(lg.ones(3)).shape  -- {1, 3} */
static int l_atleast_2d(lua_State *L) { return atleast(L, 2, "atleast_2d"); }
/*** t viewed with at least 3 dims: (k) -> (1, k, 1), (a, b) -> (a, b, 1).
 * @function atleast_3d
 * @tparam Tensor t
 * @treturn Tensor
 * @usage lg.atleast_3d(lg.ones(2, 3)).shape  -- {2, 3, 1} */
static int l_atleast_3d(lua_State *L) { return atleast(L, 3, "atleast_3d"); }

/* Methods that are also lg.X functions (self = argument 1). */
static const luaL_Reg shared_functions[] = {
    {"tril", l_tril},
    {"triu", l_triu},
    {"diag", l_diag},
    {"diagonal", l_diagonal},
    {"diag_embed", l_diag_embed},
    {"trace", l_trace},
    {"roll", l_roll},
    {"rot90", l_rot90},
    {"kron", l_kron},
    {"cross", l_cross},
    {"repeat_interleave", l_repeat_interleave},
    {"take_along_dim", l_take_along_dim},
    {"movedim", l_movedim},
    {"moveaxis", l_movedim},
    {"unflatten", l_unflatten},
    {"swapaxes", l_swapaxes},
    {"swapdims", l_swapdims},
    {NULL, NULL},
};

static const luaL_Reg module_only[] = {
    {"meshgrid", l_meshgrid},
    {"cdist", l_cdist},
    {"atleast_1d", l_atleast_1d},
    {"atleast_2d", l_atleast_2d},
    {"atleast_3d", l_atleast_3d},
    {NULL, NULL},
};

/* Registers the structure ops as methods and lg.X functions. */
void lgl_open_structure(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, shared_functions, shared_functions);
  lgl_register_family(L, T, module_only, NULL);
}
