-- api_fuzz seed 1 (20000 calls, after the wave-2 ops joined the targets):
-- tolist of an empty tensor of shape {2^53, 0} built 2^53 empty tables
-- until the kernel's OOM killer ended the process. Refused with an error;
-- modest empty shapes still give their nested empty tables.
local lg = require "luagrad"
local ok, err = pcall(function() return lg.zeros(2 ^ 53, 0):tolist() end)
assert(not ok and err:find("tolist: a tensor of shape {9007199254740992, 0}", 1, true), err)
local list = lg.zeros(3, 0):tolist()
assert(#list == 3 and #list[1] == 0)
assert(#lg.zeros(0, 5):tolist() == 0)
