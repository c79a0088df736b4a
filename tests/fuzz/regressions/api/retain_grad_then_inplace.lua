-- retain_grad, then an in-place op: the tensor gets a new grad_fn, and the
-- old node must forget it (it used to keep a dangling pointer that was
-- read when the old node died: a use-after-free the API fuzz found).
local lg = require "luagrad"
local x = lg.ones(3, {requires_grad = true})
local y = x * 2
y:retain_grad()
y:mul_(3)
y:sum():backward()
assert(y.grad and y.grad:tolist()[1] == 1, "retain_grad follows the tensor")
assert(x.grad:tolist()[1] == 6)
y = nil
collectgarbage()
collectgarbage()
x = nil
collectgarbage()
print("ok")
