-- luagrad.nn.layers.padding: the padding and resampling modules
-- (ZeroPad2d, ConstantPad1d/2d/3d, ReflectionPad1d/2d/3d,
-- ReplicationPad1d/2d/3d, Upsample, Unfold, Fold), thin holders of their
-- options around nn.functional's pad, interpolate, unfold and fold.
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

-- The pad list (last dim first) of a padding given as one integer or a
-- table of 2 * nd integers, as PyTorch's _ntuple(2 * nd).
local function pad_list(cname, padding, nd)
  if math.type(padding) == "integer" then
    local out = {}
    for i = 1, 2 * nd do out[i] = padding end
    return out
  end
  if type(padding) == "table" and #padding == 2 * nd then
    local out = {}
    for i = 1, 2 * nd do
      if math.type(padding[i]) ~= "integer" then break end
      out[i] = padding[i]
    end
    if #out == 2 * nd then return out end
  end
  L.raise(string.format("%s: expected padding as an integer or a table of %d integers, got %s",
                        cname, 2 * nd, L.typename(padding)))
end

local function pad_class(cname, nd, mode, with_value)
  local Pad = nn.Module:extend(cname)
  --- ConstantPadNd(padding, value), ReflectionPadNd(padding),
  -- ReplicationPadNd(padding), ZeroPad2d(padding): padding an integer (every
  -- side) or a table (left, right[, top, bottom[, front, back]]).
  function Pad:init(padding, value)
    self.padding = pad_list(cname, padding, nd)
    if with_value then
      if type(value) ~= "number" then
        L.raise(cname .. ": expected a number as value, got " .. L.typename(value))
      end
      self.value = value
    end
  end
  function Pad:forward(x)
    if mode == "constant" then return F.pad(x, self.padding, {value = self.value or 0}) end
    return F.pad(x, self.padding, {mode = mode})
  end
  function Pad:extra_repr()
    local fields = {{"", self.padding}}
    if with_value then fields[2] = {"value", self.value} end
    return L.repr(fields)
  end
  return Pad
end

for nd = 1, 3 do
  M["ConstantPad" .. nd .. "d"] = pad_class("ConstantPad" .. nd .. "d", nd, "constant", true)
  M["ReflectionPad" .. nd .. "d"] = pad_class("ReflectionPad" .. nd .. "d", nd, "reflect")
  M["ReplicationPad" .. nd .. "d"] = pad_class("ReplicationPad" .. nd .. "d", nd, "replicate")
end
M.ZeroPad2d = pad_class("ZeroPad2d", 2, "constant")

local upsample_args = L.args("Upsample", {"size", "scale_factor", "mode", "align_corners",
                                          "recompute_scale_factor"}, {mode = "nearest"})

--- Upsample([size, scale_factor, mode = "nearest", align_corners,
-- recompute_scale_factor]): F.interpolate with these options.
local Upsample = nn.Module:extend("Upsample")
function Upsample:init(...)
  local o = upsample_args(...)
  self.size, self.scale_factor, self.mode = o.size, o.scale_factor, o.mode
  self.align_corners, self.recompute_scale_factor = o.align_corners, o.recompute_scale_factor
end
function Upsample:forward(x)
  return F.interpolate(x, {size = self.size, scale_factor = self.scale_factor, mode = self.mode,
                           align_corners = self.align_corners,
                           recompute_scale_factor = self.recompute_scale_factor})
end
function Upsample:extra_repr()
  local fields = {}
  if self.scale_factor ~= nil then
    fields[1] = {"scale_factor", self.scale_factor}
  else
    fields[1] = {"size", self.size}
  end
  fields[2] = {"mode", self.mode, quote = true}
  return L.repr(fields)
end
M.Upsample = Upsample

local window_args = L.args("Unfold", {"dilation", "padding", "stride"},
                           {dilation = 1, padding = 0, stride = 1})

--- Unfold(kernel_size[, dilation = 1, padding = 0, stride = 1]) and
-- Fold(output_size, kernel_size[, ...]): F.unfold and F.fold.
local Unfold = nn.Module:extend("Unfold")
function Unfold:init(kernel_size, ...)
  self.kernel_size, self.options = kernel_size, window_args(...)
end
function Unfold:forward(x) return F.unfold(x, self.kernel_size, self.options) end
M.Unfold = Unfold

local Fold = nn.Module:extend("Fold")
function Fold:init(output_size, kernel_size, ...)
  self.output_size, self.kernel_size, self.options = output_size, kernel_size, window_args(...)
end
function Fold:forward(x) return F.fold(x, self.output_size, self.kernel_size, self.options) end
M.Fold = Fold

return M
