/* elementwise_fuse.h: the loops of elementwise.c's unary and binary
 * kernels, handed out so that func.compile's fused groups
 * (runtime/compile/fuse.c) compute each element with the very function the
 * eager kernel runs (bit-identical results), one tile at a time.
 */
#ifndef LG_ELEMENTWISE_FUSE_H
#define LG_ELEMENTWISE_FUSE_H

#include "core.h"
#include "iter.h"

/* One step of a fused chain: the kernel's loop for a float dtype, and its
 * scalar operand (already in that dtype) when it has one. */
typedef struct lg_ew_loop {
  lg_loop_fn loop;
  int n_tensors;  /* tensor inputs: 1 or 2                                 */
  int scalar_pos; /* 0: none; 1: the scalar is operand a; 2: operand b     */
  unsigned char scalar[8];
} lg_ew_loop;

/* Whether lg_op_forward(op) with params p on n_in tensor inputs of float
 * dtype `dtype` (same shape, contiguous) is one pass of a unary or binary
 * loop writing a `dtype` result; then fills *e. False for everything else
 * (comparisons, isclose, nan_to_num, type promotion, in-place, out=). */
bool lg_elementwise_fusible(lg_op op, const lg_params *p, int n_in,
                            lg_dtype dtype, lg_ew_loop *e);

/* Runs e over n elements: data[0] the output, then the tensor inputs, each
 * dense (the scalar, if any, is supplied from e). */
void lg_elementwise_run(const lg_ew_loop *e, char *const *data, int64_t n,
                        size_t item);

#endif
