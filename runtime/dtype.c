/* dtype.c: dtype tables, type promotion and element conversion. */
#include <math.h>

#include "core.h"
#include "dtype.h"

static const char *const dtype_names[LG_NUM_DTYPES] = {
    "bool", "uint8", "int32", "int64", "float32", "float64"};

size_t lg_dtype_size(lg_dtype dtype) {
  return (unsigned)dtype < LG_NUM_DTYPES ? lg_dtype_item(dtype) : 0;
}

_Static_assert(LG_NUM_DTYPES == 6, "LG_DTYPE_SIZE_SHIFTS has one entry per dtype");

const char *lg_dtype_name(lg_dtype dtype) {
  return (unsigned)dtype < LG_NUM_DTYPES ? dtype_names[dtype] : "?";
}

bool lg_dtype_parse(const char *name, lg_dtype *out) {
  static const struct { const char *name; lg_dtype dtype; } aliases[] = {
      {"bool", LG_BOOL},       {"uint8", LG_UINT8},     {"int32", LG_INT32},
      {"int64", LG_INT64},     {"float32", LG_FLOAT32}, {"float64", LG_FLOAT64},
      {"float", LG_FLOAT32},   {"double", LG_FLOAT64},  {"int", LG_INT32},
      {"long", LG_INT64},      {"byte", LG_UINT8},
  };
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcmp(name, aliases[i].name) == 0) {
      *out = aliases[i].dtype;
      return true;
    }
  return false;
}

bool lg_dtype_is_float(lg_dtype dtype) {
  return dtype == LG_FLOAT32 || dtype == LG_FLOAT64;
}

int lg_dtype_category(lg_dtype dtype) {
  return dtype == LG_BOOL ? 0 : lg_dtype_is_float(dtype) ? 2 : 1;
}

bool lg_can_cast(lg_dtype from, lg_dtype to) {
  return lg_dtype_category(from) <= lg_dtype_category(to);
}

lg_dtype lg_result_type_scalar(lg_dtype tensor, bool scalar_is_int) {
  int scalar_category = scalar_is_int ? 1 : 2;
  if (scalar_category <= lg_dtype_category(tensor)) return tensor;
  return scalar_is_int ? LG_INT64 : LG_FLOAT32;
}

lg_dtype lg_result_type(const lg_tensor *a, const lg_tensor *b) {
  bool a_dims = a->ndim > 0, b_dims = b->ndim > 0;
  if (a_dims == b_dims) return lg_promote(a->dtype, b->dtype);
  const lg_tensor *hi = a_dims ? a : b, *lo = a_dims ? b : a;
  if (lg_dtype_category(lo->dtype) <= lg_dtype_category(hi->dtype))
    return hi->dtype;
  return lo->dtype; /* a 0-d tensor of a higher category keeps its dtype */
}

int64_t lg_double_to_int64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

double lg_load_double(const void *p, lg_dtype dtype) {
  switch (dtype) {
#define LOAD(D, T) \
  case D: { T v; memcpy(&v, p, sizeof v); return (double)v; }
    LG_FOR_EACH_DTYPE(LOAD)
#undef LOAD
    default: return 0;
  }
}

int64_t lg_load_int(const void *p, lg_dtype dtype) {
  switch (dtype) {
    case LG_FLOAT32: { float v; memcpy(&v, p, sizeof v); return lg_double_to_int64(v); }
    case LG_FLOAT64: { double v; memcpy(&v, p, sizeof v); return lg_double_to_int64(v); }
    case LG_BOOL: return *(const bool *)p;
    case LG_UINT8: return *(const uint8_t *)p;
    case LG_INT32: { int32_t v; memcpy(&v, p, sizeof v); return v; }
    case LG_INT64: { int64_t v; memcpy(&v, p, sizeof v); return v; }
    default: return 0;
  }
}

void lg_store_double(void *p, lg_dtype dtype, double v) {
  switch (dtype) {
    case LG_FLOAT32: { float f = (float)v; memcpy(p, &f, sizeof f); break; }
    case LG_FLOAT64: memcpy(p, &v, sizeof v); break;
    case LG_BOOL: *(bool *)p = v != 0; break;
    default: lg_store_int(p, dtype, lg_double_to_int64(v)); break;
  }
}

void lg_store_int(void *p, lg_dtype dtype, int64_t v) {
  switch (dtype) {
    case LG_FLOAT32: { float f = (float)v; memcpy(p, &f, sizeof f); break; }
    case LG_FLOAT64: { double d = (double)v; memcpy(p, &d, sizeof d); break; }
    case LG_BOOL: *(bool *)p = v != 0; break;
    case LG_UINT8: *(uint8_t *)p = (uint8_t)v; break; /* wraps, as PyTorch */
    case LG_INT32: { int32_t i = (int32_t)v; memcpy(p, &i, sizeof i); break; }
    case LG_INT64: memcpy(p, &v, sizeof v); break;
    default: break;
  }
}

void lg_fill_contiguous(void *data, lg_dtype dtype, int64_t n, double value) {
  switch (dtype) {
#define FILL(D, T)                                      \
  case D: {                                             \
    T v;                                                \
    lg_store_double(&v, D, value);                      \
    T *out = data;                                      \
    for (int64_t i = 0; i < n; i++) out[i] = v;         \
    break;                                              \
  }
    LG_FOR_EACH_DTYPE(FILL)
#undef FILL
    default: break;
  }
}
