/* conv.c: 2-D convolution kernels (conv2d, conv_transpose2d and conv2d's
 * weight gradient) through im2col / col2im and gemm (gemm_tiled.h), with a
 * naive direct kernel beside them as fallback and test oracle; float32 3x3
 * stride-1 problems of 16+ channels on the response and image sides go to
 * the Winograd kernel instead (conv_winograd.h). A batch of two
 * blocks of images or more is split across the context's threads (each
 * block's gemm on one BLAS thread, results independent of the count).
 * Each image runs in panels of output positions (im2col, gemm and col2im
 * of about 2^24 multiply-adds each), which keep the column buffer small
 * and let an interrupt stop the op between panels.
 *
 * Inputs and outputs (g = groups; every tensor float32 or float64, all of
 * one dtype; 4-D only, the Lua layer adds the batch dim of a 3-D input):
 *   CONV2D              x (N,C,H,W), w (O,C/g,kh,kw) [, b (O)] -> (N,O,OH,OW)
 *   CONV_TRANSPOSE2D    x (N,C,H,W), w (C,O/g,kh,kw) [, b (O)] -> (N,O,OH,OW)
 *   CONV2D_WEIGHT_GRAD  x (N,C,H,W), grad_out (N,O,OH,OW) -> (O,C/g,kh,kw)
 * where conv2d has        OH = (H + 2 ph - dh (kh - 1) - 1) / sh + 1
 * and conv_transpose2d    OH = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1.
 *
 * Params (lg_params):
 *   ints[0..1]  stride (h, w), >= 1
 *   ints[2..3]  padding (h, w), >= 0
 *   ints[4..5]  dilation (h, w), >= 1
 *   ints[6..7]  CONV_TRANSPOSE2D: output_padding (h, w), each below
 *               max(stride, dilation) of its dim as in PyTorch;
 *               CONV2D_WEIGHT_GRAD: the weight's kernel size (kh, kw)
 *   n_ints      6 for conv2d, 8 for the other two (unused ints are 0)
 *   scalar_int  groups (0 reads as 1)
 *   flags       LG_FLAG_OPT1: the bias b is the third input
 *
 * Invariant: the three ops are one correlation seen from three sides. An
 * "image" (N,C,H,W), a "response" (N,O,OH,OW) and a weight (O,C/g,kh,kw)
 * are linked by
 *   response[n, o, oh, ow] = sum over c, i, j of w[o, c, i, j] *
 *       image[n, (o / (O/g)) (C/g) + c, oh sh - ph + i dh, ow sw - pw + j dw]
 * (image positions outside H x W read as zero). conv2d solves for the
 * response; conv_transpose2d is its adjoint and solves for the image (its x
 * plays the response and its weight already has the (O,C/g) layout); the
 * weight gradient solves for the weight. So one geometry, one im2col and
 * one col2im serve all three, and the naive kernel is one loop nest.
 */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "blas_threads.h"
#include "conv_geom.h"
#include "conv_winograd.h"
#include "core.h"
#include "dtype.h"
#include "gemm_tiled.h"
#include "ops.h"
#include "parallel.h"

/* Which inputs play which part, and the output's shape. */
typedef struct conv_plan {
  conv_geom g;
  lg_tensor *image, *weight, *response, *bias; /* borrowed; one is NULL */
  int64_t out_sizes[4];
} conv_plan;

/* ---- checking arguments and sizing ------------------------------------ */

static const char *shape_of(char *buf, size_t size, const lg_tensor *t) {
  return lg_shape_str(buf, size, t->ndim, t->sizes);
}

static lg_status check_4d(lg_ctx *ctx, const char *name, const char *what,
                          const char *layout, const lg_tensor *t) {
  char s[160];
  if (t->ndim != 4)
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected a 4-D %s %s, got shape %s",
                   name, what, layout, shape_of(s, sizeof s, t));
  if (t->dtype != LG_FLOAT32 && t->dtype != LG_FLOAT64)
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "%s: expected a float32 or float64 %s, got %s", name, what,
                   lg_dtype_name(t->dtype));
  return LG_OK;
}

/* Reads stride, padding, dilation and groups from p into g. */
static lg_status read_params(lg_ctx *ctx, const char *name, const lg_params *p,
                             conv_geom *g) {
  g->sh = p->ints[0]; g->sw = p->ints[1];
  g->ph = p->ints[2]; g->pw = p->ints[3];
  g->dh = p->ints[4]; g->dw = p->ints[5];
  g->groups = p->scalar_int == 0 ? 1 : p->scalar_int;
  if (g->sh < 1 || g->sw < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a stride >= 1, got (%lld, %lld)",
                   name, (long long)g->sh, (long long)g->sw);
  if (g->ph < 0 || g->pw < 0)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a padding >= 0, got (%lld, %lld)",
                   name, (long long)g->ph, (long long)g->pw);
  if (g->dh < 1 || g->dw < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a dilation >= 1, got (%lld, %lld)",
                   name, (long long)g->dh, (long long)g->dw);
  if (g->groups < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected groups >= 1, got %lld", name,
                   (long long)g->groups);
  return LG_OK;
}

/* Channel counts c and o must split into the groups. */
static lg_status check_groups(lg_ctx *ctx, const char *name, const conv_geom *g,
                              const char *c_what, const char *o_what) {
  if (g->c % g->groups || g->o % g->groups)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: expected %s (%lld) and %s (%lld) divisible by groups "
                   "(%lld)", name, c_what, (long long)g->c, o_what,
                   (long long)g->o, (long long)g->groups);
  return LG_OK;
}

/* The response size along one dim of an image of size len (may be < 1). */
static int64_t response_len(int64_t len, int64_t k, int64_t s, int64_t pad,
                            int64_t dil) {
  int64_t span = len + 2 * pad - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;
}

static lg_status plan_conv2d(lg_ctx *ctx, const char *name,
                             lg_tensor *const *in, conv_plan *pl) {
  conv_geom *g = &pl->g;
  lg_tensor *x = in[0], *w = in[1];
  lg_status st = check_4d(ctx, name, "input", "(N,C,H,W)", x);
  if (!st) st = check_4d(ctx, name, "weight", "(O,C/groups,kh,kw)", w);
  if (st) return st;
  char sx[160], sw[160];
  g->n = x->sizes[0]; g->c = x->sizes[1]; g->h = x->sizes[2]; g->w = x->sizes[3];
  g->o = w->sizes[0]; g->kh = w->sizes[2]; g->kw = w->sizes[3];
  if ((st = check_groups(ctx, name, g, "input channels", "output channels")))
    return st;
  if (w->sizes[1] * g->groups != g->c)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: input %s has %lld channels, but weight %s with groups "
                   "= %lld expects %lld", name, shape_of(sx, sizeof sx, x),
                   (long long)g->c, shape_of(sw, sizeof sw, w),
                   (long long)g->groups, (long long)(w->sizes[1] * g->groups));
  g->oh = response_len(g->h, g->kh, g->sh, g->ph, g->dh);
  g->ow = response_len(g->w, g->kw, g->sw, g->pw, g->dw);
  if (g->oh < 1 || g->ow < 1)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: the padded input of size (%lld, %lld) is smaller than "
                   "the dilated kernel of size (%lld, %lld)", name,
                   (long long)(g->h + 2 * g->ph), (long long)(g->w + 2 * g->pw),
                   (long long)(g->dh * (g->kh - 1) + 1),
                   (long long)(g->dw * (g->kw - 1) + 1));
  g->side = SOLVE_RESPONSE;
  g->bias_size = g->o;
  pl->image = x;
  pl->weight = w;
  int64_t sizes[4] = {g->n, g->o, g->oh, g->ow};
  memcpy(pl->out_sizes, sizes, sizeof sizes);
  return LG_OK;
}

static lg_status plan_transpose(lg_ctx *ctx, const char *name,
                                lg_tensor *const *in, const lg_params *p,
                                conv_plan *pl) {
  conv_geom *g = &pl->g;
  lg_tensor *x = in[0], *w = in[1];
  lg_status st = check_4d(ctx, name, "input", "(N,C,H,W)", x);
  if (!st) st = check_4d(ctx, name, "weight", "(C,O/groups,kh,kw)", w);
  if (st) return st;
  char sx[160], sw[160];
  /* x is the response of the adjoint conv2d, the result its image */
  g->n = x->sizes[0]; g->o = x->sizes[1]; g->oh = x->sizes[2]; g->ow = x->sizes[3];
  g->c = w->sizes[1] * g->groups; g->kh = w->sizes[2]; g->kw = w->sizes[3];
  if (w->sizes[0] != g->o)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: input %s has %lld channels, but weight %s expects %lld",
                   name, shape_of(sx, sizeof sx, x), (long long)g->o,
                   shape_of(sw, sizeof sw, w), (long long)w->sizes[0]);
  if ((st = check_groups(ctx, name, g, "output channels", "input channels")))
    return st;
  int64_t oph = p->ints[6], opw = p->ints[7];
  if (oph < 0 || opw < 0 || oph >= (g->sh > g->dh ? g->sh : g->dh) ||
      opw >= (g->sw > g->dw ? g->sw : g->dw))
    return lg_fail(ctx, LG_ERR_ARG,
                   "%s: expected an output_padding >= 0 and smaller than "
                   "either stride or dilation, got (%lld, %lld)", name,
                   (long long)oph, (long long)opw);
  g->h = (g->oh - 1) * g->sh - 2 * g->ph + g->dh * (g->kh - 1) + oph + 1;
  g->w = (g->ow - 1) * g->sw - 2 * g->pw + g->dw * (g->kw - 1) + opw + 1;
  if (g->h < 1 || g->w < 1 || g->oh < 1 || g->ow < 1)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: input %s with this stride and padding gives an empty "
                   "output of size (%lld, %lld)", name,
                   shape_of(sx, sizeof sx, x), (long long)g->h,
                   (long long)g->w);
  g->side = SOLVE_IMAGE;
  g->bias_size = g->c;
  pl->response = x;
  pl->weight = w;
  int64_t sizes[4] = {g->n, g->c, g->h, g->w};
  memcpy(pl->out_sizes, sizes, sizeof sizes);
  return LG_OK;
}

/* The response may be any size: positions past the image read zeros. */
static lg_status plan_weight_grad(lg_ctx *ctx, const char *name,
                                  lg_tensor *const *in, const lg_params *p,
                                  conv_plan *pl) {
  conv_geom *g = &pl->g;
  lg_tensor *x = in[0], *go = in[1];
  lg_status st = check_4d(ctx, name, "input", "(N,C,H,W)", x);
  if (!st) st = check_4d(ctx, name, "grad_output", "(N,O,OH,OW)", go);
  if (st) return st;
  char sx[160], sg[160];
  if (x->dtype != go->dtype)
    return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected input and grad_output of "
                   "one dtype, got %s and %s", name, lg_dtype_name(x->dtype),
                   lg_dtype_name(go->dtype));
  if (x->sizes[0] != go->sizes[0])
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: input %s and grad_output %s differ "
                   "in batch size", name, shape_of(sx, sizeof sx, x),
                   shape_of(sg, sizeof sg, go));
  g->n = x->sizes[0]; g->c = x->sizes[1]; g->h = x->sizes[2]; g->w = x->sizes[3];
  g->o = go->sizes[1]; g->oh = go->sizes[2]; g->ow = go->sizes[3];
  g->kh = p->ints[6]; g->kw = p->ints[7];
  if (g->kh < 1 || g->kw < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a kernel size >= 1 in "
                   "ints[6..7], got (%lld, %lld)", name, (long long)g->kh,
                   (long long)g->kw);
  if ((st = check_groups(ctx, name, g, "input channels", "output channels")))
    return st;
  g->side = SOLVE_WEIGHT;
  g->bias_size = 0;
  pl->image = x;
  pl->response = go;
  int64_t sizes[4] = {g->o, g->c / g->groups, g->kh, g->kw};
  memcpy(pl->out_sizes, sizes, sizeof sizes);
  return LG_OK;
}

/* Checks the inputs of op and fills pl. */
static lg_status plan(lg_ctx *ctx, lg_op op, lg_tensor *const *in, int n_in,
                      const lg_params *p, conv_plan *pl) {
  const char *name = lg_op_name(op);
  memset(pl, 0, sizeof *pl);
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", name);
  bool has_bias = (p->flags & LG_FLAG_OPT1) != 0;
  if (op == LG_OP_CONV2D_WEIGHT_GRAD) has_bias = false;
  int want = has_bias ? 3 : 2;
  if (n_in != want)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected %d tensor inputs, got %d",
                   name, want, n_in);
  lg_status st = read_params(ctx, name, p, &pl->g);
  if (st) return st;
  switch (op) {
    case LG_OP_CONV2D: st = plan_conv2d(ctx, name, in, pl); break;
    case LG_OP_CONV_TRANSPOSE2D: st = plan_transpose(ctx, name, in, p, pl); break;
    case LG_OP_CONV2D_WEIGHT_GRAD: st = plan_weight_grad(ctx, name, in, p, pl); break;
    default: return lg_fail(ctx, LG_ERR_ARG, "conv: %s is not a convolution", name);
  }
  if (st) return st;
  pl->g.dtype = in[0]->dtype;
  if (in[1]->dtype != in[0]->dtype)
    return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected input and weight of one "
                   "dtype, got %s and %s", name, lg_dtype_name(in[0]->dtype),
                   lg_dtype_name(in[1]->dtype));
  if (has_bias) {
    lg_tensor *b = in[2];
    char sb[160];
    if (b->ndim != 1 || b->sizes[0] != pl->g.bias_size)
      return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected a bias of shape {%lld}, "
                     "got %s", name, (long long)pl->g.bias_size,
                     shape_of(sb, sizeof sb, b));
    if (b->dtype != pl->g.dtype)
      return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected a %s bias, got %s", name,
                     lg_dtype_name(pl->g.dtype), lg_dtype_name(b->dtype));
    pl->bias = b;
  }
  return lg_check_shape(ctx, name, 4, pl->out_sizes, NULL);
}

/* ---- naive direct kernel (float64 accumulation) ------------------------ */

/* One loop nest over every (response element, weight element) pair whose
 * image position is inside the image; the side picks what is accumulated. */
static void naive_conv(const conv_geom *g, double *image, double *weight,
                       double *response) {
  int64_t og = g->o / g->groups, cg = g->c / g->groups;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t o = 0; o < g->o; o++)
      for (int64_t c = 0; c < cg; c++) {
        int64_t ic = (o / og) * cg + c;
        for (int64_t y = 0; y < g->oh; y++)
          for (int64_t x = 0; x < g->ow; x++)
            for (int64_t i = 0; i < g->kh; i++)
              for (int64_t j = 0; j < g->kw; j++) {
                int64_t h = y * g->sh - g->ph + i * g->dh;
                int64_t w = x * g->sw - g->pw + j * g->dw;
                if (h < 0 || h >= g->h || w < 0 || w >= g->w) continue;
                int64_t ri = ((n * g->o + o) * g->oh + y) * g->ow + x;
                int64_t ii = ((n * g->c + ic) * g->h + h) * g->w + w;
                int64_t wi = ((o * cg + c) * g->kh + i) * g->kw + j;
                switch (g->side) {
                  case SOLVE_RESPONSE: response[ri] += weight[wi] * image[ii]; break;
                  case SOLVE_IMAGE: image[ii] += weight[wi] * response[ri]; break;
                  case SOLVE_WEIGHT: weight[wi] += response[ri] * image[ii]; break;
                }
              }
      }
}

/* ---- im2col / col2im and gemm ------------------------------------------ */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The response columns [lo, hi) whose image position x s - offset lies in
 * [0, len). */
static void valid_range(int64_t count, int64_t s, int64_t offset, int64_t len,
                        int64_t *lo, int64_t *hi) {
  *lo = offset <= 0 ? 0 : ceil_div(offset, s);
  *hi = len + offset <= 0 ? 0 : ceil_div(len + offset, s);
  if (*hi > count) *hi = count;
  if (*lo > *hi) *lo = *hi;
}

/* im2col: img (C/g,H,W) of one group -> the response positions [p0, p1)
 * (flattened over OH*OW) of its columns: col (C/g*kh*kw, p1-p0), whose rows
 * start ld elements apart (ld >= p1-p0: several images side by side);
 * col2im: the adjoint, col accumulated into img. Within a response row y
 * the positions [xa, xb) are asked for, of which [lo, hi) read the image. */
#define COL_KERNELS(SUFFIX, T)                                                \
  static void im2col_##SUFFIX(const conv_geom *g, const T *img, T *col,       \
                              int64_t ld, int64_t p0, int64_t p1) {           \
    const int64_t cg = g->c / g->groups, kh = g->kh, kw = g->kw;              \
    const int64_t ow = g->ow, sw = g->sw, sh = g->sh, ph = g->ph;             \
    const int64_t dh = g->dh, dw = g->dw, ih = g->h, iw = g->w;               \
    const int64_t y0 = p0 / ow, y1 = (p1 + ow - 1) / ow;                      \
    for (int64_t c = 0; c < cg; c++)                                          \
      for (int64_t i = 0; i < kh; i++)                                        \
        for (int64_t j = 0; j < kw; j++) {                                    \
          T *row = col + ((c * kh + i) * kw + j) * ld - p0;                   \
          int64_t offset = g->pw - j * dw, lo, hi;                            \
          valid_range(ow, sw, offset, iw, &lo, &hi);                          \
          for (int64_t y = y0; y < y1; y++) {                                 \
            T *r = row + y * ow;                                              \
            int64_t xa = p0 - y * ow, xb = p1 - y * ow;                       \
            if (xa < 0) xa = 0;                                               \
            if (xb > ow) xb = ow;                                             \
            int64_t h = y * sh - ph + i * dh;                                 \
            if (h < 0 || h >= ih) {                                           \
              memset(r + xa, 0, (size_t)(xb - xa) * sizeof(T));               \
              continue;                                                       \
            }                                                                 \
            int64_t a = lo < xa ? xa : lo > xb ? xb : lo;                     \
            int64_t b = hi < xa ? xa : hi > xb ? xb : hi;                     \
            const T *src = img + (c * ih + h) * iw;                           \
            for (int64_t x = xa; x < a; x++) r[x] = 0;                        \
            if (sw == 1)                                                      \
              memcpy(r + a, src + a - offset, (size_t)(b - a) * sizeof(T));   \
            else                                                              \
              for (int64_t x = a; x < b; x++) r[x] = src[x * sw - offset];    \
            for (int64_t x = b; x < xb; x++) r[x] = 0;                        \
          }                                                                   \
        }                                                                     \
  }                                                                           \
  static void col2im_##SUFFIX(const conv_geom *g, const T *col, int64_t ld,   \
                              int64_t p0, int64_t p1, T *img) {               \
    const int64_t cg = g->c / g->groups, kh = g->kh, kw = g->kw;              \
    const int64_t ow = g->ow, sw = g->sw, sh = g->sh, ph = g->ph;             \
    const int64_t dh = g->dh, dw = g->dw, ih = g->h, iw = g->w;               \
    const int64_t y0 = p0 / ow, y1 = (p1 + ow - 1) / ow;                      \
    for (int64_t c = 0; c < cg; c++)                                          \
      for (int64_t i = 0; i < kh; i++)                                        \
        for (int64_t j = 0; j < kw; j++) {                                    \
          const T *row = col + ((c * kh + i) * kw + j) * ld - p0;             \
          int64_t offset = g->pw - j * dw, lo, hi;                            \
          valid_range(ow, sw, offset, iw, &lo, &hi);                          \
          for (int64_t y = y0; y < y1; y++) {                                 \
            int64_t h = y * sh - ph + i * dh;                                 \
            if (h < 0 || h >= ih) continue;                                   \
            /* xa < 0 or xb > OW are outside [lo, hi] anyway */               \
            int64_t xa = p0 - y * ow, xb = p1 - y * ow;                       \
            int64_t a = lo < xa ? xa : lo, b = hi > xb ? xb : hi;             \
            const T *r = row + y * ow;                                        \
            T *dst = img + (c * ih + h) * iw;                                 \
            for (int64_t x = a; x < b; x++) dst[x * sw - offset] += r[x];     \
          }                                                                   \
        }                                                                     \
  }
COL_KERNELS(f32, float)
COL_KERNELS(f64, double)

static void im2col(const conv_geom *g, const void *img, void *col,
                   int64_t ld, int64_t p0, int64_t p1) {
  if (g->dtype == LG_FLOAT32)
    im2col_f32(g, img, col, ld, p0, p1);
  else
    im2col_f64(g, img, col, ld, p0, p1);
}

static void col2im(const conv_geom *g, const void *col, int64_t ld,
                   int64_t p0, int64_t p1, void *img) {
  if (g->dtype == LG_FLOAT32)
    col2im_f32(g, col, ld, p0, p1, img);
  else
    col2im_f64(g, col, ld, p0, p1, img);
}

/* Whether the image is its own column matrix (1x1 kernel, unit stride, no
 * padding): im2col would only copy it. */
static bool image_is_col(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
         g->pw == 0;
}

/* Whether every gemm dimension fits BLAS's int. */
static bool fits_blas(const conv_geom *g) {
  int64_t k = g->c / g->groups * g->kh * g->kw;
  return k <= INT_MAX && g->oh * g->ow <= INT_MAX && g->o <= INT_MAX &&
         g->h * g->w <= INT_MAX;
}

/* Images per gemm: a block of images shares one gemm (the weight is packed
 * once per block, and the gemm's N or K spans the block), as many as keep
 * the column and response buffers near BLOCK_ELEMS elements each (small
 * enough to stay in a core's L2 cache: larger blocks measured slower). */
#define BLOCK_ELEMS ((int64_t)1 << 16)
static int64_t images_per_block(const conv_geom *g) {
  int64_t og = g->o / g->groups, kg = g->c / g->groups * g->kh * g->kw;
  int64_t per_image = (og > kg ? og : kg) * g->oh * g->ow;
  int64_t nb = per_image > 0 ? BLOCK_ELEMS / per_image : g->n;
  if (nb > g->n) nb = g->n;
  if (nb > INT_MAX / (g->oh * g->ow)) nb = INT_MAX / (g->oh * g->ow);
  return nb < 1 ? 1 : nb;
}

/* A lone image runs in panels of its response positions (flattened over
 * OH*OW): each panel's im2col, gemm and col2im together hold about
 * PANEL_WORK multiply-adds (well under a millisecond on one core) and a
 * column buffer of at most PANEL_COLS elements (a core's L2 cache), and
 * the context's interrupt flag is looked at between panels. The panels
 * split the positions evenly and depend on the shape alone. */
#define PANEL_WORK ((int64_t)1 << 24)
#define PANEL_COLS ((int64_t)1 << 18)
#define PANEL_MIN 128
static int64_t image_panel(const conv_geom *g) {
  int64_t og = g->o / g->groups, kg = g->c / g->groups * g->kh * g->kw;
  int64_t plane = g->oh * g->ow, per = og * kg > 0 ? og * kg : 1;
  int64_t most = PANEL_WORK / per;
  if (kg > 0 && most > PANEL_COLS / kg) most = PANEL_COLS / kg;
  if (most < PANEL_MIN) most = PANEL_MIN;
  if (most >= plane) return plane;
  int64_t panels = ceil_div(plane, most);
  return ceil_div(plane, panels);
}

/* The scratch a block of nb images needs: the columns, (kg, nb*plane), or
 * for a lone image (kg, image_panel) unless it is its own column matrix,
 * and a gathered response (og, nb*plane) when the block has more than one
 * image. In elements. */
static void block_scratch(const conv_geom *g, int64_t nb, int64_t *col_elems,
                          int64_t *rsp_elems) {
  int64_t plane = g->oh * g->ow, kg = g->c / g->groups * g->kh * g->kw;
  if (nb == 1)
    *col_elems = image_is_col(g) ? 0 : kg * image_panel(g);
  else
    *col_elems = kg * nb * plane;
  *rsp_elems = nb == 1 ? 0 : g->o / g->groups * nb * plane;
}

/* Copies the response rows of images [n0, n0+nb) of one group between the
 * tensor (og rows of plane per image, images o*plane apart) and the block
 * buffer blk (og, nb*plane). */
static void move_response(const conv_geom *g, char *rsp, char *blk,
                          int64_t nb, bool to_block) {
  size_t es = lg_dtype_size(g->dtype);
  int64_t og = g->o / g->groups, plane = g->oh * g->ow;
  size_t row = (size_t)plane * es;
  for (int64_t b = 0; b < nb; b++)
    for (int64_t o = 0; o < og; o++) {
      char *t = rsp + (size_t)((b * g->o + o) * plane) * es;
      char *k = blk + (size_t)((o * nb + b) * plane) * es;
      if (to_block) memcpy(k, t, row); else memcpy(t, k, row);
    }
}

/* c = op(a) op(b) + beta c: lg_gemm (tiled, interruptible) when tiled,
 * else plain cblas calls over column panels of about PANEL_WORK
 * multiply-adds, with ctx's interrupt flag looked at (never written)
 * between them (the threads of a batch-split conv must not touch the
 * context): LG_ERR_INTERRUPTED, c partly written, when one is pending. */
static lg_status gemm_on(lg_ctx *ctx, bool tiled, lg_dtype dt, bool ta,
                         bool tb, int64_t m, int64_t n, int64_t k,
                         const void *a, int64_t lda, const void *b,
                         int64_t ldb, double beta, void *c, int64_t ldc) {
  if (tiled) return lg_gemm(ctx, dt, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
  int64_t per_col = m * (k > 0 ? k : 1);
  int64_t cols = per_col > 0 ? PANEL_WORK / per_col : n;
  if (cols < 256) cols = 256;
  size_t es = lg_dtype_size(dt);
  for (int64_t j = 0; j < n; j += cols) {
    if (j > 0 && lg_interrupt_pending(ctx)) return LG_ERR_INTERRUPTED;
    int64_t w = n - j < cols ? n - j : cols;
    const char *bj = (const char *)b + (size_t)(tb ? j * ldb : j) * es;
    lg_gemm_call(dt, ta, tb, m, w, k, a, lda, bj, ldb, beta,
                 (char *)c + (size_t)j * es, ldc);
  }
  return LG_OK;
}

/* Whether an op must stop between two steps: on the calling thread (tiled)
 * the pending interrupt is taken (LG_OK when withdrawn meanwhile); the
 * threads of a batch split only look at it (never write the context). */
static lg_status stop_between(lg_ctx *ctx, bool tiled) {
  if (!lg_interrupt_pending(ctx)) return LG_OK;
  return tiled ? lg_check_interrupt(ctx) : LG_ERR_INTERRUPTED;
}

/* Zeroes n bytes at p in pieces of 1 MiB, stopping between pieces: a
 * large image's first touch of fresh memory can take milliseconds. */
static lg_status zero_between_stops(lg_ctx *ctx, bool tiled, char *p, size_t n) {
  const size_t piece = (size_t)1 << 20;
  for (size_t off = 0; off < n; off += piece) {
    lg_status st = off > 0 ? stop_between(ctx, tiled) : LG_OK;
    if (st) return st;
    memset(p + off, 0, n - off < piece ? n - off : piece);
  }
  return LG_OK;
}

/* One image of one group, in panels of response positions (image_panel):
 * img (cg,H,W), rsp (og, plane), wg (og, kg) as in conv_block; col holds
 * one panel's columns (unused when the image is its own column matrix). */
static lg_status conv_image(lg_ctx *ctx, bool tiled, const conv_geom *g,
                            char *img, char *wg, char *rsp, char *col,
                            double wbeta) {
  size_t es = lg_dtype_size(g->dtype);
  int64_t og = g->o / g->groups, kg = g->c / g->groups * g->kh * g->kw;
  int64_t plane = g->oh * g->ow, panel = image_panel(g);
  bool direct = image_is_col(g);
  if (g->side == SOLVE_IMAGE && !direct) { /* col2im accumulates into it */
    lg_status st = zero_between_stops(ctx, tiled, img,
                                      (size_t)(g->c / g->groups * g->h * g->w) * es);
    if (st) return st;
  }
  for (int64_t p0 = 0; p0 < plane; p0 += panel) {
    lg_status st = p0 > 0 ? stop_between(ctx, tiled) : LG_OK;
    if (st) return st;
    int64_t np = plane - p0 < panel ? plane - p0 : panel;
    char *cols = direct ? img + (size_t)p0 * es : col, *r = rsp + (size_t)p0 * es;
    int64_t ld = direct ? plane : np;
    switch (g->side) {
      case SOLVE_RESPONSE: /* r (og,np) = wg (og,kg) @ cols (kg,np) */
        if (!direct) im2col(g, img, col, np, p0, p0 + np);
        st = gemm_on(ctx, tiled, g->dtype, false, false, og, np, kg, wg, kg,
                     cols, ld, 0, r, plane);
        break;
      case SOLVE_IMAGE: /* cols (kg,np) = wg^T (kg,og) @ r (og,np) */
        st = gemm_on(ctx, tiled, g->dtype, true, false, kg, np, og, wg, kg, r,
                     plane, 0, cols, ld);
        if (!direct && !st) col2im(g, col, np, p0, p0 + np, img);
        break;
      case SOLVE_WEIGHT: /* wg (og,kg) (+)= r (og,np) @ cols^T (np,kg) */
        if (!direct) im2col(g, img, col, np, p0, p0 + np);
        st = gemm_on(ctx, tiled, g->dtype, false, true, og, kg, np, r, plane,
                     cols, ld, p0 == 0 ? wbeta : 1, wg, kg);
        break;
    }
    if (st) return st;
  }
  return LG_OK;
}

/* The solved side's part for count images from n0, every group (see
 * block_scratch for col and rbuf). The image side is zeroed image by image
 * just before col2im accumulates into it (in the thread that fills it,
 * while it is in cache), the response side is overwritten, and the weight
 * side writes weight (the whole weight's layout) with beta wbeta. tiled: see
 * gemm_on. A lone image goes by conv_image's panels; a block of several
 * is small (BLOCK_ELEMS) and runs as one gemm per group. */
static lg_status conv_block(lg_ctx *ctx, bool tiled, const conv_geom *g, char *image,
                            char *weight, char *response, char *col,
                            char *rbuf, int64_t n0, int64_t count,
                            double wbeta) {
  lg_status st = LG_OK;
  size_t es = lg_dtype_size(g->dtype);
  int64_t og = g->o / g->groups, cg = g->c / g->groups;
  int64_t kg = cg * g->kh * g->kw, plane = g->oh * g->ow, hw = g->h * g->w;
  int64_t width = count * plane;
  for (int64_t grp = 0; grp < g->groups; grp++) {
    char *img = image + (size_t)((n0 * g->c + grp * cg) * hw) * es;
    char *rsp = response + (size_t)((n0 * g->o + grp * og) * plane) * es;
    char *wg = weight + (size_t)(grp * og * kg) * es;
    if (grp > 0 && (st = stop_between(ctx, tiled))) return st;
    if (count == 1) {
      st = conv_image(ctx, tiled, g, img, wg, rsp, col, wbeta);
      if (st) return st;
      continue;
    }
    switch (g->side) {
      case SOLVE_RESPONSE: /* rbuf (og,width) = wg (og,kg) @ col (kg,width) */
        for (int64_t b = 0; b < count; b++)
          im2col(g, img + (size_t)(b * g->c * hw) * es,
                 col + (size_t)(b * plane) * es, width, 0, plane);
        st = gemm_on(ctx, tiled, g->dtype, false, false, og, width, kg, wg, kg, col,
                     width, 0, rbuf, width);
        if (!st) move_response(g, rsp, rbuf, count, false);
        break;
      case SOLVE_IMAGE: /* col (kg,width) = wg^T (kg,og) @ rbuf (og,width) */
        move_response(g, rsp, rbuf, count, true);
        st = gemm_on(ctx, tiled, g->dtype, true, false, kg, width, og, wg, kg, rbuf,
                     width, 0, col, width);
        for (int64_t b = 0; b < count && !st; b++) {
          char *ib = img + (size_t)(b * g->c * hw) * es;
          memset(ib, 0, (size_t)(cg * hw) * es); /* col2im accumulates */
          col2im(g, col + (size_t)(b * plane) * es, width, 0, plane, ib);
        }
        break;
      case SOLVE_WEIGHT: /* wg (og,kg) (+)= rbuf (og,width) @ col^T */
        move_response(g, rsp, rbuf, count, true);
        for (int64_t b = 0; b < count; b++)
          im2col(g, img + (size_t)(b * g->c * hw) * es,
                 col + (size_t)(b * plane) * es, width, 0, plane);
        st = gemm_on(ctx, tiled, g->dtype, false, true, og, kg, width, rbuf, width,
                     col, width, wbeta, wg, kg);
        break;
    }
    if (st) return st;
  }
  return LG_OK;
}

/* The solved tensor from the two others, one block of nb images at a time
 * on the calling thread, OpenBLAS running with the context's thread count
 * (the weight side accumulates over blocks). An interrupt stops it between
 * blocks and gemm tiles (lg_gemm). */
static lg_status fast_conv(lg_ctx *ctx, const conv_geom *g, char *image,
                           char *weight, char *response, char *col,
                           char *rbuf, int64_t nb) {
  for (int64_t n0 = 0; n0 < g->n; n0 += nb) {
    int64_t count = g->n - n0 < nb ? g->n - n0 : nb;
    lg_status st = conv_block(ctx, true, g, image, weight, response, col,
                              rbuf, n0, count, n0 == 0 ? 0 : 1);
    if (st) return st;
  }
  return LG_OK;
}

/* ---- the batch split across threads -------------------------------------
 * With two blocks of images or more, the blocks are grouped into at most
 * SUPER_BLOCKS runs ("super-blocks", fixed by the shape alone) that the
 * context's threads share out, each thread with its own column buffers and
 * every gemm on one BLAS thread. The weight side accumulates each
 * super-block into its own weight-sized partial (the first into the weight
 * itself) and the partials are added in order at the end, so the result is
 * the same bits for every thread count. */
#define SUPER_BLOCKS 16
#define MAX_SLOTS 64

typedef struct conv_job {
  const conv_geom *g;
  char *image, *weight, *response;
  char *slots;          /* per running piece: col then rbuf */
  size_t slot_bytes, col_bytes;
  char *partials;       /* the weight side: super-block s > 0 at s - 1 */
  size_t weight_bytes;
  int64_t nb, n_blocks, n_super;
  lg_ctx *ctx;          /* read only for its interrupt flag */
  atomic_bool stopped;  /* a piece left blocks undone for an interrupt */
  atomic_flag busy[MAX_SLOTS];
} conv_job;

static void run_super_blocks(void *arg, int64_t begin, int64_t end) {
  conv_job *j = arg;
  int slot = 0; /* a free buffer: at most MAX_SLOTS pieces run at once */
  while (atomic_flag_test_and_set(&j->busy[slot])) slot = (slot + 1) % MAX_SLOTS;
  char *col = j->slots + (size_t)slot * j->slot_bytes;
  for (int64_t s = begin; s < end; s++) {
    int64_t b0 = s * j->n_blocks / j->n_super;
    int64_t b1 = (s + 1) * j->n_blocks / j->n_super;
    char *w = j->weight;
    if (j->g->side == SOLVE_WEIGHT && s > 0)
      w = j->partials + (size_t)(s - 1) * j->weight_bytes;
    for (int64_t b = b0; b < b1; b++) {
      if (lg_interrupt_pending(j->ctx)) { /* between blocks: one load */
        atomic_store(&j->stopped, true);
        break;
      }
      int64_t n0 = b * j->nb, count = j->g->n - n0 < j->nb ? j->g->n - n0 : j->nb;
      if (conv_block(j->ctx, false, j->g, j->image, w, j->response, col,
                     col + j->col_bytes, n0, count, b == b0 ? 0 : 1)) {
        atomic_store(&j->stopped, true); /* interrupted inside the block */
        break;
      }
    }
  }
  atomic_flag_clear(&j->busy[slot]);
}

#define ADD_PARTIALS(SUFFIX, T)                                                 static void add_partials_##SUFFIX(T *w, const T *p, int64_t n,                                                 int64_t count) {                              for (int64_t s = 0; s < count; s++)                                             for (int64_t i = 0; i < n; i++) w[i] += p[s * n + i];                     }
ADD_PARTIALS(f32, float)
ADD_PARTIALS(f64, double)

/* fast_conv's result by the batch split; its scratch comes from the
 * context's cache. */
static lg_status split_conv(lg_ctx *ctx, const conv_geom *g, char *image,
                            char *weight, char *response, int64_t nb,
                            int64_t col_elems, int64_t rsp_elems) {
  size_t es = lg_dtype_size(g->dtype);
  conv_job *j = lg_cache_alloc(ctx, sizeof *j);
  if (!j) return lg_fail(ctx, LG_ERR_MEMORY, "conv2d: out of memory");
  memset(j, 0, sizeof *j);
  for (int k = 0; k < MAX_SLOTS; k++) atomic_flag_clear(&j->busy[k]);
  j->g = g;
  j->ctx = ctx;
  atomic_store(&j->stopped, false);
  j->image = image;
  j->weight = weight;
  j->response = response;
  j->nb = nb;
  j->n_blocks = (g->n + nb - 1) / nb;
  j->n_super = j->n_blocks < SUPER_BLOCKS ? j->n_blocks : SUPER_BLOCKS;
  j->col_bytes = (size_t)col_elems * es;
  j->slot_bytes = j->col_bytes + (size_t)rsp_elems * es;
  j->weight_bytes = (size_t)(g->o * (g->c / g->groups) * g->kh * g->kw) * es;
  int64_t pieces = lg_ctx_num_threads(ctx);
  if (pieces > j->n_super) pieces = j->n_super;
  if (pieces > MAX_SLOTS) pieces = MAX_SLOTS;
  size_t partial_bytes =
      g->side == SOLVE_WEIGHT ? (size_t)(j->n_super - 1) * j->weight_bytes : 0;
  size_t bytes = (size_t)pieces * j->slot_bytes + partial_bytes;
  char *scratch = bytes ? lg_cache_alloc(ctx, bytes) : NULL;
  if (bytes && !scratch) {
    lg_cache_free(ctx, j, sizeof *j);
    return lg_fail(ctx, LG_ERR_MEMORY, "conv2d: out of memory for a %zu-byte "
                   "column buffer", bytes);
  }
  j->slots = scratch;
  j->partials = scratch + (size_t)pieces * j->slot_bytes;
  lg_blas_enter_count(1); /* each piece is one thread's gemm */
  lg_status st = lg_parallel_for(ctx, j->n_super, 1, run_super_blocks, j);
  lg_blas_leave();
  if (!st && atomic_load(&j->stopped)) { /* even if withdrawn meanwhile */
    st = lg_check_interrupt(ctx);
    if (!st) st = lg_fail(ctx, LG_ERR_INTERRUPTED, "interrupted");
  }
  if (!st && partial_bytes) {
    int64_t n = (int64_t)(j->weight_bytes / es);
    if (g->dtype == LG_FLOAT32)
      add_partials_f32((float *)(void *)weight,
                       (const float *)(void *)j->partials, n, j->n_super - 1);
    else
      add_partials_f64((double *)(void *)weight,
                       (const double *)(void *)j->partials, n, j->n_super - 1);
  }
  if (scratch) lg_cache_free(ctx, scratch, bytes);
  lg_cache_free(ctx, j, sizeof *j);
  return st;
}

/* out (N,B,...) += b (B) broadcast over each plane of size plane: planes
 * [i0, i1) of the n * count, split across the context's threads (a pass
 * over the whole response, 26 MB for the demo CNN's second layer, that
 * ran on one thread) */
#define BIAS_KERNEL(SUFFIX, T)                                                \
  static void add_bias_##SUFFIX(T *out, const T *b, int64_t count,            \
                                int64_t plane, int64_t i0, int64_t i1) {      \
    for (int64_t i = i0; i < i1; i++) {                                       \
      T v = b[i % count], *o = out + i * plane;                               \
      for (int64_t k = 0; k < plane; k++) o[k] += v;                          \
    }                                                                         \
  }
BIAS_KERNEL(f32, float)
BIAS_KERNEL(f64, double)

typedef struct bias_job {
  void *out;
  const void *b;
  int64_t count, plane;
  bool f32;
} bias_job;

static void run_bias(void *arg, int64_t i0, int64_t i1) {
  const bias_job *j = arg;
  if (j->f32) add_bias_f32(j->out, j->b, j->count, j->plane, i0, i1);
  else add_bias_f64(j->out, j->b, j->count, j->plane, i0, i1);
}

/* ---- driver ------------------------------------------------------------- */

/* Runs the planned problem on contiguous operands of the compute dtype. */
static lg_status run_planned(lg_ctx *ctx, const conv_plan *pl, bool fast,
                             lg_tensor **result) {
  const conv_geom *g = &pl->g;
  lg_dtype dt = fast ? g->dtype : LG_FLOAT64;
  lg_tensor *ops[4] = {NULL, NULL, NULL, NULL}; /* image weight response bias */
  lg_tensor *src[4] = {pl->image, pl->weight, pl->response, pl->bias};
  lg_tensor *out = NULL;
  char *scratch = NULL; /* the column buffer, then the response block */
  size_t scratch_bytes = 0;
  lg_status st = LG_OK;
  for (int k = 0; k < 4 && !st; k++)
    if (src[k]) st = lg_contiguous_as(ctx, src[k], dt, &ops[k]);
  bool empty = lg_shape_numel(4, pl->out_sizes) == 0 || g->n == 0 ||
               g->c == 0 || g->o == 0 || g->oh == 0 || g->ow == 0;
  /* the fast kernels write every element (gemm with beta = 0, or the
   * image side zeroing each image before col2im); the naive one
   * accumulates */
  bool overwrites = fast && !empty;
  if (!st)
    st = overwrites ? lg_empty(ctx, dt, 4, pl->out_sizes, &out)
                    : lg_full(ctx, dt, 4, pl->out_sizes, 0, &out);
  if (st) goto done;
  int solved = g->side == SOLVE_IMAGE ? 0 : g->side == SOLVE_WEIGHT ? 1 : 2;
  ops[solved] = lg_tensor_retain(out);
  char *data[3];
  for (int k = 0; k < 3; k++) data[k] = lg_data_ptr(ops[k]);
  bool bias_added = false;
  if (!empty && fast && lg_conv_winograd_fits(g)) { /* 3x3, stride 1 */
    st = lg_conv_winograd(ctx, g, (float *)(void *)data[0],
                          (const float *)(void *)data[1],
                          ops[3] ? lg_tensor_data(ops[3]) : NULL,
                          (float *)(void *)data[2]);
    if (st) goto done;
    bias_added = true;
  } else if (!empty && fast) {
    int64_t nb = images_per_block(g), col_elems, rsp_elems;
    block_scratch(g, nb, &col_elems, &rsp_elems);
    if (g->n > nb) { /* two blocks or more: split the batch across threads */
      st = split_conv(ctx, g, data[0], data[1], data[2], nb, col_elems,
                      rsp_elems);
      if (st) goto done;
    } else {
      size_t es = lg_dtype_size(dt);
      scratch_bytes = (size_t)(col_elems + rsp_elems) * es;
      if (scratch_bytes) {
        scratch = lg_mem_alloc(ctx, scratch_bytes);
        if (!scratch) {
          st = lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory for a %zu-byte "
                       "column buffer", g->side == SOLVE_IMAGE ?
                       "conv_transpose2d" : "conv2d", scratch_bytes);
          goto done;
        }
      }
      lg_blas_enter_count(1); /* lg_gemm splits across the pool */
      st = fast_conv(ctx, g, data[0], data[1], data[2], scratch,
                     rsp_elems ? scratch + (size_t)col_elems * es : NULL, nb);
      lg_blas_leave();
      if (st) goto done;
    }
  } else if (!empty) {
    naive_conv(g, (double *)(void *)data[0], (double *)(void *)data[1],
               (double *)(void *)data[2]);
  }
  if (ops[3] && !bias_added) {
    int64_t plane = pl->out_sizes[2] * pl->out_sizes[3];
    bias_job job = {lg_tensor_data(out), lg_tensor_data(ops[3]), g->bias_size,
                    plane, dt == LG_FLOAT32};
    int64_t grain = plane ? LG_GRAIN_CHEAP / plane + 1 : 1;
    st = lg_parallel_for(ctx, g->n * g->bias_size, grain, run_bias, &job);
    if (st) goto done;
  }
  if (dt != g->dtype) { /* the naive kernel's float64 result */
    lg_tensor *cast = NULL;
    st = lg_contiguous_as(ctx, out, g->dtype, &cast);
    lg_tensor_release(out);
    out = cast;
  }
done:
  if (scratch) lg_mem_free(ctx, scratch, scratch_bytes);
  for (int k = 0; k < 4; k++) lg_tensor_release(ops[k]);
  if (st) {
    lg_tensor_release(out);
    return st;
  }
  *result = out;
  return LG_OK;
}

static lg_status conv_compute(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                              int n_in, const lg_params *p, bool fast,
                              lg_tensor **out) {
  conv_plan pl;
  lg_status st = plan(ctx, op, in, n_in, p, &pl);
  if (st) return st;
  return run_planned(ctx, &pl, fast && fits_blas(&pl.g), out);
}

/* The naive direct convolution in float64: the oracle for the tests. */
lg_status lg_conv_reference(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, const lg_params *p, lg_tensor **out) {
  out[0] = NULL;
  return conv_compute(ctx, op, in, n_in, p, false, out);
}

/* CONV2D, CONV_TRANSPOSE2D, CONV2D_WEIGHT_GRAD: see the header comment for
 * the shapes and the params layout. */
lg_status lg_kernel_conv2d(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  return conv_compute(ctx, op, in, n_in, p, true, out);
}
