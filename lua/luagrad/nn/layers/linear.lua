--- luagrad.nn.layers.linear: Identity, Linear, Bilinear and Flatten.
-- @module nn
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

--- Identity(...): returns its input; any arguments are ignored.
-- @usage nn.Identity()(x)
local Identity = nn.Module:extend("Identity")
function Identity:init() end
function Identity:forward(x) return x end
M.Identity = Identity

local linear_args = L.args("Linear", {"bias", "dtype"}, {bias = true})

--- Linear(in_features, out_features[, bias = true, {dtype}]): y = x W^T + b
--- with weight (out, in) and bias (out) drawn from U(-1/sqrt(in), 1/sqrt(in)).
-- @usage local fc = nn.Linear(784, 10); local y = fc(lg.randn(32, 784))
local Linear = nn.Module:extend("Linear")
function Linear:init(in_features, out_features, ...)
  L.sizes("Linear", {"in_features", "out_features"}, in_features, out_features)
  local o = linear_args(...)
  self.in_features, self.out_features = in_features, out_features
  local bound = in_features > 0 and 1 / math.sqrt(in_features) or 0
  self.weight = nn.Parameter(L.uniform({out_features, in_features}, bound, o.dtype))
  if o.bias then
    self.bias = nn.Parameter(L.uniform({out_features}, bound, o.dtype))
  end
end
function Linear:forward(x) return F.linear(x, self.weight, self.bias) end
function Linear:extra_repr()
  return L.repr({{"in_features", self.in_features}, {"out_features", self.out_features},
                 {"bias", self.bias ~= nil}})
end
M.Linear = Linear

--- Bilinear(in1_features, in2_features, out_features[, bias = true,
--- {dtype}]): y_k = x1^T W_k x2 + b_k, weight (out, in1, in2), all drawn
--- from U(-1/sqrt(in1), 1/sqrt(in1)).
-- @usage nn.Bilinear(3, 4, 5)(lg.randn(2, 3), lg.randn(2, 4))
local Bilinear = nn.Module:extend("Bilinear")
function Bilinear:init(in1_features, in2_features, out_features, ...)
  L.sizes("Bilinear", {"in1_features", "in2_features", "out_features"},
          in1_features, in2_features, out_features)
  local o = linear_args(...)
  self.in1_features, self.in2_features = in1_features, in2_features
  self.out_features = out_features
  local bound = 1 / math.sqrt(in1_features)
  self.weight = nn.Parameter(L.uniform({out_features, in1_features, in2_features}, bound, o.dtype))
  if o.bias then
    self.bias = nn.Parameter(L.uniform({out_features}, bound, o.dtype))
  end
end
function Bilinear:forward(x1, x2) return F.bilinear(x1, x2, self.weight, self.bias) end
function Bilinear:extra_repr()
  return L.repr({{"in1_features", self.in1_features}, {"in2_features", self.in2_features},
                 {"out_features", self.out_features}, {"bias", self.bias ~= nil}})
end
M.Bilinear = Bilinear

local flatten_args = L.args("Flatten", {"start_dim", "end_dim"}, {start_dim = 2, end_dim = -1})

--- Flatten([start_dim = 2, end_dim = -1]): flattens dims start..end
--- (1-based; the default keeps the batch dim, like PyTorch's 1..-1).
-- @usage nn.Flatten()(lg.randn(4, 3, 2, 2)) -- {4, 12}
local Flatten = nn.Module:extend("Flatten")
function Flatten:init(...)
  local o = flatten_args(...)
  self.start_dim, self.end_dim = o.start_dim, o.end_dim
end
function Flatten:forward(x) return x:flatten(self.start_dim, self.end_dim) end
function Flatten:extra_repr()
  return L.repr({{"start_dim", self.start_dim}, {"end_dim", self.end_dim}})
end
M.Flatten = Flatten

return M
