/* test_index.c: white-box tests of the indexing kernels against naive
 * references: index_select, gather, scatter, scatter_add (1-based indices,
 * bounds errors, in place, scalar source), masked_fill and masked_select. */
#include <stdlib.h>

#include "core.h"
#include "test_util.h"

static lg_ctx *ctx;
static lg_tensor *junk; /* output slot of calls expected to fail */

static lg_tensor *iota(lg_dtype dtype, int ndim, const int64_t *sizes) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, dtype, ndim, sizes, &t) != LG_OK) return NULL;
  for (int64_t i = 0; i < lg_tensor_numel(t); i++)
    lg_tensor_set(t, i, (double)i);
  return t;
}

static lg_tensor *ints(lg_dtype dtype, int ndim, const int64_t *sizes,
                       const int64_t *values) {
  lg_tensor *t = NULL;
  if (lg_empty(ctx, dtype, ndim, sizes, &t) != LG_OK) return NULL;
  for (int64_t i = 0; i < lg_tensor_numel(t); i++)
    lg_tensor_set_int(t, i, values[i]);
  return t;
}

static void unflatten(int64_t flat, int ndim, const int64_t *sizes,
                      int64_t *pos) {
  for (int d = ndim - 1; d >= 0; d--) {
    pos[d] = flat % sizes[d];
    flat /= sizes[d];
  }
}

static int64_t flatten_pos(int ndim, const int64_t *sizes, const int64_t *pos) {
  int64_t flat = 0;
  for (int d = 0; d < ndim; d++) flat = flat * sizes[d] + pos[d];
  return flat;
}

/* Deterministic pseudo-random integers in 1..n. */
static uint64_t rng_state = 12345;
static int64_t rand_index(int64_t n) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (int64_t)((rng_state >> 33) % (uint64_t)n) + 1;
}

static void test_index_select(void) {
  int64_t sx[3] = {3, 4, 2};
  lg_tensor *x = iota(LG_FLOAT32, 3, sx);
  int64_t si[1] = {5}, iv[5] = {4, 1, 1, 3, 2};
  lg_dtype index_types[2] = {LG_INT64, LG_INT32};
  for (int k = 0; k < 2; k++) {
    lg_tensor *idx = ints(index_types[k], 1, si, iv), *out = NULL;
    lg_params p = {0};
    p.dim = 1;
    CHECK_OK(ctx, lg_run2(ctx, LG_OP_INDEX_SELECT, x, idx, &p, &out));
    if (out) {
      double want[30];
      int64_t so[3] = {3, 5, 2};
      for (int64_t i = 0; i < 30; i++) {
        int64_t pos[3];
        unflatten(i, 3, so, pos);
        pos[1] = iv[pos[1]] - 1;
        want[i] = (double)flatten_pos(3, sx, pos);
      }
      check_values("index_select dim 2", out, want, 30, 0);
    }
    lg_tensor_release(out);
    lg_tensor_release(idx);
  }
  /* rows of 100 floats (400 bytes: the prefetched copy of a shuffled
   * batch), 13 picks with repeats, the last ones with no row ahead */
  {
    int64_t sr[2] = {50, 100}, sk[1] = {13}, picks[13];
    for (int i = 0; i < 13; i++) picks[i] = rand_index(50);
    picks[12] = picks[11];
    lg_tensor *rows = iota(LG_FLOAT32, 2, sr);
    lg_tensor *idx = ints(LG_INT64, 1, sk, picks), *out = NULL;
    lg_params p = {0};
    CHECK_OK(ctx, lg_run2(ctx, LG_OP_INDEX_SELECT, rows, idx, &p, &out));
    if (out) {
      static double want[1300];
      for (int64_t i = 0; i < 1300; i++)
        want[i] = (double)((picks[i / 100] - 1) * 100 + i % 100);
      check_values("index_select long rows", out, want, 1300, 0);
    }
    lg_tensor_release(out);
    lg_tensor_release(idx);
    lg_tensor_release(rows);
  }
  /* a strided input along the last dim */
  lg_params perm = {0};
  perm.n_ints = 3;
  perm.ints[0] = 2;
  perm.ints[1] = 0;
  perm.ints[2] = 1;
  lg_tensor *xp = NULL, *out = NULL;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_PERMUTE, x, &perm, &xp)); /* (2,3,4) */
  int64_t s2[1] = {2}, iv2[2] = {2, 2};
  lg_tensor *idx = ints(LG_INT64, 1, s2, iv2);
  lg_params p = {0};
  p.dim = -1;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_INDEX_SELECT, xp, idx, &p, &out));
  if (out) {
    double want[12];
    int64_t so[3] = {2, 3, 2};
    for (int64_t i = 0; i < 12; i++) {
      int64_t pos[3];
      unflatten(i, 3, so, pos);
      int64_t src[3] = {pos[1], iv2[pos[2]] - 1, pos[0]};
      want[i] = (double)flatten_pos(3, sx, src);
    }
    check_values("index_select strided", out, want, 12, 0);
  }
  lg_tensor_release(out);
  lg_tensor_release(idx);
  /* errors: 0, too large, negative, float index, 2-d index */
  int64_t bad[3][1] = {{0}, {5}, {-1}};
  const char *msgs[3] = {"index 0 out of range for dim 2 of size 4",
                         "index 5 out of range", "index -1 out of range"};
  int64_t s1[1] = {1};
  p.dim = 1;
  for (int k = 0; k < 3; k++) {
    idx = ints(LG_INT64, 1, s1, bad[k]);
    CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_INDEX_SELECT, x, idx, &p, &junk),
                msgs[k]);
    lg_tensor_release(idx);
  }
  lg_tensor *fidx = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 1, s1, 1, &fidx));
  CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_INDEX_SELECT, x, fidx, &p, &junk),
              "int64");
  lg_tensor_release(fidx);
  lg_tensor_release(xp);
  lg_tensor_release(x);
}

/* gather vs naive over random indices, then scatter/scatter_add inverses */
static void test_gather_scatter(void) {
  int64_t sx[3] = {3, 4, 5};
  lg_tensor *x = iota(LG_FLOAT64, 3, sx);
  for (int dim = 0; dim < 3; dim++) {
    int64_t si[3] = {2, 3, 4};
    si[dim] = 6; /* may exceed x along dim */
    int64_t n = si[0] * si[1] * si[2];
    int64_t *iv = malloc((size_t)n * sizeof *iv);
    for (int64_t i = 0; i < n; i++) iv[i] = rand_index(sx[dim]);
    lg_tensor *idx = ints(LG_INT64, 3, si, iv), *out = NULL;
    lg_params p = {0};
    p.dim = dim;
    CHECK_OK(ctx, lg_run2(ctx, LG_OP_GATHER, x, idx, &p, &out));
    double *want = malloc((size_t)n * sizeof *want);
    for (int64_t i = 0; i < n; i++) {
      int64_t pos[3];
      unflatten(i, 3, si, pos);
      pos[dim] = iv[i] - 1;
      want[i] = (double)flatten_pos(3, sx, pos);
    }
    if (out) check_values("gather", out, want, n, 0);
    lg_tensor_release(out);

    /* scatter_add of ones counts how often each target was hit; scatter
     * of the source's flat positions keeps the last writer */
    int64_t nx = 60;
    double *count = calloc((size_t)nx, sizeof *count);
    double *last = malloc((size_t)nx * sizeof *last);
    for (int64_t i = 0; i < nx; i++) last[i] = lg_tensor_get(x, i);
    for (int64_t i = 0; i < n; i++) {
      int64_t pos[3];
      unflatten(i, 3, si, pos);
      pos[dim] = iv[i] - 1;
      int64_t t = flatten_pos(3, sx, pos);
      count[t] += 1;
      last[t] = (double)i;
    }
    lg_tensor *ones = NULL, *src = iota(LG_FLOAT64, 3, si), *zeros = NULL;
    CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 3, si, 1, &ones));
    CHECK_OK(ctx, lg_full(ctx, LG_FLOAT64, 3, sx, 0, &zeros));
    lg_tensor *in[3] = {zeros, idx, ones};
    out = NULL;
    CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SCATTER_ADD, 3, in, &p, &out));
    if (out) {
      check_values("scatter_add", out, count, nx, 0);
      CHECK(!lg_tensor_same_storage(out, zeros));
      CHECK(lg_tensor_get(zeros, 0) == 0); /* out of place */
    }
    lg_tensor_release(out);
    lg_tensor *in2[3] = {x, idx, src};
    out = NULL;
    CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SCATTER, 3, in2, &p, &out));
    if (out) check_values("scatter", out, last, nx, 0);
    lg_tensor_release(out);
    /* in place into zeros */
    lg_params ip = p;
    ip.flags = LG_FLAG_INPLACE;
    out = NULL;
    CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SCATTER_ADD, 3, in, &ip, &out));
    CHECK(out == zeros);
    check_values("scatter_add_", zeros, count, nx, 0);
    lg_tensor_release(out);
    free(count);
    free(last);
    free(want);
    free(iv);
    lg_tensor_release(ones);
    lg_tensor_release(src);
    lg_tensor_release(zeros);
    lg_tensor_release(idx);
  }

  /* int32 index on a transposed input; then a scalar scatter */
  lg_params perm = {0};
  perm.n_ints = 2;
  perm.ints[0] = 1;
  perm.ints[1] = 0;
  int64_t s23[2] = {2, 3};
  lg_tensor *m = iota(LG_INT64, 2, s23), *mt = NULL, *out = NULL;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_PERMUTE, m, &perm, &mt)); /* (3,2) */
  int64_t si[2] = {3, 1}, iv[3] = {2, 1, 2};
  lg_tensor *idx = ints(LG_INT32, 2, si, iv);
  lg_params p = {0};
  p.dim = 1;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_GATHER, mt, idx, &p, &out));
  if (out) {
    double want[3] = {3, 1, 5}; /* mt = [[0,3],[1,4],[2,5]] */
    check_values("gather int32 strided", out, want, 3, 0);
  }
  lg_tensor_release(out);
  /* scalar src: dispatch counts three inputs for scatter, so the kernel
   * is called directly here */
  lg_params sp = p;
  sp.flags = LG_FLAG_SCALAR_B | LG_FLAG_SCALAR_INT;
  sp.scalar_int = -7;
  lg_tensor *in[2] = {mt, idx};
  out = NULL;
  CHECK_OK(ctx, lg_kernel_scatter(ctx, LG_OP_SCATTER, in, 2, &sp, &out));
  if (out) {
    double want[6] = {0, -7, -7, 4, 2, -7};
    check_values("scatter scalar", out, want, 6, 0);
  }
  lg_tensor_release(out);

  /* errors, and a failing in-place scatter leaves its target untouched */
  int64_t bad[3] = {1, 3, 1};
  lg_tensor *bidx = ints(LG_INT64, 2, si, bad), *src = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_INT64, 2, si, 99, &src));
  lg_tensor *sin[3] = {mt, bidx, src};
  lg_params ip = p;
  ip.flags = LG_FLAG_INPLACE;
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_SCATTER, 3, sin, &ip, &junk),
              "index 3 out of range for dim 2 of size 2");
  CHECK(lg_tensor_get(m, 0) == 0 && lg_tensor_get(m, 5) == 5);
  CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_GATHER, mt, bidx, &p, &junk),
              "index 3 out of range");
  lg_tensor *fsrc = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 2, si, 1, &fsrc));
  lg_tensor *fin[3] = {mt, idx, fsrc};
  CHECK_FAILS(ctx, lg_op_run(ctx, LG_OP_SCATTER, 3, fin, &p, &junk),
              "dtype int64");
  int64_t big[2] = {4, 1}, bigv[4] = {1, 1, 1, 1};
  lg_tensor *bigidx = ints(LG_INT64, 2, big, bigv);
  CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_GATHER, mt, bigidx, &p, &junk),
              "no larger");
  /* in-place scatter whose src is the target itself */
  lg_tensor *self_in[3] = {mt, idx, mt};
  out = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_SCATTER, 3, self_in, &ip, &out));
  /* mt rows [0,3],[1,4],[2,5]; src = old mt: row i writes src[i][0] at
   * column iv[i] */
  if (out) {
    double want[6] = {0, 0, 1, 4, 2, 2};
    check_values("scatter_ self", mt, want, 6, 0);
  }
  lg_tensor_release(out);
  lg_tensor_release(bigidx);
  lg_tensor_release(fsrc);
  lg_tensor_release(src);
  lg_tensor_release(bidx);
  lg_tensor_release(idx);
  lg_tensor_release(mt);
  lg_tensor_release(m);
  lg_tensor_release(x);
}

static void test_masked(void) {
  int64_t s23[2] = {2, 3}, s3[1] = {3}, s21[2] = {2, 1};
  lg_tensor *x = iota(LG_FLOAT32, 2, s23);
  int64_t mv[3] = {1, 0, 1};
  lg_tensor *mask = ints(LG_BOOL, 1, s3, mv), *out = NULL;
  lg_params p = {0};
  p.scalar[0] = -1.5;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MASKED_FILL, x, mask, &p, &out));
  if (out) {
    double want[6] = {-1.5, 1, -1.5, -1.5, 4, -1.5};
    check_values("masked_fill", out, want, 6, 0);
  }
  lg_tensor_release(out);
  out = NULL;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MASKED_SELECT, x, mask, &p, &out));
  if (out) {
    double want[4] = {0, 2, 3, 5};
    check_values("masked_select", out, want, 4, 0);
  }
  lg_tensor_release(out);
  /* the mask broadcasts the other way: out takes the broadcast shape */
  int64_t cv[2] = {0, 1};
  lg_tensor *col = ints(LG_BOOL, 2, s21, cv), *row = iota(LG_INT32, 1, s3);
  out = NULL;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MASKED_SELECT, row, col, &p, &out));
  if (out) {
    double want[3] = {0, 1, 2};
    check_values("masked_select broadcast", out, want, 3, 0);
  }
  lg_tensor_release(out);
  out = NULL;
  p.flags = LG_FLAG_SCALAR_INT;
  p.scalar_int = 9;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MASKED_FILL, row, col, &p, &out));
  if (out) {
    double want[6] = {0, 1, 2, 9, 9, 9};
    CHECK(lg_tensor_ndim(out) == 2 && lg_tensor_dtype(out) == LG_INT32);
    check_values("masked_fill broadcast", out, want, 6, 0);
  }
  lg_tensor_release(out);
  /* in place: needs the mask to broadcast to x */
  p.flags = LG_FLAG_INPLACE | LG_FLAG_SCALAR_INT;
  CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_MASKED_FILL, row, col, &p, &junk),
              "does not broadcast");
  out = NULL;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MASKED_FILL, x, col, &p, &out));
  CHECK(out == x);
  {
    double want[6] = {0, 1, 2, 9, 9, 9};
    check_values("masked_fill_", x, want, 6, 0);
  }
  lg_tensor_release(out);
  /* a strided x: the transposed view */
  lg_params perm = {0};
  perm.n_ints = 2;
  perm.ints[0] = 1;
  perm.ints[1] = 0;
  lg_tensor *xt = NULL;
  CHECK_OK(ctx, lg_run1(ctx, LG_OP_PERMUTE, x, &perm, &xt)); /* (3,2) */
  int64_t s32[2] = {3, 2}, mv2[6] = {1, 0, 0, 0, 0, 1};
  lg_tensor *m2 = ints(LG_BOOL, 2, s32, mv2);
  p = (lg_params){0};
  out = NULL;
  CHECK_OK(ctx, lg_run2(ctx, LG_OP_MASKED_SELECT, xt, m2, &p, &out));
  if (out) {
    double want[2] = {0, 9};
    check_values("masked_select strided", out, want, 2, 0);
  }
  lg_tensor_release(out);
  lg_tensor *fmask = iota(LG_FLOAT32, 1, s3);
  CHECK_FAILS(ctx, lg_run2(ctx, LG_OP_MASKED_SELECT, x, fmask, &p, &junk),
              "bool mask");
  lg_tensor_release(fmask);
  lg_tensor_release(m2);
  lg_tensor_release(xt);
  lg_tensor_release(col);
  lg_tensor_release(row);
  lg_tensor_release(mask);
  lg_tensor_release(x);
}

int main(void) {
  ctx = lg_ctx_new(NULL, NULL);
  test_index_select();
  test_gather_scatter();
  test_masked();
  CHECK(lg_ctx_bytes_in_use(ctx) == 0); /* every tensor released */
  lg_ctx_free(ctx);
  return test_report("test_index");
}
