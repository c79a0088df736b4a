/* test_alloc.h: the allocator hook the C tests give their contexts: it
 * counts live blocks and bytes (for leak checks) and fails every request
 * once its budget of allocations is spent (for failure injection). */
#ifndef TEST_ALLOC_H
#define TEST_ALLOC_H

#include <limits.h>
#include <stdlib.h>

typedef struct test_alloc {
  long budget;          /* allocations still allowed (LONG_MAX: no limit) */
  long live;            /* blocks currently allocated                     */
  long long live_bytes; /* bytes currently allocated                      */
} test_alloc;

#define TEST_ALLOC_UNLIMITED {LONG_MAX, 0, 0}

static inline void *test_alloc_fn(void *ud, void *ptr, size_t old_size,
                                  size_t new_size) {
  test_alloc *a = ud;
  if (new_size == 0) {
    if (ptr) {
      a->live--;
      a->live_bytes -= (long long)old_size;
    }
    free(ptr);
    return NULL;
  }
  if (a->budget <= 0) return NULL;
  a->budget--;
  void *p = realloc(ptr, new_size);
  if (p) {
    if (!ptr) a->live++;
    a->live_bytes += (long long)new_size - (ptr ? (long long)old_size : 0);
  }
  return p;
}

#endif
