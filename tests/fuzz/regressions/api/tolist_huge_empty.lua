-- api_fuzz seed 1 (with the RNN branch's targets): t:tolist() on an empty
-- tensor expanded to (2^53, 0) built 2^53 empty Lua tables until the
-- process was killed. The count of nested lists is now checked first.
local lg = require "luagrad"
local t = lg.zeros(1, 0):expand(2 ^ 53, 0)
local ok, err = pcall(t.tolist, t)
assert(not ok and tostring(err):find("tolist", 1, true), tostring(err))
assert(#lg.zeros(3, 0):tolist() == 3)
assert(#lg.zeros(2, 3):tolist()[2] == 3)
