/* elementwise.c: unary math, binary arithmetic and comparisons with
 * broadcasting and PyTorch's type promotion, clamp and where, and the
 * floating-point checks (isnan, isinf, isfinite, nan_to_num, isclose).
 *
 * Each op's arithmetic is written once as an expression of x (and y) and
 * instantiated per dtype; the iterator (iter.h) supplies the strided loop.
 * Integer arithmetic wraps like PyTorch (done in unsigned to avoid C's
 * undefined overflow); integer division by zero is an error, never a trap.
 * Float32 exp, log, tanh, sigmoid and silu use vmath.h's vectorisable
 * functions (within 2.2 ulp of the exact result), and the float loops are
 * cloned for AVX2 and AVX-512, so contiguous float loops run as SIMD.
 */
#include <float.h>
#include <math.h>
#include <tgmath.h>

#include "core.h"
#include "dtype.h"
#include "iter.h"
#include "parallel.h"
#include "vmath.h"
#include "elementwise_fuse.h"

/* The generic expressions below are instantiated for unsigned types too,
 * where comparisons such as x < 0 are trivially false: that is intended. */
#pragma GCC diagnostic ignored "-Wtype-limits"

/* ---- loop templates ----------------------------------------------------- */

/* LOOPn_WITH(ATTR, ...) puts ATTR (e.g. LG_VECTOR_CLONES) on the loop. */

/* The dense loop both templates run: o[i] = EXPR of x = a[i] (and of a y
 * set before it, for the binary loops with a broadcast scalar). */
#define DENSE_LOOP1(TOUT, EXPR)                                              \
  TOUT *o = (TOUT *)(void *)d[0];                                            \
  const T *a = (const T *)(void *)d[1];                                      \
  for (int64_t i = 0; i < n; i++) {                                          \
    T x = a[i];                                                              \
    o[i] = (TOUT)(EXPR);                                                     \
  }
#define LOOP1(NAME, TOUT, TIN, EXPR) LOOP1_WITH(, NAME, TOUT, TIN, EXPR)
#define LOOP1_WITH(ATTR, NAME, TOUT, TIN, EXPR)                              \
  ATTR static void NAME(char **d, const int64_t *s, int64_t n,               \
                        void *state) {                                       \
    typedef TIN T;                                                           \
    (void)state;                                                             \
    if (s[0] == sizeof(TOUT) && s[1] == sizeof(T)) {                         \
      DENSE_LOOP1(TOUT, EXPR)                                                \
    } else {                                                                 \
      for (int64_t i = 0; i < n; i++) {                                      \
        T x = *(const T *)(void *)(d[1] + i * s[1]);                         \
        *(TOUT *)(void *)(d[0] + i * s[0]) = (TOUT)(EXPR);                   \
      }                                                                      \
    }                                                                        \
  }

/* The state of binary loops: invalid is set when an integer op met an
 * invalid operand; isclose reads its tolerances (also as float32, the way
 * PyTorch computes them for float32 and integer operands). */
typedef struct binary_state {
  bool invalid;
  bool equal_nan;
  double rtol, atol;
  float rtol_f, atol_f;
} binary_state;

#define LOOP2(NAME, TOUT, TIN, EXPR) LOOP2_WITH(, NAME, TOUT, TIN, EXPR)
#define LOOP2_WITH(ATTR, NAME, TOUT, TIN, EXPR)                              \
  ATTR static void NAME(char **d, const int64_t *s, int64_t n,               \
                        void *state) {                                       \
    typedef TIN T;                                                           \
    binary_state *bs = state;                                                \
    bool *invalid = &bs->invalid;                                            \
    (void)invalid;                                                           \
    if (s[0] == sizeof(TOUT) && s[1] == sizeof(T) && s[2] == sizeof(T)) {    \
      TOUT *o = (TOUT *)(void *)d[0];                                        \
      const T *a = (const T *)(void *)d[1], *b = (const T *)(void *)d[2];    \
      for (int64_t i = 0; i < n; i++) {                                      \
        T x = a[i], y = b[i];                                                \
        o[i] = (TOUT)(EXPR);                                                 \
      }                                                                      \
    } else if (s[0] == sizeof(TOUT) && s[1] == sizeof(T) && s[2] == 0) {     \
      const T y = *(const T *)(void *)d[2];                                  \
      DENSE_LOOP1(TOUT, EXPR)                                                \
    } else {                                                                 \
      for (int64_t i = 0; i < n; i++) {                                      \
        T x = *(const T *)(void *)(d[1] + i * s[1]);                         \
        T y = *(const T *)(void *)(d[2] + i * s[2]);                         \
        *(TOUT *)(void *)(d[0] + i * s[0]) = (TOUT)(EXPR);                   \
      }                                                                      \
    }                                                                        \
  }

/* ---- unary ops ---------------------------------------------------------- */

/* Expressions valid for every numeric type (x of type T). */
#define UNARY_ANY_OPS(X)                                                     \
  X(RELU, x < 0 ? (T)0 : x)                                                  \
  X(SIGN, (T)((x > 0) - (x < 0)))

/* Integer versions: negation and squares wrap like PyTorch (computed in
 * uint64, so -INT64_MIN is not C's undefined overflow); rounding is the
 * identity. */
#define UNARY_INT_ONLY_OPS(X)                                                \
  X(NEG, (T)(0u - (uint64_t)x))                                              \
  X(SQUARE, (T)((uint64_t)x * (uint64_t)x))                                  \
  X(ABS, x < 0 ? (T)(0u - (uint64_t)x) : x)                                  \
  X(FLOOR, x) X(CEIL, x) X(ROUND, x)

/* Double sigmoid in two branches so exp never overflows. */
static inline double sigmoid_f64(double x) {
  return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

/* The float32 forms of exp, log, tanh and sigmoid are vmath.h's
 * vectorisable ones; float64 keeps libm's. */
#define VEXP(x) _Generic((x), float: lg_vexpf, default: exp)(x)
#define VLOG(x) _Generic((x), float: lg_vlogf, default: log)(x)
#define VTANH(x) _Generic((x), float: lg_vtanhf, default: tanh)(x)
#define VSIGMOID(x) _Generic((x), float: lg_vsigmoidf, default: sigmoid_f64)(x)

/* Floating point only; tgmath.h picks the float or double function. */
#define UNARY_FLOAT_ONLY_OPS(X)                                              \
  X(NEG, -x)                                                                 \
  X(SQUARE, x * x)                                                           \
  X(ABS, fabs(x))                                                            \
  X(FLOOR, floor(x))                                                         \
  X(CEIL, ceil(x))                                                           \
  X(ROUND, nearbyint(x)) /* half to even, as PyTorch */                      \
  X(EXP, VEXP(x))                                                            \
  X(LOG, VLOG(x))                                                            \
  X(LOG1P, log1p(x))                                                         \
  X(EXPM1, expm1(x))                                                         \
  X(SQRT, sqrt(x))                                                           \
  X(RSQRT, (T)1 / sqrt(x))                                                   \
  X(SIN, sin(x))                                                             \
  X(COS, cos(x))                                                             \
  X(TANH, VTANH(x))                                                          \
  X(SIGMOID, VSIGMOID(x))                                                    \
  X(GELU, (T)0.5 * x * ((T)1 + erf(x * (T)0.70710678118654752440)))          \
  X(SILU, x * VSIGMOID(x))                                                   \
  /* PyTorch's softplus(beta=1, threshold=20) */                             \
  X(SOFTPLUS, x > (T)20 ? x : log1p(exp(x)))                                 \
  X(RECIPROCAL, (T)1 / x)                                                    \
  X(ERF, erf(x))

#define DEFINE_UNARY(OP, EXPR, SUFFIX, T) LOOP1(unary_##OP##_##SUFFIX, T, T, EXPR)
#define DEF_ANY(OP, EXPR)                                                    \
  DEFINE_UNARY(OP, EXPR, u8, uint8_t) DEFINE_UNARY(OP, EXPR, i32, int32_t)   \
  DEFINE_UNARY(OP, EXPR, i64, int64_t) DEFINE_UNARY(OP, EXPR, f32, float)    \
  DEFINE_UNARY(OP, EXPR, f64, double)
#define DEF_INT(OP, EXPR)                                                    \
  DEFINE_UNARY(OP, EXPR, u8, uint8_t) DEFINE_UNARY(OP, EXPR, i32, int32_t)   \
  DEFINE_UNARY(OP, EXPR, i64, int64_t)
/* float loops are cloned for AVX2 / AVX-512 (vmath.h) */
#define DEFINE_UNARY_CLONED(OP, EXPR, SUFFIX, T)                             \
  LOOP1_WITH(LG_VECTOR_CLONES, unary_##OP##_##SUFFIX, T, T, EXPR)
#define DEF_FLOAT(OP, EXPR)                                                  \
  DEFINE_UNARY_CLONED(OP, EXPR, f32, float)                                  \
  DEFINE_UNARY_CLONED(OP, EXPR, f64, double)
UNARY_ANY_OPS(DEF_ANY)
UNARY_INT_ONLY_OPS(DEF_INT)
UNARY_FLOAT_ONLY_OPS(DEF_FLOAT)
LOOP1(logical_not_loop_b, bool, bool, !x)

/* ---- floating-point checks and nan_to_num ------------------------------- */

/* isnan, isinf, isfinite: a bool result; for integer and bool inputs the
 * answer is a constant (one loop reads any such dtype: x goes unused). */
#define FLOAT_CHECK_OPS(X)                                                   \
  X(ISNAN, isnan(x), false) X(ISINF, isinf(x), false)                       \
  X(ISFINITE, isfinite(x), true)
#define DEF_CHECK(OP, EXPR, INT_VALUE)                                       \
  LOOP1(check_##OP##_f32, bool, float, EXPR)                                 \
  LOOP1(check_##OP##_f64, bool, double, EXPR)                                \
  LOOP1(check_##OP##_int, bool, uint8_t, ((void)x, INT_VALUE))
FLOAT_CHECK_OPS(DEF_CHECK)

/* nan_to_num's replacements in both float widths (state of its loops) */
typedef struct nan_replacements {
  float f[3];  /* nan, +inf, -inf */
  double d[3];
} nan_replacements;

/* double -> float with out-of-range values going to +-inf, as PyTorch's
 * cast does (a plain C cast of those is undefined) */
static float to_float(double v) {
  if (v > FLT_MAX) return INFINITY;
  if (v < -FLT_MAX) return -INFINITY;
  return (float)v;
}

/* The replacements are read into locals once: read through state inside
 * the loop, every store to the output (which might alias it, as far as
 * the compiler knows) would reload them and stop vectorisation. */
#define NAN_TO_NUM_LOOP(SUFFIX, T, FIELD)                                    \
  static void nan_to_num_##SUFFIX(char **d, const int64_t *s, int64_t n,    \
                                  void *state) {                             \
    const T *r = ((const nan_replacements *)state)->FIELD;                   \
    const T nan_value = r[0], pos = r[1], neg = r[2];                        \
    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {                            \
      T *o = (T *)(void *)d[0];                                              \
      const T *a = (const T *)(void *)d[1];                                  \
      for (int64_t i = 0; i < n; i++) {                                      \
        T x = a[i];                                                          \
        o[i] = x != x ? nan_value : x == (T)INFINITY ? pos                   \
               : x == -(T)INFINITY ? neg : x;                                \
      }                                                                      \
      return;                                                                \
    }                                                                        \
    for (int64_t i = 0; i < n; i++) {                                        \
      T x = *(const T *)(void *)(d[1] + i * s[1]);                           \
      *(T *)(void *)(d[0] + i * s[0]) = x != x ? nan_value                   \
          : x == (T)INFINITY ? pos : x == -(T)INFINITY ? neg : x;            \
    }                                                                        \
  }
NAN_TO_NUM_LOOP(f32, float, f)
NAN_TO_NUM_LOOP(f64, double, d)
/* integers and bools have nothing to replace: a copy of the element size */
LOOP1(copy_1, uint8_t, uint8_t, x)
LOOP1(copy_4, uint32_t, uint32_t, x)
LOOP1(copy_8, uint64_t, uint64_t, x)

/* The loop of a check or nan_to_num on dtype (NULL for other ops). */
static lg_loop_fn float_check_loop(lg_op op, lg_dtype dtype) {
  bool f32 = dtype == LG_FLOAT32, f64 = dtype == LG_FLOAT64;
#define CASE_CHECK(OP, EXPR, INT_VALUE)                                      \
  case LG_OP_##OP:                                                           \
    return f32 ? check_##OP##_f32 : f64 ? check_##OP##_f64 : check_##OP##_int;
  switch (op) {
    FLOAT_CHECK_OPS(CASE_CHECK)
    case LG_OP_NAN_TO_NUM:
      if (f32 || f64) return f32 ? nan_to_num_f32 : nan_to_num_f64;
      switch (lg_dtype_size(dtype)) {
        case 1: return copy_1;
        case 4: return copy_4;
        default: return copy_8;
      }
    default: return NULL;
  }
#undef CASE_CHECK
}

/* The loop for op on dtype (NULL when the pair is not supported). */
static lg_loop_fn unary_loop(lg_op op, lg_dtype dtype) {
#define CASE_INT(OP, EXPR)                                                   \
  case LG_OP_##OP:                                                           \
    return dtype == LG_UINT8   ? unary_##OP##_u8                             \
           : dtype == LG_INT32 ? unary_##OP##_i32                            \
                               : unary_##OP##_i64;
#define CASE_FLOAT(OP, EXPR)                                                 \
  case LG_OP_##OP:                                                           \
    return dtype == LG_FLOAT32 ? unary_##OP##_f32 : unary_##OP##_f64;
  if (dtype == LG_BOOL) return NULL;
  if (lg_dtype_is_float(dtype)) {
    switch (op) {
      UNARY_ANY_OPS(CASE_FLOAT)
      UNARY_FLOAT_ONLY_OPS(CASE_FLOAT)
      default: return NULL;
    }
  }
  switch (op) {
    UNARY_ANY_OPS(CASE_INT)
    UNARY_INT_ONLY_OPS(CASE_INT)
    default: return NULL;
  }
#undef CASE_INT
#undef CASE_FLOAT
}

/* ---- the flat fast path ------------------------------------------------ */

/* Whether each of the n tensors is contiguous with exactly the shape
 * (nd, sizes): then the loop runs once over the flat data, skipping the
 * iterator (whose setup dominates small ops), and large flat work is split
 * across the context's threads. */
static bool flat_operands(lg_tensor *const *t, int n, int nd,
                          const int64_t *sizes) {
  for (int i = 0; i < n; i++)
    if (!lg_tensor_has_shape(t[i], nd, sizes) || !lg_tensor_is_contiguous(t[i]))
      return false;
  return true;
}

/* Runs loop over n flat elements: in one call when small; else in steps
 * an interrupt stops between (then "interrupted"), on several threads when
 * splittable (state must not be written by the loop then). */
static lg_status run_flat(lg_ctx *ctx, lg_loop_fn loop, int n_operands,
                          char *const *data, const int64_t *strides,
                          int64_t n, void *state, bool splittable,
                          int64_t grain) {
  if (n > grain)
    return splittable ? lg_parallel_loop(ctx, loop, n_operands, data,
                                         strides, n, state, grain)
                      : lg_serial_loop(ctx, loop, n_operands, data, strides,
                                       n, state, grain);
  loop((char **)data, strides, n, state);
  return LG_OK;
}

/* x -> op(x); integer inputs of float-only ops compute in float32; the
 * checks (isnan, ...) give bool; nan_to_num reads p->scalar[0..2] */
lg_status lg_kernel_unary(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                          int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  lg_dtype compute = x->dtype, result;
  lg_loop_fn loop;
  nan_replacements values, *state = NULL;
  if (op == LG_OP_LOGICAL_NOT) {
    compute = result = LG_BOOL;
    loop = logical_not_loop_b;
  } else if ((loop = float_check_loop(op, compute))) {
    result = LG_BOOL;
    if (op == LG_OP_NAN_TO_NUM) {
      result = compute;
      for (int k = 0; k < 3; k++) {
        values.d[k] = p->scalar[k];
        values.f[k] = to_float(p->scalar[k]);
      }
      state = &values;
    }
  } else {
    if (lg_op_kind(op) == LG_KIND_UNARY_FLOAT && !lg_dtype_is_float(compute))
      compute = LG_FLOAT32;
    result = compute;
    loop = unary_loop(op, compute);
    if (!loop)
      return lg_fail(ctx, LG_ERR_DTYPE, "%s: %s tensors are not supported",
                     name, lg_dtype_name(x->dtype));
  }
  lg_tensor *input = NULL;
  lg_status st = LG_OK;
  if (x->dtype != compute) st = lg_contiguous_as(ctx, x, compute, &input);
  if (st) return st;
  st = lg_prepare_out(ctx, name, out, result, x->ndim, x->sizes);
  if (st) goto done;
  if ((*out)->dtype != result) {
    st = lg_fail(ctx, LG_ERR_DTYPE,
                 "%s: result type %s can't be written into a %s tensor",
                 name, lg_dtype_name(result), lg_dtype_name((*out)->dtype));
    lg_tensor_release(*out);
    goto done;
  }
  lg_tensor *src = input ? input : x;
  if (flat_operands(out, 1, x->ndim, x->sizes) &&
      flat_operands(&src, 1, x->ndim, x->sizes)) {
    char *data[2] = {lg_data_ptr(*out), lg_data_ptr(src)};
    int64_t strides[2] = {(int64_t)lg_dtype_size(result),
                          (int64_t)lg_dtype_size(compute)};
    int64_t grain = lg_op_kind(op) == LG_KIND_UNARY_FLOAT ? LG_GRAIN_MATH
                                                          : LG_GRAIN_CHEAP;
    st = run_flat(ctx, loop, 2, data, strides, lg_tensor_numel(x), state,
                  true, grain);
    if (st) lg_tensor_release(*out);
  } else {
    lg_iter it;
    lg_iter_init(&it, x->ndim, x->sizes);
    lg_iter_add_tensor(&it, *out);
    lg_iter_add_tensor(&it, src);
    st = lg_iter_run_ctx(ctx, &it, loop, state);
    if (st) lg_tensor_release(*out);
  }
done:
  lg_tensor_release(input);
  return st;
}

/* ---- binary ops --------------------------------------------------------- */

/* Wrapping integer arithmetic (computed in uint64, converted back). */
#define WRAP(T, e) ((T)(uint64_t)(e))
#define UADD(x, y) ((uint64_t)(x) + (uint64_t)(y))
#define USUB(x, y) ((uint64_t)(x) - (uint64_t)(y))
#define UMUL(x, y) ((uint64_t)(x) * (uint64_t)(y))

static inline int64_t int_floor_div(int64_t x, int64_t y, bool *invalid) {
  if (y == 0) { *invalid = true; return 0; }
  if (y == -1) return (int64_t)(0 - (uint64_t)x); /* INT64_MIN / -1 wraps */
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
  return q;
}
static inline int64_t int_remainder(int64_t x, int64_t y, bool *invalid) {
  if (y == 0) { *invalid = true; return 0; }
  if (y == -1) return 0;
  int64_t r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
static inline int64_t int_pow(int64_t base, int64_t e, bool *invalid) {
  if (e < 0) { *invalid = true; return 0; }
  uint64_t result = 1, b = (uint64_t)base;
  while (e) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return (int64_t)result;
}
static inline double float_floor_div(double x, double y) { return floor(x / y); }
static inline double float_remainder(double x, double y) {
  double r = fmod(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}

#define BINARY_FLOAT_OPS(X)                                                  \
  X(ADD, x + y)                                                              \
  X(SUB, x - y)                                                              \
  X(MUL, x * y)                                                              \
  X(DIV, x / y)                                                              \
  X(REMAINDER, (T)float_remainder(x, y))                                     \
  X(FLOOR_DIVIDE, (T)float_floor_div(x, y))                                  \
  X(POW, pow(x, y))                                                          \
  X(MAXIMUM, (x > y || x != x) ? x : y)                                      \
  X(MINIMUM, (x < y || x != x) ? x : y)

#define BINARY_INT_OPS(X)                                                    \
  X(ADD, WRAP(T, UADD(x, y)))                                                \
  X(SUB, WRAP(T, USUB(x, y)))                                                \
  X(MUL, WRAP(T, UMUL(x, y)))                                                \
  X(REMAINDER, (T)int_remainder(x, y, invalid))                              \
  X(FLOOR_DIVIDE, (T)int_floor_div(x, y, invalid))                           \
  X(POW, (T)int_pow(x, y, invalid))                                          \
  X(MAXIMUM, x > y ? x : y)                                                  \
  X(MINIMUM, x < y ? x : y)

/* bool: add is or, mul is and, maximum/minimum likewise */
#define BINARY_BOOL_OPS(X)                                                   \
  X(ADD, x || y) X(MUL, x && y) X(MAXIMUM, x || y) X(MINIMUM, x && y)

/* isclose as PyTorch computes it: equal, or both NaN under equal_nan, or
 * a finite |x - y| <= atol + |y rtol|, in float32 for float32 operands and
 * for integers and bools (converted to the default dtype first) */
static inline bool close_f64(double x, double y, const binary_state *s) {
  if (x == y || (s->equal_nan && isnan(x) && isnan(y))) return true;
  double diff = fabs(x - y);
  return isfinite(diff) && diff <= s->atol + fabs(y * s->rtol);
}
static inline bool close_f32(float x, float y, const binary_state *s) {
  if (x == y || (s->equal_nan && isnan(x) && isnan(y))) return true;
  float diff = fabs(x - y);
  return isfinite(diff) && diff <= s->atol_f + fabs(y * s->rtol_f);
}
static inline bool close_int(int64_t x, int64_t y, const binary_state *s) {
  if (x == y) return true;
  float fx = (float)x, fy = (float)y, diff = fabs(fx - fy);
  return isfinite(diff) && diff <= s->atol_f + fabs(fy * s->rtol_f);
}
#define CLOSE(x, y)                                                          \
  _Generic((x), float: close_f32, double: close_f64, default: close_int)(    \
      x, y, bs)

#define COMPARE_OPS(X)                                                       \
  X(EQ, x == y) X(NE, x != y) X(LT, x < y) X(LE, x <= y) X(GT, x > y)        \
  X(GE, x >= y) X(ISCLOSE, CLOSE(x, y))

#define DEFINE_BINARY(OP, EXPR, SUFFIX, T) LOOP2(binary_##OP##_##SUFFIX, T, T, EXPR)
#define DEFINE_BINARY_CLONED(OP, EXPR, SUFFIX, T)                            \
  LOOP2_WITH(LG_VECTOR_CLONES, binary_##OP##_##SUFFIX, T, T, EXPR)
#define DEF_BIN_FLOAT(OP, EXPR)                                              \
  DEFINE_BINARY_CLONED(OP, EXPR, f32, float)                                 \
  DEFINE_BINARY_CLONED(OP, EXPR, f64, double)
#define DEF_BIN_INT(OP, EXPR)                                                \
  DEFINE_BINARY(OP, EXPR, u8, uint8_t) DEFINE_BINARY(OP, EXPR, i32, int32_t) \
  DEFINE_BINARY(OP, EXPR, i64, int64_t)
#define DEF_BIN_BOOL(OP, EXPR) DEFINE_BINARY(OP, EXPR, b, bool)
BINARY_FLOAT_OPS(DEF_BIN_FLOAT)
BINARY_INT_OPS(DEF_BIN_INT)
BINARY_BOOL_OPS(DEF_BIN_BOOL)

#define DEFINE_COMPARE(OP, EXPR, SUFFIX, T) LOOP2(compare_##OP##_##SUFFIX, bool, T, EXPR)
#define DEF_CMP(OP, EXPR)                                                    \
  DEFINE_COMPARE(OP, EXPR, b, bool) DEFINE_COMPARE(OP, EXPR, u8, uint8_t)    \
  DEFINE_COMPARE(OP, EXPR, i32, int32_t)                                     \
  DEFINE_COMPARE(OP, EXPR, i64, int64_t)                                     \
  DEFINE_COMPARE(OP, EXPR, f32, float) DEFINE_COMPARE(OP, EXPR, f64, double)
COMPARE_OPS(DEF_CMP)

static lg_loop_fn binary_loop(lg_op op, lg_dtype dtype) {
#define CASE_BY_DTYPE(PREFIX, OP)                                            \
  case LG_OP_##OP:                                                           \
    switch (dtype) {                                                         \
      case LG_FLOAT32: return PREFIX##_##OP##_f32;                           \
      case LG_FLOAT64: return PREFIX##_##OP##_f64;                           \
      case LG_UINT8: return PREFIX##_##OP##_u8;                              \
      case LG_INT32: return PREFIX##_##OP##_i32;                             \
      case LG_INT64: return PREFIX##_##OP##_i64;                             \
      default: return NULL;                                                  \
    }
#define CASE_CMP(OP, EXPR)                                                   \
  case LG_OP_##OP:                                                           \
    if (dtype == LG_BOOL) return compare_##OP##_b;                           \
    switch (dtype) {                                                         \
      case LG_FLOAT32: return compare_##OP##_f32;                            \
      case LG_FLOAT64: return compare_##OP##_f64;                            \
      case LG_UINT8: return compare_##OP##_u8;                               \
      case LG_INT32: return compare_##OP##_i32;                              \
      case LG_INT64: return compare_##OP##_i64;                              \
      default: return NULL;                                                  \
    }
#define CASE_ARITH(OP, EXPR) CASE_BY_DTYPE(binary, OP)
#define CASE_BOOL(OP, EXPR) case LG_OP_##OP: return binary_##OP##_b;
  switch (op) {
    COMPARE_OPS(CASE_CMP)
    default: break;
  }
  if (dtype == LG_BOOL) {
    switch (op) {
      BINARY_BOOL_OPS(CASE_BOOL)
      default: return NULL;
    }
  }
  if (op == LG_OP_DIV) return lg_dtype_is_float(dtype) ? (dtype == LG_FLOAT32 ? binary_DIV_f32 : binary_DIV_f64) : NULL;
  switch (op) {
    BINARY_INT_OPS(CASE_ARITH)
    default: return NULL;
  }
#undef CASE_BY_DTYPE
#undef CASE_CMP
#undef CASE_ARITH
#undef CASE_BOOL
}

/* The dtype binary arithmetic runs in, for two operands (one may be a
 * scalar described by flags). */
static lg_dtype binary_compute_dtype(lg_op op, lg_tensor *const *in,
                                     const lg_params *p) {
  lg_dtype t;
  if (p->flags & (LG_FLAG_SCALAR_A | LG_FLAG_SCALAR_B))
    t = lg_result_type_scalar(in[0]->dtype,
                              (p->flags & LG_FLAG_SCALAR_INT) != 0);
  else
    t = lg_result_type(in[0], in[1]);
  if (op == LG_OP_DIV && !lg_dtype_is_float(t)) t = LG_FLOAT32;
  /* bool arithmetic beyond or/and computes in int64, as PyTorch */
  if (t == LG_BOOL && (op == LG_OP_SUB || op == LG_OP_REMAINDER ||
                       op == LG_OP_FLOOR_DIVIDE || op == LG_OP_POW))
    t = LG_INT64;
  return t;
}

/* isclose's checks (two tensors of one dtype, tolerances >= 0) and its
 * tolerances in the loops' state */
static lg_status isclose_setup(lg_ctx *ctx, lg_tensor *const *in,
                               const lg_params *p, binary_state *state) {
  if (p->flags & (LG_FLAG_SCALAR_A | LG_FLAG_SCALAR_B))
    return lg_fail(ctx, LG_ERR_ARG, "isclose: expected two tensors");
  if (in[0]->dtype != in[1]->dtype)
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "isclose: expected tensors of the same dtype, got %s and "
                   "%s", lg_dtype_name(in[0]->dtype),
                   lg_dtype_name(in[1]->dtype));
  static const char *const names[2] = {"rtol", "atol"};
  for (int k = 0; k < 2; k++)
    if (!(p->scalar[k] >= 0))
      return lg_fail(ctx, LG_ERR_ARG, "isclose: expected %s >= 0, got %g",
                     names[k], p->scalar[k]);
  state->rtol = p->scalar[0];
  state->atol = p->scalar[1];
  state->rtol_f = to_float(state->rtol);
  state->atol_f = to_float(state->atol);
  state->equal_nan = (p->flags & LG_FLAG_EQUAL_NAN) != 0;
  return LG_OK;
}

/* The eager small-op path of lg_kernel_binary: arithmetic on two
 * contiguous tensors of one float dtype and one shape into a fresh result,
 * small enough for one call of the loop. Runs the loop the general path
 * would pick on the same flat operands (so the values are identical) and
 * returns true; false leaves everything to the general path. */
static bool binary_small_same(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                              int n_in, const lg_params *p, lg_tensor **out,
                              lg_status *st) {
  if (n_in != 2 || *out || lg_op_kind(op) != LG_KIND_BINARY ||
      (p->flags & (LG_FLAG_SCALAR_A | LG_FLAG_SCALAR_B)))
    return false;
  lg_tensor *a = in[0], *b = in[1];
  lg_dtype dtype = a->dtype;
  if ((dtype != LG_FLOAT32 && dtype != LG_FLOAT64) || b->dtype != dtype ||
      !lg_tensor_has_shape(b, a->ndim, a->sizes) ||
      !lg_tensor_is_contiguous(a) || !lg_tensor_is_contiguous(b))
    return false;
  int64_t n = lg_tensor_numel(a);
  lg_loop_fn loop = binary_loop(op, dtype);
  if (!loop || n > LG_GRAIN_MATH) return false;
  *st = lg_empty(ctx, dtype, a->ndim, a->sizes, out);
  if (*st) return true;
  int64_t item = (int64_t)lg_dtype_item(dtype);
  char *data[3] = {lg_data_ptr(*out), lg_data_ptr(a), lg_data_ptr(b)};
  int64_t strides[3] = {item, item, item};
  binary_state state = {0};
  loop(data, strides, n, &state); /* float loops never flag invalid */
  return true;
}

/* (a, b) -> op(a, b), broadcast; either side may be params->scalar */
lg_status lg_kernel_binary(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  lg_status fast;
  if (binary_small_same(ctx, op, in, n_in, p, out, &fast)) return fast;
  const char *name = lg_op_name(op);
  bool scalar_a = (p->flags & LG_FLAG_SCALAR_A) != 0;
  bool scalar_b = (p->flags & LG_FLAG_SCALAR_B) != 0;
  if (scalar_a && scalar_b)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected at least one tensor", name);
  if (op == LG_OP_SUB && !scalar_a && !scalar_b && in[0]->dtype == LG_BOOL &&
      in[1]->dtype == LG_BOOL)
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "sub: subtracting bool tensors is not supported, use "
                   "logical_xor or ne");
  binary_state state = {0};
  if (op == LG_OP_ISCLOSE) {
    lg_status bad = isclose_setup(ctx, in, p, &state);
    if (bad) return bad;
  }
  lg_dtype compute = binary_compute_dtype(op, in, p);
  bool compare = lg_op_kind(op) == LG_KIND_COMPARE || op == LG_OP_ISCLOSE;
  lg_dtype result = compare ? LG_BOOL : compute;
  lg_loop_fn loop = binary_loop(op, compute);
  if (!loop)
    return lg_fail(ctx, LG_ERR_DTYPE, "%s: %s operands are not supported",
                   name, lg_dtype_name(compute));
  /* operands as tensors of the compute dtype, scalars as one element */
  unsigned char scalar[8];
  if (scalar_a || scalar_b) {
    if (p->flags & LG_FLAG_SCALAR_INT)
      lg_store_int(scalar, compute, p->scalar_int);
    else
      lg_store_double(scalar, compute, p->scalar[0]);
  }
  lg_tensor *converted[2] = {NULL, NULL};
  lg_tensor *operand[2];
  lg_status st = LG_OK;
  for (int i = 0; i < n_in; i++) {
    operand[i] = in[i];
    if (in[i]->dtype != compute) {
      st = lg_contiguous_as(ctx, in[i], compute, &converted[i]);
      if (st) goto done;
      operand[i] = converted[i];
    }
  }
  int nd;
  int64_t sizes[LG_MAX_DIMS];
  if (n_in == 2 && !lg_tensor_has_shape(in[1], in[0]->ndim, in[0]->sizes))
    st = lg_broadcast_shape(ctx, name, 2, in, &nd, sizes);
  else { /* one tensor, or two of the same shape: nothing to broadcast */
    nd = in[0]->ndim;
    for (int i = 0; i < nd; i++) sizes[i] = in[0]->sizes[i];
  }
  if (st) goto done;
  st = lg_prepare_out(ctx, name, out, result, nd, sizes);
  if (st) goto done;
  lg_tensor *dst = *out, *staged = NULL;
  if (dst->dtype != result) { /* in place into a wider dtype */
    st = lg_empty(ctx, result, nd, sizes, &staged);
    if (st) {
      lg_tensor_release(*out);
      goto done;
    }
    dst = staged;
  }
  if (flat_operands(&dst, 1, nd, sizes) &&
      flat_operands(operand, n_in, nd, sizes)) {
    char *data[3];
    int64_t strides[3];
    int k = 0;
    int64_t item = (int64_t)lg_dtype_size(compute);
    data[k] = lg_data_ptr(dst);
    strides[k++] = (int64_t)lg_dtype_size(result);
    if (scalar_a) data[k] = (char *)scalar, strides[k++] = 0;
    data[k] = lg_data_ptr(operand[0]), strides[k++] = item;
    if (n_in == 2) data[k] = lg_data_ptr(operand[1]), strides[k++] = item;
    if (scalar_b) data[k] = (char *)scalar, strides[k++] = 0;
    /* integer loops may set invalid: those stay on one thread */
    st = run_flat(ctx, loop, k, data, strides, lg_shape_numel(nd, sizes),
                  &state, lg_dtype_is_float(compute),
                  op == LG_OP_POW ? LG_GRAIN_MATH : LG_GRAIN_CHEAP);
    if (st) {
      lg_tensor_release(staged);
      lg_tensor_release(*out);
      goto done;
    }
  } else {
    lg_iter it;
    lg_iter_init(&it, nd, sizes);
    lg_iter_add_tensor(&it, dst);
    if (scalar_a) lg_iter_add_scalar(&it, scalar);
    lg_iter_add_tensor(&it, operand[0]);
    if (n_in == 2) lg_iter_add_tensor(&it, operand[1]);
    if (scalar_b) lg_iter_add_scalar(&it, scalar);
    st = lg_iter_run_ctx(ctx, &it, loop, &state);
    if (st) {
      lg_tensor_release(staged);
      lg_tensor_release(*out);
      goto done;
    }
  }
  if (staged) {
    lg_tensor *copy_in[2] = {*out, staged};
    lg_params cp = {0};
    lg_tensor *res = NULL;
    cp.flags = LG_FLAG_INPLACE;
    st = lg_kernel_copy(ctx, LG_OP_COPY, copy_in, 2, &cp, &res);
    lg_tensor_release(res);
    lg_tensor_release(staged);
    if (st) { /* interrupted */
      lg_tensor_release(*out);
      goto done;
    }
  }
  if (state.invalid) {
    st = lg_fail(ctx, LG_ERR_ARG,
                 op == LG_OP_POW
                     ? "pow: integers to negative integer powers are not "
                       "allowed"
                     : "%s: integer division by zero",
                 name);
    lg_tensor_release(*out);
  }
done:
  lg_tensor_release(converted[0]);
  lg_tensor_release(converted[1]);
  return st;
}

/* ---- clamp and where ---------------------------------------------------- */

typedef struct clamp_bounds {
  bool has_min, has_max;
  double min, max;
} clamp_bounds;

#define CLAMP_LOOP(SUFFIX, T)                                                \
  static void clamp_##SUFFIX(char **d, const int64_t *s, int64_t n,          \
                             void *state) {                                  \
    const clamp_bounds *b = state;                                           \
    T lo = (T)b->min, hi = (T)b->max;                                        \
    for (int64_t i = 0; i < n; i++) {                                        \
      T x = *(const T *)(void *)(d[1] + i * s[1]);                           \
      if (b->has_min && x < lo) x = lo;                                      \
      if (b->has_max && x > hi) x = hi;                                      \
      *(T *)(void *)(d[0] + i * s[0]) = x;                                   \
    }                                                                        \
  }
LG_FOR_EACH_NUMERIC_SUFFIX(CLAMP_LOOP)

/* x -> min(max(x, scalar[0]), scalar[1]), either bound optional */
lg_status lg_kernel_clamp(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                          int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  (void)op;
  lg_tensor *x = in[0];
  clamp_bounds b = {(p->flags & LG_FLAG_HAS_MIN) != 0,
                    (p->flags & LG_FLAG_HAS_MAX) != 0, p->scalar[0],
                    p->scalar[1]};
  if (!b.has_min && !b.has_max)
    return lg_fail(ctx, LG_ERR_ARG,
                   "clamp: expected at least one of min and max");
  lg_dtype compute = x->dtype;
  bool bounds_int = (p->flags & LG_FLAG_SCALAR_INT) != 0;
  if (!lg_dtype_is_float(compute) && !bounds_int) compute = LG_FLOAT32;
  if (compute == LG_BOOL)
    return lg_fail(ctx, LG_ERR_DTYPE, "clamp: bool tensors are not supported");
  lg_loop_fn loop = compute == LG_UINT8   ? clamp_u8
                    : compute == LG_INT32 ? clamp_i32
                    : compute == LG_INT64 ? clamp_i64
                    : compute == LG_FLOAT32 ? clamp_f32 : clamp_f64;
  lg_tensor *input = NULL;
  lg_status st = lg_contiguous_as(ctx, x, compute, &input);
  if (st) return st;
  st = lg_prepare_out(ctx, "clamp", out, compute, x->ndim, x->sizes);
  if (st == LG_OK && (*out)->dtype != compute) {
    lg_tensor_release(*out);
    st = lg_fail(ctx, LG_ERR_DTYPE,
                 "clamp: result type %s can't be written into a %s tensor",
                 lg_dtype_name(compute), lg_dtype_name(x->dtype));
  }
  if (st == LG_OK) {
    lg_iter it;
    lg_iter_init(&it, x->ndim, x->sizes);
    lg_iter_add_tensor(&it, *out);
    lg_iter_add_tensor(&it, input);
    st = lg_iter_run_ctx(ctx, &it, loop, &b);
    if (st) lg_tensor_release(*out);
  }
  lg_tensor_release(input);
  return st;
}

/* where over contiguous rows, b maybe a scalar (stride 0: relu's
 * backward): a select by bit masks, so it vectorises and does not
 * mispredict on random conditions (a branch per element cost ~5 ns). */
#define WHERE_BITS(BITS)                                                     \
  LG_VECTOR_CLONES static void where_bits##BITS(                             \
      uint##BITS##_t *o, const unsigned char *cond, const uint##BITS##_t *a, \
      const uint##BITS##_t *b, bool b_scalar, int64_t n) {                   \
    for (int64_t i = 0; i < n; i++) {                                        \
      uint##BITS##_t m = (uint##BITS##_t)0 - (uint##BITS##_t)(cond[i] != 0); \
      uint##BITS##_t bi = b_scalar ? b[0] : b[i];                            \
      o[i] = (a[i] & m) | (bi & ~m);                                         \
    }                                                                        \
  }
WHERE_BITS(32)
WHERE_BITS(64)

#define WHERE_LOOP(SUFFIX, T)                                                \
  static void where_##SUFFIX(char **d, const int64_t *s, int64_t n,          \
                             void *state) {                                  \
    (void)state;                                                             \
    if ((sizeof(T) == 4 || sizeof(T) == 8) && s[0] == (int64_t)sizeof(T) && \
        s[1] == 1 && s[2] == (int64_t)sizeof(T) &&                           \
        (s[3] == 0 || s[3] == (int64_t)sizeof(T))) {                         \
      if (sizeof(T) == 4)                                                    \
        where_bits32((uint32_t *)(void *)d[0], (unsigned char *)d[1],        \
                     (const uint32_t *)(void *)d[2],                         \
                     (const uint32_t *)(void *)d[3], s[3] == 0, n);          \
      else                                                                   \
        where_bits64((uint64_t *)(void *)d[0], (unsigned char *)d[1],        \
                     (const uint64_t *)(void *)d[2],                         \
                     (const uint64_t *)(void *)d[3], s[3] == 0, n);          \
      return;                                                                \
    }                                                                        \
    for (int64_t i = 0; i < n; i++) {                                        \
      bool c = *(const bool *)(void *)(d[1] + i * s[1]);                     \
      *(T *)(void *)(d[0] + i * s[0]) =                                      \
          c ? *(const T *)(void *)(d[2] + i * s[2])                          \
            : *(const T *)(void *)(d[3] + i * s[3]);                         \
    }                                                                        \
  }
LG_FOR_EACH_SUFFIX(WHERE_LOOP)

/* (cond, a, b) -> cond ? a : b, broadcast; a or b may be params->scalar[0]
 * / scalar[1] (LG_FLAG_SCALAR_A / _B) */
lg_status lg_kernel_where(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                          int n_in, const lg_params *p, lg_tensor **out) {
  (void)op;
  bool scalar_a = (p->flags & LG_FLAG_SCALAR_A) != 0;
  bool scalar_b = (p->flags & LG_FLAG_SCALAR_B) != 0;
  lg_tensor *cond = in[0];
  lg_tensor *a = scalar_a ? NULL : in[1];
  lg_tensor *b = scalar_b ? NULL : in[scalar_a ? 1 : 2];
  bool scalar_int = (p->flags & LG_FLAG_SCALAR_INT) != 0;
  lg_dtype t;
  if (a && b) t = lg_result_type(a, b);
  else if (a || b) t = lg_result_type_scalar((a ? a : b)->dtype, scalar_int);
  else t = scalar_int ? LG_INT64 : LG_FLOAT32;
  unsigned char va[8], vb[8];
  if (scalar_a) lg_store_double(va, t, p->scalar[0]);
  if (scalar_b) lg_store_double(vb, t, p->scalar[1]);
  lg_tensor *conv[3] = {NULL, NULL, NULL};
  lg_status st = lg_contiguous_as(ctx, cond, LG_BOOL, &conv[0]);
  if (st) return st;
  if (a) st = lg_contiguous_as(ctx, a, t, &conv[1]);
  if (!st && b) st = lg_contiguous_as(ctx, b, t, &conv[2]);
  int nd = 0;
  int64_t sizes[LG_MAX_DIMS];
  if (!st) st = lg_broadcast_shape(ctx, "where", n_in, in, &nd, sizes);
  if (!st) st = lg_prepare_out(ctx, "where", out, t, nd, sizes);
  if (!st && (*out)->dtype != t) {
    lg_tensor_release(*out);
    st = lg_fail(ctx, LG_ERR_DTYPE, "where: output dtype mismatch");
  }
  if (!st) {
    static const lg_loop_fn loops[LG_NUM_DTYPES] = {
        where_b, where_u8, where_i32, where_i64, where_f32, where_f64};
    lg_iter it;
    lg_iter_init(&it, nd, sizes);
    lg_iter_add_tensor(&it, *out);
    lg_iter_add_tensor(&it, conv[0]);
    if (a) lg_iter_add_tensor(&it, conv[1]); else lg_iter_add_scalar(&it, va);
    if (b) lg_iter_add_tensor(&it, conv[2]); else lg_iter_add_scalar(&it, vb);
    st = lg_iter_run_split(ctx, &it, loops[t], NULL, LG_GRAIN_CHEAP);
    if (st) lg_tensor_release(*out);
  }
  for (int i = 0; i < 3; i++) lg_tensor_release(conv[i]);
  return st;
}

/* ---- loops for func.compile's fused groups (elementwise_fuse.h) --------- */

bool lg_elementwise_fusible(lg_op op, const lg_params *p, int n_in,
                            lg_dtype dtype, lg_ew_loop *e) {
  if ((dtype != LG_FLOAT32 && dtype != LG_FLOAT64) ||
      (p->flags & (LG_FLAG_INPLACE | LG_FLAG_OUT)))
    return false;
  memset(e, 0, sizeof *e);
  e->n_tensors = n_in;
  int kind = lg_op_kind(op);
  if (lg_op_forward(op) == lg_kernel_unary) {
    if (n_in != 1 || op == LG_OP_LOGICAL_NOT || float_check_loop(op, dtype))
      return false;
    e->loop = unary_loop(op, dtype);
    return e->loop != NULL;
  }
  if (lg_op_forward(op) != lg_kernel_binary || kind != LG_KIND_BINARY ||
      op == LG_OP_ISCLOSE)
    return false;
  bool scalar_a = (p->flags & LG_FLAG_SCALAR_A) != 0;
  bool scalar_b = (p->flags & LG_FLAG_SCALAR_B) != 0;
  if (n_in != ((scalar_a || scalar_b) ? 1 : 2) || (scalar_a && scalar_b))
    return false;
  lg_tensor fake; /* binary_compute_dtype reads the dtypes only */
  memset(&fake, 0, sizeof fake);
  fake.dtype = dtype;
  lg_tensor *pair[2] = {&fake, &fake};
  if (binary_compute_dtype(op, pair, p) != dtype) return false;
  e->loop = binary_loop(op, dtype);
  if (!e->loop) return false;
  if (scalar_a || scalar_b) {
    e->scalar_pos = scalar_a ? 1 : 2;
    /* as lg_kernel_binary stores it */
    if (p->flags & LG_FLAG_SCALAR_INT)
      lg_store_int(e->scalar, dtype, p->scalar_int);
    else
      lg_store_double(e->scalar, dtype, p->scalar[0]);
  }
  return true;
}

void lg_elementwise_run(const lg_ew_loop *e, char *const *data, int64_t n,
                        size_t item) {
  char *d[3];
  int64_t s[3];
  int k = 0, t = 1;
  d[k] = data[0], s[k++] = (int64_t)item;
  if (e->scalar_pos == 1) d[k] = (char *)e->scalar, s[k++] = 0;
  d[k] = data[t++], s[k++] = (int64_t)item;
  if (e->n_tensors == 2) d[k] = data[t++], s[k++] = (int64_t)item;
  if (e->scalar_pos == 2) d[k] = (char *)e->scalar, s[k++] = 0;
  binary_state state = {0};
  e->loop(d, s, n, &state);
}
