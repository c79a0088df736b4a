/* scripts/bench/sgemm_direct.c: the machine's sgemm limit for benchmark (6),
 * C (1024,1024) = A (1024,1024) B (1024,1024) through cblas_sgemm directly,
 * timed as the Lua and Python halves are (median of repetitions; process
 * CPU time when BENCH_CLOCK=cpu, as common.lua and common.py do).
 * Usage: sgemm_direct THREADS. Prints "BENCH sgemm <microseconds>". */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { N = 1024, REPS = 9 };

extern void openblas_set_num_threads(int);

static double now(void) {
  struct timespec ts;
  const char *clk = getenv("BENCH_CLOCK");
  int cpu = clk && clk[0] == 'c' && clk[1] == 'p' && clk[2] == 'u' && !clk[3];
  clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
        *c = malloc(sizeof(float) * N * N);
  double samples[REPS];
  if (!a || !b || !c) return 1;
  openblas_set_num_threads(threads);
  srand(0);
  for (int i = 0; i < N * N; i++) {
    a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  }
  for (int w = 0; w < 2; w++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N,
                0.0f, c, N);
  for (int r = 0; r < REPS; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N,
                0.0f, c, N);
    samples[r] = now() - t0;
  }
  qsort(samples, REPS, sizeof(double), compare);
  printf("BENCH sgemm %.6f\n", samples[REPS / 2] * 1e6);
  free(a); free(b); free(c);
  return 0;
}
