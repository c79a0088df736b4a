/* compile_lua.c: the compiled function of func.compile (lg._compile), its
 * guard and plan cache, and the host's access to its plans.
 *
 * A call encodes its guard in C (grad mode; per argument, recursively
 * through tables with their keys sorted: a tensor's dtype, shape, strides
 * and requires_grad, and which earlier leaf it is when it repeats; a
 * number's, string's or boolean's value; anything else by identity) and
 * collects the tensor leaves in that order. A guard seen before replays its
 * plan (lg_plan_run) with those leaves; a new one runs f once under a trace
 * (lg_trace_begin/end) and returns f's own results. Plans are kept per
 * guard, least recently used first out. Results are rebuilt from a template
 * of f's first results: tensors there are the plan's outputs in order.
 */

/***
 * Compiled functions (func.compile): calling one, plan_info, reset.
 * @module lg
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lg_compile.h"
#include "lgl.h"
#include "luagrad_lua.h"

#define COMPILED_META "luagrad.compiled"
#define MAX_DEPTH 32

typedef struct entry {
  unsigned char *key;
  size_t key_len;
  lg_plan *plan;       /* NULL: this guard runs eagerly (fallback)         */
  int tpl;             /* registry ref of the result template, or NOREF   */
  int n_results;       /* f's results (the simple form: all tensors)       */
  int cached;          /* reuse_outputs: registry ref of the array of the
                          results a replay returns (the same tensors, in
                          the same tables, every time), or NOREF          */
  uint64_t used;       /* LRU stamp                                        */
} entry;

#define COMPILED_MAGIC 0x6c67636dU /* "lgcm": a compiled function's block */

typedef struct compiled {
  uint32_t magic;
  int max_plans, n_entries, last; /* last: the entry of the last call   */
  bool reuse_outputs, fallback, fuse;
  uint64_t clock;
  entry *entries;
  unsigned char *key;
  size_t key_len, key_cap;
  lg_tensor **leaves;
  int n_leaves, cap_leaves;
  lg_tensor **outs;
  int cap_outs;
  int calls_traced, calls_replayed, calls_eager;
} compiled;

/* ---- memory through Lua's allocator -------------------------------------- */

static void *grow(lua_State *L, void *p, size_t old, size_t size) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  void *q = f(ud, p, old, size);
  if (!q && size) luaL_error(L, "func.compile: out of memory");
  return q;
}

static void put(lua_State *L, compiled *c, const void *data, size_t n) {
  if (c->key_len + n > c->key_cap) {
    size_t cap = c->key_cap ? c->key_cap : 256;
    while (cap < c->key_len + n) cap *= 2;
    c->key = grow(L, c->key, c->key_cap, cap);
    c->key_cap = cap;
  }
  memcpy(c->key + c->key_len, data, n);
  c->key_len += n;
}
static void put_byte(lua_State *L, compiled *c, unsigned char b) { put(L, c, &b, 1); }

static void add_leaf(lua_State *L, compiled *c, lg_tensor *t) {
  if (c->n_leaves == c->cap_leaves) {
    int cap = c->cap_leaves ? c->cap_leaves * 2 : 16;
    c->leaves = grow(L, c->leaves, sizeof *c->leaves * (size_t)c->cap_leaves,
                     sizeof *c->leaves * (size_t)cap);
    c->cap_leaves = cap;
  }
  c->leaves[c->n_leaves++] = t;
}

/* ---- the guard ------------------------------------------------------------- */

typedef struct key_item {
  int type;            /* LUA_TNUMBER or LUA_TSTRING */
  const char *s;
  size_t len;
  lua_Number num;
  lua_Integer i;
  bool is_int;
} key_item;

static int cmp_keys(const void *pa, const void *pb) {
  const key_item *a = pa, *b = pb;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  if (a->type == LUA_TSTRING) {
    size_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->s, b->s, n);
    return r ? r : (a->len < b->len ? -1 : a->len > b->len);
  }
  lua_Number x = a->is_int ? (lua_Number)a->i : a->num;
  lua_Number y = b->is_int ? (lua_Number)b->i : b->num;
  return x < y ? -1 : x > y;
}

static bool encode(lua_State *L, compiled *c, int idx, int depth);

/* A table: its array part, then its other keys sorted (strings and numbers
 * only; a table keyed by anything else counts by identity). */
static bool encode_table(lua_State *L, compiled *c, int idx, int depth) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  key_item local_items[16]; /* most tables: no allocation per call */
  int m = 0, cap = 16;
  key_item *items = local_items;
  bool plain = true;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int kt = lua_type(L, -1);
    if (kt == LUA_TNUMBER && lua_isinteger(L, -1) &&
        lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n)
      continue;
    if (kt != LUA_TNUMBER && kt != LUA_TSTRING) {
      plain = false;
      continue;
    }
    if (m == cap) {
      int cap2 = cap * 2;
      key_item *bigger = grow(L, NULL, 0, sizeof *items * (size_t)cap2);
      memcpy(bigger, items, sizeof *items * (size_t)m);
      if (items != local_items) grow(L, items, sizeof *items * (size_t)cap, 0);
      items = bigger;
      cap = cap2;
    }
    key_item *k = &items[m++];
    memset(k, 0, sizeof *k);
    k->type = kt;
    if (kt == LUA_TSTRING) k->s = lua_tolstring(L, -1, &k->len);
    else if ((k->is_int = lua_isinteger(L, -1))) k->i = lua_tointeger(L, -1);
    else k->num = lua_tonumber(L, -1);
  }
  if (!plain) {
    if (items != local_items) grow(L, items, sizeof *items * (size_t)cap, 0);
    const void *p = lua_topointer(L, idx);
    put_byte(L, c, 'p');
    put(L, c, &p, sizeof p);
    return true;
  }
  put_byte(L, c, 'T');
  put(L, c, &n, sizeof n);
  bool ok = true;
  for (lua_Integer i = 1; ok && i <= n; i++) {
    lua_rawgeti(L, idx, i);
    ok = encode(L, c, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  if (m > 1) qsort(items, (size_t)m, sizeof *items, cmp_keys);
  put(L, c, &m, sizeof m);
  for (int j = 0; ok && j < m; j++) {
    key_item *k = &items[j];
    if (k->type == LUA_TSTRING) {
      put_byte(L, c, 's');
      put(L, c, &k->len, sizeof k->len);
      put(L, c, k->s, k->len);
      lua_pushlstring(L, k->s, k->len);
    } else if (k->is_int) {
      put_byte(L, c, 'i');
      put(L, c, &k->i, sizeof k->i);
      lua_pushinteger(L, k->i);
    } else {
      put_byte(L, c, 'f');
      put(L, c, &k->num, sizeof k->num);
      lua_pushnumber(L, k->num);
    }
    lua_rawget(L, idx);
    ok = encode(L, c, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  if (items != local_items) grow(L, items, sizeof *items * (size_t)cap, 0);
  return ok;
}

/* Appends the value at idx to the guard; false when the call can't be
 * compiled (a batched or dual tensor: run eagerly). */
static bool encode(lua_State *L, compiled *c, int idx, int depth) {
  lg_tensor *t = lgl_to_tensor(L, idx);
  if (t) {
    if (lg_tensor_batch_level(t) || lg_tensor_is_dual(t)) return false;
    for (int i = 0; i < c->n_leaves; i++)
      if (c->leaves[i] == t) {
        put_byte(L, c, 'a');
        put(L, c, &i, sizeof i);
        add_leaf(L, c, t);
        return true;
      }
    int nd = lg_tensor_ndim(t);
    unsigned char head[4] = {'t', (unsigned char)lg_tensor_dtype(t),
                             (unsigned char)nd,
                             (unsigned char)lg_tensor_requires_grad(t)};
    put(L, c, head, sizeof head);
    put(L, c, lg_tensor_sizes(t), sizeof(int64_t) * (size_t)nd);
    put(L, c, lg_tensor_strides(t), sizeof(int64_t) * (size_t)nd);
    add_leaf(L, c, t);
    return true;
  }
  switch (lua_type(L, idx)) {
    case LUA_TNIL: put_byte(L, c, 'n'); return true;
    case LUA_TBOOLEAN:
      put_byte(L, c, lua_toboolean(L, idx) ? 'B' : 'b');
      return true;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        put_byte(L, c, 'i');
        put(L, c, &i, sizeof i);
      } else {
        lua_Number x = lua_tonumber(L, idx);
        put_byte(L, c, 'f');
        put(L, c, &x, sizeof x);
      }
      return true;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      put_byte(L, c, 's');
      put(L, c, &len, sizeof len);
      put(L, c, s, len);
      return true;
    }
    case LUA_TTABLE:
      if (depth >= MAX_DEPTH) break; /* deeper tables count by identity */
      luaL_checkstack(L, 4, "func.compile");
      return encode_table(L, c, idx, depth);
    default:
      break;
  }
  {
      const void *p = lua_topointer(L, idx);
      put_byte(L, c, 'p');
    put(L, c, &p, sizeof p);
    return true;
  }
}

static bool encode_guard(lua_State *L, compiled *c, int first, int nargs) {
  c->key_len = 0;
  c->n_leaves = 0;
  put_byte(L, c, lg_ctx_grad_enabled(lgl_ctx(L)) ? 'G' : 'g');
  put(L, c, &nargs, sizeof nargs);
  for (int i = 0; i < nargs; i++)
    if (!encode(L, c, first + i, 0)) return false;
  return true;
}

/* ---- the cache --------------------------------------------------------------- */

static void entry_clear(lua_State *L, entry *e) {
  lg_plan_release(e->plan);
  grow(L, e->key, e->key_len, 0);
  luaL_unref(L, LUA_REGISTRYINDEX, e->tpl);
  luaL_unref(L, LUA_REGISTRYINDEX, e->cached);
  memset(e, 0, sizeof *e);
  e->tpl = e->cached = LUA_NOREF;
}

static int find_entry(compiled *c) {
  for (int i = 0; i < c->n_entries; i++) {
    entry *e = &c->entries[i];
    if (e->key_len == c->key_len && !memcmp(e->key, c->key, c->key_len))
      return i;
  }
  return -1;
}

/* A free slot, evicting the least recently used plan when full. */
static int new_entry(lua_State *L, compiled *c) {
  int i = c->n_entries;
  if (i == c->max_plans) {
    i = 0;
    for (int j = 1; j < c->n_entries; j++)
      if (c->entries[j].used < c->entries[i].used) i = j;
    entry_clear(L, &c->entries[i]);
  } else {
    c->n_entries++;
  }
  entry *e = &c->entries[i];
  e->key = grow(L, NULL, 0, c->key_len ? c->key_len : 1);
  memcpy(e->key, c->key, c->key_len);
  e->key_len = c->key_len;
  e->tpl = e->cached = LUA_NOREF;
  return i;
}

/* ---- results ------------------------------------------------------------------ */

static void need_outs(lua_State *L, compiled *c, int n) {
  if (n <= c->cap_outs) return;
  int cap = c->cap_outs ? c->cap_outs : 8;
  while (cap < n) cap *= 2;
  c->outs = grow(L, c->outs, sizeof *c->outs * (size_t)c->cap_outs,
                 sizeof *c->outs * (size_t)cap);
  c->cap_outs = cap;
}

/* Pushes the template of the value at idx (tensors become light userdata
 * k + 1, k their output index, appended to c->outs) . */
static void template_of(lua_State *L, compiled *c, int idx, int *n_outs,
                        int depth) {
  lg_tensor *t = lgl_to_tensor(L, idx);
  if (t) {
    need_outs(L, c, *n_outs + 1);
    c->outs[*n_outs] = t;
    lua_pushlightuserdata(L, (void *)(intptr_t)(++*n_outs));
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE || depth >= MAX_DEPTH) {
    lua_pushvalue(L, idx);
    return;
  }
  luaL_checkstack(L, 6, "func.compile");
  lua_newtable(L);
  int copy = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    template_of(L, c, lua_gettop(L), n_outs, depth + 1);
    lua_remove(L, -2);        /* key, template */
    lua_pushvalue(L, -2);     /* key, template, key */
    lua_insert(L, -2);        /* key, key, template */
    lua_rawset(L, copy);
  }
  if (lua_getmetatable(L, idx)) lua_setmetatable(L, copy);
}

/* Pushes a copy of the template at idx with the run's outputs. */
static void fill_template(lua_State *L, int idx, lg_tensor **outs) {
  if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) {
    intptr_t k = (intptr_t)lua_touserdata(L, idx) - 1;
    lgl_push_tensor(L, outs[k]);
    outs[k] = NULL;
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE) {
    lua_pushvalue(L, idx);
    return;
  }
  luaL_checkstack(L, 6, "func.compile");
  lua_newtable(L);
  int copy = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    fill_template(L, lua_gettop(L), outs);
    lua_remove(L, -2);
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, copy);
  }
  if (lua_getmetatable(L, idx)) lua_setmetatable(L, copy);
}

/* ---- calling ---------------------------------------------------------------------- */

/* f(args) eagerly: the uncompilable calls and the fallback guards. */
static int call_eager(lua_State *L, int nargs) {
  lua_getiuservalue(L, 1, 1);
  lua_insert(L, 2);
  lua_call(L, nargs, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

/* Pushes the n results below the top once more, as an array kept in
 * e->cached: with reuse_outputs every replay returns these very values. */
static void cache_results(lua_State *L, entry *e, int n) {
  int first = lua_gettop(L) - n + 1;
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushvalue(L, first + i);
    lua_rawseti(L, -2, i + 1);
  }
  e->cached = luaL_ref(L, LUA_REGISTRYINDEX);
}

static int replay(lua_State *L, compiled *c, entry *e) {
  int n_out = lg_plan_num_outputs(e->plan);
  need_outs(L, c, n_out);
  if (lg_plan_run(e->plan, c->leaves, c->outs)) return lgl_error_as(L, "func.compile");
  c->calls_replayed++;
  if (e->cached != LUA_NOREF) { /* the same tensors as the last replay */
    for (int k = 0; k < n_out; k++) lg_tensor_release(c->outs[k]);
    luaL_checkstack(L, e->n_results + 1, "func.compile");
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->cached);
    int t = lua_gettop(L);
    for (int i = 1; i <= e->n_results; i++) lua_rawgeti(L, t, i);
    return e->n_results;
  }
  if (e->tpl == LUA_NOREF) {
    luaL_checkstack(L, n_out + 1, "func.compile");
    for (int k = 0; k < n_out; k++) lgl_push_tensor(L, c->outs[k]);
    if (c->reuse_outputs) cache_results(L, e, n_out);
    return n_out;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, e->tpl);
  int tpl = lua_gettop(L);
  luaL_checkstack(L, e->n_results + 2, "func.compile");
  for (int i = 1; i <= e->n_results; i++) {
    lua_rawgeti(L, tpl, i);
    fill_template(L, lua_gettop(L), c->outs);
    lua_remove(L, -2);
  }
  for (int k = 0; k < n_out; k++) lg_tensor_release(c->outs[k]); /* unused */
  if (c->reuse_outputs) cache_results(L, e, e->n_results);
  return e->n_results;
}

/* Says once, through the function lg._compile was given, that a guard runs
 * eagerly. */
static void warn_fallback(lua_State *L, const char *reason) {
  lua_getiuservalue(L, 1, 2);
  if (lua_isfunction(L, -1)) {
    lua_pushfstring(L, "func.compile: running this call's guard eagerly from "
                    "now on: %s", reason);
    lua_call(L, 1, 0);
  } else {
    lua_pop(L, 1);
  }
}

static int trace(lua_State *L, compiled *c, int nargs) {
  lg_ctx *ctx = lgl_ctx(L);
  if (lg_trace_begin(ctx, c->n_leaves, c->leaves)) return lgl_error_as(L, "func.compile");
  lua_pushboolean(L, c->fallback);
  lua_setfield(L, LUA_REGISTRYINDEX, "luagrad.compile_fallback");
  int base = 2; /* the arguments, after self */
  lua_getiuservalue(L, 1, 1);
  for (int i = 0; i < nargs; i++) lua_pushvalue(L, base + i);
  int top0 = lua_gettop(L) - nargs - 1;
  if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) {
    lg_trace_abort(ctx);
    return lua_error(L);
  }
  int n_results = lua_gettop(L) - top0;
  int first = top0 + 1;
  /* the results' tensors, and a template unless they are all tensors */
  bool simple = true;
  for (int i = 0; i < n_results; i++)
    if (!lgl_to_tensor(L, first + i)) simple = false;
  int n_outs = 0, tpl = LUA_NOREF;
  if (simple) {
    need_outs(L, c, n_results);
    for (int i = 0; i < n_results; i++) c->outs[n_outs++] = lgl_to_tensor(L, first + i);
  } else {
    lua_createtable(L, n_results, 0);
    int t = lua_gettop(L);
    for (int i = 0; i < n_results; i++) {
      template_of(L, c, first + i, &n_outs, 0);
      lua_rawseti(L, t, i + 1);
    }
    tpl = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  for (int k = 0; k < n_outs; k++)
    if (lg_tensor_requires_grad(c->outs[k]))
      lg_trace_taint(ctx, "result tensor %d requires grad, and a replay "
                     "records no graph: compile func.grad(f) (or f under "
                     "lg.no_grad) instead", k + 1);
  lg_plan *plan = NULL;
  lg_status st = lg_trace_end(ctx, n_outs, c->outs, c->reuse_outputs,
                              c->fuse, &plan);
  c->calls_traced++;
  if (st && !c->fallback) {
    luaL_unref(L, LUA_REGISTRYINDEX, tpl);
    return luaL_error(L, "func.compile: can't trace f: %s", lg_ctx_error(ctx));
  }
  int i = new_entry(L, c);
  entry *e = &c->entries[i];
  e->plan = plan;
  e->tpl = tpl;
  e->n_results = n_results;
  e->used = ++c->clock;
  c->last = i;
  if (st) warn_fallback(L, lg_ctx_error(ctx));
  return n_results;
}

/*** Calls the compiled function: replays the plan of the arguments' guard,
 * or traces f once for a new guard.
 * @function compiled:__call */
static int compiled_call(lua_State *L) {
  /* self is this userdata unless __call was fetched and called by hand;
   * the magic stands in for luaL_checkudata's registry lookups */
  compiled *c = lua_touserdata(L, 1);
  if (!c || lua_type(L, 1) != LUA_TUSERDATA || lua_rawlen(L, 1) != sizeof *c ||
      c->magic != COMPILED_MAGIC)
    c = luaL_checkudata(L, 1, COMPILED_META);
  int nargs = lua_gettop(L) - 1;
  lg_ctx *ctx = lgl_ctx(L);
  if (lg_trace_active(ctx) || !encode_guard(L, c, 2, nargs)) {
    c->calls_eager++;
    return call_eager(L, nargs); /* inside another trace: traced inline */
  }
  int i = find_entry(c);
  if (i >= 0) {
    entry *e = &c->entries[i];
    e->used = ++c->clock;
    c->last = i;
    if (e->plan) return replay(L, c, e);
    c->calls_eager++;
    return call_eager(L, nargs);
  }
  return trace(L, c, nargs);
}

/*** Frees the plans.
 * @function compiled:__gc */
static int compiled_gc(lua_State *L) {
  compiled *c = luaL_checkudata(L, 1, COMPILED_META);
  for (int i = 0; i < c->n_entries; i++) entry_clear(L, &c->entries[i]);
  c->n_entries = 0;
  grow(L, c->entries, sizeof *c->entries * (size_t)c->max_plans, 0);
  c->entries = NULL;
  grow(L, c->key, c->key_cap, 0);
  c->key = NULL;
  c->key_cap = 0;
  grow(L, c->leaves, sizeof *c->leaves * (size_t)c->cap_leaves, 0);
  c->leaves = NULL;
  c->cap_leaves = 0;
  grow(L, c->outs, sizeof *c->outs * (size_t)c->cap_outs, 0);
  c->outs = NULL;
  c->cap_outs = 0;
  return 0;
}

/*** Drops every plan: the next call traces again (after rebinding a
 * tensor that f reads from an upvalue, say).
 * @function compiled:reset */
static int compiled_reset(lua_State *L) {
  compiled *c = luaL_checkudata(L, 1, COMPILED_META);
  for (int i = 0; i < c->n_entries; i++) entry_clear(L, &c->entries[i]);
  c->n_entries = 0;
  c->last = -1;
  return 0;
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/*** What the plan of the last call's guard holds: a table with ops (kernel
 * calls per run), op_names, views, values, inputs, outputs, consts,
 * arena_bytes (one buffer for every intermediate), naive_bytes (what they
 * would take unshared), copies, runs, fused_groups (groups of steps run as
 * one pass over memory), fused_ops (steps inside them), fused (per group,
 * its op names joined by "+"); eager (the reason) for a guard that
 * runs eagerly; and plans, traced, replayed, eager_calls for the function.
 * @function compiled:plan_info
 * @return table, or nil before the first call */
static int compiled_plan_info(lua_State *L) {
  compiled *c = luaL_checkudata(L, 1, COMPILED_META);
  lua_newtable(L);
  set_int(L, "plans", c->n_entries);
  set_int(L, "traced", c->calls_traced);
  set_int(L, "replayed", c->calls_replayed);
  set_int(L, "eager_calls", c->calls_eager);
  if (c->last < 0 || c->last >= c->n_entries) return 1;
  entry *e = &c->entries[c->last];
  if (!e->plan) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "eager");
    return 1;
  }
  lg_plan_info info;
  lg_plan_get_info(e->plan, &info);
  set_int(L, "ops", info.ops);
  set_int(L, "views", info.views);
  set_int(L, "values", info.values);
  set_int(L, "inputs", info.inputs);
  set_int(L, "outputs", info.outputs);
  set_int(L, "consts", info.consts);
  set_int(L, "copies", info.copies);
  set_int(L, "arena_bytes", (lua_Integer)info.arena_bytes);
  set_int(L, "naive_bytes", (lua_Integer)info.naive_bytes);
  set_int(L, "runs", info.runs);
  lua_createtable(L, info.ops, 0);
  for (int i = 0; i < info.ops; i++) {
    lua_pushstring(L, lg_plan_step_name(e->plan, i));
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "op_names");
  set_int(L, "fused_groups", info.fused_groups);
  set_int(L, "fused_ops", info.fused_ops);
  lua_createtable(L, info.fused_groups, 0);
  luaL_Buffer b;
  for (int i = 0, g = 0; i < info.ops; i++) {
    int gi = lg_plan_step_group(e->plan, i);
    if (!gi) continue;
    if (gi != g) { /* a group's first step */
      g = gi;
      luaL_buffinit(L, &b);
    } else {
      luaL_addchar(&b, '+');
    }
    luaL_addstring(&b, lg_plan_step_name(e->plan, i));
    if (i + 1 == info.ops || lg_plan_step_group(e->plan, i + 1) != gi) {
      luaL_pushresult(&b);
      lua_rawseti(L, -2, gi);
      g = 0;
    }
  }
  lua_setfield(L, -2, "fused");
  return 1;
}

static const luaL_Reg compiled_methods[] = {
    {"plan_info", compiled_plan_info},
    {"reset", compiled_reset},
    {NULL, NULL},
};

/* _compile(f, max_plans, reuse_outputs, fallback, warn, fuse) -> compiled
 * (func_compile.lua checks the options) */
static int l_compile(lua_State *L) {
  luaL_checkany(L, 1);
  lua_Integer max_plans = luaL_checkinteger(L, 2);
  if (max_plans < 1 || max_plans > 1 << 16)
    return luaL_error(L, "func.compile: max_plans must be in 1..65536, got %I",
                      max_plans);
  compiled *c = lua_newuserdatauv(L, sizeof *c, 2);
  memset(c, 0, sizeof *c);
  c->magic = COMPILED_MAGIC;
  c->last = -1;
  c->max_plans = (int)max_plans;
  c->reuse_outputs = lua_toboolean(L, 3);
  c->fallback = lua_toboolean(L, 4);
  c->fuse = lua_isnoneornil(L, 6) || lua_toboolean(L, 6);
  if (luaL_newmetatable(L, COMPILED_META)) {
    /* closures with the binding's upvalues (state, tensor metatable) */
    static const luaL_Reg meta[] = {
        {"__call", compiled_call}, {"__gc", compiled_gc}, {NULL, NULL}};
    for (int pass = 0; pass < 2; pass++) {
      const luaL_Reg *r = pass ? compiled_methods : meta;
      if (pass) lua_newtable(L);
      for (; r->name; r++) {
        lua_pushvalue(L, LGL_STATE_UPVALUE);
        lua_pushvalue(L, LGL_META_UPVALUE);
        lua_pushvalue(L, LGL_BOXES_UPVALUE);
        lua_pushcclosure(L, r->func, LGL_NUPVALUES);
        lua_setfield(L, -2, r->name);
      }
      if (pass) lua_setfield(L, -2, "__index");
    }
    lua_pushliteral(L, "compiled function");
    lua_setfield(L, -2, "__name");
  }
  lua_setmetatable(L, -2);
  c->entries = grow(L, NULL, 0, sizeof *c->entries * (size_t)c->max_plans);
  memset(c->entries, 0, sizeof *c->entries * (size_t)c->max_plans);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, 5);
  lua_setiuservalue(L, -2, 2);
  return 1;
}

lg_plan *lgl_compiled_plan(lua_State *L, int idx) {
  compiled *c = luaL_testudata(L, idx, COMPILED_META);
  if (!c || c->last < 0 || c->last >= c->n_entries) return NULL;
  return lg_plan_retain(c->entries[c->last].plan);
}

void lgl_trace_check_read(lua_State *L, const char *what) {
  lg_ctx *ctx = lgl_ctx(L);
  if (!lg_trace_active(ctx)) return;
  luaL_where(L, 1); /* "file:line: " */
  size_t len;
  const char *where = lua_tolstring(L, -1, &len);
  int n = len >= 2 ? (int)len - 2 : 0;
  lua_getfield(L, LUA_REGISTRYINDEX, "luagrad.compile_fallback");
  bool fallback = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lg_trace_taint(ctx, "%s read a tensor's value into Lua at %.*s, so the "
                 "trace would depend on data", what, n, where);
  if (!fallback)
    luaL_error(L, "func.compile: %s reads a tensor's value into Lua while "
               "f is traced, so the trace would depend on data; compute "
               "with tensor ops (lg.where for branches), or compile with "
               "{fallback = true} to run such calls eagerly", what);
  lua_pop(L, 1);
}

static const luaL_Reg module_functions[] = {
    {"_compile", l_compile},
    {NULL, NULL},
};

void lgl_open_compile(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, module_functions, NULL);
}
