/* outer_rows.c: outer-product rows with AVX-512 stores of whole aligned
 * lines (see outer_rows.h). Contiguous rows (ldc == n) are one flat run:
 * every vector store is a whole aligned 64-byte line, a line that spans
 * two rows mixing the two rows' products under a mask; scalar stores only
 * before the first aligned line and after the last. Rows with a gap
 * between them run row by row. Every element is the one product
 * a[i] * b[j]. */
#include "outer_rows.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) &&         \
    !defined(LG_NO_TARGET_CLONES)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* T, its vector, mask and intrinsics; LANES elements per 64-byte line */
#define ROWS_KERNEL(SUF, T, VEC, MASK, LANES, SET1, LOADU, MASKZ_LOADU,       \
                    MUL, BLEND, STORE)                                        \
  /* elements [q0, q1) of the flat rows (q = i * n + j), scalar stores */     \
  AVX512 static void plain_##SUF(const T *a, int64_t sa, const T *b,          \
                                 int64_t n, T *c, int64_t q0, int64_t q1) {   \
    if (q0 >= q1) return;                                                     \
    int64_t i = q0 / n, j = q0 % n;                                           \
    for (int64_t q = q0; q < q1; q++) {                                       \
      c[q] = a[i * sa] * b[j];                                                \
      if (++j == n) j = 0, i++;                                               \
    }                                                                         \
  }                                                                           \
  /* m contiguous rows of n >= LANES elements at c */                         \
  AVX512 static void flat_##SUF(int64_t m, int64_t n, const T *a, int64_t sa, \
                                const T *b, T *c) {                           \
    int64_t total = m * n;                                                    \
    int64_t head = (int64_t)(((64 - ((uintptr_t)c & 63)) & 63) / sizeof(T));  \
    if (((uintptr_t)c & (sizeof(T) - 1)) || head + LANES > total) {           \
      plain_##SUF(a, sa, b, n, c, 0, total);                                  \
      return;                                                                 \
    }                                                                         \
    plain_##SUF(a, sa, b, n, c, 0, head);                                     \
    int64_t i = head / n, j = head % n, q = head;                             \
    for (; q + LANES <= total; q += LANES) {                                  \
      VEC v;                                                                  \
      if (j + LANES <= n) {                                                   \
        v = MUL(SET1(a[i * sa]), LOADU(b + j));                               \
      } else { /* lanes < k: row i's last k; the rest: row i + 1's first */   \
        int64_t k = n - j;                                                    \
        MASK lo = (MASK)((1u << k) - 1);                                      \
        VEC x = MUL(SET1(a[i * sa]), MASKZ_LOADU(lo, b + j));                 \
        VEC y = MUL(SET1(a[(i + 1) * sa]), MASKZ_LOADU((MASK)~lo, b - k));    \
        v = BLEND(lo, y, x);                                                  \
      }                                                                       \
      STORE(c + q, v);                                                        \
      j += LANES;                                                             \
      if (j >= n) j -= n, i++;                                                \
    }                                                                         \
    plain_##SUF(a, sa, b, n, c, q, total);                                    \
  }                                                                           \
  bool lg_outer_rows_##SUF(int64_t m, int64_t n, const T *a, int64_t sa,      \
                           const T *b, T *c, int64_t ldc) {                   \
    if (!__builtin_cpu_supports("avx512f")) return false;                     \
    if (n >= LANES && ldc == n) {                                             \
      flat_##SUF(m, n, a, sa, b, c);                                          \
    } else {                                                                  \
      for (int64_t i = 0; i < m; i++)                                         \
        if (n >= LANES) flat_##SUF(1, n, a + i * sa, sa, b, c + i * ldc);     \
        else plain_##SUF(a + i * sa, sa, b, n, c + i * ldc, 0, n);            \
    }                                                                         \
    return true;                                                              \
  }

ROWS_KERNEL(f32, float, __m512, __mmask16, 16, _mm512_set1_ps,
            _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
            _mm512_mask_blend_ps, _mm512_store_ps)
ROWS_KERNEL(f64, double, __m512d, __mmask8, 8, _mm512_set1_pd,
            _mm512_loadu_pd, _mm512_maskz_loadu_pd, _mm512_mul_pd,
            _mm512_mask_blend_pd, _mm512_store_pd)

#else

bool lg_outer_rows_f32(int64_t m, int64_t n, const float *a, int64_t sa,
                       const float *b, float *c, int64_t ldc) {
  (void)m, (void)n, (void)a, (void)sa, (void)b, (void)c, (void)ldc;
  return false;
}

bool lg_outer_rows_f64(int64_t m, int64_t n, const double *a, int64_t sa,
                       const double *b, double *c, int64_t ldc) {
  (void)m, (void)n, (void)a, (void)sa, (void)b, (void)c, (void)ldc;
  return false;
}

#endif
