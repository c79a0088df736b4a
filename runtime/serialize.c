/* serialize.c: tensors to and from files: safetensors, NumPy .npy and IDX
 * (MNIST-family, gzipped or not).
 *
 * Nothing read from a file is trusted: every length, offset and shape is
 * checked with overflow-safe arithmetic before it sizes an allocation or a
 * read, and every failure is an lg_status whose message names the file and
 * what is wrong. Every byte, zlib's included, comes from the context's
 * allocator; files go through plain POSIX descriptors. Writers fill a
 * temporary file beside the target and rename it into place, so a failed
 * save leaves the target untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core.h"
#include "dtype.h"
#include "serialize.h"

/* ---- errors ---------------------------------------------------------------- */

/* What is being done to which file, for error messages. */
typedef struct io_job {
  lg_ctx *ctx;
  const char *what; /* "safetensors load", ... */
  const char *path;
} io_job;

static lg_status job_fail(const io_job *job, lg_status status,
                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lg_status job_fail(const io_job *job, lg_status status,
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
static lg_status job_rethrow(const io_job *job, lg_status status,
                             const char *doing) {
  char saved[LG_ERROR_SIZE];
  snprintf(saved, sizeof saved, "%s", lg_ctx_error(job->ctx));
  return job_fail(job, status, "%s: %s", doing, saved);
}

static lg_status out_of_memory(const io_job *job) {
  return job_fail(job, LG_ERR_MEMORY, "out of memory");
}

static const char *errno_text(int code, char *buf, size_t size) {
  if (strerror_r(code, buf, size) != 0) snprintf(buf, size, "error %d", code);
  return buf;
}

/* Inside a loader: records a failure status and jumps to its cleanup. */
#define FAIL(status_expr) \
  do {                    \
    st = (status_expr);   \
    goto done;            \
  } while (0)

/* ---- memory ---------------------------------------------------------------- */

/* Grows the array whose pointer is at array_ptr (capacity *cap items of
 * elem bytes) to hold at least need items. */
static bool grow(lg_ctx *ctx, void *array_ptr, size_t *cap, size_t elem,
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

/* A growable text buffer; `failed` latches an allocation failure. */
typedef struct text_buf {
  lg_ctx *ctx;
  char *data;
  size_t length, capacity;
  bool failed;
} text_buf;

static void text_add(text_buf *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->length + n + 1 < b->length ||
      !grow(b->ctx, &b->data, &b->capacity, 1, b->length + n + 1)) {
    b->failed = true;
    return;
  }
  memcpy(b->data + b->length, s, n);
  b->length += n;
  b->data[b->length] = '\0';
}
static void text_str(text_buf *b, const char *s) { text_add(b, s, strlen(s)); }
static void text_int(text_buf *b, int64_t v) {
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)v);
  text_str(b, num);
}
static void text_free(text_buf *b) {
  lg_mem_free(b->ctx, b->data, b->capacity);
  b->data = NULL;
  b->length = b->capacity = 0;
}

/* ---- sorting (in place, no allocation) -------------------------------------- */

typedef int (*compare_fn)(const void *data, size_t a, size_t b);

static void sift_down(size_t *idx, size_t root, size_t n, compare_fn cmp,
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
static void sort_indices(size_t *idx, size_t n, compare_fn cmp,
                         const void *data) {
  for (size_t i = n / 2; i-- > 0;) sift_down(idx, i, n, cmp, data);
  for (size_t end = n; end > 1; end--) {
    size_t tmp = idx[0];
    idx[0] = idx[end - 1];
    idx[end - 1] = tmp;
    sift_down(idx, 0, end - 1, cmp, data);
  }
}

static int compare_strings(const void *data, size_t a, size_t b) {
  const char *const *s = data;
  return strcmp(s[a], s[b]);
}

/* ---- bytes ------------------------------------------------------------------- */

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
static void little_endian_to_host(void *data, size_t elem, size_t n) {
  if (elem > 1 && !host_is_little_endian()) swap_bytes(data, elem, n);
}

/* Bool bytes from a file may hold anything; the runtime wants 0 or 1. */
static void normalize_bools(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = p[i] != 0;
}

static uint64_t load_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static uint64_t load_be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_length(const unsigned char *p, const unsigned char *end) {
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

static bool valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
  while (p < end) {
    size_t n = utf8_length(p, end);
    if (!n) return false;
    p += n;
  }
  return true;
}

/* ---- reading files ---------------------------------------------------------- */

/* Opens a regular file for reading; its size in *size. */
static lg_status open_input(const io_job *job, int *fd, uint64_t *size) {
  char buf[128];
  *fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return job_fail(job, LG_ERR_IO, "cannot open: %s",
                    errno_text(errno, buf, sizeof buf));
  struct stat st;
  if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(*fd);
    *fd = -1;
    return job_fail(job, LG_ERR_IO, "not a regular file");
  }
  *size = (uint64_t)st.st_size;
  return LG_OK;
}

/* Reads up to n bytes (fewer only at the end of the file); -1 on error. */
static int64_t read_up_to(int fd, void *dst, size_t n) {
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
static lg_status read_exact(const io_job *job, int fd, void *dst, size_t n,
                            const char *what) {
  char buf[128];
  int64_t got = read_up_to(fd, dst, n);
  if (got < 0)
    return job_fail(job, LG_ERR_IO, "reading %s: %s", what,
                    errno_text(errno, buf, sizeof buf));
  if ((size_t)got != n)
    return job_fail(job, LG_ERR_IO, "truncated %s (the file changed while "
                    "being read?)", what);
  return LG_OK;
}

/* ---- writing files (atomic) ------------------------------------------------- */

/* A temporary file beside the target, renamed into place on commit. */
typedef struct out_file {
  int fd;
  char *tmp_path;
  size_t tmp_size;
} out_file;

static lg_status out_open(const io_job *job, out_file *o) {
  char buf[128];
  o->fd = -1;
  o->tmp_size = strlen(job->path) + 48;
  o->tmp_path = lg_mem_alloc(job->ctx, o->tmp_size);
  if (!o->tmp_path) return out_of_memory(job);
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
  return job_fail(job, LG_ERR_IO, "cannot create a temporary file beside "
                  "it: %s", errno_text(code, buf, sizeof buf));
}

static lg_status out_write(const io_job *job, out_file *o, const void *data,
                           size_t n) {
  char buf[128];
  const char *p = data;
  while (n > 0) {
    size_t chunk = n < (1u << 30) ? n : (1u << 30);
    ssize_t w = write(o->fd, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return job_fail(job, LG_ERR_IO, "writing: %s",
                      errno_text(w < 0 ? errno : EIO, buf, sizeof buf));
    p += w;
    n -= (size_t)w;
  }
  return LG_OK;
}

/* Removes the temporary file; the target was never touched. */
static void out_abort(const io_job *job, out_file *o) {
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
  if (o->tmp_path) {
    unlink(o->tmp_path);
    lg_mem_free(job->ctx, o->tmp_path, o->tmp_size);
    o->tmp_path = NULL;
  }
}

/* Flushes the temporary file to disk and renames it over the target. */
static lg_status out_commit(const io_job *job, out_file *o) {
  char buf[128];
  int code = 0;
  if (fsync(o->fd) != 0 && errno != EINVAL && errno != EROFS) code = errno;
  if (close(o->fd) != 0 && !code) code = errno;
  o->fd = -1;
  if (!code && rename(o->tmp_path, job->path) != 0) code = errno;
  if (code) {
    out_abort(job, o);
    return job_fail(job, LG_ERR_IO, "cannot write the file: %s",
                    errno_text(code, buf, sizeof buf));
  }
  lg_mem_free(job->ctx, o->tmp_path, o->tmp_size);
  o->tmp_path = NULL;
  return LG_OK;
}

/* Writes t's elements in row-major order, little-endian. */
static lg_status write_tensor_data(const io_job *job, out_file *o,
                                   lg_tensor *t) {
  lg_tensor *dense = NULL;
  lg_status st = lg_contiguous_as(job->ctx, t, t->dtype, &dense);
  if (st) return job_rethrow(job, st, "copying a tensor");
  size_t elem = lg_dtype_size(dense->dtype);
  size_t n = (size_t)lg_tensor_numel(dense);
  const unsigned char *data = lg_tensor_data(dense);
  if (n == 0) {
    st = LG_OK;
  } else if (elem == 1 || host_is_little_endian()) {
    st = out_write(job, o, data, n * elem);
  } else {
    unsigned char chunk[4096];
    size_t per = sizeof chunk / elem;
    for (size_t i = 0; i < n && !st; i += per) {
      size_t k = n - i < per ? n - i : per;
      memcpy(chunk, data + i * elem, k * elem);
      swap_bytes(chunk, elem, k);
      st = out_write(job, o, chunk, k * elem);
    }
  }
  lg_tensor_release(dense);
  return st;
}

/* Bytes of t's data, failing when they do not fit the types involved. */
static lg_status tensor_bytes(const io_job *job, const lg_tensor *t,
                              uint64_t *bytes) {
  int64_t n = lg_tensor_numel(t);
  size_t elem = lg_dtype_size(t->dtype);
  if (n < 0 || (uint64_t)n > INT64_MAX / elem)
    return job_fail(job, LG_ERR_MEMORY, "a tensor is too large to save");
  *bytes = (uint64_t)n * elem;
  return LG_OK;
}

/* ---- safetensors: dtypes ------------------------------------------------- */

static const struct {
  const char *name;
  lg_dtype dtype;
} st_dtypes[] = {{"F32", LG_FLOAT32}, {"F64", LG_FLOAT64},
                 {"I32", LG_INT32},   {"I64", LG_INT64},
                 {"U8", LG_UINT8},    {"BOOL", LG_BOOL}};

/* Dtypes of the format that luagrad has no tensor type for. */
static const char *const st_unsupported[] = {
    "F16", "BF16", "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2",
    "F8_E8M0", "E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128"};

static const char *st_dtype_name(lg_dtype dtype) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (st_dtypes[i].dtype == dtype) return st_dtypes[i].name;
  return "?";
}

/* ---- safetensors: the JSON header ------------------------------------------
 * A small strict parser for the subset the format uses: one top-level
 * object whose members are tensors ({"dtype": string, "shape": [ints],
 * "data_offsets": [int, int]}) or "__metadata__" (an object of strings, or
 * null). Strings are decoded in place inside the header buffer (a decoded
 * string is never longer than its JSON text) and NUL-terminated there. */

typedef struct st_entry {
  const char *name;
  lg_dtype dtype;
  int ndim;
  int64_t shape[LG_MAX_DIMS];
  uint64_t begin, end;
} st_entry;

/* A position in a header being parsed; errors give the byte offset. */
typedef struct cursor {
  const io_job *job;
  const char *kind; /* "invalid JSON header", "invalid header" */
  char *base, *p, *end;
} cursor;

typedef struct st_parser {
  cursor c;
  st_entry *entries;
  size_t n_entries, entries_cap;
  const char **metadata; /* key, value, ... */
  size_t n_metadata, metadata_cap;
  bool seen_metadata;
} st_parser;

static lg_status cursor_error(cursor *P, const char *what) {
  return job_fail(P->job, LG_ERR_IO, "%s at byte %zu: %s", P->kind,
                  (size_t)(P->p - P->base), what);
}

static void cursor_skip_space(cursor *P) {
  while (P->p < P->end &&
         (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
    P->p++;
}

/* Skips whitespace, then consumes c or fails saying what was expected. */
static lg_status cursor_expect(cursor *P, char c, const char *expected) {
  cursor_skip_space(P);
  if (P->p >= P->end || *P->p != c) return cursor_error(P, expected);
  P->p++;
  return LG_OK;
}

/* Whether the next non-space character is c (consumed when it is). */
static bool cursor_accept(cursor *P, char c) {
  cursor_skip_space(P);
  if (P->p < P->end && *P->p == c) {
    P->p++;
    return true;
  }
  return false;
}

static bool hex4(const char *p, const char *end, uint32_t *out) {
  if (end - p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return false;
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return true;
}

static size_t put_utf8(uint32_t cp, char *w) {
  if (cp < 0x80) {
    w[0] = (char)cp;
    return 1;
  }
  size_t n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  for (size_t i = n - 1; i > 0; i--, cp >>= 6) w[i] = (char)(0x80 | (cp & 0x3F));
  w[0] = (char)(((0xFF00u >> n) & 0xFF) | cp); /* C0, E0 or F0 */
  return n;
}

/* A JSON string, decoded in place; *out points at it (NUL-terminated). */
static lg_status json_string(cursor *P, const char **out) {
  cursor_skip_space(P);
  if (P->p >= P->end || *P->p != '"') return cursor_error(P, "expected a string");
  char *w = P->p, *r = P->p + 1;
  const char *start = w;
  for (;;) {
    if (r >= P->end) return cursor_error(P, "unterminated string");
    unsigned char c = (unsigned char)*r;
    if (c == '"') {
      r++;
      break;
    }
    if (c < 0x20) {
      P->p = r;
      return cursor_error(P, "control character inside a string");
    }
    if (c >= 0x80) {
      size_t n = utf8_length((const unsigned char *)r,
                             (const unsigned char *)P->end);
      if (!n) {
        P->p = r;
        return cursor_error(P, "invalid UTF-8 inside a string");
      }
      memmove(w, r, n);
      w += n;
      r += n;
      continue;
    }
    if (c != '\\') {
      *w++ = *r++;
      continue;
    }
    P->p = r;
    if (r + 1 >= P->end) return cursor_error(P, "unterminated string");
    char e = r[1];
    r += 2;
    switch (e) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        uint32_t cp, low;
        if (!hex4(r, P->end, &cp)) return cursor_error(P, "bad \\u escape");
        r += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (P->end - r >= 6 && r[0] == '\\' && r[1] == 'u' &&
              hex4(r + 2, P->end, &low) && low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            r += 6;
          } else {
            return cursor_error(P, "unpaired UTF-16 surrogate in \\u escape");
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return cursor_error(P, "unpaired UTF-16 surrogate in \\u escape");
        }
        if (cp == 0)
          return cursor_error(P, "\\u0000 (NUL) is not supported in strings");
        w += put_utf8(cp, w);
        break;
      }
      default: return cursor_error(P, "invalid escape in a string");
    }
  }
  *w = '\0';
  P->p = r;
  *out = start;
  return LG_OK;
}

/* A non-negative integer without sign, fraction or exponent. */
static lg_status json_uint(cursor *P, uint64_t *out) {
  cursor_skip_space(P);
  if (P->p >= P->end || *P->p < '0' || *P->p > '9')
    return cursor_error(P, "expected a non-negative integer");
  if (*P->p == '0' && P->p + 1 < P->end && P->p[1] >= '0' && P->p[1] <= '9')
    return cursor_error(P, "integer with a leading zero");
  uint64_t v = 0;
  while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
    unsigned d = (unsigned)(*P->p - '0');
    if (v > (UINT64_MAX - d) / 10) return cursor_error(P, "integer too large");
    v = v * 10 + d;
    P->p++;
  }
  if (P->p < P->end && (*P->p == '.' || *P->p == 'e' || *P->p == 'E'))
    return cursor_error(P, "expected an integer, got a fraction or exponent");
  *out = v;
  return LG_OK;
}

static lg_status json_literal(cursor *P, const char *word) {
  size_t n = strlen(word);
  cursor_skip_space(P);
  if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n) != 0)
    return cursor_error(P, "unexpected value");
  P->p += n;
  return LG_OK;
}

/* "dtype" of a tensor entry: a name from st_dtypes. */
static lg_status st_parse_dtype(st_parser *P, st_entry *e) {
  const char *name;
  lg_status st = json_string(&P->c, &name);
  if (st) return st;
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (strcmp(name, st_dtypes[i].name) == 0) {
      e->dtype = st_dtypes[i].dtype;
      return LG_OK;
    }
  for (size_t i = 0; i < sizeof st_unsupported / sizeof st_unsupported[0];
       i++)
    if (strcmp(name, st_unsupported[i]) == 0)
      return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': unsupported dtype "
                      "%s (supported: F32 F64 I32 I64 U8 BOOL)", e->name,
                      name);
  return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': unknown dtype '%.40s'",
                  e->name, name);
}

/* "shape" of a tensor entry: an array of at most LG_MAX_DIMS sizes. */
static lg_status st_parse_shape(st_parser *P, st_entry *e) {
  lg_status st = cursor_expect(&P->c, '[', "expected '[' to open a shape");
  if (st) return st;
  e->ndim = 0;
  if (cursor_accept(&P->c, ']')) return LG_OK;
  do {
    uint64_t v;
    if ((st = json_uint(&P->c, &v))) return st;
    if (e->ndim == LG_MAX_DIMS)
      return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s' has more than %d "
                      "dims", e->name, LG_MAX_DIMS);
    if (v > INT64_MAX)
      return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': size %llu is too "
                      "large", e->name, (unsigned long long)v);
    e->shape[e->ndim++] = (int64_t)v;
  } while (cursor_accept(&P->c, ','));
  return cursor_expect(&P->c, ']', "expected ',' or ']' in a shape");
}

static lg_status st_parse_offsets(st_parser *P, st_entry *e) {
  lg_status st;
  if ((st = cursor_expect(&P->c, '[', "expected '[' to open data_offsets")) ||
      (st = json_uint(&P->c, &e->begin)) ||
      (st = cursor_expect(&P->c, ',', "expected two integers in data_offsets")) ||
      (st = json_uint(&P->c, &e->end)) ||
      (st = cursor_expect(&P->c, ']', "expected two integers in data_offsets")))
    return st;
  return LG_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order. */
static lg_status st_parse_tensor(st_parser *P, const char *name) {
  if (!grow(P->c.job->ctx, &P->entries, &P->entries_cap, sizeof(st_entry),
            P->n_entries + 1))
    return out_of_memory(P->c.job);
  st_entry *e = &P->entries[P->n_entries++];
  memset(e, 0, sizeof *e);
  e->name = name;
  lg_status st = cursor_expect(&P->c, '{', "expected '{' to open a tensor entry");
  if (st) return st;
  bool seen[3] = {false, false, false};
  static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
  if (cursor_accept(&P->c, '}'))
    return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': missing dtype, shape "
                    "and data_offsets", name);
  do {
    const char *key;
    if ((st = json_string(&P->c, &key))) return st;
    if ((st = cursor_expect(&P->c, ':', "expected ':' after a key"))) return st;
    int which = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(key, fields[i]) == 0) which = i;
    if (which < 0)
      return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': unknown field "
                      "'%.40s'", name, key);
    if (seen[which])
      return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': duplicate field "
                      "'%s'", name, key);
    seen[which] = true;
    st = which == 0   ? st_parse_dtype(P, e)
         : which == 1 ? st_parse_shape(P, e)
                      : st_parse_offsets(P, e);
    if (st) return st;
  } while (cursor_accept(&P->c, ','));
  if ((st = cursor_expect(&P->c, '}', "expected ',' or '}' in a tensor entry")))
    return st;
  for (int i = 0; i < 3; i++)
    if (!seen[i])
      return job_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': missing field '%s'",
                      name, fields[i]);
  return LG_OK;
}

/* "__metadata__": an object of string values, or null. */
static lg_status st_parse_metadata(st_parser *P) {
  if (P->seen_metadata)
    return job_fail(P->c.job, LG_ERR_IO, "duplicate __metadata__");
  P->seen_metadata = true;
  cursor_skip_space(&P->c);
  if (P->c.p < P->c.end && *P->c.p == 'n') return json_literal(&P->c, "null");
  lg_status st = cursor_expect(&P->c, '{', "expected '{' to open __metadata__");
  if (st || cursor_accept(&P->c, '}')) return st;
  do {
    const char *key, *value;
    if ((st = json_string(&P->c, &key))) return st;
    if ((st = cursor_expect(&P->c, ':', "expected ':' after a key"))) return st;
    cursor_skip_space(&P->c);
    if (P->c.p < P->c.end && *P->c.p != '"')
      return job_fail(P->c.job, LG_ERR_IO, "__metadata__ value of '%.80s' is "
                      "not a string", key);
    if ((st = json_string(&P->c, &value))) return st;
    if (!grow(P->c.job->ctx, &P->metadata, &P->metadata_cap,
              sizeof(const char *), 2 * P->n_metadata + 2))
      return out_of_memory(P->c.job);
    P->metadata[2 * P->n_metadata] = key;
    P->metadata[2 * P->n_metadata + 1] = value;
    P->n_metadata++;
  } while (cursor_accept(&P->c, ','));
  return cursor_expect(&P->c, '}', "expected ',' or '}' in __metadata__");
}

static lg_status st_parse_header(st_parser *P) {
  lg_status st = cursor_expect(&P->c, '{', "expected '{' at the start");
  if (st) return st;
  if (!cursor_accept(&P->c, '}')) {
    do {
      const char *key;
      if ((st = json_string(&P->c, &key))) return st;
      if ((st = cursor_expect(&P->c, ':', "expected ':' after a key"))) return st;
      st = strcmp(key, "__metadata__") == 0 ? st_parse_metadata(P)
                                             : st_parse_tensor(P, key);
      if (st) return st;
    } while (cursor_accept(&P->c, ','));
    if ((st = cursor_expect(&P->c, '}', "expected ',' or '}' after a member")))
      return st;
  }
  cursor_skip_space(&P->c);
  if (P->c.p != P->c.end) return cursor_error(&P->c, "unexpected text after the object");
  return LG_OK;
}

/* ---- safetensors: load ------------------------------------------------------ */

static int compare_entry_names(const void *data, size_t a, size_t b) {
  const st_entry *e = data;
  return strcmp(e[a].name, e[b].name);
}

static int compare_entry_offsets(const void *data, size_t a, size_t b) {
  const st_entry *e = data;
  if (e[a].begin != e[b].begin) return e[a].begin < e[b].begin ? -1 : 1;
  if (e[a].end != e[b].end) return e[a].end < e[b].end ? -1 : 1;
  return 0;
}

/* Names and metadata keys unique; offsets consistent with shapes and
 * covering [0, data_size) exactly. Leaves idx sorted by offset. */
static lg_status st_validate(st_parser *P, size_t *idx, uint64_t data_size) {
  const io_job *job = P->c.job;
  size_t n = P->n_entries;
  for (size_t i = 0; i < n; i++) idx[i] = i;
  sort_indices(idx, n, compare_entry_names, P->entries);
  for (size_t i = 1; i < n; i++)
    if (strcmp(P->entries[idx[i]].name, P->entries[idx[i - 1]].name) == 0)
      return job_fail(job, LG_ERR_IO, "duplicate tensor name '%.80s'",
                      P->entries[idx[i]].name);
  for (size_t i = 0; i < P->n_metadata; i++) idx[i] = 2 * i;
  sort_indices(idx, P->n_metadata, compare_strings, P->metadata);
  for (size_t i = 1; i < P->n_metadata; i++)
    if (strcmp(P->metadata[idx[i]], P->metadata[idx[i - 1]]) == 0)
      return job_fail(job, LG_ERR_IO, "duplicate __metadata__ key '%.80s'",
                      P->metadata[idx[i]]);
  for (size_t i = 0; i < n; i++) {
    const st_entry *e = &P->entries[i];
    char shape[160];
    lg_shape_str(shape, sizeof shape, e->ndim, e->shape);
    int64_t numel = lg_shape_numel(e->ndim, e->shape);
    size_t elem = lg_dtype_size(e->dtype);
    if (numel < 0 || (uint64_t)numel > INT64_MAX / elem)
      return job_fail(job, LG_ERR_IO, "tensor '%.80s': shape %s is too large",
                      e->name, shape);
    if (e->begin > e->end)
      return job_fail(job, LG_ERR_IO, "tensor '%.80s': data_offsets [%llu, "
                      "%llu] end before they begin", e->name,
                      (unsigned long long)e->begin,
                      (unsigned long long)e->end);
    if (e->end > data_size)
      return job_fail(job, LG_ERR_IO, "tensor '%.80s': data_offsets [%llu, "
                      "%llu) run past the end of the data (%llu bytes after "
                      "the header)", e->name, (unsigned long long)e->begin,
                      (unsigned long long)e->end,
                      (unsigned long long)data_size);
    if (e->end - e->begin != (uint64_t)numel * elem)
      return job_fail(job, LG_ERR_IO, "tensor '%.80s': shape %s of %s needs "
                      "%llu bytes but data_offsets [%llu, %llu) span %llu",
                      e->name, shape, st_dtype_name(e->dtype),
                      (unsigned long long)((uint64_t)numel * elem),
                      (unsigned long long)e->begin, (unsigned long long)e->end,
                      (unsigned long long)(e->end - e->begin));
  }
  for (size_t i = 0; i < n; i++) idx[i] = i;
  sort_indices(idx, n, compare_entry_offsets, P->entries);
  uint64_t at = 0;
  const char *previous = NULL;
  for (size_t i = 0; i < n; i++) {
    const st_entry *e = &P->entries[idx[i]];
    if (e->begin < at)
      return job_fail(job, LG_ERR_IO, "tensors '%.80s' and '%.80s' overlap "
                      "(data_offsets begin at %llu, before %llu)", previous,
                      e->name, (unsigned long long)e->begin,
                      (unsigned long long)at);
    if (e->begin > at)
      return job_fail(job, LG_ERR_IO, "gap in the data: bytes [%llu, %llu) "
                      "before tensor '%.80s' belong to no tensor",
                      (unsigned long long)at, (unsigned long long)e->begin,
                      e->name);
    at = e->end;
    previous = e->name;
  }
  if (at != data_size)
    return job_fail(job, LG_ERR_IO, "%llu trailing bytes after the last "
                    "tensor's data", (unsigned long long)(data_size - at));
  return LG_OK;
}

/* Creates the tensors in file order and reads their data. */
static lg_status st_read_tensors(st_parser *P, const size_t *idx, int fd,
                                 lg_safetensors *file) {
  const io_job *job = P->c.job;
  for (size_t i = 0; i < P->n_entries; i++) {
    const st_entry *e = &P->entries[idx[i]];
    lg_tensor *t = NULL;
    lg_status st = lg_empty(job->ctx, e->dtype, e->ndim, e->shape, &t);
    if (st) return job_rethrow(job, st, "allocating a tensor");
    file->names[i] = e->name;
    file->tensors[i] = t;
    size_t bytes = (size_t)(e->end - e->begin), elem = lg_dtype_size(e->dtype);
    if (bytes == 0) continue;
    char what[128];
    snprintf(what, sizeof what, "data of tensor '%.80s'", e->name);
    if ((st = read_exact(job, fd, lg_tensor_data(t), bytes, what))) return st;
    little_endian_to_host(lg_tensor_data(t), elem, bytes / elem);
    if (e->dtype == LG_BOOL) normalize_bools(lg_tensor_data(t), bytes);
  }
  return LG_OK;
}

/* Reads a safetensors file (see serialize.h). */
lg_status lg_safetensors_load(lg_ctx *ctx, const char *path,
                              lg_safetensors **out) {
  io_job job = {ctx, "safetensors load", path};
  *out = NULL;
  int fd;
  uint64_t file_size;
  lg_status st = open_input(&job, &fd, &file_size);
  if (st) return st;
  st_parser P = {.c = {.job = &job, .kind = "invalid JSON header"}};
  lg_safetensors *file = NULL;
  size_t *idx = NULL, idx_count = 0;
  unsigned char prefix[8];
  if (file_size < 8)
    FAIL(job_fail(&job, LG_ERR_IO, "file too small (%llu bytes) to hold the "
                  "8-byte header length", (unsigned long long)file_size));
  if ((st = read_exact(&job, fd, prefix, 8, "header length"))) goto done;
  uint64_t header_size = load_le(prefix, 8);
  if (header_size > LG_SAFETENSORS_MAX_HEADER)
    FAIL(job_fail(&job, LG_ERR_IO, "header length %llu exceeds the limit of "
                  "%u bytes", (unsigned long long)header_size,
                  LG_SAFETENSORS_MAX_HEADER));
  if (header_size > file_size - 8)
    FAIL(job_fail(&job, LG_ERR_IO, "header length %llu is larger than the "
                  "rest of the file (%llu bytes)",
                  (unsigned long long)header_size,
                  (unsigned long long)(file_size - 8)));
  file = lg_mem_alloc(ctx, sizeof *file);
  if (!file) FAIL(out_of_memory(&job));
  memset(file, 0, sizeof *file);
  file->header_size = (size_t)header_size;
  file->header = lg_mem_alloc(ctx, file->header_size);
  if (!file->header) FAIL(out_of_memory(&job));
  if ((st = read_exact(&job, fd, file->header, file->header_size, "header")))
    goto done;
  P.c.base = P.c.p = file->header;
  P.c.end = file->header + file->header_size;
  if ((st = st_parse_header(&P))) goto done;
  idx_count = P.n_entries > P.n_metadata ? P.n_entries : P.n_metadata;
  idx = lg_mem_alloc(ctx, idx_count * sizeof *idx);
  if (!idx) FAIL(out_of_memory(&job));
  if ((st = st_validate(&P, idx, file_size - 8 - header_size))) goto done;
  /* the result takes the metadata array */
  file->metadata = P.metadata;
  file->metadata_capacity = P.metadata_cap;
  file->n_metadata = (int64_t)P.n_metadata;
  P.metadata = NULL;
  size_t n = P.n_entries;
  const char **names = lg_mem_alloc(ctx, n * sizeof *names);
  lg_tensor **tensors = lg_mem_alloc(ctx, n * sizeof *tensors);
  if (!names || !tensors) {
    lg_mem_free(ctx, names, n * sizeof *names);
    lg_mem_free(ctx, tensors, n * sizeof *tensors);
    st = out_of_memory(&job);
    goto done;
  }
  for (size_t i = 0; i < n; i++) names[i] = NULL, tensors[i] = NULL;
  file->names = names;
  file->tensors = tensors;
  file->n_tensors = (int64_t)n;
  st = st_read_tensors(&P, idx, fd, file);
done:
  close(fd);
  lg_mem_free(ctx, idx, idx_count * sizeof *idx);
  lg_mem_free(ctx, P.entries, P.entries_cap * sizeof *P.entries);
  lg_mem_free(ctx, P.metadata, P.metadata_cap * sizeof *P.metadata);
  if (st) {
    lg_safetensors_free(ctx, file);
    return st;
  }
  *out = file;
  return LG_OK;
}

/* Frees a loaded file and the tensors still in it. */
void lg_safetensors_free(lg_ctx *ctx, lg_safetensors *file) {
  if (!file) return;
  size_t n = (size_t)file->n_tensors;
  if (file->tensors)
    for (size_t i = 0; i < n; i++) lg_tensor_release(file->tensors[i]);
  lg_mem_free(ctx, file->tensors, n * sizeof *file->tensors);
  lg_mem_free(ctx, file->names, n * sizeof *file->names);
  lg_mem_free(ctx, file->metadata,
              file->metadata_capacity * sizeof *file->metadata);
  lg_mem_free(ctx, file->header, file->header_size);
  lg_mem_free(ctx, file, sizeof *file);
}

/* ---- safetensors: save ------------------------------------------------------ */

/* A JSON string with the escapes the format's readers expect. */
static void text_json_string(text_buf *b, const char *s) {
  text_str(b, "\"");
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      text_add(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      text_str(b, esc);
    } else {
      text_add(b, p, 1);
    }
  }
  text_str(b, "\"");
}

static lg_status st_check_string(const io_job *job, const char *s,
                                 const char *what) {
  if (!s) return job_fail(job, LG_ERR_ARG, "%s is missing", what);
  if (!valid_utf8(s))
    return job_fail(job, LG_ERR_ARG, "%s '%.80s' is not valid UTF-8", what, s);
  return LG_OK;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes. */
static lg_status st_build_header(const io_job *job, text_buf *b, size_t n,
                                 const size_t *order,
                                 const char *const *names,
                                 lg_tensor *const *tensors,
                                 size_t n_metadata,
                                 const char *const *metadata) {
  text_str(b, "{");
  if (n_metadata) {
    text_str(b, "\"__metadata__\":{");
    for (size_t i = 0; i < n_metadata; i++) {
      if (i) text_str(b, ",");
      text_json_string(b, metadata[2 * i]);
      text_str(b, ":");
      text_json_string(b, metadata[2 * i + 1]);
    }
    text_str(b, "}");
  }
  uint64_t offset = 0;
  for (size_t k = 0; k < n; k++) {
    const lg_tensor *t = tensors[order[k]];
    uint64_t bytes = 0;
    lg_status st = tensor_bytes(job, t, &bytes);
    if (st) return st;
    if (n_metadata || k) text_str(b, ",");
    text_json_string(b, names[order[k]]);
    text_str(b, ":{\"dtype\":\"");
    text_str(b, st_dtype_name(t->dtype));
    text_str(b, "\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      if (d) text_str(b, ",");
      text_int(b, t->sizes[d]);
    }
    text_str(b, "],\"data_offsets\":[");
    text_int(b, (int64_t)offset);
    text_str(b, ",");
    if (bytes > (uint64_t)INT64_MAX - offset)
      return job_fail(job, LG_ERR_MEMORY, "the tensors are too large to save");
    offset += bytes;
    text_int(b, (int64_t)offset);
    text_str(b, "]}");
  }
  text_str(b, "}");
  while (!b->failed && b->length % 8) text_str(b, " ");
  if (b->failed) return out_of_memory(job);
  if (b->length > LG_SAFETENSORS_MAX_HEADER)
    return job_fail(job, LG_ERR_ARG, "the header would be %zu bytes, over "
                    "the limit of %u", b->length, LG_SAFETENSORS_MAX_HEADER);
  return LG_OK;
}

/* Writes a safetensors file (see serialize.h). */
lg_status lg_safetensors_save(lg_ctx *ctx, const char *path, int64_t n,
                              const char *const *names,
                              lg_tensor *const *tensors, int64_t n_metadata,
                              const char *const *metadata) {
  io_job job = {ctx, "safetensors save", path};
  if (n < 0 || n_metadata < 0 || (uint64_t)n > SIZE_MAX / sizeof(size_t) ||
      (uint64_t)n_metadata > SIZE_MAX / sizeof(size_t) / 2)
    return job_fail(&job, LG_ERR_ARG, "bad tensor or metadata count");
  size_t count = (size_t)n, meta_count = (size_t)n_metadata;
  lg_status st = LG_OK;
  for (size_t i = 0; i < count && !st; i++) {
    if ((st = st_check_string(&job, names[i], "tensor name"))) break;
    if (strcmp(names[i], "__metadata__") == 0)
      st = job_fail(&job, LG_ERR_ARG, "'__metadata__' is reserved and cannot "
                    "name a tensor");
    else if (!tensors[i])
      st = job_fail(&job, LG_ERR_ARG, "tensor '%.80s' is missing", names[i]);
  }
  for (size_t i = 0; i < 2 * meta_count && !st; i++)
    st = st_check_string(&job, metadata[i],
                         i % 2 ? "metadata value" : "metadata key");
  if (st) return st;
  size_t idx_count = count > meta_count ? count : meta_count;
  size_t *order = lg_mem_alloc(ctx, idx_count * sizeof *order);
  if (!order) return out_of_memory(&job);
  for (size_t i = 0; i < meta_count; i++) order[i] = 2 * i;
  sort_indices(order, meta_count, compare_strings, metadata);
  for (size_t i = 1; i < meta_count && !st; i++)
    if (strcmp(metadata[order[i]], metadata[order[i - 1]]) == 0)
      st = job_fail(&job, LG_ERR_ARG, "duplicate metadata key '%.80s'",
                    metadata[order[i]]);
  for (size_t i = 0; i < count; i++) order[i] = i;
  sort_indices(order, count, compare_strings, names);
  for (size_t i = 1; i < count && !st; i++)
    if (strcmp(names[order[i]], names[order[i - 1]]) == 0)
      st = job_fail(&job, LG_ERR_ARG, "duplicate tensor name '%.80s'",
                    names[order[i]]);
  text_buf header = {.ctx = ctx};
  if (!st)
    st = st_build_header(&job, &header, count, order, names, tensors,
                         meta_count, metadata);
  out_file o = {.fd = -1};
  if (!st) st = out_open(&job, &o);
  if (!st) {
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
      prefix[i] = (unsigned char)((uint64_t)header.length >> (8 * i));
    st = out_write(&job, &o, prefix, 8);
    if (!st) st = out_write(&job, &o, header.data, header.length);
    for (size_t k = 0; k < count && !st; k++)
      st = write_tensor_data(&job, &o, tensors[order[k]]);
    if (!st) st = out_commit(&job, &o);
    else out_abort(&job, &o);
  }
  text_free(&header);
  lg_mem_free(ctx, order, idx_count * sizeof *order);
  return st;
}

/* ---- .npy --------------------------------------------------------------- */

static const struct {
  const char *descr;
  lg_dtype dtype;
} npy_dtypes[] = {{"<f4", LG_FLOAT32}, {"<f8", LG_FLOAT64},
                  {"<i4", LG_INT32},   {"<i8", LG_INT64},
                  {"|u1", LG_UINT8},   {"|b1", LG_BOOL}};

/* The header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2,)} */
typedef struct npy_header {
  cursor c;
  char descr[32];
  bool fortran;
  int ndim;
  int64_t shape[LG_MAX_DIMS];
} npy_header;

/* A Python string literal in single or double quotes, without escapes,
 * copied into buf (NUL-terminated; fails when longer than size - 1). */
static lg_status npy_string(npy_header *H, char *buf, size_t size) {
  cursor_skip_space(&H->c);
  if (H->c.p >= H->c.end || (*H->c.p != '\'' && *H->c.p != '"'))
    return cursor_error(&H->c, "expected a quoted string");
  char quote = *H->c.p++;
  size_t n = 0;
  while (H->c.p < H->c.end && *H->c.p != quote) {
    if (*H->c.p == '\\' || *H->c.p == '\n')
      return cursor_error(&H->c, "unsupported character in a string");
    if (n + 1 >= size) return cursor_error(&H->c, "string too long");
    buf[n++] = *H->c.p++;
  }
  if (H->c.p >= H->c.end) return cursor_error(&H->c, "unterminated string");
  H->c.p++;
  buf[n] = '\0';
  return LG_OK;
}

/* (d0, d1, ...) with an optional trailing comma; () is 0-d. */
static lg_status npy_shape(npy_header *H) {
  if (!cursor_accept(&H->c, '(')) return cursor_error(&H->c, "expected a tuple for shape");
  H->ndim = 0;
  if (cursor_accept(&H->c, ')')) return LG_OK;
  for (;;) {
    uint64_t v;
    lg_status st = json_uint(&H->c, &v);
    if (st) return st;
    if (v > INT64_MAX) return cursor_error(&H->c, "shape size too large");
    if (H->c.p < H->c.end && *H->c.p == 'L') H->c.p++; /* Python 2 longs */
    if (H->ndim == LG_MAX_DIMS)
      return job_fail(H->c.job, LG_ERR_IO, "more than %d dims are not "
                      "supported", LG_MAX_DIMS);
    H->shape[H->ndim++] = (int64_t)v;
    if (cursor_accept(&H->c, ')')) return LG_OK;
    if (!cursor_accept(&H->c, ',')) return cursor_error(&H->c, "expected ',' or ')'");
    if (cursor_accept(&H->c, ')')) return LG_OK;
  }
}

static lg_status npy_parse_header(npy_header *H) {
  bool seen[3] = {false, false, false};
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};
  lg_status st;
  if (!cursor_accept(&H->c, '{')) return cursor_error(&H->c, "expected '{'");
  while (!cursor_accept(&H->c, '}')) {
    char key[32];
    if ((st = npy_string(H, key, sizeof key))) return st;
    if (!cursor_accept(&H->c, ':')) return cursor_error(&H->c, "expected ':' after a key");
    int which = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(key, keys[i]) == 0) which = i;
    if (which < 0)
      return job_fail(H->c.job, LG_ERR_IO, "unexpected header key '%s'", key);
    if (seen[which])
      return job_fail(H->c.job, LG_ERR_IO, "duplicate header key '%s'", key);
    seen[which] = true;
    if (which == 0) {
      cursor_skip_space(&H->c);
      if (H->c.p < H->c.end && (*H->c.p == '[' || *H->c.p == '{'))
        return job_fail(H->c.job, LG_ERR_IO, "unsupported dtype: structured "
                        "arrays are not supported");
      if ((st = npy_string(H, H->descr, sizeof H->descr))) return st;
    } else if (which == 1) {
      cursor_skip_space(&H->c);
      if ((size_t)(H->c.end - H->c.p) >= 4 && memcmp(H->c.p, "True", 4) == 0) {
        H->fortran = true;
        H->c.p += 4;
      } else if ((size_t)(H->c.end - H->c.p) >= 5 &&
                 memcmp(H->c.p, "False", 5) == 0) {
        H->fortran = false;
        H->c.p += 5;
      } else {
        return cursor_error(&H->c, "expected True or False for fortran_order");
      }
    } else if ((st = npy_shape(H))) {
      return st;
    }
    if (cursor_accept(&H->c, '}')) break;
    if (!cursor_accept(&H->c, ',')) return cursor_error(&H->c, "expected ',' or '}'");
  }
  cursor_skip_space(&H->c);
  if (H->c.p != H->c.end) return cursor_error(&H->c, "unexpected text after the dict");
  for (int i = 0; i < 3; i++)
    if (!seen[i])
      return job_fail(H->c.job, LG_ERR_IO, "header has no '%s' key", keys[i]);
  return LG_OK;
}

static lg_status npy_dtype(const io_job *job, const char *descr,
                           lg_dtype *out) {
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
    if (strcmp(descr, npy_dtypes[i].descr) == 0) {
      *out = npy_dtypes[i].dtype;
      return LG_OK;
    }
  if (descr[0] == '>' && descr[1] && descr[2] != '1')
    return job_fail(job, LG_ERR_IO, "big-endian data ('%s') is not supported; "
                    "save it little-endian (astype('<%s'))", descr, descr + 1);
  return job_fail(job, LG_ERR_IO, "unsupported dtype '%s' (supported: '<f4' "
                  "'<f8' '<i4' '<i8' '|u1' '|b1')", descr);
}

/* Reads a .npy file (see serialize.h). */
lg_status lg_npy_load(lg_ctx *ctx, const char *path, lg_tensor **out) {
  io_job job = {ctx, "npy load", path};
  *out = NULL;
  int fd;
  uint64_t file_size;
  lg_status st = open_input(&job, &fd, &file_size);
  if (st) return st;
  char *header = NULL;
  size_t header_size = 0;
  lg_tensor *t = NULL;
  unsigned char prefix[12];
  if (file_size < 10)
    FAIL(job_fail(&job, LG_ERR_IO, "truncated: %llu bytes is too small for a "
                  ".npy file", (unsigned long long)file_size));
  if ((st = read_exact(&job, fd, prefix, 8, "magic"))) goto done;
  if (memcmp(prefix, "\x93NUMPY", 6) != 0)
    FAIL(job_fail(&job, LG_ERR_IO, "not a .npy file (bad magic)"));
  unsigned major = prefix[6], minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0)
    FAIL(job_fail(&job, LG_ERR_IO, "unsupported .npy format version %u.%u "
                  "(1.0, 2.0 and 3.0 are)", major, minor));
  int len_bytes = major == 1 ? 2 : 4;
  uint64_t prefix_size = 8 + (uint64_t)len_bytes;
  if (file_size < prefix_size)
    FAIL(job_fail(&job, LG_ERR_IO, "truncated header length"));
  if ((st = read_exact(&job, fd, prefix + 8, (size_t)len_bytes,
                       "header length")))
    goto done;
  uint64_t hlen = load_le(prefix + 8, len_bytes);
  if (hlen > LG_NPY_MAX_HEADER)
    FAIL(job_fail(&job, LG_ERR_IO, "header length %llu exceeds the limit of "
                  "%u bytes", (unsigned long long)hlen, LG_NPY_MAX_HEADER));
  if (hlen > file_size - prefix_size)
    FAIL(job_fail(&job, LG_ERR_IO, "truncated: header length %llu is larger "
                  "than the rest of the file (%llu bytes)",
                  (unsigned long long)hlen,
                  (unsigned long long)(file_size - prefix_size)));
  header_size = (size_t)hlen;
  header = lg_mem_alloc(ctx, header_size);
  if (!header) FAIL(out_of_memory(&job));
  if ((st = read_exact(&job, fd, header, header_size, "header"))) goto done;
  npy_header H = {.c = {.job = &job, .kind = "invalid header", .base = header,
                        .p = header, .end = header + header_size}};
  if ((st = npy_parse_header(&H))) goto done;
  lg_dtype dtype = LG_FLOAT32;
  if ((st = npy_dtype(&job, H.descr, &dtype))) goto done;
  if (H.fortran) {
    st = job_fail(&job, LG_ERR_IO, "Fortran-order arrays are not supported; "
                  "save a C-order array (np.ascontiguousarray)");
    goto done;
  }
  int64_t numel = lg_shape_numel(H.ndim, H.shape);
  size_t elem = lg_dtype_size(dtype);
  if (numel < 0 || (uint64_t)numel > INT64_MAX / elem)
    FAIL(job_fail(&job, LG_ERR_IO, "shape is too large"));
  uint64_t bytes = (uint64_t)numel * elem;
  uint64_t available = file_size - prefix_size - hlen;
  if (available < bytes)
    FAIL(job_fail(&job, LG_ERR_IO, "truncated: the shape needs %llu data "
                  "bytes, the file has %llu", (unsigned long long)bytes,
                  (unsigned long long)available));
  if (available > bytes)
    FAIL(job_fail(&job, LG_ERR_IO, "%llu trailing bytes after the data",
                  (unsigned long long)(available - bytes)));
  if ((st = lg_empty(ctx, dtype, H.ndim, H.shape, &t)))
    FAIL(job_rethrow(&job, st, "allocating the tensor"));
  if ((st = read_exact(&job, fd, lg_tensor_data(t), (size_t)bytes, "data")))
    goto done;
  little_endian_to_host(lg_tensor_data(t), elem, (size_t)numel);
  if (dtype == LG_BOOL) normalize_bools(lg_tensor_data(t), (size_t)bytes);
done:
  close(fd);
  lg_mem_free(ctx, header, header_size);
  if (st) {
    lg_tensor_release(t);
    return st;
  }
  *out = t;
  return LG_OK;
}

/* Writes a version 1.0 .npy file (see serialize.h). */
lg_status lg_npy_save(lg_ctx *ctx, const char *path, lg_tensor *t) {
  io_job job = {ctx, "npy save", path};
  if (!t) return job_fail(&job, LG_ERR_ARG, "no tensor given");
  const char *descr = "?";
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
    if (npy_dtypes[i].dtype == t->dtype) descr = npy_dtypes[i].descr;
  /* numpy's layout: the dict, room for the first size to grow to 21
   * digits, spaces to align the data to 64 bytes, a newline */
  text_buf h = {.ctx = ctx};
  text_str(&h, "{'descr': '");
  text_str(&h, descr);
  text_str(&h, "', 'fortran_order': False, 'shape': (");
  for (int d = 0; d < t->ndim; d++) {
    if (d) text_str(&h, ", ");
    text_int(&h, t->sizes[d]);
  }
  text_str(&h, t->ndim == 1 ? ",), }" : "), }");
  if (t->ndim > 0) {
    char first[32];
    int digits = snprintf(first, sizeof first, "%lld", (long long)t->sizes[0]);
    for (int i = digits; i < 21; i++) text_str(&h, " ");
  }
  for (size_t pad = 64 - (10 + h.length + 1) % 64; pad > 0; pad--)
    text_str(&h, " ");
  text_str(&h, "\n");
  uint64_t bytes = 0;
  lg_status st = h.failed ? out_of_memory(&job) : tensor_bytes(&job, t, &bytes);
  out_file o = {.fd = -1};
  if (!st) st = out_open(&job, &o);
  if (!st) {
    unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                (unsigned char)(h.length & 0xFF),
                                (unsigned char)(h.length >> 8)};
    st = out_write(&job, &o, prefix, sizeof prefix);
    if (!st) st = out_write(&job, &o, h.data, h.length);
    if (!st) st = write_tensor_data(&job, &o, t);
    if (!st) st = out_commit(&job, &o);
    else out_abort(&job, &o);
  }
  text_free(&h);
  return st;
}

/* ---- IDX (gzip through zlib) -------------------------------------------------- */

/* Bytes of a file, inflated when it starts with the gzip magic. */
typedef struct byte_source {
  const io_job *job;
  int fd;
  bool gzip, inflating, at_eof;
  z_stream z;
  unsigned char *in;
  size_t in_cap, in_pos, in_len; /* plain files: in[in_pos..in_len) */
} byte_source;

#define SOURCE_CHUNK ((size_t)1 << 16)

/* zlib's memory through the context's allocator: a 16-byte prefix keeps
 * each block's size for the free. */
static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size) {
  size_t n = (size_t)items * size;
  if (size && n / size != items) return Z_NULL;
  unsigned char *p = lg_mem_alloc(opaque, n + 16);
  if (!p) return Z_NULL;
  memcpy(p, &n, sizeof n);
  return p + 16;
}

static void zlib_free(voidpf opaque, voidpf ptr) {
  if (!ptr) return;
  unsigned char *p = (unsigned char *)ptr - 16;
  size_t n;
  memcpy(&n, p, sizeof n);
  lg_mem_free(opaque, p, n + 16);
}

/* Reads more raw bytes into s->in; false on a read error (job failed). */
static lg_status source_fill(byte_source *s, size_t *got) {
  char buf[128];
  int64_t r = read_up_to(s->fd, s->in, s->in_cap);
  if (r < 0)
    return job_fail(s->job, LG_ERR_IO, "reading: %s",
                    errno_text(errno, buf, sizeof buf));
  *got = (size_t)r;
  s->in_pos = 0;
  s->in_len = (size_t)r;
  return LG_OK;
}

static lg_status source_open(byte_source *s) {
  s->in_cap = SOURCE_CHUNK;
  s->in = lg_mem_alloc(s->job->ctx, s->in_cap);
  if (!s->in) return out_of_memory(s->job);
  size_t got;
  lg_status st = source_fill(s, &got);
  if (st) return st;
  s->gzip = got >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
  if (!s->gzip) return LG_OK;
  s->z.zalloc = zlib_alloc;
  s->z.zfree = zlib_free;
  s->z.opaque = s->job->ctx;
  s->z.next_in = s->in;
  s->z.avail_in = (uInt)got;
  if (inflateInit2(&s->z, 15 + 16) != Z_OK) return out_of_memory(s->job);
  s->inflating = true;
  return LG_OK;
}

static void source_close(byte_source *s) {
  if (s->inflating) inflateEnd(&s->z);
  s->inflating = false;
  lg_mem_free(s->job->ctx, s->in, s->in_cap);
  s->in = NULL;
}

/* Reads up to n bytes into dst; *got < n only at the end of the data. */
static lg_status source_read(byte_source *s, unsigned char *dst, size_t n,
                             size_t *got) {
  lg_status st;
  size_t filled;
  *got = 0;
  while (*got < n && !s->at_eof) {
    if (!s->gzip) {
      if (s->in_pos == s->in_len) {
        if ((st = source_fill(s, &filled))) return st;
        if (!filled) s->at_eof = true;
        continue;
      }
      size_t k = s->in_len - s->in_pos < n - *got ? s->in_len - s->in_pos
                                                  : n - *got;
      memcpy(dst + *got, s->in + s->in_pos, k);
      s->in_pos += k;
      *got += k;
      continue;
    }
    if (s->z.avail_in == 0) {
      if ((st = source_fill(s, &filled))) return st;
      if (!filled)
        return job_fail(s->job, LG_ERR_IO, "truncated gzip data (the "
                        "compressed stream ends early)");
      s->z.next_in = s->in;
      s->z.avail_in = (uInt)filled;
    }
    size_t want = n - *got < UINT32_MAX ? n - *got : UINT32_MAX;
    s->z.next_out = dst + *got;
    s->z.avail_out = (uInt)want;
    int r = inflate(&s->z, Z_NO_FLUSH);
    *got += want - s->z.avail_out;
    if (r == Z_STREAM_END) {
      /* another gzip member may follow (as gzip -d accepts) */
      if (s->z.avail_in == 0) {
        if ((st = source_fill(s, &filled))) return st;
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)filled;
      }
      if (s->z.avail_in == 0) s->at_eof = true;
      else if (inflateReset(&s->z) != Z_OK)
        return job_fail(s->job, LG_ERR_IO, "corrupt gzip data");
    } else if (r == Z_MEM_ERROR) {
      return out_of_memory(s->job);
    } else if (r != Z_OK && r != Z_BUF_ERROR) {
      return job_fail(s->job, LG_ERR_IO, "corrupt gzip data: %s",
                      s->z.msg ? s->z.msg : "inflate failed");
    }
  }
  return LG_OK;
}

/* Element bytes of an IDX type code, and the dtype it loads as. */
static bool idx_type(unsigned code, size_t *elem, lg_dtype *dtype,
                     const char **name) {
  switch (code) {
    case 0x08: *elem = 1, *dtype = LG_UINT8, *name = "u8"; return true;
    case 0x09: *elem = 1, *dtype = LG_INT32, *name = "i8"; return true;
    case 0x0B: *elem = 2, *dtype = LG_INT32, *name = "i16"; return true;
    case 0x0C: *elem = 4, *dtype = LG_INT32, *name = "i32"; return true;
    case 0x0D: *elem = 4, *dtype = LG_FLOAT32, *name = "f32"; return true;
    case 0x0E: *elem = 8, *dtype = LG_FLOAT64, *name = "f64"; return true;
    default: return false;
  }
}

/* Big-endian IDX elements -> the tensor's dtype. */
static void idx_convert(const unsigned char *src, unsigned code, size_t n,
                        void *dst) {
  for (size_t i = 0; i < n; i++) {
    switch (code) {
      case 0x08: ((uint8_t *)dst)[i] = src[i]; break;
      case 0x09: ((int32_t *)dst)[i] = (int8_t)src[i]; break;
      case 0x0B:
        ((int32_t *)dst)[i] = (int16_t)(uint16_t)load_be(src + 2 * i, 2);
        break;
      case 0x0C:
        ((int32_t *)dst)[i] = (int32_t)(uint32_t)load_be(src + 4 * i, 4);
        break;
      case 0x0D: {
        uint32_t bits = (uint32_t)load_be(src + 4 * i, 4);
        memcpy((float *)dst + i, &bits, 4);
        break;
      }
      default: {
        uint64_t bits = load_be(src + 8 * i, 8);
        memcpy((double *)dst + i, &bits, 8);
        break;
      }
    }
  }
}

/* Reads exactly `bytes` of data into a buffer that grows only as data
 * arrives (a lying header cannot make it allocate what the file lacks),
 * then checks that nothing follows. */
static lg_status idx_read_data(byte_source *s, uint64_t bytes,
                               unsigned char **data, size_t *cap) {
  const io_job *job = s->job;
  size_t have = 0;
  lg_status st;
  while (have < bytes) {
    size_t want = (size_t)bytes;
    if (*cap < want) {
      size_t next = *cap ? *cap * 2 : SOURCE_CHUNK;
      if (next > want || next < *cap) next = want;
      if (!grow(job->ctx, data, cap, 1, next)) return out_of_memory(job);
    }
    size_t limit = *cap < want ? *cap : want, got;
    if ((st = source_read(s, *data + have, limit - have, &got))) return st;
    have += got;
    if (got == 0 || (have < limit && s->at_eof))
      return job_fail(job, LG_ERR_IO, "truncated: the header promises %llu "
                      "data bytes, the file has %zu",
                      (unsigned long long)bytes, have);
  }
  unsigned char extra;
  size_t got;
  if ((st = source_read(s, &extra, 1, &got))) return st;
  if (got)
    return job_fail(job, LG_ERR_IO, "trailing bytes after the %llu data "
                    "bytes", (unsigned long long)bytes);
  return LG_OK;
}

/* Reads an IDX file (see serialize.h). */
lg_status lg_idx_load(lg_ctx *ctx, const char *path, lg_tensor **out) {
  io_job job = {ctx, "idx load", path};
  *out = NULL;
  byte_source s = {.job = &job, .fd = -1};
  uint64_t file_size;
  lg_status st = open_input(&job, &s.fd, &file_size);
  if (st) return st;
  unsigned char head[4 + 4 * 255], *data = NULL;
  size_t cap = 0, got;
  lg_tensor *t = NULL;
  if ((st = source_open(&s)) || (st = source_read(&s, head, 4, &got)))
    goto done;
  if (got < 4)
    FAIL(job_fail(&job, LG_ERR_IO, "truncated: %zu bytes, too short for the "
                  "4-byte magic", got));
  size_t elem;
  lg_dtype dtype;
  const char *type_name;
  unsigned code = head[2], ndim = head[3];
  if (head[0] != 0 || head[1] != 0 || !idx_type(code, &elem, &dtype,
                                                &type_name))
    FAIL(job_fail(&job, LG_ERR_IO, "bad magic 0x%02x%02x%02x%02x (expected "
                  "00 00, a type code 08 09 0B 0C 0D or 0E, then the number "
                  "of dims)", head[0], head[1], head[2], head[3]));
  if (ndim < 1 || ndim > LG_MAX_DIMS) {
    st = job_fail(&job, LG_ERR_IO, "%u dims in the magic; 1 to %d are "
                  "supported", ndim, LG_MAX_DIMS);
    goto done;
  }
  if ((st = source_read(&s, head + 4, 4 * ndim, &got))) goto done;
  if (got < 4 * ndim)
    FAIL(job_fail(&job, LG_ERR_IO, "truncated: the %u sizes of the header "
                  "are incomplete", ndim));
  int64_t shape[LG_MAX_DIMS];
  for (unsigned d = 0; d < ndim; d++)
    shape[d] = (int64_t)load_be(head + 4 + 4 * d, 4);
  int64_t numel = lg_shape_numel((int)ndim, shape);
  if (numel < 0 || (uint64_t)numel > INT64_MAX / 8 ||
      (uint64_t)numel * elem > SIZE_MAX / 2)
    FAIL(job_fail(&job, LG_ERR_IO, "the sizes in the header are too large"));
  uint64_t bytes = (uint64_t)numel * elem;
  if ((st = idx_read_data(&s, bytes, &data, &cap))) goto done;
  if ((st = lg_empty(ctx, dtype, (int)ndim, shape, &t)))
    FAIL(job_rethrow(&job, st, "allocating the tensor"));
  idx_convert(data, code, (size_t)numel, lg_tensor_data(t));
done:
  source_close(&s);
  close(s.fd);
  lg_mem_free(ctx, data, cap);
  if (st) {
    lg_tensor_release(t);
    return st;
  }
  *out = t;
  return LG_OK;
}
