/* sum_rows.h: the AVX-512 kernel for sums of dense float32 rows.
 *
 * A row's sum is reduce.c's row_sum_f32 exactly: 32 double lanes (element
 * i of the row goes to lane i % 32) folded pairwise in a fixed order, so
 * results are bit-identical to the portable loop and to the strided
 * reference path. This kernel runs the rows in one loop, without a call
 * per row, with the float-to-double conversions as single instructions
 * on 32-byte loads (GCC's generic tuning splits those loads in two) and
 * the lanes folded in registers, which keeps rows of a thousand elements
 * at the memory system's pace.
 */
#ifndef LG_SUM_ROWS_H
#define LG_SUM_ROWS_H

#include <stdbool.h>
#include <stdint.h>

/* out[r] = sum of the n floats at x + r * n (divided by n when mean, in
 * double), for r < rows. Returns false, doing nothing, when this machine
 * or build has no AVX-512 (the caller then runs the portable loop). */
bool lg_sum_rows_f32_avx512(const float *x, int64_t rows, int64_t n,
                            bool mean, float *out);

#endif
