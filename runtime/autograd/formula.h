/* formula.h: the shorthands backward rules are written with, so that a
 * rule reads as its formula: S(EXP, x), B(MUL, g, y), K(ADD, x, 1) (x op a
 * number), RK(SUB, 1, y) (a number op y). Each runs the op in the scope
 * pointer `s` of the rule (autograd.h); include it only in rule files. */
#ifndef LG_FORMULA_H
#define LG_FORMULA_H

#include "autograd.h"

#define S(op, a) lg_s_unary(s, LG_OP_##op, a)
#define B(op, a, b) lg_s_binary(s, LG_OP_##op, a, b)
#define K(op, a, k) lg_s_scalar(s, LG_OP_##op, a, k)
#define RK(op, k, a) lg_s_rscalar(s, LG_OP_##op, k, a)

#endif
