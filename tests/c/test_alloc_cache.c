/* test_alloc_cache.c: the context's caching allocator (alloc_cache.c) and
 * the flat fast path of the elementwise kernels.
 *
 * The cache: size classes waste at most a quarter; a released tensor's
 * blocks serve the next tensor without a host allocation; the limit bounds
 * what is cached (0 turns caching off); lg_ctx_bytes_in_use still counts
 * only live tensor data; a failed host allocation flushes the cache and
 * retries; lg_ctx_free hands every block back. The fast path: contiguous
 * same-shape operands give exactly what the strided iterator gives. */
#include "core.h"
#include "test_alloc.h"
#include "test_util.h"

static long host_allocations(const test_alloc *a) { return LONG_MAX - a->budget; }

static void test_size_classes(void) {
  size_t prev = 0;
  for (size_t n = 1; n <= ((size_t)1 << 20); n += n / 7 + 1) {
    size_t b = lg_cache_block_size(n);
    CHECK(b >= n);
    CHECK(b >= prev); /* monotonic */
    if (n > 64) CHECK(b <= n + n / 4);
    CHECK(lg_cache_block_size(b) == b); /* a class size is its own class */
    prev = b;
  }
  size_t big = LG_CACHE_MAX_BLOCK + 1;
  CHECK(lg_cache_block_size(big) == big); /* too large: exact */
}

static void test_reuse_and_accounting(void) {
  test_alloc a = TEST_ALLOC_UNLIMITED;
  lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &a);
  int64_t sizes[2] = {3, 5};
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 2, sizes, &t));
  CHECK(lg_ctx_bytes_in_use(ctx) == 60);
  CHECK(lg_ctx_cached_bytes(ctx) == 0);
  size_t reserved = lg_ctx_bytes_reserved(ctx);
  CHECK(reserved >= 60 + sizeof(lg_tensor));
  lg_tensor_release(t);
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);      /* live tensor bytes only */
  CHECK(lg_ctx_cached_bytes(ctx) == reserved); /* everything kept */
  CHECK(lg_ctx_bytes_reserved(ctx) == reserved);
  long before = host_allocations(&a);
  for (int i = 0; i < 100; i++) { /* same shape: served from the cache */
    CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 2, sizes, &t));
    lg_tensor_release(t);
  }
  int64_t other[1] = {14}; /* 56 bytes: the same classes as 60 */
  CHECK_OK(ctx, lg_empty(ctx, LG_INT32, 1, other, &t));
  lg_tensor_release(t);
  CHECK(host_allocations(&a) == before);

  /* a limit of 0: releasing hands blocks straight back */
  lg_ctx_set_cache_limit(ctx, 0);
  CHECK(lg_ctx_cache_limit(ctx) == 0);
  CHECK(lg_ctx_cached_bytes(ctx) == 0);
  CHECK(lg_ctx_bytes_reserved(ctx) == 0);
  CHECK(a.live == 1); /* the context itself */
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 2, sizes, &t));
  lg_tensor_release(t);
  CHECK(a.live == 1);

  /* a small limit bounds what is cached */
  lg_ctx_set_cache_limit(ctx, 4096);
  lg_tensor *many[64];
  int64_t one[1] = {100};
  for (int i = 0; i < 64; i++) CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT64, 1, one, &many[i]));
  for (int i = 0; i < 64; i++) lg_tensor_release(many[i]);
  CHECK(lg_ctx_cached_bytes(ctx) <= 4096);
  CHECK(lg_ctx_cached_bytes(ctx) > 0);
  CHECK(lg_ctx_bytes_reserved(ctx) == lg_ctx_cached_bytes(ctx));

  /* large blocks are never cached */
  lg_ctx_set_cache_limit(ctx, (size_t)64 << 20);
  int64_t huge[1] = {(int64_t)(LG_CACHE_MAX_BLOCK / 4) + 1};
  size_t cached = lg_ctx_cached_bytes(ctx);
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 1, huge, &t));
  lg_tensor_release(t);
  CHECK(lg_ctx_cached_bytes(ctx) <=
        cached + lg_cache_block_size(sizeof(lg_tensor)));
  CHECK(lg_ctx_bytes_reserved(ctx) == lg_ctx_cached_bytes(ctx));

  lg_ctx_free(ctx); /* flushes: nothing left with the host */
  CHECK(a.live == 0);
  CHECK(a.live_bytes == 0);
}

/* A view keeps its storage (and the storage's block) alive. */
static void test_views_keep_blocks(void) {
  test_alloc a = TEST_ALLOC_UNLIMITED;
  lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &a);
  int64_t sizes[2] = {4, 4};
  lg_tensor *t = NULL, *v = NULL;
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 2, sizes, 7, &t));
  lg_params p = {0};
  p.dim = 0;
  p.start = 1;
  p.length = 2;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_NARROW, 1, &t, &p, &v));
  lg_tensor_release(t);
  lg_tensor *fresh = NULL; /* must not get the viewed storage's block */
  CHECK_OK(ctx, lg_full(ctx, LG_FLOAT32, 2, sizes, -1, &fresh));
  for (int64_t i = 0; i < lg_tensor_numel(v); i++)
    CHECK(lg_tensor_get(v, i) == 7);
  lg_tensor_release(fresh);
  lg_tensor_release(v);
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);
  lg_ctx_free(ctx);
  CHECK(a.live == 0);
}

/* The host refuses: a cache holding other classes is flushed and the
 * allocation retried; a cached block of the right class needs no host. */
static void test_failure_flushes(void) {
  test_alloc a = TEST_ALLOC_UNLIMITED;
  lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &a);
  int64_t small[1] = {4}, big[1] = {4096};
  lg_tensor *t = NULL;
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 1, small, &t));
  lg_tensor_release(t);
  CHECK(lg_ctx_cached_bytes(ctx) > 0);
  a.budget = 0; /* every host allocation fails from here */
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 1, small, &t)); /* from the cache */
  lg_tensor_release(t);
  CHECK_FAILS(ctx, lg_empty(ctx, LG_FLOAT32, 1, big, &t), "out of memory");
  CHECK(t == NULL);
  CHECK(lg_ctx_cached_bytes(ctx) == 0); /* flushed before the retry */
  CHECK(a.live == 1);
  a.budget = LONG_MAX;
  CHECK_OK(ctx, lg_empty(ctx, LG_FLOAT32, 1, big, &t));
  lg_tensor_release(t);
  lg_ctx_free(ctx);
  CHECK(a.live == 0);
}

/* A contiguous copy of t laid out transposed in memory: same values, but
 * strided, so kernels on it take the iterator. */
static lg_tensor *strided_copy(lg_ctx *ctx, lg_tensor *t) {
  const int64_t *s = lg_tensor_sizes(t);
  int64_t ts[2] = {s[1], s[0]};
  lg_tensor *base = NULL, *view = NULL;
  CHECK_OK(ctx, lg_empty(ctx, lg_tensor_dtype(t), 2, ts, &base));
  for (int64_t i = 0; i < s[0]; i++)
    for (int64_t j = 0; j < s[1]; j++)
      lg_tensor_set(base, j * s[0] + i, lg_tensor_get(t, i * s[1] + j));
  lg_params p = {0};
  p.n_ints = 2;
  p.ints[0] = 1;
  p.ints[1] = 0;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_PERMUTE, 1, &base, &p, &view));
  lg_tensor_release(base);
  CHECK(!lg_tensor_is_contiguous(view));
  return view;
}

static void check_same(const char *what, lg_tensor *fast, lg_tensor *ref) {
  CHECK(lg_tensor_dtype(fast) == lg_tensor_dtype(ref));
  int64_t n = lg_tensor_numel(ref);
  CHECK(lg_tensor_numel(fast) == n);
  for (int64_t i = 0; i < n; i++) {
    double x = lg_tensor_get(fast, i), y = lg_tensor_get(ref, i);
    if (!(x == y || (isnan(x) && isnan(y)))) {
      fprintf(stderr, "%s: element %lld: flat %g, iterator %g\n", what,
              (long long)i, x, y);
      test_failures++;
      return;
    }
  }
}

static void test_flat_path_matches_iterator(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  lg_op binary[] = {LG_OP_ADD, LG_OP_SUB, LG_OP_MUL, LG_OP_DIV,
                    LG_OP_MAXIMUM, LG_OP_POW, LG_OP_LT, LG_OP_EQ};
  lg_op unary[] = {LG_OP_NEG, LG_OP_EXP, LG_OP_TANH, LG_OP_ABS};
  lg_dtype dtypes[] = {LG_FLOAT32, LG_FLOAT64, LG_INT64, LG_INT32};
  int64_t shapes[2][2] = {{3, 5}, {200, 300}}; /* flat, and above the cap */
  for (int sh = 0; sh < 2; sh++)
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
      lg_tensor *a = NULL, *b = NULL;
      CHECK_OK(ctx, lg_empty(ctx, dtypes[d], 2, shapes[sh], &a));
      CHECK_OK(ctx, lg_empty(ctx, dtypes[d], 2, shapes[sh], &b));
      for (int64_t i = 0; i < lg_tensor_numel(a); i++) {
        lg_tensor_set(a, i, (double)(i % 11) - 4.5);
        lg_tensor_set(b, i, (double)(i % 7) + 1);
      }
      lg_tensor *as = strided_copy(ctx, a), *bs = strided_copy(ctx, b);
      for (size_t k = 0; k < sizeof binary / sizeof binary[0]; k++) {
        bool is_int = dtypes[d] == LG_INT64 || dtypes[d] == LG_INT32;
        if (binary[k] == LG_OP_POW && is_int) continue; /* negative bases */
        lg_tensor *fast = NULL, *ref = NULL;
        CHECK_OK(ctx, lg_run2(ctx, binary[k], a, b, NULL, &fast));
        CHECK_OK(ctx, lg_run2(ctx, binary[k], as, bs, NULL, &ref));
        if (fast && ref) check_same(lg_op_name(binary[k]), fast, ref);
        lg_tensor_release(fast);
        lg_tensor_release(ref);
        /* tensor op scalar, both sides */
        lg_params p = {0};
        p.scalar[0] = 3;
        p.scalar_int = 3;
        p.flags = LG_FLAG_SCALAR_INT | LG_FLAG_SCALAR_B;
        CHECK_OK(ctx, lg_run1(ctx, binary[k], a, &p, &fast));
        CHECK_OK(ctx, lg_run1(ctx, binary[k], as, &p, &ref));
        if (fast && ref) check_same(lg_op_name(binary[k]), fast, ref);
        lg_tensor_release(fast);
        lg_tensor_release(ref);
        p.flags = LG_FLAG_SCALAR_INT | LG_FLAG_SCALAR_A;
        CHECK_OK(ctx, lg_run1(ctx, binary[k], b, &p, &fast));
        CHECK_OK(ctx, lg_run1(ctx, binary[k], bs, &p, &ref));
        if (fast && ref) check_same(lg_op_name(binary[k]), fast, ref);
        lg_tensor_release(fast);
        lg_tensor_release(ref);
      }
      for (size_t k = 0; k < sizeof unary / sizeof unary[0]; k++) {
        lg_tensor *fast = NULL, *ref = NULL;
        CHECK_OK(ctx, lg_run1(ctx, unary[k], a, NULL, &fast));
        CHECK_OK(ctx, lg_run1(ctx, unary[k], as, NULL, &ref));
        if (fast && ref) check_same(lg_op_name(unary[k]), fast, ref);
        lg_tensor_release(fast);
        lg_tensor_release(ref);
      }
      /* in place on the flat path */
      lg_tensor *c = NULL, *out = NULL, *in[2];
      CHECK_OK(ctx, lg_run1(ctx, LG_OP_CLONE, a, NULL, &c));
      lg_params ip = {0};
      ip.flags = LG_FLAG_INPLACE;
      in[0] = c;
      in[1] = b;
      CHECK_OK(ctx, lg_op_run(ctx, LG_OP_ADD, 2, in, &ip, &out));
      lg_tensor *ref = NULL;
      CHECK_OK(ctx, lg_run2(ctx, LG_OP_ADD, as, bs, NULL, &ref));
      if (out && ref) check_same("add_", c, ref);
      lg_tensor_release(out);
      lg_tensor_release(ref);
      lg_tensor_release(c);
      lg_tensor *all[] = {a, b, as, bs};
      for (int i = 0; i < 4; i++) lg_tensor_release(all[i]);
    }
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);
  lg_ctx_free(ctx);
}

int main(void) {
  test_size_classes();
  test_reuse_and_accounting();
  test_views_keep_blocks();
  test_failure_flushes();
  test_flat_path_matches_iterator();
  if (test_failures) {
    fprintf(stderr, "%d check(s) failed\n", test_failures);
    return 1;
  }
  printf("alloc cache: ok\n");
  return 0;
}
