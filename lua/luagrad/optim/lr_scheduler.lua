--- luagrad.optim.lr_scheduler: the learning-rate schedulers of an optimizer's
-- param groups (StepLR, CosineAnnealingLR, LambdaLR, OneCycleLR), with
-- PyTorch's formulas, state dicts and step counting; reached as
-- optim.lr_scheduler.
-- @module optim.lr_scheduler
local check = require "luagrad.check"
local raise, describe, copy_value = check.raise, check.describe, check.copy_value

local function is_number(v) return type(v) == "number" and v == v end

local Scheduler = {}
Scheduler.__index = Scheduler

local function check_optimizer(name, opt)
  if check.typename(opt) ~= "optimizer" then
    raise(("%s: expected an optimizer as argument 1, got %s"):format(name, describe(opt)))
  end
end

-- A scheduler of class (a table whose get_lr computes the next lrs): sets
-- each group's initial_lr, then takes the first step (epoch 0).
local function start_scheduler(self)
  for _, group in ipairs(self.optimizer.param_groups) do
    if group.initial_lr == nil then group.initial_lr = group.lr end
  end
  self.base_lrs = {}
  for i, group in ipairs(self.optimizer.param_groups) do self.base_lrs[i] = group.initial_lr end
  self.last_epoch = -1
  self._step_count = 0
  self:step()
  return self
end

local function scheduler_class(name)
  local class = setmetatable({name = name}, {__index = Scheduler})
  class.__index = class
  return class
end

--- sched:step() advances one epoch and writes the new lr into every group.
function Scheduler:step()
  self._step_count = self._step_count + 1
  self.last_epoch = self.last_epoch + 1
  local lrs = self:get_lr()
  self._last_lr = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    group.lr = lrs[i]
    self._last_lr[i] = lrs[i]
  end
end

--- sched:get_last_lr() returns the lr of each group after the last step.
function Scheduler:get_last_lr()
  return copy_value(self._last_lr)
end

--- sched:state_dict() returns the scheduler's numbers (not the optimizer,
--- not functions); load_state_dict restores them.
function Scheduler:state_dict()
  local out = {}
  for k, v in pairs(self) do
    if k ~= "optimizer" and type(v) ~= "function" and not (type(v) == "table" and k == "lr_lambdas") then
      out[k] = copy_value(v)
    end
  end
  return out
end

function Scheduler:load_state_dict(sd)
  if type(sd) ~= "table" then
    raise(("%s.load_state_dict: expected a table, got %s"):format(self.name, describe(sd)))
  end
  for k, v in pairs(sd) do self[k] = copy_value(v) end
end

-- The current lr of every group.
local function current_lrs(self)
  local lrs = {}
  for i, group in ipairs(self.optimizer.param_groups) do lrs[i] = group.lr end
  return lrs
end

-- A number option given bare at idx or as field key of an options table.
local function number_arg(name, value, key, default, test, what)
  if type(value) == "table" then value = value[key] end
  if value == nil then value = default end
  if not (is_number(value) and (test == nil or test(value))) then
    raise(("%s: expected %s to be %s, got %s"):format(name, key, what or "a number", describe(value)))
  end
  return value
end

local function positive_integer(v) return math.type(v) == "integer" and v > 0
  or (is_number(v) and v > 0 and v == math.floor(v)) end

local lr_scheduler = {}

local StepLR = scheduler_class("StepLR")

--- StepLR(opt, step_size, [gamma = 0.1 | {gamma =}]) (or one table
--- {step_size =, gamma =}): lr *= gamma every step_size epochs.
-- @usage optim.lr_scheduler.StepLR(opt, 30, 0.1)
function lr_scheduler.StepLR(opt, step_size, gamma)
  check_optimizer("StepLR", opt)
  if type(step_size) == "table" and gamma == nil then gamma = step_size end
  local self = setmetatable({optimizer = opt}, StepLR)
  self.step_size = number_arg("StepLR", step_size, "step_size", nil, positive_integer,
                              "a positive integer")
  self.gamma = number_arg("StepLR", gamma, "gamma", 0.1)
  return start_scheduler(self)
end

function StepLR:get_lr()
  local lrs = current_lrs(self)
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return lrs end
  for i = 1, #lrs do lrs[i] = lrs[i] * self.gamma end
  return lrs
end

local Cosine = scheduler_class("CosineAnnealingLR")

--- CosineAnnealingLR(opt, T_max, [eta_min = 0 | {eta_min =}]) (or one
--- table {T_max =, eta_min =}): cosine
--- from the initial lr down to eta_min over T_max epochs (then back up),
--- in PyTorch's recursive form.
-- @usage local sched = optim.lr_scheduler.CosineAnnealingLR(opt, 100); sched:step()
function lr_scheduler.CosineAnnealingLR(opt, T_max, eta_min)
  check_optimizer("CosineAnnealingLR", opt)
  if type(T_max) == "table" and eta_min == nil then eta_min = T_max end
  local self = setmetatable({optimizer = opt}, Cosine)
  self.T_max = number_arg("CosineAnnealingLR", T_max, "T_max", nil,
                          function(v) return v > 0 end, "a positive number")
  self.eta_min = number_arg("CosineAnnealingLR", eta_min, "eta_min", 0)
  return start_scheduler(self)
end

function Cosine:get_lr()
  local lrs, e, T, eta_min = current_lrs(self), self.last_epoch, self.T_max, self.eta_min
  if e == 0 then return lrs end
  for i, lr in ipairs(lrs) do
    if (e - 1 - T) % (2 * T) == 0 then
      lrs[i] = lr + (self.base_lrs[i] - eta_min) * (1 - math.cos(math.pi / T)) / 2
    else
      lrs[i] = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        * (lr - eta_min) + eta_min
    end
  end
  return lrs
end

local Lambda = scheduler_class("LambdaLR")

--- LambdaLR(opt, lr_lambda): lr = initial_lr * lr_lambda(epoch); lr_lambda
--- is a function or an array of one function per group.
-- @usage optim.lr_scheduler.LambdaLR(opt, function(epoch) return 0.95 ^ epoch end)
function lr_scheduler.LambdaLR(opt, lr_lambda)
  check_optimizer("LambdaLR", opt)
  local n = #opt.param_groups
  local lambdas = {}
  if type(lr_lambda) == "function" then
    for i = 1, n do lambdas[i] = lr_lambda end
  elseif type(lr_lambda) == "table" and #lr_lambda == n then
    for i = 1, n do
      if type(lr_lambda[i]) ~= "function" then
        raise(("LambdaLR: expected lr_lambda[%d] to be a function, got %s"):format(i, describe(lr_lambda[i])))
      end
      lambdas[i] = lr_lambda[i]
    end
  else
    raise(("LambdaLR: expected lr_lambda to be a function or an array of %d functions (one per group), got %s"):format(
      n, check.typename(lr_lambda) == "table" and ("%d entries"):format(#lr_lambda) or describe(lr_lambda)))
  end
  return start_scheduler(setmetatable({optimizer = opt, lr_lambdas = lambdas}, Lambda))
end

function Lambda:get_lr()
  local lrs = {}
  for i, base in ipairs(self.base_lrs) do lrs[i] = base * self.lr_lambdas[i](self.last_epoch) end
  return lrs
end

local OneCycle = scheduler_class("OneCycleLR")
local ONE_CYCLE_OPTIONS = check.set{"total_steps", "epochs", "steps_per_epoch", "pct_start",
  "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum", "div_factor",
  "final_div_factor", "three_phase"}

-- A value per group: a number for all, or an array of one per group.
local function per_group(name, key, value, n)
  if type(value) == "table" then
    if #value ~= n then
      raise(("OneCycleLR: expected %d values for %s (one per group), got %d"):format(n, key, #value))
    end
    for i = 1, n do
      if not is_number(value[i]) then
        raise(("OneCycleLR: expected %s[%d] to be a number, got %s"):format(key, i, describe(value[i])))
      end
    end
    return value
  end
  if not is_number(value) then
    raise(("%s: expected %s to be a number or an array of numbers, got %s"):format(name, key, describe(value)))
  end
  local out = {}
  for i = 1, n do out[i] = value end
  return out
end

--- OneCycleLR(opt, max_lr, [total_steps,] {total_steps | epochs and
--- steps_per_epoch, pct_start = 0.3, anneal_strategy = "cos" | "linear",
--- cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95,
--- div_factor = 25, final_div_factor = 1e4, three_phase = false}): the
--- 1cycle policy; also cycles momentum (SGD) or betas[1] (Adam).
-- @usage optim.lr_scheduler.OneCycleLR(opt, 0.1, 1000)
function lr_scheduler.OneCycleLR(opt, max_lr, total_steps, opts)
  local name = "OneCycleLR"
  check_optimizer(name, opt)
  if type(total_steps) == "table" and opts == nil then total_steps, opts = nil, total_steps end
  opts = check.options(name, opts, ONE_CYCLE_OPTIONS)
  local self = setmetatable({optimizer = opt}, OneCycle)
  total_steps = total_steps or opts.total_steps
  if total_steps ~= nil then
    self.total_steps = number_arg(name, total_steps, "total_steps", nil, positive_integer, "a positive integer")
  elseif opts.epochs ~= nil or opts.steps_per_epoch ~= nil then
    local epochs = number_arg(name, opts.epochs, "epochs", nil, positive_integer, "a positive integer")
    local steps = number_arg(name, opts.steps_per_epoch, "steps_per_epoch", nil, positive_integer,
                             "a positive integer")
    self.total_steps = epochs * steps
  else
    raise(name .. ": expected total_steps, or epochs and steps_per_epoch")
  end
  local pct = number_arg(name, opts.pct_start, "pct_start", 0.3,
                         function(v) return v >= 0 and v <= 1 end, "a number in [0, 1]")
  local strategy = opts.anneal_strategy or "cos"
  if strategy ~= "cos" and strategy ~= "linear" then
    raise(("%s: expected anneal_strategy to be \"cos\" or \"linear\", got %s"):format(name, describe(strategy)))
  end
  self.anneal_strategy = strategy
  local div = number_arg(name, opts.div_factor, "div_factor", 25.0)
  local final_div = number_arg(name, opts.final_div_factor, "final_div_factor", 1e4)
  local total = self.total_steps
  if opts.three_phase then
    self.phases = {
      {end_step = pct * total - 1, start_lr = "initial_lr", end_lr = "max_lr",
       start_momentum = "max_momentum", end_momentum = "base_momentum"},
      {end_step = 2 * pct * total - 2, start_lr = "max_lr", end_lr = "initial_lr",
       start_momentum = "base_momentum", end_momentum = "max_momentum"},
      {end_step = total - 1, start_lr = "initial_lr", end_lr = "min_lr",
       start_momentum = "max_momentum", end_momentum = "max_momentum"},
    }
  else
    self.phases = {
      {end_step = pct * total - 1, start_lr = "initial_lr", end_lr = "max_lr",
       start_momentum = "max_momentum", end_momentum = "base_momentum"},
      {end_step = total - 1, start_lr = "max_lr", end_lr = "min_lr",
       start_momentum = "base_momentum", end_momentum = "max_momentum"},
    }
  end
  local groups = opt.param_groups
  local max_lrs = per_group(name, "max_lr", max_lr, #groups)
  for i, group in ipairs(groups) do
    group.initial_lr = max_lrs[i] / div
    group.max_lr = max_lrs[i]
    group.min_lr = group.initial_lr / final_div
  end
  self.cycle_momentum = opts.cycle_momentum ~= false
  if self.cycle_momentum then
    if opt.defaults.momentum == nil and opt.defaults.betas == nil then
      raise(("%s: the optimizer must support momentum (momentum or betas) with cycle_momentum on"):format(name))
    end
    self.use_beta1 = opt.defaults.betas ~= nil
    local max_m = per_group(name, "max_momentum", opts.max_momentum or 0.95, #groups)
    local base_m = per_group(name, "base_momentum", opts.base_momentum or 0.85, #groups)
    for i, group in ipairs(groups) do
      self:_set_momentum(group, max_m[i])
      group.max_momentum = max_m[i]
      group.base_momentum = base_m[i]
    end
  end
  return start_scheduler(self)
end

function OneCycle:_set_momentum(group, m)
  if self.use_beta1 then group.betas = {m, group.betas[2]} else group.momentum = m end
end

function OneCycle:_anneal(from, to, pct)
  if self.anneal_strategy == "cos" then return to + (from - to) / 2.0 * (math.cos(math.pi * pct) + 1) end
  return (to - from) * pct + from
end

function OneCycle:get_lr()
  local step = self.last_epoch
  if step > self.total_steps then
    raise(("OneCycleLR: tried to step %d times; total_steps is %d"):format(step + 1, self.total_steps))
  end
  local lrs = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    local start = 0
    for k, phase in ipairs(self.phases) do
      if step <= phase.end_step or k == #self.phases then
        local pct = (step - start) / (phase.end_step - start)
        lrs[i] = self:_anneal(group[phase.start_lr], group[phase.end_lr], pct)
        if self.cycle_momentum then
          self:_set_momentum(group, self:_anneal(group[phase.start_momentum], group[phase.end_momentum], pct))
        end
        break
      end
      start = phase.end_step
    end
  end
  return lrs
end

return lr_scheduler
