/* test_thread_idle.c: with lg_ctx_set_num_threads(ctx, 1) no other thread
 * of the process burns CPU. After a phase at 2 threads (OpenBLAS's workers
 * and the context's pool both started and used), a loop of small matmuls
 * and elementwise ops at 1 thread must cost the process no more CPU time
 * than the calling thread itself plus a margin, and no more than its wall
 * time plus a margin: a worker spinning beside it would double both. Ratio
 * checks only (a loaded machine lowers CPU against wall, never raises it),
 * no wall-clock assertion. The same holds between ops at 2 threads: an
 * idle pool sleeps. */
#include <time.h>

#include "core.h"
#include "test_util.h"

static double seconds(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static lg_tensor *filled(lg_ctx *ctx, int64_t rows, int64_t cols, double v) {
  int64_t sizes[2] = {rows, cols};
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 2, sizes, v, &t));
  return t;
}

/* n ops of kind op on (a, b), results dropped */
static void run_many(lg_ctx *ctx, lg_op op, lg_tensor *a, lg_tensor *b,
                     int n) {
  lg_tensor *in[2] = {a, b}, *out = NULL;
  lg_params p = {0};
  for (int i = 0; i < n; i++) {
    CHECK_OK(ctx, lg_op_run(ctx, op, 2, in, &p, &out));
    lg_tensor_release(out);
  }
}

static void test_one_thread_is_alone(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  lg_tensor *big = filled(ctx, 512, 512, 0.5), *wide = filled(ctx, 1024, 1024, 1);
  lg_tensor *small = filled(ctx, 48, 48, 0.25);
  lg_ctx_set_num_threads(ctx, 2); /* start OpenBLAS's workers and the pool */
  run_many(ctx, LG_OP_MATMUL, big, big, 4);
  run_many(ctx, LG_OP_ADD, wide, wide, 4);
  lg_ctx_set_num_threads(ctx, 1);
  /* OpenBLAS's workers spin on for OPENBLAS_THREAD_TIMEOUT (about 0.1 s)
   * after the 2-thread gemms: the steady state at 1 thread is measured */
  struct timespec nap = {0, 200 * 1000 * 1000};
  nanosleep(&nap, NULL);
  double p0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  double t0 = seconds(CLOCK_THREAD_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
  for (int r = 0; r < 40; r++) {
    run_many(ctx, LG_OP_MATMUL, small, small, 200);
    run_many(ctx, LG_OP_ADD, small, small, 50);
  }
  double proc = seconds(CLOCK_PROCESS_CPUTIME_ID) - p0;
  double thread = seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  double wall = seconds(CLOCK_MONOTONIC) - w0;
  CHECKF(proc <= 1.25 * thread + 0.02,
         "process CPU %.3f s against the calling thread's %.3f s: another "
         "thread ran", proc, thread);
  CHECKF(proc <= 1.25 * wall + 0.02,
         "process CPU %.3f s against %.3f s of wall time", proc, wall);
  /* between ops at 2 threads the workers sleep too */
  lg_ctx_set_num_threads(ctx, 2);
  run_many(ctx, LG_OP_ADD, wide, wide, 2);
  /* a worker may still spin briefly after the last op (as above):
   * measure once that has passed */
  nanosleep(&nap, NULL);
  p0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  w0 = seconds(CLOCK_MONOTONIC);
  nanosleep(&nap, NULL);
  proc = seconds(CLOCK_PROCESS_CPUTIME_ID) - p0;
  wall = seconds(CLOCK_MONOTONIC) - w0;
  CHECKF(proc <= 0.25 * wall,
         "idle for %.3f s after 2-thread ops, yet %.3f s of CPU time", wall,
         proc);
  lg_tensor_release(big);
  lg_tensor_release(wide);
  lg_tensor_release(small);
  lg_ctx_free(ctx);
}

int main(void) {
  test_one_thread_is_alone();
  if (test_failures) fprintf(stderr, "%d check(s) failed\n", test_failures);
  else printf("test_thread_idle: all checks passed\n");
  return test_failures != 0;
}
