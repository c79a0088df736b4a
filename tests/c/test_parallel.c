/* test_parallel.c: lg_parallel_for and lg_parallel_loop (runtime/
 * parallel.h): every index is visited exactly once for many sizes, grains
 * and thread counts; chunks are contiguous and at least a grain long; a
 * thread that can't get its stack (allocation failure) leaves its chunk
 * to the caller; an interrupt stops a loop between steps ("interrupted",
 * the request taken) but never a loop of one step; and large kernels
 * give the same bits on 1 and 4 threads
 * (elementwise exp and tanh, row sums, softmax over rows). */
#include <stdatomic.h>
#include <stdlib.h>

#include "parallel.h"
#include "test_alloc.h"
#include "test_util.h"

typedef struct visit {
  unsigned char *seen; /* per index: times visited */
  int64_t grain;
  int64_t n;
  int short_chunks;    /* chunks below the grain (only the caller's may be) */
} visit;

static void mark(void *arg, int64_t begin, int64_t end) {
  visit *v = arg;
  if (end - begin < v->grain && end - begin < v->n) v->short_chunks++;
  for (int64_t i = begin; i < end; i++) v->seen[i]++;
}

static void check_cover(lg_ctx *ctx, int64_t n, int64_t grain) {
  visit v = {calloc((size_t)(n > 0 ? n : 1), 1), grain, n, 0};
  lg_parallel_for(ctx, n, grain, mark, &v);
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; i++) wrong += v.seen[i] != 1;
  if (wrong || v.short_chunks) {
    fprintf(stderr, "n %lld grain %lld threads %d: %lld indices not visited "
            "once, %d short chunks\n", (long long)n, (long long)grain,
            lg_ctx_num_threads(ctx), (long long)wrong, v.short_chunks);
    test_failures++;
  }
  free(v.seen);
}

static void test_cover(void) {
  static const int64_t sizes[] = {0, 1, 2, 7, 64, 1000, 4097, 100003};
  static const int64_t grains[] = {0, 1, 3, 100, 5000};
  static const int threads[] = {1, 2, 3, 8, 100};
  test_alloc a = TEST_ALLOC_UNLIMITED;
  lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &a);
  for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
    lg_ctx_set_num_threads(ctx, threads[t]);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
      for (size_t g = 0; g < sizeof grains / sizeof *grains; g++)
        check_cover(ctx, sizes[s], grains[g]);
  }
  lg_ctx_free(ctx);
  CHECK(a.live == 0);
}

/* With the allocator failing from the k-th request on, the work is still
 * done (fewer threads) and nothing leaks. */
static void test_allocation_failure(void) {
  for (long budget = 0; budget < 4; budget++) {
    test_alloc a = TEST_ALLOC_UNLIMITED;
    lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &a);
    lg_ctx_set_num_threads(ctx, 4);
    a.budget = budget;
    check_cover(ctx, 10000, 10);
    a.budget = LONG_MAX;
    lg_ctx_free(ctx);
    CHECK(a.live == 0);
  }
}

typedef struct interrupting {
  lg_ctx *ctx;
  atomic_long visited;
} interrupting;

/* Counts the indices and asks for an interrupt on its first range. */
static void interrupt_inside(void *arg, int64_t begin, int64_t end) {
  interrupting *it = arg;
  atomic_fetch_add(&it->visited, (long)(end - begin));
  lg_ctx_interrupt(it->ctx);
}

static void test_interrupt(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  for (int threads = 1; threads <= 3; threads += 2) {
    lg_ctx_set_num_threads(ctx, threads);
    interrupting it = {ctx, 0};
    CHECK(lg_parallel_for(ctx, 100000, 10, interrupt_inside, &it) ==
          LG_ERR_INTERRUPTED);
    CHECK(atomic_load(&it.visited) < 100000); /* stopped early */
    CHECK(!lg_ctx_clear_interrupt(ctx));      /* the request was taken */
    it.visited = 0; /* one step never looks: done, the request stays */
    CHECK(lg_parallel_for(ctx, 15, 10, interrupt_inside, &it) == LG_OK);
    CHECK(atomic_load(&it.visited) == 15);
    CHECK(lg_ctx_clear_interrupt(ctx));
  }
  lg_ctx_free(ctx);
}

typedef struct add_state {
  float k;
} add_state;

/* out = in + k over strided floats: an iterator inner loop */
static void add_loop(char **d, const int64_t *s, int64_t n, void *state) {
  const add_state *st = state;
  for (int64_t i = 0; i < n; i++)
    *(float *)(void *)(d[0] + i * s[0]) =
        *(const float *)(void *)(d[1] + i * s[1]) + st->k;
}

static void test_loop(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  lg_ctx_set_num_threads(ctx, 3);
  enum { N = 1001 };
  static float in[2 * N], out[N];
  for (int i = 0; i < 2 * N; i++) in[i] = (float)i;
  char *data[2] = {(char *)out, (char *)in};
  int64_t strides[2] = {sizeof(float), 2 * sizeof(float)}; /* every other */
  add_state st = {0.5f};
  lg_parallel_loop(ctx, add_loop, 2, data, strides, N, &st, 10);
  int wrong = 0;
  for (int i = 0; i < N; i++) wrong += out[i] != (float)(2 * i) + 0.5f;
  CHECK(wrong == 0);
  lg_ctx_free(ctx);
}

/* A kernel's result with threads, bit for bit against one thread. */
static lg_tensor *run_op(lg_ctx *ctx, int threads, lg_op op, lg_tensor *x,
                         const lg_params *p) {
  lg_tensor *out = NULL;
  lg_ctx_set_num_threads(ctx, threads);
  CHECK_OK(ctx, lg_op_run(ctx, op, 1, &x, p, &out));
  return out;
}

static void test_kernels_thread_independent(void) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  int64_t sizes[2] = {512, 1031};
  lg_tensor *x = NULL;
  CHECK_OK(ctx, lg_randn(ctx, LG_FLOAT32, 2, sizes, &x));
  if (!x) {
    lg_ctx_free(ctx);
    return;
  }
  lg_params sum_p = {0}, softmax_p = {0}, none = {0};
  sum_p.n_ints = 1;
  sum_p.ints[0] = 1;
  softmax_p.dim = 1;
  struct { lg_op op; const lg_params *p; } cases[] = {
      {LG_OP_EXP, &none},     {LG_OP_TANH, &none},
      {LG_OP_SUM, &sum_p},    {LG_OP_MEAN, &sum_p},
      {LG_OP_SOFTMAX, &softmax_p}, {LG_OP_LOG_SOFTMAX, &softmax_p}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    lg_tensor *one = run_op(ctx, 1, cases[c].op, x, cases[c].p);
    lg_tensor *four = run_op(ctx, 4, cases[c].op, x, cases[c].p);
    if (one && four) {
      int64_t n = lg_tensor_numel(one), wrong = 0;
      CHECK(n == lg_tensor_numel(four));
      for (int64_t i = 0; i < n; i++)
        wrong += lg_tensor_get(one, i) != lg_tensor_get(four, i);
      if (wrong) {
        fprintf(stderr, "%s: %lld elements differ between 1 and 4 threads\n",
                lg_op_name(cases[c].op), (long long)wrong);
        test_failures++;
      }
    }
    lg_tensor_release(one);
    lg_tensor_release(four);
  }
  lg_tensor_release(x);
  lg_ctx_free(ctx);
}

int main(void) {
  test_cover();
  test_allocation_failure();
  test_loop();
  test_interrupt();
  test_kernels_thread_independent();
  if (test_failures) fprintf(stderr, "%d check(s) failed\n", test_failures);
  else printf("test_parallel: all checks passed\n");
  return test_failures != 0;
}
