/* lua_alloc.h: the luagrad executable's Lua state, made with a pooled
 * allocator for small blocks (lua_alloc.c). */
#ifndef LUAGRAD_CLI_LUA_ALLOC_H
#define LUAGRAD_CLI_LUA_ALLOC_H

#include <lua.h>

typedef struct cli_pool cli_pool;

/* A new Lua state whose allocator is a fresh pool (*pool, to be given to
 * cli_state_close), with luaL_newstate's panic and warning functions;
 * NULL when out of memory. */
lua_State *cli_state_new(cli_pool **pool);
/* lua_close(L), then frees the pool's memory. */
void cli_state_close(lua_State *L, cli_pool *pool);

#endif
