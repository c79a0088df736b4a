/* ops_table.c: the Lua wrappers generated from the op table (lg_ops.h).
 * Every kind but LG_KIND_OTHER has one C wrapper per calling convention
 * (in the family's ops_*.c), registered here under the name of every op of
 * that kind, with the op as its extra upvalue (LGL_EXTRA_UPVALUE);
 * lgl_check_generated then proves at open time that no row of a generated
 * kind was left without a wrapper. */
#include <stdio.h>

#include "lgl.h"

#define OP_UPVALUE LGL_EXTRA_UPVALUE

lg_op lgl_upvalue_op(lua_State *L) {
  return (lg_op)lua_tointeger(L, OP_UPVALUE);
}

/* Registers fn under name on the table at -1 with the op as upvalue 4. */
static void set_op_function(lua_State *L, const lgl_tables *T,
                            const char *name, lua_CFunction fn, lg_op op) {
  lua_pushvalue(L, T->state);
  lua_pushvalue(L, T->meta);
  lgl_push_boxes(L, T->state);
  lua_pushinteger(L, op);
  lua_pushcclosure(L, fn, LGL_NUPVALUES + 1);
  lua_setfield(L, -2, name);
}

void lgl_register_kind(lua_State *L, const lgl_tables *T, int kind,
                       lua_CFunction fn, lua_CFunction inplace_fn) {
  char inplace_name[64];
  for (int op = 0; op < LG_OP_COUNT; op++) {
    if (lg_op_kind((lg_op)op) != kind) continue;
    const char *name = lg_op_name((lg_op)op);
    lua_pushvalue(L, T->module);
    set_op_function(L, T, name, fn, (lg_op)op);
    lua_pop(L, 1);
    lua_pushvalue(L, T->methods);
    set_op_function(L, T, name, fn, (lg_op)op);
    if (inplace_fn) { /* in-place methods: t:exp_(), t:add_(u) */
      snprintf(inplace_name, sizeof inplace_name, "%s_", name);
      set_op_function(L, T, inplace_name, inplace_fn, (lg_op)op);
    }
    lua_pop(L, 1);
  }
}

void lgl_check_generated(lua_State *L, const lgl_tables *T) {
  for (int op = 0; op < LG_OP_COUNT; op++) {
    if (lg_op_kind((lg_op)op) == LG_KIND_OTHER) continue;
    lua_getfield(L, T->module, lg_op_name((lg_op)op));
    bool missing = !lua_iscfunction(L, -1);
    lua_pop(L, 1);
    if (missing)
      luaL_error(L, "luagrad: op %s has kind %d but no wrapper registered "
                 "for that kind (lgl_register_kind)", lg_op_name((lg_op)op),
                 lg_op_kind((lg_op)op));
  }
}
