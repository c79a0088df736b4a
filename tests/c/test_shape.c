/* test_shape.c: white-box tests of the shape kernels: views share storage
 * with the right strides, reshape copies when it must, and flip, tile, cat
 * and stack agree with naive element-by-element references. */
#include <stdlib.h>

#include "core.h"
#include "test_util.h"

static lg_ctx *ctx;
static lg_tensor *junk; /* output slot of calls expected to fail */

/* Runs a one-input op with params; NULL (and the error kept) on failure. */
static lg_tensor *run1(lg_op op, lg_tensor *x, const lg_params *p) {
  lg_tensor *out = NULL;
  if (lg_op_run(ctx, op, 1, &x, p, &out) != LG_OK) return NULL;
  return out;
}

/* 0, 1, 2, ... in a contiguous tensor of the given shape. */
static lg_tensor *iota(lg_dtype dtype, int ndim, const int64_t *sizes) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, dtype, ndim, sizes, &t) != LG_OK) return NULL;
  for (int64_t i = 0; i < lg_tensor_numel(t); i++)
    lg_tensor_set(t, i, (double)i);
  return t;
}

/* Row-major position -> multi-index. */
static void unflatten(int64_t flat, int ndim, const int64_t *sizes,
                      int64_t *pos) {
  for (int d = ndim - 1; d >= 0; d--) {
    pos[d] = sizes[d] ? flat % sizes[d] : 0;
    flat = sizes[d] ? flat / sizes[d] : 0;
  }
}

/* Multi-index -> row-major position. */
static int64_t flatten_pos(int ndim, const int64_t *sizes, const int64_t *pos) {
  int64_t flat = 0;
  for (int d = 0; d < ndim; d++) flat = flat * sizes[d] + pos[d];
  return flat;
}

static bool same_ints(const int64_t *a, const int64_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

static lg_params ints_params(int n, const int64_t *ints) {
  lg_params p = {0};
  p.n_ints = n;
  for (int i = 0; i < n; i++) p.ints[i] = ints[i];
  return p;
}

static void test_views(void) {
  int64_t s23[2] = {2, 3};
  lg_tensor *x = iota(LG_FLOAT32, 2, s23);

  /* view with -1 inference shares storage */
  int64_t want32[2] = {3, -1};
  lg_params p = ints_params(2, want32);
  lg_tensor *v = run1(LG_OP_VIEW, x, &p);
  CHECK(v && lg_tensor_same_storage(v, x));
  if (v) {
    int64_t sizes[2] = {3, 2}, strides[2] = {2, 1};
    CHECK(lg_tensor_ndim(v) == 2 && same_ints(lg_tensor_sizes(v), sizes, 2));
    CHECK(same_ints(lg_tensor_strides(v), strides, 2));
  }

  /* transpose via permute: strides swap, no copy */
  int64_t perm[2] = {1, 0};
  p = ints_params(2, perm);
  lg_tensor *xt = run1(LG_OP_PERMUTE, x, &p);
  CHECK(xt && lg_tensor_same_storage(xt, x));
  if (xt) {
    int64_t strides[2] = {1, 3};
    CHECK(same_ints(lg_tensor_strides(xt), strides, 2));
    CHECK(lg_tensor_get(xt, 1) == 3.0); /* xt[0][1] = x[1][0] */
    /* view of a transposed tensor across its dims fails like PyTorch */
    int64_t flat[1] = {6};
    p = ints_params(1, flat);
    CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_VIEW, xt, &p, &junk), "use reshape");
    /* reshape copies instead, in row-major order of xt */
    lg_tensor *r = run1(LG_OP_RESHAPE, xt, &p);
    CHECK(r && !lg_tensor_same_storage(r, x));
    if (r) {
      double want[6] = {0, 3, 1, 4, 2, 5};
      check_values("reshape of transpose", r, want, 6, 0);
    }
    lg_tensor_release(r);
    /* a view that keeps split dims together works: (3,2)^T -> (3,1,2) */
    int64_t s312[3] = {3, 1, 2};
    p = ints_params(3, s312);
    lg_tensor *ok = run1(LG_OP_VIEW, xt, &p);
    CHECK(ok && lg_tensor_same_storage(ok, x));
    lg_tensor_release(ok);
  }
  lg_tensor_release(v);

  /* reshape of a contiguous tensor is a view */
  int64_t s6[1] = {-1};
  p = ints_params(1, s6);
  lg_tensor *r = run1(LG_OP_RESHAPE, x, &p);
  CHECK(r && lg_tensor_same_storage(r, x) && lg_tensor_sizes(r)[0] == 6);
  lg_tensor_release(r);

  /* bad shapes */
  int64_t bad[2] = {4, -1}, two[2] = {-1, -1};
  p = ints_params(2, bad);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_VIEW, x, &p, &junk),
              "invalid for an input of 6");
  p = ints_params(2, two);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_RESHAPE, x, &p, &junk),
              "only one dimension");

  /* expand: stride 0 on broadcast and new dims */
  int64_t s13[2] = {1, 3};
  lg_tensor *row = iota(LG_FLOAT64, 2, s13);
  int64_t e[3] = {2, 4, -1};
  p = ints_params(3, e);
  lg_tensor *ex = run1(LG_OP_EXPAND, row, &p);
  CHECK(ex && lg_tensor_same_storage(ex, row));
  if (ex) {
    int64_t sizes[3] = {2, 4, 3}, strides[3] = {0, 0, 1};
    CHECK(same_ints(lg_tensor_sizes(ex), sizes, 3));
    CHECK(same_ints(lg_tensor_strides(ex), strides, 3));
    CHECK(lg_tensor_get(ex, 23) == 2.0);
    /* a view of an expanded tensor keeping the zero strides */
    int64_t s8[2] = {8, 3};
    p = ints_params(2, s8);
    lg_tensor *ev = run1(LG_OP_VIEW, ex, &p);
    CHECK(ev && lg_tensor_strides(ev)[0] == 0);
    lg_tensor_release(ev);
  }
  lg_tensor_release(ex);
  int64_t e_bad[2] = {2, 4};
  p = ints_params(2, e_bad);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_EXPAND, x, &p, &junk),
              "non-singleton dim 2");
  int64_t e_lead[3] = {-1, 2, 3};
  p = ints_params(3, e_lead);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_EXPAND, x, &p, &junk), "leading dim 1");
  p = ints_params(1, e_lead + 2);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_EXPAND, x, &p, &junk), "number of sizes");
  lg_tensor_release(row);

  /* unsqueeze and squeeze strides */
  p = (lg_params){0};
  p.dim = 1;
  lg_tensor *u = run1(LG_OP_UNSQUEEZE, x, &p);
  CHECK(u && lg_tensor_ndim(u) == 3);
  if (u) {
    int64_t sizes[3] = {2, 1, 3}, strides[3] = {3, 3, 1};
    CHECK(same_ints(lg_tensor_sizes(u), sizes, 3));
    CHECK(same_ints(lg_tensor_strides(u), strides, 3));
    p = (lg_params){0};
    lg_tensor *sq = run1(LG_OP_SQUEEZE, u, &p);
    CHECK(sq && lg_tensor_ndim(sq) == 2 &&
          same_ints(lg_tensor_sizes(sq), s23, 2));
    lg_tensor_release(sq);
    p.n_ints = 1;
    p.dim = 0; /* size 2: left alone */
    sq = run1(LG_OP_SQUEEZE, u, &p);
    CHECK(sq && lg_tensor_ndim(sq) == 3);
    lg_tensor_release(sq);
    p.dim = -2;
    sq = run1(LG_OP_SQUEEZE, u, &p);
    CHECK(sq && lg_tensor_ndim(sq) == 2 && lg_tensor_same_storage(sq, x));
    lg_tensor_release(sq);
  }
  lg_tensor_release(u);
  p = (lg_params){0};
  p.dim = -1; /* append */
  u = run1(LG_OP_UNSQUEEZE, x, &p);
  CHECK(u && lg_tensor_ndim(u) == 3 && lg_tensor_sizes(u)[2] == 1 &&
        lg_tensor_strides(u)[2] == 1);
  lg_tensor_release(u);
  p.dim = 3;
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_UNSQUEEZE, x, &p, &junk), "out of range");

  /* narrow and select: offsets into the same storage */
  p = (lg_params){0};
  p.dim = 1;
  p.start = 1;
  p.length = 2;
  lg_tensor *n = run1(LG_OP_NARROW, x, &p);
  CHECK(n && lg_tensor_same_storage(n, x));
  if (n) {
    double want[4] = {1, 2, 4, 5};
    check_values("narrow", n, want, 4, 0);
    CHECK(!lg_tensor_is_contiguous(n));
  }
  lg_tensor_release(n);
  p.start = 2;
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_NARROW, x, &p, &junk), "past the end");
  p.start = 3;
  p.length = 0;
  n = run1(LG_OP_NARROW, x, &p);
  CHECK(n && lg_tensor_numel(n) == 0);
  lg_tensor_release(n);
  p = (lg_params){0};
  p.dim = 1;
  p.start = -1;
  lg_tensor *s = run1(LG_OP_SELECT, x, &p);
  CHECK(s && lg_tensor_ndim(s) == 1 && lg_tensor_same_storage(s, x));
  if (s) {
    double want[2] = {2, 5};
    check_values("select", s, want, 2, 0);
    CHECK(lg_tensor_strides(s)[0] == 3);
  }
  lg_tensor_release(s);
  p.start = 3;
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_SELECT, x, &p, &junk),
              "index 4 out of range");

  /* permute errors */
  int64_t dup[2] = {0, 0};
  p = ints_params(2, dup);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_PERMUTE, x, &p, &junk), "appears twice");
  p = ints_params(1, dup);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_PERMUTE, x, &p, &junk),
              "expected 2 dims");

  /* 0-d tensors */
  lg_tensor *scalar = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 0, NULL, 7.0, &scalar));
  int64_t one1[2] = {1, 1};
  p = ints_params(2, one1);
  v = run1(LG_OP_VIEW, scalar, &p);
  CHECK(v && lg_tensor_ndim(v) == 2 && lg_tensor_get(v, 0) == 7.0);
  p = (lg_params){0};
  lg_tensor *back = v ? run1(LG_OP_VIEW, v, &p) : NULL;
  CHECK(back && lg_tensor_ndim(back) == 0);
  lg_tensor_release(back);
  lg_tensor_release(v);
  lg_tensor_release(scalar);

  lg_tensor_release(xt);
  lg_tensor_release(x);
}

/* Naive flip: out[pos] = x[pos with flipped dims reversed]. */
static void test_flip(void) {
  int64_t sizes[3] = {2, 3, 4};
  lg_tensor *x = iota(LG_INT64, 3, sizes);
  int64_t dims_list[3][2] = {{0, 2}, {1, -1}, {-2, 0}};
  int n_dims[3] = {2, 1, 1};
  for (int c = 0; c < 3; c++) {
    lg_params p = ints_params(n_dims[c], dims_list[c]);
    lg_tensor *f = run1(LG_OP_FLIP, x, &p);
    CHECK(f && !lg_tensor_same_storage(f, x) && lg_tensor_is_contiguous(f));
    if (!f) continue;
    double want[24];
    for (int64_t i = 0; i < 24; i++) {
      int64_t pos[3];
      unflatten(i, 3, sizes, pos);
      for (int k = 0; k < n_dims[c]; k++) {
        int64_t d = dims_list[c][k] < 0 ? dims_list[c][k] + 3 : dims_list[c][k];
        pos[d] = sizes[d] - 1 - pos[d];
      }
      want[i] = (double)flatten_pos(3, sizes, pos);
    }
    check_values("flip", f, want, 24, 0);
    lg_tensor_release(f);
  }
  int64_t dup[2] = {1, 1};
  lg_params p = ints_params(2, dup);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_FLIP, x, &p, &junk), "appears twice");
  lg_tensor_release(x);
}

/* Naive tile on a (possibly non-contiguous) input. */
static void check_tile(lg_tensor *x, int n_reps, const int64_t *reps) {
  lg_params p = ints_params(n_reps, reps);
  lg_tensor *t = run1(LG_OP_TILE, x, &p);
  CHECK(t != NULL);
  if (!t) return;
  int xd = lg_tensor_ndim(x), n = n_reps > xd ? n_reps : xd;
  int64_t xs[LG_MAX_DIMS], want_sizes[LG_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    int xi = i - (n - xd), ri = i - (n - n_reps);
    xs[i] = xi >= 0 ? lg_tensor_sizes(x)[xi] : 1;
    want_sizes[i] = xs[i] * (ri >= 0 ? reps[ri] : 1);
  }
  CHECK(lg_tensor_ndim(t) == n && same_ints(lg_tensor_sizes(t), want_sizes, n));
  int64_t total = lg_tensor_numel(t);
  double *want = malloc((size_t)(total ? total : 1) * sizeof *want);
  for (int64_t i = 0; i < total; i++) {
    int64_t pos[LG_MAX_DIMS];
    unflatten(i, n, want_sizes, pos);
    for (int d = 0; d < n; d++) pos[d] %= xs[d];
    want[i] = lg_tensor_get(x, flatten_pos(n, xs, pos));
  }
  check_values("tile", t, want, total, 0);
  free(want);
  lg_tensor_release(t);
}

static void test_tile(void) {
  int64_t s23[2] = {2, 3};
  lg_tensor *x = iota(LG_FLOAT32, 2, s23);
  int64_t r1[1] = {2}, r2[2] = {3, 2}, r3[3] = {2, 1, 2}, r0[2] = {0, 2};
  check_tile(x, 1, r1); /* fewer reps than dims */
  check_tile(x, 2, r2);
  check_tile(x, 3, r3); /* more reps: new leading dim */
  check_tile(x, 2, r0); /* zero repetitions: empty */
  check_tile(x, 0, NULL);
  int64_t perm[2] = {1, 0};
  lg_params p = ints_params(2, perm);
  lg_tensor *xt = run1(LG_OP_PERMUTE, x, &p);
  check_tile(xt, 2, r2); /* strided input */
  lg_tensor_release(xt);
  lg_tensor *scalar = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_UINT8, 0, NULL, 9, &scalar));
  check_tile(scalar, 2, r2);
  check_tile(scalar, 0, NULL);
  lg_tensor_release(scalar);
  int64_t neg[1] = {-1};
  p = ints_params(1, neg);
  CHECK_FAILS(ctx, lg_run1(ctx, LG_OP_TILE, x, &p, &junk), "non-negative");
  lg_tensor_release(x);
}

static void test_cat_stack(void) {
  int64_t sa[2] = {2, 3}, sb[2] = {2, 2}, sc[2] = {2, 0};
  lg_tensor *a = iota(LG_FLOAT32, 2, sa), *b = iota(LG_INT64, 2, sb);
  lg_tensor *c = iota(LG_FLOAT32, 2, sc);
  lg_tensor *in[3] = {a, c, b}, *out = NULL;
  lg_params p = {0};
  p.dim = -1;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CAT, 3, in, &p, &out));
  if (out) {
    CHECK(lg_tensor_dtype(out) == LG_FLOAT32);
    CHECK(lg_tensor_sizes(out)[0] == 2 && lg_tensor_sizes(out)[1] == 5);
    double want[10] = {0, 1, 2, 0, 1, 3, 4, 5, 2, 3};
    check_values("cat dim 2", out, want, 10, 0);
  }
  lg_tensor_release(out);
  /* along dim 1 with a transposed (strided) input; int64 + float64 */
  int64_t perm[2] = {1, 0};
  lg_params pp = ints_params(2, perm);
  lg_tensor *bt = run1(LG_OP_PERMUTE, b, &pp); /* (2,2) transposed */
  lg_tensor *d = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 2, sb, -1, &d));
  lg_tensor *in2[2] = {bt, d};
  p.dim = 0;
  out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CAT, 2, in2, &p, &out));
  if (out) {
    CHECK(lg_tensor_dtype(out) == LG_FLOAT64);
    double want[8] = {0, 2, 1, 3, -1, -1, -1, -1};
    check_values("cat dim 1", out, want, 8, 0);
  }
  lg_tensor_release(out);
  /* errors */
  lg_tensor *in3[2] = {a, b};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CAT, 2, in3, &p, &junk),
              "sizes must match except in dim 1");
  lg_tensor *scalar = NULL, *v1 = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 0, NULL, 1, &scalar));
  lg_tensor *in4[1] = {scalar};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CAT, 1, in4, &p, &junk), "0-d tensor");
  int64_t s3[1] = {3};
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 1, s3, 1, &v1));
  lg_tensor *in5[2] = {a, v1};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CAT, 2, in5, &p, &junk),
              "same number of dims");

  /* stack: values against a naive interleave */
  lg_tensor *e = iota(LG_FLOAT32, 2, sa), *st = NULL;
  lg_tensor_set(e, 0, 100);
  lg_tensor *pair[2] = {a, e};
  for (int64_t dim = -3; dim <= 2; dim++) {
    st = NULL;
    CHECK_OK(ctx, lg_stack(ctx, 2, pair, dim, &st));
    if (!st) continue;
    int64_t w = dim < 0 ? dim + 3 : dim;
    CHECK(lg_tensor_ndim(st) == 3 && lg_tensor_sizes(st)[w] == 2);
    double want[12];
    for (int64_t i = 0; i < 12; i++) {
      int64_t pos[3], src[2];
      unflatten(i, 3, lg_tensor_sizes(st), pos);
      int k = 0;
      for (int q = 0; q < 3; q++)
        if (q != w) src[k++] = pos[q];
      want[i] = lg_tensor_get(pair[pos[w]], flatten_pos(2, sa, src));
    }
    check_values("stack", st, want, 12, 0);
    lg_tensor_release(st);
  }
  lg_tensor *mismatched[2] = {a, b};
  CHECK_FAILS(ctx, lg_stack(ctx, 2, mismatched, 0, &junk), "equal shape");
  CHECK_FAILS(ctx, lg_stack(ctx, 2, pair, 3, &junk), "out of range");
  CHECK_FAILS(ctx, lg_stack(ctx, 0, pair, 0, &junk), "non-empty");

  lg_tensor_release(e);
  lg_tensor_release(v1);
  lg_tensor_release(scalar);
  lg_tensor_release(d);
  lg_tensor_release(bt);
  lg_tensor_release(a);
  lg_tensor_release(b);
  lg_tensor_release(c);
}

int main(void) {
  ctx = lg_ctx_new(NULL, NULL);
  test_views();
  test_flip();
  test_tile();
  test_cat_stack();
  CHECK(lg_ctx_bytes_in_use(ctx) == 0); /* every tensor released */
  lg_ctx_free(ctx);
  return test_report("test_shape");
}
