/* test_embed_threads.c: two lua_States in two threads train and infer at
 * the same time (BLAS-sized matmuls included, different thread counts) and
 * get bitwise the results of running one after the other. */
#include <pthread.h>

#include "embed_util.h"

/* Trains a small MLP with SGD, then runs a large matmul; returns every
 * result number as exact hex floats ("%a"). */
static const char *const script =
    "local seed, threads = ...\n"
    "lg.manual_seed(seed); lg.set_num_threads(threads)\n"
    "local nn, F = lg.nn, lg.F\n"
    "local net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))\n"
    "local opt = lg.optim.SGD(net:parameters(), {lr = 0.05, momentum = 0.9})\n"
    "local x, t = lg.randn(128, 16), lg.randn(128, 4)\n"
    "for step = 1, 40 do\n"
    "  opt:zero_grad(); local loss = F.mse_loss(net(x), t); loss:backward()\n"
    "  opt:step()\n"
    "end\n"
    "local big = lg.randn(256, 256)\n"
    "local y = lg.empty(256, 256)\n"
    "for i = 1, 10 do lg.matmul(big, big, {out = y}); big:copy_(y / y:abs():max()) end\n"
    "local out = {}\n"
    "for _, p in ipairs(net:parameters()) do\n"
    "  for _, v in ipairs(p:flatten():tolist()) do out[#out + 1] = ('%a'):format(v) end\n"
    "end\n"
    "for _, v in ipairs(lg.no_grad(function() return net(x) end):flatten():tolist()) do\n"
    "  out[#out + 1] = ('%a'):format(v) end\n"
    "out[#out + 1] = ('%a'):format(big:sum():item())\n"
    "return table.concat(out, ',')\n";

typedef struct job {
  int seed, threads;
  char *result;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  counter lc = {0}, tc = {0};
  lua_State *L = embed_state(&lc, &tc, NULL);
  if (!L) return NULL;
  if (luaL_loadstring(L, script) == LUA_OK) {
    lua_pushinteger(L, j->seed);
    lua_pushinteger(L, j->threads);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK) j->result = strdup(lua_tostring(L, -1));
    else fprintf(stderr, "thread job: %s\n", lua_tostring(L, -1));
  }
  lua_close(L);
  if (lc.live_bytes || tc.live_bytes) j->result[0] = '!'; /* a leak */
  return NULL;
}

int main(void) {
  job serial[2] = {{1, 1, NULL}, {2, 2, NULL}};
  for (int i = 0; i < 2; i++) run_job(&serial[i]);
  CHECK(serial[0].result && serial[1].result);
  if (!serial[0].result || !serial[1].result) return 1;
  CHECK(strcmp(serial[0].result, serial[1].result) != 0);
  for (int round = 0; round < 4; round++) {
    job par[2] = {{1, 1, NULL}, {2, 2, NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, run_job, &par[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
      CHECK(par[i].result && strcmp(par[i].result, serial[i].result) == 0);
      free(par[i].result);
    }
  }
  free(serial[0].result);
  free(serial[1].result);
  if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
  else printf("two states in two threads: bitwise equal to serial runs\n");
  return test_failures ? 1 : 0;
}
