/* stubs.c: TEMPORARY weak placeholders for backward rule families still
 * being written; each strong definition replaces one. */
#include "autograd.h"

#define BACKWARD_STUB(fn)                                                     \
  __attribute__((weak)) lg_status fn(lg_ctx *ctx, lg_node *node,              \
                                     lg_tensor *const *grad_out,              \
                                     lg_tensor **grad_in) {                   \
    (void)node; (void)grad_out; (void)grad_in;                                \
    return lg_fail(ctx, LG_ERR_RUNTIME, "backward: rule not implemented yet"); \
  }
BACKWARD_STUB(lg_backward_reduce)
BACKWARD_STUB(lg_backward_shape)
BACKWARD_STUB(lg_backward_index)
BACKWARD_STUB(lg_backward_matmul)
