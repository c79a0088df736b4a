/* test_conv.c: the im2col + gemm convolutions (and conv2d's Winograd
 * forward) against the naive direct kernel over many geometries (on 1 and
 * 2 threads), the batch split giving
 * the same bits on 1, 2 and 3 threads, the pools against
 * loop-over-everything oracles written here, argument errors, and
 * allocation failures. */
#include <stdlib.h>

#include "test_alloc.h"
#include "ops.h"
#include "test_util.h"

/* Largest |a - b| over two same-shaped tensors (inf when shapes differ). */
static double max_diff(const lg_tensor *a, const lg_tensor *b) {
  if (lg_tensor_ndim(a) != lg_tensor_ndim(b)) return INFINITY;
  for (int d = 0; d < lg_tensor_ndim(a); d++)
    if (lg_tensor_sizes(a)[d] != lg_tensor_sizes(b)[d]) return INFINITY;
  double worst = 0;
  for (int64_t i = 0; i < lg_tensor_numel(a); i++) {
    double d = fabs(lg_tensor_get(a, i) - lg_tensor_get(b, i));
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

typedef struct geometry {
  int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups;
} geometry;

static const geometry geometries[] = {
    /* n  c  h  w  o kh kw sh sw ph pw dh dw g */
    {2, 3, 7, 7, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1},  /* plain                */
    {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* same padding, H != W */
    {1, 2, 9, 8, 3, 3, 2, 2, 3, 1, 0, 1, 1, 1},  /* strides, non-square  */
    {2, 4, 9, 9, 6, 3, 3, 1, 2, 2, 1, 2, 3, 2},  /* dilation, groups 2   */
    {1, 6, 5, 7, 6, 3, 1, 2, 1, 1, 0, 1, 1, 6},  /* depthwise            */
    {2, 4, 6, 5, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1},  /* 1x1: no im2col       */
    {2, 4, 6, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2},  /* 1x1 grouped          */
    {1, 3, 4, 4, 2, 4, 4, 1, 1, 0, 0, 1, 1, 1},  /* kernel = input       */
    {3, 1, 11, 10, 5, 5, 3, 3, 2, 2, 1, 1, 2, 1}, /* 1 channel, 3 batches */
    {1, 6, 8, 8, 9, 2, 3, 2, 2, 1, 1, 3, 1, 3},  /* groups 3, dilated    */
    /* big enough that conv.c splits the batch into several blocks of
     * images (BLOCK_ELEMS), with sums short enough for float32's tolerance */
    {100, 25, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* blocks               */
    {300, 50, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2},  /* blocks, groups 2     */
    {3, 2, 8, 8, 400, 1, 1, 1, 1, 0, 0, 1, 1, 1},   /* 1x1: blocks 2 and 1  */
    /* lone images in several panels of response positions (conv.c
     * image_panel), panel edges inside rows; a 1-D signal; a 1x1 kernel */
    {1, 64, 37, 45, 40, 3, 3, 1, 2, 1, 1, 1, 1, 1},  /* 2 panels             */
    {1, 400, 3, 304, 16, 1, 5, 1, 1, 0, 2, 1, 2, 2}, /* long rows, 4 panels  */
    {1, 300, 30, 30, 100, 1, 1, 1, 1, 0, 0, 1, 1, 1}, /* 1x1, 2 panels       */
    /* float32 3x3 at stride 1 with 16 channels or more: conv2d's forward
     * by Winograd F(2x2, 3x3) on AVX-512 CPUs (conv_winograd.c): odd
     * output sides (cut tiles), no padding and wide padding, rows of more
     * than 16 tiles, an odd channel count, groups, several blocks */
    {2, 16, 9, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* odd sides, cut tiles */
    {1, 16, 6, 40, 17, 3, 3, 1, 1, 0, 2, 1, 1, 1},   /* 21 tiles a row, o 17 */
    {2, 32, 5, 5, 32, 3, 3, 1, 1, 2, 2, 1, 1, 2},    /* groups 2, padding 2  */
    {5, 16, 28, 28, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* blocks over images   */
};

static lg_params conv_params(const geometry *g, int64_t extra_h,
                             int64_t extra_w) {
  lg_params p = {0};
  int64_t v[8] = {g->sh, g->sw, g->ph, g->pw, g->dh, g->dw, extra_h, extra_w};
  for (int i = 0; i < 8; i++) p.ints[i] = v[i];
  p.n_ints = 8;
  p.scalar_int = g->groups;
  return p;
}

static lg_tensor *randn(lg_ctx *ctx, lg_dtype dt, int64_t a, int64_t b,
                        int64_t c, int64_t d) {
  int64_t sizes[4] = {a, b, c, d};
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_randn(ctx, dt, 4, sizes, &t));
  return t;
}

/* Runs op both ways and compares; tol scales with the sum length. */
static void compare_paths(lg_ctx *ctx, const char *what, lg_op op, int n_in,
                          lg_tensor *const *in, const lg_params *p,
                          double tol) {
  lg_tensor *fast = NULL, *slow = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, op, n_in, in, p, &fast));
  CHECK_OK(ctx, lg_conv_reference(ctx, op, in, n_in, p, &slow));
  if (fast && slow) {
    double d = max_diff(fast, slow);
    if (!(d <= tol)) {
      fprintf(stderr, "%s: %s differs from the naive kernel by %g\n", what,
              lg_op_name(op), d);
      test_failures++;
    }
  }
  lg_tensor_release(fast);
  lg_tensor_release(slow);
}

static int64_t out_len(int64_t len, int64_t k, int64_t s, int64_t p,
                       int64_t d) {
  return (len + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* conv2d, conv_transpose2d and the weight gradient, fast against naive. */
static void test_against_naive(lg_ctx *ctx, lg_dtype dt, double tol) {
  int count = (int)(sizeof geometries / sizeof geometries[0]);
  for (int k = 0; k < count; k++) {
    const geometry *g = &geometries[k];
    char what[64];
    snprintf(what, sizeof what, "geometry %d (%s)", k, lg_dtype_name(dt));
    int64_t oh = out_len(g->h, g->kh, g->sh, g->ph, g->dh);
    int64_t ow = out_len(g->w, g->kw, g->sw, g->pw, g->dw);
    lg_tensor *x = randn(ctx, dt, g->n, g->c, g->h, g->w);
    lg_tensor *w = randn(ctx, dt, g->o, g->c / g->groups, g->kh, g->kw);
    lg_tensor *gout = randn(ctx, dt, g->n, g->o, oh, ow);
    lg_tensor *b = NULL, *bt = NULL;
    int64_t bs = g->o, bts = g->c;
    CHECK_OK(ctx, lg_randn(ctx, dt, 1, &bs, &b));
    CHECK_OK(ctx, lg_randn(ctx, dt, 1, &bts, &bt));
    lg_params p = conv_params(g, 0, 0);
    lg_tensor *conv_in[3] = {x, w, b};
    compare_paths(ctx, what, LG_OP_CONV2D, 2, conv_in, &p, tol);
    p.flags = LG_FLAG_OPT1;
    compare_paths(ctx, what, LG_OP_CONV2D, 3, conv_in, &p, tol);
    /* the transpose maps gout (N,O,..) back to (N,C,..): weight (O,C/g,..) */
    lg_params tp = conv_params(g, 0, 0);
    lg_tensor *t_in[3] = {gout, w, bt};
    compare_paths(ctx, what, LG_OP_CONV_TRANSPOSE2D, 2, t_in, &tp, tol);
    tp.flags = LG_FLAG_OPT1;
    compare_paths(ctx, what, LG_OP_CONV_TRANSPOSE2D, 3, t_in, &tp, tol);
    lg_params wp = conv_params(g, g->kh, g->kw);
    lg_tensor *w_in[2] = {x, gout};
    compare_paths(ctx, what, LG_OP_CONV2D_WEIGHT_GRAD, 2, w_in, &wp, tol);
    /* a strided (transposed) input goes through the same paths */
    int64_t perm_sizes[4] = {g->n, g->c, g->w, g->h};
    lg_tensor *xt = NULL, *xtt = NULL;
    CHECK_OK(ctx, lg_randn(ctx, dt, 4, perm_sizes, &xt));
    lg_params perm = {0};
    int64_t order[4] = {0, 1, 3, 2};
    memcpy(perm.ints, order, sizeof order);
    perm.n_ints = 4;
    CHECK_OK(ctx, lg_op_run(ctx, LG_OP_PERMUTE, 1, &xt, &perm, &xtt));
    CHECK(xtt && !lg_tensor_is_contiguous(xtt));
    lg_tensor *s_in[2] = {xtt, w};
    p.flags = 0;
    compare_paths(ctx, what, LG_OP_CONV2D, 2, s_in, &p, tol);
    lg_tensor *ts[] = {x, w, gout, b, bt, xt, xtt};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lg_tensor_release(ts[i]);
  }
}

/* The transpose's output size and output_padding. */
static void test_transpose_sizes(lg_ctx *ctx) {
  geometry g = {1, 2, 0, 0, 4, 3, 3, 2, 3, 1, 0, 1, 2, 2};
  lg_tensor *x = randn(ctx, LG_FLOAT64, 1, 4, 3, 4);
  lg_tensor *w = randn(ctx, LG_FLOAT64, 4, 1, 3, 3);
  lg_params p = conv_params(&g, 1, 2);
  lg_tensor *in[2] = {x, w}, *out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CONV_TRANSPOSE2D, 2, in, &p, &out));
  /* (3-1)*2 - 2 + 1*2 + 1 + 1 = 6; (4-1)*3 - 0 + 2*2 + 2 + 1 = 16 */
  CHECK(out && lg_tensor_sizes(out)[1] == 2 && lg_tensor_sizes(out)[2] == 6 &&
        lg_tensor_sizes(out)[3] == 16);
  compare_paths(ctx, "output_padding", LG_OP_CONV_TRANSPOSE2D, 2, in, &p, 1e-12);
  lg_tensor_release(out);
  out = NULL;
  p.ints[6] = 2; /* not below max(stride 2, dilation 1) */
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CONV_TRANSPOSE2D, 2, in, &p, &out),
              "output_padding");
  lg_tensor_release(x);
  lg_tensor_release(w);
}

/* A tiny case worked by hand. */
static void test_known_values(lg_ctx *ctx) {
  int64_t xs[4] = {1, 1, 3, 3}, ws[4] = {1, 1, 2, 2};
  double xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, wv[4] = {1, 0, 0, -1};
  lg_tensor *x = make_tensor(ctx, LG_FLOAT32, 4, xs, xv);
  lg_tensor *w = make_tensor(ctx, LG_FLOAT32, 4, ws, wv);
  lg_params p = {0};
  p.ints[0] = p.ints[1] = 1;
  p.ints[4] = p.ints[5] = 1;
  lg_tensor *in[2] = {x, w}, *out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CONV2D, 2, in, &p, &out));
  double want[4] = {-4, -4, -4, -4};
  if (out) check_values("conv2d 3x3 * 2x2", out, want, 4, 0);
  lg_tensor_release(out);
  out = NULL;
  p.ints[2] = p.ints[3] = 1; /* padding 1: corners see one element */
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CONV2D, 2, in, &p, &out));
  double want_pad[16] = {-1, -2, -3, 0, -4, -4, -4, 3, -7, -4, -4, 6, 0, 7, 8, 9};
  if (out) check_values("conv2d padded", out, want_pad, 16, 0);
  lg_tensor_release(out);
  lg_tensor_release(x);
  lg_tensor_release(w);
}

static void test_errors(lg_ctx *ctx) {
  lg_tensor *x = randn(ctx, LG_FLOAT32, 1, 4, 5, 5);
  lg_tensor *w = randn(ctx, LG_FLOAT32, 2, 3, 3, 3);
  lg_tensor *big = randn(ctx, LG_FLOAT32, 2, 4, 7, 7);
  lg_tensor *wd = randn(ctx, LG_FLOAT64, 2, 4, 3, 3);
  lg_tensor *out = NULL, *pooled[2] = {NULL, NULL}; /* max_pool2d: 2 */
  lg_params p = {0};
  p.ints[0] = p.ints[1] = p.ints[4] = p.ints[5] = 1;
  lg_tensor *in[2] = {x, w};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CONV2D, 2, in, &p, &out), "4 channels");
  in[1] = big;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CONV2D, 2, in, &p, &out),
              "smaller than the dilated kernel");
  in[1] = wd;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CONV2D, 2, in, &p, &out), "one dtype");
  p.scalar_int = 3;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CONV2D, 2, in, &p, &out),
              "divisible by groups");
  p.scalar_int = 1;
  p.ints[0] = 0;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CONV2D, 2, in, &p, &out), "stride");
  lg_params q = {0};
  q.ints[0] = q.ints[1] = 2;
  q.ints[4] = q.ints[5] = 2;  /* padding above half the kernel */
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_MAX_POOL2D, 1, &x, &q, pooled),
              "padding");
  q.ints[4] = q.ints[5] = 0;
  q.ints[0] = q.ints[1] = 9;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_AVG_POOL2D, 1, &x, &q, &out),
              "too small");
  lg_tensor_release(x);
  lg_tensor_release(w);
  lg_tensor_release(big);
  lg_tensor_release(wd);
}

/* ---- pools ---------------------------------------------------------------- */

typedef struct pool_case {
  int64_t h, w, kh, kw, sh, sw, ph, pw, dh, dw;
  int ceil_mode, include_pad;
} pool_case;

static const pool_case pool_cases[] = {
    /* h  w kh kw sh sw ph pw dh dw ceil pad */
    {6, 6, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
    {7, 5, 3, 2, 2, 1, 1, 1, 1, 1, 0, 1},
    {7, 5, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0},
    {8, 9, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1},
    {8, 9, 3, 3, 2, 2, 1, 0, 1, 1, 1, 0},
    {5, 5, 2, 2, 2, 2, 1, 1, 1, 1, 1, 0},
    {9, 7, 3, 2, 3, 2, 1, 1, 2, 3, 0, 0},
    {10, 11, 3, 3, 3, 2, 0, 1, 2, 1, 1, 1},
};

/* Output length by the definition: windows start at k s - p and must start
 * inside the input or the left padding (ceil mode). */
static int64_t pool_out(int64_t len, int64_t k, int64_t s, int64_t p,
                        int64_t d, int ceil_mode) {
  int64_t span = len + 2 * p - d * (k - 1) - 1;
  int64_t n = ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
  if (ceil_mode && (n - 1) * s >= len + p) n--;
  return n;
}

/* Where input coordinate pos sits in window start..: tap index or -1. */
static int64_t tap(int64_t pos, int64_t start, int64_t d, int64_t k) {
  int64_t off = pos - start;
  if (off < 0 || off % d) return -1;
  return off / d < k ? off / d : -1;
}

static void check_pool(lg_ctx *ctx, const pool_case *c, int k, lg_dtype dt) {
  int64_t sizes[4] = {2, 3, c->h, c->w};
  lg_tensor *x = NULL, *mx[2] = {NULL, NULL}, *avg = NULL;
  CHECK_OK(ctx, lg_randn(ctx, dt, 4, sizes, &x));
  lg_params p = {0};
  int64_t v[8] = {c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw};
  memcpy(p.ints, v, sizeof v);
  p.scalar_int = c->ceil_mode ? 1 : 0;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_MAX_POOL2D, 1, &x, &p, mx));
  p.ints[6] = p.ints[7] = 0;
  p.scalar_int |= c->include_pad ? 2 : 0;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_AVG_POOL2D, 1, &x, &p, &avg));
  int64_t oh = pool_out(c->h, c->kh, c->sh, c->ph, c->dh, c->ceil_mode);
  int64_t ow = pool_out(c->w, c->kw, c->sw, c->pw, c->dw, c->ceil_mode);
  int64_t aoh = pool_out(c->h, c->kh, c->sh, c->ph, 1, c->ceil_mode);
  int64_t aow = pool_out(c->w, c->kw, c->sw, c->pw, 1, c->ceil_mode);
  if (!mx[0] || !avg || lg_tensor_sizes(mx[0])[2] != oh ||
      lg_tensor_sizes(mx[0])[3] != ow || lg_tensor_sizes(avg)[2] != aoh ||
      lg_tensor_sizes(avg)[3] != aow) {
    fprintf(stderr, "pool case %d: wrong output size\n", k);
    test_failures++;
    goto done;
  }
  for (int64_t plane = 0; plane < 6; plane++) {
    int64_t base = plane * c->h * c->w;
    for (int64_t y = 0; y < oh; y++)
      for (int64_t z = 0; z < ow; z++) {
        double best = -INFINITY;
        int64_t at = 0;
        for (int64_t h = 0; h < c->h; h++)
          for (int64_t w = 0; w < c->w; w++) {
            if (tap(h, y * c->sh - c->ph, c->dh, c->kh) < 0 ||
                tap(w, z * c->sw - c->pw, c->dw, c->kw) < 0)
              continue;
            double val = lg_tensor_get(x, base + h * c->w + w);
            if (at == 0 || val > best) {
              best = val;
              at = h * c->w + w + 1;
            }
          }
        int64_t o = (plane * oh + y) * ow + z;
        if (lg_tensor_get(mx[0], o) != best || lg_tensor_get_int(mx[1], o) != at) {
          fprintf(stderr, "pool case %d: max at %lld: got %g@%lld, want %g@%lld\n",
                  k, (long long)o, lg_tensor_get(mx[0], o),
                  (long long)lg_tensor_get_int(mx[1], o), best, (long long)at);
          test_failures++;
        }
      }
    for (int64_t y = 0; y < aoh; y++)
      for (int64_t z = 0; z < aow; z++) {
        double sum = 0, inside = 0, counted = 0;
        for (int64_t h = -c->ph; h < c->h + c->ph; h++)
          for (int64_t w = -c->pw; w < c->w + c->pw; w++) {
            if (tap(h, y * c->sh - c->ph, 1, c->kh) < 0 ||
                tap(w, z * c->sw - c->pw, 1, c->kw) < 0)
              continue;
            counted++;
            if (h < 0 || h >= c->h || w < 0 || w >= c->w) continue;
            inside++;
            sum += lg_tensor_get(x, base + h * c->w + w);
          }
        double want = sum / (c->include_pad ? counted : inside);
        int64_t o = (plane * aoh + y) * aow + z;
        double got = lg_tensor_get(avg, o);
        if (!(fabs(got - want) <= 1e-5 * (1 + fabs(want)))) {
          fprintf(stderr, "pool case %d: avg at %lld: got %g, want %g\n", k,
                  (long long)o, got, want);
          test_failures++;
        }
      }
  }
done:
  lg_tensor_release(x);
  lg_tensor_release(mx[0]);
  lg_tensor_release(mx[1]);
  lg_tensor_release(avg);
}

static void test_adaptive(lg_ctx *ctx) {
  /* 5 -> 3 windows: [0,2) [1,4) [3,5); 4 -> 2: [0,2) [2,4) */
  int64_t sizes[3] = {1, 5, 4};
  double xv[20];
  for (int i = 0; i < 20; i++) xv[i] = i;
  lg_tensor *x = make_tensor(ctx, LG_FLOAT64, 3, sizes, xv), *out = NULL;
  lg_params p = {0};
  p.ints[0] = 3;
  p.ints[1] = 2;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_ADAPTIVE_AVG_POOL2D, 1, &x, &p, &out));
  /* rows {0,1} cols {0,1}: (0+1+4+5)/4 = 2.5; rows {1,2,3}: mean 8.5 */
  double want[6] = {2.5, 4.5, 8.5, 10.5, 14.5, 16.5};
  if (out) check_values("adaptive_avg_pool2d", out, want, 6, 1e-12);
  lg_tensor_release(out);
  lg_tensor_release(x);
}

/* ---- allocation failures -------------------------------------------------- */


/* Every allocation of a conv2d forward fails in turn: a status each time,
 * and no bytes left behind. */
static void test_alloc_failures(void) {
  for (int allowed = 0; allowed < 40; allowed++) {
    test_alloc b = {1000, 0, 0};
    lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &b);
    lg_tensor *x = randn(ctx, LG_FLOAT32, 2, 2, 6, 6);
    lg_tensor *w = randn(ctx, LG_FLOAT32, 3, 2, 3, 3);
    int64_t three = 3;
    lg_tensor *bias = NULL, *out = NULL;
    CHECK_OK(ctx, lg_randn(ctx, LG_FLOAT32, 1, &three, &bias));
    size_t before = lg_ctx_bytes_in_use(ctx);
    b.budget = allowed;
    lg_params p = {0};
    p.ints[0] = p.ints[1] = 2;
    p.ints[2] = p.ints[3] = p.ints[4] = p.ints[5] = 1;
    p.flags = LG_FLAG_OPT1;
    lg_tensor *in[3] = {x, w, bias};
    lg_status st = lg_op_run(ctx, LG_OP_CONV2D, 3, in, &p, &out);
    CHECK(st == LG_OK || st == LG_ERR_MEMORY);
    CHECK(st != LG_OK || out != NULL);
    lg_tensor_release(out);
    CHECK(lg_ctx_bytes_in_use(ctx) == before);
    b.budget = 1000;
    lg_tensor_release(x);
    lg_tensor_release(w);
    lg_tensor_release(bias);
    lg_ctx_free(ctx);
    if (st == LG_OK) break;
  }
}

/* A batch of several image blocks is split across threads (conv.c
 * split_conv): each op gives the same bits on 1, 2 and 3 threads, for
 * float32 and float64, odd sizes and a strided input. */
static void test_threads_identical(lg_ctx *ctx, lg_dtype dt) {
  static const geometry split[] = {
      {37, 25, 5, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {65, 6, 9, 7, 5, 3, 3, 2, 1, 1, 0, 1, 1, 1},
      {33, 40, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2},
      {9, 16, 14, 13, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1}, /* Winograd's blocks */
  };
  for (size_t k = 0; k < sizeof split / sizeof split[0]; k++) {
    const geometry *g = &split[k];
    int64_t oh = out_len(g->h, g->kh, g->sh, g->ph, g->dh);
    int64_t ow = out_len(g->w, g->kw, g->sw, g->pw, g->dw);
    lg_tensor *xt = randn(ctx, dt, g->n, g->c, g->w, g->h);
    lg_tensor *x = NULL; /* strided: (n, c, h, w) seen through a permute */
    lg_params perm = {0};
    int64_t order[4] = {0, 1, 3, 2};
    memcpy(perm.ints, order, sizeof order);
    perm.n_ints = 4;
    CHECK_OK(ctx, lg_op_run(ctx, LG_OP_PERMUTE, 1, &xt, &perm, &x));
    lg_tensor *w = randn(ctx, dt, g->o, g->c / g->groups, g->kh, g->kw);
    lg_tensor *gout = randn(ctx, dt, g->n, g->o, oh, ow);
    lg_params p = conv_params(g, 0, 0), wp = conv_params(g, g->kh, g->kw);
    lg_tensor *conv_in[2] = {x, w}, *t_in[2] = {gout, w}, *w_in[2] = {x, gout};
    lg_op ops[3] = {LG_OP_CONV2D, LG_OP_CONV_TRANSPOSE2D, LG_OP_CONV2D_WEIGHT_GRAD};
    lg_tensor **ins[3] = {conv_in, t_in, w_in};
    const lg_params *ps[3] = {&p, &p, &wp};
    for (int r = 0; r < 3; r++) {
      lg_tensor *one = NULL;
      lg_ctx_set_num_threads(ctx, 1);
      CHECK_OK(ctx, lg_op_run(ctx, ops[r], 2, ins[r], ps[r], &one));
      for (int threads = 2; threads <= 3 && one; threads++) {
        lg_tensor *more = NULL;
        lg_ctx_set_num_threads(ctx, threads);
        CHECK_OK(ctx, lg_op_run(ctx, ops[r], 2, ins[r], ps[r], &more));
        CHECKF(more && max_diff(one, more) == 0,
               "split geometry %zu (%s): %s differs on %d threads", k,
               lg_dtype_name(dt), lg_op_name(ops[r]), threads);
        lg_tensor_release(more);
      }
      lg_tensor_release(one);
    }
    lg_ctx_set_num_threads(ctx, 1);
    lg_tensor *ts[] = {xt, x, w, gout};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lg_tensor_release(ts[i]);
  }
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  lg_ctx_manual_seed(ctx, 7);
  test_against_naive(ctx, LG_FLOAT64, 1e-10);
  test_against_naive(ctx, LG_FLOAT32, 1e-4);
  lg_ctx_set_num_threads(ctx, 2); /* the batch split, and OpenBLAS on 2 */
  test_against_naive(ctx, LG_FLOAT64, 1e-10);
  test_against_naive(ctx, LG_FLOAT32, 1e-4);
  lg_ctx_set_num_threads(ctx, 1);
  test_threads_identical(ctx, LG_FLOAT32);
  test_threads_identical(ctx, LG_FLOAT64);
  test_transpose_sizes(ctx);
  test_known_values(ctx);
  test_errors(ctx);
  int n = (int)(sizeof pool_cases / sizeof pool_cases[0]);
  for (int k = 0; k < n; k++) {
    check_pool(ctx, &pool_cases[k], k, LG_FLOAT32);
    check_pool(ctx, &pool_cases[k], k, LG_FLOAT64);
  }
  test_adaptive(ctx);
  lg_ctx_free(ctx);
  test_alloc_failures();
  return test_report("test_conv");
}
