-- api_fuzz seed 9 (50 000 calls): a:mul_(b) where b's graph saved a (b =
-- a / 2) handed a a node that holds b, whose node held a: a reference
-- cycle that leaked ~400 KB (LeakSanitizer). The in-place op now swaps
-- those saves of a for detached aliases: no cycle, and a backward through
-- them still reports the in-place change, as in PyTorch.
local lg = require "luagrad"
local x = lg.tensor({1.0, 2.0, 3.0}, {requires_grad = true})
local a = x * 1
local b = a / 2
a:mul_(b)
assert(a.grad_fn ~= nil, "a takes the graph of the product")
local ok, err = pcall(function() a:sum():backward() end)
assert(not ok, "backward through b's stale save of a must fail")
assert(tostring(err):find("in%-place") or tostring(err):find("modified"), tostring(err))
-- an operand whose graph does not save a keeps the op differentiable
local y = lg.tensor({1.0, 2.0}, {requires_grad = true})
local c = y * 1
c:mul_(c + 1)
c:sum():backward()
local gy = y.grad:tolist()
assert(gy[1] == 3 and gy[2] == 5, tostring(y.grad))
x, a, b, y, c = nil, nil, nil, nil, nil
collectgarbage()
