/* test_linalg.c: matmul's BLAS path against the naive strided kernel on
 * 1-D/2-D mixes, batches, broadcast batch dims, transposed and expanded
 * views and mixed dtypes; exact integer products; composites and their
 * errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "ops.h"
#include "test_util.h"


/* A tensor of shape sizes with deterministic values in [-1, 1]. */
static lg_tensor *filled(lg_ctx *ctx, lg_dtype dtype, int ndim,
                         const int64_t *sizes, int seed) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, dtype, ndim, sizes, &t) != LG_OK) return NULL;
  int64_t n = lg_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) {
    uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(seed * 40503u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    double v = lg_dtype_is_float(dtype) ? (double)(h % 2001) / 1000.0 - 1.0
                                        : (double)(h % 7) - 3.0;
    lg_tensor_set(t, i, v);
  }
  return t;
}

/* A transposed view of the last two dims (shares storage). */
static lg_tensor *transposed(lg_ctx *ctx, lg_tensor *t) {
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  int n = t->ndim;
  for (int i = 0; i < n; i++) {
    sizes[i] = t->sizes[i];
    strides[i] = t->strides[i];
  }
  sizes[n - 2] = t->sizes[n - 1];
  sizes[n - 1] = t->sizes[n - 2];
  strides[n - 2] = t->strides[n - 1];
  strides[n - 1] = t->strides[n - 2];
  lg_tensor *v = NULL;
  lg_tensor_view_of(ctx, t, n, sizes, strides, t->offset, &v);
  return v;
}

/* Runs matmul and the reference; returns the worst absolute difference
 * (or a huge number when shapes or dtypes differ or a call failed). */
static double compare(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                      const char *what) {
  lg_tensor *fast = NULL, *slow = NULL;
  lg_tensor *in[2] = {a, b};
  double worst = 0;
  if (lg_op_run(ctx, LG_OP_MATMUL, 2, in, NULL, &fast) != LG_OK ||
      lg_matmul_reference(ctx, a, b, &slow) != LG_OK) {
    fprintf(stderr, "%s: %s\n", what, lg_ctx_error(ctx));
    worst = HUGE_VAL;
  } else if (fast->ndim != slow->ndim || fast->dtype != slow->dtype ||
             lg_tensor_numel(fast) != lg_tensor_numel(slow)) {
    worst = HUGE_VAL;
  } else {
    for (int i = 0; i < fast->ndim; i++)
      if (fast->sizes[i] != slow->sizes[i]) worst = HUGE_VAL;
    int64_t n = lg_tensor_numel(fast);
    for (int64_t i = 0; i < n && worst < HUGE_VAL; i++) {
      double d = fabs(lg_tensor_get(fast, i) - lg_tensor_get(slow, i));
      if (d > worst) worst = d;
    }
  }
  lg_tensor_release(fast);
  lg_tensor_release(slow);
  return worst;
}

typedef struct shape_case {
  int nda, ndb;
  int64_t a[4], b[4];
  int64_t out_ndim, out[4];
} shape_case;

static void test_shapes(lg_ctx *ctx) {
  static const shape_case cases[] = {
      {1, 1, {5}, {5}, 0, {0}},                          /* dot            */
      {2, 2, {3, 4}, {4, 5}, 2, {3, 5}},                 /* mm             */
      {1, 2, {4}, {4, 5}, 1, {5}},                       /* vector @ matrix */
      {2, 1, {3, 4}, {4}, 1, {3}},                       /* mv             */
      {3, 3, {2, 3, 4}, {2, 4, 5}, 3, {2, 3, 5}},        /* bmm            */
      {3, 2, {2, 3, 4}, {4, 5}, 3, {2, 3, 5}},           /* batch @ matrix */
      {2, 3, {3, 4}, {2, 4, 5}, 3, {2, 3, 5}},           /* matrix @ batch */
      {4, 3, {2, 1, 3, 4}, {3, 4, 5}, 4, {2, 3, 3, 5}},  /* broadcast batch */
      {1, 3, {4}, {2, 4, 5}, 2, {2, 5}},                 /* 1-D @ batch    */
      {3, 1, {2, 3, 4}, {4}, 2, {2, 3}},                 /* batch @ 1-D    */
      {2, 2, {1, 7}, {7, 1}, 2, {1, 1}},                 /* degenerate     */
      {2, 2, {3, 0}, {0, 2}, 2, {3, 2}},                 /* K = 0: zeros   */
      {2, 2, {0, 3}, {3, 2}, 2, {0, 2}},                 /* M = 0          */
      {2, 2, {33, 65}, {65, 17}, 2, {33, 17}},           /* odd sizes      */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const shape_case *sc = &cases[c];
    for (int d = 0; d < 5; d++) {
      lg_dtype dtypes[5] = {LG_FLOAT32, LG_FLOAT64, LG_INT64, LG_INT32,
                            LG_UINT8};
      lg_tensor *a = filled(ctx, dtypes[d], sc->nda, sc->a, 1);
      lg_tensor *b = filled(ctx, dtypes[d], sc->ndb, sc->b, 2);
      lg_tensor *out = NULL;
      lg_tensor *in[2] = {a, b};
      CHECKF(lg_op_run(ctx, LG_OP_MATMUL, 2, in, NULL, &out) == LG_OK,
            "case %zu: %s", c, lg_ctx_error(ctx));
      if (out) {
        CHECKF(out->ndim == sc->out_ndim && out->dtype == dtypes[d],
              "case %zu: result has %d dims", c, out->ndim);
        for (int i = 0; i < out->ndim && i < sc->out_ndim; i++)
          CHECKF(out->sizes[i] == sc->out[i], "case %zu: size %d is %lld", c,
                i, (long long)out->sizes[i]);
      }
      double tol = dtypes[d] == LG_FLOAT32 ? 1e-5 : dtypes[d] == LG_FLOAT64 ? 1e-12 : 0;
      double worst = compare(ctx, a, b, "shapes");
      CHECKF(worst <= tol, "case %zu (%s): worst difference %g", c,
            lg_dtype_name(dtypes[d]), worst);
      lg_tensor_release(out);
      lg_tensor_release(a);
      lg_tensor_release(b);
    }
  }
}

/* Transposed views (BLAS reads them with the transpose flag), expanded
 * batch dims and a row-stride-0 operand (copied first). */
static void test_layouts(lg_ctx *ctx) {
  for (int d = 0; d < 2; d++) {
    lg_dtype dt = d ? LG_FLOAT64 : LG_FLOAT32;
    double tol = d ? 1e-12 : 1e-5;
    int64_t sa[3] = {2, 6, 4}, sb[3] = {2, 5, 6};
    lg_tensor *a = filled(ctx, dt, 3, sa, 3), *b = filled(ctx, dt, 3, sb, 4);
    lg_tensor *at = transposed(ctx, a), *bt = transposed(ctx, b);
    /* at (2,4,6) @ bt (2,6,5) */
    CHECKF(compare(ctx, at, bt, "both transposed") <= tol,
          "%s: transposed operands differ", lg_dtype_name(dt));
    int64_t sc[3] = {2, 6, 5};
    lg_tensor *c = filled(ctx, dt, 3, sc, 5);
    CHECKF(compare(ctx, at, c, "a transposed") <= tol,
          "%s: transposed a differs", lg_dtype_name(dt));
    int64_t sd[3] = {2, 4, 6};
    lg_tensor *e = filled(ctx, dt, 3, sd, 6);
    CHECKF(compare(ctx, e, bt, "b transposed") <= tol,
          "%s: transposed b differs", lg_dtype_name(dt));
    /* a batch dim with stride 0 (expand) on b */
    int64_t s2[2] = {6, 5};
    lg_tensor *m = filled(ctx, dt, 2, s2, 7), *mx = NULL;
    int64_t xs[3] = {2, 6, 5}, xst[3] = {0, m->strides[0], m->strides[1]};
    lg_tensor_view_of(ctx, m, 3, xs, xst, m->offset, &mx);
    CHECKF(compare(ctx, at, mx, "expanded batch") <= tol,
          "%s: expanded batch differs", lg_dtype_name(dt));
    /* rows with stride 0: (3,4) from one row of 4 */
    int64_t s1[1] = {4};
    lg_tensor *row = filled(ctx, dt, 1, s1, 8), *rows = NULL;
    int64_t rs[2] = {3, 4}, rst[2] = {0, 1};
    lg_tensor_view_of(ctx, row, 2, rs, rst, row->offset, &rows);
    int64_t s3[2] = {4, 3};
    lg_tensor *f = filled(ctx, dt, 2, s3, 9);
    CHECKF(compare(ctx, rows, f, "stride-0 rows") <= tol,
          "%s: stride-0 rows differ", lg_dtype_name(dt));
    /* a column slice: rows with a stride larger than the row (lda > K) */
    int64_t s4[2] = {5, 8};
    lg_tensor *wide = filled(ctx, dt, 2, s4, 10), *narrow = NULL;
    int64_t ns[2] = {5, 3}, nst[2] = {8, 1};
    lg_tensor_view_of(ctx, wide, 2, ns, nst, wide->offset + 2, &narrow);
    int64_t s5[2] = {3, 4};
    lg_tensor *g = filled(ctx, dt, 2, s5, 11);
    CHECKF(compare(ctx, narrow, g, "column slice") <= tol,
          "%s: column slice differs", lg_dtype_name(dt));
    lg_tensor *all[] = {a, b, at, bt, c, e, m, mx, row, rows, f, wide, narrow, g};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      lg_tensor_release(all[i]);
  }
}

static void test_mixed_and_exact(lg_ctx *ctx) {
  int64_t sa[2] = {3, 4}, sb[2] = {4, 2};
  lg_tensor *a = filled(ctx, LG_INT64, 2, sa, 1);
  lg_tensor *b = filled(ctx, LG_FLOAT64, 2, sb, 2);
  lg_tensor *out = NULL, *in[2] = {a, b};
  CHECKF(lg_op_run(ctx, LG_OP_MATMUL, 2, in, NULL, &out) == LG_OK, "%s",
        lg_ctx_error(ctx));
  CHECKF(out && out->dtype == LG_FLOAT64, "int64 @ float64 is not float64");
  CHECKF(compare(ctx, a, b, "mixed") <= 1e-12, "mixed dtypes differ");
  lg_tensor_release(out);
  /* exact integer sums */
  int64_t s1[1] = {3};
  lg_tensor *x = NULL, *y = NULL, *dot = NULL;
  lg_empty(ctx, LG_INT64, 1, s1, &x);
  lg_empty(ctx, LG_INT64, 1, s1, &y);
  int64_t xv[3] = {3000000000LL, 2, -1}, yv[3] = {3, 5, 7};
  memcpy(lg_tensor_data(x), xv, sizeof xv);
  memcpy(lg_tensor_data(y), yv, sizeof yv);
  CHECKF(lg_dot(ctx, x, y, &dot) == LG_OK, "%s", lg_ctx_error(ctx));
  CHECKF(dot && dot->ndim == 0 && lg_tensor_get_int(dot, 0) == 9000000003LL,
        "int64 dot is not exact");
  lg_tensor_release(dot);
  /* bool is refused */
  lg_tensor *bb = NULL;
  lg_full(ctx, LG_BOOL, 1, s1, 1, &bb);
  CHECKF(lg_dot(ctx, bb, bb, &dot) == LG_ERR_DTYPE, "bool matmul accepted");
  lg_tensor *all[] = {a, b, x, y, bb};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
}

static void test_errors_and_composites(lg_ctx *ctx) {
  int64_t s23[2] = {2, 3}, s45[2] = {4, 5}, s3[1] = {3}, s4[1] = {4};
  int64_t s233[3] = {2, 3, 3}, s333[3] = {3, 3, 3};
  lg_tensor *a = filled(ctx, LG_FLOAT32, 2, s23, 1);
  lg_tensor *b = filled(ctx, LG_FLOAT32, 2, s45, 2);
  lg_tensor *v3 = filled(ctx, LG_FLOAT32, 1, s3, 3);
  lg_tensor *v4 = filled(ctx, LG_FLOAT32, 1, s4, 4);
  lg_tensor *p = filled(ctx, LG_FLOAT32, 3, s233, 5);
  lg_tensor *q = filled(ctx, LG_FLOAT32, 3, s333, 6);
  lg_tensor *out = NULL, *in[2] = {a, b};
  CHECKF(lg_op_run(ctx, LG_OP_MATMUL, 2, in, NULL, &out) == LG_ERR_SHAPE,
        "mismatched matmul accepted");
  CHECKF(strcmp(lg_ctx_error(ctx),
               "matmul: shapes {2,3} and {4,5} can't be multiplied (3 != 4)") ==
            0,
        "message: %s", lg_ctx_error(ctx));
  CHECKF(lg_mm(ctx, a, v3, &out) == LG_ERR_SHAPE, "mm of a vector accepted");
  CHECKF(strstr(lg_ctx_error(ctx), "mm: expected two 2-D tensors") != NULL,
        "message: %s", lg_ctx_error(ctx));
  CHECKF(lg_bmm(ctx, p, q, &out) == LG_ERR_SHAPE, "bmm batch mismatch accepted");
  CHECKF(lg_dot(ctx, v3, v4, &out) == LG_ERR_SHAPE, "dot length mismatch");
  CHECKF(lg_mv(ctx, v3, a, &out) == LG_ERR_SHAPE, "mv of swapped args");
  CHECKF(lg_mv(ctx, a, v3, &out) == LG_OK, "%s", lg_ctx_error(ctx));
  CHECKF(out && out->ndim == 1 && out->sizes[0] == 2, "mv shape");
  lg_tensor_release(out);
  /* addmm: 0.5 * c + 2 * (a @ a^T) against the pieces */
  int64_t s2[1] = {2};
  lg_tensor *at = transposed(ctx, a), *c = filled(ctx, LG_FLOAT32, 1, s2, 7);
  lg_tensor *prod = NULL, *c2 = NULL;
  CHECKF(lg_addmm(ctx, c, a, at, 0.5, 2.0, &c2) == LG_OK, "addmm: %s",
        lg_ctx_error(ctx));
  CHECKF(lg_mm(ctx, a, at, &prod) == LG_OK, "%s", lg_ctx_error(ctx));
  if (c2 && prod) {
    double worst = 0;
    for (int64_t i = 0; i < 4; i++) {
      double want = 0.5 * lg_tensor_get(c, i % 2) + 2 * lg_tensor_get(prod, i);
      double d = fabs(lg_tensor_get(c2, i) - want);
      worst = d > worst ? d : worst;
    }
    CHECKF(worst < 1e-5, "addmm: worst difference %g", worst);
  }
  lg_tensor_release(c2);
  c2 = NULL;
  CHECKF(lg_addmm(ctx, v3, a, at, 1, 1, &c2) == LG_ERR_SHAPE,
        "addmm with a non-broadcasting input accepted");
  /* outer: v3 (3) x c (2) -> (3,2) */
  lg_tensor *o = NULL;
  CHECKF(lg_outer(ctx, v3, c, &o) == LG_OK, "outer: %s", lg_ctx_error(ctx));
  if (o) {
    CHECKF(o->ndim == 2 && o->sizes[0] == 3 && o->sizes[1] == 2, "outer shape");
    for (int64_t i = 0; i < 6; i++)
      CHECKF(lg_tensor_get(o, i) ==
                (double)((float)lg_tensor_get(v3, i / 2) *
                         (float)lg_tensor_get(c, i % 2)),
            "outer value %lld", (long long)i);
  }
  lg_tensor_release(o);
  CHECKF(lg_outer(ctx, a, v3, &o) == LG_ERR_SHAPE, "outer of 2-D accepted");
  lg_tensor *all[] = {a, b, v3, v4, p, q, at, c, prod};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lg_tensor_release(all[i]);
}

int main(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  test_shapes(ctx);
  test_layouts(ctx);
  test_mixed_and_exact(ctx);
  test_errors_and_composites(ctx);
  CHECKF(lg_ctx_bytes_in_use(ctx) == 0, "%zu bytes leaked",
        lg_ctx_bytes_in_use(ctx));
  lg_ctx_free(ctx);
  if (test_failures) fprintf(stderr, "test_linalg: %d failures\n", test_failures);
  return test_failures != 0;
}
