/* test_nn_loss.c: the fused softmax, loss and normalisation kernels against
 * naive compositions of table ops, on contiguous and strided inputs; the
 * fused backward paths against the recorded formula path; no leaks. */
#include <stdlib.h>

#include "test_util.h"

#include "test_alloc.h"

static test_alloc allocator = TEST_ALLOC_UNLIMITED;

static lg_ctx *ctx;

/* Temporaries of one check, released together. */
#define MAX_TEMPS 64
static lg_tensor *temps[MAX_TEMPS];
static int n_temps;
static lg_tensor *keep(lg_tensor *t) {
  if (t && n_temps < MAX_TEMPS) temps[n_temps++] = t;
  return t;
}
static void release_all(void) {
  while (n_temps > 0) lg_tensor_release(temps[--n_temps]);
}

static lg_tensor *op(lg_op o, int n, lg_tensor *a, lg_tensor *b,
                     const lg_params *p) {
  lg_tensor *in[2] = {a, b}, *out[2] = {NULL, NULL};
  CHECK_OK(ctx, lg_op_run(ctx, o, n, in, p, out));
  lg_tensor_release(out[1]);
  return keep(out[0]);
}
static lg_tensor *un(lg_op o, lg_tensor *a) { return op(o, 1, a, NULL, NULL); }
static lg_tensor *bin(lg_op o, lg_tensor *a, lg_tensor *b) {
  return op(o, 2, a, b, NULL);
}
static lg_tensor *scal(lg_op o, lg_tensor *a, double k) {
  lg_params p = {0};
  p.flags = LG_FLAG_SCALAR_B;
  p.scalar[0] = k;
  return op(o, 1, a, NULL, &p);
}
/* Reduction over dims, kept (VAR: biased). */
static lg_tensor *red(lg_op o, lg_tensor *a, int n, const int64_t *dims) {
  lg_params p = {0};
  p.flags = LG_FLAG_KEEPDIM;
  p.n_ints = n;
  for (int i = 0; i < n; i++) p.ints[i] = dims[i];
  return op(o, 1, a, NULL, &p);
}

/* Deterministic pseudo-random values in [-3, 3). */
static lg_tensor *sample(lg_dtype dt, int ndim, const int64_t *sizes,
                         unsigned seed) {
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_empty(ctx, dt, ndim, sizes, &t));
  for (int64_t i = 0; i < lg_tensor_numel(t); i++) {
    seed = seed * 1103515245u + 12345u;
    lg_tensor_set(t, i, ((double)(seed >> 8 & 0xffff) / 65536.0) * 6 - 3);
  }
  return keep(t);
}

static void check_same(const char *what, lg_tensor *got, lg_tensor *want,
                       double tol) {
  if (!got || !want) {
    test_failures++;
    return;
  }
  int64_t n = lg_tensor_numel(want);
  double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
  for (int64_t i = 0; i < n; i++) v[i] = lg_tensor_get(want, i);
  check_values(what, got, v, n, tol);
  free(v);
}

/* softmax / log_softmax over every dim vs exp(x - max) / sum and
 * x - logsumexp; the middle dim runs the strided path. */
static void test_softmax(lg_dtype dt, double tol) {
  int64_t sizes[3] = {3, 4, 5};
  lg_tensor *x = sample(dt, 3, sizes, 1);
  for (int64_t d = 0; d < 3; d++) {
    lg_params p = {0};
    p.dim = d;
    lg_tensor *e = un(LG_OP_EXP, bin(LG_OP_SUB, x, red(LG_OP_AMAX, x, 1, &d)));
    lg_tensor *naive = bin(LG_OP_DIV, e, red(LG_OP_SUM, e, 1, &d));
    check_same("softmax", op(LG_OP_SOFTMAX, 1, x, NULL, &p), naive, tol);
    lg_tensor *naive_log = bin(LG_OP_SUB, x, red(LG_OP_LOGSUMEXP, x, 1, &d));
    check_same("log_softmax", op(LG_OP_LOG_SOFTMAX, 1, x, NULL, &p),
               naive_log, tol);
  }
  /* a transposed (non-contiguous) input gives the transposed result */
  lg_params perm = {0};
  perm.n_ints = 3;
  perm.ints[0] = 2; perm.ints[1] = 1; perm.ints[2] = 0;
  lg_tensor *xt = op(LG_OP_PERMUTE, 1, x, NULL, &perm);
  lg_params p = {0};
  p.dim = 0;
  lg_tensor *a = op(LG_OP_SOFTMAX, 1, xt, NULL, &p);
  p.dim = 2;
  lg_tensor *b = op(LG_OP_PERMUTE, 1, op(LG_OP_SOFTMAX, 1, x, NULL, &p), NULL,
                    &perm);
  check_same("softmax strided", a, b, tol);
  release_all();
}

/* cross_entropy (index targets, weight, ignore_index, smoothing) vs
 * -(q * log_softmax(x)).sum() / denominator with q built by hand. */
static void test_cross_entropy(void) {
  int64_t xs[2] = {6, 5}, cs = 5;
  lg_tensor *x = sample(LG_FLOAT64, 2, xs, 2);
  lg_tensor *w = sample(LG_FLOAT64, 1, &cs, 3);
  for (int k = 0; k < 5; k++) lg_tensor_set(w, k, lg_tensor_get(w, k) / 6 + 1);
  int64_t n = 6;
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_INT64, 1, &n, &t));
  keep(t);
  static const int64_t cls[6] = {1, 5, 3, 3, 2, 4};
  for (int i = 0; i < 6; i++) lg_tensor_set_int(t, i, cls[i]);
  double eps = 0.2, denom = 0;
  lg_tensor *q = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 2, xs, 0, &q));
  keep(q);
  for (int i = 0; i < 6; i++) {
    if (cls[i] == 3) continue; /* ignore_index 3 */
    double wc = lg_tensor_get(w, cls[i] - 1);
    denom += wc;
    for (int k = 0; k < 5; k++)
      lg_tensor_set(q, i * 5 + k, eps / 5 * lg_tensor_get(w, k) +
                                      (k == cls[i] - 1 ? (1 - eps) * wc : 0));
  }
  lg_params sp = {0};
  sp.dim = 1;
  lg_tensor *lsm = op(LG_OP_LOG_SOFTMAX, 1, x, NULL, &sp);
  lg_tensor *naive =
      scal(LG_OP_DIV, un(LG_OP_NEG, un(LG_OP_SUM, bin(LG_OP_MUL, q, lsm))), denom);
  lg_params p = {0};
  p.ints[0] = 1; /* mean */
  p.scalar[0] = eps;
  p.scalar_int = 3;
  p.flags = LG_FLAG_OPT1 | LG_FLAG_SCALAR_INT;
  lg_tensor *in[3] = {x, t, w}, *out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_CROSS_ENTROPY, 3, in, &p, &out));
  keep(out);
  check_same("cross_entropy", out, naive, 1e-12);
  /* nll_loss of log_softmax, no smoothing, sum */
  p.scalar[0] = 0;
  p.ints[0] = 2;
  in[0] = lsm;
  out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_NLL_LOSS, 3, in, &p, &out));
  keep(out);
  double want = 0;
  for (int i = 0; i < 6; i++)
    if (cls[i] != 3)
      want -= lg_tensor_get(w, cls[i] - 1) * lg_tensor_get(lsm, i * 5 + cls[i] - 1);
  check_values("nll_loss", out, &want, 1, 1e-12);
  /* an out-of-range class is an error naming the op */
  lg_tensor_set_int(t, 0, 6);
  out = NULL;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_CROSS_ENTROPY, 3, in, &p, &out),
              "out of bounds");
  release_all();
}

/* (x - mean) / sqrt(var + eps) over dims, through ops */
static lg_tensor *naive_norm(lg_tensor *x, int n, const int64_t *dims,
                             double eps) {
  lg_tensor *mean = red(LG_OP_MEAN, x, n, dims);
  lg_tensor *var = red(LG_OP_VAR, x, n, dims); /* scalar[0] 0: biased */
  return bin(LG_OP_MUL, bin(LG_OP_SUB, x, mean),
             un(LG_OP_RSQRT, scal(LG_OP_ADD, var, eps)));
}

static void test_norms(lg_dtype dt, double tol) {
  int64_t sizes[4] = {3, 4, 2, 3}, c = 4;
  lg_tensor *x = sample(dt, 4, sizes, 4);
  lg_tensor *w = sample(dt, 1, &c, 5), *b = sample(dt, 1, &c, 6);
  /* layer_norm over the last two dims, with weight (2,3) and bias */
  int64_t ws[2] = {2, 3}, last2[2] = {2, 3};
  lg_tensor *lw = sample(dt, 2, ws, 7), *lb = sample(dt, 2, ws, 8);
  lg_params p = {0};
  p.n_ints = 2;
  p.ints[0] = 2; p.ints[1] = 3;
  p.scalar[0] = 1e-5;
  p.flags = LG_FLAG_OPT1 | LG_FLAG_OPT2;
  lg_tensor *in[5] = {x, lw, lb, NULL, NULL}, *out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_LAYER_NORM, 3, in, &p, &out));
  keep(out);
  check_same("layer_norm", out,
             bin(LG_OP_ADD, bin(LG_OP_MUL, naive_norm(x, 2, last2, 1e-5), lw), lb),
             tol);
  /* batch_norm, training, weight and bias as (C,1,1) */
  int64_t chan[3] = {4, 1, 1}, bn_dims[3] = {0, 2, 3};
  lg_params v = {0};
  v.n_ints = 3;
  for (int i = 0; i < 3; i++) v.ints[i] = chan[i];
  lg_tensor *wc = op(LG_OP_VIEW, 1, w, NULL, &v), *bc = op(LG_OP_VIEW, 1, b, NULL, &v);
  lg_params bp = {0};
  bp.scalar[0] = 1e-5;
  bp.scalar[1] = 0.1;
  bp.flags = LG_FLAG_TRAINING | LG_FLAG_OPT3 | LG_FLAG_OPT4;
  in[1] = w;
  in[2] = b;
  out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_BATCH_NORM, 3, in, &bp, &out));
  keep(out);
  lg_tensor *bn_naive =
      bin(LG_OP_ADD, bin(LG_OP_MUL, naive_norm(x, 3, bn_dims, 1e-5), wc), bc);
  check_same("batch_norm", out, bn_naive, tol);
  /* group_norm with 2 groups: normalise the (N, 2, 12) view */
  lg_params gv = {0};
  gv.n_ints = 3;
  gv.ints[0] = 3; gv.ints[1] = 2; gv.ints[2] = 12;
  lg_params back = {0};
  back.n_ints = 4;
  for (int i = 0; i < 4; i++) back.ints[i] = sizes[i];
  int64_t last = 2;
  lg_tensor *grouped = naive_norm(op(LG_OP_VIEW, 1, x, NULL, &gv), 1, &last, 1e-5);
  lg_tensor *gn_naive = bin(LG_OP_ADD, bin(LG_OP_MUL, op(LG_OP_VIEW, 1, grouped, NULL, &back), wc), bc);
  lg_params gp = {0};
  gp.scalar_int = 2;
  gp.scalar[0] = 1e-5;
  gp.flags = LG_FLAG_OPT1 | LG_FLAG_OPT2;
  out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_GROUP_NORM, 3, in, &gp, &out));
  keep(out);
  check_same("group_norm", out, gn_naive, tol);
  release_all();
}

/* The gradient of sum(out * seed) with respect to x, with or without
 * recording the backward (recording takes the formula path). */
static lg_tensor *grad_of(lg_op o, int n, lg_tensor **in, const lg_params *p,
                          lg_tensor *seed, bool create_graph) {
  lg_tensor *out = NULL, *g = NULL;
  lg_backward_opts opts = {false, create_graph, false};
  CHECK_OK(ctx, lg_op_run(ctx, o, n, in, p, &out));
  CHECK_OK(ctx, lg_autograd_grad(ctx, 1, &out, &seed, 1, in, &opts, &g));
  lg_tensor_release(out);
  return keep(g);
}

static void test_fused_backward(void) {
  int64_t xs[3] = {4, 5, 3}, ts[2] = {4, 3};
  lg_tensor *x = sample(LG_FLOAT64, 3, xs, 9);
  CHECK_OK(ctx, lg_tensor_set_requires_grad(ctx, x, true));
  for (int64_t d = 0; d < 3; d++) {
    lg_params p = {0};
    p.dim = d;
    lg_tensor *seed = sample(LG_FLOAT64, 3, xs, 10);
    for (int o = 0; o < 2; o++) {
      lg_op which = o ? LG_OP_LOG_SOFTMAX : LG_OP_SOFTMAX;
      check_same("softmax fused backward", grad_of(which, 1, &x, &p, seed, false),
                 grad_of(which, 1, &x, &p, seed, true), 1e-13);
    }
  }
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_INT64, 2, ts, &t));
  keep(t);
  for (int i = 0; i < 12; i++) lg_tensor_set_int(t, i, 1 + (i * 3) % 5);
  int64_t c = 5;
  lg_tensor *w = sample(LG_FLOAT64, 1, &c, 11);
  for (int k = 0; k < 5; k++) lg_tensor_set(w, k, lg_tensor_get(w, k) / 6 + 1);
  for (int r = 0; r < 3; r++) {
    lg_params p = {0};
    p.ints[0] = r;
    p.scalar[0] = 0.1 * r;
    p.scalar_int = 2;
    p.flags = LG_FLAG_OPT1 | LG_FLAG_SCALAR_INT;
    lg_tensor *in[3] = {x, t, w};
    lg_tensor *seed = r == 0 ? sample(LG_FLOAT64, 2, ts, 12) : NULL;
    if (!seed) {
      CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 0, NULL, 1.5, &seed));
      keep(seed);
    }
    check_same("cross_entropy fused backward", grad_of(LG_OP_CROSS_ENTROPY, 3, in, &p, seed, false),
               grad_of(LG_OP_CROSS_ENTROPY, 3, in, &p, seed, true), 1e-13);
  }
  release_all();
}

int main(void) {
  ctx = lg_ctx_new(test_alloc_fn, &allocator);
  test_softmax(LG_FLOAT32, 2e-6);
  test_softmax(LG_FLOAT64, 1e-13);
  test_cross_entropy();
  test_norms(LG_FLOAT32, 2e-5);
  test_norms(LG_FLOAT64, 1e-12);
  test_fused_backward();
  lg_ctx_free(ctx);
  if (allocator.live_bytes != 0) {
    fprintf(stderr, "leaked %lld bytes\n", allocator.live_bytes);
    test_failures++;
  }
  return test_report("test_nn_loss");
}
