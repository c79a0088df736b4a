/* blas_threads.c: the gate that keeps OpenBLAS's process-wide thread count
 * at the count each call in flight asked for (see blas_threads.h). */
#include <pthread.h>

#include "blas_threads.h"

/* from OpenBLAS's cblas.h, declared here so that this file needs no BLAS
 * header of its own */
void openblas_set_num_threads(int num_threads);

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_turn = PTHREAD_COND_INITIALIZER;
static int gate_count;            /* the count the calls in flight run with */
static int gate_active;           /* calls in flight */
static int gate_waiting;          /* callers between taking and using a ticket */
static unsigned long gate_next;   /* the next ticket to hand out */
static unsigned long gate_serving; /* the ticket allowed in next */

void lg_blas_enter(const lg_ctx *ctx) {
  lg_blas_enter_count(lg_ctx_num_threads(ctx));
}

void lg_blas_enter_count(int count) {
  pthread_mutex_lock(&gate_lock);
  unsigned long ticket = gate_next++;
  if (ticket != gate_serving || (gate_active && gate_count != count)) {
    gate_waiting++;
    while (ticket != gate_serving || (gate_active && gate_count != count))
      pthread_cond_wait(&gate_turn, &gate_lock);
    gate_waiting--;
  }
  if (!gate_active) {
    /* nothing of ours in flight: the count may change. Set it even when
     * gate_count says it is right, as a host may have set its own since
     * (openblas_get_num_threads would cost ten times as much). */
    openblas_set_num_threads(count);
    gate_count = count;
  }
  gate_active++;
  gate_serving++;
  if (gate_waiting) /* the next ticket may share the count */
    pthread_cond_broadcast(&gate_turn);
  pthread_mutex_unlock(&gate_lock);
}

void lg_blas_leave(void) {
  pthread_mutex_lock(&gate_lock);
  if (--gate_active == 0 && gate_waiting) pthread_cond_broadcast(&gate_turn);
  pthread_mutex_unlock(&gate_lock);
}
