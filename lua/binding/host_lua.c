/* host_lua.c: what the Lua library asks of its host instead of using io,
 * os or debug (which a sandboxing host removes): writing text (stdout, or
 * under luagrad_open the host's writer, silent without one), environment
 * variables and whether stdout is a terminal (none under luagrad_open),
 * warnings (stderr, or the same writer), the user's stack level for error positions, whether a value is
 * callable, and small text files through the file policy. Registered on
 * the module table as lg._write, lg._getenv, ... (internal names). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lgl.h"

/* Writes the string at 1 to stream, or under a host to its writer (none:
 * silent). */
static int write_to(lua_State *L, FILE *stream) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lgl_state *S = lgl_get_state(L);
  if (!S->hosted) {
    fwrite(text, 1, len, stream);
    fflush(stream);
  } else if (S->writer) {
    S->writer(S->writer_ud, text, len);
  }
  return 0;
}

/* lg._write(text): progress bars and other library output. */
static int l_write(lua_State *L) { return write_to(L, stdout); }

/* lg._warn(text): a library warning; stderr outside a host. */
static int l_warn(lua_State *L) { return write_to(L, stderr); }

/* _getenv(name): the variable, or nil (always under luagrad_open). */
static int l_getenv(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *value = lgl_get_state(L)->hosted ? NULL : getenv(name);
  if (value) lua_pushstring(L, value);
  else lua_pushnil(L);
  return 1;
}

static int l_stdout_is_terminal(lua_State *L) {
  lua_pushboolean(L, !lgl_get_state(L)->hosted && isatty(1));
  return 1;
}

/* _user_level(): for check.raise, called by it: the level (as error()
 * counts from raise) of the first Lua frame outside the library, whose
 * files share the directory of raise's own chunk; nil when none. */
static int l_user_level(lua_State *L) {
  lua_Debug ar;
  if (!lua_getstack(L, 1, &ar) || !lua_getinfo(L, "S", &ar)) return 0;
  const char *slash = strrchr(ar.source, '/');
  size_t prefix = slash && ar.source[0] == '@' ? (size_t)(slash - ar.source)
                                               + 1 : 0;
  char library[256];
  if (prefix == 0 || prefix >= sizeof library) {
    library[0] = '\0'; /* not loaded from a file: the raising line */
    prefix = 1;
  } else {
    memcpy(library, ar.source, prefix);
  }
  for (int level = 2; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "S", &ar)) break;
    if (strcmp(ar.what, "C") != 0 && strncmp(ar.source, library, prefix) != 0) {
      lua_pushinteger(L, level);
      return 1;
    }
  }
  return 0;
}

/* _has_call(v): whether v's metatable (read raw) has __call. */
static int l_has_call(lua_State *L) {
  int yes = lua_getmetatable(L, 1) && lua_istable(L, -1) &&
            lua_getfield(L, -1, "__call") != LUA_TNIL;
  lua_pushboolean(L, yes);
  return 1;
}

/* _file_exists(path, fname): whether path can be read (false also
 * outside the granted directories); raises when reading is disabled. */
static int l_file_exists(lua_State *L) {
  const char *fname = luaL_optstring(L, 2, "file_exists");
  const char *path = lgl_check_path(L, 1, fname, false);
  bool exists;
  if (lg_file_exists(lgl_ctx(L), path, &exists) != LG_OK)
    return lgl_error_as(L, fname);
  lua_pushboolean(L, exists);
  return 1;
}

/* _write_file(path, text, fname): writes text atomically. */
static int l_write_file(lua_State *L) {
  const char *fname = luaL_optstring(L, 3, "write_file");
  const char *path = lgl_check_path(L, 1, fname, true);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  if (lg_file_write(lgl_ctx(L), fname, path, text, len) != LG_OK)
    return lgl_error_as(L, fname);
  return 0;
}

static const luaL_Reg host_functions[] = {
    {"_write", l_write},
    {"_warn", l_warn},
    {"_getenv", l_getenv},
    {"_stdout_is_terminal", l_stdout_is_terminal},
    {"_user_level", l_user_level},
    {"_has_call", l_has_call},
    {"_file_exists", l_file_exists},
    {"_write_file", l_write_file},
    {NULL, NULL}};

void lgl_open_host(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, host_functions, NULL);
}
