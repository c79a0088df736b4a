/* outer_rows.h: rows of an outer product written with AVX-512 stores of
 * whole aligned lines, for the large per-example weight gradients of
 * vmap(grad) (64 x 128 x 784 floats: 25.7 MB).
 *
 * Plain stores, not non-temporal ones: the output of such a call is
 * usually a block the allocator cache hands back warm (the previous
 * call's result, freed by the collector), and on the machines measured
 * (scripts/bench/FINDINGS_CONTINUED.md, "Per-sample gradients: the
 * floor") plain stores into that block ran 1.3x faster at 1 thread and
 * 2-3x at 2 than streaming ones, which bypass the cache and go to memory
 * at one fixed bandwidth whatever the thread count. linalg.c uses it for
 * outer products of at least LG_OUTER_ROWS_BYTES; smaller ones take
 * lg_gemm_call's loop. The results are the plain loop's exactly (one
 * product per element).
 */
#ifndef LG_OUTER_ROWS_H
#define LG_OUTER_ROWS_H

#include <stdbool.h>
#include <stdint.h>

/* Outputs at least this large (bytes) take this kernel. */
#define LG_OUTER_ROWS_BYTES ((int64_t)8 << 20)

/* Row i < m of c (n elements at c + i * ldc) = a[i * sa] * b[j] for j < n,
 * b contiguous. Returns false, doing nothing, when this machine or build
 * has no AVX-512 (the caller then runs the plain loop). */
bool lg_outer_rows_f32(int64_t m, int64_t n, const float *a, int64_t sa,
                       const float *b, float *c, int64_t ldc);
bool lg_outer_rows_f64(int64_t m, int64_t n, const double *a, int64_t sa,
                       const double *b, double *c, int64_t ldc);

#endif
