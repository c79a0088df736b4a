/* elementwise_backward.c: backward rules of the elementwise ops (unary
 * math, clamp, nan_to_num, binary arithmetic, where). Each rule is a
 * formula in differentiable ops, so with create_graph its gradient is
 * recorded too. Gradients of broadcast operands are summed back to the
 * operand's shape. */
#include <math.h>

#include "dtype.h"
#include "formula.h"

/* where(cond, g, 0) */
static lg_tensor *mask_grad(lg_scope *sc, lg_tensor *cond, lg_tensor *g) {
  lg_params p = {0};
  lg_tensor *in[2] = {cond, g};
  p.flags = LG_FLAG_SCALAR_B;
  p.scalar[1] = 0;
  return lg_s_op(sc, LG_OP_WHERE, 2, in, &p);
}

/* d(op(x))/dx * g for the unary ops and clamp */
lg_status lg_backward_unary(lg_ctx *ctx, lg_node *node,
                            lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  lg_tensor *g = grad_out[0], *x = lg_saved(node, 0), *r = NULL;
  static const double two_over_sqrt_pi = 1.12837916709551257390;
  static const double inv_sqrt_2pi = 0.39894228040143267794;
  switch (node->op) {
    case LG_OP_NEG: r = S(NEG, g); break;
    case LG_OP_ABS: r = B(MUL, g, S(SIGN, x)); break;
    case LG_OP_SIGN:
    case LG_OP_FLOOR:
    case LG_OP_CEIL:
    case LG_OP_ROUND: r = K(MUL, g, 0); break; /* zero almost everywhere */
    case LG_OP_SQUARE: r = B(MUL, g, K(MUL, x, 2)); break;
    /* relu through where: the gradient at 0 is 0, and double backward
     * sees a function of g (tinygrad writes relu the same way) */
    case LG_OP_RELU: r = mask_grad(s, K(GT, x, 0), g); break;
    case LG_OP_EXP:
    case LG_OP_EXPM1: r = B(MUL, g, S(EXP, x)); break;
    case LG_OP_LOG: r = B(DIV, g, x); break;
    case LG_OP_LOG1P: r = B(DIV, g, K(ADD, x, 1)); break;
    case LG_OP_SQRT: r = B(DIV, g, K(MUL, S(SQRT, x), 2)); break;
    case LG_OP_RSQRT: /* -0.5 x^-1.5 */
      r = B(MUL, g, K(MUL, B(DIV, S(RSQRT, x), x), -0.5));
      break;
    case LG_OP_SIN: r = B(MUL, g, S(COS, x)); break;
    case LG_OP_COS: r = B(MUL, g, S(NEG, S(SIN, x))); break;
    case LG_OP_TANH: r = B(MUL, g, RK(SUB, 1, S(SQUARE, S(TANH, x)))); break;
    case LG_OP_SIGMOID: {
      lg_tensor *sg = S(SIGMOID, x);
      r = B(MUL, g, B(MUL, sg, RK(SUB, 1, sg)));
      break;
    }
    case LG_OP_GELU: { /* Phi(x) + x phi(x) */
      lg_tensor *cdf = K(MUL, K(ADD, S(ERF, K(MUL, x, 0.70710678118654752440)), 1), 0.5);
      lg_tensor *pdf = K(MUL, S(EXP, K(MUL, S(SQUARE, x), -0.5)), inv_sqrt_2pi);
      r = B(MUL, g, B(ADD, cdf, B(MUL, x, pdf)));
      break;
    }
    case LG_OP_SILU: { /* s (1 + x (1 - s)) */
      lg_tensor *sg = S(SIGMOID, x);
      r = B(MUL, g, B(MUL, sg, K(ADD, B(MUL, x, RK(SUB, 1, sg)), 1)));
      break;
    }
    case LG_OP_SOFTPLUS: { /* sigmoid(x), exactly 1 above the threshold */
      lg_tensor *in[3] = {K(GT, x, 20), g, B(MUL, g, S(SIGMOID, x))};
      r = lg_s_op(s, LG_OP_WHERE, 3, in, NULL);
      break;
    }
    case LG_OP_RECIPROCAL: r = S(NEG, B(DIV, g, S(SQUARE, x))); break;
    case LG_OP_ERF:
      r = B(MUL, g, K(MUL, S(EXP, S(NEG, S(SQUARE, x))), two_over_sqrt_pi));
      break;
    /* PyTorch's grad * isfinite(x): a product, so a NaN in g stays NaN */
    case LG_OP_NAN_TO_NUM: r = B(MUL, g, S(ISFINITE, x)); break;
    case LG_OP_CLAMP: { /* pass where min <= x <= max */
      const lg_params *p = &node->params;
      lg_tensor *inside = NULL;
      if (p->flags & LG_FLAG_HAS_MIN) inside = K(GE, x, p->scalar[0]);
      if (p->flags & LG_FLAG_HAS_MAX) {
        lg_tensor *below = K(LE, x, p->scalar[1]);
        inside = inside ? B(MUL, inside, below) : below;
      }
      r = mask_grad(s, inside, g);
      break;
    }
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME, "backward: no unary rule for %s",
                          lg_op_name(node->op));
  }
  grad_in[0] = lg_keep(s, lg_s_cast(s, r, node->input_info[0].dtype));
  return lg_scope_end(s);
}

/* Gradients of a binary op: a and b are the operands as tensors (NULL for
 * a scalar side, whose value is k). */
lg_status lg_backward_binary(lg_ctx *ctx, lg_node *node,
                             lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_params *p = &node->params;
  bool scalar_a = p->flags & LG_FLAG_SCALAR_A;
  bool scalar_b = p->flags & LG_FLAG_SCALAR_B;
  double k = (p->flags & LG_FLAG_SCALAR_INT) ? (double)p->scalar_int
                                             : p->scalar[0];
  lg_tensor *g = grad_out[0];
  lg_tensor *a = scalar_a ? NULL : lg_saved(node, 0);
  lg_tensor *b = scalar_b ? NULL : lg_saved(node, scalar_a ? 0 : 1);
  int ia = scalar_a ? -1 : 0, ib = scalar_b ? -1 : (scalar_a ? 0 : 1);
  bool want_a = ia >= 0 && lg_needs(node, ia), want_b = ib >= 0 && lg_needs(node, ib);
  lg_tensor *ga = NULL, *gb = NULL;
  switch (node->op) {
    case LG_OP_ADD:
      ga = g;
      gb = g;
      break;
    case LG_OP_SUB:
      ga = g;
      if (want_b) gb = S(NEG, g);
      break;
    case LG_OP_MUL:
      if (want_a) ga = b ? B(MUL, g, b) : K(MUL, g, k);
      if (want_b) gb = a ? B(MUL, g, a) : K(MUL, g, k);
      break;
    case LG_OP_DIV:
      if (want_a) ga = b ? B(DIV, g, b) : K(DIV, g, k);
      if (want_b) {
        lg_tensor *num = a ? B(MUL, g, a) : K(MUL, g, k);
        gb = S(NEG, B(DIV, num, S(SQUARE, b)));
      }
      break;
    case LG_OP_POW:
      if (want_a) { /* b a^(b-1) */
        if (b) {
          ga = B(MUL, g, B(MUL, b, B(POW, a, K(SUB, b, 1))));
        } else {
          ga = k == 0 ? K(MUL, g, 0) : B(MUL, g, K(MUL, K(POW, a, k - 1), k));
        }
      }
      if (want_b) { /* a^b ln a, taken as 0 where a == 0 and b >= 0 */
        if (a) {
          lg_tensor *term = B(MUL, B(POW, a, b), S(LOG, a));
          lg_tensor *zero = B(MUL, K(EQ, a, 0), K(GE, b, 0));
          lg_tensor *in[2] = {S(LOGICAL_NOT, zero), B(MUL, g, term)};
          lg_params w = {0};
          w.flags = LG_FLAG_SCALAR_B;
          gb = lg_s_op(s, LG_OP_WHERE, 2, in, &w);
        } else {
          gb = B(MUL, g, K(MUL, RK(POW, k, b), log(k)));
        }
      }
      break;
    case LG_OP_REMAINDER: /* a - b floor(a / b) */
      ga = g;
      if (want_b) {
        lg_tensor *q = a ? B(FLOOR_DIVIDE, a, b) : RK(FLOOR_DIVIDE, k, b);
        gb = S(NEG, B(MUL, g, q));
      }
      break;
    case LG_OP_FLOOR_DIVIDE: /* piecewise constant */
      if (want_a) ga = K(MUL, g, 0);
      if (want_b) gb = K(MUL, g, 0);
      break;
    case LG_OP_MAXIMUM:
    case LG_OP_MINIMUM: { /* the larger (smaller) side; ties share half */
      lg_op wins = node->op == LG_OP_MAXIMUM ? LG_OP_GT : LG_OP_LT;
      lg_tensor *half = K(MUL, g, 0.5);
      for (int side = 0; side < 2; side++) {
        if (!(side ? want_b : want_a)) continue;
        lg_tensor *self = side ? b : a, *other = side ? a : b;
        lg_params cp = {0};
        lg_tensor *win, *tie;
        if (other) {
          win = lg_s_binary(s, wins, self, other);
          tie = B(EQ, self, other);
        } else {
          cp.flags = LG_FLAG_SCALAR_B;
          cp.scalar[0] = k;
          win = lg_s_op(s, wins, 1, &self, &cp);
          tie = lg_s_op(s, LG_OP_EQ, 1, &self, &cp);
        }
        lg_tensor *r = B(ADD, mask_grad(s, win, g), mask_grad(s, tie, half));
        if (side) gb = r; else ga = r;
      }
      break;
    }
    default:
      s->status = lg_fail(ctx, LG_ERR_RUNTIME,
                          "backward: no binary rule for %s",
                          lg_op_name(node->op));
  }
  if (want_a) grad_in[ia] = lg_keep(s, lg_s_sum_to(s, ga, &node->input_info[ia]));
  if (want_b) grad_in[ib] = lg_keep(s, lg_s_sum_to(s, gb, &node->input_info[ib]));
  return lg_scope_end(s);
}

/* where(cond, a, b): the gradient goes to the side that was picked */
lg_status lg_backward_where(lg_ctx *ctx, lg_node *node,
                            lg_tensor *const *grad_out, lg_tensor **grad_in) {
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_params *p = &node->params;
  lg_tensor *cond = lg_saved(node, 0), *g = grad_out[0];
  int slot = 1;
  for (int side = 0; side < 2; side++) {
    bool scalar = p->flags & (side ? LG_FLAG_SCALAR_B : LG_FLAG_SCALAR_A);
    if (scalar) continue;
    if (lg_needs(node, slot)) {
      lg_tensor *mask = side ? S(LOGICAL_NOT, cond) : cond;
      lg_tensor *r = mask_grad(s, mask, g);
      grad_in[slot] = lg_keep(s, lg_s_sum_to(s, r, &node->input_info[slot]));
    }
    slot++;
  }
  return lg_scope_end(s);
}
