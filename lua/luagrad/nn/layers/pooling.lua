--- luagrad.nn.layers.pooling: MaxPool2d, AvgPool2d and AdaptiveAvgPool2d.
-- @module nn
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

local max_args = L.args("MaxPool2d",
  {"stride", "padding", "dilation", "return_indices", "ceil_mode"},
  {padding = 0, dilation = 1, return_indices = false, ceil_mode = false})

--- MaxPool2d(kernel_size[, stride = kernel_size, padding = 0, dilation = 1,
--- return_indices = false, ceil_mode = false]).
-- @usage nn.MaxPool2d(2)(lg.randn(1, 3, 8, 8)) -- {1, 3, 4, 4}
local MaxPool2d = nn.Module:extend("MaxPool2d")
function MaxPool2d:init(kernel_size, ...)
  local o = max_args(...)
  self.kernel_size = kernel_size
  self.stride = o.stride or kernel_size
  self.padding, self.dilation = o.padding, o.dilation
  self.return_indices, self.ceil_mode = o.return_indices, o.ceil_mode
end
function MaxPool2d:forward(x)
  return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                      self.ceil_mode, self.return_indices)
end
function MaxPool2d:extra_repr()
  return L.repr({{"kernel_size", self.kernel_size}, {"stride", self.stride},
                 {"padding", self.padding}, {"dilation", self.dilation},
                 {"ceil_mode", self.ceil_mode}})
end
M.MaxPool2d = MaxPool2d

local avg_args = L.args("AvgPool2d",
  {"stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"},
  {padding = 0, ceil_mode = false, count_include_pad = true})

--- AvgPool2d(kernel_size[, stride = kernel_size, padding = 0, ceil_mode =
--- false, count_include_pad = true, divisor_override]).
-- @usage nn.AvgPool2d(2)(lg.randn(1, 3, 8, 8))
local AvgPool2d = nn.Module:extend("AvgPool2d")
function AvgPool2d:init(kernel_size, ...)
  local o = avg_args(...)
  self.kernel_size = kernel_size
  self.stride = o.stride or kernel_size
  self.padding, self.ceil_mode = o.padding, o.ceil_mode
  self.count_include_pad, self.divisor_override = o.count_include_pad, o.divisor_override
end
function AvgPool2d:forward(x)
  return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                      self.count_include_pad, self.divisor_override)
end
function AvgPool2d:extra_repr()
  return L.repr({{"kernel_size", self.kernel_size}, {"stride", self.stride},
                 {"padding", self.padding}})
end
M.AvgPool2d = AvgPool2d

--- AdaptiveAvgPool2d(output_size): an integer or {OH, OW}.
-- @usage nn.AdaptiveAvgPool2d(1)(lg.randn(2, 8, 7, 7)) -- {2, 8, 1, 1}
local AdaptiveAvgPool2d = nn.Module:extend("AdaptiveAvgPool2d")
function AdaptiveAvgPool2d:init(output_size)
  self.output_size = output_size
end
function AdaptiveAvgPool2d:forward(x) return F.adaptive_avg_pool2d(x, self.output_size) end
function AdaptiveAvgPool2d:extra_repr()
  return L.repr({{"output_size", self.output_size}})
end
M.AdaptiveAvgPool2d = AdaptiveAvgPool2d

return M
