--- luagrad.nn.layers.loss: the loss modules, each holding its options and
-- calling the function of the same name in nn.functional; forward(input,
-- target). Class weights (and BCEWithLogitsLoss's pos_weight) are buffers,
-- as in PyTorch.
-- @module nn
local lg = require "luagrad"
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

-- A loss class: options are PyTorch's keyword arguments (names, defaults);
-- tensor-valued options (buffers) may also come first, positionally.
local function loss_class(name, fn, names, defaults, buffers)
  local all = {}
  for _, b in ipairs(buffers or {}) do all[#all + 1] = b end
  for _, n in ipairs(names) do all[#all + 1] = n end
  local args = L.args(name, all, defaults)
  local Loss = nn.Module:extend(name)
  function Loss:init(...)
    local o = args(...)
    for _, n in ipairs(names) do self[n] = o[n] end
    for _, b in ipairs(buffers or {}) do
      if o[b] ~= nil then
        if not lg.is_tensor(o[b]) then
          L.raise(string.format("%s: expected %s as a tensor, got %s", name, b, L.typename(o[b])))
        end
        self:register_buffer(b, o[b])
      end
    end
  end
  function Loss:forward(input, target)
    local o = {}
    for _, n in ipairs(names) do o[n] = self[n] end
    for _, b in ipairs(buffers or {}) do
      if b ~= "weight" then o[b] = self[b] end
    end
    if buffers and buffers[1] == "weight" then return fn(input, target, self.weight, o) end
    return fn(input, target, o)
  end
  function Loss:extra_repr()
    if self.reduction ~= "mean" then return L.repr({{"reduction", self.reduction, quote = true}}) end
    return ""
  end
  return Loss
end

local R = {reduction = "mean"}

--- MSELoss([{reduction = "mean"}]): mean squared error; forward(input,
-- target). reduction is "mean", "sum" or "none" (options table or
-- positional, as PyTorch's keyword arguments).
-- @function MSELoss
-- @usage local loss = nn.MSELoss()(pred, target)

--- L1Loss([{reduction = "mean"}]): mean absolute error; forward(input, target).
-- @function L1Loss
-- @usage nn.L1Loss{reduction = "sum"}(pred, target)

--- SmoothL1Loss([{reduction = "mean", beta = 1}]): quadratic below beta,
-- linear above; forward(input, target).
-- @function SmoothL1Loss
-- @usage nn.SmoothL1Loss{beta = 0.5}(pred, target)

--- HuberLoss([{reduction = "mean", delta = 1}]): Huber loss (SmoothL1Loss
-- times delta); forward(input, target).
-- @function HuberLoss
-- @usage nn.HuberLoss{delta = 2}(pred, target)

--- KLDivLoss([{reduction = "mean", log_target = false}]): KL divergence with
-- input given as log-probabilities; forward(input, target). As PyTorch,
-- reduction "mean" averages over all elements ("batchmean" divides by the
-- batch size).
-- @function KLDivLoss
-- @usage nn.KLDivLoss{reduction = "batchmean"}(log_probs, probs)

M.MSELoss = loss_class("MSELoss", F.mse_loss, {"reduction"}, R)
M.L1Loss = loss_class("L1Loss", F.l1_loss, {"reduction"}, R)
M.SmoothL1Loss = loss_class("SmoothL1Loss", F.smooth_l1_loss, {"reduction", "beta"},
                            {reduction = "mean", beta = 1.0})
M.HuberLoss = loss_class("HuberLoss", F.huber_loss, {"reduction", "delta"},
                         {reduction = "mean", delta = 1.0})
M.KLDivLoss = loss_class("KLDivLoss", F.kl_div, {"reduction", "log_target"},
                         {reduction = "mean", log_target = false})

--- CrossEntropyLoss([weight, {ignore_index = -100, reduction = "mean",
-- label_smoothing = 0}]): cross entropy of logits (N, C) or (N, C, d...)
-- against 1-based class indices (int64) or class probabilities; weight (C)
-- is a buffer. Unlike PyTorch, targets are 1-based.
-- @function CrossEntropyLoss
-- @usage nn.CrossEntropyLoss()(logits, lg.tensor({1, 3}))

--- NLLLoss([weight, {ignore_index = -100, reduction = "mean"}]): negative
-- log-likelihood of log-probabilities (N, C) against 1-based class indices.
-- @function NLLLoss
-- @usage nn.NLLLoss()(log_probs, targets)

M.CrossEntropyLoss = loss_class("CrossEntropyLoss", F.cross_entropy,
  {"ignore_index", "reduction", "label_smoothing"},
  {ignore_index = -100, reduction = "mean", label_smoothing = 0.0}, {"weight"})
M.NLLLoss = loss_class("NLLLoss", F.nll_loss, {"ignore_index", "reduction"},
                       {ignore_index = -100, reduction = "mean"}, {"weight"})

--- BCELoss([weight, {reduction = "mean"}]): binary cross entropy of
-- probabilities in [0, 1]; weight rescales each element (a buffer).
-- @function BCELoss
-- @usage nn.BCELoss()(lg.sigmoid(z), target)

--- BCEWithLogitsLoss([weight, {reduction = "mean", pos_weight}]): binary
-- cross entropy of logits, computed stably (log-sum-exp); pos_weight
-- weighs the positive term per class (a buffer).
-- @function BCEWithLogitsLoss
-- @usage nn.BCEWithLogitsLoss()(z, target)

M.BCELoss = loss_class("BCELoss", F.binary_cross_entropy, {"reduction"}, R, {"weight"})
M.BCEWithLogitsLoss = loss_class("BCEWithLogitsLoss", F.binary_cross_entropy_with_logits,
                                 {"reduction"}, R, {"weight", "pos_weight"})

return M
