/* stubs.c: TEMPORARY weak registrations so the binding links while the op
 * families are being written; each family's file replaces its stub. */
#include "lgl.h"

#define STUB(fn) \
  __attribute__((weak)) void fn(lua_State *L, const lgl_tables *T) { (void)L; (void)T; }
STUB(lgl_open_create)
STUB(lgl_open_reduce)
STUB(lgl_open_shape)
STUB(lgl_open_index)
STUB(lgl_open_linalg)
