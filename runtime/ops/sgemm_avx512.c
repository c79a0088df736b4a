/* sgemm_avx512.c: float32 gemm with AVX-512 FMAs (see sgemm_avx512.h), laid
 * out as BLIS and GotoBLAS do:
 *
 *   for each block of MC rows of C:
 *     for each block of k (equal, at most KC):  pack op(a)'s mc x kc block
 *       for each block of NC columns of C:      pack op(b)'s kc x nc block (L2)
 *         for each panel of MR rows:            (kc x MR floats, stays in L1)
 *           for each panel of NR columns:       the micro-kernel, MR x NR
 *
 * (a is packed once per block of k: a conv's weight, small m and wide n,
 * was packed again for every block of columns, 4% of its time.) An a
 * whose rows run along k (not transposed) is not packed at all: the
 * kernel broadcasts from its MR rows in place (8 streams the prefetchers
 * follow), and only a last panel of fewer than MR rows is packed, padded.
 * Packing it was a quarter of the packing work of a 64 x 784 x 128
 * product; 256 x 1152 x 64 ran 17% faster without it, 500 x 300 x 200 8%.
 * When both operands are k-inner (a b^T: a Linear's x W^T) only one can be
 * read in place; with m < n the product runs as C^T = b a^T, packing the
 * smaller and storing C's tiles transposed (16 x 1024 x 1024 26% faster).
 *
 * The micro-kernel keeps its 8 x 48 tile of C in 24 zmm registers: per
 * step of k it loads 48 floats of b's panel (3 vectors) and broadcasts 8
 * of a's panel, 24 FMAs. Panels are zero-padded to whole MR / NR, and a
 * tile at C's edge goes through a small buffer (one of 32 or 16 columns
 * or fewer computes only its first two or one vectors). The first k block
 * applies beta (0: c is only written), later ones add. */
#include "sgemm_avx512.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) &&         \
    !defined(LG_NO_TARGET_CLONES)
#include <immintrin.h>
#include <stdlib.h>

#define AVX512 __attribute__((target("avx512f,avx512vl")))

#define MR 8
#define NR 48
#define KC 384 /* the most k per block; k is cut into equal blocks */
#define MC 512 /* a multiple of MR */
#define NC 384 /* a multiple of NR; kc x nc floats: at most 576 KB, in L2 */

/* Worth packing: smaller products, and those narrower than MIN_N columns
 * (where packing the wide a costs more than the arithmetic: 512 x 16 x 512
 * took 223 us here against OpenBLAS's 115; at 32 columns they tie), stay
 * with OpenBLAS. */
#define MIN_WORK 65536.0
#define MIN_N 32

/* dst[j * ldd + i] = src[i * lds + j] for i, j < 8: an 8 x 8 block
 * transposed in registers (the packing of a row-major a and a transposed
 * b, whose panels run across src's rows). */
AVX512 static void transpose8(const float *src, int64_t lds, float *dst,
                              int64_t ldd) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds),
         r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds),
         r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
         r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
         t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
         t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
         t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
         u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
         u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* dst[q * width + r] = src[r * lds + q] for r < rows, q < kc, and zero for
 * rows <= r < width: rows running along k laid out across a panel of
 * width floats per step of k (a's rows, or b's columns when transposed);
 * whole 8 x 8 blocks in registers, the rest one by one. */
AVX512 static void pack_across(const float *src, int64_t lds, int64_t rows,
                               int64_t kc, float *restrict dst,
                               int64_t width) {
  int64_t r8 = rows / 8 * 8, q8 = kc / 8 * 8;
  for (int64_t r = 0; r < r8; r += 8) {
    for (int64_t q = 0; q < q8; q += 8)
      transpose8(src + r * lds + q, lds, dst + q * width + r, width);
    for (int64_t q = q8; q < kc; q++)
      for (int64_t i = r; i < r + 8; i++) dst[q * width + i] = src[i * lds + q];
  }
  for (int64_t q = 0; q < kc; q++) {
    for (int64_t i = r8; i < rows; i++) dst[q * width + i] = src[i * lds + q];
    for (int64_t i = rows; i < width; i++) dst[q * width + i] = 0.0f;
  }
}

/* dst[q * width + r] = src[q * lds + r] for r < rows, q < kc, zero for
 * rows <= r < width (width a multiple of 8): rows already laid along the
 * panel (a transposed, b as it is), copied 8 lanes at a time under a mask
 * (a call of memcpy per row of 48 floats took 14% of a conv's time). */
AVX512 static void pack_along(const float *src, int64_t lds, int64_t rows,
                              int64_t kc, float *restrict dst, int64_t width) {
  for (int64_t q = 0; q < kc; q++) {
    const float *s = src + q * lds;
    float *d = dst + q * width;
    for (int64_t r = 0; r < width; r += 8) {
      int64_t left = rows - r;
      __mmask8 lanes = left >= 8 ? 0xff : left > 0 ? (__mmask8)((1u << left) - 1) : 0;
      _mm256_storeu_ps(d + r, _mm256_maskz_loadu_ps(lanes, s + r));
    }
  }
}

/* Lines [start, start + len) of an operand (a's rows or b's columns; past
 * count, zero) and k [k0, k0 + kc), as panels of width lines: panel p
 * holds, for each step of k, its lines' values. k_inner: each line runs
 * along k in memory (line i at x + i * ld: a as it is, b transposed);
 * else each step of k is a row across the lines (k at x + k * ld). */
static void pack_panels(bool k_inner, const float *x, int64_t ld,
                        int64_t count, int64_t start, int64_t len, int64_t k0,
                        int64_t kc, int64_t width, float *restrict dst) {
  for (int64_t p = 0; p < len; p += width) {
    int64_t lines = count - (start + p) < width ? count - (start + p) : width;
    if (k_inner)
      pack_across(x + (start + p) * ld + k0, ld, lines, kc, dst + p * kc, width);
    else
      pack_along(x + k0 * ld + start + p, ld, lines, kc, dst + p * kc, width);
  }
}

/* A cut tile's first rows x cols of tmp (rows ld apart) into c, element
 * (i, j) at c[i * ldc + j * cs] (cs 1, or ldc 1 and cs C's own leading dim
 * when the product is computed transposed): element by element, the same
 * arithmetic per element as a whole tile's stores. */
static void store_cut(const float *tmp, int64_t ld, float *c, int64_t ldc,
                      int64_t cs, float beta, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      float t = tmp[i * ld + j], *o = c + i * ldc + j * cs;
      *o = beta == 0.0f ? t : beta == 1.0f ? t + *o : t + beta * *o;
    }
}

/* A tile's first rows x cols of tmp (rows ld apart) into a C computed
 * transposed (element (i, j) at c[i + j * cs]): with all MR rows, eight
 * columns at a time turned into eight rows of C in registers (transpose8)
 * and stored whole, the rest as store_cut does; the same arithmetic per
 * element as store_cut's. */
AVX512 static void store_transposed(const float *tmp, int64_t ld, float *c,
                                    int64_t cs, float beta, int64_t rows,
                                    int64_t cols) {
  int64_t whole = rows == MR ? cols / 8 * 8 : 0;
  float block[64] __attribute__((aligned(32)));
  __m256 vbeta = _mm256_set1_ps(beta);
  for (int64_t j0 = 0; j0 < whole; j0 += 8) {
    transpose8(tmp + j0, ld, block, 8);
    for (int64_t j = 0; j < 8; j++) {
      float *o = c + (j0 + j) * cs;
      __m256 t = _mm256_load_ps(block + 8 * j);
      if (beta == 1.0f) t = _mm256_add_ps(t, _mm256_loadu_ps(o));
      else if (beta != 0.0f)
        t = _mm256_add_ps(t, _mm256_mul_ps(vbeta, _mm256_loadu_ps(o)));
      _mm256_storeu_ps(o, t);
    }
  }
  if (whole < cols)
    store_cut(tmp + whole, ld, c + whole * cs, 1, cs, beta, rows, cols - whole);
}

/* A tile's first rows x cols of tmp into c, whichever way C is laid out
 * (cs 1: rows ldc apart; else computed transposed, see store_transposed). */
AVX512 static void store_tile(const float *tmp, int64_t ld, float *c,
                              int64_t ldc, int64_t cs, float beta,
                              int64_t rows, int64_t cols) {
  if (cs != 1) store_transposed(tmp, ld, c, cs, beta, rows, cols);
  else store_cut(tmp, ld, c, ldc, 1, beta, rows, cols);
}

/* Where a tile's a comes from: a packed panel (row i at step q is a[q *
 * MR + i]: a_row 1, a_step MR) or a's own rows, unpacked (a[i * lda + q]:
 * a_row lda, a_step 1). The kernels below are written once for both, inlined
 * into one function per source with the strides constant where they are;
 * the arithmetic is the same either way. */
#define INLINE __attribute__((always_inline)) static inline

/* The MR x NR tile op(a) panel x op(b) panel over kc steps, into c (ldc):
 * c = tile (beta 0), c = tile + beta c, or c += tile (add); only the
 * first rows x cols of it when the tile is cut by C's edge. */
AVX512 INLINE void tile_kernel(int64_t kc, const float *restrict a,
                               int64_t a_row, int64_t a_step,
                               const float *restrict b, float *c,
                               int64_t ldc, int64_t cs, bool add, float beta,
                               int64_t rows, int64_t cols) {
#define ROW_DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), \
    c##i##1 = _mm512_setzero_ps(), c##i##2 = _mm512_setzero_ps();
  ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3)
  ROW_DECL(4) ROW_DECL(5) ROW_DECL(6) ROW_DECL(7)
#define ROW_STEP(i) {                                                        \
    __m512 ai = _mm512_set1_ps(a[i * a_row]);                                \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                              \
    c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                              \
    c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);                              \
  }
  for (int64_t q = 0; q < kc; q++) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16),
           b2 = _mm512_load_ps(b + 32);
    ROW_STEP(0) ROW_STEP(1) ROW_STEP(2) ROW_STEP(3)
    ROW_STEP(4) ROW_STEP(5) ROW_STEP(6) ROW_STEP(7)
    a += a_step;
    b += NR;
  }
  /* the tile in registers goes to its rows; a cut tile through tmp */
  float tmp[MR * NR] __attribute__((aligned(64)));
  bool whole = rows == MR && cols == NR && cs == 1;
  float *out = whole ? c : tmp;
  int64_t ld = whole ? ldc : NR;
#define ROW_STORE(i) {                                                       \
    float *o = out + i * ld;                                                 \
    _mm512_storeu_ps(o, c##i##0);                                            \
    _mm512_storeu_ps(o + 16, c##i##1);                                       \
    _mm512_storeu_ps(o + 32, c##i##2);                                       \
  }
#define ROW_ADD(i) {                                                         \
    float *o = out + i * ld;                                                 \
    _mm512_storeu_ps(o, _mm512_add_ps(c##i##0, _mm512_loadu_ps(o)));          \
    _mm512_storeu_ps(o + 16, _mm512_add_ps(c##i##1, _mm512_loadu_ps(o + 16)));\
    _mm512_storeu_ps(o + 32, _mm512_add_ps(c##i##2, _mm512_loadu_ps(o + 32)));\
  }
#define BETA_ONE(o, v)                                                       \
  _mm512_storeu_ps(o, _mm512_add_ps(v, _mm512_mul_ps(vbeta, _mm512_loadu_ps(o))))
#define ROW_BETA(i) {                                                        \
    float *o = out + i * ld;                                                 \
    BETA_ONE(o, c##i##0); BETA_ONE(o + 16, c##i##1); BETA_ONE(o + 32, c##i##2);\
  }
  if (add) beta = 1.0f;
  if (whole) {
    if (beta == 0.0f) {
      ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3)
      ROW_STORE(4) ROW_STORE(5) ROW_STORE(6) ROW_STORE(7)
    } else if (beta == 1.0f) {
      ROW_ADD(0) ROW_ADD(1) ROW_ADD(2) ROW_ADD(3)
      ROW_ADD(4) ROW_ADD(5) ROW_ADD(6) ROW_ADD(7)
    } else {
      __m512 vbeta = _mm512_set1_ps(beta);
      ROW_BETA(0) ROW_BETA(1) ROW_BETA(2) ROW_BETA(3)
      ROW_BETA(4) ROW_BETA(5) ROW_BETA(6) ROW_BETA(7)
    }
    return;
  }
  ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3)
  ROW_STORE(4) ROW_STORE(5) ROW_STORE(6) ROW_STORE(7)
  store_tile(tmp, NR, c, ldc, cs, beta, rows, cols);
}

/* The tile of a panel at C's right edge whose last columns are padding
 * (cols <= 32 of NR): only the first nv (1 or 2) vectors of each row are
 * computed, the same FMAs in the same order per element as tile_kernel, so
 * the same bits; 1/3 or 2/3 of its work (n = 128 is two panels and 32
 * columns, a 64-column conv two thirds of a panel wasted before). Always
 * through tmp and store_tile, as a cut tile. */
AVX512 INLINE void narrow_kernel(int nv, int64_t kc, const float *restrict a,
                                 int64_t a_row, int64_t a_step,
                                 const float *restrict b, float *c,
                                 int64_t ldc, int64_t cs, bool add,
                                 float beta, int64_t rows, int64_t cols) {
  __m512 acc[MR][2];
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();
  for (int64_t q = 0; q < kc; q++) {
    __m512 bv[2];
    for (int v = 0; v < nv; v++) bv[v] = _mm512_load_ps(b + 16 * v);
    _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {
      __m512 ai = _mm512_set1_ps(a[i * a_row]);
      for (int v = 0; v < nv; v++)
        acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_step;
    b += NR;
  }
  float tmp[MR * 32] __attribute__((aligned(64)));
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < nv; v++)
      _mm512_store_ps(tmp + i * 16 * nv + 16 * v, acc[i][v]);
  store_tile(tmp, 16 * nv, c, ldc, cs, add ? 1.0f : beta, rows, cols);
}

/* One tile, by the kernel its width needs, a read as the strides say. */
AVX512 INLINE void any_tile(int64_t kc, const float *restrict a,
                            int64_t a_row, int64_t a_step,
                            const float *restrict b, float *c, int64_t ldc,
                            int64_t cs, bool add, float beta, int64_t rows,
                            int64_t cols) {
  /* nv a constant in each inlined copy, so its accumulators are registers */
  if (cols > 32)
    tile_kernel(kc, a, a_row, a_step, b, c, ldc, cs, add, beta, rows, cols);
  else if (cols > 16)
    narrow_kernel(2, kc, a, a_row, a_step, b, c, ldc, cs, add, beta, rows,
                  cols);
  else
    narrow_kernel(1, kc, a, a_row, a_step, b, c, ldc, cs, add, beta, rows,
                  cols);
}

/* A tile whose a is a packed panel. */
AVX512 static void packed_tile(int64_t kc, const float *restrict a,
                               const float *restrict b, float *c, int64_t ldc,
                               int64_t cs, bool add, float beta, int64_t rows,
                               int64_t cols) {
  any_tile(kc, a, 1, MR, b, c, ldc, cs, add, beta, rows, cols);
}

/* A tile whose a is MR whole rows of a itself, lda apart (k inner). */
AVX512 static void rows_tile(int64_t kc, const float *restrict a, int64_t lda,
                             const float *restrict b, float *c, int64_t ldc,
                             int64_t cs, bool add, float beta, int64_t rows,
                             int64_t cols) {
  any_tile(kc, a, lda, 1, b, c, ldc, cs, add, beta, rows, cols);
}

bool lg_sgemm_avx512_takes(int64_t m, int64_t n, int64_t k) {
  return m >= MR && n >= MIN_N && k >= 8 &&
         (double)m * (double)n * (double)k >= MIN_WORK &&
         __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
}

bool lg_sgemm_avx512(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc) {
  if (m <= 0 || n <= 0 || k <= 0 || !__builtin_cpu_supports("avx512f") ||
      !__builtin_cpu_supports("avx512vl"))
    return false;
  /* c's element (i, j) at c[i * rs + j * cs] */
  int64_t rs = ldc, cs = 1;
  if (!ta && tb && m < n) {
    /* a (m x k) times b stored as n x k, both with k inner: only one of
     * them can be read in place, the other is packed across. Computed as
     * C^T = b a^T, the smaller (a) is the packed one and the larger read
     * in place; each element is the same FMAs in the same order (the
     * product's two factors swap, which rounds the same), so the same
     * bits, stored into C transposed. */
    const float *t = a;
    a = b, b = t;
    int64_t tl = lda, tn = m;
    lda = ldb, ldb = tl;
    m = n, n = tn; /* ta stays false, tb true: both still k-inner */
    rs = 1, cs = ldc;
  }
  int64_t kc_max = (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC);
  int64_t mc_max = m < MC ? (m + MR - 1) / MR * MR : MC;
  int64_t nc_max = n < NC ? (n + NR - 1) / NR * NR : NC;
  /* both packed blocks in one allocation, b's 64-byte aligned (its panels
   * are read with aligned loads) */
  int64_t a_floats = (mc_max * kc_max + 15) / 16 * 16;
  float *pa = aligned_alloc(64, (size_t)(a_floats + nc_max * kc_max) * sizeof(float));
  if (!pa) return false;
  float *pb = pa + a_floats;
  bool direct = !ta; /* a's rows run along k: its tiles read them in place */
  for (int64_t i0 = 0; i0 < m; i0 += MC) {
    int64_t mc = m - i0 < MC ? m - i0 : MC;
    for (int64_t k0 = 0; k0 < k; k0 += kc_max) {
      int64_t kc = k - k0 < kc_max ? k - k0 : kc_max;
      /* a with k inner is read in place, but for a last panel of fewer
       * than MR rows (packed, zero-padded); else it is packed whole */
      int64_t tail = direct ? mc / MR * MR : 0;
      pack_panels(!ta, a, lda, m, i0 + tail, mc - tail, k0, kc, MR, pa + tail * kc);
      for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC;
        pack_panels(tb, b, ldb, n, j0, nc, k0, kc, NR, pb);
        for (int64_t p = 0; p < mc; p += MR)
          for (int64_t q = 0; q < nc; q += NR) {
            int64_t rows = mc - p < MR ? mc - p : MR;
            int64_t cols = nc - q < NR ? nc - q : NR;
            float *cp = c + (i0 + p) * rs + (j0 + q) * cs;
            if (p < tail)
              rows_tile(kc, a + (i0 + p) * lda + k0, lda, pb + q * kc, cp,
                        rs, cs, k0 > 0, beta, rows, cols);
            else
              packed_tile(kc, pa + p * kc, pb + q * kc, cp, rs, cs, k0 > 0,
                          beta, rows, cols);
          }
      }
    }
  }
  free(pa);
  return true;
}

#else

bool lg_sgemm_avx512_takes(int64_t m, int64_t n, int64_t k) {
  (void)m, (void)n, (void)k;
  return false;
}

bool lg_sgemm_avx512(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc) {
  (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b,
      (void)ldb, (void)beta, (void)c, (void)ldc;
  return false;
}

#endif
