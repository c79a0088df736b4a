-- api_fuzz seed 6: a tensor assigned as its own .grad (or two tensors as
-- each other's) made a reference cycle that leaked the tensors, their
-- storage and the whole context (LeakSanitizer). Must be an error or free.
local lg = require "luagrad"
local t = lg.zeros(2)
pcall(function() t.grad = t end)
local u, v = lg.zeros(2), lg.zeros(2)
pcall(function() u.grad = v; v.grad = u end)
t, u, v = nil, nil, nil
collectgarbage()
