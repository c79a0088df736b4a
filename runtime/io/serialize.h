/* serialize.h: tensors to and from files: safetensors (tensors and state
 * dicts, interchangeable with PyTorch), NumPy .npy (one array) and IDX
 * (MNIST-family datasets, gzipped or not). Internal to the runtime and the
 * binding; every function returns an lg_status whose message names the file.
 */
#ifndef LG_SERIALIZE_H
#define LG_SERIALIZE_H

#include "luagrad.h"

/* The largest safetensors JSON header accepted or written, in bytes. */
#define LG_SAFETENSORS_MAX_HEADER 100000000u
/* The largest .npy header accepted, in bytes. */
#define LG_NPY_MAX_HEADER 1000000u

/* The contents of a safetensors file. Strings are NUL-terminated UTF-8 and
 * live as long as the struct; tensors are owned references (take one by
 * setting its slot to NULL). */
typedef struct lg_safetensors {
  int64_t n_tensors;
  const char **names;      /* in the order of their data in the file  */
  lg_tensor **tensors;
  int64_t n_metadata;
  const char **metadata;   /* 2 * n_metadata: key, value, key, ...     */
  /* owned storage, released by lg_safetensors_free */
  char *header;
  size_t header_size;
  size_t metadata_capacity;
} lg_safetensors;

/* Reads a safetensors file: an 8-byte little-endian header length, a JSON
 * header (dtype, shape, data_offsets per tensor, optional __metadata__ of
 * strings), then the data, contiguous from offset 0 with no gaps, overlaps
 * or trailing bytes. Accepted dtypes: F32 F64 I32 I64 U8 BOOL. */
lg_status lg_safetensors_load(lg_ctx *ctx, const char *path,
                              lg_safetensors **out);
/* Frees what lg_safetensors_load returned (NULL is accepted). */
void lg_safetensors_free(lg_ctx *ctx, lg_safetensors *file);
/* Writes n tensors (any strides) under distinct UTF-8 names, sorted by
 * name, with n_metadata key/value string pairs (metadata holds key, value,
 * key, ...). Atomic: writes a temporary file beside path, then renames it;
 * on failure path is untouched. */
lg_status lg_safetensors_save(lg_ctx *ctx, const char *path, int64_t n,
                              const char *const *names,
                              lg_tensor *const *tensors, int64_t n_metadata,
                              const char *const *metadata);

/* Reads a .npy file (format versions 1 to 3, C order, little-endian;
 * descr '<f4' '<f8' '<i4' '<i8' '|u1' '|b1'). */
lg_status lg_npy_load(lg_ctx *ctx, const char *path, lg_tensor **out);
/* Writes t as a version 1.0 .npy file, byte for byte what numpy.save
 * writes; atomic like lg_safetensors_save. */
lg_status lg_npy_save(lg_ctx *ctx, const char *path, lg_tensor *t);

/* Reads an IDX file, gzipped or not: magic 0x0000TTNN (TT the type: 08 u8,
 * 09 i8, 0B i16, 0C i32, 0D f32, 0E f64; NN dims, 1 to 8), big-endian
 * 32-bit sizes, big-endian data. u8 gives uint8; i8, i16 and i32 give
 * int32; f32 float32; f64 float64. */
lg_status lg_idx_load(lg_ctx *ctx, const char *path, lg_tensor **out);

#endif
