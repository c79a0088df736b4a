--- luagrad.nn.layers.activation: ReLU, LeakyReLU, GELU, SiLU, Tanh, Sigmoid,
-- Softmax and LogSoftmax as modules without parameters.
-- @module nn
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

-- A parameterless activation whose forward is fn(x).
local function simple(name, fn)
  local Act = nn.Module:extend(name)
  function Act:init() end -- PyTorch's inplace flag is accepted and ignored
  function Act:forward(x) return fn(x) end
  return Act
end

--- ReLU(): max(x, 0) elementwise; PyTorch's inplace flag is accepted and
-- ignored.
-- @function ReLU
-- @usage local act = nn.ReLU(); act(lg.tensor({-1, 2})) --> {0, 2}

--- SiLU(): x * sigmoid(x) elementwise.
-- @function SiLU
-- @usage nn.SiLU()(x)

--- Tanh(): tanh(x) elementwise.
-- @function Tanh
-- @usage nn.Tanh()(x)

--- Sigmoid(): 1 / (1 + exp(-x)) elementwise.
-- @function Sigmoid
-- @usage nn.Sigmoid()(x)

M.ReLU = simple("ReLU", F.relu)
M.SiLU = simple("SiLU", F.silu)
M.Tanh = simple("Tanh", F.tanh)
M.Sigmoid = simple("Sigmoid", F.sigmoid)

local leaky_args = L.args("LeakyReLU", {"negative_slope", "inplace"}, {negative_slope = 0.01})

--- LeakyReLU([negative_slope = 0.01]).
-- @usage nn.LeakyReLU(0.2)(x)
local LeakyReLU = nn.Module:extend("LeakyReLU")
function LeakyReLU:init(...) self.negative_slope = leaky_args(...).negative_slope end
function LeakyReLU:forward(x) return F.leaky_relu(x, self.negative_slope) end
function LeakyReLU:extra_repr() return L.repr({{"negative_slope", self.negative_slope}}) end
M.LeakyReLU = LeakyReLU

local gelu_args = L.args("GELU", {"approximate"}, {approximate = "none"})

--- GELU([approximate = "none"]): "tanh" for the tanh approximation.
-- @usage nn.GELU("tanh")(x)
local GELU = nn.Module:extend("GELU")
function GELU:init(...) self.approximate = gelu_args(...).approximate end
function GELU:forward(x) return F.gelu(x, self.approximate) end
function GELU:extra_repr() return L.repr({{"approximate", self.approximate, quote = true}}) end
M.GELU = GELU

-- Softmax and LogSoftmax along a 1-based dim (nil: PyTorch's implicit dim).
local function softmax_class(name, fn)
  local args = L.args(name, {"dim"}, {})
  local Cls = nn.Module:extend(name)
  function Cls:init(...) self.dim = args(...).dim end
  function Cls:forward(x) return fn(x, self.dim) end
  function Cls:extra_repr() return L.repr({{"dim", self.dim or "nil"}}) end
  return Cls
end

--- Softmax([dim]): softmax along the 1-based dim (nil: PyTorch's implicit
-- dim, 1 for 0-, 1- and 3-D inputs, else 2).
-- @function Softmax
-- @usage nn.Softmax(2)(logits)

--- LogSoftmax([dim]): log(softmax(x)) along the 1-based dim, computed stably.
-- @function LogSoftmax
-- @usage nn.LogSoftmax(2)(logits)

M.Softmax = softmax_class("Softmax", F.softmax)
M.LogSoftmax = softmax_class("LogSoftmax", F.log_softmax)

return M
