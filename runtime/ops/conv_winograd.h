/* conv_winograd.h: conv2d's forward, and its input gradient
 * (conv_transpose2d), for 3x3 kernels at stride 1 by Winograd's
 * F(2x2, 3x3) (conv_winograd.c): 16 multiplies per 2x2 outputs and channel
 * pair instead of 36, so the gemms do 2.25x less arithmetic than im2col's.
 * Internal. */
#ifndef LG_CONV_WINOGRAD_H
#define LG_CONV_WINOGRAD_H

#include "conv_geom.h"

/* Whether g is a problem this kernel takes: the response side (conv2d) or
 * the image side (conv_transpose2d, conv2d's input gradient; padding at
 * most 2), float32, 3x3 at stride 1 and dilation 1, any groups, at least
 * 16 channels in and out per group, on a CPU with AVX-512 (its transforms
 * are AVX-512 code). */
bool lg_conv_winograd_fits(const conv_geom *g);

/* The solved side of g: response (N,O,OH,OW) = the correlation of image
 * (N,C,H,W) with weight (O,C/g,3,3), or image = its adjoint applied to
 * response, plus bias (of the solved side's channels) when not NULL; every
 * element of the solved tensor written, the other only read. The
 * batch's rows of 2x2 tiles split across ctx's threads, each block of rows
 * computed the same way on any thread (the same bits for every count).
 * LG_OK, LG_ERR_MEMORY, or LG_ERR_INTERRUPTED (between blocks; the
 * response then partly written). Call with lg_conv_winograd_fits(g). */
lg_status lg_conv_winograd(lg_ctx *ctx, const conv_geom *g, float *image,
                           const float *weight, const float *bias,
                           float *response);

#endif
