/* stubs.c: TEMPORARY weak placeholders so the tree links while kernel
 * families are being written; each strong definition replaces one. */
#include "autograd.h"

#define STUB(fn)                                                            \
  __attribute__((weak)) lg_status fn(lg_ctx *ctx, lg_op op,                 \
                                     lg_tensor *const *in, int n_in,        \
                                     const lg_params *p, lg_tensor **out) { \
    (void)in; (void)n_in; (void)p; (void)out;                               \
    return lg_fail(ctx, LG_ERR_RUNTIME, "%s: not implemented yet",         \
                   lg_op_name(op));                                         \
  }
STUB(lg_kernel_reduce) STUB(lg_kernel_minmax_dim) STUB(lg_kernel_argminmax)
STUB(lg_kernel_cumsum) STUB(lg_kernel_view) STUB(lg_kernel_expand)
STUB(lg_kernel_permute) STUB(lg_kernel_squeeze) STUB(lg_kernel_unsqueeze)
STUB(lg_kernel_narrow) STUB(lg_kernel_select) STUB(lg_kernel_reshape)
STUB(lg_kernel_flip) STUB(lg_kernel_tile) STUB(lg_kernel_cat)
STUB(lg_kernel_index_select) STUB(lg_kernel_gather) STUB(lg_kernel_scatter)
STUB(lg_kernel_masked_fill) STUB(lg_kernel_masked_select)
STUB(lg_kernel_matmul)

__attribute__((weak)) lg_status lg_tensor_format(lg_ctx *ctx,
                                                 const lg_tensor *t,
                                                 const char *suffix,
                                                 char **text, size_t *length) {
  (void)t; (void)suffix; (void)text; (void)length;
  return lg_fail(ctx, LG_ERR_RUNTIME, "format: not implemented yet");
}
__attribute__((weak)) void lg_string_free(lg_ctx *ctx, char *text,
                                          size_t length) {
  lg_mem_free(ctx, text, length);
}

#define BACKWARD_STUB(fn)                                                     \
  __attribute__((weak)) lg_status fn(lg_ctx *ctx, lg_node *node,     \
                                     lg_tensor *const *grad_out,              \
                                     lg_tensor **grad_in) {                   \
    (void)node; (void)grad_out; (void)grad_in;                                \
    return lg_fail(ctx, LG_ERR_RUNTIME, "backward: rule not implemented yet"); \
  }
BACKWARD_STUB(lg_backward_reduce)
BACKWARD_STUB(lg_backward_shape)
BACKWARD_STUB(lg_backward_index)
BACKWARD_STUB(lg_backward_matmul)
