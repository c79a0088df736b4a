--- luagrad.autograd: gradients of tensors (grad, backward), custom
-- differentiable Functions written in Lua, and gradcheck against finite
-- differences. The engine itself is C (runtime/autograd/engine.c); this file is its
-- Lua face.
-- @module autograd
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local autograd = {}

local function as_list(value)
  if lg.is_tensor(value) then return {value} end
  return value
end

local function check_function(fname, fn)
  if not check.is_callable(fn) then
    raise(("%s: expected a function as argument 1, got %s"):format(fname, check.typename(fn)))
  end
end

-- an array of tensors (one tensor is an array of one), or an error
local function tensors_of(fname, what, value)
  value = as_list(value)
  if type(value) ~= "table" then
    raise(("%s: expected a tensor or an array of tensors as %s, got %s"):format(
          fname, what, check.typename(value)))
  end
  return value
end

local GRAD_OPTIONS = {grad_outputs = true, create_graph = true, retain_graph = true,
                      allow_unused = true}

--- grad(outputs, inputs, {grad_outputs, create_graph, retain_graph,
--- allow_unused}) returns the gradients of the outputs with respect to the
--- inputs as an array (nil for unused inputs with allow_unused).
-- @usage local gx = lg.autograd.grad(y:sum(), {x}, {create_graph = true})[1]
function autograd.grad(outputs, inputs, opts)
  opts = check.options("grad", opts, GRAD_OPTIONS)
  if opts.grad_outputs ~= nil then
    opts = {grad_outputs = as_list(opts.grad_outputs),
            create_graph = opts.create_graph, retain_graph = opts.retain_graph,
            allow_unused = opts.allow_unused}
  end
  if type(inputs) == "table" and not lg.is_tensor(inputs) and #inputs == 0 then
    raise("grad: expected at least one input tensor, got an empty array")
  end
  return lg._autograd_grad(outputs, inputs, opts)
end

--- backward(tensors, grad_tensors, opts): accumulates into the leaves' .grad.
-- @usage autograd.backward({loss1, loss2})
function autograd.backward(tensors, grad_tensors, opts)
  tensors = tensors_of("backward", "tensors", tensors)
  grad_tensors = grad_tensors and tensors_of("backward", "grad_tensors", grad_tensors) or {}
  opts = check.options("backward", opts, {create_graph = true, retain_graph = true})
  for i, t in ipairs(tensors) do
    if not lg.is_tensor(t) then
      raise(("backward: expected a tensor at position %d of tensors, got %s"):format(i, check.typename(t)))
    end
  end
  for i, t in ipairs(tensors) do
    local g = grad_tensors[i]
    local o = opts
    if i < #tensors and o.retain_graph == nil then
      o = {retain_graph = true, create_graph = o.create_graph}
    end
    if g then t:backward(g, o) else t:backward(o) end
  end
end

autograd.no_grad = lg.no_grad
autograd.enable_grad = lg.enable_grad

--- detect_anomaly() returns a guard for a to-be-closed variable
--- (`local _ <close> = autograd.detect_anomaly()`); detect_anomaly(fn, ...)
--- runs fn in anomaly mode. In anomaly mode a backward fails as soon as a
--- rule produces NaN or Inf, naming it: "backward: DivBackward0 produced
--- NaN in the gradient of input 2 (anomaly mode)". It reads every
--- gradient, so it is for debugging, not for every run.
-- @usage local _ <close> = lg.autograd.detect_anomaly()
autograd.detect_anomaly = lg._detect_anomaly
--- set_detect_anomaly(on) switches anomaly mode without a guard.
-- @usage lg.autograd.set_detect_anomaly(true)
autograd.set_detect_anomaly = lg._set_detect_anomaly
--- is_anomaly_enabled(): whether anomaly mode is on.
-- @function is_anomaly_enabled
-- @return a boolean
-- @usage lg.autograd.is_anomaly_enabled() --> false
autograd.is_anomaly_enabled = lg._is_anomaly_enabled

-- The ctx of a custom Function: what forward leaves for backward.
local Context = {}
Context.__index = Context

function Context:save_for_backward(...)
  self.saved_tensors = table.pack(...)
end

function Context:mark_non_differentiable(...)
  self.non_differentiable = table.pack(...)
end

-- Inside vmap: the innermost vmap level any tensor argument is batched at
-- (0: none).
local function batch_level(args)
  local level = 0
  for i = 1, args.n do
    if lg.is_tensor(args[i]) then level = math.max(level, lg._vmap_level(args[i])) end
  end
  return level
end

local warned_loop = {}

-- A custom Function on batched arguments runs once per example of the
-- innermost level (its forward and backward see plain examples), and the
-- results are stacked back into batched tensors.
local function call_per_example(call, name, level, args)
  if not warned_loop[name] then
    warned_loop[name] = true
    lg._warn(("luagrad warning: vmap: autograd.Function %s runs once per "
      .. "example (slower)\n"):format(name))
  end
  local values, size = {}, nil
  for i = 1, args.n do
    local v, bdim = nil, nil
    if lg.is_tensor(args[i]) then v, bdim = lg._vmap_unwrap(args[i], level) end
    if v then values[i], size = {v, bdim}, v:size(bdim) end
  end
  local per = {}
  for e = 1, size do
    local a = table.pack(table.unpack(args, 1, args.n))
    for i, vb in pairs(values) do a[i] = vb[1]:select(vb[2], e) end
    per[e] = table.pack(call(nil, table.unpack(a, 1, a.n)))
  end
  local outs = {n = per[1].n}
  for k = 1, outs.n do
    if lg.is_tensor(per[1][k]) then
      local list = {}
      for e = 1, size do list[e] = per[e][k] end
      outs[k] = lg._vmap_wrap(lg.stack(list, 1), 1, level)
    else
      outs[k] = per[1][k]
    end
  end
  return table.unpack(outs, 1, outs.n)
end

-- The forward-mode half of a Function call: when an argument carries a
-- tangent at the innermost dual level, runs the call on the primals and
-- gives each tensor output the tangent def.jvp(ctx, tangents...) returns
-- for it (tangents: one per argument, nil where none). Returns nil when no
-- argument is dual there.
local function call_dual(def, fname, run, args)
  local level = lg._dual_level_current()
  if not level then return nil end
  local primals, tangents, any = table.pack(table.unpack(args, 1, args.n)), {n = args.n}, false
  for i = 1, args.n do
    if lg.is_tensor(args[i]) then
      local p, t = lg._unpack_dual(args[i], level)
      if t then primals[i], tangents[i], any = p, t, true end
    end
  end
  if not any then return nil end
  if type(def.jvp) ~= "function" then
    raise(("%s: an argument is a dual tensor (forward-mode AD), but the Function defines "
      .. "no jvp(ctx, tangents...)"):format(fname))
  end
  local ctx, outs = run(primals)
  local out_tangents = table.pack(def.jvp(ctx, table.unpack(tangents, 1, tangents.n)))
  for i = 1, outs.n do
    local t = out_tangents[i]
    if lg.is_tensor(outs[i]) and t ~= nil then
      if not lg.is_tensor(t) then
        raise(("%s: jvp must return a tensor or nil per output; got %s for output %d"):format(
          fname, check.typename(t), i))
      end
      outs[i] = lg._make_dual(outs[i], t, level)
    end
  end
  return outs
end

--- Function{forward = function(ctx, ...) end, backward = function(ctx,
--- grad_outputs...) end, jvp = function(ctx, tangents...) end, name =
--- "MyFn"} returns a callable differentiable function. backward returns
--- one gradient (or nil) per forward argument; jvp (optional: forward-mode
--- AD through the Function needs it) one tangent (or nil) per forward
--- output, given one tangent (nil where none) per forward argument.
--- vmap = function(info, in_dims, ...) return outputs..., out_dims end
--- (optional, torch.func's Function.vmap) is its batching rule inside
--- func.vmap (func_vmap.lua's function_rule); without one the Function
--- runs once per example there (warning once).
-- @usage local Square = autograd.Function{forward = function(ctx, x) ctx:save_for_backward(x) return x * x end, backward = function(ctx, g) local x = ctx.saved_tensors[1] return 2 * x * g end}
function autograd.Function(def)
  if type(def) ~= "table" or type(def.forward) ~= "function"
      or type(def.backward) ~= "function" then
    raise("Function: expected a table with forward and backward functions, got "
          .. check.typename(def))
  end
  check.options("Function", def, {forward = true, backward = true, jvp = true, vmap = true,
                                  name = true})
  if def.vmap ~= nil and not check.is_callable(def.vmap) then
    raise(("Function: vmap must be a function(info, in_dims, ...), got %s"):format(
      check.typename(def.vmap)))
  end
  local fname = def.name or "CustomFunction"
  local name = fname .. "Backward"
  local fn = {}
  -- forward and the graph node; returns ctx and the packed outputs
  local function run(args)
    local ctx = setmetatable({saved_tensors = {n = 0}}, Context)
    local outs = table.pack(lg.no_grad(def.forward, ctx, table.unpack(args, 1, args.n)))
    if not lg.is_grad_enabled() then return ctx, outs end
    local inputs, positions, any = {}, {}, false
    for i = 1, args.n do
      if lg.is_tensor(args[i]) then
        inputs[#inputs + 1] = args[i]
        positions[#positions + 1] = i
        any = any or args[i].requires_grad
      end
    end
    if not any then return ctx, outs end
    local tensor_outs = {}
    for i = 1, outs.n do
      local out = outs[i]
      if lg.is_tensor(out) then
        for _, input in ipairs(inputs) do
          if rawequal(out, input) then out = out:detach() break end
        end
        outs[i] = out
        tensor_outs[#tensor_outs + 1] = out
      end
    end
    lg._autograd_attach(name, inputs, tensor_outs, function(...)
      local grads = table.pack(def.backward(ctx, ...))
      local per_input = {}
      for k, position in ipairs(positions) do per_input[k] = grads[position] end
      return table.unpack(per_input, 1, #positions)
    end)
    return ctx, outs
  end
  local call
  function call(_, ...)
    local args = table.pack(...)
    local level = batch_level(args)
    if level ~= 0 and def.vmap then
      return require("luagrad.func_vmap").function_rule(def.vmap, fname, level, args)
    end
    if level ~= 0 then return call_per_example(call, fname, level, args) end
    local outs = call_dual(def, fname, run, args)
    if not outs then
      local _
      _, outs = run(args)
    end
    return table.unpack(outs, 1, outs.n)
  end
  fn.apply = function(...) return call(nil, ...) end
  return setmetatable(fn, {__call = call})
end

-- Flattened float64 copy of a tensor's values.
local function values_of(t)
  return t:detach():double():reshape(-1):clone() -- a copy, never a view
end

local GRADCHECK_OPTIONS = {eps = true, atol = true, rtol = true, raise_exception = true}

--- gradcheck(fn, inputs, {eps, atol, rtol, raise_exception}) compares the
--- Jacobian of fn at inputs (float64 tensors requiring grad) from autograd
--- with central finite differences. Returns true, or raises (or returns
--- false and a message) naming the worst element.
-- @usage assert(lg.autograd.gradcheck(lg.tanh, {lg.randn(3, {dtype = "float64", requires_grad = true})}))
function autograd.gradcheck(fn, inputs, opts)
  check_function("gradcheck", fn)
  opts = check.options("gradcheck", opts, GRADCHECK_OPTIONS)
  local eps, atol, rtol = opts.eps or 1e-6, opts.atol or 1e-5, opts.rtol or 1e-3
  inputs = tensors_of("gradcheck", "inputs", inputs)
  local function fail(message)
    if opts.raise_exception == false then return false, message end
    raise("gradcheck: " .. message)
  end
  local differentiable = {}
  for i, x in ipairs(inputs) do
    if lg.is_tensor(x) and x.requires_grad then
      if x.dtype ~= "float64" then
        return fail(("input %d is %s; gradcheck needs float64 inputs"):format(i, x.dtype))
      end
      differentiable[#differentiable + 1] = i
    end
  end
  local function outputs_of(...)
    local outs = table.pack(fn(...))
    local list = {}
    for i = 1, outs.n do if lg.is_tensor(outs[i]) then list[#list + 1] = outs[i] end end
    return list
  end
  -- analytical Jacobians first: perturbing an input below bumps its
  -- version counter, which the recorded graph would rightly refuse
  local outs = outputs_of(table.unpack(inputs))
  local analytical = {}
  for _, i in ipairs(differentiable) do
    local x = inputs[i]
    analytical[i] = {}
    for o, out in ipairs(outs) do
      local m = out:numel()
      local rows = {}
      for r = 1, m do
        local g
        if out.requires_grad then -- else out is constant in every input
          local seed = lg.zeros(m, {dtype = out.dtype})
          seed[r] = 1
          g = lg._autograd_grad(out, x, {grad_outputs = {seed:view(out.shape)},
                                         retain_graph = true, allow_unused = true})[1]
        end
        rows[r] = g and values_of(g) or lg.zeros(x:numel(), {dtype = "float64"})
      end
      analytical[i][o] = rows
    end
  end
  -- numerical: central differences, one input element at a time
  for _, i in ipairs(differentiable) do
    local x = inputs[i]
    local flat = x:detach():reshape(-1)
    for c = 1, x:numel() do
      local original = flat[c]
      local function evaluate(v)
        lg.no_grad(function() flat[c] = v end)
        local values = {}
        for o, out in ipairs(outputs_of(table.unpack(inputs))) do values[o] = values_of(out) end
        return values
      end
      local plus, minus = evaluate(original + eps), evaluate(original - eps)
      lg.no_grad(function() flat[c] = original end)
      for o = 1, #outs do
        local numerical = (plus[o] - minus[o]) / (2 * eps)
        for r = 1, outs[o]:numel() do
          local a, b = analytical[i][o][r][c], numerical[r]
          if math.abs(a - b) > atol + rtol * math.abs(b) then
            return fail(("Jacobian mismatch for output %d with respect to input %d "
              .. "at (%d, %d): autograd %.10g, finite differences %.10g"):format(
              o, i, r, c, a, b))
          end
        end
      end
    end
  end
  return true
end

--- gradgradcheck: gradcheck of the vjp, i.e. second derivatives.
-- @usage assert(lg.autograd.gradgradcheck(lg.tanh, {lg.randn(3, {dtype = "float64", requires_grad = true})}))
function autograd.gradgradcheck(fn, inputs, opts)
  check_function("gradgradcheck", fn)
  inputs = tensors_of("gradgradcheck", "inputs", inputs)
  opts = check.options("gradgradcheck", opts, GRADCHECK_OPTIONS)
  local differentiable = {}
  for _, x in ipairs(inputs) do
    if lg.is_tensor(x) and x.requires_grad then differentiable[#differentiable + 1] = x end
  end
  if #differentiable == 0 then
    raise("gradgradcheck: expected at least one input tensor that requires grad, got none")
  end
  local outs = table.pack(fn(table.unpack(inputs)))
  local seeds = {}
  for i = 1, outs.n do
    if lg.is_tensor(outs[i]) then
      seeds[#seeds + 1] = lg.randn(outs[i].shape, {dtype = outs[i].dtype})
    end
  end
  local function vjp(...)
    local o = table.pack(fn(...))
    local list = {}
    for i = 1, o.n do if lg.is_tensor(o[i]) then list[#list + 1] = o[i] end end
    local args = table.pack(...)
    local xs = {}
    for _, i in ipairs((function()
      local idx = {}
      for k = 1, args.n do if lg.is_tensor(args[k]) and args[k].requires_grad then idx[#idx + 1] = k end end
      return idx end)()) do xs[#xs + 1] = args[i] end
    local grads = lg._autograd_grad(list, xs, {grad_outputs = seeds, create_graph = true,
                                               allow_unused = true})
    local result = {}
    for k = 1, #xs do result[k] = grads[k] or lg.zeros(xs[k].shape, {dtype = xs[k].dtype}) end
    return table.unpack(result)
  end
  return autograd.gradcheck(vjp, inputs, opts)
end

-- autograd.forward_ad: luagrad.forward_ad, loaded on first use.
setmetatable(autograd, {__index = function(t, k)
  if k == "forward_ad" then
    local m = require "luagrad.forward_ad"
    rawset(t, k, m)
    return m
  end
end})

return autograd
