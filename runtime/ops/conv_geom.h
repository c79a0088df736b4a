/* conv_geom.h: the geometry of one 2-D convolution problem, shared by the
 * im2col kernels (conv.c) and the Winograd forward (conv_winograd.c). An
 * "image" (N,C,H,W), a "response" (N,O,OH,OW) and a weight (O,C/g,kh,kw)
 * are linked by one correlation (conv.c's opening comment); side says which
 * of the three an op solves for. Internal. */
#ifndef LG_CONV_GEOM_H
#define LG_CONV_GEOM_H

#include "core.h"

typedef enum conv_side { SOLVE_RESPONSE, SOLVE_IMAGE, SOLVE_WEIGHT } conv_side;

typedef struct conv_geom {
  lg_dtype dtype;
  conv_side side;
  int64_t n, c, h, w;   /* image                           */
  int64_t o, oh, ow;    /* response                        */
  int64_t kh, kw;       /* weight (o, c / groups, kh, kw)  */
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t groups;
  int64_t bias_size;    /* expected length of the bias     */
} conv_geom;

#endif
