-- luagrad.optim: optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) with
-- PyTorch's defaults and update rules, param groups and state dicts; the lr
-- schedulers; and the pure form optim.fn for func.grad loops.
--
-- Each optimizer is one table of rules (its options with their defaults and
-- checks, its state, and one fused C update per parameter, lg._*_step);
-- the stateful classes and the pure optim.fn transforms both drive those
-- same rules, so the two forms cannot compute different numbers.
local lg = require "luagrad"
local tree = require("luagrad.func").tree
local raise = require("luagrad.check").raise

local optim = {}

local function describe(value)
  if lg.is_tensor(value) then return "a tensor" end
  if type(value) == "number" or type(value) == "boolean" then return tostring(value) end
  if type(value) == "string" then return ("%q"):format(value) end
  return type(value)
end

-- The type of a value, for "expected a tensor, got ..." messages.
local function kind_of(value)
  if lg.is_tensor(value) then return "a tensor" end
  return type(value)
end

---------------------------------------------------------------------------
-- option checks shared by every optimizer

local function is_number(v) return type(v) == "number" and v == v end

local kinds = {
  nonnegative = {what = "a non-negative number", test = function(v) return is_number(v) and v >= 0 end},
  number = {what = "a number", test = is_number},
  boolean = {what = "a boolean", test = function(v) return type(v) == "boolean" end},
  betas = {what = "a pair of numbers in [0, 1)", test = function(v)
    if type(v) ~= "table" or #v ~= 2 then return false end
    for i = 1, 2 do
      if not (is_number(v[i]) and v[i] >= 0 and v[i] < 1) then return false end
    end
    return true
  end},
}

-- Validates the options of one group (defaults already filled in).
local function check_options(name, rules, group)
  for _, option in ipairs(rules.options) do
    local key, kind = option[1], kinds[option[3]]
    local value = group[key]
    if not kind.test(value) then
      if option[3] == "betas" and type(value) == "table" and #value == 2 then
        for i = 1, 2 do
          local b = value[i]
          if not (is_number(b) and b >= 0 and b < 1) then
            raise(("%s: expected betas[%d] to be a number in [0, 1), got %s"):format(
              name, i, describe(b)))
          end
        end
      end
      raise(("%s: expected %s to be %s, got %s"):format(name, key, kind.what, describe(value)))
    end
  end
  if rules.check then
    local problem = rules.check(group)
    if problem then raise(name .. ": " .. problem) end
  end
end

-- Copies a plain option value (betas tables included).
local function copy_value(v)
  if type(v) ~= "table" or lg.is_tensor(v) then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy_value(x) end
  return out
end

-- The defaults of an optimizer overridden by opts; unknown keys are errors.
local function merge_defaults(name, rules, opts)
  if opts ~= nil and type(opts) ~= "table" then
    raise(("%s: expected an options table, got %s"):format(name, describe(opts)))
  end
  local known, merged = {}, {}
  for _, option in ipairs(rules.options) do
    known[option[1]] = true
    merged[option[1]] = copy_value(option[2])
  end
  for k, v in pairs(opts or {}) do
    if not known[k] then
      local names = {}
      for _, option in ipairs(rules.options) do names[#names + 1] = option[1] end
      raise(("%s: unknown option %s (expected one of %s)"):format(
        name, describe(k), table.concat(names, ", ")))
    end
    merged[k] = copy_value(v)
  end
  check_options(name, rules, merged)
  return merged
end

---------------------------------------------------------------------------
-- the optimizers' rules
--
-- options: {name, default, kind}. init(p, group) makes a parameter's state;
-- update(p, grad, state, group) runs the fused C step (state.step already
-- counts this step when counts_steps). Buffers are created on first need,
-- so options that change between steps (amsgrad, momentum) keep working.

local function zeros_like(p) return lg.zeros_like(p) end

-- state[key], created as zeros when missing.
local function buffer(p, state, key)
  local b = state[key]
  if b == nil then
    b = zeros_like(p)
    state[key] = b
  end
  return b
end

local SGD = {
  options = {
    {"lr", 1e-3, "nonnegative"}, {"momentum", 0, "nonnegative"},
    {"dampening", 0, "number"}, {"weight_decay", 0, "nonnegative"},
    {"nesterov", false, "boolean"}, {"maximize", false, "boolean"},
  },
  check = function(g)
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      return "nesterov momentum requires a momentum and zero dampening"
    end
  end,
  init = function() return {} end,
  update = function(p, grad, state, g)
    local buf, first = nil, false
    if g.momentum ~= 0 then
      buf = state.momentum_buffer
      if buf == nil then
        buf = lg.empty_like(p)
        state.momentum_buffer = buf
        first = true
      end
    end
    lg._sgd_step(p, grad, buf, g.lr, g.momentum, g.dampening, g.weight_decay,
                 g.nesterov, g.maximize, first)
  end,
}

local function adam_rules(weight_decay, decoupled)
  return {
    options = {
      {"lr", 1e-3, "nonnegative"}, {"betas", {0.9, 0.999}, "betas"},
      {"eps", 1e-8, "nonnegative"}, {"weight_decay", weight_decay, "nonnegative"},
      {"amsgrad", false, "boolean"}, {"maximize", false, "boolean"},
    },
    counts_steps = true,
    init = function(p, g)
      return {exp_avg = zeros_like(p), exp_avg_sq = zeros_like(p),
              max_exp_avg_sq = g.amsgrad and zeros_like(p) or nil}
    end,
    update = function(p, grad, state, g)
      local max_sq = g.amsgrad and buffer(p, state, "max_exp_avg_sq") or nil
      lg._adam_step(p, grad, buffer(p, state, "exp_avg"), buffer(p, state, "exp_avg_sq"),
                    max_sq, state.step, g.lr, g.betas[1], g.betas[2], g.eps,
                    g.weight_decay, g.amsgrad, g.maximize, decoupled)
    end,
  }
end

local RMSprop = {
  options = {
    {"lr", 1e-2, "nonnegative"}, {"alpha", 0.99, "nonnegative"},
    {"eps", 1e-8, "nonnegative"}, {"weight_decay", 0, "nonnegative"},
    {"momentum", 0, "nonnegative"}, {"centered", false, "boolean"},
    {"maximize", false, "boolean"},
  },
  counts_steps = true,
  init = function(p, g)
    return {square_avg = zeros_like(p),
            momentum_buffer = g.momentum > 0 and zeros_like(p) or nil,
            grad_avg = g.centered and zeros_like(p) or nil}
  end,
  update = function(p, grad, state, g)
    lg._rmsprop_step(p, grad, buffer(p, state, "square_avg"),
                     g.centered and buffer(p, state, "grad_avg") or nil,
                     g.momentum > 0 and buffer(p, state, "momentum_buffer") or nil,
                     g.lr, g.alpha, g.eps, g.weight_decay, g.momentum, g.centered,
                     g.maximize)
  end,
}

local Adagrad = {
  options = {
    {"lr", 1e-2, "nonnegative"}, {"lr_decay", 0, "nonnegative"},
    {"weight_decay", 0, "nonnegative"}, {"initial_accumulator_value", 0, "nonnegative"},
    {"eps", 1e-10, "nonnegative"}, {"maximize", false, "boolean"},
  },
  counts_steps = true,
  eager_state = true, -- PyTorch fills the accumulator at construction
  init = function(p, g)
    return {sum = lg.full_like(p, g.initial_accumulator_value)}
  end,
  update = function(p, grad, state, g)
    lg._adagrad_step(p, grad, state.sum, state.step, g.lr, g.lr_decay,
                     g.weight_decay, g.eps, g.maximize)
  end,
}

local rules_of = {
  SGD = SGD, Adam = adam_rules(0, false), AdamW = adam_rules(1e-2, true),
  RMSprop = RMSprop, Adagrad = Adagrad,
}

-- A parameter's fresh state (with its step count when the rules count).
local function new_state(rules, p, group)
  local state = rules.init(p, group)
  if rules.counts_steps then state.step = 0 end
  return state
end

-- One update of p in place: counts the step, then runs the C kernel.
local function apply_update(rules, p, grad, state, group)
  if rules.counts_steps then state.step = state.step + 1 end
  rules.update(p, grad, state, group)
end

---------------------------------------------------------------------------
-- the stateful optimizers

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer

local function check_param(name, p, where)
  if not lg.is_tensor(p) then
    raise(("%s: expected params to hold tensors, got %s at %s"):format(name, kind_of(p), where))
  end
  if p.dtype ~= "float32" and p.dtype ~= "float64" then
    raise(("%s: expected floating point parameters, got %s at %s"):format(name, p.dtype, where))
  end
  if not p.is_leaf then
    raise(("%s: can't optimize a non-leaf tensor (at %s); use a leaf, e.g. t:detach():requires_grad_()"):format(
      name, where))
  end
end

--- opt:add_param_group(group): group is {params = {...}, <options>}; the
--- optimizer's defaults fill the options it leaves out.
function Optimizer:add_param_group(group)
  local name = self.name
  if type(group) ~= "table" or lg.is_tensor(group) then
    raise(("%s: expected a parameter group {params = {...}, ...}, got %s"):format(name, describe(group)))
  end
  local params = group.params
  if lg.is_tensor(params) then params = {params} end
  if type(params) ~= "table" then
    raise(("%s: expected a params field (an array of tensors) in parameter group %d, got %s"):format(
      name, #self.param_groups + 1, describe(params)))
  end
  local new = {params = {}}
  for k, v in pairs(group) do
    if k ~= "params" then new[k] = copy_value(v) end
  end
  for k, v in pairs(self.defaults) do
    if new[k] == nil then new[k] = copy_value(v) end
  end
  check_options(name, self.rules, new)
  local index = #self.param_groups + 1
  for i, p in ipairs(params) do
    local where = ("params[%d] of group %d"):format(i, index)
    check_param(name, p, where)
    if self._group_of[p] then
      raise(("%s: some parameters appear in more than one parameter group (%s)"):format(name, where))
    end
    self._group_of[p] = index
    new.params[i] = p
  end
  self.param_groups[index] = new
  if self.rules.eager_state then
    for _, p in ipairs(new.params) do self.state[p] = new_state(self.rules, p, new) end
  end
end

local function new_optimizer(name, params, opts)
  local rules = rules_of[name]
  local self = setmetatable({name = name, rules = rules, state = {}, param_groups = {},
                             _group_of = {}}, Optimizer)
  self.defaults = merge_defaults(name, rules, opts)
  if type(params) ~= "table" or lg.is_tensor(params) then
    raise(("%s: expected params to be an array of tensors or of parameter groups, got %s"):format(
      name, kind_of(params)))
  end
  if params[1] == nil then raise(name .. ": got an empty parameter list") end
  if lg.is_tensor(params[1]) then
    self:add_param_group({params = params})
  else
    for i, group in ipairs(params) do
      if type(group) ~= "table" or lg.is_tensor(group) then
        raise(("%s: expected params to be an array of tensors or of parameter groups, got %s at %d"):format(
          name, kind_of(group), i))
      end
      self:add_param_group(group)
    end
  end
  return self
end

function Optimizer:__tostring()
  local lines = {self.name .. " ("}
  for i, group in ipairs(self.param_groups) do
    lines[#lines + 1] = ("Parameter Group %d"):format(i)
    local keys = {}
    for k in pairs(group) do if k ~= "params" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = group[k]
      if type(v) == "table" then
        local parts = {}
        for j, x in ipairs(v) do parts[j] = tostring(x) end
        v = "{" .. table.concat(parts, ", ") .. "}"
      end
      lines[#lines + 1] = ("    %s: %s"):format(k, tostring(v))
    end
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

--- opt:step([closure]) updates every parameter that has a .grad, without
--- recording for autograd. closure (optional) re-evaluates the loss under
--- enable_grad first; its result is returned.
function Optimizer:step(closure)
  local loss
  if closure ~= nil then loss = lg.enable_grad(closure) end
  local _ <close> = lg.no_grad()
  local rules = self.rules
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      local grad = p.grad
      if grad ~= nil then
        local state = self.state[p]
        if state == nil then
          state = new_state(rules, p, group)
          self.state[p] = state
        end
        apply_update(rules, p, grad, state, group)
      end
    end
  end
  return loss
end

--- opt:zero_grad([set_to_none = true]) drops every parameter's .grad (or
--- zeroes it in place when set_to_none is false).
function Optimizer:zero_grad(set_to_none)
  local _ <close> = lg.no_grad()
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      if set_to_none == false then
        local grad = p.grad
        if grad ~= nil then grad:zero_() end
      else
        p.grad = nil
      end
    end
  end
end

-- A deep copy of a state entry with every tensor cloned (cast to dtype).
local function clone_state(state, dtype)
  local out = {}
  for k, v in pairs(state) do
    if lg.is_tensor(v) then
      v = v:detach()
      if dtype and v.dtype ~= dtype then v = v:to(dtype) end
      out[k] = v:clone()
    else
      out[k] = copy_value(v)
    end
  end
  return out
end

--- opt:state_dict() returns {state = {[index] = {step =, exp_avg =, ...}},
--- param_groups = {{lr =, ..., params = {indices}}}}, PyTorch's structure
--- with 1-based parameter indices (counted across groups in order) and
--- cloned tensors.
function Optimizer:state_dict()
  local _ <close> = lg.no_grad()
  local groups, state, index = {}, {}, 0
  for g, group in ipairs(self.param_groups) do
    local packed = {params = {}}
    for k, v in pairs(group) do
      if k ~= "params" then packed[k] = copy_value(v) end
    end
    for i, p in ipairs(group.params) do
      index = index + 1
      packed.params[i] = index
      if self.state[p] then state[index] = clone_state(self.state[p]) end
    end
    groups[g] = packed
  end
  return {state = state, param_groups = groups}
end

--- opt:load_state_dict(sd) restores options and state from a state dict of
--- an optimizer with the same group sizes (tensors are cloned and cast to
--- their parameter's dtype). The group tables are updated in place.
function Optimizer:load_state_dict(sd)
  local name = self.name .. ".load_state_dict"
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" or type(sd.state) ~= "table" then
    raise(("%s: expected a table with state and param_groups, got %s"):format(name, describe(sd)))
  end
  local saved = sd.param_groups
  if #saved ~= #self.param_groups then
    raise(("%s: the state dict has %d parameter groups, the optimizer has %d"):format(
      name, #saved, #self.param_groups))
  end
  local param_at = {}
  for g, group in ipairs(self.param_groups) do
    local indices = saved[g].params
    if type(indices) ~= "table" or #indices ~= #group.params then
      raise(("%s: parameter group %d has %d parameters in the state dict, %d in the optimizer"):format(
        name, g, type(indices) == "table" and #indices or 0, #group.params))
    end
    for i, index in ipairs(indices) do param_at[index] = group.params[i] end
  end
  local _ <close> = lg.no_grad()
  local state = {}
  for index, entry in pairs(sd.state) do
    local p = param_at[index]
    if p == nil then
      raise(("%s: the state dict has state for parameter %s, which no group lists"):format(
        name, describe(index)))
    end
    state[p] = clone_state(entry, p.dtype)
  end
  for g, group in ipairs(self.param_groups) do
    local params = group.params
    for k in pairs(group) do group[k] = nil end
    for k, v in pairs(saved[g]) do group[k] = copy_value(v) end
    group.params = params
  end
  self.state = state
end

for class_name in pairs(rules_of) do
  optim[class_name] = function(params, opts) return new_optimizer(class_name, params, opts) end
end

---------------------------------------------------------------------------
-- the pure form: optim.fn.sgd{...}, adam, adamw, rmsprop, adagrad

optim.fn = {}

local function leaves_of(fname, what, value)
  local leaves, spec = tree.flatten(value)
  for i, leaf in ipairs(leaves) do
    if not lg.is_tensor(leaf) then
      raise(("%s: expected %s to be a pytree of tensors, got %s at leaf %d"):format(
        fname, what, describe(leaf), i))
    end
  end
  return leaves, spec
end

-- tx for one optimizer: tx.init(params) -> state; tx.update(params, grads,
-- state) -> new params, new state. state = {step = n, <buffer> = pytree
-- mirroring params, ...}; nothing passed in is modified.
local function pure(fname, class_name)
  local rules = rules_of[class_name]
  return function(opts)
    local group = merge_defaults(fname, rules, opts)
    local tx = {options = group}

    -- Builds {step, name = tree} from one state table per leaf.
    local function gather(spec, per_leaf, step)
      local names = {}
      for _, st in ipairs(per_leaf) do
        for k, v in pairs(st) do
          if lg.is_tensor(v) then names[k] = true end
        end
      end
      local state = {step = step}
      for k in pairs(names) do
        local column = {n = #per_leaf}
        for i, st in ipairs(per_leaf) do
          column[i] = st[k]
          if column[i] == nil then
            raise(("%s: state buffer %s exists for some parameters only"):format(fname, k))
          end
        end
        state[k] = tree.unflatten(spec, column)
      end
      return state
    end

    function tx.init(params)
      local leaves, spec = leaves_of(fname .. ".init", "params", params)
      local _ <close> = lg.no_grad()
      local per_leaf = {}
      for i, p in ipairs(leaves) do per_leaf[i] = rules.init(p:detach(), group) end
      return gather(spec, per_leaf, 0)
    end

    function tx.update(params, grads, state)
      local uname = fname .. ".update"
      local leaves, spec = leaves_of(uname, "params", params)
      local grad_leaves, grad_spec = leaves_of(uname, "grads", grads)
      if tostring(grad_spec) ~= tostring(spec) then
        raise(("%s: grads have structure %s, expected %s like params"):format(
          uname, tostring(grad_spec), tostring(spec)))
      end
      if type(state) ~= "table" or math.type(state.step) ~= "integer" then
        raise(("%s: expected the state from init or a previous update, got %s"):format(
          uname, describe(state)))
      end
      local buffers = {}
      for k, v in pairs(state) do
        if k ~= "step" then
          local l, s = leaves_of(uname, "state." .. tostring(k), v)
          if tostring(s) ~= tostring(spec) then
            raise(("%s: state.%s has structure %s, expected %s like params"):format(
              uname, tostring(k), tostring(s), tostring(spec)))
          end
          buffers[k] = l
        end
      end
      local _ <close> = lg.no_grad()
      local new_leaves, per_leaf = {n = #leaves}, {}
      for i, p in ipairs(leaves) do
        local st = {}
        for k, l in pairs(buffers) do st[k] = l[i]:detach():clone() end
        if rules.counts_steps then st.step = state.step end
        local new_p = p:detach():clone()
        apply_update(rules, new_p, grad_leaves[i], st, group)
        new_leaves[i] = new_p
        per_leaf[i] = st
      end
      return tree.unflatten(spec, new_leaves), gather(spec, per_leaf, state.step + 1)
    end

    return tx
  end
end

optim.fn.sgd = pure("fn.sgd", "SGD")
optim.fn.adam = pure("fn.adam", "Adam")
optim.fn.adamw = pure("fn.adamw", "AdamW")
optim.fn.rmsprop = pure("fn.rmsprop", "RMSprop")
optim.fn.adagrad = pure("fn.adagrad", "Adagrad")

---------------------------------------------------------------------------
-- lr schedulers

local Scheduler = {}
Scheduler.__index = Scheduler

local function check_optimizer(name, opt)
  if getmetatable(opt) ~= Optimizer then
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
optim.lr_scheduler = lr_scheduler

local StepLR = scheduler_class("StepLR")

--- StepLR(opt, step_size, [gamma = 0.1 | {gamma =}]) (or one table
--- {step_size =, gamma =}): lr *= gamma every step_size epochs.
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
      n, type(lr_lambda) == "table" and ("%d entries"):format(#lr_lambda) or describe(lr_lambda)))
  end
  return start_scheduler(setmetatable({optimizer = opt, lr_lambdas = lambdas}, Lambda))
end

function Lambda:get_lr()
  local lrs = {}
  for i, base in ipairs(self.base_lrs) do lrs[i] = base * self.lr_lambdas[i](self.last_epoch) end
  return lrs
end

local OneCycle = scheduler_class("OneCycleLR")

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
function lr_scheduler.OneCycleLR(opt, max_lr, total_steps, opts)
  local name = "OneCycleLR"
  check_optimizer(name, opt)
  if type(total_steps) == "table" and opts == nil then total_steps, opts = nil, total_steps end
  opts = opts or {}
  if type(opts) ~= "table" then raise(("%s: expected an options table, got %s"):format(name, describe(opts))) end
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

return optim
