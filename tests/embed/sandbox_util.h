/* sandbox_util.h: a host as a game engine sandboxes scripts: only the
 * base, table, string and math libraries (no package, io, os, debug;
 * dofile and loadfile removed), luagrad opened with luagrad_open and set
 * as the global lg. For the embedding tests of issue 21. */
#ifndef SANDBOX_UTIL_H
#define SANDBOX_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "luagrad_lua.h"
#include "test_util.h"

static int sandbox_libs(lua_State *L) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  lua_pushnil(L);
  lua_setglobal(L, "dofile");
  lua_pushnil(L);
  lua_setglobal(L, "loadfile");
  return 0;
}

/* A sandboxed state with lg, or NULL (the reason printed). */
static lua_State *sandbox_state(void) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  lua_pushcfunction(L, sandbox_libs);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK || luagrad_open(L, NULL, NULL) != LG_OK) {
    fprintf(stderr, "sandbox_state: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  lua_setglobal(L, "lg");
  return L;
}

/* Runs code named chunk; its string result (or the error) in a static
 * buffer, "" when it returned nothing. ok tells which. */
static const char *sandbox_run(lua_State *L, const char *chunk,
                               const char *code, int *ok) {
  static char result[4096];
  int top = lua_gettop(L);
  *ok = luaL_loadbuffer(L, code, strlen(code), chunk) == LUA_OK &&
        lua_pcall(L, 0, 1, 0) == LUA_OK;
  const char *s = lua_tostring(L, -1);
  snprintf(result, sizeof result, "%s", s ? s : "");
  lua_settop(L, top);
  return result;
}

/* Runs code that returns "" when all went well, else what went wrong. */
#define CHECK_SCRIPT(L, chunk, code)                                        \
  do {                                                                      \
    int ok_;                                                                \
    const char *r_ = sandbox_run(L, chunk, code, &ok_);                     \
    CHECKF(ok_ && r_[0] == '\0', "%s: %s", chunk,                           \
           ok_ ? r_ : r_[0] ? r_ : "(error)");                              \
  } while (0)

#endif
