/* sgemm_avx512.h: luagrad's own float32 gemm for CPUs with AVX-512
 * (sgemm_avx512.c), which lg_gemm_call runs instead of OpenBLAS's sgemm
 * when the CPU has AVX-512 and the product is big enough to pay for
 * packing (lg_gemm decides once per product, for all its tiles).
 * OpenBLAS picks its kernels by CPU family: the build the machines carry
 * (0.3.21 in Debian 12), or an OPENBLAS_CORETYPE pinned by the
 * environment, runs the AVX2 Haswell kernels on AVX-512 CPUs such as AMD
 * Zen 4/5, half the vector width that PyTorch's oneDNN uses there.
 *
 * Each element of C is summed in the same order (k ascending, in fixed
 * blocks of k) whatever the tile of C a call covers, so a product cut into
 * tiles across threads gives the bits of one call. The packed panels (at
 * most 1.4 MB per call) come from aligned_alloc and are freed before the
 * call returns: like OpenBLAS's buffers, not through the context's
 * allocator (the pool's threads call it without a context). Internal. */
#ifndef LG_SGEMM_AVX512_H
#define LG_SGEMM_AVX512_H

#include <stdbool.h>
#include <stdint.h>

/* Whether a product of this size should run here: this CPU and build have
 * AVX-512, and it is big and wide enough to pay for packing (smaller or
 * narrower ones run faster in OpenBLAS). */
bool lg_sgemm_avx512_takes(int64_t m, int64_t n, int64_t k);

/* c (m,n) = op(a) (m,k) op(b) (k,n) + beta c, row-major, op transposing
 * when ta / tb (a's leading dim lda, b's ldb, c's ldc); with beta 0, c is
 * only written. Any size: a tile of a product that lg_sgemm_avx512_takes
 * runs here whatever its own size, so the tiles have one call's bits.
 * Returns false, doing nothing, when this CPU or build has no AVX-512, a
 * dim is 0, or scratch memory can't be had: the caller then runs
 * cblas_sgemm. */
bool lg_sgemm_avx512(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc);

#endif
