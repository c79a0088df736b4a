/* tensor_meta.c: the luagrad.Tensor metatable: release (__close; boxes
 * have no __gc, see lgl_box),
 * field access (__index: methods, properties, t[i], t[{...}], masks),
 * assignment (__newindex), #t, tostring and the print options that shape
 * it (lg.set_printoptions), arithmetic operators, and the basic methods
 * (size, item, tolist, to, fill_, copy_, ...). */

/***
 * Tensor methods: sizes, conversion, copies; print options.
 * @module lg
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lgl_out.h"

#define METHODS_UPVALUE LGL_EXTRA_UPVALUE

/* __close: releases the tensor now (boxes have no __gc: see lgl_box) */
static int t_release(lua_State *L) {
  if (lgl_to_tensor(L, 1)) lgl_box_release(lua_touserdata(L, 1));
  return 0;
}

/* Pushes one element as a Lua value (integer, number or boolean). */
static void push_element(lua_State *L, const lg_tensor *t, int64_t flat) {
  if (lg_tensor_dtype(t) == LG_BOOL)
    lua_pushboolean(L, lg_tensor_get_int(t, flat) != 0);
  else if (lg_dtype_is_float(lg_tensor_dtype(t)))
    lua_pushnumber(L, lg_tensor_get(t, flat));
  else
    lua_pushinteger(L, (lua_Integer)lg_tensor_get_int(t, flat));
}

/* ---- indexing ------------------------------------------------------------ */

/* One step of a multi-index: SELECT (integer) or NARROW (range). */
typedef struct index_step {
  lg_op op;
  int64_t dim, start, length;
} index_step;

/* A 1-based position (negative from the end) in a dim of size n. */
static int64_t check_position(lua_State *L, int64_t i, int64_t n, int dim,
                              const char *what) {
  if (i == 0)
    luaL_error(L, "%s: index 0 is invalid at dim %d: indices are 1-based "
               "(1..%I, or -1 for the last)", what, dim + 1, (lua_Integer)n);
  int64_t k = i > 0 ? i - 1 : n + i;
  if (k < 0 || k >= n)
    luaL_error(L, "%s: index %I is out of range for dim %d of size %I",
               what, (lua_Integer)i, dim + 1, (lua_Integer)n);
  return k;
}

/* Plans t[key] for an integer or a Torch7 table key, validating everything
 * before any tensor is made. Returns the number of steps; *all_ints tells
 * whether every entry selected (so a 0-d result may be returned as a
 * number: see element_as_tensor). */
static int plan_index(lua_State *L, const lg_tensor *t, int key,
                      index_step *steps, bool *all_ints) {
  const char *what = "index";
  *all_ints = true;
  if (lua_type(L, key) == LUA_TNUMBER) {
    if (lg_tensor_ndim(t) == 0)
      luaL_error(L, "index: a 0-d tensor can't be indexed; use item()");
    int64_t i = lgl_check_integer(L, key, what, "the index");
    steps[0] = (index_step){LG_OP_SELECT, 0,
                            check_position(L, i, lg_tensor_sizes(t)[0], 0, what), 1};
    return 1;
  }
  int n = (int)lua_rawlen(L, key);
  if (n > lg_tensor_ndim(t))
    luaL_error(L, "index: %d entries for a %d-d tensor", n, lg_tensor_ndim(t));
  int dim = 0, out_dim = 0; /* dim in t, dim in the partially indexed view */
  for (int k = 1; k <= n; k++, dim++) {
    lua_rawgeti(L, key, k);
    int64_t size = lg_tensor_sizes(t)[dim];
    if (lua_type(L, -1) == LUA_TNUMBER) {
      int64_t i = lgl_check_integer(L, -1, what, "the index");
      steps[k - 1] = (index_step){LG_OP_SELECT, out_dim,
                                  check_position(L, i, size, dim, what), 1};
    } else if (lua_type(L, -1) == LUA_TTABLE) {
      *all_ints = false;
      int len = (int)lua_rawlen(L, -1);
      int64_t first = 0, last = size - 1;
      if (len > 2)
        luaL_error(L, "index: a range is {first, last}, got %d entries at "
                   "position %d", len, k);
      if (len >= 1) {
        lua_rawgeti(L, -1, 1);
        first = check_position(L, lgl_check_integer(L, -1, what, "a range"),
                               size, dim, what);
        lua_pop(L, 1);
        last = first;
      }
      if (len == 2) {
        lua_rawgeti(L, -1, 2);
        last = check_position(L, lgl_check_integer(L, -1, what, "a range"),
                              size, dim, what);
        lua_pop(L, 1);
      }
      if (last < first)
        luaL_error(L, "index: empty range {%I, %I} at dim %d",
                   (lua_Integer)first + 1, (lua_Integer)last + 1, dim + 1);
      steps[k - 1] = (index_step){LG_OP_NARROW, out_dim, first,
                                  last - first + 1};
      out_dim++;
    } else {
      luaL_error(L, "index: expected an integer or a {first, last} range at "
                 "position %d, got %s", k, lgl_typename(L, -1));
    }
    lua_pop(L, 1);
  }
  if (n < lg_tensor_ndim(t)) *all_ints = false;
  return n;
}

/* Runs the planned steps; returns a new reference (t itself retained when
 * there is nothing to do) or NULL with the context's error set. */
static lg_tensor *run_index(lg_ctx *ctx, lg_tensor *t, const index_step *s,
                            int n) {
  lg_tensor *cur = lg_tensor_retain(t);
  for (int i = 0; i < n; i++) {
    lg_params p = {0};
    p.dim = s[i].dim;
    p.start = s[i].start;
    p.length = s[i].length;
    lg_tensor *next = NULL;
    lg_status st = lg_run1(ctx, s[i].op, cur, &p, &next);
    lg_tensor_release(cur);
    if (st) return NULL;
    cur = next;
  }
  return cur;
}

/* t[mask] (bool) -> masked_select; t[idx] (integer) -> index_select dim 1 */
static int index_by_tensor(lua_State *L, lg_tensor *t, lg_tensor *key) {
  lg_tensor *in[2] = {t, key};
  lg_params p = {0};
  if (lg_tensor_dtype(key) == LG_BOOL)
    return lgl_run_op(L, LG_OP_MASKED_SELECT, 2, in, &p, 0);
  if (lg_dtype_is_float(lg_tensor_dtype(key)) || lg_tensor_dtype(key) == LG_UINT8)
    return luaL_error(L, "index: a tensor index must be bool (a mask) or "
                      "int64/int32 (1-based indices), got %s",
                      lg_dtype_name(lg_tensor_dtype(key)));
  return lgl_run_op(L, LG_OP_INDEX_SELECT, 2, in, &p, 0);
}

static int push_property(lua_State *L, lg_tensor *t, const char *key) {
  if (strcmp(key, "shape") == 0) {
    lgl_push_shape(L, lg_tensor_ndim(t), lg_tensor_sizes(t));
  } else if (strcmp(key, "dtype") == 0) {
    lua_pushstring(L, lg_dtype_name(lg_tensor_dtype(t)));
  } else if (strcmp(key, "ndim") == 0) {
    lua_pushinteger(L, lg_tensor_ndim(t));
  } else {
    return lgl_autograd_property(L, t, key); /* unknown keys read as nil */
  }
  return 1;
}

/* Whether t[i] that reaches a single element returns it as a 0-d tensor
 * instead of a Lua number: when t takes part in autograd (requires grad,
 * or has a grad_fn), so that the element keeps the graph. A plain
 * tensor's element stays a number (Torch7's convention).
 * A batched tensor's element is a batch of numbers and a dual tensor's
 * has a tangent, so both are tensors too. */
static bool element_as_tensor(const lg_tensor *t) {
  return lg_tensor_requires_grad(t) || lg_tensor_batch_level(t) != 0 ||
         lg_tensor_is_dual(t);
}

static int t_index(lua_State *L) {
  int type = lua_type(L, 2);
  if (type == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, METHODS_UPVALUE) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    lg_tensor *t = lgl_check_tensor(L, 1, "index");
    if (push_property(L, t, lua_tostring(L, 2))) return 1;
    lua_pushnil(L);
    return 1;
  }
  lg_tensor *t = lgl_check_tensor(L, 1, "index");
  if (type == LUA_TNUMBER || type == LUA_TTABLE) {
    index_step steps[LG_MAX_DIMS];
    bool all_ints;
    int n = plan_index(L, t, 2, steps, &all_ints);
    lgl_box *box = lgl_new_box(L);
    lg_tensor *r = run_index(lgl_ctx(L), t, steps, n);
    if (!r) return lgl_error(L);
    lgl_box_set(box, r);
    if (all_ints && lg_tensor_ndim(r) == 0 && !element_as_tensor(t)) {
      lgl_trace_check_read(L, "t[i] (a number)");
      push_element(L, r, 0);
    }
    return 1;
  }
  lg_tensor *key = lgl_to_tensor(L, 2);
  if (key) return index_by_tensor(L, t, key);
  return luaL_error(L, "index: expected a method name, an integer, a table "
                    "or a tensor as key, got %s", lgl_typename(L, 2));
}

/* Writes v (number, boolean or tensor at v_idx) into the view dst. */
static void assign_into(lua_State *L, lg_tensor *dst, int v_idx) {
  lg_ctx *ctx = lgl_ctx(L);
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE;
  lg_tensor *out = NULL, *src = lgl_to_tensor(L, v_idx);
  lg_status st;
  if (src) {
    lg_tensor *in[2] = {dst, src};
    st = lg_op_run(ctx, LG_OP_COPY, 2, in, &p, &out);
  } else if (lgl_to_scalar(L, v_idx, &p, 0)) {
    st = lg_op_run(ctx, LG_OP_FILL, 1, &dst, &p, &out);
  } else {
    lg_tensor_release(dst);
    luaL_error(L, "assign: expected a number, boolean or tensor as the "
               "value, got %s", lgl_typename(L, v_idx));
    return;
  }
  lg_tensor_release(out);
  lg_tensor_release(dst);
  if (st) { /* the user wrote t[k] = v, not copy_ or fill_ */
    const char *msg = lg_ctx_error(ctx), *colon = strstr(msg, ": ");
    lua_pushfstring(L, "assign: %s", colon ? colon + 2 : msg);
    lg_ctx_clear_error(ctx);
    lua_error(L);
  }
}

static int t_newindex(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "assign");
  int type = lua_type(L, 2);
  if (type == LUA_TNUMBER || type == LUA_TTABLE) {
    index_step steps[LG_MAX_DIMS];
    bool all_ints;
    int n = plan_index(L, t, 2, steps, &all_ints);
    if (!lgl_to_tensor(L, 3) && lua_type(L, 3) != LUA_TNUMBER &&
        lua_type(L, 3) != LUA_TBOOLEAN)
      return luaL_error(L, "assign: expected a number, boolean or tensor as "
                        "the value, got %s", lgl_typename(L, 3));
    lg_tensor *view = run_index(lgl_ctx(L), t, steps, n);
    if (!view) return lgl_error(L);
    assign_into(L, view, 3);
    return 0;
  }
  lg_tensor *mask = lgl_to_tensor(L, 2);
  if (mask) {
    lg_params p = {0};
    p.flags = LG_FLAG_INPLACE;
    if (lg_tensor_dtype(mask) != LG_BOOL)
      return luaL_error(L, "assign: a tensor key must be a bool mask, got %s",
                        lg_dtype_name(lg_tensor_dtype(mask)));
    if (!lgl_to_scalar(L, 3, &p, 0))
      return luaL_error(L, "assign: t[mask] = v expects a number, got %s",
                        lgl_typename(L, 3));
    lg_tensor *in[2] = {t, mask};
    return lgl_run_op(L, LG_OP_MASKED_FILL, 2, in, &p, 1) - 1;
  }
  if (type == LUA_TSTRING && lgl_autograd_assign(L, t, lua_tostring(L, 2), 3))
    return 0;
  if (type == LUA_TSTRING)
    return luaL_error(L, "assign: tensors have no assignable field '%s'",
                      lua_tostring(L, 2));
  return luaL_error(L, "assign: expected an integer, table or mask as key, "
                    "got %s", lgl_typename(L, 2));
}

static int t_len(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "len");
  if (lg_tensor_ndim(t) == 0) return luaL_error(L, "len: a 0-d tensor has no length");
  lua_pushinteger(L, (lua_Integer)lg_tensor_sizes(t)[0]);
  return 1;
}

static int t_tostring(lua_State *L) {
  lg_tensor *t = lgl_to_tensor(L, 1);
  if (!t) {
    lua_pushliteral(L, "tensor(<released>)");
    return 1;
  }
  int level = lg_tensor_batch_level(t);
  if (level) { /* the whole batch, and where the examples lie in it */
    int bdim = 0;
    lg_tensor *v = lg_vmap_value(t, level, &bdim);
    lgl_push_tensor(L, lg_tensor_retain(v));
    luaL_tolstring(L, -1, NULL);
    lua_pushfstring(L, "BatchedTensor(level=%d, bdim=%d, value=%s)", level,
                    bdim + 1, lua_tostring(L, -1));
    return 1;
  }
  char *text = NULL;
  size_t len = 0;
  lg_ctx *ctx = lgl_ctx(L);
  char name[64], suffix[96];
  const char *extra = NULL;
  if (lg_tensor_grad_fn_name(t, name, sizeof name)) {
    snprintf(suffix, sizeof suffix, "grad_fn=<%s>", name);
    extra = suffix;
  } else if (lg_tensor_requires_grad(t)) {
    extra = "requires_grad=true";
  }
  if (lg_tensor_format(ctx, t, extra, &text, &len) != LG_OK)
    return lgl_error(L);
  lua_pushlstring(L, text, len);
  lg_string_free(ctx, text, len);
  return 1;
}

/* ---- print options ---------------------------------------------------------- */

/* The value at idx as an error message shows what was given: a string
 * quoted, a number or boolean as itself, anything else by its type. */
static const char *given(lua_State *L, int idx) {
  int type = lua_type(L, idx);
  if (type == LUA_TSTRING)
    return lua_pushfstring(L, "\"%s\"", lua_tostring(L, idx));
  if (type == LUA_TNUMBER || type == LUA_TBOOLEAN)
    return luaL_tolstring(L, idx, NULL);
  return luaL_typename(L, idx);
}

/* An integer field of the options table at 1 into *out (absent: kept). */
static void opt_int_field(lua_State *L, const char *key, int *out) {
  if (lua_getfield(L, 1, key) != LUA_TNIL) {
    int64_t v = lgl_check_integer(L, -1, "set_printoptions", key);
    if (v < INT_MIN || v > INT_MAX)
      luaL_error(L, "set_printoptions: %s is out of range, got %I", key,
                 (lua_Integer)v);
    *out = (int)v;
  }
  lua_pop(L, 1);
}

/*** Sets how tensors print, PyTorch's options for this Lua state: precision
 * = 4, threshold = 1000, edgeitems = 3, linewidth = 80, sci_mode = "auto"
 * (true, false or "auto"), profile ("default", "short", "full"; resets the
 * others first). Unlike PyTorch a key left out keeps its value.
 * @function set_printoptions
 * @param opts a table of options
 * @usage lg.set_printoptions{precision = 2}
 */
/* lg.set_printoptions{precision, threshold, edgeitems, linewidth, profile,
 * sci_mode}: PyTorch's, for this Lua state only. An absent key keeps its
 * value; profile ("default", "short", "full") first resets them all;
 * sci_mode is true, false or "auto" (PyTorch's None). */
static int l_set_printoptions(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "set_printoptions: expected a table of options, "
                      "got %s", luaL_typename(L, 1));
  lua_settop(L, 1);
  lgl_check_options(L, 1, "set_printoptions",
                    LGL_OPTIONS("edgeitems", "linewidth", "precision",
                                "profile", "sci_mode", "threshold"));
  lg_ctx *ctx = lgl_ctx(L);
  lg_print_options o = lg_ctx_print_options(ctx);
  if (lua_getfield(L, 1, "profile") != LUA_TNIL) {
    const char *name = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING || !lg_print_options_profile(name, &o))
      return luaL_error(L, "set_printoptions: expected \"default\", "
                        "\"short\" or \"full\" for profile, got %s",
                        given(L, -1));
  }
  lua_pop(L, 1);
  opt_int_field(L, "precision", &o.precision);
  opt_int_field(L, "edgeitems", &o.edgeitems);
  opt_int_field(L, "linewidth", &o.linewidth);
  if (lua_getfield(L, 1, "threshold") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      return luaL_error(L, "set_printoptions: expected a number for "
                        "threshold, got %s", luaL_typename(L, -1));
    o.threshold = (double)lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  int type = lua_getfield(L, 1, "sci_mode");
  if (type == LUA_TBOOLEAN) {
    o.sci_mode = lua_toboolean(L, -1);
  } else if (type == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0) {
    o.sci_mode = -1;
  } else if (type != LUA_TNIL) {
    return luaL_error(L, "set_printoptions: expected true, false or "
                      "\"auto\" for sci_mode, got %s", given(L, -1));
  }
  lua_pop(L, 1);
  if (lg_ctx_set_print_options(ctx, &o) != LG_OK) return lgl_error(L);
  return 0;
}

/*** The current print options, as a table set_printoptions accepts.
 * @function get_printoptions
 * @return a table
 * @usage local saved = lg.get_printoptions()
 */
/* lg.get_printoptions(): the options as a table set_printoptions accepts. */
static int l_get_printoptions(lua_State *L) {
  lg_print_options o = lg_ctx_print_options(lgl_ctx(L));
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, o.precision);
  lua_setfield(L, -2, "precision");
  if (isfinite(o.threshold) && o.threshold == floor(o.threshold) &&
      fabs(o.threshold) < 0x1p62)
    lua_pushinteger(L, (lua_Integer)o.threshold);
  else
    lua_pushnumber(L, o.threshold); /* math.huge for the "full" profile */
  lua_setfield(L, -2, "threshold");
  lua_pushinteger(L, o.edgeitems);
  lua_setfield(L, -2, "edgeitems");
  lua_pushinteger(L, o.linewidth);
  lua_setfield(L, -2, "linewidth");
  if (o.sci_mode < 0)
    lua_pushliteral(L, "auto");
  else
    lua_pushboolean(L, o.sci_mode);
  lua_setfield(L, -2, "sci_mode");
  return 1;
}

/* ---- arithmetic operators ------------------------------------------------ */

/* a op b where either side may be a number; raises naming op. */
int lgl_binary(lua_State *L, lg_op op, int inplace) {
  lg_params p = {0};
  lg_tensor *in[2];
  int n;
  lg_tensor *a = lgl_to_tensor(L, 1), *b = lgl_to_tensor(L, 2);
  if (a && b) {
    in[0] = a;
    in[1] = b;
    n = 2;
  } else if (a && lgl_to_scalar(L, 2, &p, 0)) {
    p.flags |= LG_FLAG_SCALAR_B;
    in[0] = a;
    n = 1;
  } else if (b && !inplace && lgl_to_scalar(L, 1, &p, 0)) {
    p.flags |= LG_FLAG_SCALAR_A;
    in[0] = b;
    n = 1;
  } else {
    if (!a && !b)
      return luaL_error(L, "%s: expected at least one tensor, got %s and %s",
                        lg_op_name(op), lgl_typename(L, 1),
                        lgl_typename(L, 2));
    return luaL_error(L, "%s: expected tensors or numbers, got %s and %s",
                      lg_op_name(op), lgl_typename(L, 1),
                      lgl_typename(L, 2));
  }
  if (inplace) {
    if (!a) (void)lgl_check_tensor(L, 1, lg_op_name(op));
    p.flags |= LG_FLAG_INPLACE;
  }
  return lgl_run_op(L, op, n, in, &p, 1);
}

#define OPERATOR(NAME, OP) \
  static int t_##NAME(lua_State *L) { return lgl_binary(L, OP, 0); }
OPERATOR(add, LG_OP_ADD)
OPERATOR(sub, LG_OP_SUB)
OPERATOR(mul, LG_OP_MUL)
OPERATOR(div, LG_OP_DIV)
OPERATOR(mod, LG_OP_REMAINDER)
OPERATOR(pow, LG_OP_POW)
OPERATOR(idiv, LG_OP_FLOOR_DIVIDE)

static int t_unm(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "neg");
  return lgl_run_op(L, LG_OP_NEG, 1, &t, NULL, 1);
}

/* ---- basic methods --------------------------------------------------------- */

/*** The shape as a plain array of sizes, or the size of dim d (1-based).
 * @function Tensor:size
 * @param[opt] d a dim
 * @return an array, or an integer
 * @usage t:size(1)
 */
static int m_size(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "size");
  if (lua_isnoneornil(L, 2)) {
    lgl_push_shape(L, lg_tensor_ndim(t), lg_tensor_sizes(t));
    return 1;
  }
  int64_t d = lgl_check_dim(L, 2, lg_tensor_ndim(t), "size");
  lua_pushinteger(L, (lua_Integer)(lg_tensor_ndim(t) ? lg_tensor_sizes(t)[d] : 1));
  return 1;
}

/*** The strides (in elements) as an array, or the stride of dim d.
 * @function Tensor:stride
 * @param[opt] d a dim
 * @return an array, or an integer
 * @usage t:stride()
 */
static int m_stride(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "stride");
  if (lua_isnoneornil(L, 2)) {
    lgl_push_shape(L, lg_tensor_ndim(t), lg_tensor_strides(t));
    return 1;
  }
  int64_t d = lgl_check_dim(L, 2, lg_tensor_ndim(t), "stride");
  lua_pushinteger(L, (lua_Integer)(lg_tensor_ndim(t) ? lg_tensor_strides(t)[d] : 1));
  return 1;
}

/*** The number of dims (also t.ndim).
 * @function Tensor:dim
 * @return an integer
 * @usage t:dim()
 */
static int m_dim(lua_State *L) {
  lua_pushinteger(L, lg_tensor_ndim(lgl_check_tensor(L, 1, "dim")));
  return 1;
}

/*** The number of elements (alias nelement).
 * @function Tensor:numel
 * @return an integer
 * @usage t:numel()
 */
/*** Alias of numel.
 * @function Tensor:nelement
 * @return an integer
 * @usage t:nelement()
 */
static int m_numel(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lg_tensor_numel(lgl_check_tensor(L, 1, "numel")));
  return 1;
}

/*** Whether t is laid out contiguously (row-major).
 * @function Tensor:is_contiguous
 * @return a boolean
 * @usage t:t():is_contiguous()
 */
static int m_is_contiguous(lua_State *L) {
  lua_pushboolean(L, lg_tensor_is_contiguous(lgl_check_tensor(L, 1, "is_contiguous")));
  return 1;
}

/* Raises for reading a batched tensor's values into Lua (inside vmap). */
static void check_not_batched(lua_State *L, const lg_tensor *t,
                              const char *fname) {
  if (lg_tensor_batch_level(t))
    luaL_error(L, "%s: the tensor is batched (inside vmap), so it has one "
               "value per example: data-dependent control flow can't be "
               "vmapped; compute both branches and pick with lg.where",
               fname);
}

/*** The value of a one-element tensor as a Lua number (or boolean for bool).
 * @function Tensor:item
 * @return a number or boolean
 * @usage loss:item()
 */
static int m_item(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "item");
  check_not_batched(L, t, "item");
  lgl_trace_check_read(L, "item");
  int64_t n = lg_tensor_numel(t);
  if (n != 1)
    return luaL_error(L, "item: expected a tensor with one element, got %I",
                      (lua_Integer)n);
  push_element(L, t, 0);
  return 1;
}

static void push_list(lua_State *L, const lg_tensor *t, int dim,
                      int64_t *flat) {
  if (dim == lg_tensor_ndim(t)) {
    push_element(L, t, (*flat)++);
    return;
  }
  luaL_checkstack(L, 4, "tolist");
  int64_t n = lg_tensor_sizes(t)[dim];
  lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    push_list(L, t, dim + 1, flat);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* The most nested tables tolist makes beyond one per element: an empty
 * tensor of shape {2^53, 0} would otherwise exhaust memory with empty
 * tables (a non-empty tensor never needs more tables than elements). */
#define TOLIST_MAX_EMPTY_TABLES ((int64_t)1 << 24)

/*** The values as nested Lua tables (a number for a 0-d tensor).
 * @function Tensor:tolist
 * @return a table or number
 * @usage t:tolist()
 */
static int m_tolist(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "tolist");
  check_not_batched(L, t, "tolist");
  lgl_trace_check_read(L, "tolist");
  int ndim = lg_tensor_ndim(t);
  const int64_t *sizes = lg_tensor_sizes(t);
  int64_t tables = 0, rows = 1;
  for (int d = 0; d + 1 < ndim && rows > 0; d++) {
    rows = sizes[d] > 0 && rows > INT64_MAX / sizes[d] ? INT64_MAX : rows * sizes[d];
    tables = tables > INT64_MAX - rows ? INT64_MAX : tables + rows;
  }
  if (tables > TOLIST_MAX_EMPTY_TABLES && tables > lg_tensor_numel(t)) {
    lgl_push_shape(L, ndim, sizes);
    const char *shape = luaL_tolstring(L, -1, NULL);
    return luaL_error(L, "tolist: a tensor of shape %s would need %I nested "
                      "tables; expected at most %I for a tensor with %I "
                      "elements", shape, (lua_Integer)tables,
                      (lua_Integer)TOLIST_MAX_EMPTY_TABLES,
                      (lua_Integer)lg_tensor_numel(t));
  }
  int64_t flat = 0;
  push_list(L, t, 0, &flat);
  return 1;
}

/*** A copy converted to dtype (a name, {dtype = ...} or another tensor's); t itself when unchanged.
 * @function Tensor:to
 * @param dtype "float32", "float64", "int32", "int64", "uint8" or "bool"
 * @return a tensor
 * @usage t:to("float64")
 */
/* to(dtype), to({dtype = ...}) or to(other tensor): self when unchanged */
static int m_to(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "to");
  lg_tensor *other = lgl_to_tensor(L, 2);
  lg_params p = {0};
  if (other)
    p.dtype = lg_tensor_dtype(other);
  else if (lua_type(L, 2) == LUA_TTABLE) {
    lgl_check_options(L, 2, "to", LGL_OPTIONS("dtype"));
    p.dtype = lgl_opt_dtype(L, 2, lg_tensor_dtype(t), "to");
  } else
    p.dtype = lgl_check_dtype(L, 2, "to");
  if (p.dtype == lg_tensor_dtype(t)) {
    lua_settop(L, 1);
    return 1;
  }
  return lgl_run_op(L, LG_OP_TO_DTYPE, 1, &t, &p, 1);
}

static int convert_to(lua_State *L, lg_dtype dtype, const char *name) {
  lg_tensor *t = lgl_check_tensor(L, 1, name);
  if (lg_tensor_dtype(t) == dtype) {
    lua_settop(L, 1);
    return 1;
  }
  lg_params p = {0};
  p.dtype = dtype;
  return lgl_run_op(L, LG_OP_TO_DTYPE, 1, &t, &p, 1);
}
/*** to("float32"): t itself when already float32.
 * @function Tensor:float
 * @return a tensor
 * @usage t:float()
 */
/*** to("float64").
 * @function Tensor:double
 * @return a tensor
 * @usage t:double()
 */
/*** to("int64").
 * @function Tensor:long
 * @return a tensor
 * @usage t:long()
 */
/*** to("int32").
 * @function Tensor:int
 * @return a tensor
 * @usage t:int()
 */
/*** to("uint8").
 * @function Tensor:byte
 * @return a tensor
 * @usage t:byte()
 */
/*** to("bool").
 * @function Tensor:bool
 * @return a tensor
 * @usage t:bool()
 */
#define CONVERTER(NAME, DTYPE) \
  static int m_##NAME(lua_State *L) { return convert_to(L, DTYPE, #NAME); }
CONVERTER(float, LG_FLOAT32)
CONVERTER(double, LG_FLOAT64)
CONVERTER(long, LG_INT64)
CONVERTER(int, LG_INT32)
CONVERTER(byte, LG_UINT8)
CONVERTER(bool, LG_BOOL)

/*** A copy with its own storage (differentiable).
 * @function Tensor:clone
 * @return a tensor
 * @usage t:clone()
 */
static int m_clone(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "clone");
  return lgl_run_op(L, LG_OP_CLONE, 1, &t, NULL, 1);
}

/*** Fills t with v in place.
 * @function Tensor:fill_
 * @param v a number
 * @return t
 * @usage t:fill_(0)
 */
static int m_fill_(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "fill_");
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE;
  if (!lgl_to_scalar(L, 2, &p, 0))
    return luaL_error(L, "fill_: expected a number as the value, got %s",
                      lgl_typename(L, 2));
  return lgl_run_op(L, LG_OP_FILL, 1, &t, &p, 1);
}

/*** Fills t with 0 in place.
 * @function Tensor:zero_
 * @return t
 * @usage p.grad:zero_()
 */
static int m_zero_(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "zero_");
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE | LG_FLAG_SCALAR_INT;
  lg_tensor *out = NULL;
  if (lg_op_run(lgl_ctx(L), LG_OP_FILL, 1, &t, &p, &out) != LG_OK)
    return lgl_error_as(L, "zero_");
  lg_tensor_release(out);
  lua_settop(L, 1);
  return 1;
}

/*** Copies src (broadcast, converted) into t in place.
 * @function Tensor:copy_
 * @param src a tensor
 * @return t
 * @usage dst:copy_(src)
 */
static int m_copy_(lua_State *L) {
  lg_tensor *in[2] = {lgl_check_tensor(L, 1, "copy_"),
                      lgl_check_tensor(L, 2, "copy_")};
  lg_params p = {0};
  p.flags = LG_FLAG_INPLACE;
  return lgl_run_op(L, LG_OP_COPY, 2, in, &p, 1);
}

/*** The version counter of t's storage, bumped by each in-place op.
 * @function Tensor:data_version
 * @return an integer
 * @usage t:data_version()
 */
static int m_data_version(lua_State *L) {
  lg_tensor *t = lgl_check_tensor(L, 1, "data_version");
  lua_pushinteger(L, (lua_Integer)lg_tensor_version(t));
  return 1;
}

static const luaL_Reg methods[] = {
    {"size", m_size},         {"stride", m_stride},
    {"dim", m_dim},           {"numel", m_numel},
    {"nelement", m_numel},    {"is_contiguous", m_is_contiguous},
    {"item", m_item},         {"tolist", m_tolist},
    {"to", m_to},             {"float", m_float},
    {"double", m_double},     {"long", m_long},
    {"int", m_int},           {"byte", m_byte},
    {"bool", m_bool},         {"clone", m_clone},
    {"fill_", m_fill_},       {"zero_", m_zero_},
    {"copy_", m_copy_},       {"data_version", m_data_version},
    {NULL, NULL},
};

static const luaL_Reg module_functions[] = {
    {"set_printoptions", l_set_printoptions},
    {"get_printoptions", l_get_printoptions},
    {NULL, NULL},
};

/* a < b, a <= b (and so >, >=) with a tensor operand: never a Lua boolean,
 * which would hide data-dependent control flow (and, inside vmap, has one
 * answer per example). */
static int t_compare(lua_State *L) {
  for (int i = 1; i <= 2; i++) {
    lg_tensor *t = lgl_to_tensor(L, i);
    if (t && lg_tensor_batch_level(t))
      return luaL_error(L, "compare: a batched tensor (inside vmap) can't be "
                        "compared with <, <=, > or >= in Lua: data-dependent "
                        "control flow can't be vmapped; compute both "
                        "branches and pick with lg.where");
  }
  return luaL_error(L, "compare: tensors can't be compared with <, <=, > or "
                    ">= in Lua; use t:lt(u), t:le(u), t:gt(u), t:ge(u) for "
                    "elementwise results, or t:item() for a number");
}

static const luaL_Reg metamethods[] = {
    {"__lt", t_compare},      {"__le", t_compare},
    {"__close", t_release},
    {"__newindex", t_newindex}, {"__len", t_len},
    {"__tostring", t_tostring}, {"__add", t_add},
    {"__sub", t_sub},         {"__mul", t_mul},
    {"__div", t_div},         {"__mod", t_mod},
    {"__pow", t_pow},         {"__idiv", t_idiv},
    {"__unm", t_unm},         {NULL, NULL},
};

/* Fills the metatable, the basic methods and lg.set/get_printoptions. */
void lgl_open_tensor_meta(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, module_functions, methods);
  lua_pushvalue(L, T->meta);
  lgl_setfuncs(L, metamethods, T->state, T->meta);
  /* __index also needs the methods table: a fourth upvalue */
  lua_pushvalue(L, T->state);
  lua_pushvalue(L, T->meta);
  lgl_push_boxes(L, T->state);
  lua_pushvalue(L, T->methods);
  lua_pushcclosure(L, t_index, LGL_NUPVALUES + 1);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, LGL_TENSOR_TYPE);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}
