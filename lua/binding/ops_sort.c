/* ops_sort.c: the Lua face of the sorting ops (runtime/ops/sort.c): sort,
 * argsort, msort, topk, kthvalue, median, cummax, cummin and unique, each
 * a module function lg.name(t, ...) and a tensor method t:name(...).
 *
 * PyTorch's keyword arguments are given positionally in PyTorch's order or
 * in a trailing options table (t:sort(2, {descending = true})); dims and
 * the returned indices are 1-based, dims negative from the end:
 *   t:sort([dim=-1][, descending][, stable])        -> values, indices
 *   t:argsort([dim=-1][, descending][, stable])     -> indices
 *   t:msort()                                       -> t:sort(1) values
 *   t:topk(k[, dim=-1][, largest=true][, sorted=true]) -> values, indices
 *   t:kthvalue(k[, dim=-1][, keepdim])              -> values, indices
 *   t:median()  -> 0-d lower median;  t:median(dim[, keepdim]) -> values,
 *   indices
 *   t:cummax(dim), t:cummin(dim)                    -> values, indices
 *   t:unique([sorted][, return_inverse][, return_counts][, dim])
 *     -> values[, inverse][, counts] (the result is always sorted)
 */
#include "lgl.h"

/* The index of a trailing options table at or after first (0: none). */
static int options_index(lua_State *L, int first) {
  for (int i = first; i <= lua_gettop(L); i++)
    if (lua_type(L, i) == LUA_TTABLE && !lgl_to_tensor(L, i)) return i;
  return 0;
}

/* Pushes keyword k (0-based) of those starting at argument first: given
 * positionally before the options table opts, or as a field of opts. */
static void push_keyword(lua_State *L, int first, int opts, int k,
                         const char *name) {
  if (opts && first + k >= opts) lua_getfield(L, opts, name);
  else lua_pushvalue(L, first + k);
}

/* Keyword k as a 0-based dim of t (nil: dflt, 1-based). */
static int64_t keyword_dim(lua_State *L, int first, int opts, int k,
                           const lg_tensor *t, int64_t dflt,
                           const char *fname) {
  push_keyword(L, first, opts, k, "dim");
  int64_t dim = dflt;
  if (!lua_isnil(L, -1)) dim = lgl_check_integer(L, -1, fname, "dim");
  lua_pop(L, 1);
  return lgl_dim_value(L, dim, lg_tensor_ndim(t), fname);
}

static bool keyword_bool(lua_State *L, int first, int opts, int k,
                         const char *name, bool dflt, const char *fname) {
  push_keyword(L, first, opts, k, name);
  return lgl_pop_boolean(L, dflt, fname, name);
}

/* sort's and argsort's arguments: [dim][, descending][, stable]. */
static int sort_args(lua_State *L, const char *fname, lg_tensor **t,
                     lg_params *p) {
  *t = lgl_check_tensor(L, 1, fname);
  int opts = options_index(L, 2);
  if (opts)
    lgl_check_options(L, opts, fname,
                      LGL_OPTIONS("dim", "descending", "stable"));
  p->dim = keyword_dim(L, 2, opts, 0, *t, -1, fname);
  p->ints[0] = keyword_bool(L, 2, opts, 1, "descending", false, fname);
  p->ints[1] = keyword_bool(L, 2, opts, 2, "stable", false, fname);
  return lgl_run_op(L, LG_OP_SORT, 1, t, p, 1);
}

/*** Sorts along a dim.
 * @function sort
 * @param t tensor
 * @param[opt=-1] dim the dim (1-based, negative from the end)
 * @param[opt=false] descending largest first
 * @param[opt=false] stable keep the order of equal elements (always kept)
 * @return values, and 1-based int64 indices into t along dim
 * @usage local v, i = t:sort(2, {descending = true})
 */
static int l_sort(lua_State *L) {
  lg_tensor *t;
  lg_params p = {0};
  return sort_args(L, "sort", &t, &p);
}

/*** The indices that sort a tensor along a dim.
 * @function argsort
 * @param t tensor
 * @param[opt=-1] dim the dim
 * @param[opt=false] descending largest first
 * @param[opt=false] stable keep the order of equal elements
 * @return 1-based int64 indices
 * @usage local order = scores:argsort({descending = true})
 */
static int l_argsort(lua_State *L) {
  lg_tensor *t;
  lg_params p = {0};
  sort_args(L, "argsort", &t, &p);
  lua_remove(L, -2);
  return 1;
}

/*** Sorts along the first dim (values only).
 * @function msort
 * @param t tensor
 * @return the sorted values
 * @usage local s = lg.msort(t)
 */
static int l_msort(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "msort");
  if (!lua_isnone(L, 2))
    return luaL_error(L, "msort: expected only a tensor, got a %s as "
                      "argument 2", lgl_typename(L, 2));
  lg_params p = {0};
  lgl_run_op(L, LG_OP_SORT, 1, &t, &p, 1);
  lua_pop(L, 1);
  return 1;
}

/* topk's and kthvalue's t, k and [dim = -1] into p->length and p->dim;
 * returns the options table's index (0: none). */
static int k_and_dim(lua_State *L, const char *fname,
                     const char *const *options, lg_tensor **t,
                     lg_params *p) {
  *t = lgl_check_tensor(L, 1, fname);
  int opts = options_index(L, 3);
  if (opts) lgl_check_options(L, opts, fname, options);
  p->length = lgl_check_integer(L, 2, fname, "k");
  p->dim = keyword_dim(L, 3, opts, 0, *t, -1, fname);
  return opts;
}

/*** The k largest (or smallest) elements along a dim.
 * @function topk
 * @param t tensor
 * @param k how many (0..size of dim)
 * @param[opt=-1] dim the dim
 * @param[opt=true] largest the largest, else the smallest
 * @param[opt=true] sorted in order (always sorted)
 * @return values, and 1-based int64 indices
 * @usage local v, i = logits:topk(5)
 */
static int l_topk(lua_State *L) {
  lg_tensor *t;
  lg_params p = {0};
  int opts = k_and_dim(L, "topk", LGL_OPTIONS("dim", "largest", "sorted"),
                       &t, &p);
  /* sort.c's ints[0] is descending: the largest first */
  p.ints[0] = keyword_bool(L, 3, opts, 1, "largest", true, "topk");
  p.ints[1] = keyword_bool(L, 3, opts, 2, "sorted", true, "topk");
  return lgl_run_op(L, LG_OP_TOPK, 1, &t, &p, 1);
}

/*** The k-th smallest element along a dim.
 * @function kthvalue
 * @param t tensor
 * @param k which one (1-based)
 * @param[opt=-1] dim the dim
 * @param[opt=false] keepdim keep dim as size 1
 * @return values, and 1-based int64 indices
 * @usage local v, i = t:kthvalue(2, 1)
 */
static int l_kthvalue(lua_State *L) {
  lg_tensor *t;
  lg_params p = {0};
  int opts = k_and_dim(L, "kthvalue", LGL_OPTIONS("dim", "keepdim"), &t, &p);
  if (keyword_bool(L, 3, opts, 1, "keepdim", false, "kthvalue"))
    p.flags |= LG_FLAG_KEEPDIM;
  return lgl_run_op(L, LG_OP_KTHVALUE, 1, &t, &p, 1);
}

/*** The median: the lower one of all elements, or along a dim.
 * @function median
 * @param t tensor
 * @param[opt] dim the dim; without it, the median of every element
 * @param[opt=false] keepdim keep dim as size 1
 * @return a 0-d tensor; along a dim: values, and 1-based int64 indices
 * @usage local m = t:median(); local v, i = t:median(2)
 */
static int l_median(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "median");
  lg_params p = {0};
  int opts = options_index(L, 2);
  if (opts) lgl_check_options(L, opts, "median", LGL_OPTIONS("dim", "keepdim"));
  push_keyword(L, 2, opts, 0, "dim");
  bool all = lua_isnil(L, -1);
  lua_pop(L, 1);
  if (!all) {
    p.dim = keyword_dim(L, 2, opts, 0, t, -1, "median");
    if (keyword_bool(L, 2, opts, 1, "keepdim", false, "median"))
      p.flags |= LG_FLAG_KEEPDIM;
    return lgl_run_op(L, LG_OP_MEDIAN, 1, &t, &p, 1);
  }
  if (lg_tensor_numel(t) == 0)
    return luaL_error(L, "median: expected a non-empty tensor, got one with "
                      "no elements");
  /* of every element: along the one dim of the flattened tensor */
  lg_params flat = {0};
  flat.n_ints = 1;
  flat.ints[0] = -1;
  lgl_run_op(L, LG_OP_RESHAPE, 1, &t, &flat, 1);
  lg_tensor *f = lgl_check_tensor(L, -1, "median");
  lgl_run_op(L, LG_OP_MEDIAN, 1, &f, &p, 0);
  lua_pop(L, 1); /* the index */
  return 1;
}

/* cummax/cummin: t:op(dim), the dim required as in PyTorch. */
static int cum_extreme(lua_State *L, lg_op op) {
  const char *fname = lg_op_name(op);
  lg_tensor *t = lgl_check_tensor(L, 1, fname);
  int opts = options_index(L, 2);
  if (opts) lgl_check_options(L, opts, fname, LGL_OPTIONS("dim"));
  push_keyword(L, 2, opts, 0, "dim");
  if (lua_isnil(L, -1))
    return luaL_error(L, "%s: expected a dim as argument 2, got nil", fname);
  lua_pop(L, 1);
  lg_params p = {0};
  p.dim = keyword_dim(L, 2, opts, 0, t, -1, fname);
  return lgl_run_op(L, op, 1, &t, &p, 1);
}

/*** Running maximum along a dim.
 * @function cummax
 * @param t tensor
 * @param dim the dim
 * @return values, and the 1-based int64 index where each was reached
 * @usage local best, at = losses:neg():cummax(1)
 */
static int l_cummax(lua_State *L) { return cum_extreme(L, LG_OP_CUMMAX); }

/*** Running minimum along a dim.
 * @function cummin
 * @param t tensor
 * @param dim the dim
 * @return values, and the 1-based int64 index where each was reached
 * @usage local best, at = losses:cummin(1)
 */
static int l_cummin(lua_State *L) { return cum_extreme(L, LG_OP_CUMMIN); }

/*** The distinct elements (or slices along a dim), ascending.
 * Not differentiable. The result is sorted also for sorted = false (an
 * order PyTorch allows).
 * @function unique
 * @param t tensor
 * @param[opt=true] sorted ascending order
 * @param[opt=false] return_inverse also return, for each element (slice),
 *   the 1-based index of its value in the result
 * @param[opt=false] return_counts also return how often each value occurs
 * @param[opt] dim unique slices along this dim; nil: of the flattened tensor
 * @return values[, inverse][, counts]
 * @usage local vals, inv, counts =
 *   t:unique({return_inverse = true, return_counts = true})
 */
static int l_unique(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "unique");
  int opts = options_index(L, 2);
  if (opts)
    lgl_check_options(L, opts, "unique", LGL_OPTIONS("sorted", "return_inverse",
                                                     "return_counts", "dim"));
  keyword_bool(L, 2, opts, 0, "sorted", true, "unique");
  bool inverse = keyword_bool(L, 2, opts, 1, "return_inverse", false, "unique");
  bool counts = keyword_bool(L, 2, opts, 2, "return_counts", false, "unique");
  lg_params p = {0};
  push_keyword(L, 2, opts, 3, "dim");
  p.n_ints = lua_isnil(L, -1) ? -1 : 0;
  lua_pop(L, 1);
  if (p.n_ints == 0) p.dim = keyword_dim(L, 2, opts, 3, t, -1, "unique");
  lgl_box *boxes[3];
  for (int i = 0; i < 3; i++) boxes[i] = lgl_new_box(L);
  lg_tensor *outs[3] = {NULL, NULL, NULL};
  if (lg_op_run(lgl_ctx(L), LG_OP_UNIQUE, 1, &t, &p, outs) != LG_OK)
    return lgl_error(L);
  for (int i = 0; i < 3; i++) lgl_box_set(boxes[i], outs[i]);
  lgl_gc_pressure(L, lgl_get_state(L));
  if (!counts) lua_pop(L, 1);
  if (!inverse) lua_remove(L, counts ? -2 : -1);
  return 1 + inverse + counts;
}

static const luaL_Reg sort_functions[] = {
    {"sort", l_sort},         {"argsort", l_argsort}, {"msort", l_msort},
    {"topk", l_topk},         {"kthvalue", l_kthvalue}, {"median", l_median},
    {"cummax", l_cummax},     {"cummin", l_cummin},   {"unique", l_unique},
    {NULL, NULL}};

/* Registers the sorting ops as module functions and tensor methods. */
void lgl_open_sort(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, sort_functions, sort_functions);
}
