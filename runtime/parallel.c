/* parallel.c: lg_parallel_for over per-call pthreads, run in steps that
 * an interrupt can stop between (see parallel.h). */
#include <pthread.h>
#include <stdint.h>

#include "parallel.h"

#define MAX_THREADS 64
#define STACK_BYTES ((size_t)256 * 1024)

typedef struct chunk {
  lg_parallel_fn fn;
  void *arg;
  int64_t begin, end, step; /* step: one grain, ~30 us of work or more */
  lg_stop *stop;
} chunk;

lg_status lg_stop_status(lg_stop *s) {
  if (!atomic_load(&s->stopped)) return LG_OK;
  atomic_store(&s->ctx->interrupt, 0); /* the request is taken */
  return lg_fail(s->ctx, LG_ERR_INTERRUPTED, "interrupted");
}

/* The chunk's range in steps, ending early once the op must stop. */
static void *run_chunk(void *p) {
  chunk *c = p;
  for (int64_t at = c->begin; at < c->end; at += c->step) {
    if (at > c->begin && lg_stop_now(c->stop)) break;
    /* the last step takes the remainder: no step is below a grain */
    if (c->end - at < 2 * c->step) {
      c->fn(c->arg, at, c->end);
      break;
    }
    c->fn(c->arg, at, at + c->step);
  }
  return NULL;
}

lg_status lg_serial_for(lg_ctx *ctx, int64_t n, int64_t grain,
                        lg_parallel_fn fn, void *arg) {
  if (grain < 1) grain = 1;
  lg_stop stop = {ctx, false};
  chunk c = {fn, arg, 0, n, grain, &stop};
  run_chunk(&c);
  return lg_stop_status(&stop);
}

/* Starts a thread on c with a stack from ctx's allocator; false when
 * either can't be had. */
static bool start_thread(lg_ctx *ctx, chunk *c, pthread_t *id, void **stack) {
  *stack = lg_mem_alloc(ctx, STACK_BYTES);
  if (!*stack) return false;
  pthread_attr_t attr;
  bool ok = pthread_attr_init(&attr) == 0;
  if (ok) {
    ok = pthread_attr_setstack(&attr, *stack, STACK_BYTES) == 0 &&
         pthread_create(id, &attr, run_chunk, c) == 0;
    pthread_attr_destroy(&attr);
  }
  if (!ok) {
    lg_mem_free(ctx, *stack, STACK_BYTES);
    *stack = NULL;
  }
  return ok;
}

/* fn over [0, n) in equal contiguous chunks, chunk i on thread i (the
 * caller is thread 0 and also runs any chunk whose thread didn't start). */
lg_status lg_parallel_for(lg_ctx *ctx, int64_t n, int64_t grain,
                          lg_parallel_fn fn, void *arg) {
  if (n <= 0) return LG_OK;
  if (grain < 1) grain = 1;
  int64_t threads = lg_ctx_num_threads(ctx);
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (threads > n / grain) threads = n / grain;
  if (threads <= 1) return lg_serial_for(ctx, n, grain, fn, arg);
  lg_stop stop = {ctx, false};
  chunk chunks[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  void *stacks[MAX_THREADS];
  int64_t share = n / threads, extra = n % threads;
  for (int64_t i = 0, at = 0; i < threads; i++) {
    int64_t len = share + (i < extra);
    chunks[i] = (chunk){fn, arg, at, at + len, grain, &stop};
    at += len;
  }
  int64_t started = 1; /* chunk 0 is the caller's */
  while (started < threads &&
         start_thread(ctx, &chunks[started], &ids[started], &stacks[started]))
    started++;
  run_chunk(&chunks[0]);
  for (int64_t i = started; i < threads; i++) run_chunk(&chunks[i]);
  for (int64_t i = 1; i < started; i++) {
    pthread_join(ids[i], NULL);
    lg_mem_free(ctx, stacks[i], STACK_BYTES);
  }
  return lg_stop_status(&stop);
}

typedef struct loop_job {
  lg_loop_fn loop;
  int n_operands;
  char *const *data;
  const int64_t *strides;
  void *state;
} loop_job;

static void run_loop_range(void *arg, int64_t begin, int64_t end) {
  const loop_job *job = arg;
  char *data[LG_ITER_MAX_OPERANDS];
  for (int k = 0; k < job->n_operands; k++)
    data[k] = job->data[k] + begin * job->strides[k];
  job->loop(data, job->strides, end - begin, job->state);
}

/* loop over n elements of the operands, split across threads */
lg_status lg_parallel_loop(lg_ctx *ctx, lg_loop_fn loop, int n_operands,
                           char *const *data, const int64_t *strides,
                           int64_t n, void *state, int64_t grain) {
  loop_job job = {loop, n_operands, data, strides, state};
  return lg_parallel_for(ctx, n, grain, run_loop_range, &job);
}

lg_status lg_serial_loop(lg_ctx *ctx, lg_loop_fn loop, int n_operands,
                         char *const *data, const int64_t *strides, int64_t n,
                         void *state, int64_t grain) {
  loop_job job = {loop, n_operands, data, strides, state};
  return lg_serial_for(ctx, n, grain, run_loop_range, &job);
}
