--- luagrad.optim: optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) with
-- PyTorch's defaults and update rules, param groups and state dicts; the
-- pure form optim.fn for func.grad loops; and optim.lr_scheduler (its own
-- file, optim/lr_scheduler.lua).
--
-- Each optimizer is one table of rules (its options with their defaults and
-- checks, its state, and one fused C update per parameter, lg._*_step);
-- the stateful classes and the pure optim.fn transforms both drive those
-- same rules, so the two forms cannot compute different numbers.
-- @module optim
local lg = require "luagrad"
local tree = require "luagrad.tree"
local check = require "luagrad.check"
local raise = check.raise

local optim = {}

local describe, kind_of = check.describe, check.typename

-- -----------------------------------------------------------------------
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

local copy_value = check.copy_value

-- The defaults of an optimizer overridden by opts; unknown keys are errors.
local function merge_defaults(name, rules, opts)
  local known, merged = {}, {}
  for _, option in ipairs(rules.options) do
    known[option[1]] = true
    merged[option[1]] = copy_value(option[2])
  end
  for k, v in pairs(check.options(name, opts, known)) do merged[k] = copy_value(v) end
  check_options(name, rules, merged)
  return merged
end

-- -----------------------------------------------------------------------
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
  -- a whole group in one C call, when no parameter needs a buffer and the
  -- options are what _sgd_step would accept (else the per-parameter loop
  -- runs and reports bad options as before)
  update_group = function(g)
    if g.momentum ~= 0 or type(g.lr) ~= "number" or type(g.weight_decay) ~= "number"
        or type(g.maximize) ~= "boolean" then
      return false
    end
    lg._sgd_step_params(g.params, g.lr, g.weight_decay, g.maximize)
    return true
  end,
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

-- -----------------------------------------------------------------------
-- the stateful optimizers

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer
Optimizer.__typename = "optimizer" -- the type name in messages (lg._typename)

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
-- @usage opt:add_param_group({params = head:parameters(), lr = 1e-2})
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
-- @usage opt:zero_grad(); loss:backward(); opt:step()
function Optimizer:step(closure)
  local loss
  if closure ~= nil then loss = lg.enable_grad(closure) end
  local _ <close> = lg.no_grad()
  local rules, states = self.rules, self.state
  for _, group in ipairs(self.param_groups) do
    local fused = rules.update_group ~= nil
    if fused then -- once every parameter has its state: one C call
      for _, p in ipairs(group.params) do
        if states[p] == nil then fused = false break end
      end
    end
    if not (fused and rules.update_group(group)) then
      for _, p in ipairs(group.params) do
        local grad = p.grad
        if grad ~= nil then
          local state = states[p]
          if state == nil then
            state = new_state(rules, p, group)
            states[p] = state
          end
          apply_update(rules, p, grad, state, group)
        end
      end
    end
  end
  return loss
end

--- opt:zero_grad([set_to_none = true]) drops every parameter's .grad (or
--- zeroes it in place when set_to_none is false).
-- @usage opt:zero_grad()
function Optimizer:zero_grad(set_to_none)
  if set_to_none ~= false then -- dropping .grad records nothing: no guard
    for _, group in ipairs(self.param_groups) do
      for _, p in ipairs(group.params) do p.grad = nil end
    end
    return
  end
  local _ <close> = lg.no_grad()
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      local grad = p.grad
      if grad ~= nil then grad:zero_() end
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
-- @usage local saved = opt:state_dict()
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
-- @usage opt:load_state_dict(saved)
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
        name, g, check.typename(indices) == "table" and #indices or 0, #group.params))
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

--- SGD(params[, {lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0,
-- nesterov = false, maximize = false}]): stochastic gradient descent with
-- PyTorch's update rule. params is an array of tensors or of parameter
-- groups {params = {...}, <options>}; opt:step() updates from p.grad.
-- Unlike PyTorch 1.13 (where lr is required), lr defaults to 1e-3.
-- @function SGD
-- @usage local opt = optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9})

--- Adam(params[, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8,
-- weight_decay = 0, amsgrad = false, maximize = false}]): Adam.
-- @function Adam
-- @usage local opt = optim.Adam(net:parameters(), {lr = 1e-3})

--- AdamW(params[, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8,
-- weight_decay = 1e-2, amsgrad = false, maximize = false}]): Adam with
-- decoupled weight decay.
-- @function AdamW
-- @usage local opt = optim.AdamW(net:parameters(), {weight_decay = 0.05})

--- RMSprop(params[, {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay =
-- 0, momentum = 0, centered = false, maximize = false}]): RMSprop.
-- @function RMSprop
-- @usage local opt = optim.RMSprop(net:parameters(), {lr = 1e-3})

--- Adagrad(params[, {lr = 1e-2, lr_decay = 0, weight_decay = 0,
-- initial_accumulator_value = 0, eps = 1e-10, maximize = false}]): Adagrad.
-- @function Adagrad
-- @usage local opt = optim.Adagrad(net:parameters())

for class_name in pairs(rules_of) do
  optim[class_name] = function(params, opts) return new_optimizer(class_name, params, opts) end
end

-- -----------------------------------------------------------------------
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
-- mirroring params, ...}; nothing passed in is modified. The count n is a
-- 0-d int64 tensor (as torch.optim keeps it, and optax): the fused update
-- reads it when it runs, so func.compile records a whole step, count
-- included, and replays it; a plain integer count is accepted too.
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
          if k ~= "step" and lg.is_tensor(v) then names[k] = true end
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
      return gather(spec, per_leaf, lg.zeros({}, {dtype = "int64"}))
    end

    function tx.update(params, grads, state)
      local uname = fname .. ".update"
      local leaves, spec = leaves_of(uname, "params", params)
      local grad_leaves, grad_spec = leaves_of(uname, "grads", grads)
      if tostring(grad_spec) ~= tostring(spec) then
        raise(("%s: grads have structure %s, expected %s like params"):format(
          uname, tostring(grad_spec), tostring(spec)))
      end
      local step = type(state) == "table" and state.step
      if not (math.type(step) == "integer" or lg.is_tensor(step) and step:numel() == 1
              and (step.dtype == "int64" or step.dtype == "int32")) then
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
      local next_step = step + 1 -- this update's number (a tensor op for a tensor)
      local new_leaves, per_leaf = {n = #leaves}, {}
      for i, p in ipairs(leaves) do
        local st = {}
        for k, l in pairs(buffers) do st[k] = l[i]:detach():clone() end
        if rules.counts_steps then st.step = next_step end
        local new_p = p:detach():clone()
        rules.update(new_p, grad_leaves[i], st, group)
        new_leaves[i] = new_p
        per_leaf[i] = st
      end
      return tree.unflatten(spec, new_leaves), gather(spec, per_leaf, next_step)
    end

    return tx
  end
end

--- fn.sgd(opts): the pure (optax-style) form of SGD for func.grad loops:
-- returns tx with tx.init(params) -> state and tx.update(params, grads,
-- state) -> new_params, new_state, params and grads any pytree of
-- tensors; nothing passed in is modified. opts as optim.SGD's.
-- @function fn.sgd
-- @usage local tx = optim.fn.sgd{lr = 0.1}; local st = tx.init(p); p, st = tx.update(p, g, st)

--- fn.adam(opts): the pure form of Adam (see fn.sgd); opts as optim.Adam's.
-- @function fn.adam
-- @usage local tx = optim.fn.adam{lr = 1e-3}

--- fn.adamw(opts): the pure form of AdamW (see fn.sgd).
-- @function fn.adamw
-- @usage local tx = optim.fn.adamw{weight_decay = 0.01}

--- fn.rmsprop(opts): the pure form of RMSprop (see fn.sgd).
-- @function fn.rmsprop
-- @usage local tx = optim.fn.rmsprop{lr = 1e-3}

--- fn.adagrad(opts): the pure form of Adagrad (see fn.sgd).
-- @function fn.adagrad
-- @usage local tx = optim.fn.adagrad{}

optim.fn.sgd = pure("fn.sgd", "SGD")
optim.fn.adam = pure("fn.adam", "Adam")
optim.fn.adamw = pure("fn.adamw", "AdamW")
optim.fn.rmsprop = pure("fn.rmsprop", "RMSprop")
optim.fn.adagrad = pure("fn.adagrad", "Adagrad")

optim.lr_scheduler = require "luagrad.optim.lr_scheduler"

return optim
