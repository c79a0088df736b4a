--- luagrad.nn: the nn table (Module, Parameter, containers, init, utils) and
-- the lazy loading of nn.functional and of the layer classes.
--
-- Contract with the layer files:
--   * `require "luagrad.nn.layers"` (lua/luagrad/nn/layers.lua) returns
--     one table, layer name -> class, the union of what every
--     lua/luagrad/nn/layers/*.lua file returns. Each of those files returns a
--     table name -> class, every class built with
--     `require("luagrad.nn.module").Module:extend("Name")` (or extending
--     another layer class), e.g. `{Linear = Linear, Bilinear = Bilinear}`.
--   * A layer's constructor is its `init`; its parameters are assigned as
--     `self.weight = nn.Parameter(...)` (M.Parameter of luagrad.nn.module)
--     and its buffers registered with `self:register_buffer(name, t)`, so
--     state dicts, functional_call and parametrizations see them; it may
--     define `extra_repr()` for tostring.
--   * `nn.functional` is lua/luagrad/nn/functional.lua, loaded on first use.
-- `nn.Linear` and the other layer names are looked up in that table on first
-- use and then cached as plain fields of nn. A name nn does not know is nil.
-- The metatable's __lazy_keys lists those names for Tab completion.
-- @module nn
local module = require "luagrad.nn.module"
local containers = require "luagrad.nn.containers"

local nn = {}

nn.Module = module.Module
nn.Parameter = module.Parameter
nn.is_parameter = module.is_parameter
nn.is_module = module.is_module
nn.Sequential = containers.Sequential
nn.ModuleList = containers.ModuleList
nn.ModuleDict = containers.ModuleDict
nn.init = require "luagrad.nn.init_fns"
nn.utils = require "luagrad.nn.utils"

local layers -- the registry of layer classes, loaded on first use

-- The layer index (it loads no layer file), or nil while there is none.
local function layer_index()
  if layers == nil then
    layers = require "luagrad.nn.layers"
  end
  return layers
end

setmetatable(nn, {
  __index = function(self, key)
    if key == "functional" or key == "F" then
      local functional = require "luagrad.nn.functional"
      rawset(self, "functional", functional)
      rawset(self, "F", functional)
      return functional
    end
    if type(key) ~= "string" or layer_index() == nil then return nil end
    local class = layers[key]
    if type(class) ~= "table" or not class.__is_module_class then return nil end -- helpers of the index
    rawset(self, key, class)
    return class
  end,
  -- The names __index loads, name -> module, for the REPL's completion
  -- (the __lazy_keys protocol of luagrad.repl): nothing is loaded.
  __lazy_keys = function()
    local keys = {functional = "luagrad.nn.functional", F = "luagrad.nn.functional"}
    if layer_index() == nil then return keys end
    for _, name in ipairs(layers.names()) do
      keys[name] = "luagrad.nn.layers." .. layers.family(name)
    end
    return keys
  end,
})

return nn
