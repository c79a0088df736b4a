/* module.c: the C module a stock Lua 5.4 host loads with require "luagrad"
 * (luagrad.so), beside the binding it opens (lua/binding/). */
#include <lua.h>

int luaopen_luagrad(lua_State *L);

/* Exported entry point: keeps the binding's symbol in the shared object. */
__attribute__((visibility("default"))) int luaopen_luagrad_module(lua_State *L);
int luaopen_luagrad_module(lua_State *L) { return luaopen_luagrad(L); }
