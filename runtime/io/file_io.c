/* file_io.c: what the file formats share: errors, buffers, bytes, reading
 * files and atomic writes (see file_io.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"
#include "file_io.h"

/* ---- errors -------------------------------------------------------------- */

/* Fails with "what: path: message" (a long path keeps its end). */
lg_status lg_io_fail(const lg_io_job *job, lg_status status,
                     const char *fmt, ...) {
  char message[LG_ERROR_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  size_t len = strlen(job->path); /* keep the end of a long path */
  const char *shown = len > 160 ? job->path + len - 160 : job->path;
  return lg_fail(job->ctx, status, "%s: %s%s: %s", job->what,
                 len > 160 ? "..." : "", shown, message);
}

/* Prefixes the context's current message (from a runtime call) with the
 * file and what was being done. */
lg_status lg_io_rethrow(const lg_io_job *job, lg_status status,
                        const char *doing) {
  char saved[LG_ERROR_SIZE];
  snprintf(saved, sizeof saved, "%s", lg_ctx_error(job->ctx));
  return lg_io_fail(job, status, "%s: %s", doing, saved);
}

/* Fails with LG_ERR_MEMORY, "out of memory". */
lg_status lg_io_out_of_memory(const lg_io_job *job) {
  return lg_io_fail(job, LG_ERR_MEMORY, "out of memory");
}

/* strerror_r(code) into buf, or "error <code>". */
const char *lg_io_errno_text(int code, char *buf, size_t size) {
  if (strerror_r(code, buf, size) != 0) snprintf(buf, size, "error %d", code);
  return buf;
}

/* ---- memory -------------------------------------------------------------- */

/* Grows the array whose pointer is at array_ptr (capacity *cap items of
 * elem bytes) to hold at least need items. */
bool lg_io_grow(lg_ctx *ctx, void *array_ptr, size_t *cap, size_t elem,
                size_t need) {
  if (need <= *cap) return true;
  size_t new_cap = *cap ? *cap : 8;
  while (new_cap < need) {
    if (new_cap > SIZE_MAX / 2 / elem) return false;
    new_cap *= 2;
  }
  void *old, *fresh = lg_mem_alloc(ctx, new_cap * elem);
  if (!fresh) return false;
  memcpy(&old, array_ptr, sizeof old);
  if (*cap) memcpy(fresh, old, *cap * elem);
  lg_mem_free(ctx, old, *cap * elem);
  memcpy(array_ptr, &fresh, sizeof fresh);
  *cap = new_cap;
  return true;
}

/* Appends n bytes of s (data stays NUL-terminated). */
void lg_io_text_add(lg_io_text *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->length + n + 1 < b->length ||
      !lg_io_grow(b->ctx, &b->data, &b->capacity, 1, b->length + n + 1)) {
    b->failed = true;
    return;
  }
  memcpy(b->data + b->length, s, n);
  b->length += n;
  b->data[b->length] = '\0';
}

/* Appends the string s. */
void lg_io_text_str(lg_io_text *b, const char *s) {
  lg_io_text_add(b, s, strlen(s));
}

/* Appends v in decimal. */
void lg_io_text_int(lg_io_text *b, int64_t v) {
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)v);
  lg_io_text_str(b, num);
}

/* Frees the buffer and empties it. */
void lg_io_text_free(lg_io_text *b) {
  lg_mem_free(b->ctx, b->data, b->capacity);
  b->data = NULL;
  b->length = b->capacity = 0;
}

/* ---- sorting (in place, no allocation) ----------------------------------- */

static void sift_down(size_t *idx, size_t root, size_t n, lg_io_compare_fn cmp,
                      const void *data) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && cmp(data, idx[child], idx[child + 1]) < 0) child++;
    if (cmp(data, idx[root], idx[child]) >= 0) return;
    size_t tmp = idx[root];
    idx[root] = idx[child];
    idx[child] = tmp;
    root = child;
  }
}

/* Heap sort of the index array idx[0..n) by cmp. */
void lg_io_sort_indices(size_t *idx, size_t n, lg_io_compare_fn cmp,
                        const void *data) {
  for (size_t i = n / 2; i-- > 0;) sift_down(idx, i, n, cmp, data);
  for (size_t end = n; end > 1; end--) {
    size_t tmp = idx[0];
    idx[0] = idx[end - 1];
    idx[end - 1] = tmp;
    sift_down(idx, 0, end - 1, cmp, data);
  }
}

/* Compares strings a and b of the array data (const char *const *). */
int lg_io_compare_strings(const void *data, size_t a, size_t b) {
  const char *const *s = data;
  return strcmp(s[a], s[b]);
}

/* ---- bytes --------------------------------------------------------------- */

static bool host_is_little_endian(void) {
  const uint32_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

static void swap_bytes(unsigned char *p, size_t elem, size_t n) {
  for (size_t i = 0; i < n; i++, p += elem)
    for (size_t j = 0; j < elem / 2; j++) {
      unsigned char t = p[j];
      p[j] = p[elem - 1 - j];
      p[elem - 1 - j] = t;
    }
}

/* Little-endian file data to host order (its own inverse). */
void lg_io_little_endian_to_host(void *data, size_t elem, size_t n) {
  if (elem > 1 && !host_is_little_endian()) swap_bytes(data, elem, n);
}

/* Bool bytes from a file may hold anything; the runtime wants 0 or 1. */
void lg_io_normalize_bools(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = p[i] != 0;
}

/* The n-byte little-endian unsigned integer at p. */
uint64_t lg_io_load_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* The n-byte big-endian unsigned integer at p. */
uint64_t lg_io_load_be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
size_t lg_io_utf8_length(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp, min;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
  else return 0;
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/* Whether the NUL-terminated s is valid UTF-8. */
bool lg_io_valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
  while (p < end) {
    size_t n = lg_io_utf8_length(p, end);
    if (!n) return false;
    p += n;
  }
  return true;
}

/* ---- reading files ------------------------------------------------------- */

/* Opens a regular file for reading; its size in *size. */
lg_status lg_io_open_input(const lg_io_job *job, int *fd, uint64_t *size) {
  char buf[128];
  *fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return lg_io_fail(job, LG_ERR_IO, "cannot open: %s",
                      lg_io_errno_text(errno, buf, sizeof buf));
  struct stat st;
  if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(*fd);
    *fd = -1;
    return lg_io_fail(job, LG_ERR_IO, "not a regular file");
  }
  *size = (uint64_t)st.st_size;
  return LG_OK;
}

/* Reads up to n bytes (fewer only at the end of the file); -1 on error. */
int64_t lg_io_read_up_to(int fd, void *dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t chunk = n - got < (1u << 30) ? n - got : (1u << 30);
    ssize_t r = read(fd, (char *)dst + got, chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (int64_t)got;
}

/* Reads exactly n bytes of what (sizes were checked against the file's). */
lg_status lg_io_read_exact(const lg_io_job *job, int fd, void *dst, size_t n,
                           const char *what) {
  char buf[128];
  int64_t got = lg_io_read_up_to(fd, dst, n);
  if (got < 0)
    return lg_io_fail(job, LG_ERR_IO, "reading %s: %s", what,
                      lg_io_errno_text(errno, buf, sizeof buf));
  if ((size_t)got != n)
    return lg_io_fail(job, LG_ERR_IO, "truncated %s (the file changed while "
                      "being read?)", what);
  return LG_OK;
}

/* ---- writing files (atomic) ---------------------------------------------- */

/* The decimal number at s, ending at the character stop (digits only, no
 * sign or blanks); *next points past it. */
static bool parse_number(const char *s, char stop, long *value,
                         const char **next) {
  long v = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (LONG_MAX - 9) / 10) return false;
    v = v * 10 + (*p - '0');
  }
  if (p == s || *p != stop) return false;
  *value = v;
  *next = p + 1;
  return true;
}

/* Whether process pid has ended: no such process, or a zombie waiting to
 * be reaped (a killed writer whose parent never waits, as under a
 * container's init, still answers kill(pid, 0) but writes nothing more). */
static bool process_ended(long pid) {
  if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
  char stat_path[64], line[256];
  snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", pid);
  FILE *f = fopen(stat_path, "r");
  if (!f) return false;
  bool zombie = false;
  if (fgets(line, sizeof line, f)) {
    const char *paren = strrchr(line, ')'); /* the name may hold spaces */
    zombie = paren && paren[1] == ' ' && paren[2] == 'Z';
  }
  fclose(f);
  return zombie;
}

/* Removes the temporaries that saves to path left when their process died
 * mid-write: <path>.tmp-<pid>-<n> whose process has ended. Those of a live
 * process, this one included, are left alone: it may still be writing
 * them. Best effort: errors are ignored. */
static void remove_stale_temporaries(const char *path) {
  char dir[4096], stale[4096];
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  size_t dir_len = slash ? (size_t)(slash - path) : 0;
  if (dir_len >= sizeof dir) return;
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (dir_len == 0) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)dir_len, path);
  DIR *d = opendir(dir);
  if (!d) return;
  size_t base_len = strlen(base);
  for (struct dirent *e = readdir(d); e; e = readdir(d)) {
    const char *name = e->d_name, *p;
    long pid, n;
    if (strncmp(name, base, base_len) != 0 ||
        strncmp(name + base_len, ".tmp-", 5) != 0 ||
        !parse_number(name + base_len + 5, '-', &pid, &p) ||
        !parse_number(p, '\0', &n, &p) || pid <= 0 || pid == (long)getpid())
      continue;
    if (!process_ended(pid)) continue;
    if (snprintf(stale, sizeof stale, "%s/%s", dir, name) < (int)sizeof stale)
      unlink(stale);
  }
  closedir(d);
}

/* Creates the temporary file beside job->path, after removing the stale
 * ones of dead processes. */
lg_status lg_io_out_open(const lg_io_job *job, lg_io_out *o) {
  char buf[128];
  remove_stale_temporaries(job->path);
  o->fd = -1;
  o->tmp_size = strlen(job->path) + 48;
  o->tmp_path = lg_mem_alloc(job->ctx, o->tmp_size);
  if (!o->tmp_path) return lg_io_out_of_memory(job);
  for (int attempt = 0; attempt < 1000; attempt++) {
    snprintf(o->tmp_path, o->tmp_size, "%s.tmp-%ld-%d", job->path,
             (long)getpid(), attempt);
    o->fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (o->fd >= 0) return LG_OK;
    if (errno != EEXIST) break;
  }
  int code = errno;
  lg_mem_free(job->ctx, o->tmp_path, o->tmp_size);
  o->tmp_path = NULL;
  return lg_io_fail(job, LG_ERR_IO, "cannot create a temporary file beside "
                    "it: %s", lg_io_errno_text(code, buf, sizeof buf));
}

/* Writes all n bytes of data to the temporary file. */
lg_status lg_io_out_write(const lg_io_job *job, lg_io_out *o, const void *data,
                          size_t n) {
  char buf[128];
  const char *p = data;
  while (n > 0) {
    size_t chunk = n < (1u << 30) ? n : (1u << 30);
    ssize_t w = write(o->fd, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return lg_io_fail(job, LG_ERR_IO, "writing: %s",
                        lg_io_errno_text(w < 0 ? errno : EIO, buf, sizeof buf));
    p += w;
    n -= (size_t)w;
  }
  return LG_OK;
}

/* Removes the temporary file; the target was never touched. */
void lg_io_out_abort(const lg_io_job *job, lg_io_out *o) {
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
  if (o->tmp_path) {
    unlink(o->tmp_path);
    lg_mem_free(job->ctx, o->tmp_path, o->tmp_size);
    o->tmp_path = NULL;
  }
}

/* Flushes the temporary file to disk and renames it over the target. */
lg_status lg_io_out_commit(const lg_io_job *job, lg_io_out *o) {
  char buf[128];
  int code = 0;
  if (fsync(o->fd) != 0 && errno != EINVAL && errno != EROFS) code = errno;
  if (close(o->fd) != 0 && !code) code = errno;
  o->fd = -1;
  if (!code && rename(o->tmp_path, job->path) != 0) code = errno;
  if (code) {
    lg_io_out_abort(job, o);
    return lg_io_fail(job, LG_ERR_IO, "cannot write the file: %s",
                      lg_io_errno_text(code, buf, sizeof buf));
  }
  lg_mem_free(job->ctx, o->tmp_path, o->tmp_size);
  o->tmp_path = NULL;
  return LG_OK;
}

/* Writes t's elements in row-major order, little-endian. */
lg_status lg_io_write_tensor_data(const lg_io_job *job, lg_io_out *o,
                                  lg_tensor *t) {
  lg_tensor *dense = NULL;
  lg_status st = lg_contiguous_as(job->ctx, t, t->dtype, &dense);
  if (st) return lg_io_rethrow(job, st, "copying a tensor");
  size_t elem = lg_dtype_size(dense->dtype);
  size_t n = (size_t)lg_tensor_numel(dense);
  const unsigned char *data = lg_tensor_data(dense);
  if (n == 0) {
    st = LG_OK;
  } else if (elem == 1 || host_is_little_endian()) {
    st = lg_io_out_write(job, o, data, n * elem);
  } else {
    unsigned char chunk[4096];
    size_t per = sizeof chunk / elem;
    for (size_t i = 0; i < n && !st; i += per) {
      size_t k = n - i < per ? n - i : per;
      memcpy(chunk, data + i * elem, k * elem);
      swap_bytes(chunk, elem, k);
      st = lg_io_out_write(job, o, chunk, k * elem);
    }
  }
  lg_tensor_release(dense);
  return st;
}

/* Bytes of t's data, failing when they do not fit the types involved. */
lg_status lg_io_tensor_bytes(const lg_io_job *job, const lg_tensor *t,
                             uint64_t *bytes) {
  int64_t n = lg_tensor_numel(t);
  size_t elem = lg_dtype_size(t->dtype);
  if (n < 0 || (uint64_t)n > INT64_MAX / elem)
    return lg_io_fail(job, LG_ERR_MEMORY, "a tensor is too large to save");
  *bytes = (uint64_t)n * elem;
  return LG_OK;
}

/* ---- header text --------------------------------------------------------- */

/* Fails with "kind at byte N: what". */
lg_status lg_io_parse_error(lg_io_cursor *P, const char *what) {
  return lg_io_fail(P->job, LG_ERR_IO, "%s at byte %zu: %s", P->kind,
                    (size_t)(P->p - P->base), what);
}

/* Skips JSON whitespace (space, tab, newline, carriage return). */
void lg_io_skip_space(lg_io_cursor *P) {
  while (P->p < P->end &&
         (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
    P->p++;
}

/* Skips whitespace, then consumes c or fails saying what was expected. */
lg_status lg_io_expect(lg_io_cursor *P, char c, const char *expected) {
  lg_io_skip_space(P);
  if (P->p >= P->end || *P->p != c) return lg_io_parse_error(P, expected);
  P->p++;
  return LG_OK;
}

/* Whether the next non-space character is c (consumed when it is). */
bool lg_io_accept(lg_io_cursor *P, char c) {
  lg_io_skip_space(P);
  if (P->p < P->end && *P->p == c) {
    P->p++;
    return true;
  }
  return false;
}

/* A non-negative integer without sign, fraction or exponent. */
lg_status lg_io_parse_uint(lg_io_cursor *P, uint64_t *out) {
  lg_io_skip_space(P);
  if (P->p >= P->end || *P->p < '0' || *P->p > '9')
    return lg_io_parse_error(P, "expected a non-negative integer");
  if (*P->p == '0' && P->p + 1 < P->end && P->p[1] >= '0' && P->p[1] <= '9')
    return lg_io_parse_error(P, "integer with a leading zero");
  uint64_t v = 0;
  while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
    unsigned d = (unsigned)(*P->p - '0');
    if (v > (UINT64_MAX - d) / 10)
      return lg_io_parse_error(P, "integer too large");
    v = v * 10 + d;
    P->p++;
  }
  if (P->p < P->end && (*P->p == '.' || *P->p == 'e' || *P->p == 'E'))
    return lg_io_parse_error(P,
                             "expected an integer, got a fraction or exponent");
  *out = v;
  return LG_OK;
}
