--- luagrad.nn.parametrize (nn.utils.parametrize): a module's parameter or
-- buffer computed from an unconstrained tensor, as torch.nn.utils.parametrize.
--
-- register_parametrization(mod, "weight", p) moves the tensor to
-- mod.parametrizations.weight.original (so its dotted name is
-- "parametrizations.weight.original"; a parameter stays the same tensor, so
-- optimizers holding it keep working) and removes the raw field
-- mod.weight. The module's class becomes a subclass "Parametrized<Class>"
-- whose __index computes `mod.weight` as p(original) on every read while
-- the raw field is absent; writing mod.weight goes through p's right_inverse.
-- A raw field of that name (functional_call's plain-name key) hides the
-- parametrization until it is removed again.
-- @module nn.utils.parametrize
local lg = require "luagrad"
local M = require "luagrad.nn.module"
local containers = require "luagrad.nn.containers"
local check = require "luagrad.check"
local raise = check.raise

local Module, is_module, registry_of, class_name = M.Module, M.is_module, M.registry_of, M.class_name

local parametrize = {}

-- -----------------------------------------------------------------------
-- the list of parametrizations of one tensor

local ParametrizationList = Module:extend("ParametrizationList")
parametrize.ParametrizationList = ParametrizationList

--- ParametrizationList:value() applies the parametrizations 1..n in turn
--- to the live `original` field.
-- @usage local w = fc.parametrizations.weight:value()
function ParametrizationList:value()
  local x = rawget(self, "original")
  for i = 1, #self do x = rawget(self, i)(x) end
  return x
end

--- ParametrizationList:set_value(v): stores into original the preimage of v
--- through each parametrization's right_inverse (from the last to the
--- first), without recording gradients.
-- @usage fc.parametrizations.weight:set_value(w)
function ParametrizationList:set_value(v)
  lg.no_grad(function()
    for i = #self, 1, -1 do
      local p = rawget(self, i)
      if p.right_inverse == nil then
        raise(string.format("parametrize: cannot assign to a parametrized tensor: parametrization %d (%s) does not implement right_inverse",
                            i, class_name(p)))
      end
      v = p:right_inverse(v)
    end
    rawget(self, "original"):copy_(v)
  end)
end

function ParametrizationList:forward()
  return self:value()
end

-- A plain Lua function used as a parametrization.
--- FunctionParametrization(fn): a parametrization module whose forward is
-- fn(x), for register_parametrization with a plain function.
-- @usage parametrize.register_parametrization(layer, "weight", parametrize.FunctionParametrization(lg.tanh))
local FunctionParametrization = Module:extend("FunctionParametrization")
parametrize.FunctionParametrization = FunctionParametrization

function FunctionParametrization:init(fn)
  rawset(self, "fn", fn)
end

function FunctionParametrization:forward(x)
  return self.fn(x)
end

-- -----------------------------------------------------------------------
-- parametrized classes

local parametrized_classes = setmetatable({}, {__mode = "k"})

-- The plist of parametrized name key of m, or nil.
local function plist_of(m, key)
  local ps = rawget(m, "parametrizations")
  local plist = ps ~= nil and type(ps) == "table" and rawget(ps, key) or nil
  if type(plist) == "table" and getmetatable(plist) == ParametrizationList then return plist end
  return nil
end

-- The subclass of base that computes parametrized fields.
local function parametrized_class(base)
  if rawget(base, "__parametrized_base") then return base end
  local class = parametrized_classes[base]
  if class then return class end
  class = Module.extend(base, "Parametrized" .. tostring(rawget(base, "__name")))
  class.__parametrized_base = base
  class.__index = function(self, key)
    local plist = plist_of(self, key)
    if plist ~= nil then return plist:value() end
    return class[key]
  end
  class.__newindex = function(self, key, value)
    local plist = plist_of(self, key)
    if plist ~= nil then return plist:set_value(value) end
    return M.module_newindex(self, key, value)
  end
  parametrized_classes[base] = class
  return class
end

--- is_parametrized(mod, name): whether mod has a parametrization on name
--- (or, without name, on any tensor).
-- @usage parametrize.is_parametrized(fc, "weight")
function parametrize.is_parametrized(mod, name)
  if name ~= nil then return plist_of(mod, name) ~= nil end
  local ps = rawget(mod, "parametrizations")
  return ps ~= nil and #ps:keys() > 0
end

--- parametrized_names(mod) returns the names of mod's parametrized
--- tensors (an array, in registration order).
-- @usage parametrize.parametrized_names(fc) --> {"weight"}
function parametrize.parametrized_names(mod)
  local ps = rawget(mod, "parametrizations")
  local out = {}
  if type(ps) ~= "table" or not is_module(ps) then return out end
  for _, name in ipairs(ps:keys()) do
    if plist_of(mod, name) then out[#out + 1] = name end
  end
  return out
end

local function same_shape(a, b)
  return check.shape_string(a) == check.shape_string(b)
end

--- register_parametrization(mod, name, p, {unsafe = false}): p is a module
--- or a function of the tensor. A second parametrization on the same name is
--- applied after the first. Unless unsafe, p must keep the shape and dtype.
--- Returns mod.
-- @usage parametrize.register_parametrization(fc, "weight", function(w) return (w + w:t()) / 2 end)
function parametrize.register_parametrization(mod, name, p, opts)
  local fname = "register_parametrization"
  if not is_module(mod) then raise(fname .. ": expected a Module, got " .. check.typename(mod)) end
  if type(name) ~= "string" then raise(fname .. ": expected a tensor name, got " .. check.typename(name)) end
  if type(p) == "function" then p = FunctionParametrization(p)
  elseif not is_module(p) then
    raise(fname .. ": expected a Module or a function as parametrization, got " .. check.typename(p))
  end
  opts = check.options(fname, opts, {unsafe = true})
  local existing = plist_of(mod, name)
  local original = existing and rawget(existing, "original") or rawget(mod, name)
  local reg = registry_of(mod)
  local kind = reg.kind[name]
  if existing == nil and (original == nil or (kind ~= "parameter" and kind ~= "buffer")) then
    raise(string.format("%s: %s has no parameter or buffer named '%s'", fname, class_name(mod), name))
  end
  if existing == nil and p.right_inverse ~= nil then
    lg.no_grad(function()
      local v = p:right_inverse(original)
      if not same_shape(v, original) then
        raise(string.format("%s: right_inverse changes the shape of '%s' from %s to %s",
                            fname, name, check.shape_string(original), check.shape_string(v)))
      end
      original:copy_(v)
    end)
  end
  if not opts.unsafe then
    local before = existing and existing:value() or original
    local after = lg.no_grad(function() return p(before) end)
    if not lg.is_tensor(after) then
      raise(string.format("%s: the parametrization must return a tensor, got %s", fname, check.typename(after)))
    end
    if not same_shape(after, before) or after.dtype ~= before.dtype then
      raise(string.format("%s: the parametrization changes '%s' from %s %s to %s %s (pass {unsafe = true} to allow it)",
                          fname, name, check.shape_string(before), before.dtype, check.shape_string(after), after.dtype))
    end
  end
  if existing ~= nil then
    existing[#existing + 1] = p
    return mod
  end
  local persistent = not reg.transient[name]
  M.unregister_key(mod, name)
  rawset(mod, name, nil)
  local plist = ParametrizationList()
  if kind == "parameter" then plist:register_parameter("original", original)
  else plist:register_buffer("original", original, persistent) end
  plist[1] = p
  local ps = rawget(mod, "parametrizations")
  if ps == nil then
    ps = containers.ModuleDict()
    mod:register_module("parametrizations", ps)
  end
  ps:set(name, plist)
  setmetatable(mod, parametrized_class(getmetatable(mod)))
  return mod
end

--- remove_parametrizations(mod, name, {leave_parametrized = true}) puts a
--- plain tensor back at mod[name]: the current parametrized value (copied
--- into the original tensor when shape and dtype allow, so it stays the same
--- tensor) or, with leave_parametrized = false, the original. Returns mod.
-- @usage parametrize.remove_parametrizations(fc, "weight")
function parametrize.remove_parametrizations(mod, name, opts)
  local fname = "remove_parametrizations"
  if not is_module(mod) then raise(fname .. ": expected a Module, got " .. check.typename(mod)) end
  local plist = plist_of(mod, name)
  if plist == nil then
    raise(string.format("%s: %s has no parametrization on '%s'", fname, class_name(mod), tostring(name)))
  end
  opts = check.options(fname, opts, {leave_parametrized = true})
  local preg = registry_of(plist)
  local kind = preg.kind["original"]
  local persistent = not preg.transient["original"]
  local original = rawget(plist, "original")
  local t = original
  if opts.leave_parametrized ~= false then
    local value = lg.no_grad(function() return plist:value() end)
    if same_shape(value, original) and value.dtype == original.dtype then
      lg.no_grad(function() original:copy_(value) end)
    else
      t = kind == "parameter" and M.Parameter(value, original.requires_grad) or value:detach()
    end
  end
  local ps = rawget(mod, "parametrizations")
  ps:pop(name)
  if #ps:keys() == 0 then
    M.unregister_key(mod, "parametrizations")
    rawset(mod, "parametrizations", nil)
    setmetatable(mod, rawget(getmetatable(mod), "__parametrized_base"))
  end
  if kind == "parameter" then
    M.mark_parameter(t)
    M.register_key(mod, name, "parameter")
  else
    M.register_key(mod, name, "buffer", persistent)
  end
  rawset(mod, name, t)
  return mod
end

return parametrize
