/* test_blas_threads.c: the BLAS thread-count gate (runtime/ops/
 * blas_threads.h). Inside the gate OpenBLAS runs with the context's count;
 * a context with another count waits outside until the calls in flight
 * are done, one with the same count goes in beside them; and two threads
 * with counts 1 and 2 running 256x256 sgemms through the gate at once get
 * bitwise their own count's result every time (OpenBLAS's differs between
 * 1 and 2 threads, which the test checks first). */
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "blas_threads.h"
#include "test_util.h"

#define N 256

static lg_ctx *ctx_with(int threads) {
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  lg_ctx_set_num_threads(ctx, threads);
  return ctx;
}

static void product(const float *a, float *c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N,
              a, N, 0.0f, c, N);
}

/* c = a @ a through the gate with ctx's count; the yield between entering
 * and the call widens the window in which another count could slip in */
static void gated_product(const lg_ctx *ctx, const float *a, float *c) {
  lg_blas_enter(ctx);
  sched_yield();
  product(a, c);
  lg_blas_leave();
}

static void test_sets_count(void) {
  int counts[] = {1, 3, 3, 2, 1};
  for (int i = 0; i < 5; i++) {
    lg_ctx *ctx = ctx_with(counts[i]);
    lg_blas_enter(ctx);
    CHECKF(openblas_get_num_threads() == counts[i], "count %d inside, want %d",
           openblas_get_num_threads(), counts[i]);
    lg_blas_leave();
    lg_ctx_free(ctx);
  }
}

typedef struct visitor {
  const lg_ctx *ctx;
  atomic_int trying, inside;
  int count_inside; /* OpenBLAS's count once in */
} visitor;

static void *visit(void *arg) {
  visitor *v = arg;
  atomic_store(&v->trying, 1);
  lg_blas_enter(v->ctx);
  v->count_inside = openblas_get_num_threads();
  atomic_store(&v->inside, 1);
  lg_blas_leave();
  return NULL;
}

/* main holds the gate with count `held`; a thread with count `other`
 * tries to come in */
static void test_visitor(int held, int other) {
  lg_ctx *mine = ctx_with(held), *theirs = ctx_with(other);
  visitor v = {.ctx = theirs};
  lg_blas_enter(mine);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, visit, &v) == 0);
  while (!atomic_load(&v.trying)) sched_yield();
  if (held != other) {
    /* give the visitor ample time to get in wrongly */
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    CHECKF(!atomic_load(&v.inside), "count %d got in beside count %d", other,
           held);
    CHECK(openblas_get_num_threads() == held);
  } else {
    while (!atomic_load(&v.inside)) sched_yield(); /* in beside us */
  }
  lg_blas_leave();
  pthread_join(th, NULL);
  CHECK(atomic_load(&v.inside));
  CHECKF(v.count_inside == other, "visitor ran with %d threads, wants %d",
         v.count_inside, other);
  lg_ctx_free(mine);
  lg_ctx_free(theirs);
}

typedef struct runner {
  const lg_ctx *ctx;
  const float *a, *want;
  float *c;
  int rounds, wrong;
} runner;

static void *run(void *arg) {
  runner *r = arg;
  for (int i = 0; i < r->rounds; i++) {
    gated_product(r->ctx, r->a, r->c);
    r->wrong += memcmp(r->c, r->want, sizeof(float) * N * N) != 0;
  }
  return NULL;
}

static void test_concurrent_counts(void) {
  lg_ctx *ctx[2] = {ctx_with(1), ctx_with(2)};
  float *a = malloc(sizeof(float) * N * N);
  float *want[2], *c[2];
  srand(7);
  for (int i = 0; i < N * N; i++) a[i] = 2.0f * (float)rand() / RAND_MAX - 1;
  for (int t = 0; t < 2; t++) {
    want[t] = malloc(sizeof(float) * N * N);
    c[t] = malloc(sizeof(float) * N * N);
    gated_product(ctx[t], a, want[t]);
  }
  /* the premise: OpenBLAS's result depends on its thread count */
  CHECK(memcmp(want[0], want[1], sizeof(float) * N * N) != 0);
  runner r[2];
  pthread_t th[2];
  for (int t = 0; t < 2; t++) {
    r[t] = (runner){ctx[t], a, want[t], c[t], 60, 0};
    CHECK(pthread_create(&th[t], NULL, run, &r[t]) == 0);
  }
  for (int t = 0; t < 2; t++) {
    pthread_join(th[t], NULL);
    CHECKF(r[t].wrong == 0, "%d threads: %d of %d products differ from the "
           "serial one", lg_ctx_num_threads(ctx[t]), r[t].wrong, r[t].rounds);
    free(want[t]);
    free(c[t]);
    lg_ctx_free(ctx[t]);
  }
  free(a);
}

int main(void) {
  test_sets_count();
  test_visitor(1, 2);
  test_visitor(2, 1);
  test_visitor(2, 2);
  test_visitor(1, 1);
  test_concurrent_counts();
  if (test_failures) fprintf(stderr, "%d check(s) failed\n", test_failures);
  else printf("test_blas_threads: all checks passed\n");
  return test_failures != 0;
}
