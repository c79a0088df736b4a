/* parallel.c: lg_parallel_for over the context's pool of worker threads
 * (each spins briefly for the next loop, then sleeps), run in steps that an
 * interrupt can stop between (see parallel.h). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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
 * one; more when the count grows) and joined by lg_ctx_free. A loop
 * publishes its chunks and bumps generation; every thread (the caller
 * too) takes chunks by index from an atomic counter, so which thread runs
 * a chunk varies but the chunks themselves (and so the results) do not.
 *
 * Waking: after a loop a worker spins for SPIN_NS watching generation, so
 * the next loop of a run of large ops starts at once (a futex wake-up took
 * 30-100 us on a 2-vCPU KVM guest, as long as a whole 1M-element add, so
 * two threads ran slower than one); then it sleeps on a condition
 * variable, so an idle pool, or a context at one thread, costs no CPU. The
 * caller likewise spins briefly for the workers' chunks to finish before
 * sleeping. Sleepers announce themselves in sleeping / caller_sleeping
 * before their last look (all seq_cst): a publisher that bumps generation
 * (a worker that finishes the last chunk) then either sees the sleeper and
 * signals under the lock, or the sleeper sees the bump and does not sleep. */
#define SPIN_NS 200000 /* 0.2 ms; OpenMP's default spin is several ms */

struct lg_pool {
  pthread_mutex_t lock;
  pthread_cond_t work, done;
  int n_workers;
  pthread_t ids[MAX_THREADS];
  void *stacks[MAX_THREADS];
  atomic_ulong generation;  /* bumped by every published loop */
  atomic_int sleeping;      /* workers asleep (or about to be) on work */
  atomic_bool caller_sleeping; /* the caller asleep on done */
  atomic_bool shutdown;
  bool busy;                /* a loop in flight (under lock) */
  /* the loop in flight: set before next is reset, so a worker whose
   * fetch from next finds a chunk also sees that loop's chunks */
  chunk *_Atomic chunks;
  atomic_int n_chunks;
  atomic_int next;          /* the next chunk to take; IDLE_NEXT between
                             * loops, so a late worker takes nothing */
  atomic_int finished;      /* chunks done */
};
#define IDLE_NEXT (INT32_MAX / 2)

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Spins up to SPIN_NS until done(pool, arg) holds; whether it did. */
static bool spin_until(bool (*done)(lg_pool *, const void *), lg_pool *pool,
                       const void *arg) {
  int64_t start = 0;
  for (unsigned i = 0;; i++) {
    if (done(pool, arg)) return true;
    cpu_relax();
    if (i % 64 == 63) { /* the clock every 64 spins: ~10 us */
      int64_t t = now_ns();
      if (!start) start = t;
      else if (t - start > SPIN_NS) return false;
    }
  }
}

static bool new_loop(lg_pool *pool, const void *seen) {
  return atomic_load(&pool->generation) != *(const unsigned long *)seen ||
         atomic_load(&pool->shutdown);
}

static bool all_finished(lg_pool *pool, const void *n) {
  return atomic_load(&pool->finished) >= *(const int *)n;
}

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

/* Counts ran more chunks done, waking the caller if it sleeps on them. */
static void add_finished(lg_pool *pool, int ran) {
  int total = atomic_fetch_add(&pool->finished, ran) + ran;
  if (total == atomic_load(&pool->n_chunks) &&
      atomic_load(&pool->caller_sleeping)) {
    pthread_mutex_lock(&pool->lock);
    pthread_cond_signal(&pool->done);
    pthread_mutex_unlock(&pool->lock);
  }
}

static void *worker(void *arg) {
  lg_pool *pool = arg;
  unsigned long seen = atomic_load(&pool->generation);
  for (;;) {
    if (!spin_until(new_loop, pool, &seen)) {
      pthread_mutex_lock(&pool->lock);
      atomic_fetch_add(&pool->sleeping, 1);
      while (!new_loop(pool, &seen))
        pthread_cond_wait(&pool->work, &pool->lock);
      atomic_fetch_sub(&pool->sleeping, 1);
      pthread_mutex_unlock(&pool->lock);
    }
    if (atomic_load(&pool->shutdown)) break;
    seen = atomic_load(&pool->generation);
    int ran = take_chunks(pool);
    if (ran) add_finished(pool, ran);
  }
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
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->sleeping, 0);
    atomic_init(&pool->caller_sleeping, false);
    atomic_init(&pool->shutdown, false);
    atomic_init(&pool->chunks, NULL);
    atomic_init(&pool->n_chunks, 0);
    atomic_init(&pool->finished, 0);
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
  atomic_store(&pool->shutdown, true);
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
  atomic_store(&pool->chunks, chunks);
  atomic_store(&pool->n_chunks, (int)threads);
  atomic_store(&pool->finished, 0);
  atomic_store(&pool->next, 0);
  atomic_fetch_add(&pool->generation, 1);
  if (atomic_load(&pool->sleeping) > 0) {
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
  }
  int ran = take_chunks(pool), n_chunks = (int)threads;
  if (ran) add_finished(pool, ran);
  if (!spin_until(all_finished, pool, &n_chunks)) {
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->caller_sleeping, true);
    while (!all_finished(pool, &n_chunks))
      pthread_cond_wait(&pool->done, &pool->lock);
    atomic_store(&pool->caller_sleeping, false);
    pthread_mutex_unlock(&pool->lock);
  }
  atomic_store(&pool->next, IDLE_NEXT);
  atomic_store(&pool->n_chunks, 0);
  atomic_store(&pool->chunks, NULL);
  pthread_mutex_lock(&pool->lock);
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
