/* main.c: the `luagrad` executable: a Lua 5.4 interpreter with luagrad
 * preloaded. `luagrad script.lua args...` runs a script (arg as in lua),
 * `luagrad -e code` runs a chunk. Run from the build tree it finds the
 * Lua half of the library in the source tree, without installing. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)",
                                  luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int report(lua_State *L, int status, const char *progname) {
  if (status != LUA_OK) {
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

static int call_chunk(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, 0, base);
  lua_remove(L, base);
  return status;
}

/* arg table as the stock interpreter builds it: script at 0. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static void print_usage(const char *progname) {
  fprintf(stderr,
          "usage: %s [options] [script [args]]\n"
          "  -e code   run the string 'code'\n"
          "  -v        show version information\n"
          "  --help    show this help\n",
          progname);
}

int main(int argc, char **argv) {
  const char *progname = argv[0] ? argv[0] : "luagrad";
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "%s: cannot create Lua state: not enough memory\n",
            progname);
    return EXIT_FAILURE;
  }
  luaL_openlibs(L);
  setup_paths(L);
  int status = LUA_OK;
  int i = 1;
  for (; i < argc && status == LUA_OK; i++) {
    if (strcmp(argv[i], "-e") == 0) {
      if (++i >= argc) {
        print_usage(progname);
        status = LUA_ERRRUN;
        break;
      }
      status = luaL_loadbuffer(L, argv[i], strlen(argv[i]), "=(command line)");
      if (status == LUA_OK) status = call_chunk(L, 0);
      report(L, status, progname);
    } else if (strcmp(argv[i], "-v") == 0) {
      printf("luagrad %s (%s)\n", LUAGRAD_VERSION, LUA_RELEASE);
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      print_usage(progname);
    } else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, argv[i]);
      print_usage(progname);
      status = LUA_ERRRUN;
    } else {
      break;
    }
  }
  if (status == LUA_OK && i < argc) {
    create_arg_table(L, argv, argc, i);
    const char *script = argv[i];
    status = luaL_loadfile(L, strcmp(script, "-") == 0 ? NULL : script);
    if (status == LUA_OK) {
      int n = argc - i - 1;
      luaL_checkstack(L, n, "too many arguments to script");
      for (int k = i + 1; k < argc; k++) lua_pushstring(L, argv[k]);
      status = call_chunk(L, n);
    }
    report(L, status, progname);
  } else if (status == LUA_OK && argc == 1) {
    print_usage(progname);
  }
  lua_close(L);
  return status == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
