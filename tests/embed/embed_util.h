/* embed_util.h: helpers of the embedding tests: a counting (optionally
 * failing) allocator and a Lua state with luagrad opened through it; the
 * CHECK macros are the C tests' own (tests/c/test_util.h). */
#ifndef EMBED_UTIL_H
#define EMBED_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "luagrad_lua.h"
#include "test_util.h" /* CHECK, test_failures, test_report */

/* Counts calls and live bytes; refuses once `allocated` would pass limit
 * (0: no limit). */
typedef struct counter {
  size_t calls, live_bytes, allocated, limit, refusals;
} counter;

static void *counting_alloc(void *ud, void *ptr, size_t old_size,
                            size_t new_size) {
  counter *c = ud;
  c->calls++;
  size_t old_bytes = ptr ? old_size : 0;
  if (new_size == 0) {
    c->live_bytes -= old_bytes;
    free(ptr);
    return NULL;
  }
  if (c->limit && new_size > old_bytes &&
      c->allocated + (new_size - old_bytes) > c->limit) {
    c->refusals++;
    return NULL;
  }
  void *p = realloc(ptr, new_size);
  if (!p) return NULL;
  if (new_size > old_bytes) c->allocated += new_size - old_bytes;
  c->live_bytes += new_size - old_bytes;
  return p;
}

static int open_libs(lua_State *L) {
  luaL_openlibs(L);
  return 0;
}

/* A Lua state on lua_alloc's counter with luagrad opened on tensor_alloc's
 * (the same counter is fine); luagrad's Lua files from the source tree.
 * NULL when either refused (the state is closed again). */
static lua_State *embed_state(counter *lua_counter, counter *tensor_counter,
                              lg_status *status) {
  lua_State *L = lua_newstate(counting_alloc, lua_counter);
  if (!L) return NULL;
  lua_pushcfunction(L, open_libs); /* protected: the allocator may refuse */
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  const char *setup = "package.path = '" LUAGRAD_SOURCE_LUA_DIR
                      "/?.lua;" LUAGRAD_SOURCE_LUA_DIR "/?/init.lua;' .. "
                      "package.path";
  if (luaL_dostring(L, setup) != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  lg_status st = luagrad_open(L, counting_alloc, tensor_counter);
  if (status) *status = st;
  if (st != LG_OK) {
    lua_close(L);
    return NULL;
  }
  lua_setglobal(L, "lg");
  return L;
}

/* Runs code; prints and counts an error unless expect_error. */
static inline int run_lua(lua_State *L, const char *code) {
  if (luaL_dostring(L, code) == LUA_OK) return 1;
  fprintf(stderr, "lua error: %s\n", lua_tostring(L, -1));
  lua_pop(L, 1);
  test_failures++;
  return 0;
}

#endif
