/* outer_stream.h: rows of an outer product written with non-temporal
 * stores (AVX-512), for products far larger than the caches (the
 * per-example weight gradients of vmap(grad): 64 x 128 x 784 floats).
 *
 * A plain store first reads each cache line it writes (read for
 * ownership) and leaves the written lines in the caches, where they push
 * out everything the next ops need (weights, activations, the Lua heap);
 * streaming stores skip the read and bypass the caches. Only worth it when
 * the output is much larger than the caches and is not read back at once:
 * linalg.c uses it for outer products of at least LG_OUTER_STREAM_BYTES.
 * The results are the plain loop's exactly (one product per element).
 */
#ifndef LG_OUTER_STREAM_H
#define LG_OUTER_STREAM_H

#include <stdbool.h>
#include <stdint.h>

/* Outputs at least this large (bytes) are streamed. */
#define LG_OUTER_STREAM_BYTES ((int64_t)8 << 20)

/* Row i < m of c (n elements at c + i * ldc) = a[i * sa] * b[j] for j < n,
 * b contiguous, with streaming stores, then a store fence (so another
 * thread may read c once it is told the rows are done). Returns false,
 * doing nothing, when this machine or build has no AVX-512 (the caller then
 * runs the plain loop). */
bool lg_outer_stream_f32(int64_t m, int64_t n, const float *a, int64_t sa,
                         const float *b, float *c, int64_t ldc);
bool lg_outer_stream_f64(int64_t m, int64_t n, const double *a, int64_t sa,
                         const double *b, double *c, int64_t ldc);

#endif
