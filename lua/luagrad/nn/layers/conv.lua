--- luagrad.nn.layers.conv: Conv1d, Conv2d and ConvTranspose2d, holding their
-- weights and calling nn.functional's conv kernels.
-- @module nn
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"
local raise = require("luagrad.check").raise

local M = {}

-- Shared constructor: weight_shape(in/groups-adjusted) and fan_in differ
-- between the direct and the transposed convolution.
local function init_conv(self, cname, nd, in_channels, out_channels, kernel_size, o, transposed)
  local groups = o.groups
  if in_channels % groups ~= 0 or out_channels % groups ~= 0 then
    raise(string.format("%s: in_channels (%d) and out_channels (%d) must be divisible by groups (%d)",
                        cname, in_channels, out_channels, groups))
  end
  local kernel = F._tuple(kernel_size, nd, cname, "kernel_size")
  self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
  self.kernel_size = kernel
  self.stride = F._tuple(o.stride, nd, cname, "stride")
  self.padding = type(o.padding) == "string" and o.padding or F._tuple(o.padding, nd, cname, "padding")
  self.dilation = F._tuple(o.dilation, nd, cname, "dilation")
  local shape, receptive = {}, 1
  if transposed then
    self.output_padding = F._tuple(o.output_padding, nd, cname, "output_padding")
    shape[1], shape[2] = in_channels, out_channels // groups
  else
    shape[1], shape[2] = out_channels, in_channels // groups
  end
  for i = 1, nd do
    shape[2 + i] = kernel[i]
    receptive = receptive * kernel[i]
  end
  -- PyTorch's fan_in is size(2) * receptive field, for both kinds
  local fan_in = shape[2] * receptive
  local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
  self.weight = nn.Parameter(L.uniform(shape, bound, o.dtype))
  if o.bias then self.bias = nn.Parameter(L.uniform({out_channels}, bound, o.dtype)) end
end

-- PyTorch's text: sizes first, then only the options off their defaults.
local function all_equal(t, v)
  if type(t) ~= "table" then return t == v end
  for i = 1, #t do if t[i] ~= v then return false end end
  return true
end

local function conv_repr(self)
  local fields = {{"", self.in_channels}, {"", self.out_channels},
                  {"kernel_size", self.kernel_size}, {"stride", self.stride}}
  if not all_equal(self.padding, 0) then fields[#fields + 1] = {"padding", self.padding} end
  if not all_equal(self.dilation, 1) then fields[#fields + 1] = {"dilation", self.dilation} end
  if self.output_padding and not all_equal(self.output_padding, 0) then
    fields[#fields + 1] = {"output_padding", self.output_padding}
  end
  if self.groups ~= 1 then fields[#fields + 1] = {"groups", self.groups} end
  if self.bias == nil then fields[#fields + 1] = {"bias", false} end
  if self.padding_mode and self.padding_mode ~= "zeros" then
    fields[#fields + 1] = {"padding_mode", self.padding_mode, quote = true}
  end
  return L.repr(fields)
end

local CONV_NAMES = {"stride", "padding", "dilation", "groups", "bias", "padding_mode", "dtype"}
local CONV_DEFAULTS = {stride = 1, padding = 0, dilation = 1, groups = 1, bias = true,
                       padding_mode = "zeros"}

local PADDING_MODES = {zeros = true, reflect = true, replicate = true, circular = true}

local function conv_class(name, nd, fn)
  local args = L.args(name, CONV_NAMES, CONV_DEFAULTS)
  local Conv = nn.Module:extend(name)
  --- Conv1d / Conv2d(in_channels, out_channels, kernel_size[, stride = 1,
  --- padding = 0, dilation = 1, groups = 1, bias = true, padding_mode =
  --- "zeros"]): weight (out, in/groups, k...) and bias (out) drawn from
  --- U(-1/sqrt(fan_in), 1/sqrt(fan_in)); padding may be "valid" or "same"
  --- (an odd total split with the extra one after, as PyTorch);
  --- padding_mode "zeros", "reflect", "replicate" or "circular" (the
  --- others pad with F.pad before an unpadded convolution).
  function Conv:init(in_channels, out_channels, kernel_size, ...)
    L.sizes(name, {"in_channels", "out_channels"}, in_channels, out_channels)
    local o = args(...)
    if not PADDING_MODES[o.padding_mode] then
      raise(string.format("%s: expected padding_mode 'zeros', 'reflect', 'replicate' or 'circular', got %s",
                          name, tostring(o.padding_mode)))
    end
    init_conv(self, name, nd, in_channels, out_channels, kernel_size, o, false)
    self.padding_mode = o.padding_mode
    if o.padding_mode ~= "zeros" then
      -- F.pad's list (last dim first) of the padding before/after each dim
      local p = F._conv_padding(self.padding, self.kernel_size, self.dilation, self.stride, name)
      self._pad_list = {}
      for i = 1, nd do
        local j = nd - i + 1
        self._pad_list[2 * j - 1], self._pad_list[2 * j] = p[2 * i - 1], p[2 * i]
      end
    end
  end
  function Conv:forward(x)
    if self._pad_list then
      return fn(F.pad(x, self._pad_list, {mode = self.padding_mode}), self.weight, self.bias,
                self.stride, 0, self.dilation, self.groups)
    end
    return fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
  end
  Conv.extra_repr = conv_repr
  return Conv
end

--- Conv1d(in_channels, out_channels, kernel_size[, {stride = 1, padding =
-- 0, dilation = 1, groups = 1, bias = true, padding_mode = "zeros"}]): a
-- 1-D convolution of (N, C, L) inputs (cross-correlation, as PyTorch).
-- @function Conv1d
-- @usage nn.Conv1d(3, 8, 5, {padding = 2})(lg.randn(1, 3, 32))

--- Conv2d(in_channels, out_channels, kernel_size[, {stride = 1, padding =
-- 0, dilation = 1, groups = 1, bias = true, padding_mode = "zeros"}]): a
-- 2-D convolution of (N, C, H, W) inputs; kernel_size, stride, padding and
-- dilation are a number or a pair; padding may be "same" or "valid".
-- @function Conv2d
-- @usage nn.Conv2d(1, 6, 5)(lg.randn(4, 1, 28, 28))

M.Conv1d = conv_class("Conv1d", 1, F.conv1d)
M.Conv2d = conv_class("Conv2d", 2, F.conv2d)

local transpose_args = L.args("ConvTranspose2d",
  {"stride", "padding", "output_padding", "groups", "bias", "dilation", "padding_mode", "dtype"},
  {stride = 1, padding = 0, output_padding = 0, groups = 1, bias = true, dilation = 1,
   padding_mode = "zeros"})

--- ConvTranspose2d(in_channels, out_channels, kernel_size[, stride = 1,
--- padding = 0, output_padding = 0, groups = 1, bias = true, dilation =
--- 1]): weight (in, out/groups, kh, kw).
-- @usage nn.ConvTranspose2d(8, 3, 4, {stride = 2, padding = 1})(lg.randn(1, 8, 16, 16))
local ConvTranspose2d = nn.Module:extend("ConvTranspose2d")
function ConvTranspose2d:init(in_channels, out_channels, kernel_size, ...)
  L.sizes("ConvTranspose2d", {"in_channels", "out_channels"}, in_channels, out_channels)
  local o = transpose_args(...)
  if o.padding_mode ~= "zeros" then
    raise("ConvTranspose2d: only padding_mode 'zeros' is supported, got " .. tostring(o.padding_mode))
  end
  init_conv(self, "ConvTranspose2d", 2, in_channels, out_channels, kernel_size, o, true)
end
function ConvTranspose2d:forward(x)
  return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                            self.output_padding, self.groups, self.dilation)
end
ConvTranspose2d.extra_repr = conv_repr
M.ConvTranspose2d = ConvTranspose2d

return M
