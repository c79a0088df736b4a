/* limits.c: what a host may bound per context: live tensor bytes, the
 * elements of one result, and a running op (lg_ctx_interrupt, an atomic
 * flag the kernels poll at their safe points). */
#include "core.h"

void lg_ctx_set_memory_limit(lg_ctx *ctx, size_t max_live_bytes) {
  ctx->max_live_bytes = max_live_bytes;
}

void lg_ctx_set_op_size_limit(lg_ctx *ctx, int64_t max_elements) {
  ctx->max_op_elements = max_elements < 0 ? 0 : max_elements;
}

lg_status lg_check_limits(lg_ctx *ctx, size_t nbytes, int64_t numel) {
  if (ctx->max_op_elements && numel > ctx->max_op_elements)
    return lg_fail(ctx, LG_ERR_LIMIT, "a result of %lld elements is over the "
                   "host's limit of %lld elements per op", (long long)numel,
                   (long long)ctx->max_op_elements);
  if (ctx->max_live_bytes && (nbytes > ctx->max_live_bytes ||
                              ctx->bytes_in_use > ctx->max_live_bytes - nbytes))
    return lg_fail(ctx, LG_ERR_LIMIT, "tensor memory limit reached: %zu bytes "
                   "live, %zu more requested, the host allows %zu",
                   ctx->bytes_in_use, nbytes, ctx->max_live_bytes);
  return LG_OK;
}

/* Async-signal-safe: one lock-free atomic store. */
void lg_ctx_interrupt(lg_ctx *ctx) {
  if (ctx) atomic_store(&ctx->interrupt, 1);
}

bool lg_ctx_clear_interrupt(lg_ctx *ctx) {
  return ctx && atomic_exchange(&ctx->interrupt, 0) != 0;
}

lg_status lg_check_interrupt(lg_ctx *ctx) {
  if (!lg_interrupt_pending(ctx) || !atomic_exchange(&ctx->interrupt, 0))
    return LG_OK;
  return lg_fail(ctx, LG_ERR_INTERRUPTED, "interrupted");
}
