/* linear.c: the fused linear layer y = x w^T + b: one gemm (a gemv for a
 * single row) with the bias as gemm's C operand, instead of three ops
 * (transpose, matmul, add). The kernel behind nn.Linear and F.linear; its
 * single-row path is also lg_linear_row, which func.compile's plans call
 * directly for a linear step whose geometry the trace fixed. */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "blas_threads.h"
#include "core.h"
#include "dtype.h"
#include "gemm_tiled.h"
#include "parallel.h"

static lg_status fail_shapes(lg_ctx *ctx, const lg_tensor *x,
                             const lg_tensor *w) {
  char a[160], b[160];
  return lg_fail(ctx, LG_ERR_SHAPE,
                 "linear: input of shape %s and weight of shape %s don't fit "
                 "(expected weight (out_features, %lld))",
                 lg_shape_str(a, sizeof a, x->ndim, x->sizes),
                 lg_shape_str(b, sizeof b, w->ndim, w->sizes),
                 (long long)(x->ndim ? x->sizes[x->ndim - 1] : 0));
}

/* Checks dtypes and shapes; sets the output shape (..., out). */
static lg_status check_linear(lg_ctx *ctx, const lg_tensor *x,
                              const lg_tensor *w, const lg_tensor *b,
                              int *ndim, int64_t *sizes) {
  if (!lg_dtype_is_float(x->dtype) || x->dtype != w->dtype ||
      (b && b->dtype != x->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "linear: expected float32 or float64 input, weight and "
                   "bias of one dtype, got %s, %s%s%s",
                   lg_dtype_name(x->dtype), lg_dtype_name(w->dtype),
                   b ? " and " : "", b ? lg_dtype_name(b->dtype) : "");
  if (x->ndim < 1 || w->ndim != 2 || x->sizes[x->ndim - 1] != w->sizes[1])
    return fail_shapes(ctx, x, w);
  if (b && (b->ndim != 1 || b->sizes[0] != w->sizes[0])) {
    char s[160];
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "linear: expected a bias of shape {%lld}, got %s",
                   (long long)w->sizes[0],
                   lg_shape_str(s, sizeof s, b->ndim, b->sizes));
  }
  *ndim = x->ndim;
  for (int i = 0; i < x->ndim - 1; i++) sizes[i] = x->sizes[i];
  sizes[x->ndim - 1] = w->sizes[0];
  return LG_OK;
}

/* y rows (m, n) = bias each, or zeros */
static void init_rows(void *y, const lg_tensor *b, int64_t m, int64_t n,
                      size_t item) {
  if (!b) {
    memset(y, 0, (size_t)(m * n) * item);
    return;
  }
  const char *row = lg_data_ptr(b);
  for (int64_t i = 0; i < m; i++)
    memcpy((char *)y + (size_t)(i * n) * item, row, (size_t)n * item);
}

/* The least n * k of a gemv split across the pool: below it one thread
 * is quicker (a per-example func.grad loop over a 128 x 784 layer ran
 * slower at 2 threads than at 1 while its ~10 us gemvs split). */
#define GEMV_SPLIT 1048576.0

/* Rows [r0, r1) of y += w x (gemv_row). */
typedef struct gemv_job {
  lg_dtype dt;
  int64_t k;
  const void *x, *w;
  void *y;
} gemv_job;

static void gemv_rows(void *arg, int64_t r0, int64_t r1) {
  const gemv_job *j = arg;
  size_t es = lg_dtype_size(j->dt);
  const void *w = (const char *)j->w + (size_t)(r0 * j->k) * es;
  void *y = (char *)j->y + (size_t)r0 * es;
  if (j->dt == LG_FLOAT32)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(r1 - r0), (int)j->k, 1.0f,
                w, (int)j->k, j->x, 1, 1.0f, y, 1);
  else
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)(r1 - r0), (int)j->k, 1.0,
                w, (int)j->k, j->x, 1, 1.0, y, 1);
}

/* y (n) += w (n, k) x (k), contiguous; n, k in 1..INT_MAX. OpenBLAS runs
 * on the calling thread (blas_threads.h); a product of GEMV_SPLIT or more
 * splits its rows across the context's pool. */
static void gemv_row(lg_ctx *ctx, lg_dtype dt, int64_t n, int64_t k,
                     const void *x, const void *w, void *y) {
  gemv_job job = {dt, k, x, w, y};
  if (lg_blas_one_thread(true, 1, n, k)) {
    gemv_rows(&job, 0, n);
    return;
  }
  int threads = lg_ctx_num_threads(ctx);
  lg_blas_enter_count(1);
  /* a grain of one thread's share of the rows: each chunk is one step of
   * lg_parallel_for, so no interrupt look stops it halfway (a gemv never
   * stopped) */
  if (threads > 1 && n >= 2 * threads && (double)n * (double)k >= GEMV_SPLIT)
    (void)lg_parallel_for(ctx, n, n / threads, gemv_rows, &job);
  else
    gemv_rows(&job, 0, n);
  lg_blas_leave();
}

void lg_linear_row(lg_ctx *ctx, lg_dtype dt, int64_t n, int64_t k,
                   const void *x, const void *w, const void *b, void *y) {
  size_t item = dt == LG_FLOAT32 ? sizeof(float) : sizeof(double);
  if (b) memcpy(y, b, (size_t)n * item); /* init_rows of one row */
  else memset(y, 0, (size_t)n * item);
  gemv_row(ctx, dt, n, k, x, w, y);
}

/* x (..., in), w (out, in), bias (out) when LG_FLAG_OPT1 -> (..., out) */
lg_status lg_kernel_linear(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)op;
  bool has_bias = (p->flags & LG_FLAG_OPT1) != 0;
  if (n_in != (has_bias ? 3 : 2))
    return lg_fail(ctx, LG_ERR_ARG,
                   "linear: expected input, weight%s, got %d tensors",
                   has_bias ? " and bias" : "", n_in);
  int nd = 0;
  int64_t sizes[LG_MAX_DIMS];
  lg_status st = check_linear(ctx, in[0], in[1], has_bias ? in[2] : NULL,
                              &nd, sizes);
  if (st) return st;
  lg_tensor *x = NULL, *w = NULL, *b = NULL;
  lg_dtype dt = in[0]->dtype;
  st = lg_contiguous_as(ctx, in[0], dt, &x);
  if (!st) st = lg_contiguous_as(ctx, in[1], dt, &w);
  if (!st && has_bias) st = lg_contiguous_as(ctx, in[2], dt, &b);
  if (!st) st = lg_prepare_out(ctx, "linear", out, dt, nd, sizes);
  if (!st && !lg_tensor_is_contiguous(*out)) {
    lg_tensor_release(*out);
    st = lg_fail(ctx, LG_ERR_ARG, "linear: the output must be contiguous");
  }
  if (st) goto done;
  int64_t n = w->sizes[0], k = w->sizes[1];
  int64_t m = k ? lg_tensor_numel(x) / k : lg_shape_numel(nd - 1, sizes);
  size_t item = lg_dtype_size(dt);
  void *y = lg_data_ptr(*out);
  init_rows(y, b, m, n, item);
  if (m == 0 || n == 0 || k == 0) goto done;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX) {
    lg_tensor_release(*out);
    st = lg_fail(ctx, LG_ERR_SHAPE, "linear: dims beyond INT_MAX for BLAS");
    goto done;
  }
  /* OpenBLAS runs on the calling thread; lg_gemm splits a large product
   * across the context's pool (blas_threads.h) */
  if (m > 1) { /* tiled when large: an interrupt stops it between tiles */
    bool gate = !lg_blas_one_thread(false, m, n, k);
    if (gate) lg_blas_enter_count(1); /* lg_gemm splits across the pool */
    st = lg_gemm(ctx, dt, false, true, m, n, k, lg_data_ptr(x), k,
                 lg_data_ptr(w), k, 1.0, y, n);
    if (gate) lg_blas_leave();
    if (st) lg_tensor_release(*out);
  } else {
    gemv_row(ctx, dt, n, k, lg_data_ptr(x), lg_data_ptr(w), y);
  }
done:
  lg_tensor_release(x);
  lg_tensor_release(w);
  lg_tensor_release(b);
  return st;
}
