/* lua_alloc.c: the Lua allocator of the luagrad executable. Blocks of up to
 * 256 bytes come from free lists, one per 16-byte size class, carved from
 * 64 KiB chunks: most of Lua's objects (tables, closures, short strings,
 * tensor boxes) are that small, and glibc's malloc and free cost about 250
 * instructions per object, as much as a 4-element op's whole C side.
 * Larger blocks go to realloc and free. Freed small blocks stay in their
 * list for reuse until lua_close, so the footprint is the peak Lua heap,
 * as with malloc's own arenas. Built with AddressSanitizer, every block
 * goes to malloc instead, so that lifetime errors are still reported.
 * Per state (the pool is the allocator's ud): no global state. */
#include "lua_alloc.h"

#include <lauxlib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ENABLED 0
#endif
#endif
#ifndef POOL_ENABLED
#define POOL_ENABLED 1
#endif

#define CLASS_BYTES 16
#define SMALL_MAX 256
#define N_CLASSES (SMALL_MAX / CLASS_BYTES)
#define CHUNK_BYTES ((size_t)64 << 10)

typedef struct chunk {
  struct chunk *next;
  max_align_t align[]; /* the blocks */
} chunk;

struct cli_pool {
  void *free[N_CLASSES + 1]; /* by class: the first word links the next */
  chunk *chunks;
  char *bump, *bump_end;     /* the unused rest of the newest chunk */
  int warn_state;            /* 0 off, 1 on, 2 continuing a message */
};

static size_t class_of(size_t size) {
  return (size + CLASS_BYTES - 1) / CLASS_BYTES;
}

static void *small_alloc(cli_pool *p, size_t c) {
  void *b = p->free[c];
  if (b) {
    memcpy(&p->free[c], b, sizeof(void *));
    return b;
  }
  size_t bytes = c * CLASS_BYTES;
  if ((size_t)(p->bump_end - p->bump) < bytes) {
    chunk *k = malloc(CHUNK_BYTES);
    if (!k) return NULL;
    k->next = p->chunks;
    p->chunks = k;
    p->bump = (char *)k->align;
    p->bump_end = (char *)k + CHUNK_BYTES;
  }
  b = p->bump;
  p->bump += bytes;
  return b;
}

static void small_free(cli_pool *p, void *b, size_t c) {
  memcpy(b, &p->free[c], sizeof(void *));
  p->free[c] = b;
}

/* lua_Alloc: osize is the block's size whenever ptr is not NULL. */
static void *pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  cli_pool *p = ud;
  bool old_small = POOL_ENABLED && ptr && osize <= SMALL_MAX;
  bool new_small = POOL_ENABLED && nsize <= SMALL_MAX;
  if (nsize == 0) {
    if (old_small) small_free(p, ptr, class_of(osize));
    else free(ptr);
    return NULL;
  }
  if (!ptr) return new_small ? small_alloc(p, class_of(nsize)) : malloc(nsize);
  if (old_small && new_small && class_of(osize) == class_of(nsize))
    return ptr;
  if (!old_small && !new_small) return realloc(ptr, nsize);
  void *b = new_small ? small_alloc(p, class_of(nsize)) : malloc(nsize);
  if (!b) return NULL; /* Lua keeps the old block */
  memcpy(b, ptr, osize < nsize ? osize : nsize);
  if (old_small) small_free(p, ptr, class_of(osize));
  else free(ptr);
  return b;
}

static int panic(lua_State *L) {
  const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                   : "error object is not a string";
  fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg);
  fflush(stderr);
  return 0;
}

/* luaL_newstate's warnings: off until "@on", pieces joined until the last */
static void warn(void *ud, const char *msg, int tocont) {
  cli_pool *p = ud;
  if (p->warn_state != 2 && !tocont && *msg == '@') { /* a control message */
    if (strcmp(msg, "@off") == 0) p->warn_state = 0;
    else if (strcmp(msg, "@on") == 0) p->warn_state = 1;
    return;
  }
  if (p->warn_state == 0) return;
  if (p->warn_state == 1) fputs("Lua warning: ", stderr);
  fputs(msg, stderr);
  if (tocont) {
    p->warn_state = 2;
  } else {
    fputs("\n", stderr);
    p->warn_state = 1;
  }
  fflush(stderr);
}

lua_State *cli_state_new(cli_pool **pool) {
  cli_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  lua_State *L = lua_newstate(pool_alloc, p);
  if (!L) {
    free(p);
    return NULL;
  }
  lua_atpanic(L, panic);
  lua_setwarnf(L, warn, p);
  *pool = p;
  return L;
}

void cli_state_close(lua_State *L, cli_pool *pool) {
  lua_close(L);
  while (pool->chunks) {
    chunk *k = pool->chunks;
    pool->chunks = k->next;
    free(k);
  }
  free(pool);
}
