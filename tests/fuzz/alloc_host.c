/* alloc_host.c: a tiny embedding host that runs a Lua script (argument 1)
 * in a lua_State opened with luagrad_open and an allocator that fails at
 * the k-th tensor allocation, for every k up to the count of a clean run.
 *
 * For each k it prints one line:
 *   k=<k> result=<ok|error|open-error> live=<blocks> recovered=<yes|no|->
 *     message=<the Lua error>
 * where live is what the allocator still holds after lua_close (must be 0)
 * and recovered says whether the same state, its allocator healed, then
 * runs the script again to the clean run's result. The last line is
 * "total=<n> clean=<checksum>". tests/lua/alloc_failure_spec.lua reads it.
 * Lua's own memory is plain malloc: only tensor memory fails here.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luagrad_lua.h"
#include "test_alloc.h" /* tests/c: the C tests' failing allocator */

static const char *source_dir = LUAGRAD_SOURCE_DIR;

/* Runs the script; 1 and *result on success, 0 and *message on error. */
static int run_script(lua_State *L, const char *script, double *result,
                      char *message, size_t size) {
  int top = lua_gettop(L);
  int status = luaL_loadfile(L, script);
  if (status == LUA_OK) status = lua_pcall(L, 0, 1, 0);
  int ok = status == LUA_OK && lua_isnumber(L, -1);
  if (ok) *result = lua_tonumber(L, -1);
  else snprintf(message, size, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1)
                                                         : "(no message)");
  lua_settop(L, top);
  return ok;
}

/* A state with the standard libraries, package.path at the sources, and
 * luagrad opened on f; NULL when luagrad_open fails (message filled). */
static lua_State *new_state(test_alloc *f, char *message, size_t size) {
  lua_State *L = luaL_newstate();
  if (!L) {
    snprintf(message, size, "luaL_newstate failed");
    return NULL;
  }
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua", source_dir, source_dir);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  if (luagrad_open(L, test_alloc_fn, f) != LG_OK) {
    snprintf(message, size, "%s", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  lua_pop(L, 1);
  return L;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: alloc_host script.lua [source_dir]\n");
    return 2;
  }
  if (argc > 2) source_dir = argv[2];
  char message[1024];
  test_alloc clean = TEST_ALLOC_UNLIMITED;
  double want = 0;
  lua_State *L = new_state(&clean, message, sizeof message);
  if (!L || !run_script(L, argv[1], &want, message, sizeof message)) {
    fprintf(stderr, "alloc_host: the clean run failed: %s\n", message);
    if (L) lua_close(L);
    return 1;
  }
  lua_close(L);
  long total = LONG_MAX - clean.budget;
  int bad = clean.live != 0;
  for (long k = 0; k <= total; k++) {
    test_alloc f = {k, 0, 0};
    const char *result = "open-error", *recovered = "-";
    message[0] = '\0';
    L = new_state(&f, message, sizeof message);
    if (L) {
      double got = 0;
      if (run_script(L, argv[1], &got, message, sizeof message)) {
        result = "ok";
        bad |= got != want;
      } else {
        result = "error";
        f.budget = LONG_MAX; /* heal the allocator: the state must work */
        char again[1024];
        recovered = run_script(L, argv[1], &got, again, sizeof again) &&
                    got == want ? "yes" : "no";
      }
      lua_close(L);
    }
    for (char *c = message; *c; c++)
      if (*c == '\n') *c = ' ';
    printf("k=%ld result=%s live=%ld recovered=%s message=%s\n", k, result,
           f.live, recovered, message);
    bad |= f.live != 0 || f.live_bytes != 0;
  }
  printf("total=%ld clean=%.17g\n", total, want);
  return bad ? 1 : 0;
}
