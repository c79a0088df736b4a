/* fuzz_tensor_table.c: libFuzzer harness for lg.tensor on Lua values.
 *
 * The input is a small program that builds a Lua value: nested tables
 * (ragged, rectangular, with holes, sharing subtables), integers, floats
 * (nan, inf, -0, huge, subnormal), booleans, strings, nil, tensors, and an
 * options table. lg.tensor(value, opts) runs under pcall in a fresh
 * lua_State whose memory is capped; it either raises a Lua error or gives
 * a tensor that prints, converts back to tables and round-trips. Closing
 * the state frees everything (LeakSanitizer checks that).
 */
#include "fuzz.h" /* first: it asks for memfd_create */

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>

#include "luagrad_lua.h" /* luaopen_luagrad */

typedef struct reader {
  const uint8_t *p, *end;
  int nodes; /* values built so far: bounds the work per input */
} reader;

static int next_byte(reader *r) { return r->p < r->end ? *r->p++ : -1; }

static uint64_t next_u64(reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | (uint64_t)(next_byte(r) & 0xff);
  return v;
}

static const double specials[] = {
    NAN, INFINITY, -INFINITY, -0.0, 1e308, -1e308, 9223372036854775808.0,
    -9223372036854775808.0, 18446744073709551616.0, 4.9e-324, 0.5, -1.5,
    2147483648.0, 256.0, -1.0, 1e-7};
static const char *const dtypes[] = {"float32", "float64", "int32", "int64",
                                     "uint8",   "bool",    "double", "long",
                                     "complex", ""};

/* Pushes one value built from the input (at most 12 levels deep). */
static void push_value(lua_State *L, reader *r, int depth) {
  int op = next_byte(r);
  if (op < 0 || ++r->nodes > 20000) {
    lua_pushinteger(L, 0);
    return;
  }
  luaL_checkstack(L, 8, "fuzz");
  switch (op % 12) {
  case 0: case 1: case 2: { /* array of n values */
    int n = next_byte(r) & 7;
    if (depth >= 12) n = 0;
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
      push_value(L, r, depth + 1);
      lua_rawseti(L, -2, i);
    }
    break;
  }
  case 3: { /* any int64 */
    lua_pushinteger(L, (lua_Integer)next_u64(r));
    break;
  }
  case 4: { /* any double, nan payloads included */
    uint64_t bits = next_u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    lua_pushnumber(L, d);
    break;
  }
  case 5:
    lua_pushinteger(L, next_byte(r) - 128);
    break;
  case 6:
    lua_pushnumber(L, specials[(next_byte(r) & 0xff) % (sizeof specials /
                                                        sizeof specials[0])]);
    break;
  case 7:
    lua_pushboolean(L, next_byte(r) & 1);
    break;
  case 8: { /* a short string, digits likely */
    char s[8];
    int n = next_byte(r) & 7;
    for (int i = 0; i < n; i++) s[i] = (char)('0' + (next_byte(r) & 0x3f));
    lua_pushlstring(L, s, (size_t)n);
    break;
  }
  case 9:
    lua_pushnil(L);
    break;
  case 10: { /* n copies of one value: rectangular tables are likely */
    int n = next_byte(r) % 6;
    if (depth >= 12) n = 0;
    lua_createtable(L, n, 0);
    push_value(L, r, depth + 1);
    for (int i = 1; i <= n; i++) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, i);
    }
    lua_pop(L, 1);
    break;
  }
  default: { /* a tensor: lg.tensor copies it, a nested one is an error */
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.lg");
    lua_getfield(L, -1, "zeros");
    lua_remove(L, -2);
    lua_pushinteger(L, next_byte(r) & 3);
    lua_call(L, 1, 1);
    break;
  }
  }
}

/* Pushes lg.tensor's options: nothing, a dtype, requires_grad, or junk. */
static void push_options(lua_State *L, reader *r) {
  int op = next_byte(r);
  if (op < 0) op = 0;
  switch (op % 6) {
  case 0:
    lua_pushnil(L);
    break;
  case 1: case 2:
    lua_createtable(L, 0, 2);
    lua_pushstring(L, dtypes[(op >> 3) % (sizeof dtypes / sizeof dtypes[0])]);
    lua_setfield(L, -2, "dtype");
    if (op & 0x80) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "requires_grad");
    }
    break;
  case 3:
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "requires_grad");
    break;
  default:
    push_value(L, r, 10);
    break;
  }
}

/* After lg.tensor: print it, turn it back into tables and into a tensor. */
static const char check_script[] =
    "local lg, t, opts = ...\n"
    "assert(lg.is_tensor(t))\n"
    "local _ = tostring(t)\n"
    "local list = t:tolist()\n"
    "local u = lg.tensor(list, {dtype = t.dtype})\n"
    "assert(u:numel() == t:numel() and u:dim() == t:dim())\n"
    "if t:numel() > 0 and t.dtype ~= 'bool' then local _ = t:sum() end\n";

static int run(lua_State *L) {
  reader *r = lua_touserdata(L, 1);
  luaL_openlibs(L);
  luaL_requiref(L, "luagrad", luaopen_luagrad, 0);
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.lg");
  if (luaL_loadbuffer(L, check_script, sizeof check_script - 1, "check"))
    return lua_error(L);
  int check = lua_gettop(L);
  push_options(L, r);
  int opts = lua_gettop(L);
  push_value(L, r, 0);
  int value = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.lg");
  lua_getfield(L, -1, "tensor");
  lua_pushvalue(L, value);
  lua_pushvalue(L, opts);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    /* every failure is a Lua error with a message naming the function */
    const char *msg = lua_tostring(L, -1);
    FUZZ_ASSERT(msg != NULL, "an error value that is not a string");
    if (!strstr(msg, "not enough memory"))
      FUZZ_ASSERT(strstr(msg, "tensor") != NULL, msg);
    return 0;
  }
  lua_pushvalue(L, check);
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.lg");
  lua_pushvalue(L, -3);
  lua_pushvalue(L, opts);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg || !strstr(msg, "not enough memory"))
      FUZZ_ASSERT(0, msg ? msg : "check failed");
  }
  return 0;
}

/* Lua's own memory, capped like the tensors' (Lua reports the failure). */
static void *lua_alloc_capped(void *ud, void *ptr, size_t old_size,
                              size_t new_size) {
  return fuzz_alloc_fn(ud, ptr, ptr ? old_size : 0, new_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_alloc f = {0, 0, FUZZ_ALLOC_CAP};
  lua_State *L = lua_newstate(lua_alloc_capped, &f);
  FUZZ_ASSERT(L != NULL, "a lua_State");
  reader r = {data, data + size, 0};
  lua_pushcfunction(L, run);
  lua_pushlightuserdata(L, &r);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg || !strstr(msg, "not enough memory"))
      FUZZ_ASSERT(0, msg ? msg : "opening luagrad failed");
  }
  lua_close(L);
  FUZZ_ASSERT(f.live == 0 && f.bytes == 0, "Lua memory left after close");
  return 0;
}
