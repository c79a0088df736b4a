/* test_embed_compile.c: a compiled function's plan from C (lgl_compiled_plan,
 * lg_plan_run): the same results as the Lua call, no allocator call at all
 * in a steady-state replay with reuse_outputs (the tensor cache disabled, so
 * every request would reach the allocator), also for a compiled training
 * step, wrong inputs refused, flat memory over 100 000 runs, and nothing
 * left after lua_close. */
#include "embed_util.h"

/* core.h's, not in the public header: no cache, every block from the host */
void lg_ctx_set_cache_limit(lg_ctx *ctx, size_t bytes);

static int same_values(lg_tensor *a, lg_tensor *b) {
  return lg_tensor_numel(a) == lg_tensor_numel(b) &&
         memcmp(lg_tensor_data(a), lg_tensor_data(b),
                (size_t)lg_tensor_numel(a) * sizeof(float)) == 0;
}

/* The plan of global `name` after a Lua call (traced and replayed). */
static lg_plan *plan_of(lua_State *L, const char *name) {
  lua_getglobal(L, name);
  lg_plan *plan = lgl_compiled_plan(L, -1);
  lua_pop(L, 1);
  return plan;
}

static void test_forward_plan(void) {
  counter lc = {0}, tc = {0};
  lg_status st;
  lua_State *L = embed_state(&lc, &tc, &st);
  CHECK(L != NULL);
  if (!L) return;
  lg_ctx *ctx = luagrad_context(L);
  lg_ctx_set_cache_limit(ctx, 0);
  CHECK(run_lua(L,
    "lg.manual_seed(5)\n"
    "local nn, F = lg.nn, lg.F\n"
    "local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))\n"
    "local params = {}\n"
    "for k, p in pairs(model:named_parameters()) do params[k] = p:detach() end\n"
    "policy = lg.func.compile(function(x)\n"
    "  return lg.func.functional_call(model, params, x):tanh()\n"
    "end, {reuse_outputs = true})\n"
    "x = lg.randn(1, 16)\n"
    "policy(x); expected = policy(x):clone()\n"
    "mlp_info = policy:plan_info()\n"));
  lg_plan *plan = plan_of(L, "policy");
  CHECK(plan != NULL);
  if (!plan) { lua_close(L); return; }
  CHECK(lg_plan_num_inputs(plan) == 1 && lg_plan_num_outputs(plan) == 1);
  lua_getglobal(L, "x");
  lg_tensor *x = luagrad_to_tensor(L, -1);
  lua_getglobal(L, "expected");
  lg_tensor *expected = luagrad_to_tensor(L, -1);
  lg_tensor *out = NULL;
  CHECK(lg_plan_run(plan, &x, &out) == LG_OK && out);
  CHECK(same_values(out, expected));
  lg_tensor *first = out;
  lg_tensor_release(out);
  /* steady state: no allocator call, the same output, memory flat */
  size_t calls = tc.calls, live = tc.live_bytes, bytes = lg_ctx_bytes_in_use(ctx);
  for (int i = 0; i < 100000; i++) {
    out = NULL;
    if (lg_plan_run(plan, &x, &out) != LG_OK) break;
    CHECK(out == first);
    lg_tensor_release(out);
  }
  if (tc.calls != calls)
    fprintf(stderr, "100000 replays: %zu allocator calls\n", tc.calls - calls);
  CHECK(tc.calls == calls && tc.live_bytes == live &&
        lg_ctx_bytes_in_use(ctx) == bytes);
  CHECK(same_values(first, expected));
  /* a new input value gives the Lua call's new result */
  float *xv = lg_tensor_data(x);
  for (int i = 0; i < 16; i++) xv[i] = (float)(i % 5) * 0.25f - 0.5f;
  CHECK(lg_plan_run(plan, &x, &out) == LG_OK);
  CHECK(run_lua(L, "expected2 = policy(x):clone()"));
  lua_getglobal(L, "expected2");
  CHECK(same_values(out, luagrad_to_tensor(L, -1)));
  lua_pop(L, 1);
  lg_tensor_release(out);
  /* wrong inputs: a message naming the input, nothing written */
  lg_tensor *bad = NULL;
  int64_t shape[2] = {2, 16};
  CHECK(lg_empty(ctx, LG_FLOAT32, 2, shape, &bad) == LG_OK);
  out = NULL;
  CHECK(lg_plan_run(plan, &bad, &out) == LG_ERR_ARG && out == NULL);
  CHECK(strstr(lg_ctx_error(ctx), "input 1") != NULL);
  lg_tensor_release(bad);
  lg_tensor *null_in = NULL;
  CHECK(lg_plan_run(plan, &null_in, &out) == LG_ERR_ARG);
  lua_pop(L, 2);
  lg_plan_release(plan);
  lua_close(L);
  CHECK(tc.live_bytes == 0 && lc.live_bytes == 0);
}

static void test_training_step_plan(void) {
  counter lc = {0}, tc = {0};
  lg_status st;
  lua_State *L = embed_state(&lc, &tc, &st);
  CHECK(L != NULL);
  if (!L) return;
  lg_ctx *ctx = luagrad_context(L);
  lg_ctx_set_cache_limit(ctx, 0);
  /* the step updates params in place (a plan's in-place ops on its
   * arguments run in place), so the same tensors go in every time */
  CHECK(run_lua(L,
    "lg.manual_seed(6)\n"
    "local nn, F, func = lg.nn, lg.F, lg.func\n"
    "local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))\n"
    "params = {}\n"
    "for k, p in pairs(model:named_parameters()) do params[k] = p:detach():clone() end\n"
    "local grad = func.grad(function(p, x, y)\n"
    "  return F.mse_loss(func.functional_call(model, p, x), y)\n"
    "end)\n"
    "step = func.compile(function(p, x, y)\n"
    "  local g = grad(p, x, y)\n"
    "  for k, t in pairs(p) do t:sub_(g[k] * 0.1) end\n"
    "  return F.mse_loss(func.functional_call(model, p, x), y)\n"
    "end, {reuse_outputs = true})\n"
    "x, y = lg.randn(8, 16), lg.randn(8, 4)\n"
    "first_loss = step(params, x, y):item()\n"
    "step(params, x, y)\n"));
  lg_plan *plan = plan_of(L, "step");
  CHECK(plan != NULL);
  if (!plan) { lua_close(L); return; }
  int n = lg_plan_num_inputs(plan);
  CHECK(n == 6 && lg_plan_num_outputs(plan) == 1);
  /* the inputs in guard order: params' keys sorted, then x, y */
  CHECK(run_lua(L,
    "leaves = {}\n"
    "local keys = {}\n"
    "for k in pairs(params) do keys[#keys + 1] = k end\n"
    "table.sort(keys)\n"
    "for _, k in ipairs(keys) do leaves[#leaves + 1] = params[k] end\n"
    "leaves[#leaves + 1] = x; leaves[#leaves + 1] = y\n"));
  lg_tensor *in[6] = {NULL};
  lua_getglobal(L, "leaves");
  for (int i = 0; i < 6; i++) {
    lua_rawgeti(L, -1, i + 1);
    in[i] = luagrad_to_tensor(L, -1);
    lua_pop(L, 1);
  }
  lg_tensor *out = NULL;
  CHECK(lg_plan_run(plan, in, &out) == LG_OK);
  lg_tensor_release(out);
  size_t calls = tc.calls;
  float loss = 0;
  for (int i = 0; i < 200; i++) {
    out = NULL;
    if (lg_plan_run(plan, in, &out) != LG_OK) break;
    loss = *(const float *)lg_tensor_data(out);
    lg_tensor_release(out);
  }
  if (tc.calls != calls)
    fprintf(stderr, "200 training steps: %zu allocator calls\n", tc.calls - calls);
  CHECK(tc.calls == calls);
  lua_getglobal(L, "first_loss");
  CHECK(loss < 0.5 * lua_tonumber(L, -1)); /* it trained */
  lua_pop(L, 2);
  lg_plan_release(plan);
  lua_close(L);
  CHECK(tc.live_bytes == 0 && lc.live_bytes == 0);
}

int main(void) {
  test_forward_plan();
  test_training_step_plan();
  return test_report("test_embed_compile");
}
