/* copy.c: dtype conversion, clone, fill and copy_ (the kernels that move
 * elements without arithmetic; a large dense one is split across the
 * context's threads), and lg_contiguous_as used by other kernels to get a
 * dense input of a wanted dtype. */
#include "core.h"
#include "dtype.h"
#include "iter.h"
#include "parallel.h"

/* Element conversion with defined results for every input: floats going to
 * integers saturate through int64 (NaN -> 0), then wrap like PyTorch. */
#define to_int64(v)                                                          \
  _Generic((v), float: lg_double_to_int64((double)(v)),                      \
           double: lg_double_to_int64((double)(v)), default: (int64_t)(v))
#define CONVERT_b(v) ((v) != 0)
#define CONVERT_u8(v) ((uint8_t)to_int64(v))
#define CONVERT_i32(v) ((int32_t)to_int64(v))
#define CONVERT_i64(v) (to_int64(v))
#define CONVERT_f32(v) ((float)(v))
#define CONVERT_f64(v) ((double)(v))

/* A dense run converts element by element, a run from one value (fill_, a
 * broadcast source) stores that value (the stride-generic loop stored one
 * element per cycle: zero_ on 26 MB took 2.7 ms against 0.6 ms for zeros). */
#define CAST_LOOP(TO_SUFFIX, TO, FROM_SUFFIX, FROM)                          \
  static void cast_##FROM_SUFFIX##_to_##TO_SUFFIX(                           \
      char **d, const int64_t *s, int64_t n, void *state) {                  \
    (void)state;                                                             \
    if (s[0] == sizeof(TO) && s[1] == sizeof(FROM)) {                        \
      TO *o = (TO *)(void *)d[0];                                            \
      const FROM *a = (const FROM *)(void *)d[1];                            \
      for (int64_t i = 0; i < n; i++) o[i] = CONVERT_##TO_SUFFIX(a[i]);      \
    } else if (s[0] == sizeof(TO) && s[1] == 0) { /* fill_, a broadcast */   \
      TO *o = (TO *)(void *)d[0];                                            \
      const TO v = CONVERT_##TO_SUFFIX(*(const FROM *)(void *)d[1]);         \
      for (int64_t i = 0; i < n; i++) o[i] = v;                              \
    } else {                                                                 \
      for (int64_t i = 0; i < n; i++) {                                      \
        FROM v = *(const FROM *)(void *)(d[1] + i * s[1]);                   \
        *(TO *)(void *)(d[0] + i * s[0]) = CONVERT_##TO_SUFFIX(v);           \
      }                                                                      \
    }                                                                        \
  }
#define CAST_FROM_ALL(TS, TO)                                                \
  CAST_LOOP(TS, TO, b, bool) CAST_LOOP(TS, TO, u8, uint8_t)                  \
  CAST_LOOP(TS, TO, i32, int32_t) CAST_LOOP(TS, TO, i64, int64_t)            \
  CAST_LOOP(TS, TO, f32, float) CAST_LOOP(TS, TO, f64, double)
LG_FOR_EACH_SUFFIX(CAST_FROM_ALL)

#define CAST_ROW(TS, TO)                                                     \
  {cast_b_to_##TS, cast_u8_to_##TS, cast_i32_to_##TS, cast_i64_to_##TS,     \
   cast_f32_to_##TS, cast_f64_to_##TS},
/* cast_loops[to][from], in lg_dtype order */
static const lg_loop_fn cast_loops[LG_NUM_DTYPES][LG_NUM_DTYPES] = {
    LG_FOR_EACH_SUFFIX(CAST_ROW)};

/* Writes src (broadcast to dst's shape, converted) into dst; a large copy
 * stops between steps for an interrupt (dst then partly written). */
static lg_status copy_into(lg_ctx *ctx, lg_tensor *dst, const lg_tensor *src) {
  lg_iter it;
  lg_iter_init(&it, dst->ndim, dst->sizes);
  lg_iter_add_tensor(&it, dst);
  lg_iter_add_tensor(&it, src);
  return lg_iter_run_split(ctx, &it, cast_loops[dst->dtype][src->dtype], NULL,
                           LG_GRAIN_CHEAP);
}

/* *out = the result of copy_into(ctx, *out, src), released on failure. */
static lg_status copy_or_release(lg_ctx *ctx, lg_tensor **out,
                                 const lg_tensor *src) {
  lg_status st = copy_into(ctx, *out, src);
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

lg_status lg_contiguous_as(lg_ctx *ctx, lg_tensor *t, lg_dtype dtype,
                           lg_tensor **out) {
  if (t->dtype == dtype && lg_tensor_is_contiguous(t)) {
    *out = lg_tensor_retain(t);
    return LG_OK;
  }
  lg_status st = lg_empty(ctx, dtype, t->ndim, t->sizes, out);
  if (st) return st;
  return copy_or_release(ctx, out, t);
}

/* x (any) -> out (same shape, params->dtype) */
lg_status lg_kernel_to_dtype(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                             int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  (void)op;
  lg_tensor *x = in[0];
  if ((unsigned)p->dtype >= LG_NUM_DTYPES)
    return lg_fail(ctx, LG_ERR_DTYPE, "to: unknown dtype %d", (int)p->dtype);
  /* a given output of exactly that dtype (out=, func.compile's replay) */
  lg_status st = *out && (*out)->dtype == p->dtype
                     ? lg_prepare_out(ctx, "to", out, p->dtype, x->ndim, x->sizes)
                     : lg_empty(ctx, p->dtype, x->ndim, x->sizes, out);
  if (st) return st;
  return copy_or_release(ctx, out, x);
}

/* x -> a contiguous copy of x */
lg_status lg_kernel_clone(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                          int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  (void)op;
  (void)p;
  lg_status st = lg_prepare_out(ctx, "clone", out, in[0]->dtype, in[0]->ndim,
                                in[0]->sizes);
  if (st) return st;
  return copy_or_release(ctx, out, in[0]);
}

/* fill_: every element of in[0] (in place) becomes params->scalar */
lg_status lg_kernel_fill(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                         int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  (void)op;
  lg_tensor *x = in[0];
  if (!(p->flags & LG_FLAG_INPLACE))
    return lg_fail(ctx, LG_ERR_ARG, "fill_: only runs in place");
  unsigned char value[8];
  if (p->flags & LG_FLAG_SCALAR_INT)
    lg_store_int(value, x->dtype, p->scalar_int);
  else
    lg_store_double(value, x->dtype, p->scalar[0]);
  lg_iter it;
  lg_iter_init(&it, x->ndim, x->sizes);
  lg_iter_add_tensor(&it, x);
  lg_iter_add_scalar(&it, value);
  lg_status st = lg_iter_run_split(ctx, &it, cast_loops[x->dtype][x->dtype],
                                   NULL, LG_GRAIN_CHEAP);
  if (st) return st;
  *out = lg_tensor_retain(x);
  return LG_OK;
}

/* copy_: dst (in[0], in place) <- src (in[1], broadcast, converted) */
lg_status lg_kernel_copy(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                         int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  (void)op;
  lg_tensor *dst = in[0], *src = in[1];
  if (!(p->flags & LG_FLAG_INPLACE))
    return lg_fail(ctx, LG_ERR_ARG, "copy_: only runs in place");
  int nd;
  int64_t sizes[LG_MAX_DIMS];
  lg_status st = lg_broadcast_sizes(ctx, "copy_", dst->ndim, dst->sizes,
                                    src->ndim, src->sizes, &nd, sizes);
  if (st) return st;
  if (nd != dst->ndim || lg_shape_numel(nd, sizes) != lg_tensor_numel(dst)) {
    char a[160], b[160];
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "copy_: source of shape %s does not broadcast to the "
                   "destination shape %s",
                   lg_shape_str(a, sizeof a, src->ndim, src->sizes),
                   lg_shape_str(b, sizeof b, dst->ndim, dst->sizes));
  }
  lg_tensor *source = NULL;
  if (src->storage == dst->storage) { /* overlapping: copy through a clone */
    st = lg_contiguous_as(ctx, src, src->dtype, &source);
    if (st) return st;
    if (source == src) {
      lg_tensor_release(source);
      source = NULL;
      st = lg_empty(ctx, src->dtype, src->ndim, src->sizes, &source);
      if (st) return st;
      if ((st = copy_or_release(ctx, &source, src))) return st;
    }
    src = source;
  }
  st = copy_into(ctx, dst, src);
  lg_tensor_release(source);
  if (st) return st;
  *out = lg_tensor_retain(dst);
  return LG_OK;
}
