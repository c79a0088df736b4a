/* pool.c: 2-D pooling kernels: max_pool2d (values and indices), avg_pool2d
 * and adaptive_avg_pool2d, with PyTorch's window and output-size rules.
 *
 * Input x (N,C,H,W) or (C,H,W), float32 or float64; every leading dim is a
 * batch of independent H x W planes, and the output keeps them.
 * Params (lg_params):
 *   MAX_POOL2D    ints[0..1] kernel (kh, kw), ints[2..3] stride (0: the
 *                 kernel), ints[4..5] padding, ints[6..7] dilation (0: 1);
 *                 scalar_int LG_POOL_CEIL_MODE
 *                 -> values (...,OH,OW) and int64 indices (...,OH,OW)
 *   AVG_POOL2D    ints[0..5] kernel, stride, padding as above; scalar_int
 *                 LG_POOL_CEIL_MODE | LG_POOL_COUNT_INCLUDE_PAD; scalar[0]
 *                 divisor_override (0: none) -> (...,OH,OW)
 *   ADAPTIVE_AVG_POOL2D  ints[0..1] output size (OH, OW) -> (...,OH,OW)
 * OH = (H + 2 ph - dh (kh - 1) - 1 [+ sh - 1 with ceil_mode]) / sh + 1, and
 * with ceil_mode a last window starting in the right padding is dropped.
 *
 * The indices of max_pool2d are 1-based flat positions within each H x W
 * plane (h W + w + 1 for 0-based h, w): PyTorch's return_indices shifted
 * by one, so they feed scatter/gather on the flattened planes directly. Ties
 * keep the first position; a NaN wins over any number (as PyTorch).
 * Adaptive windows are [floor(o H / OH), ceil((o + 1) H / OH)).
 *
 * The planes are split across the context's threads (each plane's result
 * depends on that plane only, so results never depend on the thread
 * count). The common 2x2 stride-2 max window, wholly inside the plane, has
 * its own kernel that picks by bit-mask selects instead of branches (which
 * mispredict on random data), with the same scan order and tie rule; for
 * float32 on AVX-512 CPUs it runs 16 windows at a time (the same bits).
 */
#include <math.h>
#include <string.h>

#include "core.h"
#include "dtype.h"
#include "ops.h"
#include "parallel.h"
#include "vmath.h" /* LG_VECTOR_CLONES, lg_vm_select */


/* The windows of one pooling problem. */
typedef struct pool_geom {
  int64_t planes, h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil_mode, count_include_pad;
  double divisor_override;
} pool_geom;

/* a / b rounded down, for b > 0. */
static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && a < 0);
}

/* x + y and x * y for x, y >= 0, saturating at INT64_MAX: absurd window
 * params then give an output too small instead of overflowing. */
static int64_t sat_add(int64_t x, int64_t y) {
  return x > INT64_MAX - y ? INT64_MAX : x + y;
}
static int64_t sat_mul(int64_t x, int64_t y) {
  return y != 0 && x > INT64_MAX / y ? INT64_MAX : x * y;
}

/* PyTorch's pooling_output_shape along one dim:
 * (len + 2 pad - dil (k - 1) - 1 [+ s - 1]) / s + 1, rounded down, and
 * with ceil_mode one less when the last window starts past len + pad. */
static int64_t pool_len(int64_t len, int64_t k, int64_t s, int64_t pad,
                        int64_t dil, bool ceil_mode) {
  int64_t span = sat_add(len, sat_mul(2, pad)) -
                 sat_add(sat_mul(dil, k - 1), 1); /* both >= 0 */
  if (ceil_mode) span = span >= 0 ? sat_add(span, s - 1) : span + (s - 1);
  int64_t out = floor_div(span, s);
  if (out < INT64_MAX) out++;
  int64_t last_start_limit = sat_add(len, pad); /* (out - 1) s >= it: drop */
  if (ceil_mode && out > 0 &&
      (last_start_limit == 0 || out - 1 > (last_start_limit - 1) / s))
    out--;
  return out;
}

/* Reads the window params of MAX_POOL2D / AVG_POOL2D for an h x w plane. */
static lg_status window_geom(lg_ctx *ctx, const char *name, const lg_params *p,
                             bool dilated, int64_t h, int64_t w,
                             pool_geom *g) {
  g->h = h;
  g->w = w;
  g->kh = p->ints[0]; g->kw = p->ints[1];
  g->sh = p->ints[2] ? p->ints[2] : g->kh;
  g->sw = p->ints[3] ? p->ints[3] : g->kw;
  g->ph = p->ints[4]; g->pw = p->ints[5];
  g->dh = dilated && p->ints[6] ? p->ints[6] : 1;
  g->dw = dilated && p->ints[7] ? p->ints[7] : 1;
  g->ceil_mode = (p->scalar_int & LG_POOL_CEIL_MODE) != 0;
  g->count_include_pad = (p->scalar_int & LG_POOL_COUNT_INCLUDE_PAD) != 0;
  g->divisor_override = p->scalar[0];
  if (g->kh < 1 || g->kw < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a kernel size >= 1, got "
                   "(%lld, %lld)", name, (long long)g->kh, (long long)g->kw);
  if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a stride and a dilation >= "
                   "1, got stride (%lld, %lld) and dilation (%lld, %lld)", name,
                   (long long)g->sh, (long long)g->sw, (long long)g->dh,
                   (long long)g->dw);
  if (g->ph < 0 || g->pw < 0 || g->ph > g->kh / 2 || g->pw > g->kw / 2)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a padding >= 0 and at most "
                   "half the kernel size (%lld, %lld), got (%lld, %lld)", name,
                   (long long)g->kh, (long long)g->kw, (long long)g->ph,
                   (long long)g->pw);
  if (g->divisor_override < 0 || g->divisor_override != floor(g->divisor_override))
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a positive integer "
                   "divisor_override, got %g", name, g->divisor_override);
  g->oh = pool_len(h, g->kh, g->sh, g->ph, g->dh, g->ceil_mode);
  g->ow = pool_len(w, g->kw, g->sw, g->pw, g->dw, g->ceil_mode);
  if (g->oh < 1 || g->ow < 1)
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: an input plane of size (%lld, %lld) "
                   "gives an output of size (%lld, %lld), which is too small",
                   name, (long long)h, (long long)w, (long long)g->oh,
                   (long long)g->ow);
  return LG_OK;
}

/* The divisor of average window (y, x), PyTorch's rule. */
static double avg_divisor(const pool_geom *g, int64_t y, int64_t x) {
  if (g->divisor_override > 0) return g->divisor_override;
  int64_t h0 = y * g->sh - g->ph, w0 = x * g->sw - g->pw;
  int64_t h1 = h0 + g->kh, w1 = w0 + g->kw;
  if (h1 > g->h + g->ph) h1 = g->h + g->ph;
  if (w1 > g->w + g->pw) w1 = g->w + g->pw;
  if (g->count_include_pad) return (double)((h1 - h0) * (w1 - w0));
  if (h0 < 0) h0 = 0;
  if (w0 < 0) w0 = 0;
  if (h1 > g->h) h1 = g->h;
  if (w1 > g->w) w1 = g->w;
  return (double)((h1 - h0) * (w1 - w0));
}

/* Adaptive window [start, end) of output o of out_len over in_len. */
static void adaptive_window(int64_t o, int64_t in_len, int64_t out_len,
                            int64_t *start, int64_t *end) {
  *start = (o * in_len) / out_len;
  *end = ((o + 1) * in_len + out_len - 1) / out_len;
}


/* The common 2x2 window at stride 2 with every window inside the plane. */
static bool is_two_by_two(const pool_geom *g) {
  return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 &&
         g->pw == 0 && g->dh == 1 && g->dw == 1 && 2 * g->oh <= g->h &&
         2 * g->ow <= g->w;
}

/* ---- kernels, one plane at a time ----------------------------------------- */

#define POOL_KERNELS(SUFFIX, T, SELECT)                                          \
  static void max_plane_##SUFFIX(const pool_geom *g, const T *x, T *out,      \
                                 int64_t *index) {                            \
    for (int64_t y = 0; y < g->oh; y++)                                       \
      for (int64_t xo = 0; xo < g->ow; xo++) {                                \
        T best = (T)-INFINITY;                                                \
        int64_t at = -1;                                                      \
        for (int64_t i = 0; i < g->kh; i++) {                                 \
          int64_t h = y * g->sh - g->ph + i * g->dh;                          \
          if (h < 0 || h >= g->h) continue;                                   \
          for (int64_t j = 0; j < g->kw; j++) {                               \
            int64_t w = xo * g->sw - g->pw + j * g->dw;                       \
            if (w < 0 || w >= g->w) continue;                                 \
            T v = x[h * g->w + w];                                            \
            if (at < 0 || v > best || isnan(v)) {                             \
              best = v;                                                       \
              at = h * g->w + w;                                              \
            }                                                                 \
          }                                                                   \
        }                                                                     \
        out[y * g->ow + xo] = best;                                           \
        index[y * g->ow + xo] = at + 1;                                       \
      }                                                                       \
  }                                                                           \
  static void avg_plane_##SUFFIX(const pool_geom *g, const T *x, T *out) {    \
    for (int64_t y = 0; y < g->oh; y++)                                       \
      for (int64_t xo = 0; xo < g->ow; xo++) {                                \
        int64_t h0 = y * g->sh - g->ph, w0 = xo * g->sw - g->pw;              \
        int64_t h1 = h0 + g->kh, w1 = w0 + g->kw;                             \
        if (h0 < 0) h0 = 0;                                                   \
        if (w0 < 0) w0 = 0;                                                   \
        if (h1 > g->h) h1 = g->h;                                             \
        if (w1 > g->w) w1 = g->w;                                             \
        double sum = 0;                                                       \
        for (int64_t h = h0; h < h1; h++)                                     \
          for (int64_t w = w0; w < w1; w++) sum += x[h * g->w + w];           \
        out[y * g->ow + xo] = (T)(sum / avg_divisor(g, y, xo));               \
      }                                                                       \
  }                                                                           \
  static void adaptive_plane_##SUFFIX(const pool_geom *g, const T *x,         \
                                      T *out) {                               \
    for (int64_t y = 0; y < g->oh; y++) {                                     \
      int64_t h0, h1;                                                         \
      adaptive_window(y, g->h, g->oh, &h0, &h1);                              \
      for (int64_t xo = 0; xo < g->ow; xo++) {                                \
        int64_t w0, w1;                                                       \
        adaptive_window(xo, g->w, g->ow, &w0, &w1);                           \
        double sum = 0;                                                       \
        for (int64_t h = h0; h < h1; h++)                                     \
          for (int64_t w = w0; w < w1; w++) sum += x[h * g->w + w];           \
        out[y * g->ow + xo] = (T)(sum / (double)((h1 - h0) * (w1 - w0)));     \
      }                                                                       \
    }                                                                         \
  }                                                                           \
  /* The common 2x2 window, stride 2, every window inside the plane: the   \
   * same scan order and rule as max_plane (first of ties, a NaN taken) by  \
   * selects instead of branches, which mispredict on random data. */       \
  LG_VECTOR_CLONES static void max_2x2_plane_##SUFFIX(                        \
      const pool_geom *g, const T *x, T *out, int64_t *index) {               \
    const int64_t w = g->w, oh = g->oh, ow = g->ow;                           \
    for (int64_t y = 0; y < oh; y++) {                                        \
      const T *r0 = x + 2 * y * w, *r1 = r0 + w;                              \
      T *o = out + y * ow;                                                    \
      int64_t *ix = index + y * ow;                                           \
      const int64_t base = 2 * y * w + 1; /* 1-based */                       \
      for (int64_t xo = 0; xo < ow; xo++) {                                   \
        T a = r0[2 * xo], b = r0[2 * xo + 1];                                 \
        T c = r1[2 * xo], d = r1[2 * xo + 1];                                 \
        int tb = (b > a) | (b != b);                                          \
        T best = SELECT(tb, b, a);                                            \
        int tc = (c > best) | (c != c);                                       \
        best = SELECT(tc, c, best);                                           \
        int td = (d > best) | (d != d);                                       \
        o[xo] = SELECT(td, d, best);                                          \
        /* offset in the window: 0, 1, w or w + 1 */                          \
        int64_t off = (int64_t)tb;                                            \
        off = tc ? w : off;                                                   \
        off = td ? w + 1 : off;                                               \
        ix[xo] = base + 2 * xo + off;                                         \
      }                                                                       \
    }                                                                         \
  }                                                                           \
  static void pool_planes_##SUFFIX(lg_op op, const pool_geom *g, const T *x,  \
                                   T *out, int64_t *index, int64_t begin,     \
                                   int64_t end) {                             \
    int64_t in_plane = g->h * g->w, out_plane = g->oh * g->ow;                \
    bool two_by_two = is_two_by_two(g);                                       \
    for (int64_t k = begin; k < end; k++) {                                   \
      const T *xp = x + k * in_plane;                                         \
      T *op_ = out + k * out_plane;                                           \
      if (op == LG_OP_MAX_POOL2D && two_by_two)                               \
        max_2x2_plane_##SUFFIX(g, xp, op_, index + k * out_plane);            \
      else if (op == LG_OP_MAX_POOL2D)                                        \
        max_plane_##SUFFIX(g, xp, op_, index + k * out_plane);                \
      else if (op == LG_OP_AVG_POOL2D)                                        \
        avg_plane_##SUFFIX(g, xp, op_);                                       \
      else                                                                    \
        adaptive_plane_##SUFFIX(g, xp, op_);                                  \
    }                                                                         \
  }
POOL_KERNELS(f32, float, lg_vm_select)
POOL_KERNELS(f64, double, lg_vm_select_d)

/* One pooling call split over its planes (each plane's result depends
 * only on that plane, so the split never changes a bit). */
typedef struct pool_job {
  lg_op op;
  const pool_geom *g;
  lg_dtype dtype;
  const void *x;
  void *out;
  int64_t *index;
} pool_job;

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) &&         \
    !defined(LG_NO_TARGET_CLONES)
#include <immintrin.h>
#define HAVE_MAX_2X2_AVX512 1

/* max_2x2_plane_f32 for 16 windows at a time with AVX-512: a window's two
 * columns are the even and odd lanes of two masked loads per row, then the
 * same three selects (first of ties, a NaN taken) and the same indices, so
 * the same bits. The scalar loop took 4.1 ms on a CNN's 64x64x28x28
 * (about 18 cycles a window). */
__attribute__((target("avx512f"))) static void max_2x2_planes_avx512(
    const pool_geom *g, const float *x, float *out, int64_t *index,
    int64_t begin, int64_t end) {
  const int64_t w = g->w, oh = g->oh, ow = g->ow;
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                          20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32((int)w),
                down_one = _mm512_set1_epi32((int)w + 1);
  for (int64_t k = begin; k < end; k++) {
    const float *xp = x + k * g->h * w;
    for (int64_t y = 0; y < oh; y++) {
      const float *r0 = xp + 2 * y * w, *r1 = r0 + w;
      float *o = out + (k * oh + y) * ow;
      int64_t *ix = index + (k * oh + y) * ow;
      const __m512i base = _mm512_set1_epi64(2 * y * w + 1); /* 1-based */
      for (int64_t x0 = 0; x0 < ow; x0 += 16) {
        int64_t lanes = ow - x0 < 16 ? ow - x0 : 16, n = 2 * lanes;
        __mmask16 lo = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
        __mmask16 hi = n >= 32 ? 0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
        __mmask16 keep = (__mmask16)((1u << lanes) - 1);
        const float *p0 = r0 + 2 * x0, *p1 = r1 + 2 * x0;
        __m512 l0 = _mm512_maskz_loadu_ps(lo, p0), h0 = _mm512_maskz_loadu_ps(hi, p0 + 16);
        __m512 l1 = _mm512_maskz_loadu_ps(lo, p1), h1 = _mm512_maskz_loadu_ps(hi, p1 + 16);
        __m512 a = _mm512_permutex2var_ps(l0, evens, h0);
        __m512 b = _mm512_permutex2var_ps(l0, odds, h0);
        __m512 c = _mm512_permutex2var_ps(l1, evens, h1);
        __m512 d = _mm512_permutex2var_ps(l1, odds, h1);
        __mmask16 tb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
        __m512 best = _mm512_mask_blend_ps(tb, a, b);
        __mmask16 tc = _mm512_cmp_ps_mask(c, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
        best = _mm512_mask_blend_ps(tc, best, c);
        __mmask16 td = _mm512_cmp_ps_mask(d, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
        best = _mm512_mask_blend_ps(td, best, d);
        _mm512_mask_storeu_ps(o + x0, keep, best);
        /* offset in the window: 0, 1, w or w + 1; plus 2 xo */
        __m512i off = _mm512_maskz_mov_epi32(tb, one);
        off = _mm512_mask_mov_epi32(off, tc, down);
        off = _mm512_mask_mov_epi32(off, td, down_one);
        off = _mm512_add_epi32(off, _mm512_add_epi32(
                  evens,
                  _mm512_set1_epi32((int)(2 * x0))));
        __m512i i0 = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(off)), base);
        __m512i i1 = _mm512_add_epi64(
            _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(off, 1)), base);
        _mm512_mask_storeu_epi64(ix + x0, (__mmask8)keep, i0);
        _mm512_mask_storeu_epi64(ix + x0 + 8, (__mmask8)(keep >> 8), i1);
      }
    }
  }
}
#endif

static void pool_range(void *arg, int64_t begin, int64_t end) {
  const pool_job *j = arg;
#ifdef HAVE_MAX_2X2_AVX512
  if (j->dtype == LG_FLOAT32 && j->op == LG_OP_MAX_POOL2D &&
      is_two_by_two(j->g) && j->g->w < ((int64_t)1 << 28) &&
      __builtin_cpu_supports("avx512f")) {
    max_2x2_planes_avx512(j->g, j->x, j->out, j->index, begin, end);
    return;
  }
#endif
  if (j->dtype == LG_FLOAT32)
    pool_planes_f32(j->op, j->g, j->x, j->out, j->index, begin, end);
  else
    pool_planes_f64(j->op, j->g, j->x, j->out, j->index, begin, end);
}

/* MAX_POOL2D, AVG_POOL2D, ADAPTIVE_AVG_POOL2D: x (...,H,W) ->
 * out (...,OH,OW) [, indices (...,OH,OW) int64]; see the header comment. */
lg_status lg_kernel_pool2d(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  const char *name = lg_op_name(op);
  lg_tensor *x = in[0];
  char sx[160];
  if (op != LG_OP_MAX_POOL2D && op != LG_OP_AVG_POOL2D &&
      op != LG_OP_ADAPTIVE_AVG_POOL2D)
    return lg_fail(ctx, LG_ERR_ARG, "pool2d: %s is not a pooling op", name);
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", name);
  if (x->ndim != 3 && x->ndim != 4)
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected a 3-D (C,H,W) or 4-D "
                   "(N,C,H,W) input, got shape %s", name,
                   lg_shape_str(sx, sizeof sx, x->ndim, x->sizes));
  if (x->dtype != LG_FLOAT32 && x->dtype != LG_FLOAT64)
    return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected a float32 or float64 "
                   "input, got %s", name, lg_dtype_name(x->dtype));
  pool_geom g;
  memset(&g, 0, sizeof g);
  int nd = x->ndim;
  int64_t h = x->sizes[nd - 2], w = x->sizes[nd - 1];
  lg_status st;
  if (op == LG_OP_ADAPTIVE_AVG_POOL2D) {
    g.h = h;
    g.w = w;
    g.oh = p->ints[0];
    g.ow = p->ints[1];
    if (g.oh < 1 || g.ow < 1)
      return lg_fail(ctx, LG_ERR_ARG, "%s: expected an output size >= 1, got "
                     "(%lld, %lld)", name, (long long)g.oh, (long long)g.ow);
    if (h < 1 || w < 1)
      return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected a non-empty input "
                     "plane, got shape %s", name,
                     lg_shape_str(sx, sizeof sx, x->ndim, x->sizes));
  } else if ((st = window_geom(ctx, name, p, op == LG_OP_MAX_POOL2D, h, w, &g))) {
    return st;
  }
  g.planes = 1;
  for (int d = 0; d < nd - 2; d++) g.planes *= x->sizes[d];
  int64_t sizes[4];
  memcpy(sizes, x->sizes, sizeof sizes);
  sizes[nd - 2] = g.oh;
  sizes[nd - 1] = g.ow;
  lg_tensor *xc = NULL;
  if ((st = lg_contiguous_as(ctx, x, x->dtype, &xc))) return st;
  st = lg_empty(ctx, x->dtype, nd, sizes, &out[0]);
  if (!st && op == LG_OP_MAX_POOL2D)
    st = lg_empty(ctx, LG_INT64, nd, sizes, &out[1]);
  if (!st) {
    pool_job job = {op, &g, x->dtype, lg_tensor_data(xc),
                    lg_tensor_data(out[0]),
                    op == LG_OP_MAX_POOL2D ? lg_tensor_data(out[1]) : NULL};
    /* planes of at least a grain's elements (h, w >= 1 here) */
    st = lg_parallel_for(ctx, g.planes, LG_GRAIN_CHEAP / (g.h * g.w),
                         pool_range, &job);
  }
  lg_tensor_release(xc);
  if (st) {
    lg_tensor_release(out[0]);
    out[0] = NULL;
    if (op == LG_OP_MAX_POOL2D) {
      lg_tensor_release(out[1]);
      out[1] = NULL;
    }
  }
  return st;
}

/* (OH, OW) of 1 / divisor for each window of avg_pool2d (params p) over an
 * h x w plane: avg_pool2d's gradient is this times g spread over windows. */
lg_status lg_avg_pool2d_scale(lg_ctx *ctx, const lg_params *p, int64_t h,
                              int64_t w, lg_dtype dtype, lg_tensor **out) {
  pool_geom g;
  memset(&g, 0, sizeof g);
  lg_status st = window_geom(ctx, "avg_pool2d", p, false, h, w, &g);
  int64_t sizes[2] = {g.oh, g.ow};
  if (!st) st = lg_empty(ctx, dtype, 2, sizes, out);
  if (st) return st;
  for (int64_t y = 0; y < g.oh; y++)
    for (int64_t x = 0; x < g.ow; x++)
      lg_tensor_set(*out, y * g.ow + x, 1.0 / avg_divisor(&g, y, x));
  return LG_OK;
}

/* The (out_len, in_len) matrix averaging each adaptive window (its
 * transpose when transposed): adaptive pooling along one dim as a matmul. */
lg_status lg_adaptive_pool_matrix(lg_ctx *ctx, int64_t in_len, int64_t out_len,
                                  bool transposed, lg_dtype dtype,
                                  lg_tensor **out) {
  int64_t sizes[2] = {transposed ? in_len : out_len,
                      transposed ? out_len : in_len};
  lg_status st = lg_full(ctx, dtype, 2, sizes, 0, out);
  if (st) return st;
  for (int64_t o = 0; o < out_len; o++) {
    int64_t start, end;
    adaptive_window(o, in_len, out_len, &start, &end);
    for (int64_t i = start; i < end; i++)
      lg_tensor_set(*out, transposed ? i * out_len + o : o * in_len + i,
                    1.0 / (double)(end - start));
  }
  return LG_OK;
}
