--- luagrad.nn.layers.normalization: BatchNorm1d, BatchNorm2d, LayerNorm and
-- GroupNorm. BatchNorm keeps running_mean, running_var and
-- num_batches_tracked as buffers, updated in place by the kernel in train
-- mode and used instead of the batch statistics in eval mode.
-- @module nn
local lg = require "luagrad"
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

local function batch_norm_class(name, dims, layout)
  local BatchNorm = nn.Module:extend(name)
  local bn_args = L.args(name,
    {"eps", "momentum", "affine", "track_running_stats", "dtype"},
    {eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true})
  --- BatchNorm1d / BatchNorm2d(num_features[, eps = 1e-5, momentum = 0.1,
  --- affine = true, track_running_stats = true]); momentum = false (PyTorch's
  --- None) gives the cumulative average 1/num_batches_tracked.
  function BatchNorm:init(num_features, ...)
    L.sizes(name, {"num_features"}, num_features)
    local o = bn_args(...)
    local opts = {dtype = o.dtype or "float32"}
    self.num_features, self.eps, self.momentum = num_features, o.eps, o.momentum
    self.affine, self.track_running_stats = o.affine, o.track_running_stats
    if o.affine then
      self.weight = nn.Parameter(lg.ones(num_features, opts))
      self.bias = nn.Parameter(lg.zeros(num_features, opts))
    end
    if o.track_running_stats then
      self:register_buffer("running_mean", lg.zeros(num_features, opts))
      self:register_buffer("running_var", lg.ones(num_features, opts))
      self:register_buffer("num_batches_tracked", lg.tensor(0, {dtype = "int64"}))
    end
  end

  function BatchNorm:forward(x)
    if not lg.is_tensor(x) then
      L.raise(string.format("%s: expected a tensor as input, got %s", name, L.typename(x)))
    end
    if not dims[x:dim()] then
      L.raise(string.format("%s: expected %s input, got %d-D", name, layout, x:dim()))
    end
    local factor = self.momentum or 0
    if self.training and self.track_running_stats and self.num_batches_tracked then
      self.num_batches_tracked:add_(1)
      if not self.momentum then factor = 1 / self.num_batches_tracked:item() end
    end
    local use_batch = self.training or (self.running_mean == nil and self.running_var == nil)
    local track = not self.training or self.track_running_stats
    return F.batch_norm(x, track and self.running_mean or nil, track and self.running_var or nil,
                        self.weight, self.bias, use_batch, factor, self.eps)
  end

  function BatchNorm:extra_repr()
    return L.repr({{"", self.num_features}, {"eps", self.eps},
                   {"momentum", self.momentum or "nil"}, {"affine", self.affine},
                   {"track_running_stats", self.track_running_stats}})
  end
  return BatchNorm
end

--- BatchNorm1d(num_features[, {eps = 1e-5, momentum = 0.1, affine = true,
-- track_running_stats = true}]): batch normalisation of (N, C) or (N, C, L)
-- inputs over the batch; running_mean/var are buffers used in eval mode.
-- @function BatchNorm1d
-- @usage local bn = nn.BatchNorm1d(16); y = bn(lg.randn(8, 16))

--- BatchNorm2d(num_features[, {eps = 1e-5, momentum = 0.1, affine = true,
-- track_running_stats = true}]): batch normalisation of (N, C, H, W)
-- inputs per channel.
-- @function BatchNorm2d
-- @usage nn.BatchNorm2d(3)(lg.randn(2, 3, 8, 8))

M.BatchNorm1d = batch_norm_class("BatchNorm1d", {[2] = true, [3] = true}, "a 2-D (N,C) or 3-D (N,C,L)")
M.BatchNorm2d = batch_norm_class("BatchNorm2d", {[4] = true}, "a 4-D (N,C,H,W)")

local ln_args = L.args("LayerNorm", {"eps", "elementwise_affine", "dtype"},
                       {eps = 1e-5, elementwise_affine = true})

--- LayerNorm(normalized_shape[, eps = 1e-5, elementwise_affine = true]):
--- normalized_shape an integer or a table; weight ones, bias zeros.
-- @usage nn.LayerNorm(64)(lg.randn(8, 64))
local LayerNorm = nn.Module:extend("LayerNorm")
function LayerNorm:init(normalized_shape, ...)
  local o = ln_args(...)
  if type(normalized_shape) == "number" then normalized_shape = {normalized_shape} end
  self.normalized_shape, self.eps = normalized_shape, o.eps
  self.elementwise_affine = o.elementwise_affine
  if o.elementwise_affine then
    local opts = {dtype = o.dtype or "float32"}
    self.weight = nn.Parameter(lg.ones(normalized_shape, opts))
    self.bias = nn.Parameter(lg.zeros(normalized_shape, opts))
  end
end
function LayerNorm:forward(x)
  return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
end
function LayerNorm:extra_repr()
  return L.repr({{"", self.normalized_shape}, {"eps", self.eps},
                 {"elementwise_affine", self.elementwise_affine}})
end
M.LayerNorm = LayerNorm

local gn_args = L.args("GroupNorm", {"eps", "affine", "dtype"}, {eps = 1e-5, affine = true})

--- GroupNorm(num_groups, num_channels[, eps = 1e-5, affine = true]).
-- @usage nn.GroupNorm(4, 16)(lg.randn(2, 16, 8, 8))
local GroupNorm = nn.Module:extend("GroupNorm")
function GroupNorm:init(num_groups, num_channels, ...)
  L.sizes("GroupNorm", {"num_groups", "num_channels"}, num_groups, num_channels)
  local o = gn_args(...)
  if num_channels % num_groups ~= 0 then
    L.raise(string.format("GroupNorm: num_channels (%d) must be divisible by num_groups (%d)",
                          num_channels, num_groups))
  end
  self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, o.eps, o.affine
  if o.affine then
    local opts = {dtype = o.dtype or "float32"}
    self.weight = nn.Parameter(lg.ones(num_channels, opts))
    self.bias = nn.Parameter(lg.zeros(num_channels, opts))
  end
end
function GroupNorm:forward(x)
  return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
end
function GroupNorm:extra_repr()
  return L.repr({{"", self.num_groups}, {"", self.num_channels},
                 {"eps", self.eps}, {"affine", self.affine}})
end
M.GroupNorm = GroupNorm

return M
