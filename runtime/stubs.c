/* stubs.c: TEMPORARY weak placeholders for kernels and backward rule
 * families still being written; each strong definition replaces one. */
#include "autograd.h"

#define BACKWARD_STUB(fn)                                                     \
  __attribute__((weak)) lg_status fn(lg_ctx *ctx, lg_node *node,              \
                                     lg_tensor *const *grad_out,              \
                                     lg_tensor **grad_in) {                   \
    (void)node; (void)grad_out; (void)grad_in;                                \
    return lg_fail(ctx, LG_ERR_RUNTIME, "backward: rule not implemented yet"); \
  }
BACKWARD_STUB(lg_backward_nn)
BACKWARD_STUB(lg_backward_conv)

#define KERNEL_STUB(fn)                                                       \
  __attribute__((weak)) lg_status fn(lg_ctx *ctx, lg_op op,                   \
                                     lg_tensor *const *in, int n_in,          \
                                     const lg_params *p, lg_tensor **out) {   \
    (void)in; (void)n_in; (void)p; (void)out;                                 \
    return lg_fail(ctx, LG_ERR_RUNTIME, "%s: not implemented yet",           \
                   lg_op_name(op));                                           \
  }
KERNEL_STUB(lg_kernel_softmax)
KERNEL_STUB(lg_kernel_cross_entropy)
KERNEL_STUB(lg_kernel_norm)
KERNEL_STUB(lg_kernel_conv2d)
KERNEL_STUB(lg_kernel_pool2d)
