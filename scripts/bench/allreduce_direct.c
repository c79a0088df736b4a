/* scripts/bench/allreduce_direct.c: the MPI baseline of the distributed
 * benchmark: MPI_Allreduce (sum, in place) of 25 MB of float32 called from
 * C, timed as allreduce.lua times lg.distributed.all_reduce (a barrier, then
 * one call; the median of REPS). Run under mpirun; rank 0 prints
 * "BENCH allreduce_25MB <microseconds>". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

enum { COUNT = 25 * 1024 * 1024 / 4, REPS = 15 };

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  float *buffer = malloc(sizeof(float) * COUNT);
  if (!buffer) MPI_Abort(MPI_COMM_WORLD, 1);
  for (int i = 0; i < COUNT; i++) buffer[i] = 1e-6f * (float)(i % 1000);
  double samples[REPS];
  for (int r = -2; r < REPS; r++) { /* two warm-up calls */
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, buffer, COUNT, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (r >= 0) samples[r] = MPI_Wtime() - t0;
  }
  qsort(samples, REPS, sizeof samples[0], compare);
  if (rank == 0) printf("BENCH allreduce_25MB %.1f\n", samples[REPS / 2] * 1e6);
  free(buffer);
  MPI_Finalize();
  return 0;
}
