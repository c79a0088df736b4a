/* test_embed_interrupt.c: luagrad_interrupt from another thread stops a
 * long kernel (a 4096x4096 matmul, a large conv2d and both of its backward
 * kernels, an elementwise pow and a full sum over 2^27 elements, and the
 * kernels that step through strided data: elementwise ops on a transposed
 * view, copies, index_select, cumsum, and prod/argmax/logsumexp over one
 * huge row) at its next tile or step with the Lua error "interrupted",
 * frees what the op allocated, and leaves the state usable; prints the
 * latency from the request to the error reaching the host (asserted only
 * loosely: tests never time tightly). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "sandbox_util.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct interrupter {
  lg_ctx *ctx;
  atomic_int started;
  double fired_at;
  long delay_ns;
} interrupter;

/* Waits for the op to start, lets it run delay_ns, then interrupts it. */
static void *interrupt_later(void *arg) {
  interrupter *it = arg;
  while (!atomic_load(&it->started)) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  struct timespec delay = {0, it->delay_ns};
  nanosleep(&delay, NULL);
  it->fired_at = now();
  luagrad_interrupt(it->ctx); /* from this thread: an atomic store */
  return NULL;
}

/* Runs code (the long op) while another thread interrupts it, again up to
 * tries times while the op ends before the request (a loaded machine can
 * wake the interrupter late); returns the latency in seconds, or -1 when
 * the op was not interrupted. */
static double interrupted_run(lua_State *L, const char *code, long delay_ns,
                              int tries) {
  interrupter it = {luagrad_context(L), 0, 0, delay_ns};
  lg_ctx_clear_interrupt(it.ctx);
  size_t before = lg_ctx_bytes_in_use(it.ctx);
  pthread_t th;
  pthread_create(&th, NULL, interrupt_later, &it);
  int top = lua_gettop(L);
  int loaded = luaL_loadstring(L, code) == LUA_OK;
  atomic_store(&it.started, 1);
  int status = loaded ? lua_pcall(L, 0, 1, 0) : LUA_ERRSYNTAX;
  double returned = now();
  pthread_join(th, NULL);
  const char *err = lua_tostring(L, -1);
  bool stopped = status != LUA_OK && err && strcmp(err, "interrupted") == 0;
  if (!stopped && status == LUA_OK && tries > 1) { /* ended first: again */
    lua_settop(L, top);
    lg_ctx_clear_interrupt(it.ctx);
    return interrupted_run(L, code, delay_ns, tries - 1);
  }
  CHECKF(stopped, "expected the error \"interrupted\", got %s",
         status == LUA_OK ? "success (the op ended first)" : err);
  lua_settop(L, top);
  CHECK(lg_ctx_bytes_in_use(it.ctx) == before); /* the result was freed */
  return stopped ? returned - it.fired_at : -1;
}

int main(void) {
  lua_State *L = sandbox_state();
  if (!L) return 1;
  CHECK_SCRIPT(L, "=setup",
      "lg.manual_seed(0)\n"
      "A, B = lg.randn(4096, 4096), lg.randn(4096, 4096)\n"
      "X, W = lg.randn(24, 64, 128, 128), lg.randn(64, 64, 3, 3)\n"
      "E = lg.ones(2^27)\n" /* 512 MiB of float32 */
      "ET = E:view(2^13, 2^14):t()\n" /* the same, strided */
      "I = lg.arange(1, 8193)\n"
      "F = lg.nn.functional\n"
      "G = lg.randn(8, 64, 128, 128)\n"
      /* conv2d's weight gradient alone: the vjp of conv2d in w */
      "local _, vjp = lg.func.vjp(function(w)\n"
      "  return F.conv2d(X:narrow(1, 1, 8), w, nil, {padding = 1}) end, W)\n"
      "WG = vjp\n"
      "return ''\n");
  double mm = interrupted_run(L, "return lg.matmul(A, B)", 150000000, 1);
  double conv = interrupted_run(
      L, "return lg.nn.functional.conv2d(X, W, nil, {padding = 1})",
      150000000, 1);
  /* one elementwise op and one full reduction, stopped mid-way (pow takes
   * seconds; the sum tens of ms, hence the shorter delay) */
  double pw = interrupted_run(L, "return lg.pow(E, 2.5)", 100000000, 1);
  double sum = interrupted_run(L, "return E:sum()", 5000000, 5);
  /* conv2d's input gradient (conv_transpose2d: gemm + col2im panels) and
   * its weight gradient */
  double convt = interrupted_run(
      L, "return F.conv_transpose2d(G, W, nil, {padding = 1})", 50000000, 5);
  double convw = interrupted_run(L, "return WG(G)", 50000000, 5);
  /* strided elementwise (the iterator's steps), copy, index_select,
   * cumsum, and one huge row of prod / argmax / logsumexp */
  static const struct { const char *code; long delay_ns; } stepped[] = {
      {"return lg.pow(ET, 2.5)", 100000000},
      {"return ET + ET", 20000000},
      {"return ET:contiguous()", 20000000},
      {"return E:view(2^13, 2^14):index_select(1, I)", 5000000},
      {"return E:cumsum(1)", 20000000},
      {"return E:prod()", 20000000},
      {"return E:argmax()", 10000000},
      {"return E:logsumexp(1)", 50000000},
  };
  enum { N_STEPPED = sizeof stepped / sizeof stepped[0] };
  double stepped_ms[N_STEPPED];
  for (int k = 0; k < N_STEPPED; k++) {
    double t = interrupted_run(L, stepped[k].code, stepped[k].delay_ns, 5);
    CHECKF(t >= 0 && t < 1.0, "%s: latency %.3f s", stepped[k].code, t);
    stepped_ms[k] = t * 1e3;
  }
  CHECK_SCRIPT(L, "=after large",
      "local s = E:sum():item()\n"
      "local d = (E + E):sum():item()\n"
      "local p = lg.pow(lg.full({1000}, 4), 2.5):sum():item()\n"
      "return (s == 2^27 and d == 2^28 and p == 32000) and '' or\n"
      "       ('wrong ' .. s .. ' ' .. d .. ' ' .. p)\n");
  /* the state goes on: the request was consumed, ops run normally */
  CHECK_SCRIPT(L, "=after",
      "local s = lg.matmul(lg.ones(64, 64), lg.ones(64, 64)):sum():item()\n"
      "return s == 64 * 64 * 64 and '' or 'wrong sum ' .. s\n");
  lg_ctx *ctx = luagrad_context(L);
  luagrad_interrupt(ctx); /* a request no op saw: the next op stops */
  CHECK_SCRIPT(L, "=pending",
      "local x = lg.ones(2)\n"
      "local ok, err = pcall(function() return x + 1 end)\n"
      "return (not ok and err == 'interrupted') and '' or tostring(err)\n");
  CHECK(!lg_ctx_clear_interrupt(ctx)); /* that op consumed it */
  CHECK(mm >= 0 && mm < 1.0);
  CHECK(conv >= 0 && conv < 1.0);
  CHECK(pw >= 0 && pw < 1.0);
  CHECK(sum >= 0 && sum < 1.0);
  CHECK(convt >= 0 && convt < 1.0);
  CHECK(convw >= 0 && convw < 1.0);
  printf("interrupt latency (request to the host's pcall returning): "
         "4096x4096 matmul %.2f ms, conv2d 24x64x128x128 %.2f ms, "
         "pow over 2^27 %.2f ms, sum over 2^27 %.2f ms\n",
         mm * 1e3, conv * 1e3, pw * 1e3, sum * 1e3);
  printf("  conv2d input grad %.2f ms, weight grad %.2f ms\n", convt * 1e3,
         convw * 1e3);
  for (int k = 0; k < N_STEPPED; k++)
    printf("  %s: %.2f ms\n", stepped[k].code, stepped_ms[k]);
  lua_close(L);
  if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
  return test_failures ? 1 : 0;
}
