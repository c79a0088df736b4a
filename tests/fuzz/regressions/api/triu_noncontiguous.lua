-- api_fuzz seed 1 (after the structure ops met func.compile): triu/tril of
-- a non-contiguous tensor read the input through its strides as if
-- contiguous (ASan: heap-buffer-overflow; a leak when it survived), because
-- the contiguous copy went into a pointer that already held the input and
-- clone now fills a given output.
local lg = require "luagrad"
local x = lg.tensor({{1, 2, 3}, {4, 5, 6}}):t()
assert(lg.allclose(x:triu(), lg.tensor({{1, 4}, {0, 5}, {0, 0}}):to(x:triu().dtype)))
assert(lg.allclose(x:tril(), lg.tensor({{1, 0}, {2, 5}, {3, 6}}):to(x:tril().dtype)))
local e = lg.tensor({{1, 2, 3}}):expand(4, 3)
assert(lg.allclose(e:triu(1), lg.tensor({{0, 2, 3}, {0, 0, 3}, {0, 0, 0}, {0, 0, 0}}):to(e:triu(1).dtype)))
