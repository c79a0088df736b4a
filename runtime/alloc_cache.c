/* alloc_cache.c: the context's caching allocator for tensor memory (storage
 * blocks and tensor structs).
 *
 * A freed block waits in the free list of its size class and is handed out
 * again without a call to the host allocator, so a loop of small ops costs
 * no malloc/free, and a training loop's large activations and gradients
 * stay warm: the host's malloc would give a large block back to the system
 * on free (munmap) and every page would fault in again, zero-filled, on the
 * next batch. Real allocations still go through the context's allocator
 * hook, so host accounting and failure injection see every byte.
 *
 * Policy: the cache keeps at most limit bytes. By default (LG_CACHE_AUTO)
 * the limit is the most bytes ever live at once (at least
 * LG_CACHE_DEFAULT_LIMIT), so a loop that repeats the same sizes runs from
 * the cache after its first pass while the process never holds more than
 * twice its peak. A freed block that does not fit pushes out cached blocks
 * of other sizes (largest first), so sizes no longer in use make way for
 * those that are.
 *
 * Invariant: a request of n bytes up to LG_CACHE_MAX_BLOCK is always served
 * by a block of exactly class_size(n) bytes (from a free list or from the
 * host), and lg_cache_free(n) gives it back under that same size; larger
 * requests are exact and never cached. cached_bytes is the sum of the
 * cached blocks' sizes and never exceeds the limit; host_bytes is every
 * byte held from the host through this file (live plus cached). Flushing
 * (on lg_ctx_free, on a failed host allocation, or when the limit is
 * lowered) returns every cached block to the host.
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

_Static_assert(LG_CACHE_MAX_BLOCK == ((size_t)1 << 30), "classes fit");
_Static_assert(1 + (29 - MIN_SHIFT) * 4 + 3 < LG_CACHE_CLASSES, "classes fit");

/* The block size of class c (the inverse of size_class). */
static size_t class_block(int c) {
  if (c == 0) return (size_t)1 << MIN_SHIFT;
  int k = MIN_SHIFT + (c - 1) / 4;
  return (size_t)(5 + (c - 1) % 4) << (k - 2);
}

/* The bound in force: the host's own, or the auto limit's current value. */
static size_t limit_of(const lg_alloc_cache *cache) {
  if (cache->limit != LG_CACHE_AUTO) return cache->limit;
  return cache->peak_live > LG_CACHE_DEFAULT_LIMIT ? cache->peak_live
                                                   : LG_CACHE_DEFAULT_LIMIT;
}

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
  cache->limit = LG_CACHE_AUTO;
  cache->peak_live = 0;
  cache->handed_out = 0;
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
    cache->handed_out += block;
    return head;
  }
  void *p = ctx->alloc(ctx->alloc_ud, NULL, 0, block);
  if (!p && cache->cached_bytes > 0) { /* cached memory may be what's missing */
    lg_cache_flush(ctx);
    p = ctx->alloc(ctx->alloc_ud, NULL, 0, block);
  }
  if (p) {
    cache->host_bytes += block;
    cache->handed_out += block;
    size_t live = cache->host_bytes - cache->cached_bytes;
    if (live > cache->peak_live) cache->peak_live = live;
  }
  return p;
}

/* Hands one cached block of class c back to the host. */
static void release_one(lg_ctx *ctx, int c) {
  lg_alloc_cache *cache = &ctx->cache;
  void **p = cache->free_lists[c];
  size_t block = class_block(c);
  UNPOISON(p, sizeof(void *));
  cache->free_lists[c] = *p;
  UNPOISON(p, block);
  cache->cached_bytes -= block;
  cache->host_bytes -= block;
  ctx->alloc(ctx->alloc_ud, p, block, 0);
}

/* Makes room for block bytes of class keep by handing back cached blocks
 * of other classes, largest first; false when even that leaves too little. */
static bool make_room(lg_ctx *ctx, int keep, size_t block, size_t limit) {
  lg_alloc_cache *cache = &ctx->cache;
  if (block > limit) return false;
  for (int c = LG_CACHE_CLASSES - 1; c >= 0; c--) {
    if (c == keep) continue;
    while (cache->free_lists[c] && block > limit - cache->cached_bytes)
      release_one(ctx, c);
    if (block <= limit - cache->cached_bytes) return true;
  }
  return false;
}

/* Gives back a block that lg_cache_alloc(ctx, n) returned. */
void lg_cache_free(lg_ctx *ctx, void *p, size_t n) {
  if (!p) return;
  lg_alloc_cache *cache = &ctx->cache;
  size_t block, limit = limit_of(cache);
  int c = size_class(n, &block);
  if (c >= 0 && (block <= limit - cache->cached_bytes ||
                 make_room(ctx, c, block, limit))) {
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
  for (int c = 0; c < LG_CACHE_CLASSES; c++)
    while (ctx->cache.free_lists[c]) release_one(ctx, c);
}

/* Sets the most bytes the cache may hold (0 turns caching off,
 * LG_CACHE_AUTO follows the peak); what no longer fits goes back to the
 * host. */
void lg_ctx_set_cache_limit(lg_ctx *ctx, size_t bytes) {
  ctx->cache.limit = bytes;
  if (ctx->cache.cached_bytes > limit_of(&ctx->cache)) lg_cache_flush(ctx);
}
size_t lg_ctx_cache_limit(const lg_ctx *ctx) { return limit_of(&ctx->cache); }
uint64_t lg_ctx_bytes_handed_out(const lg_ctx *ctx) {
  return ctx->cache.handed_out;
}
size_t lg_ctx_cached_bytes(const lg_ctx *ctx) {
  return ctx->cache.cached_bytes;
}
size_t lg_ctx_bytes_reserved(const lg_ctx *ctx) {
  return ctx->cache.host_bytes;
}
