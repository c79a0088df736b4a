/* ops_shape.c: Lua wrappers for the shape ops: views (view, expand,
 * transpose, permute, squeeze, unsqueeze, narrow, select, flatten, ...),
 * copies (reshape, flip, tile, contiguous), split/chunk, lg.cat and
 * lg.stack. Dims and positions are 1-based, negative from the end. */

/***
 * Shapes and views: view, reshape, permute, squeeze, cat, stack, split.
 * @module lg
 */
#include "lgl.h"

/* Integers given from idx on, or as one array table at idx, into out;
 * returns the count. */
static int check_ints(lua_State *L, int idx, const char *fname,
                      const char *what, int64_t *out) {
  int n = 0;
  if (lua_type(L, idx) == LUA_TTABLE && !lgl_to_tensor(L, idx)) {
    int len = (int)lua_rawlen(L, idx);
    if (len > LG_MAX_DIMS)
      luaL_error(L, "%s: expected at most %d values, got %d", fname,
                 LG_MAX_DIMS, len);
    for (int i = 1; i <= len; i++) {
      lua_rawgeti(L, idx, i);
      out[n++] = lgl_check_integer(L, -1, fname, what);
      lua_pop(L, 1);
    }
    return n;
  }
  int top = lua_gettop(L);
  for (int i = idx; i <= top; i++) {
    if (n == LG_MAX_DIMS)
      luaL_error(L, "%s: expected at most %d values", fname, LG_MAX_DIMS);
    out[n++] = lgl_check_integer(L, i, fname, what);
  }
  return n;
}

/* Sizes as in check_ints; -1 (infer / keep) is allowed, other negatives
 * are not. */
static int check_sizes(lua_State *L, int idx, const char *fname,
                       int64_t *sizes) {
  int n = check_ints(L, idx, fname, "a size", sizes);
  for (int i = 0; i < n; i++)
    if (sizes[i] < -1)
      luaL_error(L,
                 "%s: invalid size %I at position %d (sizes are >= 0, "
                 "or -1)",
                 fname, (lua_Integer)sizes[i], i + 1);
  return n;
}

/* Runs a one-input op whose params the caller filled. */
static int run1(lua_State *L, lg_op op, lg_tensor *t, const lg_params *p) {
  return lgl_run_op(L, op, 1, &t, p, 1);
}

static int sized(lua_State *L, lg_op op, const char *fname) {
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  lg_params p = {0};
  p.n_ints = check_sizes(L, 2, fname, p.ints);
  return run1(L, op, t, &p);
}

/*** A view of t with a new shape (sizes as integers or one table; one may be -1). The data must be laid out compatibly (see reshape).
 * @function Tensor:view
 * @param t a tensor
 * @param ... the sizes (integers or one table; one may be -1)
 * @return a tensor
 * @usage t:view(2, -1)
 */
/* t:view(sizes...) or t:view({sizes}); one size may be -1 */
static int l_view(lua_State *L) { return sized(L, LG_OP_VIEW, "view"); }
/*** t with a new shape: a view when strides allow, otherwise a copy.
 * @function reshape
 * @param t a tensor
 * @param ... the sizes (integers or one table; one may be -1)
 * @return a tensor
 * @usage lg.reshape(t, {3, 2})
 */
/* t:reshape(sizes...): a view when possible, otherwise a copy */
static int l_reshape(lua_State *L) {
  return sized(L, LG_OP_RESHAPE, "reshape");
}
/*** A view repeating size-1 dims (no copy); -1 keeps a size; new leading dims may be added.
 * @function Tensor:expand
 * @param t a tensor
 * @param ... the sizes (integers or one table; -1 keeps one)
 * @return a tensor
 * @usage t:expand(4, -1)
 */
/* t:expand(sizes...): -1 keeps a size; new leading dims allowed */
static int l_expand(lua_State *L) { return sized(L, LG_OP_EXPAND, "expand"); }

/*** t:expand(other.shape).
 * @function Tensor:expand_as
 * @param t a tensor
 * @param other the tensor whose shape to take
 * @return a tensor
 * @usage b:expand_as(a)
 */
/* t:expand_as(other) */
static int l_expand_as(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "expand_as");
  lg_tensor *other = lgl_check_tensor(L, 2, "expand_as");
  lg_params p = {0};
  p.n_ints = lg_tensor_ndim(other);
  for (int i = 0; i < lg_tensor_ndim(other); i++) p.ints[i] = lg_tensor_sizes(other)[i];
  return run1(L, LG_OP_EXPAND, t, &p);
}

/*** A view with the dims reordered (1-based dims as integers or a table).
 * @function permute
 * @param t a tensor
 * @param ... the dims in their new order (integers or one table)
 * @return a tensor
 * @usage t:permute(2, 1, 3)
 */
/* t:permute(dims...) or t:permute({dims}) */
static int l_permute(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "permute");
  lg_params p = {0};
  int64_t dims[LG_MAX_DIMS];
  int n = check_ints(L, 2, "permute", "a dim", dims);
  if (n != lg_tensor_ndim(t))
    return luaL_error(L,
                      "permute: expected %d dims (one per dim of the "
                      "tensor), got %d",
                      lg_tensor_ndim(t), n);
  for (int i = 0; i < n; i++) {
    p.ints[i] = lgl_dim_value(L, dims[i], lg_tensor_ndim(t), "permute");
    for (int j = 0; j < i; j++)
      if (p.ints[j] == p.ints[i])
        return luaL_error(L, "permute: dim %d appears twice",
                          (int)p.ints[i] + 1);
  }
  p.n_ints = n;
  return run1(L, LG_OP_PERMUTE, t, &p);
}

/* Pushes the permutation swapping d1 and d2 of t (0-based) and runs it. */
static int swap_dims(lua_State *L, lg_tensor *t, int64_t d1, int64_t d2) {
  lg_params p = {0};
  p.n_ints = lg_tensor_ndim(t);
  for (int i = 0; i < lg_tensor_ndim(t); i++) p.ints[i] = i;
  if (lg_tensor_ndim(t) > 0) {
    p.ints[d1] = d2;
    p.ints[d2] = d1;
  }
  return run1(L, LG_OP_PERMUTE, t, &p);
}

/*** A view with dims d1 and d2 swapped.
 * @function transpose
 * @param t a tensor
 * @param d1 a dim
 * @param d2 a dim
 * @return a tensor
 * @usage t:transpose(1, 2)
 */
/* t:transpose(d1, d2) */
static int l_transpose(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "transpose");
  int64_t d1 = lgl_check_dim(L, 2, lg_tensor_ndim(t), "transpose");
  int64_t d2 = lgl_check_dim(L, 3, lg_tensor_ndim(t), "transpose");
  return swap_dims(L, t, d1, d2);
}

/*** The transpose of a 2-D tensor (0-D and 1-D come back as views).
 * @function t
 * @param t a tensor of at most 2 dims
 * @return a tensor
 * @usage m:t()
 */
/* t:t(): transpose of a 2-d tensor; 0-d and 1-d come back as views */
static int l_t(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "t");
  if (lg_tensor_ndim(t) > 2)
    return luaL_error(L,
                      "t: expects a tensor with at most 2 dims, got a "
                      "%d-d one (use transpose or permute)",
                      lg_tensor_ndim(t));
  return swap_dims(L, t, 0, lg_tensor_ndim(t) == 2 ? 1 : 0);
}

/*** Removes size-1 dims: all of them, or dim d (an integer or a table); a dim whose size is not 1 is left alone.
 * @function squeeze
 * @param t a tensor
 * @param[opt] d a dim or a table of dims
 * @return a tensor
 * @usage t:squeeze(1)
 */
/* t:squeeze([d]): without d every size-1 dim goes; d may be a table of
 * dims; a dim whose size is not 1 is left alone, as in PyTorch */
static int l_squeeze(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "squeeze");
  lg_params p = {0};
  if (lua_isnoneornil(L, 2)) return run1(L, LG_OP_SQUEEZE, t, &p);
  if (lua_type(L, 2) != LUA_TTABLE) {
    p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), "squeeze");
    p.ints[0] = p.dim;
    p.n_ints = 1;
    return run1(L, LG_OP_SQUEEZE, t, &p);
  }
  /* several dims: the kept sizes form a view of t */
  lgl_check_dims(L, 2, lg_tensor_ndim(t), "squeeze", &p);
  bool drop[LG_MAX_DIMS] = {false};
  for (int i = 0; i < p.n_ints; i++)
    if (lg_tensor_ndim(t) > 0) drop[p.ints[i]] = lg_tensor_sizes(t)[p.ints[i]] == 1;
  lg_params v = {0};
  for (int i = 0; i < lg_tensor_ndim(t); i++)
    if (!drop[i]) v.ints[v.n_ints++] = lg_tensor_sizes(t)[i];
  return run1(L, LG_OP_VIEW, t, &v);
}

/*** Inserts a size-1 dim at d (1..ndim+1; -1 appends).
 * @function unsqueeze
 * @param t a tensor
 * @param d the position of the new dim
 * @return a tensor
 * @usage t:unsqueeze(1)
 */
/* t:unsqueeze(d): d in 1..ndim+1, or -1..-(ndim+1) (-1 appends) */
static int l_unsqueeze(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "unsqueeze");
  lg_params p = {0};
  p.dim = lgl_dim_value(L, lgl_check_integer(L, 2, "unsqueeze", "dim"),
                        lg_tensor_ndim(t) + 1, "unsqueeze");
  return run1(L, LG_OP_UNSQUEEZE, t, &p);
}

/*** Merges dims start..end (defaults 1 and -1) into one (a reshape).
 * @function flatten
 * @param t a tensor
 * @param[opt] start the first dim (default 1)
 * @param[opt] end the last dim (default -1)
 * @return a tensor
 * @usage t:flatten(2)
 */
/* t:flatten([start[, end]]): dims start..end merged into one (reshape) */
static int l_flatten(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "flatten");
  int64_t first = 0, last = lg_tensor_ndim(t) > 0 ? lg_tensor_ndim(t) - 1 : 0;
  if (!lua_isnoneornil(L, 2)) first = lgl_check_dim(L, 2, lg_tensor_ndim(t), "flatten");
  if (!lua_isnoneornil(L, 3)) last = lgl_check_dim(L, 3, lg_tensor_ndim(t), "flatten");
  if (first > last)
    return luaL_error(L, "flatten: start dim %d comes after end dim %d",
                      (int)first + 1, (int)last + 1);
  lg_params p = {0};
  if (lg_tensor_ndim(t) == 0) {
    p.ints[p.n_ints++] = 1;
  } else {
    int64_t merged = 1;
    for (int i = 0; i < lg_tensor_ndim(t); i++) {
      if (i < first || i > last) {
        p.ints[p.n_ints++] = lg_tensor_sizes(t)[i];
        continue;
      }
      merged *= lg_tensor_sizes(t)[i];
      if (i == last) p.ints[p.n_ints++] = merged;
    }
  }
  return run1(L, LG_OP_RESHAPE, t, &p);
}

/*** t itself when already contiguous, otherwise a contiguous copy.
 * @function Tensor:contiguous
 * @param t a tensor
 * @return a tensor
 * @usage t:t():contiguous()
 */
/* t:contiguous(): t itself (the same Lua value) when already contiguous,
 * otherwise a contiguous copy */
static int l_contiguous(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "contiguous");
  if (lg_tensor_is_contiguous(t)) {
    lua_pushvalue(L, 1);
    return 1;
  }
  return lgl_run_op(L, LG_OP_CLONE, 1, &t, NULL, 1);
}

/* A 1-based start (negative from the end) along a dim of the given size;
 * size + 1 is allowed (an empty range at the end). 0-based result. */
static int64_t check_start(lua_State *L, int64_t start, int64_t size,
                           const char *fname) {
  if (start == 0)
    luaL_error(L,
               "%s: start 0 is invalid: positions are 1-based (1..%I, "
               "or -1 for the last)",
               fname, (lua_Integer)size + 1);
  int64_t k = start > 0 ? start - 1 : start + size;
  if (k < 0 || k > size)
    luaL_error(L, "%s: start %I out of range for a dim of size %I", fname,
               (lua_Integer)start, (lua_Integer)size);
  return k;
}

/*** A view of positions start..start+length-1 (1-based) along dim d.
 * @function narrow
 * @param t a tensor
 * @param d a dim
 * @param start the first position (1-based)
 * @param length how many positions
 * @return a tensor
 * @usage t:narrow(1, 2, 3)
 */
/* t:narrow(d, start, length): a view of positions start..start+length-1 */
static int l_narrow(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "narrow");
  if (lg_tensor_ndim(t) == 0) return luaL_error(L, "narrow: cannot narrow a 0-d tensor");
  lg_params p = {0};
  p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), "narrow");
  p.start = check_start(L, lgl_check_integer(L, 3, "narrow", "start"),
                        lg_tensor_sizes(t)[p.dim], "narrow");
  p.length = lgl_check_integer(L, 4, "narrow", "length");
  return run1(L, LG_OP_NARROW, t, &p);
}

/*** The slice at position i (1-based, negative from the end) of dim d, which disappears.
 * @function select
 * @param t a tensor
 * @param d a dim
 * @param i a position (1-based; negative from the end)
 * @return a tensor
 * @usage t:select(2, 1)
 */
/* t:select(d, i): the slice at position i (1-based, negative from the
 * end) of dim d, which disappears */
static int l_select(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "select");
  if (lg_tensor_ndim(t) == 0)
    return luaL_error(L, "select: cannot select from a 0-d tensor");
  lg_params p = {0};
  p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(t), "select");
  int64_t i = lgl_check_integer(L, 3, "select", "index");
  int64_t size = lg_tensor_sizes(t)[p.dim];
  if (i == 0)
    return luaL_error(L,
                      "select: index 0 is invalid: indices are 1-based "
                      "(1..%I, or -1 for the last)",
                      (lua_Integer)size);
  p.start = i > 0 ? i - 1 : i; /* the kernel checks the range */
  return run1(L, LG_OP_SELECT, t, &p);
}

/*** Reverses the order along the given dims (integers or a table).
 * @function flip
 * @param t a tensor
 * @param ... dims (integers or one table)
 * @return a tensor
 * @usage t:flip(1)
 */
/* t:flip(dims...) or t:flip({dims}) */
static int l_flip(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "flip");
  lg_params p = {0};
  int64_t dims[LG_MAX_DIMS];
  int n = check_ints(L, 2, "flip", "a dim", dims);
  for (int i = 0; i < n; i++)
    p.ints[i] = lgl_dim_value(L, dims[i], lg_tensor_ndim(t), "flip");
  p.n_ints = n;
  return run1(L, LG_OP_FLIP, t, &p);
}

/*** Repeats t reps times along each dim (integers or a table), as PyTorch's tile.
 * @function tile
 * @param t a tensor
 * @param ... repetitions per dim (integers or one table)
 * @return a tensor
 * @usage t:tile(2, 1)
 */
/* t:tile(reps...) or t:tile({reps}) */
static int l_tile(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "tile");
  lg_params p = {0};
  p.n_ints = check_ints(L, 2, "tile", "a repetition", p.ints);
  for (int i = 0; i < p.n_ints; i++)
    if (p.ints[i] < 0)
      return luaL_error(L,
                        "tile: expected non-negative repetitions, got "
                        "%I",
                        (lua_Integer)p.ints[i]);
  return run1(L, LG_OP_TILE, t, &p);
}

/* Pushes an array of narrow views of t along dim with the given lengths
 * (sum = size of dim). Each box exists before its tensor. */
static int push_pieces(lua_State *L, lg_tensor *t, int64_t dim, int n,
                       const int64_t *lengths) {
  lg_ctx *ctx = lgl_ctx(L);
  lua_createtable(L, n, 0);
  int64_t start = 0;
  for (int k = 0; k < n; k++) {
    lgl_box *box = lgl_new_box(L);
    lg_params p = {0};
    p.dim = dim;
    p.start = start;
    p.length = lengths[k];
    lg_tensor *part = NULL;
    if (lg_run1(ctx, LG_OP_NARROW, t, &p, &part) != LG_OK)
      return lgl_error(L);
    lgl_box_set(box, part);
    lua_rawseti(L, -2, k + 1);
    start += lengths[k];
  }
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/* The tensor at 1 (not 0-d) and the dim at dim_idx (default the first)
 * of split, chunk and unbind. */
static lg_tensor *check_pieces_of(lua_State *L, const char *fname, int dim_idx,
                                  int64_t *dim) {
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  int ndim = lg_tensor_ndim(t);
  if (ndim == 0) luaL_error(L, "%s: cannot %s a 0-d tensor", fname, fname);
  *dim = lua_isnoneornil(L, dim_idx) ? 0
                                     : lgl_check_dim(L, dim_idx, ndim, fname);
  return t;
}

/*** The slices along d (default 1) as ONE array table of views (PyTorch: a tuple); their gradients meet in one backward node.
 * @function unbind
 * @param t a tensor
 * @param[opt] d a dim (default 1)
 * @return a tensor (or an array of tensors)
 * @usage for i, row in ipairs(t:unbind()) do print(row) end
 */
/* t:unbind([d]) / lg.unbind(t, [d]): the slices along d (default 1) as
 * ONE array table of views sharing one graph node (lg_unbind), so a
 * sequence split into steps gets one gradient, not one per step. */
static int l_unbind(lua_State *L) {
  int64_t dim;
  lg_tensor *t = check_pieces_of(L, "unbind", 2, &dim);
  int64_t n = lg_tensor_sizes(t)[dim];
  if (n > 0x7fffffff)
    return luaL_error(L, "unbind: too many slices (%I)", (lua_Integer)n);
  lua_createtable(L, (int)n, 0);
  size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(void *);
  lg_tensor **outs = lua_newuserdatauv(L, bytes, 0);
  lgl_box **boxes = lua_newuserdatauv(L, bytes, 0);
  for (int64_t k = 0; k < n; k++) { /* boxes first: no tensor can leak */
    boxes[k] = lgl_new_box(L);
    lua_rawseti(L, -4, k + 1);
  }
  if (lg_unbind(lgl_ctx(L), t, dim, outs) != LG_OK) return lgl_error(L);
  for (int64_t k = 0; k < n; k++) lgl_box_set(boxes[k], outs[k]);
  lua_pop(L, 2);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/*** Pieces of size `size` (or of the sizes in a table) along d (default 1), as ONE array table of views (PyTorch: a tuple).
 * @function split
 * @param t a tensor
 * @param size a piece size, or a table of sizes
 * @param[opt] d a dim (default 1)
 * @return a tensor (or an array of tensors)
 * @usage local parts = t:split(2)
 */
/* t:split(size, [d]) or t:split({sizes}, [d]): pieces along d (default 1).
 * PyTorch returns a tuple; here the result is ONE array table of views. */
static int l_split(lua_State *L) {
  int64_t dim;
  lg_tensor *t = check_pieces_of(L, "split", 3, &dim);
  int64_t size = lg_tensor_sizes(t)[dim];
  if (lua_type(L, 2) == LUA_TTABLE) {
    int n = (int)lua_rawlen(L, 2);
    int64_t *lengths =
        lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), 0);
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
      lua_rawgeti(L, 2, k + 1);
      lengths[k] = lgl_check_integer(L, -1, "split", "a size");
      lua_pop(L, 1);
      if (lengths[k] < 0)
        return luaL_error(L,
                          "split: expected non-negative sizes, got %I "
                          "at position %d",
                          (lua_Integer)lengths[k], k + 1);
      total += lengths[k];
    }
    if (total != size)
      return luaL_error(L,
                        "split: the sizes sum to %I but dim %d has size "
                        "%I",
                        (lua_Integer)total, (int)dim + 1, (lua_Integer)size);
    return push_pieces(L, t, dim, n, lengths);
  }
  int64_t piece = lgl_check_integer(L, 2, "split", "the split size");
  if (piece < 1 && !(piece == 0 && size == 0))
    return luaL_error(L, "split: expected a positive split size, got %I",
                      (lua_Integer)piece);
  int64_t n = size == 0 ? 1 : (size - 1) / piece + 1; /* no overflow */
  if (n > 0x7fffffff)
    return luaL_error(L, "split: too many pieces (%I)", (lua_Integer)n);
  int64_t *lengths = lua_newuserdatauv(L, (size_t)n * sizeof(int64_t), 0);
  for (int64_t k = 0; k < n; k++)
    lengths[k] = k < n - 1 ? piece : size - piece * (n - 1);
  return push_pieces(L, t, dim, (int)n, lengths);
}

/*** At most n pieces of ceil(size / n) along d (default 1), as ONE array table of views.
 * @function chunk
 * @param t a tensor
 * @param n the number of pieces
 * @param[opt] d a dim (default 1)
 * @return a tensor (or an array of tensors)
 * @usage local a_b = t:chunk(2, 2)
 */
/* t:chunk(n, [d]): at most n pieces of ceil(size / n) along d (default 1),
 * as in PyTorch; returned as ONE array table of views (not a tuple) */
static int l_chunk(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "chunk");
  if (lg_tensor_ndim(t) == 0) return luaL_error(L, "chunk: cannot chunk a 0-d tensor");
  int64_t chunks = lgl_check_integer(L, 2, "chunk", "the number of chunks");
  if (chunks < 1)
    return luaL_error(L,
                      "chunk: expected a positive number of chunks, got "
                      "%I",
                      (lua_Integer)chunks);
  int64_t dim =
      lua_isnoneornil(L, 3) ? 0 : lgl_check_dim(L, 3, lg_tensor_ndim(t), "chunk");
  int64_t size = lg_tensor_sizes(t)[dim];
  /* ceilings written so that a huge chunks cannot overflow */
  int64_t piece = size == 0 ? 0 : 1 + (size - 1) / chunks;
  int64_t n = size == 0 ? chunks : 1 + (size - 1) / piece;
  if (n > 0x7fffffff)
    return luaL_error(L, "chunk: too many chunks (%I)", (lua_Integer)n);
  int64_t *lengths = lua_newuserdatauv(L, (size_t)n * sizeof(int64_t), 0);
  for (int64_t k = 0; k < n; k++)
    lengths[k] = size == 0 ? 0 : k < n - 1 ? piece : size - piece * (n - 1);
  return push_pieces(L, t, dim, (int)n, lengths);
}

/* The tensors of the array table at idx, in a userdata array pushed on the
 * stack (so a Lua error cannot leak it). */
static lg_tensor **check_tensor_list(lua_State *L, int idx, const char *fname,
                                     int *n) {
  if (lua_type(L, idx) != LUA_TTABLE || lgl_to_tensor(L, idx))
    luaL_error(L, "%s: expected an array table of tensors, got %s", fname,
               lgl_typename(L, idx));
  int len = (int)lua_rawlen(L, idx);
  if (len < 1) luaL_error(L, "%s: expected a non-empty list of tensors", fname);
  lg_tensor **list = lua_newuserdatauv(L, (size_t)len * sizeof *list, 0);
  for (int k = 0; k < len; k++) {
    lua_rawgeti(L, idx, k + 1);
    list[k] = lgl_to_tensor(L, -1);
    if (!list[k])
      luaL_error(L,
                 "%s: expected a tensor at position %d of the list, got "
                 "%s",
                 fname, k + 1, lgl_typename(L, -1));
    lua_pop(L, 1);
  }
  *n = len;
  return list;
}

/*** Joins an array of tensors along an existing dim d (default 1). Alias concat.
 * @function cat
 * @param tensors an array of tensors
 * @param[opt] d a dim (default 1)
 * @return a tensor
 * @usage lg.cat({a, b}, 2)
 */
/*** Alias of cat.
 * @function concat
 * @usage lg.concat({a, b}, 1)
 */
/* lg.cat(list, [d]): join along dim d (default 1) */
static int l_cat(lua_State *L) {
  int n;
  lua_settop(L, 2); /* the list's userdata goes above the arguments */
  lg_tensor **list = check_tensor_list(L, 1, "cat", &n);
  lg_params p = {0};
  if (!lua_isnoneornil(L, 2)) p.dim = lgl_check_dim(L, 2, lg_tensor_ndim(list[0]), "cat");
  return lgl_run_op(L, LG_OP_CAT, n, list, &p, 0);
}

/*** Joins an array of tensors of one shape along a new dim d (default 1; 1..ndim+1).
 * @function stack
 * @param tensors an array of tensors of one shape
 * @param[opt] d the new dim (default 1)
 * @return a tensor
 * @usage lg.stack({a, b})
 */
/* lg.stack(list, [d]): join along a new dim d (default 1; 1..ndim+1) */
static int l_stack(lua_State *L) {
  int n;
  lua_settop(L, 2);
  lg_tensor **list = check_tensor_list(L, 1, "stack", &n);
  int64_t dim = 0;
  if (!lua_isnoneornil(L, 2))
    dim = lgl_dim_value(L, lgl_check_integer(L, 2, "stack", "dim"),
                        lg_tensor_ndim(list[0]) + 1, "stack");
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_stack(lgl_ctx(L), n, list, dim, &out) != LG_OK) return lgl_error(L);
  lgl_box_set(box, out);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/* Methods that PyTorch also has as torch.X functions (self = argument 1). */
static const luaL_Reg shared_functions[] = {
    {"reshape", l_reshape},
    {"transpose", l_transpose},
    {"t", l_t},
    {"permute", l_permute},
    {"squeeze", l_squeeze},
    {"unsqueeze", l_unsqueeze},
    {"flatten", l_flatten},
    {"narrow", l_narrow},
    {"select", l_select},
    {"flip", l_flip},
    {"tile", l_tile},
    {"split", l_split},
    {"chunk", l_chunk},
    {"unbind", l_unbind},
    {NULL, NULL},
};

static const luaL_Reg method_only[] = {
    {"view", l_view},
    {"expand", l_expand},
    {"expand_as", l_expand_as},
    {"contiguous", l_contiguous},
    {NULL, NULL},
};

static const luaL_Reg module_only[] = {
    {"cat", l_cat},
    {"concat", l_cat},
    {"stack", l_stack},
    {NULL, NULL},
};

/* Registers the shape methods and lg.cat, lg.stack, lg.reshape, ... */
void lgl_open_shape(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, shared_functions, shared_functions);
  lgl_register_family(L, T, module_only, method_only);
}
