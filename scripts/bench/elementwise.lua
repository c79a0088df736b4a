-- (4) elementwise add, mul, exp, tanh (out of place) on 4 and on 1M float32
-- elements, contiguous inputs.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"

lg.manual_seed(0)
for _, n in ipairs({4, 1048576}) do
  local label = n == 4 and "4" or "1M"
  local a, b = lg.randn(n), lg.randn(n)
  B.report("add_" .. label, B.time(function() return a + b end))
  B.report("mul_" .. label, B.time(function() return a * b end))
  B.report("exp_" .. label, B.time(function() return a:exp() end))
  B.report("tanh_" .. label, B.time(function() return a:tanh() end))
end
