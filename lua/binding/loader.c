/* loader.c: where lg.nn, lg.func, lg.optim, ... come from. Under
 * luaopen_luagrad (require "luagrad", the executable) they load through
 * the interpreter's own `require`, so package.path decides (the built-in
 * sources when the interpreter has no `require`). Under
 * luagrad_open (a host) they load from the sources built into the library
 * (lgl_lua_sources), or from the host's own loader when it set one
 * (luagrad_set_source_loader), whether or not it opened `package`.
 *
 * A built-in chunk runs with an environment table holding its own
 * `require` (this loader) and reading and writing every other global
 * through the host's globals, so the library needs no `package`; each
 * module is loaded once per state (registry "luagrad.loaded") and is also
 * put in package.loaded when the host has one, so a script's require
 * finds the same table. */
#include <string.h>

#include "lgl.h"

static const lgl_lua_source *find_source(const char *name) {
  for (const lgl_lua_source *s = lgl_lua_sources; s->name; s++)
    if (strcmp(s->name, name) == 0) return s;
  return NULL;
}

static int l_require(lua_State *L) {
  lgl_require(L, luaL_checkstring(L, 1));
  return 1;
}

/* Pushes the environment of built-in chunks, made on first use. */
static void push_env(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.env") == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, l_require);
  lua_setfield(L, -2, "require");
  lua_createtable(L, 0, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "luagrad.env");
}

static lgl_state *state_of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.state");
  lgl_state *S = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return S;
}

/* Loads module name's chunk: the host's source when its loader gives one
 * (named like a built-in file, so check.raise sees it as the library),
 * else the built-in one. */
static void load_chunk(lua_State *L, lgl_state *S, const char *name) {
  size_t length = 0;
  const char *text = S->source ? S->source(S->source_ud, name, &length)
                               : NULL;
  if (text) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "@[luagrad]/");
    for (const char *c = name; *c; c++) luaL_addchar(&b, *c == '.' ? '/' : *c);
    luaL_addstring(&b, ".lua");
    luaL_pushresult(&b);
    int status = luaL_loadbufferx(L, text, length, lua_tostring(L, -1), "t");
    lua_remove(L, -2); /* the chunk name */
    if (status != LUA_OK) lua_error(L);
    return;
  }
  const lgl_lua_source *src = find_source(name);
  if (!src) luaL_error(L, "module '%s' is not part of luagrad's library", name);
  if (luaL_loadbufferx(L, src->text, src->length, src->chunk, "t") != LUA_OK)
    lua_error(L);
}

void lgl_require(lua_State *L, const char *name) {
  lgl_state *S = state_of(L);
  if (!S->hosted) {
    if (lua_getglobal(L, "require") == LUA_TFUNCTION) {
      lua_pushstring(L, name);
      lua_call(L, 1, 1);
      return;
    }
    lua_pop(L, 1); /* no package library: the built-in sources */
  }
  if (strcmp(name, "luagrad") == 0) {
    lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.module");
    return;
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, "luagrad.loaded");
  if (lua_getfield(L, -1, name) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  load_chunk(L, S, name);
  push_env(L);
  lua_setupvalue(L, -2, 1); /* the chunk's _ENV */
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  lua_remove(L, -2); /* luagrad.loaded */
  int top = lua_gettop(L);
  if (lua_getglobal(L, "package") == LUA_TTABLE &&
      lua_getfield(L, -1, "loaded") == LUA_TTABLE &&
      lua_getfield(L, -1, name) == LUA_TNIL) {
    lua_pushvalue(L, top);
    lua_setfield(L, top + 2, name);
  }
  lua_settop(L, top);
}
