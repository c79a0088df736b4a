/* fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share: the entry
 * point's prototype, a counting allocator with a budget (so a header that
 * declares gigabytes gets a clean out-of-memory status instead of the
 * harness running out of memory, and a leak shows as a live count), and a
 * file holding the fuzz input (a memfd, or a file in /dev/shm), because
 * the readers under test take a path.
 *
 * The same harness sources build two ways: with clang -fsanitize=fuzzer
 * (scripts/fuzz) and, without libFuzzer, linked to tests/fuzz/replay.c,
 * which feeds them the committed corpus and regression inputs (ctest).
 */
#ifndef LG_FUZZ_H
#define LG_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luagrad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (so libFuzzer and the replay both report it) with a message. */
#define FUZZ_ASSERT(cond, what)                                             \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: fuzz invariant failed: %s (%s)\n", __FILE__,  \
              __LINE__, #cond, what);                                       \
      abort();                                                              \
    }                                                                       \
  } while (0)

/* A lua_Alloc-style allocator counting live blocks and bytes, refusing
 * any request that would take the total above cap. */
typedef struct fuzz_alloc {
  long live;
  size_t bytes;
  size_t cap;
} fuzz_alloc;

static inline void *fuzz_alloc_fn(void *ud, void *ptr, size_t old_size,
                                  size_t new_size) {
  fuzz_alloc *f = ud;
  if (new_size == 0) {
    if (ptr) {
      f->live--;
      f->bytes -= old_size;
    }
    free(ptr);
    return NULL;
  }
  size_t old = ptr ? old_size : 0;
  if (new_size > f->cap || f->bytes - old > f->cap - new_size) return NULL;
  void *p = realloc(ptr, new_size);
  if (!p) return NULL;
  if (!ptr) f->live++;
  f->bytes = f->bytes - old + new_size;
  return p;
}

/* 64 MiB: far above every seed, far below libFuzzer's RSS limit. */
#define FUZZ_ALLOC_CAP ((size_t)64 << 20)

/* Writes data to the input file and returns its path (valid until the
 * next call). */
static inline const char *fuzz_input_path(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("luagrad-fuzz", 0);
    if (fd >= 0) {
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    } else {
      snprintf(path, sizeof path, "/dev/shm/luagrad-fuzz-%ld", (long)getpid());
      fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
      FUZZ_ASSERT(fd >= 0, "no file for the fuzz input");
    }
  }
  FUZZ_ASSERT(ftruncate(fd, 0) == 0, "truncating the fuzz input");
  size_t done = 0;
  while (done < size) {
    ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
    FUZZ_ASSERT(w > 0, "writing the fuzz input");
    done += (size_t)w;
  }
  return path;
}

/* Reads every element of t, so a tensor whose storage is shorter than its
 * shape claims shows up under ASan; returns a checksum to keep the reads. */
static inline double fuzz_touch(const lg_tensor *t) {
  int64_t n = lg_tensor_numel(t);
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = lg_tensor_get(t, i);
    if (v == v) sum += v;
  }
  return sum;
}

/* Checks that a failed call left a message and a clean output slot. */
#define FUZZ_CHECK_FAILURE(ctx, st)                                         \
  FUZZ_ASSERT((st) == LG_OK || lg_ctx_error(ctx)[0] != '\0',                \
              "a failure without a message")

/* Frees the context and checks that nothing it allocated is still live. */
static inline void fuzz_finish(lg_ctx *ctx, fuzz_alloc *f) {
  lg_ctx_free(ctx);
  if (f->live != 0 || f->bytes != 0) {
    fprintf(stderr, "fuzz: leak: %ld blocks, %zu bytes still live\n", f->live,
            f->bytes);
    abort();
  }
}

/* One input through a reader that loads one tensor from a file (npy, IDX):
 * it fails with a message or gives a tensor whose every element can be
 * read; nothing leaks. */
static inline int fuzz_one_tensor_reader(
    const uint8_t *data, size_t size,
    lg_status (*load)(lg_ctx *, const char *, lg_tensor **)) {
  fuzz_alloc f = {0, 0, FUZZ_ALLOC_CAP};
  lg_ctx *ctx = lg_ctx_new(fuzz_alloc_fn, &f);
  FUZZ_ASSERT(ctx != NULL, "a context");
  lg_tensor *t = NULL;
  lg_status st = load(ctx, fuzz_input_path(data, size), &t);
  FUZZ_CHECK_FAILURE(ctx, st);
  FUZZ_ASSERT((st == LG_OK) == (t != NULL), "a tensor exactly on success");
  if (t) (void)fuzz_touch(t);
  lg_tensor_release(t);
  fuzz_finish(ctx, &f);
  return 0;
}

#endif
