/* sum_rows.c: sums of dense float32 rows with AVX-512 (see sum_rows.h);
 * bit-identical to reduce.c's portable row_sum_f32. */
#include "sum_rows.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) &&         \
    !defined(LG_NO_TARGET_CLONES)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define INLINE_AVX512 AVX512 static inline __attribute__((always_inline))

/* reduce.c's fold_lanes on lanes 0-7 in a0, 8-15 in a1, ...: lane k +=
 * lane k + 16, then k += k + 8, k + 4, k + 2, k + 1 */
INLINE_AVX512 double fold(__m512d a0, __m512d a1, __m512d a2, __m512d a3) {
  __m512d v = _mm512_add_pd(_mm512_add_pd(a0, a2), _mm512_add_pd(a1, a3));
  __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(v),
                             _mm512_extractf64x4_pd(v, 1));
  __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4),
                          _mm256_extractf128_pd(s4, 1));
  return _mm_cvtsd_f64(s2) + _mm_cvtsd_f64(_mm_unpackhi_pd(s2, s2));
}

/* Eight floats at p as doubles (exact). */
INLINE_AVX512 __m512d load8(const float *p) {
  return _mm512_cvtps_pd(_mm256_loadu_ps(p));
}

/* One row of n elements from x: the lanes of element i are
 * acc[(i % 32) / 8], lane i % 8; the tail (n % 32 elements) is loaded
 * under masks, as zeros beyond the row, and added only to the lanes it
 * reaches. */
INLINE_AVX512 double sum_row(const float *x, int64_t n) {
  __m512d acc[4];
  for (int q = 0; q < 4; q++) acc[q] = _mm512_setzero_pd();
  int64_t whole = n - n % 32;
  for (int64_t i = 0; i < whole; i += 32)
    for (int q = 0; q < 4; q++)
      acc[q] = _mm512_add_pd(acc[q], load8(x + i + 8 * q));
  int64_t tail = n - whole;
  for (int h = 0; h < 2 && tail > 16 * h; h++) { /* 16 floats per half */
    int64_t left = tail - 16 * h;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF
                             : (__mmask16)((1u << left) - 1);
    __m512 f = _mm512_maskz_loadu_ps(m, x + whole + 16 * h);
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
    __m512d hi = _mm512_cvtps_pd(
        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
    acc[2 * h] = _mm512_mask_add_pd(acc[2 * h], (__mmask8)m, acc[2 * h], lo);
    acc[2 * h + 1] = _mm512_mask_add_pd(acc[2 * h + 1], (__mmask8)(m >> 8),
                                        acc[2 * h + 1], hi);
  }
  return fold(acc[0], acc[1], acc[2], acc[3]);
}

/* Rows one after another: a single sequential stream, which the hardware
 * prefetchers follow best (four rows in lockstep measured 25% slower on
 * rows of one 4 KiB page each). */
AVX512 static void sum_rows_avx512(const float *x, int64_t rows, int64_t n,
                                   bool mean, float *out) {
  for (int64_t r = 0; r < rows; r++) {
    double v = sum_row(x + r * n, n);
    out[r] = (float)(mean ? v / (double)n : v);
  }
}

bool lg_sum_rows_f32_avx512(const float *x, int64_t rows, int64_t n,
                            bool mean, float *out) {
  if (!__builtin_cpu_supports("avx512f")) return false;
  sum_rows_avx512(x, rows, n, mean, out);
  return true;
}

#else

bool lg_sum_rows_f32_avx512(const float *x, int64_t rows, int64_t n,
                            bool mean, float *out) {
  (void)x, (void)rows, (void)n, (void)mean, (void)out;
  return false;
}

#endif
