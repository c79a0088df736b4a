/* docs_lua.c: lg._doc_text(), the doc comments of the library and the
 * binding as one string (cut out at build time by
 * lua/binding/tools/embed_docs.c), which luagrad.help parses. */
#include "lgl.h"

extern const char lgl_doc_text[];
extern const size_t lgl_doc_text_length;

int lgl_l_doc_text(lua_State *L) {
  lua_pushlstring(L, lgl_doc_text, lgl_doc_text_length);
  return 1;
}
