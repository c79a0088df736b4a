/* gemm_tiled.h: the one gemm of the matmul and conv kernels: a large
 * product runs as tiles of C, split across the context's threads, with
 * the context's interrupt flag checked between tiles (see gemm_tiled.c).
 * Internal. */
#ifndef LG_GEMM_TILED_H
#define LG_GEMM_TILED_H

#include "core.h"

/* c (m,n) = op(a) (m,k) @ op(b) (k,n) + beta c, row-major, float32 or
 * float64 (alpha 1; op transposes when ta/tb). LG_OK, or
 * LG_ERR_INTERRUPTED when lg_ctx_interrupt stopped it between tiles (c is
 * then partly written). Dimensions and leading dims must fit an int; call
 * it between lg_blas_enter_count(1) and lg_blas_leave (blas_threads.h):
 * with more than one thread in ctx, a product OpenBLAS would thread runs
 * as tiles on the context's pool, each tile one single-threaded call (so
 * a product whose grid already gives each thread a whole number of tiles
 * keeps its 1-thread bits). */
lg_status lg_gemm(lg_ctx *ctx, lg_dtype dtype, bool ta, bool tb, int64_t m,
                  int64_t n, int64_t k, const void *a, int64_t lda,
                  const void *b, int64_t ldb, double beta, void *c,
                  int64_t ldc);

/* The same as one cblas call (or luagrad's AVX-512 sgemm, which takes
 * float32 products on CPUs that have it): no tiles, no interrupt check, no
 * context touched, so threads of one op may call it at once (blocks of a
 * conv). */
void lg_gemm_call(lg_dtype dtype, bool ta, bool tb, int64_t m, int64_t n,
                  int64_t k, const void *a, int64_t lda, const void *b,
                  int64_t ldb, double beta, void *c, int64_t ldc);

#endif
