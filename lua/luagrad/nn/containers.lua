--- luagrad.nn.containers: Sequential, ModuleList and ModuleDict. Their
-- children are plain fields like any module's: Sequential and ModuleList
-- hold them at integer keys 1..n (`seq[2]`, `#seq`, `ipairs(list)`; dotted
-- names "1", "2", ...), ModuleDict at string keys.
-- @module nn
local M = require "luagrad.nn.module"
local check = require "luagrad.check"
local raise = check.raise

local Module, is_module, class_name = M.Module, M.is_module, M.class_name

local containers = {}

local function check_child(fname, i, m)
  if not is_module(m) then
    raise(string.format("%s: expected a Module at position %d, got %s", fname, i, check.typename(m)))
  end
end

-- Appends modules (an array) at integer keys after the last one.
local function append_all(self, fname, modules, n)
  for i = 1, n or #modules do
    check_child(fname, i, modules[i])
    self[#self + 1] = modules[i]
  end
  return self
end

-- After insert or pop: the integer keys 1..new_n are the children, in order.
local function reindex(self, old_n, new_n)
  local reg = M.registry_of(self)
  local order = {}
  for _, k in ipairs(reg.order) do
    if math.type(k) ~= "integer" then order[#order + 1] = k end
  end
  for k = 1, new_n do
    order[#order + 1] = k
    reg.kind[k], reg.key_of[tostring(k)] = "module", k
  end
  for k = new_n + 1, old_n do reg.kind[k], reg.key_of[tostring(k)] = nil, nil end
  reg.order = order
  M.bump(reg)
end

-- -----------------------------------------------------------------------
-- shared by Sequential and ModuleList

local function define_list_methods(class)
  --- append(m): adds m at the end; returns self.
  -- @usage blocks:append(nn.Linear(4, 4))
  function class:append(m)
    return append_all(self, class.__name .. ":append", {m}, 1)
  end

  --- extend(modules): appends each module of an array; returns self.
  -- @usage blocks:extend({nn.Linear(4, 4), nn.ReLU()})
  function class:extend(modules)
    if type(modules) ~= "table" or is_module(modules) and getmetatable(modules) ~= class then
      raise(class.__name .. ":extend: expected an array of modules, got " .. check.typename(modules))
    end
    local list = {}
    for i = 1, #modules do list[i] = modules[i] end
    return append_all(self, class.__name .. ":extend", list)
  end

  --- insert(i, m): puts m at position i, moving the later ones up.
  -- @usage blocks:insert(1, nn.Identity())
  function class:insert(i, m)
    local n = #self
    if math.type(i) ~= "integer" or i < 1 or i > n + 1 then
      raise(string.format("%s:insert: expected a position in 1..%d, got %s", class.__name, n + 1, tostring(i)))
    end
    check_child(class.__name .. ":insert", i, m)
    for k = n, i, -1 do rawset(self, k + 1, rawget(self, k)) end
    rawset(self, i, m)
    reindex(self, n, n + 1)
    return self
  end

  --- pop(i): removes and returns the child at position i (default last).
  -- @usage local last = blocks:pop()
  function class:pop(i)
    local n = #self
    i = i or n
    if math.type(i) ~= "integer" or i < 1 or i > n then
      raise(string.format("%s:pop: expected a position in 1..%d, got %s", class.__name, n, tostring(i)))
    end
    local m = rawget(self, i)
    for k = i, n - 1 do rawset(self, k, rawget(self, k + 1)) end
    rawset(self, n, nil)
    reindex(self, n, n - 1)
    return m
  end
end

-- -----------------------------------------------------------------------
-- Sequential

--- Sequential(m1, m2, ...): a chain of modules (see Sequential:init).
-- @usage local net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
local Sequential = Module:extend("Sequential")
containers.Sequential = Sequential
define_list_methods(Sequential)

--- Sequential(m1, m2, ...) or Sequential({m1, m2, ...}): forward passes the
--- input through each child in turn. An error inside a child is re-raised
--- as "Sequential: child i (Class): <message>".
function Sequential:init(...)
  local first = ...
  if select("#", ...) == 1 and type(first) == "table" and not is_module(first) then
    append_all(self, "Sequential", first)
  else
    append_all(self, "Sequential", {...}, select("#", ...))
  end
end

-- The position of the child that Sequential's loop is running: set before
-- each child call, read only when the loop fails, so the success path pays
-- one pcall per forward and not one per child. A nested Sequential that
-- fails puts back the position its caller had set before re-raising.
local running_child = 0

local function run_children(self, x)
  for i = 1, #self do
    running_child = i
    -- self[i], not rawget: the children are raw fields (1..#self), so the
    -- index never reaches __index, and a C call per child is saved
    x = self[i](x)
  end
  return x
end

function Sequential:forward(x)
  local caller_child = running_child
  local ok, y = pcall(run_children, self, x)
  if ok then return y end
  local i = running_child
  running_child = caller_child
  if type(y) == "string" then
    error(string.format("Sequential: child %d (%s): %s", i, class_name(rawget(self, i)), y), 0)
  end
  error(y, 0)
end

-- -----------------------------------------------------------------------
-- ModuleList

--- ModuleList({m1, m2, ...}): an array of modules, registered as children
-- "1", "2", ... (1-based, unlike PyTorch's 0-based names); no forward.
-- @usage local blocks = nn.ModuleList({nn.Linear(4, 4), nn.Linear(4, 4)})
local ModuleList = Module:extend("ModuleList")
containers.ModuleList = ModuleList
define_list_methods(ModuleList)

--- ModuleList({m1, m2, ...}): holds modules at 1..n; no forward.
function ModuleList:init(modules)
  if modules ~= nil then
    if type(modules) ~= "table" or is_module(modules) then
      raise("ModuleList: expected an array of modules, got " .. check.typename(modules))
    end
    append_all(self, "ModuleList", modules)
  end
end

function ModuleList:forward()
  raise("ModuleList: has no forward; iterate over it (for i, m in ipairs(list))")
end

-- -----------------------------------------------------------------------
-- ModuleDict

--- ModuleDict({name = m, ...}): modules under string keys, in insertion
-- order; no forward.
-- @usage local heads = nn.ModuleDict({cls = nn.Linear(8, 3), reg = nn.Linear(8, 1)})
local ModuleDict = Module:extend("ModuleDict")
containers.ModuleDict = ModuleDict

--- ModuleDict({name = m, ...}): holds modules under string keys (`d.name`
--- or `d["name"]`), in insertion order; a table argument's keys are
--- inserted in sorted order. A name may not hide a method.
function ModuleDict:init(modules)
  if modules ~= nil then self:update(modules) end
end

--- set(name, m): adds or replaces child name.
-- @usage heads:set("reg", nn.Linear(8, 1))
function ModuleDict:set(name, m)
  if type(name) ~= "string" then
    raise("ModuleDict:set: expected a string name, got " .. check.typename(name))
  end
  if not is_module(m) then
    raise("ModuleDict:set: expected a Module for '" .. name .. "', got " .. check.typename(m))
  end
  local reg = M.registry_of(self)
  if reg.kind[name] == nil then
    if rawget(self, name) ~= nil or ModuleDict[name] ~= nil then
      raise("ModuleDict:set: the name '" .. name .. "' is taken by a field or method of ModuleDict")
    end
    self:register_module(name, m)
  else
    rawset(self, name, m)
  end
  return self
end

--- update(modules): sets each entry of a table name -> module (sorted by
--- name) or of an array of {name, module} pairs (in order).
-- @usage heads:update({a = nn.Linear(2, 2), b = nn.ReLU()})
function ModuleDict:update(modules)
  if type(modules) ~= "table" or is_module(modules) then
    raise("ModuleDict:update: expected a table of modules, got " .. check.typename(modules))
  end
  if modules[1] ~= nil then
    for _, pair in ipairs(modules) do self:set(pair[1], pair[2]) end
    return self
  end
  local names = {}
  for k in pairs(modules) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do self:set(k, modules[k]) end
  return self
end

--- pop(name): removes child name and returns it.
-- @usage local head = heads:pop("cls")
function ModuleDict:pop(name)
  local m = self[name]
  M.unregister_key(self, name)
  rawset(self, name, nil)
  return m
end

--- keys(), values(), items(): the children's names, modules and {name,
--- module} pairs, in order.
-- @usage for _, pair in ipairs(d:items()) do print(pair[1], pair[2]) end
function ModuleDict:items() return self:named_children() end

--- keys(): the children's names, in order.
-- @return an array of strings
-- @usage for _, name in ipairs(heads:keys()) do print(name) end
function ModuleDict:keys()
  local out = {}
  for i, pair in ipairs(self:named_children()) do out[i] = pair[1] end
  return out
end

--- values(): the child modules, in order.
-- @return an array of modules
-- @usage for _, m in ipairs(heads:values()) do print(m) end
function ModuleDict:values() return self:children() end

function ModuleDict:forward()
  raise("ModuleDict: has no forward; index it by name")
end

return containers
