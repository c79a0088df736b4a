/* linalg.c: matrix products: matmul with torch.matmul's rules (1-D/2-D
 * mixes, batched and broadcast), through gemm (gemm_tiled.h: OpenBLAS, or
 * luagrad's AVX-512 sgemm) for float32/float64 and a plain triple loop
 * otherwise, plus the composites mm, bmm, mv, dot, outer and addmm. A batch
 * runs as one gemm when it folds (a's matrices stacked against one b, one a
 * against b's columns).
 *
 * Invariant: the naive strided kernel (matmul_reference) handles every
 * dtype and every layout; the BLAS path is an optimisation that must agree
 * with it (tests/c/test_linalg.c compares them).
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blas_threads.h"
#include "core.h"
#include "dtype.h"
#include "gemm_tiled.h"
#include "ops.h"
#include "iter.h"
#include "outer_rows.h"
#include "parallel.h"


/* One matmul problem after the 1-D operands are promoted to matrices:
 * out[batch] (M,N) = a[batch] (M,K) @ b[batch] (K,N). Batch strides are in
 * elements and 0 along broadcast dims; out is contiguous. */
typedef struct mm_problem {
  lg_dtype dtype;                    /* compute and result dtype          */
  int batch_ndim;
  int64_t batch[LG_MAX_DIMS];        /* broadcast batch shape             */
  int64_t a_batch_stride[LG_MAX_DIMS];
  int64_t b_batch_stride[LG_MAX_DIMS];
  int64_t batch_count;
  int64_t m, n, k;
  int64_t a_row, a_col;              /* a's strides along M and K         */
  int64_t b_row, b_col;              /* b's strides along K and N         */
  int out_ndim;
  int64_t out_sizes[LG_MAX_DIMS];
} mm_problem;

/* Checks operands and works out the geometry of a @ b (strides of a and b
 * as given; the caller may replace the operands by converted copies of the
 * same shape and refresh the strides with problem_strides). */
static lg_status plan_matmul(lg_ctx *ctx, const lg_tensor *a,
                             const lg_tensor *b, mm_problem *pr) {
  char sa[160], sb[160];
  if (a->ndim == 0 || b->ndim == 0)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "matmul: both arguments need at least 1 dimension, got "
                   "shapes %s and %s",
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
  if (a->dtype == LG_BOOL || b->dtype == LG_BOOL)
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "matmul: bool tensors are not supported, got %s and %s",
                   lg_dtype_name(a->dtype), lg_dtype_name(b->dtype));
  int64_t k_a = a->sizes[a->ndim - 1];
  int64_t k_b = b->ndim == 1 ? b->sizes[0] : b->sizes[b->ndim - 2];
  if (k_a != k_b)
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "matmul: shapes %s and %s can't be multiplied (%lld != "
                   "%lld)",
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes),
                   (long long)k_a, (long long)k_b);
  pr->dtype = lg_promote(a->dtype, b->dtype);
  pr->k = k_a;
  pr->m = a->ndim == 1 ? 1 : a->sizes[a->ndim - 2];
  pr->n = b->ndim == 1 ? 1 : b->sizes[b->ndim - 1];
  int a_bd = a->ndim > 2 ? a->ndim - 2 : 0;
  int b_bd = b->ndim > 2 ? b->ndim - 2 : 0;
  lg_status st = lg_broadcast_sizes(ctx, "matmul", a_bd, a->sizes, b_bd,
                                    b->sizes, &pr->batch_ndim, pr->batch);
  if (st) {
    /* restate with the full shapes, which say more than the batch dims */
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "matmul: batch dims of shapes %s and %s are not "
                   "broadcastable",
                   lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                   lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
  }
  pr->batch_count = lg_shape_numel(pr->batch_ndim, pr->batch);
  int nd = 0;
  for (int i = 0; i < pr->batch_ndim; i++) pr->out_sizes[nd++] = pr->batch[i];
  if (a->ndim > 1) pr->out_sizes[nd++] = pr->m;
  if (b->ndim > 1) pr->out_sizes[nd++] = pr->n;
  pr->out_ndim = nd;
  return lg_check_shape(ctx, "matmul", nd, pr->out_sizes, NULL);
}

/* Fills in the element strides of a and b (which may be converted copies
 * of the operands plan_matmul saw, with the same shapes). */
static void problem_strides(mm_problem *pr, const lg_tensor *a,
                            const lg_tensor *b) {
  if (a->ndim == 1) {
    pr->a_row = 0;
    pr->a_col = a->strides[0];
  } else {
    pr->a_row = a->strides[a->ndim - 2];
    pr->a_col = a->strides[a->ndim - 1];
  }
  if (b->ndim == 1) {
    pr->b_row = b->strides[0];
    pr->b_col = 0;
  } else {
    pr->b_row = b->strides[b->ndim - 2];
    pr->b_col = b->strides[b->ndim - 1];
  }
  int a_bd = a->ndim > 2 ? a->ndim - 2 : 0;
  int b_bd = b->ndim > 2 ? b->ndim - 2 : 0;
  for (int i = 0; i < pr->batch_ndim; i++) {
    int ia = a_bd - pr->batch_ndim + i, ib = b_bd - pr->batch_ndim + i;
    pr->a_batch_stride[i] =
        ia >= 0 && a->sizes[ia] != 1 ? a->strides[ia] : 0;
    pr->b_batch_stride[i] =
        ib >= 0 && b->sizes[ib] != 1 ? b->strides[ib] : 0;
  }
}

/* Element offsets of batch number index in a and b. */
static void batch_offsets(const mm_problem *pr, int64_t index, int64_t *oa,
                          int64_t *ob) {
  *oa = 0;
  *ob = 0;
  for (int i = pr->batch_ndim - 1; i >= 0; i--) {
    int64_t pos = index % pr->batch[i];
    index /= pr->batch[i];
    *oa += pos * pr->a_batch_stride[i];
    *ob += pos * pr->b_batch_stride[i];
  }
}

/* ---- naive strided kernel ------------------------------------------------ */

/* Integers multiply and add in uint64 so overflow wraps as in PyTorch;
 * floating point accumulates in double. An interrupt stops it between
 * rows. */
#define NAIVE_KERNEL(NAME, T, ACC, PRODUCT)                                  \
  static lg_status NAME(lg_ctx *ctx, const mm_problem *pr,                   \
                        const char *a_data, const char *b_data,              \
                        char *out_data) {                                    \
    const T *a = (const T *)(const void *)a_data;                            \
    const T *b = (const T *)(const void *)b_data;                            \
    T *out = (T *)(void *)out_data;                                          \
    for (int64_t bi = 0; bi < pr->batch_count; bi++) {                       \
      int64_t oa, ob;                                                        \
      batch_offsets(pr, bi, &oa, &ob);                                       \
      T *o = out + bi * pr->m * pr->n;                                       \
      for (int64_t i = 0; i < pr->m; i++) {                                  \
        if (lg_interrupt_pending(ctx)) return lg_check_interrupt(ctx);       \
        for (int64_t j = 0; j < pr->n; j++) {                                \
          ACC sum = 0;                                                       \
          const T *pa = a + oa + i * pr->a_row;                              \
          const T *pb = b + ob + j * pr->b_col;                              \
          for (int64_t kk = 0; kk < pr->k; kk++)                             \
            sum += PRODUCT(pa[kk * pr->a_col], pb[kk * pr->b_row]);          \
          o[i * pr->n + j] = (T)sum;                                         \
        }                                                                    \
      }                                                                      \
    }                                                                        \
    return LG_OK;                                                            \
  }
#define INT_PRODUCT(x, y) ((uint64_t)(x) * (uint64_t)(y))
#define FLOAT_PRODUCT(x, y) ((double)(x) * (double)(y))
NAIVE_KERNEL(naive_u8, uint8_t, uint64_t, INT_PRODUCT)
NAIVE_KERNEL(naive_i32, int32_t, uint64_t, INT_PRODUCT)
NAIVE_KERNEL(naive_i64, int64_t, uint64_t, INT_PRODUCT)
NAIVE_KERNEL(naive_f32, float, double, FLOAT_PRODUCT)
NAIVE_KERNEL(naive_f64, double, double, FLOAT_PRODUCT)

/* a, b (already of pr->dtype) -> out (contiguous, pr->dtype) */
static lg_status run_naive(lg_ctx *ctx, const mm_problem *pr,
                           const lg_tensor *a, const lg_tensor *b,
                           lg_tensor *out) {
  const char *da = lg_data_ptr(a), *db = lg_data_ptr(b);
  char *d = lg_data_ptr(out);
  switch (pr->dtype) {
    case LG_UINT8: return naive_u8(ctx, pr, da, db, d);
    case LG_INT32: return naive_i32(ctx, pr, da, db, d);
    case LG_INT64: return naive_i64(ctx, pr, da, db, d);
    case LG_FLOAT32: return naive_f32(ctx, pr, da, db, d);
    case LG_FLOAT64: return naive_f64(ctx, pr, da, db, d);
    default: return LG_OK;
  }
}

/* ---- BLAS path ------------------------------------------------------------- */

/* How BLAS reads one operand matrix (rows x cols with element strides
 * row_stride, col_stride): row-major as is, or as the transpose of a
 * row-major matrix. False when neither fits (the caller copies). */
static bool blas_layout(int64_t rows, int64_t cols, int64_t row_stride,
                        int64_t col_stride, CBLAS_TRANSPOSE *trans,
                        int64_t *ld) {
  int64_t min_ld_plain = cols > 1 ? cols : 1;
  int64_t min_ld_trans = rows > 1 ? rows : 1;
  if ((cols <= 1 || col_stride == 1) &&
      (rows <= 1 || row_stride >= min_ld_plain)) {
    *trans = CblasNoTrans;
    *ld = rows <= 1 ? min_ld_plain : row_stride;
    return *ld <= INT_MAX;
  }
  if ((rows <= 1 || row_stride == 1) &&
      (cols <= 1 || col_stride >= min_ld_trans)) {
    *trans = CblasTrans;
    *ld = cols <= 1 ? min_ld_trans : col_stride;
    return *ld <= INT_MAX;
  }
  return false;
}

/* ---- large outer products (k = 1) -------------------------------------- */

/* A large batch of outer products (the per-example weight gradients of
 * vmap(grad)): rows split across the context's threads, written with
 * AVX-512 stores of whole lines where the machine has them
 * (outer_rows.h), else by lg_gemm_call's one-pass loop. */
typedef struct outer_job {
  const mm_problem *pr;
  const char *a, *b;
  char *out;
  bool ta, tb;
  int64_t lda, ldb, sa; /* sa: a's stride along M */
} outer_job;

/* Rows [begin, end) of all the batch's products, (batch, row) flattened. */
static void run_outer_rows(void *arg, int64_t begin, int64_t end) {
  const outer_job *j = arg;
  const mm_problem *pr = j->pr;
  int64_t m = pr->m, n = pr->n, es = (int64_t)lg_dtype_size(pr->dtype);
  while (begin < end) {
    int64_t bi = begin / m, i = begin % m;
    int64_t rows = m - i < end - begin ? m - i : end - begin;
    int64_t oa, ob;
    batch_offsets(pr, bi, &oa, &ob);
    const char *a = j->a + (oa + i * j->sa) * es, *b = j->b + ob * es;
    char *c = j->out + (bi * m + i) * n * es;
    bool done = pr->dtype == LG_FLOAT32
                    ? lg_outer_rows_f32(rows, n, (const float *)(const void *)a,
                                        j->sa, (const float *)(const void *)b,
                                        (float *)(void *)c, n)
                    : lg_outer_rows_f64(rows, n, (const double *)(const void *)a,
                                        j->sa, (const double *)(const void *)b,
                                        (double *)(void *)c, n);
    if (!done)
      lg_gemm_call(pr->dtype, j->ta, j->tb, rows, n, 1, a, j->lda, b, j->ldb,
                   0.0, c, n);
    begin += rows;
  }
}

/* Runs the products as a large outer-product batch when they are one (k
 * = 1, b's row contiguous, the output at least LG_OUTER_ROWS_BYTES);
 * false when they are not. */
static bool run_outer(lg_ctx *ctx, const mm_problem *pr, const lg_tensor *a,
                      CBLAS_TRANSPOSE ta, int64_t lda, const lg_tensor *b,
                      CBLAS_TRANSPOSE tb, int64_t ldb, lg_tensor *out,
                      lg_status *st) {
  int64_t rows = pr->batch_count * pr->m, n = pr->n;
  int64_t es = (int64_t)lg_dtype_size(pr->dtype);
  int64_t sb = tb == CblasTrans ? ldb : 1;
  if (pr->k != 1 || sb != 1 || rows * n * es < LG_OUTER_ROWS_BYTES)
    return false;
  outer_job j = {.pr = pr, .a = lg_data_ptr(a), .b = lg_data_ptr(b),
                 .out = lg_data_ptr(out), .ta = ta == CblasTrans,
                 .tb = tb == CblasTrans, .lda = lda, .ldb = ldb,
                 .sa = ta == CblasTrans ? 1 : lda};
  int64_t grain = LG_GRAIN_CHEAP / n > 0 ? LG_GRAIN_CHEAP / n : 1;
  *st = lg_parallel_for(ctx, rows, grain, run_outer_rows, &j);
  return true;
}

/* out (batches, M, 1) = op(a) (M, K) @ each of b's batch_count contiguous
 * columns (K, 1), as one product (batches, K) @ op(a)^T (K, M). */
static lg_status vectors_as_rows(lg_ctx *ctx, const mm_problem *pr,
                                 const lg_tensor *a, CBLAS_TRANSPOSE ta,
                                 int64_t lda, const lg_tensor *b,
                                 lg_tensor *out) {
  int64_t rows = pr->batch_count;
  bool gate = !lg_blas_one_thread(false, rows, pr->m, pr->k);
  if (gate) lg_blas_enter_count(1);
  lg_status st = lg_gemm(ctx, pr->dtype, false, ta == CblasNoTrans, rows,
                         pr->m, pr->k, lg_data_ptr(b), pr->k, lg_data_ptr(a),
                         lda, 0.0, lg_data_ptr(out), pr->m);
  if (gate) lg_blas_leave();
  return st;
}

/* a, b (float32 or float64, BLAS-readable) -> out. Calls one gemm per batch
 * entry, or a single gemm when the batch folds into M (a's matrices
 * stacked against one b, or one a against b's columns); lg_gemm tiles a
 * large one so an interrupt stops it between tiles. */
static lg_status run_blas(lg_ctx *ctx, const mm_problem *pr,
                          const lg_tensor *a, CBLAS_TRANSPOSE ta, int64_t lda,
                          const lg_tensor *b, CBLAS_TRANSPOSE tb, int64_t ldb,
                          lg_tensor *out) {
  lg_status outer_st = LG_OK;
  if (run_outer(ctx, pr, a, ta, lda, b, tb, ldb, out, &outer_st))
    return outer_st;
  int64_t batches = pr->batch_count, m = pr->m;
  /* a's batch of row-major matrices stacked contiguously against one b:
   * one (batches*M, K) @ (K, N) product */
  bool b_shared = true;
  for (int i = 0; i < pr->batch_ndim; i++)
    b_shared = b_shared && pr->b_batch_stride[i] == 0;
  if (batches > 1 && b_shared && ta == CblasNoTrans && lg_tensor_is_contiguous(a) &&
      lda == (pr->k > 1 ? pr->k : 1) && a->ndim >= 2 &&
      lg_tensor_numel(a) == batches * m * pr->k && batches * m <= INT_MAX) {
    m = batches * m;
    batches = 1;
  }
  /* one a against b's batch of contiguous columns (n = 1: a matrix times
   * a batch of vectors, as jacrev's batched vjp of W @ v makes): the
   * outputs, stacked, are (batches, M) = b's columns as rows (batches, K)
   * @ op(a)^T, one product instead of one per column */
  bool a_shared = true;
  for (int i = 0; i < pr->batch_ndim; i++)
    a_shared = a_shared && pr->a_batch_stride[i] == 0;
  if (batches > 1 && a_shared && pr->n == 1 && pr->k > 1 &&
      lg_tensor_is_contiguous(b) && lg_tensor_numel(b) == batches * pr->k &&
      batches <= INT_MAX)
    return vectors_as_rows(ctx, pr, a, ta, lda, b, out);
  /* OpenBLAS runs on the calling thread; lg_gemm splits a large product
   * across the context's pool (blas_threads.h) */
  bool gate = !lg_blas_one_thread(false, m, pr->n, pr->k);
  if (gate) lg_blas_enter_count(1);
  size_t es = lg_dtype_size(pr->dtype);
  lg_status st = LG_OK;
  for (int64_t bi = 0; bi < batches; bi++) {
    int64_t oa, ob;
    batch_offsets(pr, bi, &oa, &ob);
    st = lg_gemm(ctx, pr->dtype, ta == CblasTrans, tb == CblasTrans, m, pr->n,
                 pr->k, lg_data_ptr(a) + oa * (int64_t)es, lda,
                 lg_data_ptr(b) + ob * (int64_t)es, ldb, 0.0,
                 lg_data_ptr(out) + bi * m * pr->n * (int64_t)es,
                 pr->n > 1 ? pr->n : 1);
    if (st) break;
  }
  if (gate) lg_blas_leave();
  return st;
}

/* Replaces *t (a reference owned by the caller) by a contiguous copy of
 * dtype (the same tensor when it already is one). */
static lg_status make_contiguous(lg_ctx *ctx, lg_tensor **t, lg_dtype dtype) {
  lg_tensor *copy = NULL;
  lg_status st = lg_contiguous_as(ctx, *t, dtype, &copy);
  if (st) return st;
  lg_tensor_release(*t);
  *t = copy;
  return LG_OK;
}

/* The rows x cols geometry of operand a or b of pr. */
static void operand_matrix(const mm_problem *pr, bool is_a, int64_t *rows,
                           int64_t *cols, int64_t *rs, int64_t *cs) {
  if (is_a) {
    *rows = pr->m; *cols = pr->k; *rs = pr->a_row; *cs = pr->a_col;
  } else {
    *rows = pr->k; *cols = pr->n; *rs = pr->b_row; *cs = pr->b_col;
  }
}

/* Whether the caller's output can take the product directly: contiguous,
 * of the computed dtype and shape, and not overlapping an operand. */
static bool writes_directly(const mm_problem *pr, const lg_tensor *dest,
                            const lg_tensor *a, const lg_tensor *b) {
  return dest && dest->dtype == pr->dtype &&
         lg_tensor_has_shape(dest, pr->out_ndim, pr->out_sizes) &&
         lg_tensor_is_contiguous(dest) && !lg_tensor_same_storage(dest, a) &&
         !lg_tensor_same_storage(dest, b);
}

/* Computes a @ b into a new contiguous tensor, or into dest (a new
 * reference to it) when writes_directly allows; use_blas picks the path. */
static lg_status matmul_compute(lg_ctx *ctx, lg_tensor *a_in,
                                lg_tensor *b_in, lg_tensor *dest,
                                bool use_blas, lg_tensor **result) {
  mm_problem pr;
  lg_status st = plan_matmul(ctx, a_in, b_in, &pr);
  if (st) return st;
  lg_tensor *a = lg_tensor_retain(a_in), *b = lg_tensor_retain(b_in);
  lg_tensor *out = NULL;
  if (a->dtype != pr.dtype && (st = make_contiguous(ctx, &a, pr.dtype)))
    goto done;
  if (b->dtype != pr.dtype && (st = make_contiguous(ctx, &b, pr.dtype)))
    goto done;
  if (writes_directly(&pr, dest, a_in, b_in))
    out = lg_tensor_retain(dest);
  else if ((st = lg_empty(ctx, pr.dtype, pr.out_ndim, pr.out_sizes, &out)))
    goto done;
  problem_strides(&pr, a, b);
  if (pr.batch_count == 0 || pr.m == 0 || pr.n == 0) goto done;
  bool blas = use_blas && lg_dtype_is_float(pr.dtype) && pr.m <= INT_MAX &&
              pr.n <= INT_MAX && pr.k <= INT_MAX && pr.k > 0;
  if (!blas) {
    st = run_naive(ctx, &pr, a, b, out);
    goto done;
  }
  CBLAS_TRANSPOSE trans[2];
  int64_t ld[2];
  for (int which = 0; which < 2; which++) {
    int64_t rows, cols, rs, cs;
    operand_matrix(&pr, which == 0, &rows, &cols, &rs, &cs);
    if (blas_layout(rows, cols, rs, cs, &trans[which], &ld[which])) continue;
    lg_tensor **t = which == 0 ? &a : &b;
    if ((st = make_contiguous(ctx, t, pr.dtype))) goto done;
    problem_strides(&pr, a, b);
    operand_matrix(&pr, which == 0, &rows, &cols, &rs, &cs);
    if (!blas_layout(rows, cols, rs, cs, &trans[which], &ld[which])) {
      st = run_naive(ctx, &pr, a, b, out); /* leading dims past INT_MAX */
      goto done;
    }
  }
  st = run_blas(ctx, &pr, a, trans[0], ld[0], b, trans[1], ld[1], out);
done:
  lg_tensor_release(a);
  lg_tensor_release(b);
  if (st) {
    lg_tensor_release(out);
    return st;
  }
  *result = out;
  return LG_OK;
}

/* Naive strided matmul of any non-bool dtypes: the oracle for the tests. */
lg_status lg_matmul_reference(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                              lg_tensor **out) {
  *out = NULL;
  return matmul_compute(ctx, a, b, NULL, false, out);
}

/* a (...,M,K) or (K), b (...,K,N) or (K) -> out (broadcast batch, M, N)
 * with the 1-D operand's dim removed, as torch.matmul */
lg_status lg_kernel_matmul(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)op;
  (void)n_in;
  (void)p;
  lg_tensor *result = NULL;
  lg_status st = matmul_compute(ctx, in[0], in[1], *out, true, &result);
  if (st) return st;
  if (!*out || result == *out) { /* new, or written straight into out */
    *out = result;
    return LG_OK;
  }
  /* a caller-provided output: check it, then copy the result in */
  lg_tensor *given = *out;
  st = lg_prepare_out(ctx, "matmul", out, result->dtype, result->ndim,
                      result->sizes);
  if (st) {
    *out = given;
    lg_tensor_release(result);
    return st;
  }
  lg_params cp = {0};
  cp.flags = LG_FLAG_INPLACE;
  lg_tensor *copied = NULL;
  st = lg_run2(ctx, LG_OP_COPY, *out, result, &cp, &copied);
  lg_tensor_release(copied);
  lg_tensor_release(result);
  if (st) lg_tensor_release(*out);
  return st;
}

/* ---- composites ---------------------------------------------------------- */

static lg_status rank_error(lg_ctx *ctx, const char *op, const char *what,
                            const lg_tensor *a, const lg_tensor *b) {
  char sa[160], sb[160];
  return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected %s, got shapes %s and %s",
                 op, what, lg_shape_str(sa, sizeof sa, a->ndim, a->sizes),
                 lg_shape_str(sb, sizeof sb, b->ndim, b->sizes));
}

/* Runs matmul for composite op; its errors name op, not matmul. */
static lg_status run_matmul(lg_ctx *ctx, const char *op, lg_tensor *a,
                            lg_tensor *b, lg_tensor **out) {
  *out = NULL;
  lg_status st = lg_run2(ctx, LG_OP_MATMUL, a, b, NULL, out);
  if (st && strncmp(lg_ctx_error(ctx), "matmul: ", 8) == 0) {
    char msg[LG_ERROR_SIZE];
    snprintf(msg, sizeof msg, "%s", lg_ctx_error(ctx) + 8);
    lg_fail(ctx, st, "%s: %s", op, msg);
  }
  return st;
}

/* a (N,M) @ b (M,P) -> (N,P) */
lg_status lg_mm(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, lg_tensor **out) {
  *out = NULL;
  if (a->ndim != 2 || b->ndim != 2)
    return rank_error(ctx, "mm", "two 2-D tensors", a, b);
  return run_matmul(ctx, "mm", a, b, out);
}

/* a (B,N,M) @ b (B,M,P) -> (B,N,P), no broadcasting */
lg_status lg_bmm(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, lg_tensor **out) {
  *out = NULL;
  if (a->ndim != 3 || b->ndim != 3)
    return rank_error(ctx, "bmm", "two 3-D tensors", a, b);
  if (a->sizes[0] != b->sizes[0])
    return rank_error(ctx, "bmm", "equal batch sizes", a, b);
  return run_matmul(ctx, "bmm", a, b, out);
}

/* a (N,M) @ b (M) -> (N) */
lg_status lg_mv(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, lg_tensor **out) {
  *out = NULL;
  if (a->ndim != 2 || b->ndim != 1)
    return rank_error(ctx, "mv", "a 2-D matrix and a 1-D vector", a, b);
  return run_matmul(ctx, "mv", a, b, out);
}

/* a (N) . b (N) -> 0-d */
lg_status lg_dot(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, lg_tensor **out) {
  *out = NULL;
  if (a->ndim != 1 || b->ndim != 1)
    return rank_error(ctx, "dot", "two 1-D tensors", a, b);
  if (a->sizes[0] != b->sizes[0])
    return rank_error(ctx, "dot", "1-D tensors of equal length", a, b);
  if (a->dtype != b->dtype) /* as torch.dot, which does not promote */
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "dot: expected both vectors to have the same dtype, got "
                   "%s and %s", lg_dtype_name(a->dtype),
                   lg_dtype_name(b->dtype));
  return run_matmul(ctx, "dot", a, b, out);
}

/* a (N), b (M) -> (N,M): a as a column times b, broadcast by mul */
lg_status lg_outer(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, lg_tensor **out) {
  *out = NULL;
  if (a->ndim != 1 || b->ndim != 1)
    return rank_error(ctx, "outer", "two 1-D tensors", a, b);
  lg_params up = {0};
  up.dim = 1;
  lg_tensor *column = NULL;
  lg_status st = lg_run1(ctx, LG_OP_UNSQUEEZE, a, &up, &column);
  if (st) return st;
  st = lg_run2(ctx, LG_OP_MUL, column, b, NULL, out);
  lg_tensor_release(column);
  return st;
}

/* t * factor through the binary op with a scalar operand (an integral
 * factor stays integral, so integer tensors keep their dtype). */
static lg_status scale(lg_ctx *ctx, lg_tensor *t, double factor,
                       lg_tensor **out) {
  lg_params p = {0};
  p.flags = LG_FLAG_SCALAR_B;
  p.scalar[0] = factor;
  if (factor == floor(factor) && fabs(factor) < 9007199254740992.0) {
    p.flags |= LG_FLAG_SCALAR_INT;
    p.scalar_int = (int64_t)factor;
  }
  *out = NULL;
  return lg_run1(ctx, LG_OP_MUL, t, &p, out);
}

/* c (broadcast to N,P), a (N,M), b (M,P) -> beta * c + alpha * (a @ b);
 * with beta == 0, c's values are ignored (NaN in c does not propagate). */
lg_status lg_addmm(lg_ctx *ctx, lg_tensor *c, lg_tensor *a, lg_tensor *b,
                   double beta, double alpha, lg_tensor **out) {
  *out = NULL;
  if (a->ndim != 2 || b->ndim != 2)
    return rank_error(ctx, "addmm", "2-D matrices for mat1 and mat2", a, b);
  int64_t prod_sizes[2] = {a->sizes[0], b->sizes[1]};
  int nd;
  int64_t sizes[LG_MAX_DIMS];
  lg_status st = LG_OK;
  if (a->sizes[1] == b->sizes[0]) {
    st = lg_broadcast_sizes(ctx, "addmm", c->ndim, c->sizes, 2, prod_sizes,
                            &nd, sizes);
    if (st == LG_OK && (nd != 2 || sizes[0] != prod_sizes[0] ||
                        sizes[1] != prod_sizes[1])) {
      char sc[160], sp[160];
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "addmm: input of shape %s does not broadcast to the "
                     "product's shape %s",
                     lg_shape_str(sc, sizeof sc, c->ndim, c->sizes),
                     lg_shape_str(sp, sizeof sp, 2, prod_sizes));
    }
    if (st) return st;
  }
  lg_tensor *product = NULL, *scaled = NULL, *c_scaled = NULL;
  if ((st = run_matmul(ctx, "addmm", a, b, &product))) return st;
  if (alpha != 1) {
    st = scale(ctx, product, alpha, &scaled);
    lg_tensor_release(product);
    if (st) return st;
    product = scaled;
  }
  if (beta == 0) { /* c only shapes the result */
    *out = product;
    return LG_OK;
  }
  if (beta != 1) {
    st = scale(ctx, c, beta, &c_scaled);
    if (st) {
      lg_tensor_release(product);
      return st;
    }
  }
  st = lg_run2(ctx, LG_OP_ADD, c_scaled ? c_scaled : c, product, NULL, out);
  lg_tensor_release(product);
  lg_tensor_release(c_scaled);
  return st;
}
