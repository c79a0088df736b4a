-- An in-place op whose other operand is the tensor itself (y:mul_(y)):
-- both operands must read the values from before the write. Saving y
-- itself made a reference cycle (a leak the API fuzz found) and a false
-- "modified in place" error at backward.
local lg = require "luagrad"
local x = lg.tensor({1, 2, 3}, {dtype = "float64", requires_grad = true})
local y = x * 1
y:mul_(y)
assert(y:tolist()[3] == 9)
y:sum():backward()
local g = x.grad:tolist()
assert(g[1] == 2 and g[2] == 4 and g[3] == 6, "d(x^2)/dx = 2x")
print("ok")
