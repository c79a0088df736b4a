/* repl.h: the interactive loop of the `luagrad` executable, and the
 * protected call (traceback, Ctrl-C) it shares with the script runner. */
#ifndef LUAGRAD_REPL_H
#define LUAGRAD_REPL_H

#include <lua.h>

/* Calls the function below nargs arguments on the stack, like lua_pcall,
 * with a traceback added to errors. Ctrl-C (SIGINT) during the call raises
 * the Lua error "interrupted!" at the next Lua instruction; a second Ctrl-C
 * before that ends the process. */
int repl_call(lua_State *L, int nargs, int nresults);

/* Message handler for repl_call and lua_pcall: turns the error object into
 * a string (through __tostring when it has one) and appends a traceback. */
int repl_traceback(lua_State *L);

/* Runs the REPL on L until end of input (Ctrl-D, :quit). On a terminal it
 * edits lines with libedit and keeps history in $HOME/.luagrad_history
 * and returns 0; otherwise it reads plain lines without prompts, for
 * piping, and returns the number of chunks that failed (a syntax or
 * runtime error, an error while printing, an unknown :command). */
int repl_run(lua_State *L, const char *progname);

#endif
