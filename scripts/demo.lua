-- demo.lua: a short tour of luagrad tensors, run by scripts/demo.
local lg = require "luagrad"

local function show(title, value)
  print(("-- %s"):format(title))
  print(value)
end

lg.manual_seed(0)
local x = lg.randn(3, 4)
show("x = lg.randn(3, 4)", x)
show("x:matmul(lg.ones(4))", x:matmul(lg.ones(4)))
show("x:sum(2, true)  (dims are 1-based; true keeps the dim)", x:sum(2, true))
local values, indices = x:max(2)
show("values, indices = x:max(2)", values)
print(indices)
show("lg.arange(6):view(2, 3) * 10 + 1", lg.arange(6):view(2, 3) * 10 + 1)
show("lg.tensor({{1, 2}, {3, 4}}, {dtype = 'float64'}):t()",
     lg.tensor({{1, 2}, {3, 4}}, {dtype = "float64"}):t())
local m = lg.zeros(3, 3)
m[{2, {}}] = 7
show("m = lg.zeros(3, 3); m[{2, {}}] = 7", m)
show("lg.sigmoid(lg.linspace(-3, 3, 5))", lg.sigmoid(lg.linspace(-3, 3, 5)))
local ok, err = pcall(function() return lg.ones(2, 3) + lg.ones(4) end)
print("-- a wrong call is a clean Lua error:")
print(ok, err)
