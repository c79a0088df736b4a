--- luagrad.nn.layers.rnn: RNN, LSTM and GRU over whole sequences.
--
-- Parameters carry PyTorch's names and gate order (weight_ih_l0,
-- weight_hh_l0, bias_ih_l0, bias_hh_l0, LSTM's weight_hr_l0 with proj_size,
-- ..._reverse for the backward direction; LSTM gates i,f,g,o; GRU gates
-- r,z,n), so state dicts move
-- between the two. The input projection of a layer is one matmul per block
-- of steps, split into steps by unbind; the recurrence loops over the steps
-- in Lua, one linear and one fused cell op (runtime/ops/rnn.c) per step.
--
-- forward(input[, hx]): input (L,N,H_in), (N,L,H_in) with batch_first, or
-- unbatched (L,H_in); hx (num_layers*D, N, H) (LSTM: {h_0, c_0}), zeros
-- when absent. Returns output (L,N,D*H) (batch_first: (N,L,D*H)) and h_n,
-- or for LSTM output and {h_n, c_n}, as PyTorch's (h_n, c_n).
-- @module nn
local lg = require "luagrad"
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

local GATES = {RNN = 1, LSTM = 4, GRU = 3}

-- One step of each cell: x_proj is W_ih x + b_ih for this timestep. LSTM
-- and GRU run their gate arithmetic as one fused op (runtime/ops/rnn.c).
local CELL = {}
function CELL.RNN(self, x_proj, h, _, w_hh, b_hh)
  local pre = x_proj + F.linear(h, w_hh, b_hh)
  if self.nonlinearity == "relu" then return pre:relu() end
  return pre:tanh()
end
function CELL.LSTM(_, x_proj, h, c, w_hh, b_hh, w_hr)
  local h_new, c_new = lg._lstm_cell(x_proj, F.linear(h, w_hh, b_hh), c)
  if w_hr then h_new = F.linear(h_new, w_hr) end -- proj_size: h = W_hr (o * tanh(c))
  return h_new, c_new
end
function CELL.GRU(_, x_proj, h, _, w_hh, b_hh)
  return lg._gru_cell(x_proj, F.linear(h, w_hh, b_hh), h)
end

-- The input projections W_ih x_t + b_ih of all steps, as an array of
-- (N, G*H) tensors from one linear and one unbind per block of steps. The
-- blocks hold at most 2^20 elements (4 MB in float32), so every buffer of
-- a long sequence stays small enough for the allocator's cache: one
-- 32 MB projection at T=512 cost page faults that made time grow faster
-- than T. unbind's single node keeps the backward one stack per block.
-- (M.block_elements is a field so that tests can make blocks short.)
M.block_elements = 1 << 20
local function project(x, w_ih, b_ih)
  local steps = x:size(1)
  local per = math.max(1, M.block_elements // math.max(1, x:size(2) * w_ih:size(1)))
  if per >= steps then return F.linear(x, w_ih, b_ih):unbind(1) end
  local xs, out = x:unbind(1), {}
  for s = 1, steps, per do
    local block = lg.stack(table.move(xs, s, math.min(steps, s + per - 1), 1, {}))
    table.move(F.linear(block, w_ih, b_ih):unbind(1), 1, block:size(1), s, out)
  end
  return out
end

local function rnn_class(mode)
  local names = {"num_layers", "bias", "batch_first", "dropout", "bidirectional", "dtype"}
  local defaults = {num_layers = 1, bias = true, batch_first = false, dropout = 0,
                    bidirectional = false}
  if mode == "RNN" then
    table.insert(names, 2, "nonlinearity")
    defaults.nonlinearity = "tanh"
  elseif mode == "LSTM" then
    table.insert(names, #names, "proj_size")
    defaults.proj_size = 0
  end
  local args = L.args(mode, names, defaults)
  local cell = CELL[mode]
  local Cls = nn.Module:extend(mode)

  --- RNN(input_size, hidden_size[, num_layers = 1, nonlinearity = "tanh",
  --- bias = true, batch_first = false, dropout = 0, bidirectional =
  --- false]); LSTM and GRU take the same without nonlinearity, LSTM also
  --- proj_size (0: none; else h is projected to proj_size < hidden_size by
  --- weight_hr_l<k> (proj_size, hidden_size), as PyTorch). Every weight
  --- and bias is drawn from U(-1/sqrt(hidden), 1/sqrt(hidden)).
  function Cls:init(input_size, hidden_size, ...)
    L.sizes(mode, {"input_size", "hidden_size"}, input_size, hidden_size)
    local o = args(...)
    if mode == "RNN" and o.nonlinearity ~= "tanh" and o.nonlinearity ~= "relu" then
      L.raise("RNN: expected nonlinearity 'tanh' or 'relu', got " .. tostring(o.nonlinearity))
    end
    self.mode, self.nonlinearity = mode, o.nonlinearity
    self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, o.num_layers
    self.bias, self.batch_first, self.dropout = o.bias, o.batch_first, o.dropout
    self.bidirectional = o.bidirectional
    local proj = o.proj_size or 0
    if math.type(proj) ~= "integer" or proj < 0 or (proj > 0 and proj >= hidden_size) then
      L.raise(string.format("LSTM: expected proj_size an integer in [0, hidden_size) = [0, %d), got %s",
                            hidden_size, tostring(proj)))
    end
    self.proj_size = proj
    -- the size of h: the projection's when there is one
    local h_size = proj > 0 and proj or hidden_size
    local directions = o.bidirectional and 2 or 1
    local gate_size = GATES[mode] * hidden_size
    local bound = 1 / math.sqrt(hidden_size)
    -- names of each (layer, direction) in registration order
    self._slots = {}
    for layer = 0, o.num_layers - 1 do
      local layer_in = layer == 0 and input_size or h_size * directions
      for dir = 0, directions - 1 do
        local sfx = "_l" .. layer .. (dir == 1 and "_reverse" or "")
        local slot = {"weight_ih" .. sfx, "weight_hh" .. sfx}
        self[slot[1]] = nn.Parameter(L.uniform({gate_size, layer_in}, bound, o.dtype))
        self[slot[2]] = nn.Parameter(L.uniform({gate_size, h_size}, bound, o.dtype))
        if o.bias then
          slot[3], slot[4] = "bias_ih" .. sfx, "bias_hh" .. sfx
          self[slot[3]] = nn.Parameter(L.uniform({gate_size}, bound, o.dtype))
          self[slot[4]] = nn.Parameter(L.uniform({gate_size}, bound, o.dtype))
        end
        if proj > 0 then
          slot[5] = "weight_hr" .. sfx
          self[slot[5]] = nn.Parameter(L.uniform({proj, hidden_size}, bound, o.dtype))
        end
        self._slots[#self._slots + 1] = slot
      end
    end
  end

  -- Runs one direction of one layer over x (L,N,In); returns the outputs
  -- (L,N,H) and the final h (and c).
  local function run_direction(self, x, slot, h, c, reverse)
    local w_ih, w_hh = self[slot[1]], self[slot[2]]
    local b_ih, b_hh = slot[3] and self[slot[3]], slot[4] and self[slot[4]]
    local w_hr = slot[5] and self[slot[5]]
    local steps, outputs = x:size(1), {}
    local x_proj = project(x, w_ih, b_ih)
    local first, last, step = 1, steps, 1
    if reverse then first, last, step = steps, 1, -1 end
    for t = first, last, step do
      h, c = cell(self, x_proj[t], h, c, w_hh, b_hh, w_hr)
      outputs[t] = h
    end
    return lg.stack(outputs, 1), h, c
  end

  function Cls:forward(input, hx)
    local fname = mode .. ".forward"
    if not lg.is_tensor(input) then
      L.raise(fname .. ": expected a tensor as input, got " .. L.typename(input))
    end
    local batched = input:dim() == 3
    if not batched and input:dim() ~= 2 then
      L.raise(string.format("%s: expected a 3-D (batched) or 2-D (unbatched) input, got %d-D",
                            fname, input:dim()))
    end
    if input:size(-1) ~= self.input_size then
      L.raise(string.format("%s: expected input size %d in the last dim, got %d",
                            fname, self.input_size, input:size(-1)))
    end
    local x = input
    if not batched then
      x = x:unsqueeze(2)
    elseif self.batch_first then
      x = x:transpose(1, 2)
    end
    local directions = self.bidirectional and 2 or 1
    local n = x:size(2)
    local h0, c0
    if mode == "LSTM" and hx ~= nil then h0, c0 = hx[1], hx[2] else h0 = hx end
    local function state(s, what, hidden)
      if s == nil then
        return lg.zeros({self.num_layers * directions, n, hidden}, {dtype = x.dtype})
      end
      if not lg.is_tensor(s) then
        L.raise(string.format("%s: expected a tensor or nil as %s, got %s", fname, what, L.typename(s)))
      end
      if not batched then s = s:unsqueeze(2) end
      if s:dim() ~= 3 or s:size(1) ~= self.num_layers * directions or s:size(2) ~= n
         or s:size(3) ~= hidden then
        L.raise(string.format("%s: expected %s of shape {%d,%d,%d}, got {%s}", fname, what,
                              self.num_layers * directions, n, hidden,
                              table.concat(s.shape, ",")))
      end
      return s
    end
    local proj = self.proj_size or 0
    h0 = state(h0, "h_0", proj > 0 and proj or self.hidden_size)
    if mode == "LSTM" then c0 = state(c0, "c_0", self.hidden_size) end
    local h_n, c_n = {}, {}
    for layer = 1, self.num_layers do
      local outs = {}
      for dir = 1, directions do
        local k = (layer - 1) * directions + dir
        local out, h, c = run_direction(self, x, self._slots[k], h0[k], c0 and c0[k], dir == 2)
        outs[dir], h_n[k], c_n[k] = out, h, c
      end
      x = directions == 2 and lg.cat(outs, 3) or outs[1]
      if layer < self.num_layers and self.dropout > 0 then
        x = F.dropout(x, self.dropout, self.training)
      end
    end
    local output = x
    local hn, cn = lg.stack(h_n, 1), c0 and lg.stack(c_n, 1)
    if not batched then
      output, hn = output:squeeze(2), hn:squeeze(2)
      if cn then cn = cn:squeeze(2) end
    elseif self.batch_first then
      output = output:transpose(1, 2)
    end
    if mode == "LSTM" then return output, {hn, cn} end
    return output, hn
  end

  function Cls:extra_repr()
    local fields = {{"", self.input_size}, {"", self.hidden_size}}
    if self.num_layers ~= 1 then fields[#fields + 1] = {"num_layers", self.num_layers} end
    if mode == "RNN" and self.nonlinearity ~= "tanh" then
      fields[#fields + 1] = {"nonlinearity", self.nonlinearity, quote = true}
    end
    if not self.bias then fields[#fields + 1] = {"bias", false} end
    if self.batch_first then fields[#fields + 1] = {"batch_first", true} end
    if self.dropout ~= 0 then fields[#fields + 1] = {"dropout", self.dropout} end
    if self.bidirectional then fields[#fields + 1] = {"bidirectional", true} end
    if (self.proj_size or 0) > 0 then fields[#fields + 1] = {"proj_size", self.proj_size} end
    return L.repr(fields)
  end
  return Cls
end

--- RNN(input_size, hidden_size[, {num_layers = 1, nonlinearity = "tanh",
-- bias = true, batch_first = false, dropout = 0, bidirectional = false,
-- dtype}]): an Elman RNN over a whole sequence, PyTorch's parameter names;
-- forward(input[, h_0]) returns output, h_n (two values, not a tuple).
-- @function RNN
-- @usage local out, h = nn.RNN(4, 8)(lg.randn(5, 2, 4))

--- LSTM(input_size, hidden_size[, {num_layers = 1, bias = true,
-- batch_first = false, dropout = 0, bidirectional = false, dtype}]): a long short-term memory over a sequence (gates i, f, g, o as
-- PyTorch); forward(input[, {h_0, c_0}]) returns output and {h_n, c_n}.
-- @function LSTM
-- @usage local out, state = nn.LSTM(4, 8)(x); local h_n, c_n = state[1], state[2]

--- GRU(input_size, hidden_size[, {num_layers = 1, bias = true, batch_first
-- = false, dropout = 0, bidirectional = false, dtype}]): a gated recurrent
-- unit over a sequence (gates r, z, n); forward(input[, h_0]) returns
-- output, h_n.
-- @function GRU
-- @usage local out, h = nn.GRU(4, 8, {batch_first = true})(x)

M.RNN = rnn_class("RNN")
M.LSTM = rnn_class("LSTM")
M.GRU = rnn_class("GRU")

return M
