/* alloc_cache.c: the context's caching allocator for tensor memory (storage
 * blocks and tensor structs).
 *
 * A freed block waits in the free list of its size class and is handed out
 * again without a call to the host allocator, so a loop of small ops costs
 * no malloc/free. Real allocations still go through the context's
 * allocator hook, so host accounting and failure injection see every byte.
 *
 * Invariant: a request of n bytes up to LG_CACHE_MAX_BLOCK is always served
 * by a block of exactly class_size(n) bytes (from a free list or from the
 * host), and lg_cache_free(n) gives it back under that same size; larger
 * requests are exact and never cached. cached_bytes is the sum of the
 * cached blocks' sizes and never exceeds limit; host_bytes is every byte
 * held from the host through this file (live plus cached). Flushing (on
 * lg_ctx_free, on a failed host allocation, or when the limit is lowered)
 * returns every cached block to the host.
 */
#include "core.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* A cached block is poisoned (but for its link word), so a use after
 * lg_tensor_release is still reported although the block is not freed. */
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MIN_SHIFT 6 /* the smallest class: 64 bytes */

/* Size classes: 64, then four per power of two (2^k * 5/4, 6/4, 7/4, 8/4),
 * so rounding wastes at most a quarter. Returns the class of a request of
 * n bytes and its size, or -1 when n is too large to be cached. */
static int size_class(size_t n, size_t *block) {
  if (n <= ((size_t)1 << MIN_SHIFT)) {
    *block = (size_t)1 << MIN_SHIFT;
    return 0;
  }
  if (n > LG_CACHE_MAX_BLOCK) {
    *block = n;
    return -1;
  }
  int k = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^k < n */
  int shift = k - 2;
  size_t quarters = (n + ((size_t)1 << shift) - 1) >> shift; /* 5..8 */
  *block = quarters << shift;
  return 1 + (k - MIN_SHIFT) * 4 + (int)(quarters - 5);
}

_Static_assert(LG_CACHE_MAX_BLOCK == ((size_t)1 << 23), "classes fit");
_Static_assert(1 + (22 - MIN_SHIFT) * 4 + 3 < LG_CACHE_CLASSES, "classes fit");

/* The block size that serves a request of n bytes. */
size_t lg_cache_block_size(size_t n) {
  size_t block;
  (void)size_class(n, &block);
  return block;
}

void lg_cache_init(lg_alloc_cache *cache) {
  for (int i = 0; i < LG_CACHE_CLASSES; i++) cache->free_lists[i] = NULL;
  cache->cached_bytes = 0;
  cache->host_bytes = 0;
  cache->limit = LG_CACHE_DEFAULT_LIMIT;
}

/* A block of at least n bytes (n > 0), or NULL when the host has none. */
void *lg_cache_alloc(lg_ctx *ctx, size_t n) {
  lg_alloc_cache *cache = &ctx->cache;
  size_t block;
  int c = size_class(n, &block);
  if (c >= 0 && cache->free_lists[c]) {
    void **head = cache->free_lists[c];
    UNPOISON(head, block);
    cache->free_lists[c] = *head;
    cache->cached_bytes -= block;
    return head;
  }
  void *p = ctx->alloc(ctx->alloc_ud, NULL, 0, block);
  if (!p && cache->cached_bytes > 0) { /* cached memory may be what's missing */
    lg_cache_flush(ctx);
    p = ctx->alloc(ctx->alloc_ud, NULL, 0, block);
  }
  if (p) cache->host_bytes += block;
  return p;
}

/* Gives back a block that lg_cache_alloc(ctx, n) returned. */
void lg_cache_free(lg_ctx *ctx, void *p, size_t n) {
  if (!p) return;
  lg_alloc_cache *cache = &ctx->cache;
  size_t block;
  int c = size_class(n, &block);
  if (c >= 0 && block <= cache->limit - cache->cached_bytes) {
    *(void **)p = cache->free_lists[c];
    POISON((char *)p + sizeof(void *), block - sizeof(void *));
    cache->free_lists[c] = p;
    cache->cached_bytes += block;
    return;
  }
  cache->host_bytes -= block;
  ctx->alloc(ctx->alloc_ud, p, block, 0);
}

/* Returns every cached block to the host allocator. */
void lg_cache_flush(lg_ctx *ctx) {
  lg_alloc_cache *cache = &ctx->cache;
  for (int c = 0; c < LG_CACHE_CLASSES; c++) {
    while (cache->free_lists[c]) {
      void **p = cache->free_lists[c];
      size_t block;
      UNPOISON(p, sizeof(void *));
      cache->free_lists[c] = *p;
      /* the class's size: the smallest request that maps to class c */
      if (c == 0) {
        block = (size_t)1 << MIN_SHIFT;
      } else {
        int k = MIN_SHIFT + (c - 1) / 4;
        block = (size_t)(5 + (c - 1) % 4) << (k - 2);
      }
      UNPOISON(p, block);
      cache->cached_bytes -= block;
      cache->host_bytes -= block;
      ctx->alloc(ctx->alloc_ud, p, block, 0);
    }
  }
}

/* Sets the most bytes the cache may hold (0 turns caching off); what no
 * longer fits goes back to the host. */
void lg_ctx_set_cache_limit(lg_ctx *ctx, size_t bytes) {
  ctx->cache.limit = bytes;
  if (ctx->cache.cached_bytes > bytes) lg_cache_flush(ctx);
}
size_t lg_ctx_cache_limit(const lg_ctx *ctx) { return ctx->cache.limit; }
size_t lg_ctx_cached_bytes(const lg_ctx *ctx) {
  return ctx->cache.cached_bytes;
}
size_t lg_ctx_bytes_reserved(const lg_ctx *ctx) {
  return ctx->cache.host_bytes;
}
