/* npy.c: NumPy .npy files (one array) to and from tensors. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dtype.h"
#include "file_io.h"
#include "serialize.h"

/* ---- .npy ---------------------------------------------------------------- */

/* The descr strings read and written, and their dtypes. */
static const lg_io_dtype_name npy_dtypes[] = {
    {"<f4", LG_FLOAT32}, {"<f8", LG_FLOAT64}, {"<i4", LG_INT32},
    {"<i8", LG_INT64},   {"|u1", LG_UINT8},   {"|b1", LG_BOOL}};

/* The header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2,)} */
typedef struct npy_header {
  lg_io_cursor c;
  char descr[32];
  bool fortran;
  int ndim;
  int64_t shape[LG_MAX_DIMS];
} npy_header;

/* A Python string literal in single or double quotes, without escapes,
 * copied into buf (NUL-terminated; fails when longer than size - 1). */
static lg_status npy_string(npy_header *H, char *buf, size_t size) {
  lg_io_skip_space(&H->c);
  if (H->c.p >= H->c.end || (*H->c.p != '\'' && *H->c.p != '"'))
    return lg_io_parse_error(&H->c, "expected a quoted string");
  char quote = *H->c.p++;
  size_t n = 0;
  while (H->c.p < H->c.end && *H->c.p != quote) {
    if (*H->c.p == '\\' || *H->c.p == '\n')
      return lg_io_parse_error(&H->c, "unsupported character in a string");
    if (n + 1 >= size) return lg_io_parse_error(&H->c, "string too long");
    buf[n++] = *H->c.p++;
  }
  if (H->c.p >= H->c.end)
    return lg_io_parse_error(&H->c, "unterminated string");
  H->c.p++;
  buf[n] = '\0';
  return LG_OK;
}

/* (d0, d1, ...) with an optional trailing comma; () is 0-d. */
static lg_status npy_shape(npy_header *H) {
  if (!lg_io_accept(&H->c, '('))
    return lg_io_parse_error(&H->c, "expected a tuple for shape");
  H->ndim = 0;
  if (lg_io_accept(&H->c, ')')) return LG_OK;
  for (;;) {
    uint64_t v;
    lg_status st = lg_io_parse_uint(&H->c, &v);
    if (st) return st;
    if (v > INT64_MAX) return lg_io_parse_error(&H->c, "shape size too large");
    if (H->c.p < H->c.end && *H->c.p == 'L') H->c.p++; /* Python 2 longs */
    if (H->ndim == LG_MAX_DIMS)
      return lg_io_fail(H->c.job, LG_ERR_IO, "more than %d dims are not "
                        "supported", LG_MAX_DIMS);
    H->shape[H->ndim++] = (int64_t)v;
    if (lg_io_accept(&H->c, ')')) return LG_OK;
    if (!lg_io_accept(&H->c, ','))
      return lg_io_parse_error(&H->c, "expected ',' or ')'");
    if (lg_io_accept(&H->c, ')')) return LG_OK;
  }
}

static lg_status npy_parse_header(npy_header *H) {
  bool seen[3] = {false, false, false};
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};
  lg_status st;
  if (!lg_io_accept(&H->c, '{'))
    return lg_io_parse_error(&H->c, "expected '{'");
  while (!lg_io_accept(&H->c, '}')) {
    char key[32];
    if ((st = npy_string(H, key, sizeof key))) return st;
    if (!lg_io_accept(&H->c, ':'))
      return lg_io_parse_error(&H->c, "expected ':' after a key");
    int which = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(key, keys[i]) == 0) which = i;
    if (which < 0)
      return lg_io_fail(H->c.job, LG_ERR_IO, "unexpected header key (expected "
                        "descr, fortran_order and shape)");
    if (seen[which])
      return lg_io_fail(H->c.job, LG_ERR_IO, "duplicate header key '%s'", keys[which]);
    seen[which] = true;
    if (which == 0) {
      lg_io_skip_space(&H->c);
      if (H->c.p < H->c.end && (*H->c.p == '[' || *H->c.p == '{'))
        return lg_io_fail(H->c.job, LG_ERR_IO, "unsupported dtype: structured "
                          "arrays are not supported");
      if ((st = npy_string(H, H->descr, sizeof H->descr))) return st;
    } else if (which == 1) {
      lg_io_skip_space(&H->c);
      if ((size_t)(H->c.end - H->c.p) >= 4 && memcmp(H->c.p, "True", 4) == 0) {
        H->fortran = true;
        H->c.p += 4;
      } else if ((size_t)(H->c.end - H->c.p) >= 5 &&
                 memcmp(H->c.p, "False", 5) == 0) {
        H->fortran = false;
        H->c.p += 5;
      } else {
        return lg_io_parse_error(&H->c,
                                 "expected True or False for fortran_order");
      }
    } else if ((st = npy_shape(H))) {
      return st;
    }
    if (lg_io_accept(&H->c, '}')) break;
    if (!lg_io_accept(&H->c, ','))
      return lg_io_parse_error(&H->c, "expected ',' or '}'");
  }
  lg_io_skip_space(&H->c);
  if (H->c.p != H->c.end)
    return lg_io_parse_error(&H->c, "unexpected text after the dict");
  for (int i = 0; i < 3; i++)
    if (!seen[i])
      return lg_io_fail(H->c.job, LG_ERR_IO, "header has no '%s' key", keys[i]);
  return LG_OK;
}

static lg_status npy_dtype(const lg_io_job *job, const char *descr,
                           lg_dtype *out) {
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
    if (strcmp(descr, npy_dtypes[i].name) == 0) {
      *out = npy_dtypes[i].dtype;
      return LG_OK;
    }
  if (descr[0] == '>' && descr[1] && descr[2] != '1')
    return lg_io_fail(job, LG_ERR_IO,
                      "big-endian data is not supported; save it "
                      "little-endian (astype('<...'))");
  return lg_io_fail(job, LG_ERR_IO, "unsupported dtype (supported: '<f4' "
                    "'<f8' '<i4' '<i8' '|u1' '|b1')");
}

/* Reads a .npy file (see serialize.h). */
lg_status lg_npy_load(lg_ctx *ctx, const char *path, lg_tensor **out) {
  lg_io_job job = {ctx, "npy load", path};
  *out = NULL;
  int fd;
  uint64_t file_size;
  lg_status st = lg_io_open_input(&job, &fd, &file_size);
  if (st) return st;
  char *header = NULL;
  size_t header_size = 0;
  lg_tensor *t = NULL;
  unsigned char prefix[12];
  if (file_size < 10)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "truncated: %llu bytes is too small for a "
                    ".npy file", (unsigned long long)file_size));
  if ((st = lg_io_read_exact(&job, fd, prefix, 8, "magic"))) goto done;
  if (memcmp(prefix, "\x93NUMPY", 6) != 0)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "not a .npy file (bad magic)"));
  unsigned major = prefix[6], minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "unsupported .npy format version %u.%u "
                    "(1.0, 2.0 and 3.0 are)", major, minor));
  int len_bytes = major == 1 ? 2 : 4;
  uint64_t prefix_size = 8 + (uint64_t)len_bytes;
  if (file_size < prefix_size)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "truncated header length"));
  if ((st = lg_io_read_exact(&job, fd, prefix + 8, (size_t)len_bytes,
                             "header length")))
    goto done;
  uint64_t hlen = lg_io_load_le(prefix + 8, len_bytes);
  if (hlen > LG_NPY_MAX_HEADER)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "header length %llu exceeds the limit of "
                    "%u bytes", (unsigned long long)hlen, LG_NPY_MAX_HEADER));
  if (hlen > file_size - prefix_size)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "truncated: header length %llu is larger "
                    "than the rest of the file (%llu bytes)",
                    (unsigned long long)hlen,
                    (unsigned long long)(file_size - prefix_size)));
  header_size = (size_t)hlen;
  header = lg_mem_alloc(ctx, header_size);
  if (!header) FAIL(lg_io_out_of_memory(&job));
  if ((st = lg_io_read_exact(&job, fd, header, header_size, "header")))
    goto done;
  npy_header H = {.c = {.job = &job, .kind = "invalid header", .base = header,
                        .p = header, .end = header + header_size}};
  if ((st = npy_parse_header(&H))) goto done;
  lg_dtype dtype = LG_FLOAT32;
  if ((st = npy_dtype(&job, H.descr, &dtype))) goto done;
  if (H.fortran) {
    st = lg_io_fail(&job, LG_ERR_IO, "Fortran-order arrays are not supported; "
                    "save a C-order array (np.ascontiguousarray)");
    goto done;
  }
  int64_t numel = lg_shape_numel(H.ndim, H.shape);
  size_t elem = lg_dtype_size(dtype);
  if (numel < 0 || (uint64_t)numel > INT64_MAX / elem)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "shape is too large"));
  uint64_t bytes = (uint64_t)numel * elem;
  uint64_t available = file_size - prefix_size - hlen;
  if (available < bytes)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "truncated: the shape needs %llu data "
                    "bytes, the file has %llu", (unsigned long long)bytes,
                    (unsigned long long)available));
  if (available > bytes)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "%llu trailing bytes after the data",
                    (unsigned long long)(available - bytes)));
  if ((st = lg_empty(ctx, dtype, H.ndim, H.shape, &t)))
    FAIL(lg_io_rethrow(&job, st, "allocating the tensor"));
  if ((st = lg_io_read_exact(&job, fd, lg_tensor_data(t), (size_t)bytes,
                             "data")))
    goto done;
  lg_io_little_endian_to_host(lg_tensor_data(t), elem, (size_t)numel);
  if (dtype == LG_BOOL) lg_io_normalize_bools(lg_tensor_data(t), (size_t)bytes);
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
  lg_io_job job = {ctx, "npy save", path};
  if (!t) return lg_io_fail(&job, LG_ERR_ARG, "no tensor given");
  const char *descr = "?";
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
    if (npy_dtypes[i].dtype == t->dtype) descr = npy_dtypes[i].name;
  /* numpy's layout: the dict, room for the first size to grow to 21
   * digits, spaces to align the data to 64 bytes, a newline */
  lg_io_text h = {.ctx = ctx};
  lg_io_text_str(&h, "{'descr': '");
  lg_io_text_str(&h, descr);
  lg_io_text_str(&h, "', 'fortran_order': False, 'shape': (");
  for (int d = 0; d < t->ndim; d++) {
    if (d) lg_io_text_str(&h, ", ");
    lg_io_text_int(&h, t->sizes[d]);
  }
  lg_io_text_str(&h, t->ndim == 1 ? ",), }" : "), }");
  if (t->ndim > 0) {
    char first[32];
    int digits = snprintf(first, sizeof first, "%lld", (long long)t->sizes[0]);
    for (int i = digits; i < 21; i++) lg_io_text_str(&h, " ");
  }
  for (size_t pad = 64 - (10 + h.length + 1) % 64; pad > 0; pad--)
    lg_io_text_str(&h, " ");
  lg_io_text_str(&h, "\n");
  uint64_t bytes = 0;
  lg_status st = h.failed ? lg_io_out_of_memory(&job)
                          : lg_io_tensor_bytes(&job, t, &bytes);
  lg_io_out o = {.fd = -1};
  if (!st) st = lg_io_out_open(&job, &o);
  if (!st) {
    unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                (unsigned char)(h.length & 0xFF),
                                (unsigned char)(h.length >> 8)};
    st = lg_io_out_write(&job, &o, prefix, sizeof prefix);
    if (!st) st = lg_io_out_write(&job, &o, h.data, h.length);
    if (!st) st = lg_io_write_tensor_data(&job, &o, t);
    if (!st) st = lg_io_out_commit(&job, &o);
    else lg_io_out_abort(&job, &o);
  }
  lg_io_text_free(&h);
  return st;
}
