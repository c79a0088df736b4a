/* args.c: checking and converting Lua arguments (integers, shapes, 1-based
 * dims, dtypes, option tables, scalars), with errors that name the
 * function, what was expected and what was given. */
#include <math.h>
#include <string.h>

#include "dtype.h"
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
               luaL_typename(L, idx));
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
                   "shape, got %s", fname, (int)i, luaL_typename(L, -1));
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
               fname, luaL_typename(L, idx));
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
    lua_pushcclosure(L, fns->func, LGL_NUPVALUES);
    lua_setfield(L, -2, fns->name);
  }
}

void lgl_push_shape(lua_State *L, int ndim, const int64_t *sizes) {
  lua_createtable(L, ndim, 0);
  for (int i = 0; i < ndim; i++) {
    lua_pushinteger(L, (lua_Integer)sizes[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

int lgl_push_keyword(lua_State *L, int idx, int k, const char *name) {
  if (lua_type(L, idx) == LUA_TTABLE && !lgl_to_tensor(L, idx))
    return lua_getfield(L, idx, name);
  lua_pushvalue(L, idx + k);
  return lua_type(L, -1);
}

/* Raises unless the value on top is nil or of the wanted type. */
static void check_top(lua_State *L, int wanted, const char *fname,
                      const char *name) {
  int type = lua_type(L, -1);
  if (type != LUA_TNIL && type != wanted)
    luaL_error(L, "%s: expected a %s for %s, got %s", fname,
               lua_typename(L, wanted), name, luaL_typename(L, -1));
}

double lgl_pop_number(lua_State *L, double dflt, const char *fname,
                      const char *name) {
  check_top(L, LUA_TNUMBER, fname, name);
  double v = lua_isnil(L, -1) ? dflt : lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

bool lgl_pop_boolean(lua_State *L, bool dflt, const char *fname,
                     const char *name) {
  check_top(L, LUA_TBOOLEAN, fname, name);
  bool v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

void lgl_check_option_names(lua_State *L, int idx, const char *fname,
                            const char *const *names) {
  if (lua_type(L, idx) != LUA_TTABLE || lgl_to_tensor(L, idx)) return;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    bool known = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *n = names; *n && !known; n++)
        known = strcmp(lua_tostring(L, -1), *n) == 0;
    if (!known) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (const char *const *n = names; *n; n++) {
        if (n != names) luaL_addstring(&b, n[1] ? ", " : " or ");
        luaL_addstring(&b, *n);
      }
      luaL_pushresult(&b);
      luaL_error(L, "%s: unknown option '%s' (expected %s)", fname,
                 luaL_tolstring(L, -2, NULL), lua_tostring(L, -1));
    }
  }
}
