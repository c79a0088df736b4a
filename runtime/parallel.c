/* parallel.c: lg_parallel_for over the context's pool of sleeping worker
 * threads, run in steps that an interrupt can stop between (see
 * parallel.h). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

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

/* ---- the context's pool -------------------------------------------------
 * Workers started on the first parallel loop (up to the thread count less
 * one; more when the count grows) and joined by lg_ctx_free. Between loops
 * they sleep on a condition variable: an idle pool takes no CPU, so with
 * one thread, or between ops, nothing spins. A loop publishes its chunks
 * under the lock and wakes the workers; every thread (the caller too) takes
 * chunks by index from an atomic counter, so which thread runs a chunk
 * varies but the chunks themselves (and so the results) do not. */
struct lg_pool {
  pthread_mutex_t lock;
  pthread_cond_t work, done;
  int n_workers;
  pthread_t ids[MAX_THREADS];
  void *stacks[MAX_THREADS];
  unsigned long generation; /* bumped by every published loop */
  bool busy, shutdown;
  /* the loop in flight: set before next is reset, so a worker whose
   * fetch from next finds a chunk also sees that loop's chunks */
  chunk *_Atomic chunks;
  atomic_int n_chunks;
  atomic_int next;          /* the next chunk to take; IDLE_NEXT between
                             * loops, so a late worker takes nothing */
  int finished;             /* chunks done (under lock) */
};
#define IDLE_NEXT (INT32_MAX / 2)

/* Runs chunks of the loop in flight until none is left; returns how many. */
static int take_chunks(lg_pool *pool) {
  int ran = 0;
  for (;;) {
    int i = atomic_fetch_add(&pool->next, 1);
    if (i >= atomic_load(&pool->n_chunks)) return ran;
    run_chunk(&atomic_load(&pool->chunks)[i]);
    ran++;
  }
}

static void *worker(void *arg) {
  lg_pool *pool = arg;
  pthread_mutex_lock(&pool->lock);
  unsigned long seen = pool->generation;
  for (;;) {
    while (!pool->shutdown && pool->generation == seen)
      pthread_cond_wait(&pool->work, &pool->lock);
    if (pool->shutdown) break;
    seen = pool->generation;
    pthread_mutex_unlock(&pool->lock);
    int ran = take_chunks(pool);
    pthread_mutex_lock(&pool->lock);
    pool->finished += ran;
    if (ran && pool->finished == atomic_load(&pool->n_chunks))
      pthread_cond_signal(&pool->done);
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

/* Starts one more worker with a stack from ctx's allocator; false when
 * either can't be had. Called with the pool idle. */
static bool start_worker(lg_ctx *ctx, lg_pool *pool) {
  int w = pool->n_workers;
  void *stack = lg_mem_alloc(ctx, STACK_BYTES);
  if (!stack) return false;
  pthread_attr_t attr;
  bool ok = pthread_attr_init(&attr) == 0;
  if (ok) {
    ok = pthread_attr_setstack(&attr, stack, STACK_BYTES) == 0 &&
         pthread_create(&pool->ids[w], &attr, worker, pool) == 0;
    pthread_attr_destroy(&attr);
  }
  if (!ok) {
    lg_mem_free(ctx, stack, STACK_BYTES);
    return false;
  }
  pool->stacks[w] = stack;
  pool->n_workers++;
  return true;
}

/* ctx's pool with at least want workers if they can be had (fewer is no
 * error), or NULL when there is none or it is running a loop already (a
 * loop started from inside a chunk runs serially). */
static lg_pool *pool_for(lg_ctx *ctx, int want) {
  lg_pool *pool = ctx->pool;
  if (!pool) {
    pool = lg_mem_alloc(ctx, sizeof *pool);
    if (!pool) return NULL;
    memset(pool, 0, sizeof *pool);
    atomic_store(&pool->next, IDLE_NEXT);
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
      lg_mem_free(ctx, pool, sizeof *pool);
      return NULL;
    }
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->done, NULL);
    ctx->pool = pool;
  }
  pthread_mutex_lock(&pool->lock);
  bool busy = pool->busy;
  if (!busy) pool->busy = true;
  pthread_mutex_unlock(&pool->lock);
  if (busy) return NULL;
  while (pool->n_workers < want && start_worker(ctx, pool)) {
  }
  return pool;
}

void lg_pool_free(lg_ctx *ctx) {
  lg_pool *pool = ctx->pool;
  if (!pool) return;
  pthread_mutex_lock(&pool->lock);
  pool->shutdown = true;
  pthread_cond_broadcast(&pool->work);
  pthread_mutex_unlock(&pool->lock);
  for (int w = 0; w < pool->n_workers; w++) {
    pthread_join(pool->ids[w], NULL);
    lg_mem_free(ctx, pool->stacks[w], STACK_BYTES);
  }
  pthread_cond_destroy(&pool->work);
  pthread_cond_destroy(&pool->done);
  pthread_mutex_destroy(&pool->lock);
  lg_mem_free(ctx, pool, sizeof *pool);
  ctx->pool = NULL;
}

/* fn over [0, n) in equal contiguous chunks, one per thread, run by the
 * caller and the pool's workers (the caller runs them all when the pool
 * has no worker). */
lg_status lg_parallel_for(lg_ctx *ctx, int64_t n, int64_t grain,
                          lg_parallel_fn fn, void *arg) {
  if (n <= 0) return LG_OK;
  if (grain < 1) grain = 1;
  int64_t threads = lg_ctx_num_threads(ctx);
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (threads > n / grain) threads = n / grain;
  if (threads <= 1) return lg_serial_for(ctx, n, grain, fn, arg);
  lg_pool *pool = pool_for(ctx, (int)threads - 1);
  if (!pool) return lg_serial_for(ctx, n, grain, fn, arg);
  lg_stop stop = {ctx, false};
  chunk chunks[MAX_THREADS];
  int64_t share = n / threads, extra = n % threads;
  for (int64_t i = 0, at = 0; i < threads; i++) {
    int64_t len = share + (i < extra);
    chunks[i] = (chunk){fn, arg, at, at + len, grain, &stop};
    at += len;
  }
  pthread_mutex_lock(&pool->lock);
  atomic_store(&pool->chunks, chunks);
  atomic_store(&pool->n_chunks, (int)threads);
  atomic_store(&pool->next, 0);
  pool->finished = 0;
  pool->generation++;
  if (pool->n_workers > 0) pthread_cond_broadcast(&pool->work);
  pthread_mutex_unlock(&pool->lock);
  int ran = take_chunks(pool);
  pthread_mutex_lock(&pool->lock);
  pool->finished += ran;
  while (pool->finished < (int)threads)
    pthread_cond_wait(&pool->done, &pool->lock);
  atomic_store(&pool->next, IDLE_NEXT);
  atomic_store(&pool->n_chunks, 0);
  atomic_store(&pool->chunks, NULL);
  pool->busy = false;
  pthread_mutex_unlock(&pool->lock);
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
