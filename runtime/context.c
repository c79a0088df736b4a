/* context.c: lg_ctx, the owner of all mutable runtime state, and the
 * allocator and error helpers every other file uses. */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core.h"
#include "parallel.h"
#include "vmap.h"

static void *default_alloc(void *ud, void *ptr, size_t old_size,
                           size_t new_size) {
  (void)ud;
  (void)old_size;
  if (new_size == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, new_size);
}

/* A large tensor read at random (a loaded dataset whose batches gather
 * rows from anywhere in it) asks Linux for 2 MB pages over the whole 2 MB
 * pages inside it, before its memory is first touched: with 4 KB pages
 * each row of a shuffled batch was a TLB miss and a page walk through
 * cold page tables (a batch of 128 Fashion-MNIST rows from the 47 MB set:
 * 37-44 us, 8-10 us with 2 MB pages). Only memory this file's malloc
 * hands out is advised, never a host allocator's; the system's THP mode
 * (often "madvise") decides the rest, and a refusal changes nothing. */
void lg_advise_random_access(const lg_ctx *ctx, void *data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t huge = (uintptr_t)2 << 20;
  if (ctx->alloc != default_alloc || bytes < 4 * huge) return;
  uintptr_t first = ((uintptr_t)data + huge - 1) & ~(huge - 1);
  uintptr_t end = ((uintptr_t)data + bytes) & ~(huge - 1);
  if (end > first) (void)madvise((void *)first, end - first, MADV_HUGEPAGE);
#else
  (void)ctx, (void)data, (void)bytes;
#endif
}

/* A new context with refcount 1; alloc NULL selects malloc/free. */
lg_ctx *lg_ctx_new(lg_alloc_fn alloc, void *ud) {
  if (!alloc) alloc = default_alloc;
  lg_ctx *ctx = alloc(ud, NULL, 0, sizeof *ctx);
  if (!ctx) return NULL;
  memset(ctx, 0, sizeof *ctx);
  ctx->refcount = 1;
  ctx->alloc = alloc;
  ctx->alloc_ud = ud;
  ctx->seed = 0x853c49e6748fea9bULL;
  ctx->num_threads = 1;
  ctx->grad_enabled = true;
  lg_print_options_profile("default", &ctx->print);
  lg_cache_init(&ctx->cache);
  lg_layer_push(ctx, &lg_autograd_layer); /* inline slots: cannot fail */
  return ctx;
}

void lg_ctx_retain(lg_ctx *ctx) { ctx->refcount++; }

/* Drops a reference; the last one frees the context. */
void lg_ctx_free(lg_ctx *ctx) {
  if (!ctx) return;
  if (--ctx->refcount > 0) return;
  lg_pool_free(ctx); /* joins the worker threads */
  lg_dual_levels_free(ctx); /* levels never exited */
  lg_layers_free(ctx);
  lg_vmap_state_free(ctx);
  lg_file_access_free(ctx);
  lg_cache_flush(ctx);
  ctx->alloc(ctx->alloc_ud, ctx, sizeof *ctx, 0);
}

const char *lg_ctx_error(const lg_ctx *ctx) { return ctx->error; }
void lg_ctx_clear_error(lg_ctx *ctx) { ctx->error[0] = '\0'; }

void lg_ctx_manual_seed(lg_ctx *ctx, uint64_t seed) {
  ctx->seed = seed;
  ctx->rng_offset = 0;
}
uint64_t lg_ctx_seed(const lg_ctx *ctx) { return ctx->seed; }

void lg_ctx_set_num_threads(lg_ctx *ctx, int n) {
  ctx->num_threads = n < 1 ? 1 : n;
}
int lg_ctx_num_threads(const lg_ctx *ctx) { return ctx->num_threads; }
void lg_ctx_set_grad_enabled(lg_ctx *ctx, bool enabled) {
  ctx->grad_enabled = enabled;
}
bool lg_ctx_grad_enabled(const lg_ctx *ctx) { return ctx->grad_enabled; }
void lg_ctx_set_detect_anomaly(lg_ctx *ctx, bool enabled) {
  ctx->detect_anomaly = enabled;
}
bool lg_ctx_detect_anomaly(const lg_ctx *ctx) { return ctx->detect_anomaly; }
void lg_ctx_set_grad_hook(lg_ctx *ctx, lg_grad_hook_fn fn, void *ud) {
  ctx->grad_hook = fn;
  ctx->grad_hook_ud = ud;
}
size_t lg_ctx_bytes_in_use(const lg_ctx *ctx) { return ctx->bytes_in_use; }

/* Records a formatted message in ctx and returns status. */
lg_status lg_fail(lg_ctx *ctx, lg_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
  va_end(ap);
  return status;
}

void *lg_mem_alloc(lg_ctx *ctx, size_t size) {
  if (size == 0) size = 1;
  return ctx->alloc(ctx->alloc_ud, NULL, 0, size);
}

void lg_mem_free(lg_ctx *ctx, void *ptr, size_t size) {
  if (ptr) ctx->alloc(ctx->alloc_ud, ptr, size == 0 ? 1 : size, 0);
}
