/* rnn.h: the fused LSTM and GRU gate kernels shared by their forward op
 * (rnn.c) and backward rule (rnn_backward.c). Internal. */
#ifndef LG_RNN_H
#define LG_RNN_H

#include "core.h"

/* The gate count of a cell op (4 for lstm_cell, 3 for gru_cell). */
int lg_rnn_cell_gates(lg_op op);
/* Checks a cell's three inputs; sets the batch N and hidden size H. */
lg_status lg_rnn_cell_check(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                            int n_in, int64_t *n, int64_t *h);
/* The cell's gradients in one pass (see rnn.c): LSTM -> dgates, dc;
 * GRU -> dxg, dhg, dh. New tensors, all NULL on failure. */
lg_status lg_rnn_cell_backward(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                               lg_tensor *const *grad, lg_tensor **grads);

#endif
