/* stubs.c: TEMPORARY weak registrations for binding families still being
 * written; each family's file replaces its stub. */
#include "lgl.h"

#define STUB(fn) \
  __attribute__((weak)) void fn(lua_State *L, const lgl_tables *T) { (void)L; (void)T; }
STUB(lgl_open_nn_loss)
STUB(lgl_open_nn_conv)
