/* idx.c: IDX files (MNIST-family datasets, gzipped or not, inflated through
 * zlib) to tensors, on 2 MB pages where Linux gives them (a dataset's
 * batches gather rows from anywhere in it). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "file_io.h"
#include "serialize.h"

/* ---- IDX (gzip through zlib) --------------------------------------------- */

/* Bytes of a file, inflated when it starts with the gzip magic. */
typedef struct byte_source {
  const lg_io_job *job;
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

/* Reads more raw bytes into s->in, *got of them (0 on a read error). */
static lg_status source_fill(byte_source *s, size_t *got) {
  char buf[128];
  *got = 0;
  int64_t r = lg_io_read_up_to(s->fd, s->in, s->in_cap);
  if (r < 0)
    return lg_io_fail(s->job, LG_ERR_IO, "reading: %s",
                      lg_io_errno_text(errno, buf, sizeof buf));
  *got = (size_t)r;
  s->in_pos = 0;
  s->in_len = (size_t)r;
  return LG_OK;
}

static lg_status source_open(byte_source *s) {
  s->in_cap = SOURCE_CHUNK;
  s->in = lg_mem_alloc(s->job->ctx, s->in_cap);
  if (!s->in) return lg_io_out_of_memory(s->job);
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
  if (inflateInit2(&s->z, 15 + 16) != Z_OK) return lg_io_out_of_memory(s->job);
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
        return lg_io_fail(s->job, LG_ERR_IO, "truncated gzip data (the "
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
        return lg_io_fail(s->job, LG_ERR_IO, "corrupt gzip data");
    } else if (r == Z_MEM_ERROR) {
      return lg_io_out_of_memory(s->job);
    } else if (r != Z_OK && r != Z_BUF_ERROR) {
      return lg_io_fail(s->job, LG_ERR_IO, "corrupt gzip data: %s",
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
        ((int32_t *)dst)[i] = (int16_t)(uint16_t)lg_io_load_be(src + 2 * i, 2);
        break;
      case 0x0C:
        ((int32_t *)dst)[i] = (int32_t)(uint32_t)lg_io_load_be(src + 4 * i, 4);
        break;
      case 0x0D: {
        uint32_t bits = (uint32_t)lg_io_load_be(src + 4 * i, 4);
        memcpy((float *)dst + i, &bits, 4);
        break;
      }
      default: {
        uint64_t bits = lg_io_load_be(src + 8 * i, 8);
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
  const lg_io_job *job = s->job;
  size_t have = 0;
  lg_status st;
  while (have < bytes) {
    size_t want = (size_t)bytes;
    if (*cap < want) {
      size_t next = *cap ? *cap * 2 : SOURCE_CHUNK;
      if (next > want || next < *cap) next = want;
      if (!lg_io_grow(job->ctx, data, cap, 1, next))
        return lg_io_out_of_memory(job);
    }
    size_t limit = *cap < want ? *cap : want, got;
    if ((st = source_read(s, *data + have, limit - have, &got))) return st;
    have += got;
    if (got == 0 || (have < limit && s->at_eof))
      return lg_io_fail(job, LG_ERR_IO, "truncated: the header promises %llu "
                        "data bytes, the file has %zu",
                        (unsigned long long)bytes, have);
  }
  unsigned char extra;
  size_t got;
  if ((st = source_read(s, &extra, 1, &got))) return st;
  if (got)
    return lg_io_fail(job, LG_ERR_IO, "trailing bytes after the %llu data "
                      "bytes", (unsigned long long)bytes);
  return LG_OK;
}

/* Reads an IDX file (see serialize.h). */
lg_status lg_idx_load(lg_ctx *ctx, const char *path, lg_tensor **out) {
  lg_io_job job = {ctx, "idx load", path};
  *out = NULL;
  byte_source s = {.job = &job, .fd = -1};
  uint64_t file_size;
  lg_status st = lg_io_open_input(&job, &s.fd, &file_size);
  if (st) return st;
  unsigned char head[4 + 4 * 255], *data = NULL;
  size_t cap = 0, got;
  lg_tensor *t = NULL;
  if ((st = source_open(&s)) || (st = source_read(&s, head, 4, &got)))
    goto done;
  if (got < 4)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "truncated: %zu bytes, too short for the "
                    "4-byte magic", got));
  size_t elem;
  lg_dtype dtype;
  const char *type_name;
  unsigned code = head[2], ndim = head[3];
  if (head[0] != 0 || head[1] != 0 || !idx_type(code, &elem, &dtype,
                                                &type_name))
    FAIL(lg_io_fail(&job, LG_ERR_IO, "not an IDX file (it does not start "
                    "with 00 00, a type code 08 09 0B 0C 0D or 0E, then the "
                    "number of dims)"));
  if (ndim < 1 || ndim > LG_MAX_DIMS) {
    st = lg_io_fail(&job, LG_ERR_IO, "unsupported IDX file: it has more "
                    "dims than the %d supported, or none", LG_MAX_DIMS);
    goto done;
  }
  if ((st = source_read(&s, head + 4, 4 * ndim, &got))) goto done;
  if (got < 4 * ndim)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "truncated: the %u sizes of the header "
                    "are incomplete", ndim));
  int64_t shape[LG_MAX_DIMS];
  for (unsigned d = 0; d < ndim; d++)
    shape[d] = (int64_t)lg_io_load_be(head + 4 + 4 * d, 4);
  int64_t numel = lg_shape_numel((int)ndim, shape);
  if (numel < 0 || (uint64_t)numel > INT64_MAX / 8 ||
      (uint64_t)numel * elem > SIZE_MAX / 2)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "the sizes in the header are too large"));
  uint64_t bytes = (uint64_t)numel * elem;
  if ((st = idx_read_data(&s, bytes, &data, &cap))) goto done;
  if ((st = lg_empty(ctx, dtype, (int)ndim, shape, &t)))
    FAIL(lg_io_rethrow(&job, st, "allocating the tensor"));
  /* a dataset: its batches gather rows from anywhere in it */
  lg_advise_random_access(ctx, lg_tensor_data(t), (size_t)bytes);
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
