-- A .grad whose graph holds the tensor (t.grad = t * 2 saves t; t.grad =
-- t + 1 reaches t's gradient sink) would be a reference cycle that
-- reference counts never free: refused with an error naming grad. A
-- detached gradient is fine.
local lg = require "luagrad"
local t = lg.tensor({1.0, 2.0}, {requires_grad = true})
for _, make in ipairs({function() return t * 2 end, function() return t + 1 end,
                       function() return t end}) do
  local ok, err = pcall(function() t.grad = make() end)
  assert(not ok and tostring(err):find("grad"), tostring(err))
  assert(t.grad == nil)
end
local u, v = lg.zeros(2), lg.zeros(2)
u.grad = v
local ok = pcall(function() v.grad = u end)
assert(not ok, "u.grad = v, v.grad = u is a cycle")
t.grad = (t * 2):detach()
assert(t.grad:tolist()[2] == 4)
t, u, v = nil, nil, nil
collectgarbage()
