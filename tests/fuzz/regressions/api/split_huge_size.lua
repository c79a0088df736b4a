-- api_fuzz seed 2: t:split(math.maxinteger) overflowed size + piece - 1
-- while counting the pieces (UBSan: signed integer overflow).
local lg = require "luagrad"
pcall(lg.zeros(3).split, lg.zeros(3), math.maxinteger)
