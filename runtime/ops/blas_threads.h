/* blas_threads.h: the gate that holds OpenBLAS's process-wide thread count
 * at the count each BLAS call asks for (the kernels ask for one and split
 * large products across their context's own pool, see below).
 *
 * OpenBLAS keeps one thread count for the whole process
 * (openblas_set_num_threads), and its gemm gives bitwise different results
 * with different counts (a 256x256 sgemm differs in about 5600 of 65536
 * elements between 1 and 2 threads on OpenBLAS 0.3.21). Setting the count
 * before each call is not enough: another context can set its own count
 * between the set and the call. Every BLAS call therefore runs between
 * lg_blas_enter and lg_blas_leave, except products so small that OpenBLAS
 * runs them on the calling thread at any count (lg_blas_one_thread): callers with the context's count share
 * the BLAS at once, a caller with another count waits until the calls in
 * flight are done, then sets the count. Waiters are let in in arrival
 * order, so no count starves. This gate is the one piece of process-wide
 * state in the runtime; it only mirrors OpenBLAS's own, and holds no data
 * of any context. A host that calls openblas_set_num_threads itself while
 * luagrad runs a BLAS call is outside its reach.
 *
 * The kernels enter at one thread (lg_blas_enter_count(1)) and split a
 * large gemm or gemv across the context's own pool (gemm_tiled.c,
 * linear.c), so OpenBLAS's threads are never woken: after each threaded
 * call they spin on sched_yield for ~0.1 s, and with gemms every few
 * milliseconds (a CNN's linear layer at 2 threads) they never slept,
 * competing with the pool for the cores and costing 8% of the CPU time in
 * system calls. lg_blas_enter(ctx) stays for callers that want OpenBLAS's
 * own threading at ctx's count.
 */
#ifndef LG_BLAS_THREADS_H
#define LG_BLAS_THREADS_H

#include "core.h"

/* Waits until BLAS runs with ctx's thread count and holds it there. */
void lg_blas_enter(const lg_ctx *ctx);

/* The same with an explicit count (1 for kernels that split the work
 * across their own threads and call BLAS from each). */
void lg_blas_enter_count(int count);

/* Ends the calls begun by the matching lg_blas_enter. */
void lg_blas_leave(void);

/* Whether OpenBLAS runs a gemm of m x n x k (a gemv of an n x k matrix when
 * gemv) on the calling thread whatever its thread count, so the result
 * cannot depend on the count and the call may skip the gate (its lock,
 * unlock and openblas_set_num_threads were ~200 instructions per call, a
 * third of a tiny linear layer's time). OpenBLAS 0.3 takes one thread when
 * m*n*k <= 65536 * GEMM_MULTITHREAD_THRESHOLD (interface/gemm.c) and, for
 * gemv, when n*k < 2304 * GEMM_MULTITHREAD_THRESHOLD (interface/gemv.c);
 * the threshold is 4 unless a build sets it, and these bounds hold for any
 * threshold of at least 1. Each gemm of a batch is judged by itself. */
static inline bool lg_blas_one_thread(bool gemv, int64_t m, int64_t n,
                                      int64_t k) {
  if (gemv) return (double)n * (double)k < 2304.0;
  return (double)m * (double)n * (double)k <= 65536.0;
}

#endif
