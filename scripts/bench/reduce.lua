-- (5) sum, mean and softmax over the rows of a 1024x1024 float32 matrix
-- (reducing the last dim: one result per row).
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"

lg.manual_seed(0)
local x = lg.randn(1024, 1024)
B.report("sum_rows", B.time(function() return x:sum(2) end))
B.report("mean_rows", B.time(function() return x:mean(2) end))
B.report("softmax_rows", B.time(function() return lg.F.softmax(x, 2) end))
