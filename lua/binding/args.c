/* args.c: checking and converting Lua arguments (integers, shapes, 1-based
 * dims, dtypes, option tables, scalars), with errors that name the
 * function, what was expected and what was given; shapes pushed back as
 * printable arrays; the one check of option-table keys and the one luagrad
 * name of a value's type, both also used by the Lua library
 * (lg._option_problem, lg._typename). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lgl.h"

int64_t lgl_check_integer(lua_State *L, int idx, const char *fname,
                          const char *what) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, idx, &isnum);
  if (!isnum) {
    if (lua_type(L, idx) == LUA_TNUMBER)
      luaL_error(L, "%s: expected an integer for %s, got %s", fname, what,
                 lua_tostring(L, idx));
    luaL_error(L, "%s: expected an integer for %s, got %s", fname, what,
               lgl_typename(L, idx));
  }
  return (int64_t)v;
}

static void check_size(lua_State *L, const char *fname, int64_t v, int dim) {
  if (v < 0)
    luaL_error(L, "%s: expected a non-negative size at dim %d, got %I",
               fname, dim, (lua_Integer)v);
}

int lgl_check_shape(lua_State *L, int idx, const char *fname, int *ndim,
                    int64_t *sizes) {
  int n = 0;
  if (lua_type(L, idx) == LUA_TTABLE && !lgl_to_tensor(L, idx)) {
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
    if (len > LG_MAX_DIMS)
      luaL_error(L, "%s: expected at most %d dims, got %d", fname,
                 LG_MAX_DIMS, (int)len);
    for (lua_Integer i = 1; i <= len; i++) {
      lua_rawgeti(L, idx, i);
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      if (!isnum)
        luaL_error(L, "%s: expected an integer size at position %d of the "
                   "shape, got %s", fname, (int)i, lgl_typename(L, -1));
      lua_pop(L, 1);
      check_size(L, fname, v, (int)i);
      sizes[n++] = v;
    }
    *ndim = n;
    return idx + 1;
  }
  while (lua_type(L, idx) == LUA_TNUMBER) {
    if (n == LG_MAX_DIMS)
      luaL_error(L, "%s: expected at most %d dims", fname, LG_MAX_DIMS);
    int64_t v = lgl_check_integer(L, idx, fname, "a size");
    check_size(L, fname, v, n + 1);
    sizes[n++] = v;
    idx++;
  }
  *ndim = n;
  return idx;
}

int64_t lgl_dim_value(lua_State *L, int64_t dim, int ndim, const char *fname) {
  int64_t n = ndim > 0 ? ndim : 1;
  if (dim == 0)
    luaL_error(L, "%s: dim 0 is invalid: dims are 1-based (1..%d, or -1 for "
               "the last)", fname, (int)n);
  if (dim > n || dim < -n)
    luaL_error(L, "%s: dim %I out of range for a %d-d tensor (expected "
               "1..%d or -%d..-1)", fname, (lua_Integer)dim, ndim, (int)n,
               (int)n);
  return dim > 0 ? dim - 1 : dim + n;
}

int64_t lgl_check_dim(lua_State *L, int idx, int ndim, const char *fname) {
  return lgl_dim_value(L, lgl_check_integer(L, idx, fname, "dim"), ndim, fname);
}

void lgl_check_dims(lua_State *L, int idx, int ndim, const char *fname,
                    lg_params *p) {
  p->n_ints = 0;
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) == LUA_TTABLE) {
    int len = (int)lua_rawlen(L, idx);
    if (len > LG_MAX_DIMS) luaL_error(L, "%s: too many dims", fname);
    for (int i = 1; i <= len; i++) {
      lua_rawgeti(L, idx, i);
      int64_t d = lgl_dim_value(
          L, lgl_check_integer(L, -1, fname, "dim"), ndim, fname);
      lua_pop(L, 1);
      for (int j = 0; j < p->n_ints; j++)
        if (p->ints[j] == d)
          luaL_error(L, "%s: dim %d appears twice in the dims", fname,
                     (int)d + 1);
      p->ints[p->n_ints++] = d;
    }
    if (len == 0) p->n_ints = 0;
    return;
  }
  p->ints[0] = lgl_check_dim(L, idx, ndim, fname);
  p->n_ints = 1;
}

lg_dtype lgl_check_dtype(lua_State *L, int idx, const char *fname) {
  const char *name = lua_tostring(L, idx);
  lg_dtype d;
  if (!name || lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "%s: expected a dtype string such as \"float32\", got %s",
               fname, lgl_typename(L, idx));
  if (!lg_dtype_parse(name, &d))
    luaL_error(L, "%s: unknown dtype \"%s\" (expected float32, float64, "
               "int32, int64, uint8 or bool)", fname, name);
  return d;
}

lg_dtype lgl_opt_dtype(lua_State *L, int idx, lg_dtype dflt,
                       const char *fname) {
  if (lua_type(L, idx) != LUA_TTABLE) return dflt;
  lua_getfield(L, idx, "dtype");
  lg_dtype d = lua_isnil(L, -1) ? dflt : lgl_check_dtype(L, -1, fname);
  lua_pop(L, 1);
  return d;
}

int lgl_opt_bool(lua_State *L, int idx, const char *field, int dflt) {
  if (lua_type(L, idx) != LUA_TTABLE) return dflt;
  lua_getfield(L, idx, field);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

int lgl_to_scalar(lua_State *L, int idx, lg_params *p, int slot) {
  if (lua_type(L, idx) == LUA_TBOOLEAN) {
    p->scalar[slot] = lua_toboolean(L, idx);
    p->scalar_int = lua_toboolean(L, idx);
    p->flags |= LG_FLAG_SCALAR_INT;
    return 1;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  if (lua_isinteger(L, idx)) {
    p->scalar_int = (int64_t)lua_tointeger(L, idx);
    p->scalar[slot] = (double)p->scalar_int;
    p->flags |= LG_FLAG_SCALAR_INT;
  } else {
    p->scalar[slot] = lua_tonumber(L, idx);
  }
  return 1;
}

void lgl_setfuncs(lua_State *L, const luaL_Reg *fns, int state_idx,
                  int meta_idx) {
  for (; fns->name; fns++) {
    lua_pushvalue(L, state_idx);
    lua_pushvalue(L, meta_idx);
    lgl_push_boxes(L, state_idx);
    lua_pushcclosure(L, fns->func, LGL_NUPVALUES);
    lua_setfield(L, -2, fns->name);
  }
}

void lgl_register_family(lua_State *L, const lgl_tables *T,
                         const luaL_Reg *module_fns, const luaL_Reg *methods) {
  if (module_fns) {
    lua_pushvalue(L, T->module);
    lgl_setfuncs(L, module_fns, T->state, T->meta);
    lua_pop(L, 1);
  }
  if (methods) {
    lua_pushvalue(L, T->methods);
    lgl_setfuncs(L, methods, T->state, T->meta);
    lua_pop(L, 1);
  }
}

/* The registry key of the metatable that all shapes of a state share. */
static const char shape_meta_key = 's';

/* tostring(t.shape): "{2, 5, 8}", as the REPL prints an array. */
static int shape_tostring(lua_State *L) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '{');
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) luaL_addstring(&b, ", ");
    lua_rawgeti(L, 1, i);
    luaL_tolstring(L, -1, NULL);
    luaL_addvalue(&b);
    lua_pop(L, 1);
  }
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
  return 1;
}

/* A shape is a plain array (#, ipairs, t[i] as usual) whose metatable
 * holds only __tostring, so print(t.shape) shows the sizes. */
void lgl_push_shape(lua_State *L, int ndim, const int64_t *sizes) {
  lua_createtable(L, ndim, 0);
  for (int i = 0; i < ndim; i++) {
    lua_pushinteger(L, (lua_Integer)sizes[i]);
    lua_rawseti(L, -2, i + 1);
  }
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &shape_meta_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, shape_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &shape_meta_key);
  }
  lua_setmetatable(L, -2);
}

/* ---- option tables ------------------------------------------------------- */

#define LGL_MAX_OPTION_NAMES 64

/* Whether the key on top of the stack is an allowed option name: one of
 * names (NULL-terminated), or when names is NULL a key of the set at set. */
static bool option_known(lua_State *L, const char *const *names, int set) {
  if (lua_type(L, -1) != LUA_TSTRING) return false;
  if (!names) {
    lua_pushvalue(L, -1);
    bool known = lua_rawget(L, set) != LUA_TNIL;
    lua_pop(L, 1);
    return known;
  }
  const char *key = lua_tostring(L, -1);
  for (; *names; names++)
    if (strcmp(key, *names) == 0) return true;
  return false;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes "fname: unknown option "key" (expected a, b, c)" for the key on
 * top of the stack, listing the allowed names sorted. */
static void push_unknown_option(lua_State *L, const char *fname,
                                const char *const *names, int set) {
  const char *list[LGL_MAX_OPTION_NAMES];
  int n = 0;
  if (names) {
    for (; *names && n < LGL_MAX_OPTION_NAMES; names++) list[n++] = *names;
  } else {
    lua_pushnil(L);
    while (lua_next(L, set)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TSTRING && n < LGL_MAX_OPTION_NAMES)
        list[n++] = lua_tostring(L, -1); /* anchored by the set */
    }
  }
  qsort(list, (size_t)n, sizeof list[0], compare_names);
  int key = lua_gettop(L);
  const char *shown = lua_type(L, key) == LUA_TSTRING
                          ? lua_pushfstring(L, "\"%s\"", lua_tostring(L, key))
                          : luaL_tolstring(L, key, NULL);
  lua_pushfstring(L, "%s: unknown option %s (expected ", fname, shown);
  lua_remove(L, key + 1); /* the key as shown */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushvalue(L, key + 1);
  luaL_addvalue(&b);
  for (int i = 0; i < n; i++) {
    if (i) luaL_addstring(&b, ", ");
    luaL_addstring(&b, list[i]);
  }
  if (n == 0) luaL_addstring(&b, "no options");
  luaL_addstring(&b, ")");
  luaL_pushresult(&b);
  lua_remove(L, key + 1); /* the prefix */
}

/* The check itself: returns 1 with the message pushed, or 0. */
static int option_problem(lua_State *L, int idx, const char *fname,
                          const char *const *names, int set) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 8, fname);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!option_known(L, names, set)) {
      push_unknown_option(L, fname, names, set);
      lua_remove(L, -2); /* the key */
      return 1;
    }
  }
  return 0;
}

void lgl_check_options(lua_State *L, int idx, const char *fname,
                       const char *const *names) {
  if (option_problem(L, idx, fname, names, 0)) lua_error(L);
}

int lgl_l_option_problem(lua_State *L) {
  const char *fname = luaL_checkstring(L, 1);
  luaL_checktype(L, 3, LUA_TTABLE);
  if (option_problem(L, 2, fname, NULL, 3)) return 1;
  return 0;
}

/* ---- type names ----------------------------------------------------------- */

const char *lgl_typename(lua_State *L, int idx) {
  int type = lua_type(L, idx);
  if (type == LUA_TUSERDATA && luaL_testudata(L, idx, LGL_TENSOR_TYPE))
    return "tensor";
  if (type == LUA_TTABLE && lua_getmetatable(L, idx)) {
    const char *name = NULL;
    if (lua_getfield(L, -1, "__typename") == LUA_TSTRING)
      name = lua_tostring(L, -1); /* anchored by the metatable */
    lua_pop(L, 2);
    if (name) return name;
  }
  return luaL_typename(L, idx);
}

int lgl_l_typename(lua_State *L) {
  luaL_checkany(L, 1);
  lua_pushstring(L, lgl_typename(L, 1));
  return 1;
}

/* ---- keyword arguments ------------------------------------------------- */

int lgl_push_keyword(lua_State *L, int idx, int k, const char *name) {
  if (lua_type(L, idx) == LUA_TTABLE && !lgl_to_tensor(L, idx))
    return lua_getfield(L, idx, name);
  lua_pushvalue(L, idx + k);
  return lua_type(L, -1);
}

/* Whether the value on top is given (not nil); raises unless it is nil or
 * of the wanted type. */
static bool given_as(lua_State *L, int wanted, const char *fname,
                     const char *name) {
  int type = lua_type(L, -1);
  if (type != LUA_TNIL && type != wanted)
    luaL_error(L, "%s: expected a %s for %s, got %s", fname,
               lua_typename(L, wanted), name, lgl_typename(L, -1));
  return type != LUA_TNIL;
}

double lgl_pop_number(lua_State *L, double dflt, const char *fname,
                      const char *name) {
  double v = given_as(L, LUA_TNUMBER, fname, name) ? lua_tonumber(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

bool lgl_pop_boolean(lua_State *L, bool dflt, const char *fname,
                     const char *name) {
  bool v = given_as(L, LUA_TBOOLEAN, fname, name) ? lua_toboolean(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}
