/* test_embed_alloc.c: out= writes into the given tensor without touching
 * the allocator (runtime and Lua binding), the embedding API (wrapped host
 * memory, rebind, release, errors) and out='s autograd rule. */
#include "embed_util.h"

static lg_tensor *filled(lg_ctx *ctx, int ndim, const int64_t *sizes,
                         double scale) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, LG_FLOAT32, ndim, sizes, &t)) return NULL;
  float *d = lg_tensor_data(t);
  for (int64_t i = 0; i < lg_tensor_numel(t); i++)
    d[i] = (float)(scale * (double)((i * 7919) % 23 - 11));
  return t;
}

/* Runs op into out (LG_FLAG_OUT) and into a new tensor; compares bitwise
 * and checks that the out= run made no allocator call. */
static void check_out_op(lg_ctx *ctx, counter *c, lg_op op, int n,
                         lg_tensor **in, lg_tensor *out) {
  lg_params p = {0};
  p.flags = LG_FLAG_OUT;
  lg_tensor *res = out;
  size_t before = c->calls;
  lg_status st = lg_op_run(ctx, op, n, in, &p, &res);
  size_t calls = c->calls - before;
  if (st) fprintf(stderr, "%s: %s\n", lg_op_name(op), lg_ctx_error(ctx));
  CHECK(st == LG_OK && res == out);
  if (calls) fprintf(stderr, "%s with out=: %zu allocator calls\n",
                     lg_op_name(op), calls);
  CHECK(calls == 0);
  lg_tensor_release(res);
  lg_tensor *fresh = NULL;
  CHECK(lg_op_run(ctx, op, n, in, NULL, &fresh) == LG_OK);
  CHECK(fresh && lg_tensor_numel(fresh) == lg_tensor_numel(out) &&
        memcmp(lg_tensor_data(fresh), lg_tensor_data(out),
               (size_t)lg_tensor_numel(out) * sizeof(float)) == 0);
  lg_tensor_release(fresh);
}

static void test_runtime_out(void) {
  counter c = {0};
  lg_ctx *ctx = lg_ctx_new(counting_alloc, &c);
  int64_t sa[2] = {16, 32}, sb[2] = {32, 24}, sy[2] = {16, 24};
  lg_tensor *a = filled(ctx, 2, sa, 0.1), *a2 = filled(ctx, 2, sa, 0.2);
  lg_tensor *b = filled(ctx, 2, sb, 0.05);
  lg_tensor *ya = filled(ctx, 2, sa, 0), *y = filled(ctx, 2, sy, 0);
  lg_tensor *in[2] = {a, a2};
  check_out_op(ctx, &c, LG_OP_RELU, 1, in, ya);
  check_out_op(ctx, &c, LG_OP_TANH, 1, in, ya);
  check_out_op(ctx, &c, LG_OP_EXP, 1, in, ya);
  check_out_op(ctx, &c, LG_OP_ADD, 2, in, ya);
  check_out_op(ctx, &c, LG_OP_MUL, 2, in, ya);
  lg_tensor *mm[2] = {a, b};
  check_out_op(ctx, &c, LG_OP_MATMUL, 2, mm, y);
  /* a transposed operand goes to BLAS as a transpose, still no copy */
  lg_params tp = {0};
  tp.n_ints = 2;
  tp.ints[0] = 1;
  tp.ints[1] = 0;
  lg_tensor *bt = NULL, *btt = NULL, *b2[1] = {b};
  CHECK(lg_op_run(ctx, LG_OP_PERMUTE, 1, b2, &tp, &bt) == LG_OK);
  CHECK(lg_empty(ctx, LG_FLOAT32, 2, sb, &btt) == LG_OK); /* (24,32)^T */
  {
    lg_tensor *tmp = NULL, *src[1] = {bt};
    lg_params cp = {0};
    CHECK(lg_op_run(ctx, LG_OP_CLONE, 1, src, &cp, &tmp) == LG_OK);
    lg_tensor *tin[1] = {tmp};
    lg_tensor_release(btt);
    btt = NULL;
    CHECK(lg_op_run(ctx, LG_OP_PERMUTE, 1, tin, &tp, &btt) == LG_OK);
    lg_tensor_release(tmp);
  }
  CHECK(!lg_tensor_is_contiguous(btt));
  lg_tensor *mmt[2] = {a, btt};
  check_out_op(ctx, &c, LG_OP_MATMUL, 2, mmt, y);
  /* a wrong shape fails and leaves the output alone */
  lg_params p = {0};
  p.flags = LG_FLAG_OUT;
  lg_tensor *res = y;
  CHECK(lg_op_run(ctx, LG_OP_RELU, 1, in, &p, &res) == LG_ERR_SHAPE &&
        res == NULL);
  /* recording: out= is refused while an input requires grad */
  CHECK(lg_tensor_set_requires_grad(ctx, a, true) == LG_OK);
  res = ya;
  CHECK(lg_op_run(ctx, LG_OP_RELU, 1, in, &p, &res) != LG_OK &&
        strstr(lg_ctx_error(ctx), "automatic differentiation"));
  lg_ctx_set_grad_enabled(ctx, false);
  res = ya;
  CHECK(lg_op_run(ctx, LG_OP_RELU, 1, in, &p, &res) == LG_OK && res == ya);
  lg_tensor_release(res);
  lg_tensor *all[] = {a, a2, b, ya, y, bt, btt};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
  lg_ctx_free(ctx);
  CHECK(c.live_bytes == 0);
}

static int released = 0;
static void on_release(void *ud, void *data) {
  released += ud == data;
}

static void test_lua_out_and_api(void) {
  counter lc = {0}, tc = {0};
  lua_State *L = embed_state(&lc, &tc, NULL);
  CHECK(L != NULL);
  if (!L) return;
  CHECK(luagrad_open(L, NULL, NULL) == LG_ERR_RUNTIME);
  lua_pop(L, 1);
  float host[6] = {1, -2, 3, -4, 5, -6}, other[6] = {0};
  int64_t sizes[2] = {2, 3};
  CHECK(luagrad_push_wrapped(L, LG_FLOAT32, 2, sizes, host, on_release,
                             host) == LG_OK);
  lg_tensor *ht = luagrad_to_tensor(L, -1);
  CHECK(ht && lg_tensor_data(ht) == host);
  lua_setglobal(L, "h");
  run_lua(L,
    "x = lg.randn(8, 16); w = lg.randn(4, 16); b = lg.randn(4)\n"
    "wt = w:t(); y = lg.empty(8, 4); z = lg.empty(8, 16)\n"
    "oy, oz = {out = y}, {out = z}\n"
    "function step()\n"
    "  lg.addmm(b, x, wt, oy); lg.relu(y, oy); y:tanh(oy)\n"
    "  lg.matmul(x, wt, oy); lg.mm(x, wt, oy)\n"
    "  lg.add(x, x, oz); lg.mul(x, 2, oz); x:sub(1.5, oz); lg.sigmoid(x, oz)\n"
    "end\n"
    "for i = 1, 3 do step() end\n"
    "assert(rawequal(lg.relu(x, oz), z) and rawequal(x:add(x, oz), z))\n"
    "local ref = lg.tanh(lg.relu(x:matmul(w:t()) + b))\n"
    "lg.addmm(b, x, wt, oy); lg.relu(y, oy); y:tanh(oy)\n"
    "assert(lg.equal and lg.equal(y, ref) or (y - ref):abs():max():item() == 0)\n"
    "lg.relu(h, {out = h})\n");
  CHECK(host[1] == 0 && host[2] == 3);
  /* the collector stopped after one warm-up loop: its own housekeeping
   * (shrinking the stack or the string table when a cycle ends, which the
   * next loop grows back) is not the op path's doing, and any allocation
   * by the ops shows, unfreed */
  run_lua(L, "function loop() for i = 1, 100 do step() end end\n"
             "collectgarbage(); collectgarbage('stop'); loop()");
  lua_getglobal(L, "loop");
  size_t before = lc.calls + tc.calls, lua_before = lc.calls;
  CHECK(lua_pcall(L, 0, 0, 0) == LUA_OK);
  size_t calls = lc.calls + tc.calls - before;
  if (calls) fprintf(stderr, "Lua out= loop: %zu allocator calls (%zu by Lua)\n", calls, lc.calls - lua_before);
  CHECK(calls == 0);
  run_lua(L, "collectgarbage('restart')");
  /* errors: Lua errors naming the op */
  CHECK(luaL_dostring(L, "lg.relu(x, {out = lg.empty(2)})") != LUA_OK &&
        strstr(lua_tostring(L, -1), "relu:"));
  lua_pop(L, 1);
  CHECK(luaL_dostring(L, "local p = lg.randn(8, 16, {requires_grad = true})\n"
                         "lg.relu(p, oz)") != LUA_OK &&
        strstr(lua_tostring(L, -1), "automatic differentiation"));
  lua_pop(L, 1);
  CHECK(luaL_dostring(L, "local p = lg.randn(4, {requires_grad = true})\n"
                         "lg.addmm(p, x, wt, oy)") != LUA_OK &&
        strstr(lua_tostring(L, -1), "automatic differentiation"));
  lua_pop(L, 1);
  run_lua(L, "local p = lg.randn(8, 16, {requires_grad = true})\n"
             "lg.no_grad(function() lg.relu(p, oz) end)");
  CHECK(luaL_dostring(L, "lg.relu(x, {out = 3})") != LUA_OK &&
        strstr(lua_tostring(L, -1), "option out"));
  lua_pop(L, 1);
  /* rebind: views follow, size checked, NULL returns home */
  run_lua(L, "hv = h[2]");
  CHECK(luagrad_rebind(ht, other, sizeof other - 1) == LG_ERR_ARG);
  CHECK(luagrad_rebind(ht, other, sizeof other) == LG_OK);
  run_lua(L, "hv:fill_(7)");
  CHECK(other[3] == 7 && host[3] == 0); /* relu zeroed host's negatives */
  CHECK(luagrad_rebind(ht, NULL, 0) == LG_OK);
  run_lua(L, "assert(hv[1] == 0 and hv[2] == 5)");
  lua_getglobal(L, "x");
  CHECK(luagrad_rebind(luagrad_to_tensor(L, -1), other, sizeof other) ==
        LG_ERR_ARG);
  lua_pop(L, 1);
  /* push_tensor takes a reference; check_tensor raises from Lua */
  lg_tensor *t = NULL;
  CHECK(lg_full(luagrad_context(L), LG_FLOAT32, 2, sizes, 2.5, &t) == LG_OK);
  CHECK(luagrad_push_tensor(L, t) == LG_OK && luagrad_to_tensor(L, -1) == t);
  lua_pop(L, 1);
  CHECK(luagrad_to_tensor(L, 1) == NULL);
  lua_close(L);
  CHECK(released == 1);
  CHECK(lc.live_bytes == 0 && tc.live_bytes == 0);
}

int main(void) {
  test_runtime_out();
  test_lua_out_and_api();
  if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
  else printf("embed alloc tests passed\n");
  return test_failures ? 1 : 0;
}
