/* ops.h: the internal entry points one ops/ file offers another, or the C
 * tests (the kernels themselves are declared from lg_ops.h in core.h).
 * Declared here once, so a changed signature fails to compile. */
#ifndef LG_OPS_INTERNAL_H
#define LG_OPS_INTERNAL_H

#include "core.h"

/* pool.c: the option bits of the pools' params->scalar_int. */
#define LG_POOL_CEIL_MODE 1
#define LG_POOL_COUNT_INCLUDE_PAD 2

/* pool.c, for pool_backward.c: (OH, OW) of 1 / divisor for each window of
 * avg_pool2d (params p) over an h x w plane. */
lg_status lg_avg_pool2d_scale(lg_ctx *ctx, const lg_params *p, int64_t h,
                              int64_t w, lg_dtype dtype, lg_tensor **out);
/* pool.c, for pool_backward.c: the (out_len, in_len) matrix averaging each
 * adaptive window (its transpose when transposed). */
lg_status lg_adaptive_pool_matrix(lg_ctx *ctx, int64_t in_len, int64_t out_len,
                                  bool transposed, lg_dtype dtype,
                                  lg_tensor **out);

/* conv.c: the naive direct convolution, the oracle of tests/c/test_conv.c. */
lg_status lg_conv_reference(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, const lg_params *p, lg_tensor **out);

/* linalg.c: the naive strided matmul, the oracle of tests/c/test_linalg.c. */
lg_status lg_matmul_reference(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                              lg_tensor **out);

#endif
