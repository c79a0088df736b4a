/* file_io.h: what the file formats share (internal, not installed): errors
 * that name the file, growable arrays and text, index sorting, byte order,
 * UTF-8 checks, a cursor over header text, reading files, and atomic writes.
 *
 * Nothing read from a file is trusted: callers check every length, offset
 * and shape with overflow-safe arithmetic before it sizes an allocation or a
 * read. Every byte comes from the context's allocator; files go through plain
 * POSIX descriptors. Writers fill a temporary file beside the target and
 * rename it into place, so a failed save leaves the target untouched.
 */
#ifndef LG_FILE_IO_H
#define LG_FILE_IO_H

#include "core.h"

/* ---- errors -------------------------------------------------------------- */

/* What is being done to which file, for error messages. */
typedef struct lg_io_job {
  lg_ctx *ctx;
  const char *what; /* "safetensors load", ... */
  const char *path;
} lg_io_job;

/* Fails with "what: path: message" (a long path keeps its end). */
lg_status lg_io_fail(const lg_io_job *job, lg_status status, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));
/* Prefixes the context's current message (from a runtime call) with the
 * file and what was being done. */
lg_status lg_io_rethrow(const lg_io_job *job, lg_status status,
                        const char *doing);
/* Fails with LG_ERR_MEMORY, "out of memory". */
lg_status lg_io_out_of_memory(const lg_io_job *job);
/* strerror_r(code) into buf, or "error <code>". */
const char *lg_io_errno_text(int code, char *buf, size_t size);

/* Inside a loader: records a failure status in st and jumps to done. */
#define FAIL(status_expr) \
  do {                    \
    st = (status_expr);   \
    goto done;            \
  } while (0)

/* ---- memory -------------------------------------------------------------- */

/* Grows the array whose pointer is at array_ptr (capacity *cap items of
 * elem bytes) to hold at least need items. */
bool lg_io_grow(lg_ctx *ctx, void *array_ptr, size_t *cap, size_t elem,
                size_t need);

/* A growable text buffer; `failed` latches an allocation failure. */
typedef struct lg_io_text {
  lg_ctx *ctx;
  char *data;
  size_t length, capacity;
  bool failed;
} lg_io_text;

/* Appends n bytes of s (data stays NUL-terminated). */
void lg_io_text_add(lg_io_text *b, const char *s, size_t n);
/* Appends the string s. */
void lg_io_text_str(lg_io_text *b, const char *s);
/* Appends v in decimal. */
void lg_io_text_int(lg_io_text *b, int64_t v);
/* Frees the buffer and empties it. */
void lg_io_text_free(lg_io_text *b);

/* ---- sorting (in place, no allocation) ----------------------------------- */

/* Orders items a and b of data: <0, 0 or >0 like strcmp. */
typedef int (*lg_io_compare_fn)(const void *data, size_t a, size_t b);

/* Heap sort of the index array idx[0..n) by cmp. */
void lg_io_sort_indices(size_t *idx, size_t n, lg_io_compare_fn cmp,
                        const void *data);
/* Compares strings a and b of the array data (const char *const *). */
int lg_io_compare_strings(const void *data, size_t a, size_t b);

/* ---- bytes --------------------------------------------------------------- */

/* A format's name for a dtype ("F32", "<f4", ...). */
typedef struct lg_io_dtype_name {
  const char *name;
  lg_dtype dtype;
} lg_io_dtype_name;

/* Little-endian file data to host order (its own inverse). */
void lg_io_little_endian_to_host(void *data, size_t elem, size_t n);
/* Bool bytes from a file may hold anything; the runtime wants 0 or 1. */
void lg_io_normalize_bools(unsigned char *p, size_t n);
/* The n-byte little-endian unsigned integer at p. */
uint64_t lg_io_load_le(const unsigned char *p, int n);
/* The n-byte big-endian unsigned integer at p. */
uint64_t lg_io_load_be(const unsigned char *p, int n);

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
size_t lg_io_utf8_length(const unsigned char *p, const unsigned char *end);
/* Whether the NUL-terminated s is valid UTF-8. */
bool lg_io_valid_utf8(const char *s);

/* ---- header text --------------------------------------------------------- */

/* A position in a header being parsed; errors give the byte offset. */
typedef struct lg_io_cursor {
  const lg_io_job *job;
  const char *kind; /* "invalid JSON header", "invalid header" */
  char *base, *p, *end;
} lg_io_cursor;

/* Fails with "kind at byte N: what". */
lg_status lg_io_parse_error(lg_io_cursor *P, const char *what);
/* Skips JSON whitespace (space, tab, newline, carriage return). */
void lg_io_skip_space(lg_io_cursor *P);
/* Skips whitespace, then consumes c or fails saying what was expected. */
lg_status lg_io_expect(lg_io_cursor *P, char c, const char *expected);
/* Whether the next non-space character is c (consumed when it is). */
bool lg_io_accept(lg_io_cursor *P, char c);
/* A non-negative integer without sign, fraction or exponent. */
lg_status lg_io_parse_uint(lg_io_cursor *P, uint64_t *out);

/* ---- reading files ------------------------------------------------------- */

/* Opens a regular file for reading; its size in *size. */
lg_status lg_io_open_input(const lg_io_job *job, int *fd, uint64_t *size);
/* Reads up to n bytes (fewer only at the end of the file); -1 on error. */
int64_t lg_io_read_up_to(int fd, void *dst, size_t n);
/* Reads exactly n bytes of what (sizes were checked against the file's). */
lg_status lg_io_read_exact(const lg_io_job *job, int fd, void *dst, size_t n,
                           const char *what);

/* ---- writing files (atomic) ---------------------------------------------- */

/* A temporary file beside the target, renamed into place on commit. */
typedef struct lg_io_out {
  int fd;
  char *tmp_path;
  size_t tmp_size;
} lg_io_out;

/* Creates the temporary file beside job->path (<path>.tmp-<pid>-<n>),
 * after removing those that dead processes left there. */
lg_status lg_io_out_open(const lg_io_job *job, lg_io_out *o);
/* Writes all n bytes of data to the temporary file. */
lg_status lg_io_out_write(const lg_io_job *job, lg_io_out *o, const void *data,
                          size_t n);
/* Removes the temporary file; the target was never touched. */
void lg_io_out_abort(const lg_io_job *job, lg_io_out *o);
/* Flushes the temporary file to disk and renames it over the target. */
lg_status lg_io_out_commit(const lg_io_job *job, lg_io_out *o);
/* Writes t's elements in row-major order, little-endian. */
lg_status lg_io_write_tensor_data(const lg_io_job *job, lg_io_out *o,
                                  lg_tensor *t);
/* Bytes of t's data, failing when they do not fit the types involved. */
lg_status lg_io_tensor_bytes(const lg_io_job *job, const lg_tensor *t,
                             uint64_t *bytes);

#endif
