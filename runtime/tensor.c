/* tensor.c: refcounted storages and the tensor views on them.
 *
 * A storage block is one allocation: the lg_storage header padded to 64
 * bytes, then the data. Host memory wrapped without copying keeps its data
 * pointer and a release callback instead.
 */
#include <stdio.h>
#include <string.h>

#include "autograd.h"
#include "dtype.h"
#include "parallel.h"
#include "vmap.h"

#define STORAGE_HEADER 64

_Static_assert(sizeof(lg_storage) <= STORAGE_HEADER, "storage header fits");

/* -1 also when the product of the non-zero sizes overflows: an empty
 * {0, 2^32, 2^32} has no elements, but its strides would not fit. */
int64_t lg_shape_numel(int ndim, const int64_t *sizes) {
  int64_t n = 1, nonzero = 1;
  for (int i = 0; i < ndim; i++) {
    if (sizes[i] < 0) return -1;
    if (sizes[i] == 0) {
      n = 0;
      continue;
    }
    if (nonzero > INT64_MAX / sizes[i]) return -1;
    nonzero *= sizes[i];
    n *= sizes[i];
  }
  return n;
}

const char *lg_shape_str(char *buf, size_t size, int ndim,
                         const int64_t *sizes) {
  size_t used = 0;
  used += (size_t)snprintf(buf, size, "{");
  for (int i = 0; i < ndim && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld",
                             (long long)sizes[i]);
  if (used < size) snprintf(buf + used, size - used, "}");
  return buf;
}

lg_status lg_check_shape(lg_ctx *ctx, const char *op, int ndim,
                         const int64_t *sizes, int64_t *numel) {
  if (ndim < 0 || ndim > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected at most %d dims, got %d",
                   op, LG_MAX_DIMS, ndim);
  for (int i = 0; i < ndim; i++)
    if (sizes[i] < 0)
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "%s: expected non-negative sizes, got %lld at dim %d", op,
                     (long long)sizes[i], i + 1);
  int64_t n = lg_shape_numel(ndim, sizes);
  if (n < 0) {
    char buf[160];
    return lg_fail(ctx, LG_ERR_MEMORY, "%s: shape %s is too large", op,
                   lg_shape_str(buf, sizeof buf, ndim, sizes));
  }
  if (numel) *numel = n;
  return LG_OK;
}

lg_status lg_wrap_dim(lg_ctx *ctx, const char *op, int64_t dim, int ndim,
                      int64_t *out) {
  int64_t n = ndim > 0 ? ndim : 1; /* a 0-d tensor accepts dim 0 / -1 */
  if (dim < -n || dim >= n)
    return lg_fail(ctx, LG_ERR_INDEX,
                   "%s: dim %lld out of range for a %d-d tensor (expected "
                   "%lld..%lld or -%lld..-1)",
                   op, (long long)(dim >= 0 ? dim + 1 : dim), ndim, 1LL,
                   (long long)n, (long long)n);
  *out = dim < 0 ? dim + n : dim;
  return LG_OK;
}

void lg_contiguous_strides(int ndim, const int64_t *sizes, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= sizes[i] > 1 ? sizes[i] : 1;
  }
}

static lg_status storage_new(lg_ctx *ctx, size_t nbytes, lg_storage **out) {
  if (nbytes > SIZE_MAX - STORAGE_HEADER)
    return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  size_t block = STORAGE_HEADER + nbytes;
  lg_storage *s = lg_cache_alloc(ctx, block);
  if (!s)
    return lg_fail(ctx, LG_ERR_MEMORY,
                   "out of memory allocating %zu bytes for a tensor", nbytes);
  memset(s, 0, sizeof *s);
  s->refcount = 1;
  s->ctx = ctx;
  s->data = (char *)s + STORAGE_HEADER;
  s->nbytes = nbytes;
  if (ctx->trace) lg_trace_note_storage(ctx, s); /* made during a trace */
  s->block_bytes = block;
  lg_ctx_retain(ctx);
  ctx->bytes_in_use += nbytes;
  *out = s;
  return LG_OK;
}

static void storage_release(lg_storage *s) {
  if (--s->refcount > 0) return;
  lg_ctx *ctx = s->ctx;
  ctx->bytes_in_use -= s->nbytes;
  if (s->release) s->release(s->release_ud, s->data);
  lg_cache_free(ctx, s, s->block_bytes);
  lg_ctx_free(ctx);
}

static lg_status tensor_new(lg_ctx *ctx, lg_storage *storage, lg_dtype dtype,
                            int ndim, const int64_t *sizes,
                            const int64_t *strides, int64_t offset,
                            lg_tensor **out) {
  lg_tensor *t = lg_cache_alloc(ctx, sizeof *t);
  if (!t) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  memset(t, 0, sizeof *t);
  t->refcount = 1;
  t->dtype = dtype;
  t->ndim = ndim;
  t->storage = storage;
  storage->refcount++;
  t->offset = offset;
  for (int i = 0; i < ndim; i++) {
    t->sizes[i] = sizes[i];
    t->strides[i] = strides[i];
  }
  *out = t;
  return LG_OK;
}

/* Uninitialised contiguous tensor. */
lg_status lg_empty(lg_ctx *ctx, lg_dtype dtype, int ndim,
                   const int64_t *sizes, lg_tensor **out) {
  int64_t numel = 0;
  *out = NULL;
  if ((unsigned)dtype >= LG_NUM_DTYPES)
    return lg_fail(ctx, LG_ERR_DTYPE, "empty: unknown dtype %d", (int)dtype);
  lg_status st = lg_check_shape(ctx, "empty", ndim, sizes, &numel);
  if (st) return st;
  size_t item = lg_dtype_item(dtype); /* dtype checked above */
  if ((uint64_t)numel > (SIZE_MAX - STORAGE_HEADER) / item) {
    char buf[160];
    return lg_fail(ctx, LG_ERR_MEMORY, "empty: shape %s is too large",
                   lg_shape_str(buf, sizeof buf, ndim, sizes));
  }
  lg_storage *s = NULL;
  if ((st = lg_check_limits(ctx, (size_t)numel * item, numel))) return st;
  st = storage_new(ctx, (size_t)numel * item, &s);
  if (st) return st;
  int64_t strides[LG_MAX_DIMS];
  lg_contiguous_strides(ndim, sizes, strides);
  st = tensor_new(ctx, s, dtype, ndim, sizes, strides, 0, out);
  storage_release(s);
  return st;
}

/* lg_full's fill of [begin, end) */
typedef struct fill_job {
  char *data;
  lg_dtype dtype;
  double value;
} fill_job;

static void fill_range(void *arg, int64_t begin, int64_t end) {
  const fill_job *j = arg;
  lg_fill_contiguous(j->data + begin * (int64_t)lg_dtype_size(j->dtype),
                     j->dtype, end - begin, j->value);
}

/* Contiguous tensor whose every element is value; a large one is filled
 * across the context's threads, in steps an interrupt stops between. */
lg_status lg_full(lg_ctx *ctx, lg_dtype dtype, int ndim, const int64_t *sizes,
                  double value, lg_tensor **out) {
  lg_status st = lg_empty(ctx, dtype, ndim, sizes, out);
  if (st) return st;
  fill_job job = {lg_data_ptr(*out), dtype, value};
  st = lg_parallel_for(ctx, lg_tensor_numel(*out), LG_GRAIN_CHEAP, fill_range,
                       &job);
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* A tensor over host memory without copying. */
lg_status lg_tensor_wrap(lg_ctx *ctx, lg_dtype dtype, int ndim,
                         const int64_t *sizes, const int64_t *strides,
                         void *data, lg_release_fn release, void *ud,
                         lg_tensor **out) {
  *out = NULL;
  if ((unsigned)dtype >= LG_NUM_DTYPES)
    return lg_fail(ctx, LG_ERR_DTYPE, "wrap: unknown dtype %d", (int)dtype);
  int64_t numel = 0;
  lg_status st = lg_check_shape(ctx, "wrap", ndim, sizes, &numel);
  if (st) return st;
  if (!data && numel > 0)
    return lg_fail(ctx, LG_ERR_ARG, "wrap: data is NULL");
  int64_t own[LG_MAX_DIMS];
  if (!strides) {
    lg_contiguous_strides(ndim, sizes, own);
    strides = own;
  }
  int64_t extent = 0; /* last element reached, in elements */
  for (int i = 0; i < ndim; i++) {
    if (strides[i] < 0)
      return lg_fail(ctx, LG_ERR_ARG, "wrap: negative strides unsupported");
    if (sizes[i] > 0) extent += (sizes[i] - 1) * strides[i];
  }
  lg_storage *s = lg_cache_alloc(ctx, STORAGE_HEADER);
  if (!s) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  memset(s, 0, sizeof *s);
  s->refcount = 1;
  s->ctx = ctx;
  s->data = data;
  s->nbytes = numel > 0 ? (size_t)(extent + 1) * lg_dtype_size(dtype) : 0;
  s->block_bytes = STORAGE_HEADER;
  s->release = release;
  s->release_ud = ud;
  lg_ctx_retain(ctx);
  ctx->bytes_in_use += s->nbytes; /* storage_release subtracts them again */
  st = tensor_new(ctx, s, dtype, ndim, sizes, strides, 0, out);
  if (st) s->release = NULL; /* the caller keeps ownership on failure */
  storage_release(s);
  return st;
}

void *lg_tensor_wrapped_ud(const lg_tensor *t, lg_release_fn release) {
  return t->storage->release == release ? t->storage->release_ud : NULL;
}

lg_status lg_tensor_rebind(lg_tensor *t, lg_release_fn release, void *data,
                           size_t nbytes, const char *fname) {
  lg_storage *s = t->storage;
  if (!release || s->release != release)
    return lg_fail(s->ctx, LG_ERR_ARG, "%s: the tensor does not wrap host "
                   "memory", fname);
  if (nbytes < s->nbytes)
    return lg_fail(s->ctx, LG_ERR_ARG, "%s: expected a buffer of at least "
                   "%zu bytes, got %zu", fname, s->nbytes, nbytes);
  s->data = data;
  s->version++;
  return LG_OK;
}

lg_status lg_tensor_view_of(lg_ctx *ctx, const lg_tensor *base, int ndim,
                            const int64_t *sizes, const int64_t *strides,
                            int64_t offset, lg_tensor **out) {
  return tensor_new(ctx, base->storage, base->dtype, ndim, sizes, strides,
                    offset, out);
}

lg_tensor *lg_tensor_retain(lg_tensor *t) {
  if (t) t->refcount++;
  return t;
}

/* Drops one reference; the last one releases the storage reference. */
void lg_tensor_release(lg_tensor *t) {
  if (!t || --t->refcount > 0) return;
  if (t->autograd) lg_autograd_meta_free(t);
  lg_storage *s = t->storage;
  lg_ctx *ctx = s->ctx;
  if (t->batched) lg_batched_free(ctx, t->batched);
  lg_cache_free(ctx, t, sizeof *t);
  storage_release(s);
}

lg_dtype lg_tensor_dtype(const lg_tensor *t) { return t->dtype; }
int lg_tensor_ndim(const lg_tensor *t) { return t->ndim; }
const int64_t *lg_tensor_sizes(const lg_tensor *t) { return t->sizes; }
const int64_t *lg_tensor_strides(const lg_tensor *t) { return t->strides; }
int64_t lg_tensor_numel(const lg_tensor *t) {
  return lg_shape_numel(t->ndim, t->sizes);
}
void *lg_tensor_data(const lg_tensor *t) { return lg_data_ptr(t); }
uint64_t lg_tensor_version(const lg_tensor *t) { return t->storage->version; }
lg_ctx *lg_tensor_ctx(const lg_tensor *t) { return t->storage->ctx; }
bool lg_tensor_same_storage(const lg_tensor *a, const lg_tensor *b) {
  return a->storage == b->storage;
}

bool lg_geometry_contiguous(int ndim, const int64_t *sizes,
                            const int64_t *strides) {
  for (int i = 0; i < ndim; i++)
    if (sizes[i] == 0) return true; /* no elements: any layout will do */
  int64_t expected = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    if (sizes[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= sizes[i];
  }
  return true;
}

bool lg_tensor_is_contiguous(const lg_tensor *t) {
  return lg_geometry_contiguous(t->ndim, t->sizes, t->strides);
}

int64_t lg_flat_to_offset(const lg_tensor *t, int64_t flat) {
  int64_t off = t->offset;
  for (int i = t->ndim - 1; i >= 0; i--) {
    int64_t size = t->sizes[i];
    if (size == 0) return 0;
    off += (flat % size) * t->strides[i];
    flat /= size;
  }
  return off * (int64_t)lg_dtype_size(t->dtype);
}

/* A value read outside a kernel while func.compile traces: the trace
 * would depend on data (compile/trace.c). */
static void note_read(const lg_tensor *t, const char *what) {
  lg_ctx *ctx = t->storage->ctx;
  if (lg_tracing_outside_kernel(ctx))
    lg_trace_taint(ctx, "%s read a tensor's value outside an op", what);
}

double lg_tensor_get(const lg_tensor *t, int64_t flat) {
  note_read(t, "lg_tensor_get");
  return lg_load_double((char *)t->storage->data + lg_flat_to_offset(t, flat),
                        t->dtype);
}
int64_t lg_tensor_get_int(const lg_tensor *t, int64_t flat) {
  note_read(t, "lg_tensor_get_int");
  return lg_load_int((char *)t->storage->data + lg_flat_to_offset(t, flat),
                     t->dtype);
}
void lg_tensor_set(lg_tensor *t, int64_t flat, double value) {
  lg_store_double((char *)t->storage->data + lg_flat_to_offset(t, flat),
                  t->dtype, value);
  lg_bump_version(t);
}
void lg_tensor_set_int(lg_tensor *t, int64_t flat, int64_t value) {
  lg_store_int((char *)t->storage->data + lg_flat_to_offset(t, flat),
               t->dtype, value);
  lg_bump_version(t);
}

/* A NULL *out gets a new contiguous tensor; a given one must match exactly
 * in shape and dtype (out= arguments and in-place writes). */
lg_status lg_prepare_out(lg_ctx *ctx, const char *op, lg_tensor **out,
                         lg_dtype dtype, int ndim, const int64_t *sizes) {
  if (!*out) return lg_empty(ctx, dtype, ndim, sizes, out);
  lg_tensor *t = *out;
  if (!lg_tensor_has_shape(t, ndim, sizes)) {
    char a[160], b[160];
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: result of shape %s does not fit the output of shape %s",
                   op, lg_shape_str(a, sizeof a, ndim, sizes),
                   lg_shape_str(b, sizeof b, t->ndim, t->sizes));
  }
  if (t->dtype != dtype && !lg_can_cast(dtype, t->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "%s: result type %s can't be cast to the output type %s",
                   op, lg_dtype_name(dtype), lg_dtype_name(t->dtype));
  lg_tensor_retain(t);
  return LG_OK;
}
