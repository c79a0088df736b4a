/* main.c: the `luagrad` executable: a Lua 5.4 interpreter with luagrad
 * preloaded and the command line of the stock `lua`: `luagrad script.lua
 * args...` runs a script (arg as in lua), -e runs a chunk, -l requires a
 * module, -i enters the REPL afterwards, and with no script and no -e the
 * REPL starts (lua/cli/repl.c). Run from the build tree it finds the Lua half
 * of the library in the source tree, without installing. Its Lua state runs
 * the generational collector. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lua_alloc.h"
#include "repl.h"

int luaopen_luagrad(lua_State *L);

static int is_directory(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Prepends dir/?.lua;dir/?/init.lua to package.path. */
static void prepend_lua_path(lua_State *L, const char *dir) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir,
                  lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
}

static void setup_paths(lua_State *L) {
  if (is_directory(LUAGRAD_INSTALL_LUA_DIR "/luagrad"))
    prepend_lua_path(L, LUAGRAD_INSTALL_LUA_DIR);
  if (is_directory(LUAGRAD_SOURCE_LUA_DIR "/luagrad"))
    prepend_lua_path(L, LUAGRAD_SOURCE_LUA_DIR);
  /* require "luagrad" resolves to the statically linked C module */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_luagrad);
  lua_setfield(L, -2, "luagrad");
  lua_pop(L, 1);
  /* opened now, so its context exists before any chunk runs: Ctrl-C
   * (repl.c) reaches a running kernel through it */
  luaL_requiref(L, "luagrad", luaopen_luagrad, 0);
  lua_pop(L, 1);
}

static int report(lua_State *L, int status, const char *progname) {
  if (status != LUA_OK) {
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    fflush(stderr);
    /* lg.distributed sets this to end the whole MPI job (MPI_Abort) */
    int top = lua_gettop(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.on_uncaught_error") ==
        LUA_TFUNCTION)
      lua_pcall(L, 0, 0, 0);
    lua_settop(L, top - 1);
  }
  return status;
}

static int run_string(lua_State *L, const char *code, const char *name) {
  int status = luaL_loadbuffer(L, code, strlen(code), name);
  if (status == LUA_OK) status = repl_call(L, 0, 0);
  return status;
}

static int run_file(lua_State *L, const char *path) {
  int status = luaL_loadfile(L, path);
  if (status == LUA_OK) status = repl_call(L, 0, 0);
  return status;
}

/* -l mod requires mod into global mod; -l g=mod into global g. */
static int require_global(lua_State *L, const char *spec) {
  const char *equals = strchr(spec, '=');
  const char *module = equals ? equals + 1 : spec;
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  int status = repl_call(L, 1, 1);
  if (status == LUA_OK) {
    if (equals)
      lua_pushlstring(L, spec, (size_t)(equals - spec));
    else
      lua_pushstring(L, module);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return status;
}

/* arg as the stock interpreter builds it: the script at 0, options below. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static void print_usage(FILE *out, const char *progname) {
  fprintf(out,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter the REPL after running 'script' and -e\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables (LUA_INIT)\n"
          "  -W        turn warnings on\n"
          "  --help    show this help\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n"
          "With no script and no -e, luagrad starts its REPL; type :help "
          "there.\n",
          progname);
}

static void print_version(void) {
  printf("luagrad %s (%s)\n", LUAGRAD_VERSION, LUA_RELEASE);
  fflush(stdout);
}

enum { HAS_ERROR = 1, HAS_I = 2, HAS_V = 4, HAS_E = 8, HAS_BIG_E = 16,
       HAS_HELP = 32 };

/* First pass over the options, as lua.c's collectargs: checks them and
 * returns their flags; *script is the index of the script (0 if none). */
static int collect_args(char **argv, int argc, int *script) {
  int flags = 0;
  *script = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      *script = i;
      return flags;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      flags |= HAS_HELP;
    } else if (strcmp(a, "--") == 0) {
      if (i + 1 < argc) *script = i + 1;
      return flags;
    } else if (strcmp(a, "-") == 0) {
      *script = i;
      return flags;
    } else if (strcmp(a, "-i") == 0) {
      flags |= HAS_I;
    } else if (strcmp(a, "-v") == 0) {
      flags |= HAS_V;
    } else if (strcmp(a, "-E") == 0) {
      flags |= HAS_BIG_E;
    } else if (strcmp(a, "-W") == 0) {
      /* handled in run_args */
    } else if (a[1] == 'e' || a[1] == 'l') {
      if (a[1] == 'e') flags |= HAS_E;
      if (a[2] == '\0' && (++i >= argc || argv[i][0] == '-'))
        return HAS_ERROR; /* no argument */
    } else {
      return HAS_ERROR;
    }
  }
  return flags;
}

/* Second pass: runs -e, -l and -W in order. */
static int run_args(lua_State *L, char **argv, int end, const char *progname) {
  for (int i = 1; i < end; i++) {
    const char *a = argv[i];
    if (a[0] != '-') continue;
    if (a[1] == 'W' && a[2] == '\0') {
      lua_warning(L, "@on", 0);
    } else if (a[1] == 'e' || a[1] == 'l') {
      const char *value = a[2] ? a + 2 : argv[++i];
      int status = a[1] == 'e' ? run_string(L, value, "=(command line)")
                               : require_global(L, value);
      if (report(L, status, progname) != LUA_OK) return 0;
    }
  }
  return 1;
}

/* LUA_INIT_5_4 or LUA_INIT: code, or @file, run before anything else. */
static int run_lua_init(lua_State *L, const char *progname) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL) return 1;
  int status = init[0] == '@' ? run_file(L, init + 1)
                              : run_string(L, init, name);
  return report(L, status, progname) == LUA_OK;
}

static int run_script(lua_State *L, char **argv, int argc, int script) {
  const char *path = argv[script];
  if (strcmp(path, "-") == 0 && strcmp(argv[script - 1], "--") != 0)
    path = NULL; /* stdin */
  int status = luaL_loadfile(L, path);
  if (status == LUA_OK) {
    int n = argc - script - 1;
    luaL_checkstack(L, n, "too many arguments to script");
    for (int k = script + 1; k < argc; k++) lua_pushstring(L, argv[k]);
    status = repl_call(L, n, 0);
  }
  return status;
}

int main(int argc, char **argv) {
  const char *progname = argv[0] && argv[0][0] ? argv[0] : "luagrad";
  int script;
  int flags = collect_args(argv, argc, &script);
  if (flags & HAS_ERROR) {
    print_usage(stderr, progname);
    return EXIT_FAILURE;
  }
  if (flags & HAS_HELP) {
    print_usage(stdout, progname);
    return EXIT_SUCCESS;
  }
  cli_pool *pool = NULL;
  lua_State *L = cli_state_new(&pool);
  if (!L) {
    fprintf(stderr, "%s: cannot create Lua state: not enough memory\n",
            progname);
    return EXIT_FAILURE;
  }
  /* Generational collection: a loop's temporaries (dead tensor boxes) are
   * freed by minor collections, which pass over the young objects only,
   * instead of a full cycle every few large ops (a 1M-element add: 139 ->
   * 129 us), and the output's freed block comes back warm (lgl_gc_pressure
   * runs the major collections that tensor memory needs). */
  lua_gc(L, LUA_GCGEN, 0, 0);
  luaL_openlibs(L);
  setup_paths(L);
  create_arg_table(L, argv, argc, script);
  if (flags & HAS_BIG_E) {
    lua_pushboolean(L, 1); /* as lua.c: libraries ignore env. variables */
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  int ok = 1;
  if (flags & HAS_V) print_version();
  if (!(flags & HAS_BIG_E)) ok = run_lua_init(L, progname);
  if (ok) ok = run_args(L, argv, script > 0 ? script : argc, progname);
  if (ok && script > 0)
    ok = report(L, run_script(L, argv, argc, script), progname) == LUA_OK;
  if (ok && ((flags & HAS_I) || (script == 0 && !(flags & (HAS_E | HAS_V)))))
    ok = repl_run(L, progname) == 0; /* piped input: a failed chunk fails */
  cli_state_close(L, pool);
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
