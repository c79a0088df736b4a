/* ops_rnn.c: raw Lua entry points of the fused recurrent cells
 * (runtime/ops/rnn.c), on which nn.LSTM and nn.GRU are written in Lua:
 *
 *   lg._lstm_cell(xg, hg, c) -> h, c   xg, hg (N, 4H) gate projections
 *   lg._gru_cell(xg, hg, h)  -> h      xg, hg (N, 3H) gate projections
 *
 * with biases included in the projections; PyTorch's gate order.
 */
#include "lgl.h"

static int run_cell(lua_State *L, lg_op op, const char *fname) {
  lg_tensor *in[3];
  for (int k = 0; k < 3; k++) in[k] = lgl_check_tensor(L, k + 1, fname);
  lua_settop(L, 3);
  return lgl_run_op(L, op, 3, in, NULL, 0);
}

static int l_lstm_cell(lua_State *L) {
  return run_cell(L, LG_OP_LSTM_CELL, "lstm_cell");
}

static int l_gru_cell(lua_State *L) {
  return run_cell(L, LG_OP_GRU_CELL, "gru_cell");
}

static const luaL_Reg rnn_functions[] = {
    {"_lstm_cell", l_lstm_cell},
    {"_gru_cell", l_gru_cell},
    {NULL, NULL},
};

void lgl_open_rnn(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, rnn_functions, NULL);
}
