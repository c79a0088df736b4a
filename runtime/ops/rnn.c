/* rnn.c: the fused gate kernels of one LSTM or GRU step (the ops
 * lstm_cell and gru_cell behind nn.LSTM and nn.GRU), forward and backward,
 * in PyTorch's gate order (LSTM i, f, g, o; GRU r, z, n).
 *
 * lstm_cell(xg, hg, c) -> h', c'  with xg, hg (N, 4H) the input's and the
 *   hidden state's projections (biases included), c (N, H):
 *   i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the chunks of xg + hg;
 *   c' = f c + i g; h' = o tanh(c').
 * gru_cell(xg, hg, h) -> h'  with xg, hg (N, 3H), h (N, H):
 *   r, z = sigmoid of the first two chunks of xg + hg;
 *   n = tanh(xg_n + r hg_n); h' = n + z (h - n).
 *
 * One pass over each row does all the gate arithmetic, instead of a dozen
 * elementwise ops and their temporaries. The backward kernels
 * (lg_rnn_cell_backward) recompute the gates from the saved inputs, which
 * costs less than storing them; rnn_backward.c uses them when no graph of
 * the gradient is wanted.
 */
#include <math.h>
#include <string.h>

#include "rnn.h"
#include "dtype.h"
#include "vmath.h"

/* float32 gates through vmath.h (vectorisable), float64 through libm;
 * the double sigmoid as 1/2 + tanh(x/2)/2 never overflows. */
static inline double sigmoid_f64(double x) { return 0.5 + 0.5 * tanh(0.5 * x); }
#define SIG(x) _Generic((x), float: lg_vsigmoidf, default: sigmoid_f64)(x)
#define TANH(x) _Generic((x), float: lg_vtanhf, default: tanh)(x)

/* ---- the row loops, one per dtype ------------------------------------------ */

#define LSTM_FORWARD(T, SUFFIX)                                              \
  LG_VECTOR_CLONES static void lstm_rows_##SUFFIX(                           \
      int64_t n, int64_t H, const T *restrict xg, const T *restrict hg, const T *restrict c, T *restrict h_out,  \
      T *restrict c_out) {                                                            \
    for (int64_t r = 0; r < n; r++) {                                        \
      const T *x = xg + r * 4 * H, *y = hg + r * 4 * H;                      \
      const T *cp = c + r * H;                                               \
      T *ho = h_out + r * H, *co = c_out + r * H;                            \
      for (int64_t j = 0; j < H; j++) {                                      \
        T i = SIG(x[j] + y[j]);                                              \
        T f = SIG(x[H + j] + y[H + j]);                                      \
        T g = TANH(x[2 * H + j] + y[2 * H + j]);                             \
        T o = SIG(x[3 * H + j] + y[3 * H + j]);                              \
        T cn = f * cp[j] + i * g;                                            \
        co[j] = cn;                                                          \
        ho[j] = o * TANH(cn);                                                \
      }                                                                      \
    }                                                                        \
  }

/* dgates (N, 4H) and dc (N, H) from dh', dc' */
#define LSTM_BACKWARD(T, SUFFIX)                                             \
  LG_VECTOR_CLONES static void lstm_back_rows_##SUFFIX(                      \
      int64_t n, int64_t H, const T *restrict xg, const T *restrict hg, const T *restrict c,            \
      const T *restrict dh, const T *restrict dcn, T *restrict dgates, T *restrict dc) {                         \
    for (int64_t r = 0; r < n; r++) {                                        \
      const T *x = xg + r * 4 * H, *y = hg + r * 4 * H;                      \
      const T *cp = c + r * H, *gh = dh + r * H, *gc = dcn + r * H;          \
      T *dg = dgates + r * 4 * H, *dcp = dc + r * H;                         \
      for (int64_t j = 0; j < H; j++) {                                      \
        T i = SIG(x[j] + y[j]);                                              \
        T f = SIG(x[H + j] + y[H + j]);                                      \
        T g = TANH(x[2 * H + j] + y[2 * H + j]);                             \
        T o = SIG(x[3 * H + j] + y[3 * H + j]);                              \
        T tc = TANH(f * cp[j] + i * g);                                      \
        T dct = gc[j] + gh[j] * o * ((T)1 - tc * tc);                        \
        dg[j] = dct * g * i * ((T)1 - i);                                    \
        dg[H + j] = dct * cp[j] * f * ((T)1 - f);                            \
        dg[2 * H + j] = dct * i * ((T)1 - g * g);                            \
        dg[3 * H + j] = gh[j] * tc * o * ((T)1 - o);                         \
        dcp[j] = dct * f;                                                    \
      }                                                                      \
    }                                                                        \
  }

#define GRU_FORWARD(T, SUFFIX)                                               \
  LG_VECTOR_CLONES static void gru_rows_##SUFFIX(                            \
      int64_t n, int64_t H, const T *restrict xg, const T *restrict hg, const T *restrict h,            \
      T *restrict h_out) {                                                            \
    for (int64_t r = 0; r < n; r++) {                                        \
      const T *x = xg + r * 3 * H, *y = hg + r * 3 * H, *hp = h + r * H;     \
      T *ho = h_out + r * H;                                                 \
      for (int64_t j = 0; j < H; j++) {                                      \
        T rg = SIG(x[j] + y[j]);                                             \
        T z = SIG(x[H + j] + y[H + j]);                                      \
        T nn = TANH(x[2 * H + j] + rg * y[2 * H + j]);                       \
        ho[j] = nn + z * (hp[j] - nn);                                       \
      }                                                                      \
    }                                                                        \
  }

/* dxg, dhg (N, 3H) and dh (N, H) from dh' */
#define GRU_BACKWARD(T, SUFFIX)                                              \
  LG_VECTOR_CLONES static void gru_back_rows_##SUFFIX(                       \
      int64_t n, int64_t H, const T *restrict xg, const T *restrict hg, const T *restrict h,            \
      const T *restrict dhn, T *restrict dxg, T *restrict dhg, T *restrict dh) {                                 \
    for (int64_t r = 0; r < n; r++) {                                        \
      const T *x = xg + r * 3 * H, *y = hg + r * 3 * H, *hp = h + r * H;     \
      const T *gh = dhn + r * H;                                             \
      T *dx = dxg + r * 3 * H, *dy = dhg + r * 3 * H, *dhp = dh + r * H;     \
      for (int64_t j = 0; j < H; j++) {                                      \
        T rg = SIG(x[j] + y[j]);                                             \
        T z = SIG(x[H + j] + y[H + j]);                                      \
        T nn = TANH(x[2 * H + j] + rg * y[2 * H + j]);                       \
        T dn = gh[j] * ((T)1 - z) * ((T)1 - nn * nn);                        \
        T dz = gh[j] * (hp[j] - nn) * z * ((T)1 - z);                        \
        T dr = dn * y[2 * H + j] * rg * ((T)1 - rg);                         \
        dx[j] = dy[j] = dr;                                                  \
        dx[H + j] = dy[H + j] = dz;                                          \
        dx[2 * H + j] = dn;                                                  \
        dy[2 * H + j] = dn * rg;                                             \
        dhp[j] = gh[j] * z;                                                  \
      }                                                                      \
    }                                                                        \
  }

LSTM_FORWARD(float, f32)
LSTM_FORWARD(double, f64)
LSTM_BACKWARD(float, f32)
LSTM_BACKWARD(double, f64)
GRU_FORWARD(float, f32)
GRU_FORWARD(double, f64)
GRU_BACKWARD(float, f32)
GRU_BACKWARD(double, f64)

/* ---- checks and contiguous operands ----------------------------------------- */

/* The gate count of op (4 for LSTM, 3 for GRU). */
int lg_rnn_cell_gates(lg_op op) { return op == LG_OP_LSTM_CELL ? 4 : 3; }

/* xg, hg (N, G H) and a state (N, H) of one float dtype; sets N and H. */
lg_status lg_rnn_cell_check(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, int64_t *n, int64_t *h) {
  const char *name = lg_op_name(op);
  int gates = lg_rnn_cell_gates(op);
  if (n_in != 3)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected 3 tensors (input gates, "
                   "hidden gates, state), got %d", name, n_in);
  lg_dtype dt = in[0]->dtype;
  if (!lg_dtype_is_float(dt) || in[1]->dtype != dt || in[2]->dtype != dt)
    return lg_fail(ctx, LG_ERR_DTYPE, "%s: expected float32 or float64 "
                   "tensors of one dtype, got %s, %s and %s", name,
                   lg_dtype_name(dt), lg_dtype_name(in[1]->dtype),
                   lg_dtype_name(in[2]->dtype));
  const lg_tensor *s = in[2];
  bool ok = s->ndim == 2 && in[0]->ndim == 2 && in[1]->ndim == 2;
  for (int k = 0; ok && k < 2; k++)
    ok = in[k]->sizes[0] == s->sizes[0] &&
         in[k]->sizes[1] == gates * s->sizes[1];
  if (!ok) {
    char a[160], b[160], c[160];
    return lg_fail(ctx, LG_ERR_SHAPE, "%s: expected gates of shape (N, %d*H) "
                   "and a state of shape (N, H), got %s, %s and %s", name,
                   gates, lg_shape_str(a, sizeof a, in[0]->ndim, in[0]->sizes),
                   lg_shape_str(b, sizeof b, in[1]->ndim, in[1]->sizes),
                   lg_shape_str(c, sizeof c, s->ndim, s->sizes));
  }
  *n = s->sizes[0];
  *h = s->sizes[1];
  return LG_OK;
}

/* Contiguous copies (or new references) of the n tensors of in. */
static lg_status contiguous_all(lg_ctx *ctx, int n, lg_tensor *const *in,
                                lg_tensor **out) {
  lg_status st = LG_OK;
  for (int k = 0; k < n; k++) out[k] = NULL;
  for (int k = 0; k < n && !st; k++)
    st = lg_contiguous_as(ctx, in[k], in[k]->dtype, &out[k]);
  return st;
}

static void release_all(int n, lg_tensor **t) {
  for (int k = 0; k < n; k++) lg_tensor_release(t[k]);
}

#define F32(t) ((float *)(void *)lg_data_ptr(t))
#define F64(t) ((double *)(void *)lg_data_ptr(t))

/* ---- forward ---------------------------------------------------------------- */

lg_status lg_kernel_rnn_cell(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                             int n_in, const lg_params *p, lg_tensor **out) {
  (void)p;
  int64_t n, h;
  lg_status st = lg_rnn_cell_check(ctx, op, in, n_in, &n, &h);
  if (st) return st;
  lg_tensor *c[3];
  lg_dtype dt = in[0]->dtype;
  int64_t sizes[2] = {n, h};
  bool lstm = op == LG_OP_LSTM_CELL;
  st = contiguous_all(ctx, 3, in, c);
  for (int k = 0; k < (lstm ? 2 : 1) && !st; k++)
    st = lg_empty(ctx, dt, 2, sizes, &out[k]);
  if (!st && lstm && dt == LG_FLOAT32)
    lstm_rows_f32(n, h, F32(c[0]), F32(c[1]), F32(c[2]), F32(out[0]),
                  F32(out[1]));
  else if (!st && lstm)
    lstm_rows_f64(n, h, F64(c[0]), F64(c[1]), F64(c[2]), F64(out[0]),
                  F64(out[1]));
  else if (!st && dt == LG_FLOAT32)
    gru_rows_f32(n, h, F32(c[0]), F32(c[1]), F32(c[2]), F32(out[0]));
  else if (!st)
    gru_rows_f64(n, h, F64(c[0]), F64(c[1]), F64(c[2]), F64(out[0]));
  if (st)
    for (int k = 0; k < (lstm ? 2 : 1); k++) {
      lg_tensor_release(out[k]);
      out[k] = NULL;
    }
  release_all(3, c);
  return st;
}

/* ---- backward --------------------------------------------------------------- */

/* LSTM: in = xg, hg, c; grad = dh', dc' -> grads[0] = dgates (for both xg
 * and hg), grads[1] = dc. GRU: in = xg, hg, h; grad = dh' -> grads[0] =
 * dxg, grads[1] = dhg, grads[2] = dh. New tensors; none on failure. */
lg_status lg_rnn_cell_backward(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                               lg_tensor *const *grad, lg_tensor **grads) {
  int64_t n, h;
  lg_status st = lg_rnn_cell_check(ctx, op, in, 3, &n, &h);
  if (st) return st;
  bool lstm = op == LG_OP_LSTM_CELL;
  int n_ops = lstm ? 5 : 4, n_grads = lstm ? 2 : 3;
  lg_tensor *ops[5] = {in[0], in[1], in[2], grad[0], lstm ? grad[1] : NULL};
  lg_tensor *c[5] = {NULL};
  lg_dtype dt = in[0]->dtype;
  for (int k = 3; k < n_ops; k++)
    if (grad[k - 3]->dtype != dt)
      return lg_fail(ctx, LG_ERR_DTYPE, "%s backward: expected %s gradients",
                     lg_op_name(op), lg_dtype_name(dt));
  st = contiguous_all(ctx, n_ops, ops, c);
  int64_t gate_sizes[2] = {n, lg_rnn_cell_gates(op) * h}, state[2] = {n, h};
  for (int k = 0; k < n_grads; k++) grads[k] = NULL;
  for (int k = 0; k < n_grads && !st; k++)
    st = lg_empty(ctx, dt, 2, k == n_grads - 1 ? state : gate_sizes,
                  &grads[k]);
  if (!st && lstm && dt == LG_FLOAT32)
    lstm_back_rows_f32(n, h, F32(c[0]), F32(c[1]), F32(c[2]), F32(c[3]),
                       F32(c[4]), F32(grads[0]), F32(grads[1]));
  else if (!st && lstm)
    lstm_back_rows_f64(n, h, F64(c[0]), F64(c[1]), F64(c[2]), F64(c[3]),
                       F64(c[4]), F64(grads[0]), F64(grads[1]));
  else if (!st && dt == LG_FLOAT32)
    gru_back_rows_f32(n, h, F32(c[0]), F32(c[1]), F32(c[2]), F32(c[3]),
                      F32(grads[0]), F32(grads[1]), F32(grads[2]));
  else if (!st)
    gru_back_rows_f64(n, h, F64(c[0]), F64(c[1]), F64(c[2]), F64(c[3]),
                      F64(grads[0]), F64(grads[1]), F64(grads[2]));
  if (st)
    for (int k = 0; k < n_grads; k++) {
      lg_tensor_release(grads[k]);
      grads[k] = NULL;
    }
  release_all(n_ops, c);
  return st;
}
