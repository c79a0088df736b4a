/* dtype.h: element types: sizes, names, PyTorch's type promotion, and
 * conversion of single elements to and from double / int64. */
#ifndef LG_DTYPE_H
#define LG_DTYPE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "luagrad_ext.h"

/* Expands X(dtype enum, C type) for every dtype. */
#define LG_FOR_EACH_DTYPE(X)                                                 \
  X(LG_BOOL, bool) X(LG_UINT8, uint8_t) X(LG_INT32, int32_t)                 \
  X(LG_INT64, int64_t) X(LG_FLOAT32, float) X(LG_FLOAT64, double)

/* Expands X(suffix, C type) for every dtype, in dtype order, to stamp out
 * one loop per dtype (suffixes keep `bool` from expanding to _Bool inside
 * generated names); _NUMERIC leaves out bool. */
#define LG_FOR_EACH_NUMERIC_SUFFIX(X)                                        \
  X(u8, uint8_t) X(i32, int32_t) X(i64, int64_t) X(f32, float) X(f64, double)
#define LG_FOR_EACH_SUFFIX(X) X(b, bool) LG_FOR_EACH_NUMERIC_SUFFIX(X)

/* 0 bool, 1 integer, 2 floating point. */
int lg_dtype_category(lg_dtype dtype);
/* The wider of two dtypes by promotion order. */
static inline lg_dtype lg_promote(lg_dtype a, lg_dtype b) {
  return a > b ? a : b;
}
/* Whether a result of type from may be written into a tensor of type to
 * (PyTorch's rule: never to a lower category). */
bool lg_can_cast(lg_dtype from, lg_dtype to);

/* PyTorch's result_type for one tensor operand and one Lua number. */
lg_dtype lg_result_type_scalar(lg_dtype tensor, bool scalar_is_int);
/* PyTorch's result_type for two tensors: dimensioned operands take priority
 * over 0-d ones within the same category. */
lg_dtype lg_result_type(const lg_tensor *a, const lg_tensor *b);

double lg_load_double(const void *p, lg_dtype dtype);
int64_t lg_load_int(const void *p, lg_dtype dtype);

/* Writes n copies of value (converted to dtype) into contiguous memory. */
void lg_fill_contiguous(void *data, lg_dtype dtype, int64_t n, double value);

/* Converts a double to dtype the way a C cast would, but defined for every
 * input: NaN and out-of-range values saturate instead of being UB. */
int64_t lg_double_to_int64(double v);

#endif
