/* test_alloc_failure.c: every allocation of a set of C-level workloads
 * fails in turn. For each workload the allocator first counts the
 * allocations of a clean run; then, for every k up to that count, a fresh
 * context whose k-th allocation fails runs it again. Each k must give
 * a clean status with a message (never a crash), and once everything is
 * released the allocator's live count is back to zero (no leak). The
 * workloads: an autograd forward and backward (with a gradient of a
 * gradient), a batched matmul, a conv2d with its backward, a safetensors
 * save and load, a .npy round trip, a gzipped IDX load, and the samplers
 * and floating-point checks. */
#include <unistd.h>

#include "core.h" /* lg_fail */
#include "serialize.h"
#include "test_alloc.h"
#include "test_util.h"

static char dir[64];
static char fixtures[512];

/* A workload: runs in ctx, releases everything it made, and on success
 * writes a checksum of its results into *sum. */
typedef lg_status (*workload_fn)(lg_ctx *ctx, double *sum);

static double total_of(const lg_tensor *t) {
  double s = 0;
  for (int64_t i = 0; i < lg_tensor_numel(t); i++) s += lg_tensor_get(t, i);
  return s;
}

/* A tensor of dtype with values start, start+step, ... in the given shape
 * (NULL on failure; the status goes to *st). */
static lg_tensor *ramp(lg_ctx *ctx, lg_status *st, lg_dtype dtype, int ndim,
                       const int64_t *sizes, double start, double step) {
  lg_tensor *t = NULL;
  if (*st) return NULL;
  if ((*st = lg_empty(ctx, dtype, ndim, sizes, &t))) return NULL;
  for (int64_t i = 0; i < lg_tensor_numel(t); i++)
    lg_tensor_set(t, i, start + step * (double)i);
  return t;
}

static lg_tensor *op(lg_ctx *ctx, lg_status *st, lg_op o, int n,
                     lg_tensor *a, lg_tensor *b, const lg_params *p) {
  lg_tensor *in[2] = {a, b}, *out = NULL;
  if (*st) return NULL;
  *st = lg_op_run(ctx, o, n, in, p, &out);
  return out;
}

/* y = relu(x @ w + b); loss = sum(y * y); backward; then the gradient of
 * loss with respect to x, recorded, squared and summed, backward again. */
static lg_status autograd_workload(lg_ctx *ctx, double *sum) {
  lg_status st = LG_OK;
  int64_t xs[2] = {2, 3}, ws[2] = {3, 4}, bs[1] = {4};
  lg_tensor *x = ramp(ctx, &st, LG_FLOAT64, 2, xs, -1, 0.25);
  lg_tensor *w = ramp(ctx, &st, LG_FLOAT64, 2, ws, 0.5, -0.125);
  lg_tensor *b = ramp(ctx, &st, LG_FLOAT64, 1, bs, 0.1, 0.1);
  if (!st) st = lg_tensor_set_requires_grad(ctx, x, true);
  if (!st) st = lg_tensor_set_requires_grad(ctx, w, true);
  if (!st) st = lg_tensor_set_requires_grad(ctx, b, true);
  lg_tensor *xw = op(ctx, &st, LG_OP_MATMUL, 2, x, w, NULL);
  lg_tensor *z = op(ctx, &st, LG_OP_ADD, 2, xw, b, NULL);
  lg_tensor *y = op(ctx, &st, LG_OP_TANH, 1, z, NULL, NULL);
  lg_tensor *yy = op(ctx, &st, LG_OP_MUL, 2, y, y, NULL);
  lg_tensor *loss = op(ctx, &st, LG_OP_SUM, 1, yy, NULL, NULL);
  lg_backward_opts keep = {true, false, false};
  if (!st) st = lg_autograd_backward(ctx, 1, &loss, NULL, &keep);
  lg_tensor *gx = NULL;
  lg_backward_opts create = {true, true, false};
  if (!st) st = lg_autograd_grad(ctx, 1, &loss, NULL, 1, &x, &create, &gx);
  lg_tensor *gg = op(ctx, &st, LG_OP_MUL, 2, gx, gx, NULL);
  lg_tensor *s = op(ctx, &st, LG_OP_SUM, 1, gg, NULL, NULL);
  if (!st) st = lg_autograd_backward(ctx, 1, &s, NULL, NULL);
  if (!st) {
    if (!lg_tensor_grad(x) || !lg_tensor_grad(w) || !lg_tensor_grad(b))
      st = lg_fail(ctx, LG_ERR_RUNTIME, "a gradient is missing");
    else
      *sum = total_of(lg_tensor_grad(x)) + total_of(lg_tensor_grad(w)) +
             total_of(lg_tensor_grad(b)) + lg_tensor_get(loss, 0);
  }
  lg_tensor *all[] = {x, w, b, xw, z, y, yy, loss, gx, gg, s};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
  return st;
}

/* (2,3,4) @ (4,5) broadcast, then a transposed (strided) operand. */
static lg_status matmul_workload(lg_ctx *ctx, double *sum) {
  lg_status st = LG_OK;
  int64_t as[3] = {2, 3, 4}, bs[2] = {4, 5}, cs[2] = {4, 5};
  lg_tensor *a = ramp(ctx, &st, LG_FLOAT32, 3, as, -2, 0.125);
  lg_tensor *b = ramp(ctx, &st, LG_FLOAT32, 2, bs, 1, -0.25);
  lg_tensor *c = ramp(ctx, &st, LG_FLOAT32, 2, cs, 0, 0.5);
  lg_tensor *ab = op(ctx, &st, LG_OP_MATMUL, 2, a, b, NULL);
  lg_params tp = {0};
  tp.n_ints = 2;
  tp.ints[0] = 1;
  tp.ints[1] = 0;
  lg_tensor *ct = op(ctx, &st, LG_OP_PERMUTE, 1, c, NULL, &tp);
  lg_tensor *abc = op(ctx, &st, LG_OP_MATMUL, 2, ab, ct, NULL);
  if (!st) *sum = total_of(abc);
  lg_tensor *all[] = {a, b, c, ab, ct, abc};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
  return st;
}

/* conv2d (stride 1, padding 1, with bias) and its backward. */
static lg_status conv_workload(lg_ctx *ctx, double *sum) {
  lg_status st = LG_OK;
  int64_t xs[4] = {2, 2, 5, 5}, ws[4] = {3, 2, 3, 3}, bs[1] = {3};
  lg_tensor *x = ramp(ctx, &st, LG_FLOAT32, 4, xs, -1, 0.02);
  lg_tensor *w = ramp(ctx, &st, LG_FLOAT32, 4, ws, 0.3, -0.01);
  lg_tensor *b = ramp(ctx, &st, LG_FLOAT32, 1, bs, 0, 1);
  if (!st) st = lg_tensor_set_requires_grad(ctx, x, true);
  if (!st) st = lg_tensor_set_requires_grad(ctx, w, true);
  if (!st) st = lg_tensor_set_requires_grad(ctx, b, true);
  lg_params p = {0};
  int64_t geometry[8] = {1, 1, 1, 1, 1, 1, 0, 0}; /* stride, pad, dilation */
  for (int i = 0; i < 8; i++) p.ints[i] = geometry[i];
  p.n_ints = 8;
  p.scalar_int = 1; /* groups */
  p.flags = LG_FLAG_OPT1;
  lg_tensor *in[3] = {x, w, b}, *y = NULL;
  if (!st) st = lg_op_run(ctx, LG_OP_CONV2D, 3, in, &p, &y);
  lg_tensor *loss = op(ctx, &st, LG_OP_SUM, 1, y, NULL, NULL);
  if (!st) st = lg_autograd_backward(ctx, 1, &loss, NULL, NULL);
  if (!st)
    *sum = lg_tensor_get(loss, 0) + total_of(lg_tensor_grad(x)) +
           total_of(lg_tensor_grad(w)) + total_of(lg_tensor_grad(b));
  lg_tensor *all[] = {x, w, b, y, loss};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
  return st;
}

/* Three tensors and metadata to safetensors and back. */
static lg_status safetensors_workload(lg_ctx *ctx, double *sum) {
  lg_status st = LG_OK;
  char path[128];
  snprintf(path, sizeof path, "%s/round.safetensors", dir);
  int64_t s1[2] = {3, 4}, s2[1] = {5};
  lg_tensor *a = ramp(ctx, &st, LG_FLOAT32, 2, s1, 0, 1.5);
  lg_tensor *b = ramp(ctx, &st, LG_INT64, 1, s2, -2, 1);
  lg_tensor *c = ramp(ctx, &st, LG_FLOAT64, 0, NULL, 2.5, 0);
  const char *names[3] = {"weight", "layer.bias", "scale"};
  lg_tensor *ts[3] = {a, b, c};
  const char *meta[4] = {"format", "pt", "note", "alloc failure"};
  if (!st) st = lg_safetensors_save(ctx, path, 3, names, ts, 2, meta);
  lg_safetensors *file = NULL;
  if (!st) st = lg_safetensors_load(ctx, path, &file);
  if (!st) {
    *sum = 0;
    if (file->n_tensors != 3 || file->n_metadata != 2)
      st = lg_fail(ctx, LG_ERR_RUNTIME, "round trip lost entries");
    for (int64_t i = 0; i < file->n_tensors && !st; i++)
      *sum += total_of(file->tensors[i]) * (double)(i + 1);
  }
  lg_safetensors_free(ctx, file);
  for (int i = 0; i < 3; i++) lg_tensor_release(ts[i]);
  return st;
}

/* A .npy save and load, and a gzipped IDX file from the fixtures. */
static lg_status npy_idx_workload(lg_ctx *ctx, double *sum) {
  lg_status st = LG_OK;
  char path[128], idx_path[640];
  snprintf(path, sizeof path, "%s/a.npy", dir);
  snprintf(idx_path, sizeof idx_path, "%s/idx/images-idx3-ubyte.gz", fixtures);
  int64_t s[3] = {2, 1, 3};
  lg_tensor *a = ramp(ctx, &st, LG_FLOAT64, 3, s, 1, 0.5), *back = NULL,
            *images = NULL;
  if (!st) st = lg_npy_save(ctx, path, a);
  if (!st) st = lg_npy_load(ctx, path, &back);
  if (!st) st = lg_idx_load(ctx, idx_path, &images);
  if (!st) *sum = total_of(back) + total_of(images);
  lg_tensor_release(a);
  lg_tensor_release(back);
  lg_tensor_release(images);
  return st;
}

/* Runs w once cleanly, then with allocation k (and every later one) failing,
 * for each k up to the clean run's count. */
/* The samplers and floating-point checks: multinomial with and without
 * replacement, bernoulli, normal, uniform_ into a tensor inside the graph,
 * nan_to_num and its backward, isclose. */
static lg_status sample_workload(lg_ctx *ctx, double *sum) {
  lg_status st = LG_OK;
  int64_t ws[2] = {3, 5}, xs[2] = {2, 3};
  lg_tensor *w = ramp(ctx, &st, LG_FLOAT32, 2, ws, 0.5, 0.25);
  lg_tensor *p = ramp(ctx, &st, LG_FLOAT32, 2, ws, 0.05, 0.05);
  lg_tensor *x = ramp(ctx, &st, LG_FLOAT64, 2, xs, -1, 0.5);
  lg_tensor *m1 = NULL, *m2 = NULL, *b = NULL, *nrm = NULL;
  if (!st) st = lg_multinomial(ctx, w, 4, false, &m1);
  if (!st) st = lg_multinomial(ctx, w, 7, true, &m2);
  if (!st) st = lg_bernoulli(ctx, p, &b);
  if (!st) st = lg_normal(ctx, w, p, &nrm);
  if (!st) st = lg_tensor_set_requires_grad(ctx, x, true);
  lg_tensor *y = op(ctx, &st, LG_OP_ADD, 2, x, x, NULL);
  if (!st) st = lg_uniform_(ctx, y, -1, 1);
  lg_params fix = {0};
  fix.scalar[0] = 1;
  fix.scalar[1] = 2;
  fix.scalar[2] = -2;
  lg_tensor *n = op(ctx, &st, LG_OP_NAN_TO_NUM, 1, x, NULL, &fix);
  lg_tensor *yn = op(ctx, &st, LG_OP_MUL, 2, y, n, NULL);
  lg_tensor *loss = op(ctx, &st, LG_OP_SUM, 1, yn, NULL, NULL);
  if (!st) st = lg_autograd_backward(ctx, 1, &loss, NULL, NULL);
  lg_params tol = {0};
  tol.scalar[0] = 1e-5;
  lg_tensor *close = op(ctx, &st, LG_OP_ISCLOSE, 2, w, nrm, &tol);
  if (!st && !lg_tensor_grad(x))
    st = lg_fail(ctx, LG_ERR_RUNTIME, "a gradient is missing");
  if (!st)
    *sum = total_of(m1) + total_of(m2) + total_of(b) + total_of(nrm) +
           total_of(lg_tensor_grad(x)) + total_of(close);
  lg_tensor *all[] = {w, p, x, m1, m2, b, nrm, y, n, yn, loss, close};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
  return st;
}

static void fail_each_allocation(const char *name, workload_fn w) {
  test_alloc counter = TEST_ALLOC_UNLIMITED;
  lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &counter);
  double want = 0;
  CHECK(ctx != NULL);
  if (!ctx) return;
  CHECK_OK(ctx, w(ctx, &want));
  lg_ctx_free(ctx);
  long total = LONG_MAX - counter.budget;
  CHECK(counter.live == 0);
  int failures_before = test_failures;
  long clean_errors = 0;
  for (long k = 0; k <= total && test_failures == failures_before; k++) {
    test_alloc g = {k, 0, 0};
    ctx = lg_ctx_new(test_alloc_fn, &g);
    if (ctx) {
      double got = 0;
      lg_status st = w(ctx, &got);
      if (st != LG_OK) {
        clean_errors++;
        if (!lg_ctx_error(ctx)[0]) {
          fprintf(stderr, "%s: allocation %ld failed: status %d with no "
                  "message\n", name, k, (int)st);
          test_failures++;
        }
      } else if (got != want) {
        fprintf(stderr, "%s: allocation %ld: success with a different "
                "result (%.17g, want %.17g)\n", name, k, got, want);
        test_failures++;
      }
      if (k == total && st != LG_OK) {
        fprintf(stderr, "%s: failed with every allocation granted: %s\n",
                name, lg_ctx_error(ctx));
        test_failures++;
      }
      lg_ctx_free(ctx);
    }
    if (g.live != 0 || g.live_bytes != 0) {
      fprintf(stderr, "%s: allocation %ld failed: %ld block(s), %lld "
              "byte(s) leaked\n", name, k, g.live, g.live_bytes);
      test_failures++;
    }
  }
  printf("%s: %ld allocations, each failed in turn (%ld clean errors)\n",
         name, total, clean_errors);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/lg_alloc_failure_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  /* the fixtures sit beside this file: tests/c/ -> tests/fixtures/ */
  snprintf(fixtures, sizeof fixtures, "%s", __FILE__);
  char *slash = strrchr(fixtures, '/');
  if (slash) *slash = '\0';
  else snprintf(fixtures, sizeof fixtures, ".");
  strncat(fixtures, "/../fixtures", sizeof fixtures - strlen(fixtures) - 1);

  fail_each_allocation("autograd", autograd_workload);
  fail_each_allocation("matmul", matmul_workload);
  fail_each_allocation("conv2d", conv_workload);
  fail_each_allocation("safetensors", safetensors_workload);
  fail_each_allocation("npy+idx", npy_idx_workload);
  fail_each_allocation("samplers", sample_workload);

  char path[128];
  const char *files[] = {"round.safetensors", "a.npy"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  /* a failed save leaves no temporary file behind */
  int leftovers = 0;
  char cmd[160];
  snprintf(cmd, sizeof cmd, "ls -A %s", dir);
  FILE *ls = popen(cmd, "r");
  if (ls) {
    char line[256];
    while (fgets(line, sizeof line, ls)) {
      fprintf(stderr, "left behind in %s: %s", dir, line);
      leftovers++;
    }
    pclose(ls);
  }
  CHECK(leftovers == 0);
  CHECK(rmdir(dir) == 0);
  return test_report("test_alloc_failure");
}
