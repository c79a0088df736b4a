/* parallel.h: splitting one large loop across the context's threads.
 *
 * Each context has a pool of worker threads (parallel.c), started on the
 * first loop that wants them (up to lg_ctx_num_threads(ctx) - 1, their
 * stacks from the context's allocator) and joined by lg_ctx_free; between
 * loops they sleep on a condition variable, so they cost no CPU. A worker
 * that can't be started (no memory, no thread) is no error: its chunks run
 * on the calling thread instead, as does a loop started while the pool is
 * running another. The split depends only on n, the grain and the thread
 * count, and each chunk does exactly the arithmetic of the serial loop over
 * its range, so elementwise results never depend on the thread count.
 *
 * Interrupts: each chunk runs in steps of one grain and looks at the
 * context's interrupt flag between steps (never per element), so a large
 * loop stops at its next step (a grain is worth a thread start, so the
 * look costs nothing measurable); the call then fails "interrupted" and
 * the caller frees its result. A loop shorter than one step never looks.
 */
#ifndef LG_PARALLEL_H
#define LG_PARALLEL_H

#include "core.h"
#include "iter.h"

/* Work on the index range [begin, end). */
typedef void (*lg_parallel_fn)(void *arg, int64_t begin, int64_t end);

/* Grains (elements per thread at least) that pay for starting a thread,
 * about 30 us each: memory-bound arithmetic, and transcendental math. */
#define LG_GRAIN_CHEAP 262144
#define LG_GRAIN_MATH 32768

/* A stop shared by the pieces of one op: the first piece that sees an
 * interrupt pending sets stopped, and every piece then ends at its next
 * step (even when the host withdraws the request meanwhile). */
typedef struct lg_stop {
  lg_ctx *ctx;
  atomic_bool stopped;
} lg_stop;

/* Whether the op must stop now: one relaxed load when nothing is pending. */
static inline bool lg_stop_now(lg_stop *s) {
  if (atomic_load_explicit(&s->stopped, memory_order_relaxed)) return true;
  if (!lg_interrupt_pending(s->ctx)) return false;
  atomic_store_explicit(&s->stopped, true, memory_order_relaxed);
  return true;
}

/* LG_OK, or (once s stopped) takes the interrupt and fails "interrupted". */
lg_status lg_stop_status(lg_stop *s);

/* Runs fn over contiguous chunks covering [0, n), each at least grain
 * long (the whole range on the caller when n < 2 * grain or the context
 * has one thread), in steps between which an interrupt stops it (then
 * LG_ERR_INTERRUPTED, with some of the range not done). fn must be safe to
 * run on disjoint ranges at once. */
lg_status lg_parallel_for(lg_ctx *ctx, int64_t n, int64_t grain,
                          lg_parallel_fn fn, void *arg);

/* fn over [0, n) on the calling thread only, in the same interruptible
 * steps: for loops that write shared state. */
lg_status lg_serial_for(lg_ctx *ctx, int64_t n, int64_t grain,
                        lg_parallel_fn fn, void *arg);

/* An iterator inner loop (iter.h) over n elements of n_operands operands
 * (data pointers and byte strides), split like lg_parallel_for: each chunk
 * calls loop with the pointers advanced to its start. state is shared by
 * every chunk: pass only loops that don't write it. */
lg_status lg_parallel_loop(lg_ctx *ctx, lg_loop_fn loop, int n_operands,
                           char *const *data, const int64_t *strides,
                           int64_t n, void *state, int64_t grain);
/* Same on the calling thread only (loops that write state). */
lg_status lg_serial_loop(lg_ctx *ctx, lg_loop_fn loop, int n_operands,
                         char *const *data, const int64_t *strides, int64_t n,
                         void *state, int64_t grain);

/* Stops and joins ctx's workers and frees the pool (lg_ctx_free). */
void lg_pool_free(lg_ctx *ctx);

#endif
