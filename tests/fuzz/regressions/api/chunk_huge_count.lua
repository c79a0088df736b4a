-- api_fuzz seeds 11 and 20: t:chunk(math.maxinteger) overflowed computing
-- ceil(size / chunks) (UBSan: signed integer overflow). One chunk per
-- element, as in PyTorch.
local lg = require "luagrad"
local pieces = lg.arange(6):chunk(math.maxinteger)
assert(#pieces == 6, #pieces)
assert(#lg.zeros(0):chunk(3) == 3)
