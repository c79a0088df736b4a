--- luagrad.nn.module: nn.Module (classes, registration of parameters, buffers
-- and children by plain field assignment, traversal, state dicts) and
-- nn.Parameter.
--
-- Invariant: a module is a plain Lua table whose parameters, buffers and
-- child modules are ordinary fields of that table (`self.fc1`, `self.w`,
-- `seq[1]`); nothing is held behind a proxy. Beside them each instance keeps
-- one record, the raw field `_registry`, that says which field keys are
-- parameters, buffers or children and in which order they were registered.
-- The record holds names and kinds only, never tensors: every traversal
-- (named_parameters, state_dict, ...) reads the live field values, so
-- replacing a parameter is a plain assignment, and functional_call swaps
-- tensors with rawset and restores them the same way.
--
-- Registration happens in the class's __newindex, which Lua calls only for a
-- key that is absent from the table: the first assignment of a Module value
-- registers a child, of an nn.Parameter a parameter; register_buffer,
-- register_parameter and register_module register explicitly. A later
-- assignment to a registered key is a plain store, and the key keeps its kind
-- (assigning nil empties the slot; traversals skip empty slots).
--
-- Each registry has a version, bumped with a global counter whenever a key
-- is registered or removed anywhere; functional_call caches how it resolves
-- dotted names per module and checks those versions to know when to rebuild.
--
-- Order of traversals follows PyTorch: a module's own parameters (or
-- buffers) in registration order first, then each child's, recursively, in
-- registration order; tensors and modules reached twice are reported once
-- unless `remove_duplicate = false`.
-- @module nn
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local M = {}

local REGISTRY = "_registry"
M.REGISTRY = REGISTRY

-- -----------------------------------------------------------------------
-- parameters

-- Tensors created by nn.Parameter. Weak keys: marking keeps nothing alive.
local parameter_marks = setmetatable({}, {__mode = "k"})

--- nn.Parameter(t, requires_grad) returns a leaf sharing t's storage that
--- requires grad (unless requires_grad is false) and is marked as a
--- parameter, so that assigning it to a module field registers it.
-- @usage self.scale = nn.Parameter(lg.ones(1))
function M.Parameter(t, requires_grad)
  if not lg.is_tensor(t) then
    raise("Parameter: expected a tensor, got " .. check.typename(t))
  end
  local p = t:detach()
  p:requires_grad_(requires_grad ~= false)
  parameter_marks[p] = true
  return p
end

--- is_parameter(v): whether v was made by nn.Parameter (or registered as a
--- parameter of some module).
-- @usage nn.is_parameter(fc.weight) --> true
function M.is_parameter(v)
  return parameter_marks[v] == true
end

-- Marks an existing tensor as a parameter (register_parameter, to(dtype)).
function M.mark_parameter(t)
  parameter_marks[t] = true
  return t
end

-- -----------------------------------------------------------------------
-- classes

--- nn.Module: the base class of every layer and model. Subclass with
-- `local Net = nn.Module:extend("Net")`, define `Net:init(...)` (assign
-- tensors made by nn.Parameter, modules and buffers to fields: they
-- register by themselves) and `Net:forward(...)`; `Net(...)` builds one and
-- `net(x)` calls forward. Lua has no `super()`: call
-- `nn.Module.init(self)` only when a parent class's init does work.
-- @usage local Net = nn.Module:extend("Net"); function Net:init() self.fc = nn.Linear(2, 1) end
local Module = {}
M.Module = Module

--- is_module(v): whether v is an instance of nn.Module or of a subclass.
-- @usage nn.is_module(net) --> true
local function is_module(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(v, REGISTRY) ~= nil and mt.__is_module_class == true
end
M.is_module = is_module

-- The global structure counter and per-registry versions (see the header).
local structure_version = 0
function M.structure_version() return structure_version end

local function bump(reg)
  structure_version = structure_version + 1
  reg.version = structure_version
end
M.bump = bump

local function new_registry()
  structure_version = structure_version + 1
  return {order = {}, kind = {}, key_of = {}, transient = {}, version = structure_version}
end

--- registry_of(module) returns the module's record (see the header).
local function registry_of(m)
  return rawget(m, REGISTRY)
end
M.registry_of = registry_of

local function class_name(m)
  local mt = getmetatable(m)
  return (mt and mt.__name) or "Module"
end
M.class_name = class_name

local function check_name(fname, m, key)
  if type(key) == "string" then
    if key == "" then raise(fname .. ": the name must not be empty") end
    if key:find(".", 1, true) then
      raise(fname .. ": the name must not contain \".\", got \"" .. key .. "\"")
    end
    if key == REGISTRY then raise(fname .. ": the name \"" .. REGISTRY .. "\" is reserved") end
  elseif math.type(key) ~= "integer" then
    raise(fname .. ": expected a string or integer name, got " .. check.typename(key))
  end
end

-- Records key with its kind (appending it if new) and bumps the version.
local function register_key(m, key, kind, persistent)
  local reg = registry_of(m)
  if reg.kind[key] == nil then
    reg.order[#reg.order + 1] = key
    reg.key_of[tostring(key)] = key
  end
  reg.kind[key] = kind
  reg.transient[key] = (kind == "buffer" and persistent == false) or nil
  bump(reg)
end
M.register_key = register_key

-- Forgets key (the field itself is left alone) and bumps the version.
local function unregister_key(m, key)
  local reg = registry_of(m)
  if reg.kind[key] == nil then return end
  reg.kind[key], reg.transient[key], reg.key_of[tostring(key)] = nil, nil, nil
  for i, k in ipairs(reg.order) do
    if k == key then table.remove(reg.order, i) break end
  end
  bump(reg)
end
M.unregister_key = unregister_key

-- Plain field assignment to an absent key: registers Modules and Parameters.
local function module_newindex(self, key, value)
  if value ~= nil and type(key) ~= "string" and math.type(key) ~= "integer" then
    return rawset(self, key, value)
  end
  local reg = registry_of(self)
  local kind = reg and reg.kind[key]
  if reg and kind == nil then
    if is_module(value) then
      check_name(class_name(self), self, key)
      register_key(self, key, "module")
    elseif parameter_marks[value] then
      check_name(class_name(self), self, key)
      register_key(self, key, "parameter")
    end
  elseif kind == "module" and value ~= nil and not is_module(value) then
    raise(string.format("%s: cannot assign a %s to child module '%s' (a Module or nil expected)",
                        class_name(self), lg.is_tensor(value) and "tensor" or check.typename(value), tostring(key)))
  elseif kind ~= nil then
    bump(reg) -- an emptied registered slot is filled again
  end
  rawset(self, key, value)
end
M.module_newindex = module_newindex

local function construct(class, ...)
  local self = setmetatable({}, class)
  rawset(self, REGISTRY, new_registry())
  rawset(self, "training", true)
  local init = class.init
  if init then init(self, ...) end
  return self
end

local function class_tostring(class)
  return "class " .. tostring(rawget(class, "__name"))
end

-- Metamethods a subclass inherits (Lua reads them with rawget).
local METAMETHODS = {"__call", "__tostring", "__newindex", "__len", "__eq", "__lt", "__le",
                     "__add", "__sub", "__mul", "__div", "__unm", "__concat", "__close"}

--- Module:extend(name) returns a new class deriving from Module (or from the
--- class it is called on). `Class(...)` builds an instance and calls
--- `Class.init(self, ...)`; `instance(...)` calls `instance:forward(...)`.
-- @usage local Net = nn.Module:extend("Net")
function Module.extend(parent, name)
  if type(name) ~= "string" or name == "" then
    raise("Module:extend: expected a class name (a string), got " .. check.typename(name))
  end
  local class = {}
  for _, mm in ipairs(METAMETHODS) do class[mm] = rawget(parent, mm) end
  class.__index = class
  class.__name = name
  class.super = parent
  return setmetatable(class, {__index = parent, __call = construct, __tostring = class_tostring})
end

Module.__index = Module
Module.__name = "Module"
Module.__newindex = module_newindex
Module.__is_module_class = true
Module.__typename = "module" -- the type name in messages (lg._typename)
setmetatable(Module, {__call = construct, __tostring = class_tostring})

function Module.__call(self, ...)
  return self:forward(...)
end

--- Module:init(): the base constructor does nothing.
function Module.init() end

--- Module:forward(...): subclasses define it.
function Module:forward()
  raise(class_name(self) .. ": forward is not defined (define " .. class_name(self)
        .. ":forward)")
end

-- -----------------------------------------------------------------------
-- explicit registration

--- register_parameter(name, t): t (a tensor or nil) becomes parameter name.
-- @usage self:register_parameter("scale", nn.Parameter(lg.ones(1)))
function Module:register_parameter(name, t)
  check_name("register_parameter", self, name)
  if t ~= nil and not lg.is_tensor(t) then
    raise("register_parameter: expected a tensor or nil for '" .. tostring(name) .. "', got " .. check.typename(t))
  end
  local kind = registry_of(self).kind[name]
  if kind ~= "parameter" and (kind ~= nil or rawget(self, name) ~= nil) then
    raise("register_parameter: attribute '" .. tostring(name) .. "' already exists")
  end
  if t ~= nil then M.mark_parameter(t) end
  register_key(self, name, "parameter")
  rawset(self, name, t)
end

--- register_buffer(name, t, persistent): t (a tensor or nil) becomes buffer
--- name; a non-persistent buffer (persistent == false) is left out of the
--- state dict.
-- @usage self:register_buffer("mask", lg.ones(4), false)
function Module:register_buffer(name, t, persistent)
  check_name("register_buffer", self, name)
  if t ~= nil and not lg.is_tensor(t) then
    raise("register_buffer: expected a tensor or nil for '" .. tostring(name) .. "', got " .. check.typename(t))
  end
  local kind = registry_of(self).kind[name]
  if kind ~= "buffer" and (kind ~= nil or rawget(self, name) ~= nil) then
    raise("register_buffer: attribute '" .. tostring(name) .. "' already exists")
  end
  register_key(self, name, "buffer", persistent)
  rawset(self, name, t)
end

--- register_module(name, m) (alias add_module): m (a Module or nil) becomes
--- child name.
-- @usage self:register_module("head", nn.Linear(8, 2))
function Module:register_module(name, m)
  check_name("register_module", self, name)
  if m ~= nil and not is_module(m) then
    raise("register_module: expected a Module or nil for '" .. tostring(name) .. "', got " .. check.typename(m))
  end
  local kind = registry_of(self).kind[name]
  if kind ~= "module" and (kind ~= nil or rawget(self, name) ~= nil) then
    raise("register_module: attribute '" .. tostring(name) .. "' already exists")
  end
  register_key(self, name, "module")
  rawset(self, name, m)
end
Module.add_module = Module.register_module

-- -----------------------------------------------------------------------
-- traversal

local function join(prefix, key)
  if prefix == "" then return tostring(key) end
  return prefix .. "." .. tostring(key)
end
M.join = join

-- Calls visit(prefix, module) in preorder; shared modules once unless
-- keep_duplicates.
local function walk_modules(m, prefix, visit, seen)
  if seen then
    if seen[m] then return end
    seen[m] = true
  end
  visit(prefix, m)
  local reg = registry_of(m)
  for _, key in ipairs(reg.order) do
    if reg.kind[key] == "module" then
      local child = rawget(m, key)
      if child ~= nil then walk_modules(child, join(prefix, key), visit, seen) end
    end
  end
end
M.walk_modules = walk_modules

-- The options each traversal method takes.
local MEMBER_OPTIONS = {prefix = true, recurse = true, remove_duplicate = true}
local MODULE_OPTIONS = {prefix = true, remove_duplicate = true}

-- The {name, value} pairs of kind ("parameter" or "buffer"), in order.
local function named_members(self, kind, opts, persistent_only)
  local prefix = opts.prefix or ""
  local dedup = opts.remove_duplicate ~= false
  local out, seen_values = {}, dedup and {} or nil
  local function visit(mprefix, m)
    local reg = registry_of(m)
    for _, key in ipairs(reg.order) do
      if reg.kind[key] == kind and not (persistent_only and reg.transient[key]) then
        local v = rawget(m, key)
        if v ~= nil and not (seen_values and seen_values[v]) then
          if seen_values then seen_values[v] = true end
          out[#out + 1] = {join(mprefix, key), v}
        end
      end
    end
  end
  if opts.recurse == false then visit(prefix, self)
  else walk_modules(self, prefix, visit, dedup and {} or nil) end
  return out
end
M.named_members = named_members

local function to_map(list)
  local map = {}
  for _, pair in ipairs(list) do map[pair[1]] = pair[2] end
  return map
end

local function to_values(list)
  local values = {}
  for i, pair in ipairs(list) do values[i] = pair[2] end
  return values
end

--- named_parameters_list(opts) returns the parameters as an ordered array
--- of {name, tensor} pairs. opts: prefix, recurse (default true),
--- remove_duplicate (default true: a tensor held under two names is
--- reported under the first).
-- @usage for _, pair in ipairs(net:named_parameters_list()) do print(pair[1], pair[2].shape) end
function Module:named_parameters_list(opts)
  return named_members(self, "parameter", check.options("named_parameters", opts, MEMBER_OPTIONS))
end

--- named_parameters(opts) returns a table dotted name -> tensor (a plain
--- table, so it is a pytree for func.grad); for the order use
--- named_parameters_list.
-- @usage local grads = func.grad(loss)(net:named_parameters(), x, y)
function Module:named_parameters(opts)
  return to_map(named_members(self, "parameter", check.options("named_parameters", opts, MEMBER_OPTIONS)))
end

--- parameters(opts) returns the parameters as an array, in order.
-- @usage local opt = lg.optim.Adam(net:parameters())
function Module:parameters(opts)
  return to_values(named_members(self, "parameter", check.options("parameters", opts, MEMBER_OPTIONS)))
end

--- named_buffers_list(opts), named_buffers(opts), buffers(opts): as for
--- parameters (non-persistent buffers included).
-- @usage for _, pair in ipairs(net:named_buffers_list()) do print(pair[1]) end
function Module:named_buffers_list(opts)
  return named_members(self, "buffer", check.options("named_buffers", opts, MEMBER_OPTIONS))
end

--- named_buffers(opts): the buffers as a table dotted name -> tensor.
-- @param opts {prefix, recurse = true, remove_duplicate = true}
-- @return a table
-- @usage local bufs = bn:named_buffers() -- {running_mean = ..., ...}
function Module:named_buffers(opts)
  return to_map(named_members(self, "buffer", check.options("named_buffers", opts, MEMBER_OPTIONS)))
end

--- buffers(opts): the buffers as an array, in order.
-- @param opts {recurse = true}
-- @return an array of tensors
-- @usage for _, b in ipairs(net:buffers()) do print(b.shape) end
function Module:buffers(opts)
  return to_values(named_members(self, "buffer", check.options("buffers", opts, MEMBER_OPTIONS)))
end

--- named_children() returns the direct children as {name, module} pairs in
--- order; children() the modules.
-- @usage for _, pair in ipairs(net:named_children()) do print(pair[1]) end
function Module:named_children()
  local reg, out, seen = registry_of(self), {}, {}
  for _, key in ipairs(reg.order) do
    local child = reg.kind[key] == "module" and rawget(self, key)
    if child and not seen[child] then
      seen[child] = true
      out[#out + 1] = {tostring(key), child}
    end
  end
  return out
end

--- children(): the direct child modules as an array, in order.
-- @return an array of modules
-- @usage for _, child in ipairs(net:children()) do print(child) end
function Module:children()
  return to_values(self:named_children())
end

--- named_modules(opts) returns {name, module} pairs in preorder, this
--- module first with name "" (or opts.prefix); modules() the modules.
-- @usage for _, pair in ipairs(net:named_modules()) do print(pair[1], pair[2]) end
function Module:named_modules(opts)
  opts = check.options("named_modules", opts, MODULE_OPTIONS)
  local out = {}
  walk_modules(self, opts.prefix or "", function(prefix, m) out[#out + 1] = {prefix, m} end,
               opts.remove_duplicate ~= false and {} or nil)
  return out
end

--- modules(): every module in preorder, this one first.
-- @return an array of modules
-- @usage for _, m in ipairs(net:modules()) do print(m) end
function Module:modules()
  return to_values(self:named_modules())
end

--- get_submodule(target) returns the module at dotted path target ("" is
--- this module).
-- @usage local fc = net:get_submodule("encoder.1")
function Module:get_submodule(target)
  if target == "" then return self end
  if type(target) ~= "string" then
    raise("get_submodule: expected a dotted name, got " .. check.typename(target))
  end
  local m, path = self, ""
  for part in (target .. "."):gmatch("([^.]*)%.") do
    local reg = registry_of(m)
    local key = reg.key_of[part]
    local child = key ~= nil and reg.kind[key] == "module" and rawget(m, key) or nil
    if child == nil then
      raise(string.format("get_submodule: %s has no submodule '%s' (looking for '%s')",
                          path == "" and class_name(m) or class_name(m) .. " '" .. path .. "'",
                          part, target))
    end
    m, path = child, join(path, part)
  end
  return m
end

-- -----------------------------------------------------------------------
-- modes, gradients, conversion

--- train(mode): sets training (default true) on this module and every
--- descendant; returns self.
-- @usage net:train(); ...; net:train(false)
function Module:train(mode)
  if mode == nil then mode = true end
  if type(mode) ~= "boolean" then
    raise("train: expected a boolean mode, got " .. check.typename(mode))
  end
  walk_modules(self, "", function(_, m) m.training = mode end, {})
  return self
end

--- eval() is train(false).
-- @usage net:eval()
function Module:eval()
  return self:train(false)
end

--- zero_grad(): sets every parameter's .grad to nil (PyTorch's default,
--- set_to_none = true).
-- @usage net:zero_grad()
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad = nil end
end

--- apply(fn): calls fn(m) on every child, recursively, then on self;
--- returns self.
-- @usage net:apply(function(m) if m.weight then nn.init.zeros_(m.weight) end end)
function Module:apply(fn)
  for _, child in ipairs(self:children()) do child:apply(fn) end
  fn(self)
  return self
end

--- num_parameters(opts): the number of parameter elements (each tensor
--- counted once); opts.only_trainable counts those requiring grad.
-- @usage print(net:num_parameters())
function Module:num_parameters(opts)
  opts = check.options("num_parameters", opts, {only_trainable = true})
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not opts.only_trainable or p.requires_grad then n = n + p:numel() end
  end
  return n
end

local FLOAT_DTYPES = {float32 = true, float64 = true}

--- to(dtype): converts the floating-point parameters and buffers (and the
--- parameters' gradients) to dtype, as PyTorch's module.to(dtype). A tensor
--- already of that dtype is kept as it is; a converted parameter is a new
--- leaf requiring grad as before, stored in the same fields (tied fields
--- stay tied). Returns self.
-- @usage net:to("float64")
function Module:to(dtype)
  if not FLOAT_DTYPES[dtype] then
    raise("to: expected a floating dtype (\"float32\" or \"float64\"), got " .. tostring(dtype))
  end
  local converted = {}
  local function convert(t, is_param)
    if converted[t] then return converted[t] end
    local out = t
    if FLOAT_DTYPES[t.dtype] and t.dtype ~= dtype then
      out = lg.no_grad(function() return t:to(dtype) end)
      if is_param then
        out = out:detach()
        out:requires_grad_(t.requires_grad)
        M.mark_parameter(out)
        if t.grad ~= nil then out.grad = lg.no_grad(function() return t.grad:to(dtype) end) end
      end
    end
    converted[t] = out
    return out
  end
  walk_modules(self, "", function(_, m)
    local reg = registry_of(m)
    for _, key in ipairs(reg.order) do
      local kind = reg.kind[key]
      local v = rawget(m, key)
      if v ~= nil and (kind == "parameter" or kind == "buffer") then
        rawset(m, key, convert(v, kind == "parameter"))
      end
    end
  end, {})
  return self
end

-- A copy of tensor t for clone: new storage, the same dtype and values; a
-- leaf keeps requires_grad, its .grad (copied) and its parameter mark; a
-- non-leaf comes back detached (PyTorch's deepcopy refuses those).
local function copy_tensor(t)
  local out = lg.no_grad(function() return t:detach():clone() end)
  if t.is_leaf and t.requires_grad then out:requires_grad_(true) end
  if parameter_marks[t] then M.mark_parameter(out) end
  if t.grad ~= nil then out.grad = lg.no_grad(function() return t.grad:clone() end) end
  return out
end

-- Tables clone shares rather than copies: classes (they hold __index and a
-- __name) and loaded libraries (package.loaded's values, lg among them).
local function shared_tables()
  local shared = {[lg] = true}
  local loaded = package and package.loaded
  if type(loaded) == "table" then
    for _, v in pairs(loaded) do
      if type(v) == "table" then shared[v] = true end
    end
  end
  return shared
end

--- clone() returns a deep copy of the module, as PyTorch's copy.deepcopy
--- gives: new tensors with the same values for every parameter and buffer
--- (parameters stay leaves with their requires_grad and a copy of their
--- .grad), new submodules and new plain tables (settings, registries,
--- parametrizations), the same functions (hooks) and classes. A tensor or
--- table reached twice is copied once, so ties inside the module (a weight
--- shared by two layers) are ties in the copy too; nothing is shared with
--- the original. Used for ensembles and MAML's per-task copies.
-- @treturn Module the copy
-- @usage local copies = {}; for i = 1, 5 do copies[i] = model:clone() end
function Module:clone()
  local shared, memo = shared_tables(), {}
  local function copy(v)
    if lg.is_tensor(v) then
      if memo[v] == nil then memo[v] = copy_tensor(v) end
      return memo[v]
    end
    if type(v) ~= "table" or shared[v] then return v end
    if rawget(v, "__index") ~= nil and type(rawget(v, "__name")) == "string" then
      return v -- a class
    end
    if memo[v] ~= nil then return memo[v] end
    local out = {}
    memo[v] = out
    for key, value in next, v do rawset(out, copy(key), copy(value)) end
    return setmetatable(out, getmetatable(v))
  end
  local out = copy(self)
  for m in pairs(memo) do -- each copied registry is a new structure
    if is_module(m) then bump(registry_of(memo[m])) end
  end
  return out
end

--- float() and double(): to("float32") and to("float64").
-- @usage net:float()
function Module:float() return self:to("float32") end
--- double(): to("float64").
-- @return self
-- @usage net:double()
function Module:double() return self:to("float64") end

-- -----------------------------------------------------------------------
-- state dicts

local shape_string = check.shape_string

-- The {name, tensor} pairs of the state dict (raw, not detached), in order:
-- per module its parameters, then its persistent buffers, then children.
local function state_entries(self)
  local out, seen = {}, {}
  walk_modules(self, "", function(prefix, m)
    local reg = registry_of(m)
    for _, kind in ipairs({"parameter", "buffer"}) do
      for _, key in ipairs(reg.order) do
        local v = rawget(m, key)
        if reg.kind[key] == kind and v ~= nil and not reg.transient[key] then
          local name = join(prefix, key)
          if not seen[name] then
            seen[name] = true
            out[#out + 1] = {name, v}
          end
        end
      end
    end
  end, nil)
  return out
end

--- state_dict_list(opts) returns the state dict as an ordered array of
--- {name, tensor} pairs; state_dict(opts) as a table name -> tensor. The
--- tensors are detached (they share storage with the module's) unless
--- opts.keep_vars. Non-persistent buffers are left out; a tensor held under
--- two names appears under both, as in PyTorch.
-- @usage for _, pair in ipairs(net:state_dict_list()) do print(pair[1]) end
function Module:state_dict_list(opts)
  opts = check.options("state_dict", opts, {keep_vars = true})
  local out = state_entries(self)
  if not opts.keep_vars then
    for _, pair in ipairs(out) do pair[2] = pair[2]:detach() end
  end
  return out
end

--- state_dict(opts): the state dict as a table dotted name -> tensor
-- (detached unless opts.keep_vars); for the order use state_dict_list.
-- @param opts {keep_vars = false}
-- @return a table
-- @usage lg.io.save(net:state_dict(), "net.safetensors")
function Module:state_dict(opts)
  return to_map(self:state_dict_list(opts))
end

local function quoted_list(names)
  table.sort(names)
  local parts = {}
  for i, n in ipairs(names) do parts[i] = '"' .. n .. '"' end
  return table.concat(parts, ", ")
end
M.quoted_list = quoted_list

--- save(path[, metadata]) writes the state dict as a safetensors file
--- (PyTorch loads it with safetensors' load_file); the write is atomic: a
--- temporary file beside path, then a rename.
-- @usage net:save("net.safetensors")
function Module:save(path, metadata)
  require("luagrad.io").save(path, self:state_dict(), metadata)
end

--- load(path[, {strict = true}]) reads a safetensors file written by save
--- (or by PyTorch) into the module through load_state_dict.
-- @usage net:load("net.safetensors")
function Module:load(path, opts)
  local tensors = require("luagrad.io").load(path)
  return self:load_state_dict(tensors, opts)
end

--- load_state_dict(sd, {strict = true}) copies sd's tensors into the
--- module's parameters and buffers in place (without recording gradients).
--- With strict, missing and unexpected keys are an error that lists them; a
--- shape mismatch is always an error naming the key and both shapes.
--- Returns {missing_keys = {...}, unexpected_keys = {...}}.
-- @usage net:load_state_dict(lg.io.load("net.safetensors"))
function Module:load_state_dict(sd, opts)
  if type(sd) ~= "table" then
    raise("load_state_dict: expected a table name -> tensor, got " .. check.typename(sd))
  end
  opts = check.options("load_state_dict", opts, {strict = true})
  local strict = opts.strict ~= false
  local entries = state_entries(self)
  local known, missing, unexpected, errors = {}, {}, {}, {}
  for _, pair in ipairs(entries) do
    local name, target = pair[1], pair[2]
    known[name] = true
    local v = sd[name]
    if v == nil then
      missing[#missing + 1] = name
    elseif not lg.is_tensor(v) then
      errors[#errors + 1] = string.format("expected a tensor for \"%s\", got %s", name, check.typename(v))
    elseif shape_string(v) ~= shape_string(target) then
      errors[#errors + 1] = string.format(
        "size mismatch for %s: copying a tensor of shape %s from the state dict, the shape in the current model is %s",
        name, shape_string(v), shape_string(target))
    end
  end
  for k in pairs(sd) do
    if not known[k] then unexpected[#unexpected + 1] = tostring(k) end
  end
  if strict then
    if #missing > 0 then table.insert(errors, 1, "missing key(s): " .. quoted_list(missing)) end
    if #unexpected > 0 then table.insert(errors, 1, "unexpected key(s): " .. quoted_list(unexpected)) end
  end
  if #errors > 0 then
    raise("load_state_dict: error(s) in loading the state dict for " .. class_name(self) .. ":\n\t"
          .. table.concat(errors, "\n\t"))
  end
  lg.no_grad(function()
    for _, pair in ipairs(entries) do
      local v = sd[pair[1]]
      if v ~= nil and not rawequal(v, pair[2]) then pair[2]:copy_(v) end
    end
  end)
  table.sort(missing)
  table.sort(unexpected)
  return {missing_keys = missing, unexpected_keys = unexpected}
end

-- -----------------------------------------------------------------------
-- printing

--- extra_repr(): the text inside a module's parentheses; layers override it
--- (e.g. "in_features=4, out_features=8, bias=true").
function Module.extra_repr() return nil end

-- The line width a summary of parameters wraps at: the tensors' linewidth.
local function line_width()
  return lg.get_printoptions().linewidth
end

-- "{16, 4}", with the dtype after it when it is not float32.
local function tensor_text(t)
  local text = tostring(t.shape)
  if t.dtype ~= "float32" then text = text .. " " .. t.dtype end
  return text
end

-- The keys of m's registry of one kind whose slot holds a value, in order.
local function registered(reg, m, kind)
  local out = {}
  for _, key in ipairs(reg.order) do
    if reg.kind[key] == kind and rawget(m, key) ~= nil then out[#out + 1] = key end
  end
  return out
end

-- items joined by ", " on lines that start with pad and stop before
-- column `width` (a line's first column is `column`); an item longer than
-- a line gets a line of its own.
local function wrap(items, pad, column, width)
  local lines, line, count = {}, pad, 0
  for i, item in ipairs(items) do
    local piece = item .. (i < #items and "," or "")
    if count > 0 and column + #line + 1 + #piece > width then
      lines[#lines + 1] = line
      line, count = pad, 0
    end
    line = line .. (count > 0 and " " or "") .. piece
    count = count + 1
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local render

-- A child's text: the tree of a plain module, or its own __tostring when a
-- class replaced it.
local function child_text(child, indent, lead)
  local mt = getmetatable(child)
  if mt and rawget(mt, "__tostring") ~= Module.__tostring then return tostring(child) end
  return render(child, indent, lead)
end

-- The tree of m, PyTorch's layout: "Name(extra_repr)", children as
-- "(name): ..." lines. Own parameters with their shapes: after a one-line
-- module ("Linear(...)  weight {16, 4}, bias {16}", wrapped at the line
-- width), as "name: Parameter {shape}" lines in a multi-line one; a module
-- without extra_repr lists its buffers too. indent is the column where m's
-- block starts, lead the width of what precedes m's name on its first line.
function render(m, indent, lead)
  local reg = registry_of(m)
  local extra = m:extra_repr()
  local name = class_name(m)
  local params = registered(reg, m, "parameter")
  local children = registered(reg, m, "module")
  local lines = {}
  if extra ~= nil and extra ~= "" then
    for line in (tostring(extra) .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  end
  if #children == 0 and extra ~= nil and #lines <= 1 then
    local head = name .. "(" .. (lines[1] or "") .. ")"
    if #params == 0 then return head end
    local items = {}
    for i, key in ipairs(params) do items[i] = tostring(key) .. " " .. tensor_text(rawget(m, key)) end
    local width, start = line_width(), indent + lead
    local one_line = head .. "  " .. table.concat(items, ", ")
    if start + #one_line <= width then return one_line end
    -- on the lines below, under the name and two columns in
    local pad = string.rep(" ", lead + 2)
    return head .. "\n" .. wrap(items, pad, indent, width)
  end
  for _, key in ipairs(reg.order) do
    local kind, v = reg.kind[key], rawget(m, key)
    if v == nil then -- an emptied slot
    elseif kind == "module" then
      local prefix = "(" .. tostring(key) .. "): "
      lines[#lines + 1] = prefix .. child_text(v, indent + 2, #prefix):gsub("\n", "\n  ")
    elseif kind == "parameter" then
      lines[#lines + 1] = tostring(key) .. ": Parameter " .. tensor_text(v)
    elseif kind == "buffer" and extra == nil then
      lines[#lines + 1] = tostring(key) .. ": Buffer " .. tensor_text(v)
    end
  end
  if #lines == 0 then return name .. "()" end
  return name .. "(\n  " .. table.concat(lines, "\n  ") .. "\n)"
end

--- tostring(module) draws the module tree with the shapes of the
--- parameters (see render), and under a tree that holds parameters the
--- line "-- N parameters" (each tensor counted once; "(K trainable)" when
--- some do not require grad).
function Module:__tostring()
  local text = render(self, 0, 0)
  local total = self:num_parameters()
  if total == 0 then return text end
  local trainable = self:num_parameters({only_trainable = true})
  return text .. "\n-- " .. total .. (total == 1 and " parameter" or " parameters")
    .. (trainable ~= total and " (" .. trainable .. " trainable)" or "")
end

return M
