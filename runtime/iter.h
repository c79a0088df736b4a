/* iter.h: the strided N-d iterator behind every elementwise kernel.
 *
 * Operands (operand 0 is the output) are aligned to one broadcast shape;
 * a broadcast dim gets stride 0. Dims that are contiguous for every operand
 * are merged, so a contiguous problem becomes one flat loop. The kernel
 * supplies only the innermost loop: it receives the operands' data pointers,
 * their byte strides along that loop and its length, and can take a fast
 * path when every stride equals the element size. Long rows can run in
 * interruptible steps (lg_iter_run_ctx), and one long flat row split across
 * the context's threads (lg_iter_run_split).
 */
#ifndef LG_ITER_H
#define LG_ITER_H

#include "core.h"

#define LG_ITER_MAX_OPERANDS 4

typedef struct lg_iter {
  int n_operands;
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
  int64_t strides[LG_ITER_MAX_OPERANDS][LG_MAX_DIMS]; /* bytes */
  char *data[LG_ITER_MAX_OPERANDS];
} lg_iter;

/* Inner loop: data[k] and strides[k] (bytes) per operand, n elements. */
typedef void (*lg_loop_fn)(char **data, const int64_t *strides, int64_t n,
                           void *state);

/* Broadcast shape of n tensors (PyTorch's right-aligned rule); fails with
 * "op: shapes {..} and {..} are not broadcastable". */
lg_status lg_broadcast_shape(lg_ctx *ctx, const char *op, int n,
                             lg_tensor *const *tensors, int *ndim,
                             int64_t *sizes);
/* Same, over explicit shapes. */
lg_status lg_broadcast_sizes(lg_ctx *ctx, const char *op, int ndim_a,
                             const int64_t *a, int ndim_b, const int64_t *b,
                             int *ndim, int64_t *sizes);

/* Starts an iteration over the given shape. */
void lg_iter_init(lg_iter *it, int ndim, const int64_t *sizes);
/* Adds a tensor operand; its shape must broadcast to the iteration shape. */
void lg_iter_add_tensor(lg_iter *it, const lg_tensor *t);
/* Adds a scalar operand living at data (stride 0 everywhere). */
void lg_iter_add_scalar(lg_iter *it, void *data);
/* Merges dims, then calls loop over every innermost row. */
void lg_iter_run(lg_iter *it, lg_loop_fn loop, void *state);
/* Elements between two looks at the interrupt flag in lg_iter_run_ctx
 * (a few hundred microseconds of strided work). */
#define LG_ITER_STEP ((int64_t)1 << 18)
/* lg_iter_run for a long op: long rows run in steps of LG_ITER_STEP, and
 * ctx's interrupt flag is looked at after every LG_ITER_STEP elements (one
 * load; never per element). LG_OK, or LG_ERR_INTERRUPTED ("interrupted",
 * the request taken) with the outputs partly written. The loop may be
 * called on a row in several steps: pass loops whose result at a position
 * does not depend on how its row is cut (every elementwise loop). */
lg_status lg_iter_run_ctx(lg_ctx *ctx, lg_iter *it, lg_loop_fn loop,
                          void *state);
/* lg_iter_run_ctx, but an iteration that merges into one flat row longer
 * than grain (every operand dense or a scalar) is split across the
 * context's threads (parallel.h): for loops that only read state and whose
 * result at a position depends on nothing else, so the split never
 * changes a bit. */
lg_status lg_iter_run_split(lg_ctx *ctx, lg_iter *it, lg_loop_fn loop,
                            const void *state, int64_t grain);

#endif
