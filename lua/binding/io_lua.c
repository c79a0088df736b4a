/* io_lua.c: raw file entry points on the module table, which lg.io and
 * lg.data wrap: _safetensors_load/_save, _npy_load/_save and _idx_load.
 *
 * A loaded safetensors file is owned by a holder userdata until each of its
 * tensors has moved into a Lua box, so a Lua error (out of memory while
 * building the result tables) never orphans C memory.
 */
#include <string.h>

#include "lgl.h"

#define HOLDER_TYPE "luagrad.io.file"

/* The userdata owning a loaded file (and a context reference). */
typedef struct file_holder {
  lg_ctx *ctx;
  lg_safetensors *file;
} file_holder;

static int holder_release(lua_State *L) {
  file_holder *h = luaL_checkudata(L, 1, HOLDER_TYPE);
  if (h->ctx) {
    lg_safetensors_free(h->ctx, h->file);
    lg_ctx_free(h->ctx);
  }
  h->ctx = NULL;
  h->file = NULL;
  return 0;
}

const char *lgl_check_path(lua_State *L, int idx, const char *fname,
                           bool write) {
  size_t len;
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "%s: expected a path (a string) as argument %d, got %s",
               fname, idx, lgl_typename(L, idx));
  const char *path = lua_tolstring(L, idx, &len);
  if (len == 0 || strlen(path) != len)
    luaL_error(L, "%s: expected a non-empty path without NUL bytes", fname);
  if (lg_file_permitted(lgl_ctx(L), write) != LG_OK) lgl_error_as(L, fname);
  return path;
}

/* _safetensors_load(path) -> {name = tensor}, {key = value}, {names in
 * file order} */
static int l_safetensors_load(lua_State *L) {
  const char *path = lgl_check_path(L, 1, "io.load", false);
  lgl_state *S = lgl_get_state(L);
  file_holder *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->ctx = NULL;
  h->file = NULL;
  luaL_setmetatable(L, HOLDER_TYPE);
  int holder = lua_gettop(L);
  lg_safetensors *file = NULL;
  if (lg_safetensors_load(S->ctx, path, &file) != LG_OK) return lgl_error(L);
  lg_ctx_retain(S->ctx);
  h->ctx = S->ctx;
  h->file = file;
  lua_createtable(L, 0, (int)(file->n_tensors < 1 << 20 ? file->n_tensors : 0));
  int tensors = lua_gettop(L);
  lua_createtable(L, 0, (int)(file->n_metadata < 1 << 20 ? file->n_metadata : 0));
  int metadata = lua_gettop(L);
  lua_createtable(L, (int)(file->n_tensors < 1 << 20 ? file->n_tensors : 0), 0);
  int order = lua_gettop(L);
  for (int64_t i = 0; i < file->n_tensors; i++) {
    lgl_box *box = lgl_new_box(L);
    lgl_box_set(box, file->tensors[i]); /* the box owns it from here */
    file->tensors[i] = NULL;
    lua_setfield(L, tensors, file->names[i]);
    lua_pushstring(L, file->names[i]);
    lua_rawseti(L, order, (lua_Integer)i + 1);
  }
  for (int64_t i = 0; i < file->n_metadata; i++) {
    lua_pushstring(L, file->metadata[2 * i + 1]);
    lua_setfield(L, metadata, file->metadata[2 * i]);
  }
  lua_pushcfunction(L, holder_release);
  lua_pushvalue(L, holder);
  lua_call(L, 1, 0);
  lgl_gc_pressure(L, S);
  return 3;
}

/* Reads the string at idx (a key or value of a table being traversed)
 * without converting it in place, which would confuse lua_next. */
static const char *table_string(lua_State *L, int idx, const char *fname,
                                const char *what) {
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "%s: expected strings as %s, got %s", fname, what,
               lgl_typename(L, idx));
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len)
    luaL_error(L, "%s: %s \"%s...\" contains a NUL byte", fname, what, s);
  return s;
}

/* Counts the entries of the table at idx. */
static int64_t table_count(lua_State *L, int idx) {
  int64_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* _safetensors_save(path, {name = tensor}, {key = value} or nil) */
static int l_safetensors_save(lua_State *L) {
  const char *fname = "io.save";
  const char *path = lgl_check_path(L, 1, fname, true);
  luaL_argexpected(L, lua_type(L, 2) == LUA_TTABLE && !lgl_to_tensor(L, 2), 2,
                   "table of tensors");
  bool has_meta = !lua_isnoneornil(L, 3);
  if (has_meta) luaL_argexpected(L, lua_type(L, 3) == LUA_TTABLE, 3, "table");
  int64_t n = table_count(L, 2), n_meta = has_meta ? table_count(L, 3) : 0;
  if (n > (1 << 24) || n_meta > (1 << 24))
    return luaL_error(L, "%s: too many tensors or metadata entries", fname);
  /* scratch arrays as userdata: collected if an error is raised below */
  const char **names = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *names, 0);
  lg_tensor **tensors =
      lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *tensors, 0);
  const char **metadata =
      lua_newuserdatauv(L, (size_t)(2 * n_meta + 1) * sizeof *metadata, 0);
  int64_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    names[i] = table_string(L, -2, fname, "tensor names");
    tensors[i] = lgl_to_tensor(L, -1);
    if (!tensors[i])
      return luaL_error(L, "%s: expected a tensor for '%s', got %s", fname,
                        names[i], lgl_typename(L, -1));
    i++;
    lua_pop(L, 1);
  }
  i = 0;
  if (has_meta) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      metadata[2 * i] = table_string(L, -2, fname, "metadata keys");
      metadata[2 * i + 1] = table_string(L, -1, fname, "metadata values");
      i++;
      lua_pop(L, 1);
    }
  }
  if (lg_safetensors_save(lgl_ctx(L), path, n, names, tensors, n_meta,
                          metadata) != LG_OK)
    return lgl_error(L);
  return 0;
}

/* _npy_load(path) -> tensor */
static int l_npy_load(lua_State *L) {
  const char *path = lgl_check_path(L, 1, "io.load_npy", false);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *t = NULL;
  if (lg_npy_load(lgl_ctx(L), path, &t) != LG_OK) return lgl_error(L);
  lgl_box_set(box, t);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

/* _npy_save(path, tensor) */
static int l_npy_save(lua_State *L) {
  const char *path = lgl_check_path(L, 1, "io.save_npy", true);
  lg_tensor *t = lgl_check_tensor(L, 2, "io.save_npy");
  if (lg_npy_save(lgl_ctx(L), path, t) != LG_OK) return lgl_error(L);
  return 0;
}

/* _idx_load(path) -> tensor */
static int l_idx_load(lua_State *L) {
  const char *path = lgl_check_path(L, 1, "data.load_idx", false);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *t = NULL;
  if (lg_idx_load(lgl_ctx(L), path, &t) != LG_OK) return lgl_error(L);
  lgl_box_set(box, t);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

static const luaL_Reg io_functions[] = {
    {"_safetensors_load", l_safetensors_load},
    {"_safetensors_save", l_safetensors_save},
    {"_npy_load", l_npy_load},
    {"_npy_save", l_npy_save},
    {"_idx_load", l_idx_load},
    {NULL, NULL}};

/* Registers the raw file functions on the module table. */
void lgl_open_io(lua_State *L, const lgl_tables *T) {
  if (luaL_newmetatable(L, HOLDER_TYPE)) {
    lua_pushcfunction(L, holder_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, holder_release);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lgl_register_family(L, T, io_functions, NULL);
}
