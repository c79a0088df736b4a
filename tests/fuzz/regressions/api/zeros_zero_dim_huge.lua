-- fuzz_idx (and the safetensors and npy readers): a shape with a 0 and two
-- dims of 2^32 has no elements, but computing its contiguous strides
-- overflowed int64 (UBSan). The same shape from Lua:
local lg = require "luagrad"
pcall(lg.zeros, 0, 2 ^ 32, 2 ^ 32)
pcall(lg.empty, {2 ^ 32, 0, 2 ^ 32})
