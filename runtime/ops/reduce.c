/* reduce.c: reductions (sum mean prod amax amin logsumexp all any var std
 * norm), max/min over a dim with indices, argmax/argmin, cumsum/cumprod.
 *
 * A reduction splits the input's dims into kept dims, which index the
 * contiguous output in row-major order, and reduced dims, which form one
 * "row" per output element. Each op is written once as a function of a
 * contiguous row. Rows come straight from the input when it is contiguous
 * and every reduced dim follows every kept dim (the fast path), or are
 * gathered through the strides into a double / int64 scratch row (the
 * reference path, any strides). Float rows accumulate in double (sums in
 * 32 vectorised partial sums); integer sums and products wrap in int64
 * like PyTorch's. Rows read in place are split across the context's
 * threads when large (parallel.h); a row's result never depends on it.
 *
 * Params conventions:
 *  - SUM MEAN PROD AMAX AMIN LOGSUMEXP ALL ANY VAR STD NORM: dims in
 *    p->ints[0..n_ints) (0-based, negative from the end); n_ints == 0
 *    reduces every dim. LG_FLAG_KEEPDIM keeps reduced dims as size 1.
 *    VAR/STD read p->scalar[0] as the correction (1 = unbiased); NORM reads
 *    p->scalar[0] as p (2; 1; 0 = count of nonzeros; HUGE_VAL = max |x|;
 *    -HUGE_VAL = min |x|; any other p). Zero-initialised params therefore
 *    mean correction 0 and p = 0: callers set them.
 *  - MAX_DIM/MIN_DIM: p->dim; outputs values and 1-based int64 indices.
 *  - ARGMAX/ARGMIN: p->dim, or the flattened tensor when p->n_ints == -1
 *    (then KEEPDIM gives a shape of all ones). 1-based int64 result.
 *  - CUMSUM/CUMPROD: p->dim; may run in place (LG_FLAG_INPLACE).
 * Ties pick the first occurrence; a NaN wins max/min/argmax/argmin (the
 * first NaN), as in PyTorch.
 */
#include <math.h>

#include "core.h"
#include "dtype.h"
#include "parallel.h"
#include "sum_rows.h"
#include "vmath.h"

/* ---- row functions ------------------------------------------------------ */

/* The element type of a row handed to the row functions. */
typedef enum row_kind { ROW_F32, ROW_F64, ROW_I64 } row_kind;

/* A row's result: f for float results, i for integer and boolean ones. */
typedef struct row_value {
  double f;
  int64_t i;
} row_value;

/* Partial sums per row: 32 doubles are eight AVX2 or four AVX-512
 * registers, enough independent additions to hide their latency. */
#define SUM_LANES 32
/* Folds the SUM_LANES partial sums in a[] pairwise, in a fixed order,
 * into a[0]. */
/* Elements of one row between two looks at the interrupt flag (a
 * multiple of SUM_LANES, so the lanes see the same elements). */
#define ROW_STEP ((int64_t)1 << 20)
/* for (int64_t i = from; i < n; i++), run in steps of LG_ITER_STEP (the
 * sequential loops: products, exp, cumsum) between which the loop ends
 * once stop (may be NULL) says the op must stop; the row's result is then
 * discarded by the failing op. The steps change no result. */
#define STEP_FOR(i, from, n, stop)                                           \
  for (int64_t i = (from), end_ = 0;                                         \
       i < (n) && !(i > (from) && (stop) && lg_stop_now(stop));)             \
    for (end_ = (n) - i > LG_ITER_STEP ? i + LG_ITER_STEP : (n); i < end_;   \
         i++)
#define FOLD_LANES(a)                                                        \
  for (int w_ = SUM_LANES / 2; w_ > 0; w_ /= 2)                              \
    for (int k_ = 0; k_ < w_; k_++) (a)[k_] += (a)[k_ + w_]

#define NAN_CHECK_FLOAT(v) isnan(v)
#define NAN_CHECK_INT(v) 0

/* FOLD_LANES of SUM_LANES doubles done as GCC vector operations on four
 * vectors of eight lanes (lanes 8q .. 8q+7 in v[q]): the same additions in
 * the same order, in registers. The array form folded one scalar at a
 * time through the stack, which on rows of a few thousand elements cost
 * as much as the row itself. */
typedef double lanes8 __attribute__((vector_size(64)));
typedef double lanes4 __attribute__((vector_size(32)));
typedef double lanes2 __attribute__((vector_size(16)));

static inline double fold_lanes(const double *acc) {
  lanes8 v[4];
  memcpy(v, acc, sizeof v);
  v[0] += v[2]; /* w = 16 */
  v[1] += v[3];
  v[0] += v[1]; /* w = 8 */
  lanes4 lo = {v[0][0], v[0][1], v[0][2], v[0][3]};
  lanes4 hi = {v[0][4], v[0][5], v[0][6], v[0][7]};
  lo += hi; /* w = 4 */
  lanes2 l2 = {lo[0], lo[1]}, h2 = {lo[2], lo[3]};
  l2 += h2; /* w = 2 */
  return l2[0] + l2[1];
}
_Static_assert(SUM_LANES == 32, "fold_lanes folds 32 lanes");

/* SUM_LANES interleaved partial sums in double (element i goes to lane
 * i % SUM_LANES), which the compiler keeps in vector registers;
 * sum_leading reproduces this order exactly. In steps of ROW_STEP between
 * which an interrupt stops it (stop may be NULL). The body is inlined into
 * each clone that uses it: row_sum_* (one row) and sum_rows_* (many). */
#define FLOAT_ROW_SUM(SUF, T)                                                \
  static inline __attribute__((always_inline)) double row_sum_body_##SUF(    \
      const T *x, int64_t n, lg_stop *stop) {                                \
    double acc[SUM_LANES] = {0};                                             \
    int64_t i = 0, whole = n - n % SUM_LANES;                                \
    while (i < whole) {                                                      \
      int64_t end = whole - i > ROW_STEP ? i + ROW_STEP : whole;             \
      for (; i < end; i += SUM_LANES)                                        \
        for (int k = 0; k < SUM_LANES; k++) acc[k] += (double)x[i + k];      \
      if (i < whole && stop && lg_stop_now(stop)) return 0;                  \
    }                                                                        \
    for (; i < n; i++) acc[i % SUM_LANES] += (double)x[i];                   \
    return fold_lanes(acc);                                                  \
  }                                                                          \
  LG_VECTOR_CLONES static double row_sum_##SUF(const T *x, int64_t n,        \
                                               lg_stop *stop) {              \
    return row_sum_body_##SUF(x, n, stop);                                   \
  }                                                                          \
  /* sum (or mean when mean) of each of rows rows of n elements at x into */ \
  /* out[r]: the same values as row_sum, without a call per row */          \
  LG_VECTOR_CLONES static void sum_rows_##SUF(const T *x, int64_t rows,      \
                                              int64_t n, bool mean, T *out,  \
                                              lg_stop *stop) {               \
    for (int64_t r = 0; r < rows; r++) {                                     \
      double v = row_sum_body_##SUF(x + r * n, n, stop);                     \
      out[r] = (T)(mean ? v / (double)n : v);                                \
    }                                                                        \
  }
FLOAT_ROW_SUM(f32, float)
FLOAT_ROW_SUM(f64, double)

/* Integer sums wrap in uint64 (no UB), in the same lanes. */
LG_VECTOR_CLONES static uint64_t row_sum_i64(const int64_t *x, int64_t n,
                                             lg_stop *stop) {
  uint64_t acc[SUM_LANES] = {0};
  int64_t i = 0, whole = n - n % SUM_LANES;
  while (i < whole) {
    int64_t end = whole - i > ROW_STEP ? i + ROW_STEP : whole;
    for (; i < end; i += SUM_LANES)
      for (int k = 0; k < SUM_LANES; k++) acc[k] += (uint64_t)x[i + k];
    if (i < whole && stop && lg_stop_now(stop)) return 0;
  }
  for (; i < n; i++) acc[i % SUM_LANES] += (uint64_t)x[i];
  FOLD_LANES(acc);
  return acc[0];
}

/* Ops on any element type; ACC accumulates products (double for floats,
 * uint64_t for integers so that overflow wraps without UB). */
#define COMMON_ROWS(SUF, T, ACC, IS_NAN)                                     \
  static ACC row_prod_##SUF(const T *x, int64_t n, lg_stop *stop) {          \
    ACC acc = 1;                                                             \
    STEP_FOR(i, 0, n, stop) acc *= (ACC)x[i];                                \
    return acc;                                                              \
  }                                                                          \
  static int64_t row_all_##SUF(const T *x, int64_t n, lg_stop *stop) {       \
    STEP_FOR(i, 0, n, stop)                                                  \
      if (x[i] == 0) return 0;                                               \
    return 1;                                                                \
  }                                                                          \
  static int64_t row_any_##SUF(const T *x, int64_t n, lg_stop *stop) {       \
    STEP_FOR(i, 0, n, stop)                                                  \
      if (x[i] != 0) return 1;                                               \
    return 0;                                                                \
  }                                                                          \
  /* first index of the largest element, or of the first NaN (n > 0) */      \
  static int64_t row_argmax_##SUF(const T *x, int64_t n, lg_stop *stop) {    \
    int64_t best = 0;                                                        \
    T v = x[0];                                                              \
    if (IS_NAN(v)) return 0;                                                 \
    STEP_FOR(i, 1, n, stop) {                                                \
      if (IS_NAN(x[i])) return i;                                            \
      if (x[i] > v) v = x[best = i];                                         \
    }                                                                        \
    return best;                                                             \
  }                                                                          \
  static int64_t row_argmin_##SUF(const T *x, int64_t n, lg_stop *stop) {    \
    int64_t best = 0;                                                        \
    T v = x[0];                                                              \
    if (IS_NAN(v)) return 0;                                                 \
    STEP_FOR(i, 1, n, stop) {                                                \
      if (IS_NAN(x[i])) return i;                                            \
      if (x[i] < v) v = x[best = i];                                         \
    }                                                                        \
    return best;                                                             \
  }

/* Ops defined for floating point rows only. */
#define FLOAT_ROWS(SUF, T)                                                   \
  /* two passes: the mean, then the squared deviations from it */           \
  static double row_var_##SUF(const T *x, int64_t n, double correction,     \
                              lg_stop *stop) {                               \
    double mean = row_sum_##SUF(x, n, stop) / (double)n, m2 = 0;             \
    STEP_FOR(i, 0, n, stop) {                                                \
      double d = (double)x[i] - mean;                                        \
      m2 += d * d;                                                           \
    }                                                                        \
    double divisor = (double)n - correction;                                 \
    return m2 / (divisor > 0 ? divisor : 0);                                 \
  }                                                                          \
  /* max + log(sum(exp(x - max))): exp never overflows */                   \
  static double row_logsumexp_##SUF(const T *x, int64_t n, lg_stop *stop) { \
    if (n == 0) return -INFINITY;                                            \
    double m = (double)x[row_argmax_##SUF(x, n, stop)];                      \
    if (isnan(m) || isinf(m)) return m; /* NaN, or every term infinite */    \
    double s = 0;                                                            \
    STEP_FOR(i, 0, n, stop) s += exp((double)x[i] - m);                      \
    return m + log(s);                                                       \
  }                                                                          \
  static double row_norm_##SUF(const T *x, int64_t n, double p,             \
                               lg_stop *stop) {                              \
    double acc = 0;                                                          \
    if (n == 0) return 0;                                                    \
    if (p == 2) {                                                            \
      STEP_FOR(i, 0, n, stop) acc += (double)x[i] * (double)x[i];            \
      return sqrt(acc);                                                      \
    }                                                                        \
    if (p == 1) {                                                            \
      STEP_FOR(i, 0, n, stop) acc += fabs((double)x[i]);                     \
      return acc;                                                            \
    }                                                                        \
    if (p == 0) {                                                            \
      STEP_FOR(i, 0, n, stop) acc += x[i] != 0;                              \
      return acc;                                                            \
    }                                                                        \
    if (isinf(p)) { /* max |x| (p > 0) or min |x| (p < 0); NaN wins */       \
      acc = fabs((double)x[0]);                                              \
      STEP_FOR(i, 1, n, stop) {                                              \
        if (isnan(acc)) return acc;                                          \
        double a = fabs((double)x[i]);                                       \
        if (isnan(a) || (p > 0 ? a > acc : a < acc)) acc = a;                \
      }                                                                      \
      return acc;                                                            \
    }                                                                        \
    STEP_FOR(i, 0, n, stop) acc += pow(fabs((double)x[i]), p);               \
    return pow(acc, 1 / p);                                                  \
  }

COMMON_ROWS(f32, float, double, NAN_CHECK_FLOAT)
COMMON_ROWS(f64, double, double, NAN_CHECK_FLOAT)
COMMON_ROWS(i64, int64_t, uint64_t, NAN_CHECK_INT)
FLOAT_ROWS(f32, float)
FLOAT_ROWS(f64, double)

#define FLOAT_REDUCE_ROW(SUF, T)                                             \
  static row_value reduce_row_##SUF(lg_op op, const T *x, int64_t n,         \
                                    double param, lg_stop *stop) {           \
    row_value r = {0, 0};                                                    \
    switch (op) {                                                            \
      case LG_OP_SUM: r.f = row_sum_##SUF(x, n, stop); break;                \
      case LG_OP_MEAN: r.f = row_sum_##SUF(x, n, stop) / (double)n; break;   \
      case LG_OP_PROD: r.f = row_prod_##SUF(x, n, stop); break;              \
      case LG_OP_AMAX: r.f = (double)x[row_argmax_##SUF(x, n, stop)]; break; \
      case LG_OP_AMIN: r.f = (double)x[row_argmin_##SUF(x, n, stop)]; break; \
      case LG_OP_ALL: r.i = row_all_##SUF(x, n, stop); break;                \
      case LG_OP_ANY: r.i = row_any_##SUF(x, n, stop); break;                \
      case LG_OP_VAR: r.f = row_var_##SUF(x, n, param, stop); break;         \
      case LG_OP_STD: r.f = sqrt(row_var_##SUF(x, n, param, stop)); break;   \
      case LG_OP_LOGSUMEXP: r.f = row_logsumexp_##SUF(x, n, stop); break;    \
      case LG_OP_NORM: r.f = row_norm_##SUF(x, n, param, stop); break;       \
      default: break;                                                        \
    }                                                                        \
    return r;                                                                \
  }
FLOAT_REDUCE_ROW(f32, float)
FLOAT_REDUCE_ROW(f64, double)

/* Integer rows: only the ops whose result stays integral reach here. */
static row_value reduce_row_i64(lg_op op, const int64_t *x, int64_t n,
                                lg_stop *stop) {
  row_value r = {0, 0};
  switch (op) {
    case LG_OP_SUM: r.i = (int64_t)row_sum_i64(x, n, stop); break;
    case LG_OP_PROD: r.i = (int64_t)row_prod_i64(x, n, stop); break;
    case LG_OP_AMAX: r.i = x[row_argmax_i64(x, n, stop)]; break;
    case LG_OP_AMIN: r.i = x[row_argmin_i64(x, n, stop)]; break;
    case LG_OP_ALL: r.i = row_all_i64(x, n, stop); break;
    case LG_OP_ANY: r.i = row_any_i64(x, n, stop); break;
    default: break;
  }
  return r;
}

static row_value reduce_row(lg_op op, row_kind kind, const void *row,
                            int64_t n, double param, lg_stop *stop) {
  switch (kind) {
    case ROW_F32: return reduce_row_f32(op, row, n, param, stop);
    case ROW_F64: return reduce_row_f64(op, row, n, param, stop);
    default: return reduce_row_i64(op, row, n, stop);
  }
}

/* Index of the max (want_max) or min of a non-empty row. */
static int64_t row_argbest(row_kind kind, const void *row, int64_t n,
                           bool want_max, lg_stop *stop) {
  switch (kind) {
    case ROW_F32:
      return want_max ? row_argmax_f32(row, n, stop)
                      : row_argmin_f32(row, n, stop);
    case ROW_F64:
      return want_max ? row_argmax_f64(row, n, stop)
                      : row_argmin_f64(row, n, stop);
    default:
      return want_max ? row_argmax_i64(row, n, stop)
                      : row_argmin_i64(row, n, stop);
  }
}

/* ---- the row plan ------------------------------------------------------- */

/* Input geometry split into kept (outer) and reduced (inner) dims. */
typedef struct plan {
  int n_outer, n_inner;
  int64_t outer_sizes[LG_MAX_DIMS], outer_strides[LG_MAX_DIMS];
  int64_t inner_sizes[LG_MAX_DIMS], inner_strides[LG_MAX_DIMS];
  int64_t outer_count, inner_count;
  bool rows_contiguous; /* row o is x[o * inner_count ..], dense    */
  bool rows_leading;    /* x is dense (inner_count, outer_count)    */
} plan;

static void plan_init(plan *pl, const lg_tensor *x, const bool *reduced) {
  pl->n_outer = pl->n_inner = 0;
  pl->outer_count = pl->inner_count = 1;
  int last_kept = -1, first_kept = x->ndim, last_red = -1,
      first_red = x->ndim;
  for (int d = 0; d < x->ndim; d++) {
    if (reduced[d]) {
      pl->inner_sizes[pl->n_inner] = x->sizes[d];
      pl->inner_strides[pl->n_inner++] = x->strides[d];
      pl->inner_count *= x->sizes[d];
    } else {
      pl->outer_sizes[pl->n_outer] = x->sizes[d];
      pl->outer_strides[pl->n_outer++] = x->strides[d];
      pl->outer_count *= x->sizes[d];
    }
    if (x->sizes[d] == 1) continue; /* size-1 dims do not affect layout */
    if (reduced[d]) {
      if (first_red == x->ndim) first_red = d;
      last_red = d;
    } else {
      if (first_kept == x->ndim) first_kept = d;
      last_kept = d;
    }
  }
  bool dense = lg_tensor_is_contiguous(x);
  pl->rows_contiguous = dense && last_kept < first_red;
  pl->rows_leading = dense && last_red < first_kept;
}

/* Row-major walk over the offsets of a geometry (elements). */
typedef struct odometer {
  int n;
  const int64_t *sizes, *strides;
  int64_t counter[LG_MAX_DIMS];
  int64_t offset;
} odometer;

static void odo_init(odometer *o, int n, const int64_t *sizes,
                     const int64_t *strides) {
  o->n = n;
  o->sizes = sizes;
  o->strides = strides;
  o->offset = 0;
  for (int d = 0; d < n; d++) o->counter[d] = 0;
}

static void odo_next(odometer *o) {
  for (int d = o->n - 1; d >= 0; d--) {
    o->offset += o->strides[d];
    if (++o->counter[d] < o->sizes[d]) return;
    o->offset -= o->strides[d] * o->sizes[d];
    o->counter[d] = 0;
  }
}

/* Strided copy of n elements (byte stride) into a double / int64 row. */
typedef void (*gather_fn)(const char *src, int64_t stride, int64_t n,
                          void *dst);
#define GATHER_LINE(NAME, FROM, TO)                                          \
  static void NAME(const char *src, int64_t stride, int64_t n, void *dst) {  \
    TO *d = dst;                                                             \
    for (int64_t i = 0; i < n; i++)                                          \
      d[i] = (TO) * (const FROM *)(const void *)(src + i * stride);          \
  }
#define GATHER_BOTH(D, T)                                                    \
  GATHER_LINE(gather_##T##_f64, T, double)                                   \
  GATHER_LINE(gather_##T##_i64, T, int64_t)
GATHER_BOTH(LG_BOOL, bool)
GATHER_BOTH(LG_UINT8, uint8_t)
GATHER_BOTH(LG_INT32, int32_t)
GATHER_BOTH(LG_INT64, int64_t)
GATHER_LINE(gather_float_f64, float, double)
GATHER_LINE(gather_double_f64, double, double)

/* The line gatherer from dtype into a row of kind (ROW_F64 or ROW_I64);
 * floating point inputs are only ever gathered as double. */
static gather_fn gather_line(lg_dtype dtype, row_kind kind) {
  bool to_double = kind == ROW_F64;
  switch (dtype) {
    case LG_BOOL: return to_double ? gather_bool_f64 : gather_bool_i64;
    case LG_UINT8: return to_double ? gather_uint8_t_f64 : gather_uint8_t_i64;
    case LG_INT32: return to_double ? gather_int32_t_f64 : gather_int32_t_i64;
    case LG_INT64: return to_double ? gather_int64_t_f64 : gather_int64_t_i64;
    case LG_FLOAT32: return gather_float_f64;
    default: return gather_double_f64;
  }
}

/* Copies the row starting at element offset base (from x's first element)
 * into scratch, converted to double (ROW_F64) or int64 (ROW_I64); a long
 * row looks at stop after every ROW_STEP elements and ends early (false)
 * once the op must stop. */
static bool gather_row(const lg_tensor *x, int64_t base, const plan *pl,
                       gather_fn gather, void *scratch, lg_stop *stop) {
  int64_t item = (int64_t)lg_dtype_size(x->dtype);
  const char *start = lg_data_ptr(x) + base * item;
  if (pl->n_inner == 0) { /* a row of one element */
    gather(start, 0, 1, scratch);
    return true;
  }
  int last = pl->n_inner - 1;
  int64_t len = pl->inner_sizes[last], stride = pl->inner_strides[last] * item;
  if (len == 0) return true;
  odometer it; /* over the reduced dims but the last */
  odo_init(&it, last, pl->inner_sizes, pl->inner_strides);
  char *dst = scratch;
  for (int64_t done = 0, since = 0; done < pl->inner_count; done += len) {
    if ((since += len) >= ROW_STEP) {
      since = 0;
      if (lg_stop_now(stop)) return false;
    }
    if (len <= ROW_STEP) {
      gather(start + it.offset * item, stride, len, dst + done * 8);
    } else { /* one long line in steps */
      for (int64_t at = 0; at < len; at += ROW_STEP) {
        if (at > 0 && lg_stop_now(stop)) return false;
        int64_t k = len - at < ROW_STEP ? len - at : ROW_STEP;
        gather(start + (it.offset + at * pl->inner_strides[last]) * item,
               stride, k, dst + (done + at) * 8);
      }
    }
    odo_next(&it);
  }
  return true;
}

/* A row's work; a long row may end early once stop says so. */
typedef void (*row_fn)(void *state, int64_t o, row_kind kind,
                       const void *row, int64_t n, lg_stop *stop);

/* Rows read in place: row o starts at base + o * row_bytes. */
typedef struct direct_rows {
  row_fn fn;
  void *state;
  row_kind kind;
  const char *base;
  size_t row_bytes;
  int64_t n;
  lg_stop *stop;
} direct_rows;

static void run_direct_rows(void *arg, int64_t begin, int64_t end) {
  const direct_rows *job = arg;
  for (int64_t o = begin; o < end; o++)
    job->fn(job->state, o, job->kind, job->base + (size_t)o * job->row_bytes,
            job->n, job->stop);
}

/* Calls fn once per output element o with its row. Rows are read in place
 * on the fast path (then, for large inputs, fn runs on several threads at
 * once, on disjoint rows); otherwise gathered (as double when want_float
 * or the input is floating point, else as int64). */
static lg_status for_each_row(lg_ctx *ctx, const char *name,
                              const lg_tensor *x, const plan *pl,
                              bool want_float, row_fn fn, void *state) {
  bool direct = pl->rows_contiguous;
  lg_stop stop = {ctx, false}; /* for the rows' own steps */
  row_kind kind = ROW_F64;
  if (x->dtype == LG_FLOAT32) kind = ROW_F32;
  else if (x->dtype == LG_INT64 && !want_float) kind = ROW_I64;
  else if (x->dtype != LG_FLOAT64) direct = false;
  if (direct) { /* rows in place, split across threads when large */
    direct_rows job = {fn, state, kind, lg_data_ptr(x),
                       (size_t)pl->inner_count * lg_dtype_size(x->dtype),
                       pl->inner_count, &stop};
    int64_t grain = LG_GRAIN_CHEAP / (pl->inner_count ? pl->inner_count : 1);
    lg_status st =
        lg_parallel_for(ctx, pl->outer_count, grain, run_direct_rows, &job);
    return st ? st : lg_stop_status(&stop);
  }
  kind = want_float || lg_dtype_is_float(x->dtype) ? ROW_F64 : ROW_I64;
  size_t bytes = (size_t)pl->inner_count * sizeof(double);
  void *scratch = NULL;
  if (bytes) {
    scratch = lg_mem_alloc(ctx, bytes);
    if (!scratch)
      return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory for a row of "
                     "%lld elements", name, (long long)pl->inner_count);
  }
  gather_fn gather = gather_line(x->dtype, kind);
  odometer outer;
  odo_init(&outer, pl->n_outer, pl->outer_sizes, pl->outer_strides);
  /* gathered rows: a look at the interrupt flag every ROW_STEP elements */
  for (int64_t o = 0, since = 0; o < pl->outer_count; o++) {
    if ((since += pl->inner_count + 1) >= ROW_STEP) {
      since = 0;
      if (lg_stop_now(&stop)) break;
    }
    if (!gather_row(x, outer.offset, pl, gather, scratch, &stop)) break;
    fn(state, o, kind, scratch, pl->inner_count, &stop);
    odo_next(&outer);
  }
  lg_mem_free(ctx, scratch, bytes);
  return lg_stop_status(&stop);
}

/* ---- shared argument handling ------------------------------------------- */

/* Marks the dims in p->ints[0..n_ints) (all when n_ints == 0). */
static lg_status reduced_dims(lg_ctx *ctx, const char *name,
                              const lg_tensor *x, const lg_params *p,
                              bool *reduced) {
  if (p->n_ints < 0 || p->n_ints > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected 0..%d dims, got %d", name,
                   LG_MAX_DIMS, p->n_ints);
  for (int d = 0; d < LG_MAX_DIMS; d++) reduced[d] = p->n_ints == 0;
  if (p->n_ints > 0)
    for (int d = 0; d < LG_MAX_DIMS; d++) reduced[d] = false;
  for (int k = 0; k < p->n_ints; k++) {
    int64_t d;
    lg_status st = lg_wrap_dim(ctx, name, p->ints[k], x->ndim, &d);
    if (st) return st;
    if (reduced[d] && x->ndim > 0)
      return lg_fail(ctx, LG_ERR_ARG, "%s: dim %lld appears twice in the "
                     "dims", name, (long long)d + 1);
    reduced[d] = true;
  }
  return LG_OK;
}

/* Fails when a reduced dim has no elements (max of nothing). */
static lg_status check_nonempty(lg_ctx *ctx, const char *name,
                                const lg_tensor *x, const bool *reduced) {
  for (int d = 0; d < x->ndim; d++)
    if (reduced[d] && x->sizes[d] == 0)
      return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected reduction dim %d to "
                     "have a non-zero size, got a tensor of shape %s", name,
                     d + 1, lg_shape_str((char[160]){0}, 160, x->ndim,
                                         x->sizes));
  return LG_OK;
}

/* Output shape: reduced dims dropped, or kept as size 1. */
static void reduced_shape(const lg_tensor *x, const bool *reduced,
                          bool keepdim, int *ndim, int64_t *sizes) {
  int n = 0;
  for (int d = 0; d < x->ndim; d++) {
    if (!reduced[d]) sizes[n++] = x->sizes[d];
    else if (keepdim) sizes[n++] = 1;
  }
  *ndim = n;
}

/* ---- sum, mean, prod, amax, amin, logsumexp, all, any, var, std, norm --- */

static bool is_float_math(lg_op op) {
  return op == LG_OP_MEAN || op == LG_OP_VAR || op == LG_OP_STD ||
         op == LG_OP_LOGSUMEXP || op == LG_OP_NORM;
}

/* PyTorch's result dtype of a reduction, or a failure. */
static lg_status reduce_out_dtype(lg_ctx *ctx, lg_op op, lg_dtype in,
                                  lg_dtype *out) {
  bool is_float = lg_dtype_is_float(in);
  switch (op) {
    case LG_OP_SUM:
    case LG_OP_PROD: *out = is_float ? in : LG_INT64; return LG_OK;
    case LG_OP_AMAX:
    case LG_OP_AMIN: *out = in; return LG_OK;
    case LG_OP_ALL:
    case LG_OP_ANY: *out = LG_BOOL; return LG_OK;
    case LG_OP_LOGSUMEXP: *out = is_float ? in : LG_FLOAT32; return LG_OK;
    case LG_OP_MEAN:
    case LG_OP_VAR:
    case LG_OP_STD:
    case LG_OP_NORM:
      if (is_float) {
        *out = in;
        return LG_OK;
      }
      return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected a floating point "
                     "tensor, got %s (convert it first, e.g. with :float())",
                     lg_op_name(op), lg_dtype_name(in));
    default:
      return lg_fail(ctx, LG_ERR_ARG, "reduce: %s is not a reduction",
                     lg_op_name(op));
  }
}

typedef struct reduce_state {
  lg_op op;
  double param;
  char *out;
  lg_dtype out_dtype;
  size_t out_item;
  bool int_result; /* store row_value.i rather than .f */
} reduce_state;

static void reduce_store(void *state, int64_t o, row_kind kind,
                         const void *row, int64_t n, lg_stop *stop) {
  reduce_state *s = state;
  row_value r = reduce_row(s->op, kind, row, n, s->param, stop);
  char *dst = s->out + (size_t)o * s->out_item;
  if (s->int_result || kind == ROW_I64) lg_store_int(dst, s->out_dtype, r.i);
  else lg_store_double(dst, s->out_dtype, r.f);
}

/* Sum / mean over the leading dims of a dense float tensor seen as
 * (R, K): whole rows are added into SUM_LANES sets of accumulators (row r
 * into set r % SUM_LANES) and folded like row_sum, so this path and the
 * per-row paths agree exactly. Columns go in blocks of LEADING_BLOCK, so
 * the accumulators (SUM_LANES x 256 doubles at most) stay in L1/L2. */
#define LEADING_BLOCK 256
LG_VECTOR_CLONES static lg_status sum_leading(lg_ctx *ctx, lg_op op,
                                              const lg_tensor *x,
                                              const plan *pl, lg_tensor *out) {
  int64_t rows = pl->inner_count, k_count = pl->outer_count;
  /* blocks of 256 columns keep acc at 64 KiB, below malloc's mmap
   * threshold: a bigger block cost an mmap and page faults per call */
  int64_t width = k_count < LEADING_BLOCK ? k_count : LEADING_BLOCK;
  size_t bytes = SUM_LANES * (size_t)width * sizeof(double);
  /* small sums (a bias gradient) use the stack: no allocator call, which
   * func.compile's replays rely on */
  double small[SUM_LANES * 64];
  bool on_stack = bytes <= sizeof small;
  double *acc = on_stack ? small : lg_mem_alloc(ctx, bytes);
  if (!acc) return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory",
                           lg_op_name(op));
  char *dst = lg_data_ptr(out);
  size_t item = lg_dtype_size(out->dtype);
  for (int64_t j0 = 0; j0 < k_count; j0 += width) {
    lg_status st = j0 > 0 ? lg_check_interrupt(ctx) : LG_OK;
    if (st) { /* between column blocks */
      if (!on_stack) lg_mem_free(ctx, acc, bytes);
      return st;
    }
    int64_t w = k_count - j0 < width ? k_count - j0 : width;
    for (int64_t j = 0; j < SUM_LANES * width; j++) acc[j] = 0;
    for (int64_t r = 0; r < rows; r++) {
      double *a = acc + (r % SUM_LANES) * width;
      if (x->dtype == LG_FLOAT32) {
        const float *v = (const float *)lg_tensor_data(x) + r * k_count + j0;
        for (int64_t j = 0; j < w; j++) a[j] += (double)v[j];
      } else {
        const double *v = (const double *)lg_tensor_data(x) + r * k_count + j0;
        for (int64_t j = 0; j < w; j++) a[j] += v[j];
      }
    }
    /* FOLD_LANES on every column at once: the same additions in the same
     * order, along contiguous rows of acc (a strided gather per column
     * thrashed L1 and dominated small sums) */
    for (int h = SUM_LANES / 2; h > 0; h /= 2)
      for (int k = 0; k < h; k++) {
        double *a = acc + k * width;
        const double *b = acc + (k + h) * width;
        for (int64_t j = 0; j < w; j++) a[j] += b[j];
      }
    for (int64_t j = 0; j < w; j++) {
      double v = acc[j];
      if (op == LG_OP_MEAN) v /= (double)rows;
      lg_store_double(dst + (size_t)(j0 + j) * item, out->dtype, v);
    }
  }
  if (!on_stack) lg_mem_free(ctx, acc, bytes);
  return LG_OK;
}

/* Sum / mean of dense rows (x contiguous, every reduced dim after every
 * kept one) into a contiguous output of x's dtype: sum_rows_* over blocks
 * of rows, split across threads when large. Each row's value is
 * row_sum's, so results match the general path and any thread count. */
typedef struct rows_job {
  const char *x;
  char *out;
  int64_t n;
  size_t item;
  bool mean, f32;
  lg_stop *stop;
} rows_job;

static void run_sum_rows(void *arg, int64_t begin, int64_t end) {
  const rows_job *job = arg;
  const char *x = job->x + (size_t)begin * (size_t)job->n * job->item;
  char *out = job->out + (size_t)begin * job->item;
  if (job->f32) {
    /* rows short enough to need no interrupt look inside them */
    if (job->n <= ROW_STEP &&
        lg_sum_rows_f32_avx512((const float *)(const void *)x, end - begin,
                               job->n, job->mean, (float *)(void *)out))
      return;
    sum_rows_f32((const float *)(const void *)x, end - begin, job->n,
                 job->mean, (float *)(void *)out, job->stop);
  } else
    sum_rows_f64((const double *)(const void *)x, end - begin, job->n,
                 job->mean, (double *)(void *)out, job->stop);
}

static lg_status sum_rows(lg_ctx *ctx, lg_op op, const lg_tensor *x,
                          const plan *pl, lg_tensor *out) {
  lg_stop stop = {ctx, false};
  rows_job job = {lg_data_ptr(x), lg_data_ptr(out), pl->inner_count,
                  lg_dtype_size(x->dtype), op == LG_OP_MEAN,
                  x->dtype == LG_FLOAT32, &stop};
  int64_t grain = LG_GRAIN_CHEAP / pl->inner_count;
  lg_status st =
      lg_parallel_for(ctx, pl->outer_count, grain, run_sum_rows, &job);
  return st ? st : lg_stop_status(&stop);
}

/* x (any shape) -> out (x's shape without the reduced dims, or with them
 * as size 1 under KEEPDIM); see the file header for params. */
lg_status lg_kernel_reduce(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", name);
  lg_dtype out_dtype = x->dtype;
  lg_status st = reduce_out_dtype(ctx, op, x->dtype, &out_dtype);
  if (st) return st;
  bool reduced[LG_MAX_DIMS];
  if ((st = reduced_dims(ctx, name, x, p, reduced))) return st;
  if ((op == LG_OP_AMAX || op == LG_OP_AMIN) &&
      (st = check_nonempty(ctx, name, x, reduced)))
    return st;
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
  reduced_shape(x, reduced, (p->flags & LG_FLAG_KEEPDIM) != 0, &ndim, sizes);
  /* a given contiguous output of the result dtype is written directly
   * (out=, func.compile's replay) */
  if (*out && (*out)->dtype == out_dtype && lg_tensor_is_contiguous(*out))
    st = lg_prepare_out(ctx, name, out, out_dtype, ndim, sizes);
  else
    st = lg_empty(ctx, out_dtype, ndim, sizes, out);
  if (st) return st;
  plan pl;
  plan_init(&pl, x, reduced);
  if (pl.outer_count == 0) return LG_OK;
  if ((op == LG_OP_SUM || op == LG_OP_MEAN) && lg_dtype_is_float(x->dtype) &&
      pl.rows_leading && !pl.rows_contiguous) {
    st = sum_leading(ctx, op, x, &pl, *out);
  } else if ((op == LG_OP_SUM || op == LG_OP_MEAN) &&
             lg_dtype_is_float(x->dtype) && pl.rows_contiguous &&
             pl.inner_count > 0) {
    st = sum_rows(ctx, op, x, &pl, *out);
  } else {
    reduce_state s = {op, p->scalar[0], lg_data_ptr(*out), out_dtype,
                      lg_dtype_size(out_dtype),
                      op == LG_OP_ALL || op == LG_OP_ANY};
    st = for_each_row(ctx, name, x, &pl, is_float_math(op), reduce_store, &s);
  }
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* ---- max/min over a dim, argmax/argmin ---------------------------------- */

typedef struct best_state {
  bool want_max;
  char *values;        /* NULL for argmax/argmin */
  lg_dtype value_dtype;
  size_t value_item;
  int64_t *indices;
} best_state;

static void best_store(void *state, int64_t o, row_kind kind, const void *row,
                       int64_t n, lg_stop *stop) {
  best_state *s = state;
  int64_t i = row_argbest(kind, row, n, s->want_max, stop);
  s->indices[o] = i + 1; /* 1-based */
  if (!s->values) return;
  char *dst = s->values + (size_t)o * s->value_item;
  switch (kind) {
    case ROW_F32: lg_store_double(dst, s->value_dtype, ((const float *)row)[i]);
      break;
    case ROW_F64: lg_store_double(dst, s->value_dtype, ((const double *)row)[i]);
      break;
    default: lg_store_int(dst, s->value_dtype, ((const int64_t *)row)[i]);
  }
}

/* Runs the argbest rows of x over reduced into indices (and values). */
static lg_status run_best(lg_ctx *ctx, const char *name, const lg_tensor *x,
                          const bool *reduced, best_state *s) {
  plan pl;
  plan_init(&pl, x, reduced);
  if (pl.outer_count == 0) return LG_OK;
  return for_each_row(ctx, name, x, &pl, false, best_store, s);
}

/* x (..., N, ...) over p->dim -> values (..., ...), indices (..., ...)
 * (int64, 1-based); KEEPDIM keeps the dim as size 1. */
lg_status lg_kernel_minmax_dim(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                               int n_in, const lg_params *p,
                               lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  if (op != LG_OP_MAX_DIM && op != LG_OP_MIN_DIM)
    return lg_fail(ctx, LG_ERR_ARG, "minmax_dim: %s is not max/min", name);
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", name);
  int64_t dim;
  lg_status st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim);
  if (st) return st;
  bool reduced[LG_MAX_DIMS] = {false};
  reduced[dim] = true;
  if ((st = check_nonempty(ctx, name, x, reduced))) return st;
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
  reduced_shape(x, reduced, (p->flags & LG_FLAG_KEEPDIM) != 0, &ndim, sizes);
  if ((st = lg_empty(ctx, x->dtype, ndim, sizes, &out[0]))) return st;
  if ((st = lg_empty(ctx, LG_INT64, ndim, sizes, &out[1]))) goto fail;
  best_state s = {op == LG_OP_MAX_DIM, lg_data_ptr(out[0]), x->dtype,
                  lg_dtype_size(x->dtype), lg_tensor_data(out[1])};
  if ((st = run_best(ctx, name, x, reduced, &s))) goto fail;
  return LG_OK;
fail:
  lg_tensor_release(out[0]);
  lg_tensor_release(out[1]);
  out[0] = out[1] = NULL;
  return st;
}

/* x (any) over p->dim, or flattened when p->n_ints == -1 -> int64 1-based
 * indices of the max (ARGMAX) or min (ARGMIN). */
lg_status lg_kernel_argminmax(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                              int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  if (op != LG_OP_ARGMAX && op != LG_OP_ARGMIN)
    return lg_fail(ctx, LG_ERR_ARG, "argminmax: %s is not argmax/argmin",
                   name);
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", name);
  bool reduced[LG_MAX_DIMS];
  bool flat = p->n_ints == -1;
  lg_status st;
  for (int d = 0; d < LG_MAX_DIMS; d++) reduced[d] = flat;
  if (flat) {
    if (lg_tensor_numel(x) == 0)
      return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected a non-empty tensor "
                     "when no dim is given, got shape %s", name,
                     lg_shape_str((char[160]){0}, 160, x->ndim, x->sizes));
  } else {
    int64_t dim;
    if ((st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim))) return st;
    reduced[dim] = true;
    if ((st = check_nonempty(ctx, name, x, reduced))) return st;
  }
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
  reduced_shape(x, reduced, (p->flags & LG_FLAG_KEEPDIM) != 0, &ndim, sizes);
  if ((st = lg_empty(ctx, LG_INT64, ndim, sizes, out))) return st;
  best_state s = {op == LG_OP_ARGMAX, NULL, x->dtype, 0,
                  lg_tensor_data(*out)};
  if ((st = run_best(ctx, name, x, reduced, &s))) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* ---- cumsum, cumprod ---------------------------------------------------- */

/* The line kernels go on from the running value in *acc (a long line
 * runs in several calls, between which an interrupt can stop it). */
#define CUM_LINE(SUF, T)                                                     \
  static void cum_line_##SUF(const T *x, T *o, int64_t n, bool product,      \
                             double *accp) {                                 \
    double acc = *accp;                                                      \
    if (product)                                                             \
      for (int64_t i = 0; i < n; i++) o[i] = (T)(acc *= (double)x[i]);       \
    else                                                                     \
      for (int64_t i = 0; i < n; i++) o[i] = (T)(acc += (double)x[i]);       \
    *accp = acc;                                                             \
  }
CUM_LINE(f32, float)
CUM_LINE(f64, double)

/* One line of n elements with element strides sx, so (any dtypes). */
static void cum_line_strided(const char *x, lg_dtype xt, int64_t sx, char *o,
                             lg_dtype ot, int64_t so, int64_t n,
                             bool product, double *facc, uint64_t *iacc) {
  size_t xi = lg_dtype_size(xt), oi = lg_dtype_size(ot);
  if (lg_dtype_is_float(xt)) {
    double acc = *facc;
    for (int64_t i = 0; i < n; i++) {
      double v = lg_load_double(x + i * sx * (int64_t)xi, xt);
      acc = product ? acc * v : acc + v;
      lg_store_double(o + i * so * (int64_t)oi, ot, acc);
    }
    *facc = acc;
  } else {
    uint64_t acc = *iacc; /* wraps like PyTorch's int64 */
    for (int64_t i = 0; i < n; i++) {
      uint64_t v = (uint64_t)lg_load_int(x + i * sx * (int64_t)xi, xt);
      acc = product ? acc * v : acc + v;
      lg_store_int(o + i * so * (int64_t)oi, ot, (int64_t)acc);
    }
    *iacc = acc;
  }
}

/* Dense float x and out, dim not the last: each (N, inner) block is
 * scanned row by row into inner double accumulators, the same arithmetic
 * as the per-line loops but reading memory in order. */
#define CUM_BLOCKED(SUF, T)                                                  \
  static void cum_blocked_##SUF(const T *x, T *o, int64_t outer, int64_t n,  \
                                int64_t inner, double *acc, bool product,    \
                                lg_stop *stop) {                             \
    int64_t since = 0;                                                       \
    for (int64_t b = 0; b < outer; b++) {                                    \
      for (int64_t j = 0; j < inner; j++) acc[j] = product ? 1 : 0;          \
      for (int64_t l = 0; l < n; l++, x += inner, o += inner) {              \
        if ((since += inner) >= LG_ITER_STEP) {                              \
          since = 0;                                                         \
          if (lg_stop_now(stop)) return;                                     \
        }                                                                    \
        if (product)                                                         \
          for (int64_t j = 0; j < inner; j++) o[j] = (T)(acc[j] *= x[j]);    \
        else                                                                 \
          for (int64_t j = 0; j < inner; j++) o[j] = (T)(acc[j] += x[j]);    \
      }                                                                      \
    }                                                                        \
  }
CUM_BLOCKED(f32, float)
CUM_BLOCKED(f64, double)

/* x (..., N, ...) -> out (same shape): running sum (CUMSUM) or product
 * (CUMPROD) along p->dim; integer inputs give int64 unless in place. */
lg_status lg_kernel_cumsum(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  if (op != LG_OP_CUMSUM && op != LG_OP_CUMPROD)
    return lg_fail(ctx, LG_ERR_ARG, "cumsum: %s is not cumsum/cumprod", name);
  bool product = op == LG_OP_CUMPROD;
  int64_t dim;
  lg_status st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim);
  if (st) return st;
  lg_dtype result = lg_dtype_is_float(x->dtype) ? x->dtype : LG_INT64;
  if (p->flags & LG_FLAG_INPLACE) {
    if (!lg_can_cast(result, x->dtype))
      return lg_fail(ctx, LG_ERR_DTYPE, "%s: result type %s can't be cast to "
                     "the output type %s", name, lg_dtype_name(result),
                     lg_dtype_name(x->dtype));
    st = lg_prepare_out(ctx, name, out, x->dtype, x->ndim, x->sizes);
  } else {
    st = lg_empty(ctx, result, x->ndim, x->sizes, out);
  }
  if (st) return st;
  lg_tensor *o = *out;
  if (lg_tensor_numel(x) == 0) return LG_OK;
  lg_stop stop = {ctx, false}; /* looked at every ROW_STEP elements */
  int64_t inner = 1, outer_blocks = 1;
  for (int d = 0; d < x->ndim; d++) {
    if (d > dim) inner *= x->sizes[d];
    if (d < dim) outer_blocks *= x->sizes[d];
  }
  if (inner > 1 && o->dtype == x->dtype && lg_dtype_is_float(x->dtype) &&
      lg_tensor_is_contiguous(x) && lg_tensor_is_contiguous(o)) {
    size_t bytes = (size_t)inner * sizeof(double);
    double *acc = lg_mem_alloc(ctx, bytes);
    if (!acc) {
      lg_tensor_release(*out);
      *out = NULL;
      return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory", name);
    }
    if (x->dtype == LG_FLOAT32)
      cum_blocked_f32(lg_tensor_data(x), lg_tensor_data(o), outer_blocks,
                      x->sizes[dim], inner, acc, product, &stop);
    else
      cum_blocked_f64(lg_tensor_data(x), lg_tensor_data(o), outer_blocks,
                      x->sizes[dim], inner, acc, product, &stop);
    lg_mem_free(ctx, acc, bytes);
    goto finish;
  }
  /* the lines: every dim but dim, walked for x and out together */
  int n_outer = 0;
  int64_t outer_sizes[LG_MAX_DIMS], x_strides[LG_MAX_DIMS],
      o_strides[LG_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) {
    if (d == dim) continue;
    outer_sizes[n_outer] = x->sizes[d];
    x_strides[n_outer] = x->strides[d];
    o_strides[n_outer++] = o->strides[d];
  }
  int64_t n = x->ndim ? x->sizes[dim] : 1;
  int64_t sx = x->ndim ? x->strides[dim] : 1, so = o->ndim ? o->strides[dim] : 1;
  int64_t lines = lg_tensor_numel(x) / n;
  bool fast = (sx == 1 || n == 1) && (so == 1 || n == 1) &&
              o->dtype == x->dtype && lg_dtype_is_float(x->dtype);
  odometer xo, oo;
  odo_init(&xo, n_outer, outer_sizes, x_strides);
  odo_init(&oo, n_outer, outer_sizes, o_strides);
  size_t xi = lg_dtype_size(x->dtype), oi = lg_dtype_size(o->dtype);
  const char *xd = lg_data_ptr(x);
  char *od = lg_data_ptr(o);
  for (int64_t l = 0, since = 0; l < lines; l++) {
    double facc = product ? 1 : 0;
    uint64_t iacc = product ? 1 : 0;
    for (int64_t at = 0; at < n; at += LG_ITER_STEP) { /* long lines in steps */
      int64_t k = n - at < LG_ITER_STEP ? n - at : LG_ITER_STEP;
      if ((since += k) >= LG_ITER_STEP) {
        since = 0;
        if (lg_stop_now(&stop)) goto finish;
      }
      const char *xl = xd + (xo.offset + at * sx) * (int64_t)xi;
      char *ol = od + (oo.offset + at * so) * (int64_t)oi;
      if (fast && x->dtype == LG_FLOAT32)
        cum_line_f32((const float *)(const void *)xl, (float *)(void *)ol, k,
                     product, &facc);
      else if (fast)
        cum_line_f64((const double *)(const void *)xl, (double *)(void *)ol,
                     k, product, &facc);
      else
        cum_line_strided(xl, x->dtype, sx, ol, o->dtype, so, k, product,
                         &facc, &iacc);
    }
    odo_next(&xo);
    odo_next(&oo);
  }
finish:
  if ((st = lg_stop_status(&stop))) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}
