/* ops_einsum.c: the Lua face of lg_einsum (runtime/ops/einsum.c):
 * lg.einsum(spec, a, b, ...) or lg.einsum(spec, {a, b, ...}). */
#include "lgl.h"

/*** Einstein summation, as torch.einsum.
 * Letters name dims; a letter repeated within a term takes the diagonal;
 * "..." stands for broadcast dims; letters missing from the output are
 * summed. Without "->" the output is "..." and then the letters that occur
 * once, in alphabetical order. Pairs of operands are contracted greedily
 * (smallest intermediate first), each as one batched matmul.
 * @function einsum
 * @param spec string such as "bij,bjk->bik"
 * @param ... the operands (tensors), or one array table of them
 * @return tensor
 * @usage local c = lg.einsum("ij,jk->ik", a, b)   -- a:matmul(b)
 * @usage local tr = lg.einsum("ii", m)             -- the trace
 */
static int l_einsum(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "einsum: expected a spec string such as "
                      "\"ij,jk->ik\" as argument 1, got %s",
                      lgl_typename(L, 1));
  const char *spec = lua_tostring(L, 1);
  int first = 2, n = lua_gettop(L) - 1;
  if (n == 1 && lua_type(L, 2) == LUA_TTABLE && !lgl_to_tensor(L, 2)) {
    n = (int)lua_rawlen(L, 2);
    luaL_checkstack(L, n + 2, "einsum: too many operands");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, 2, i);
    first = 3;
  }
  if (n < 1)
    return luaL_error(L, "einsum: expected operands after the spec \"%s\"",
                      spec);
  lg_tensor **ops = lua_newuserdatauv(L, sizeof(lg_tensor *) * (size_t)n, 0);
  for (int i = 0; i < n; i++) {
    ops[i] = lgl_to_tensor(L, first + i);
    if (!ops[i])
      return luaL_error(L, "einsum: expected a tensor as operand %d, got %s",
                        i + 1, lgl_typename(L, first + i));
  }
  lgl_box *box = lgl_new_box(L);
  lg_tensor *out = NULL;
  if (lg_einsum(lgl_ctx(L), spec, n, ops, &out) != LG_OK) return lgl_error(L);
  lgl_box_set(box, out);
  lgl_gc_pressure(L, lgl_get_state(L));
  return 1;
}

static const luaL_Reg einsum_functions[] = {{"einsum", l_einsum},
                                            {NULL, NULL}};

/* Registers lg.einsum (a module function only, as in PyTorch). */
void lgl_open_einsum(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, einsum_functions, NULL);
}
