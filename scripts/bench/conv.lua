-- (7) conv2d forward + backward, batch 64: 28x28 input, 1 -> 32 -> 64
-- channels, 3x3 kernels, padding 1, no activation; loss = sum of the output.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn = lg.nn

lg.manual_seed(0)
local conv1 = nn.Conv2d(1, 32, 3, {padding = 1})
local conv2 = nn.Conv2d(32, 64, 3, {padding = 1})
local params = {conv1.weight, conv1.bias, conv2.weight, conv2.bias}
local x = lg.randn(64, 1, 28, 28)
B.report("conv2d_fwd_bwd", B.time(function()
  for _, p in ipairs(params) do p.grad = nil end
  conv2(conv1(x)):sum():backward()
end, {target_s = 0.1, reps = 5, warmup = 1}))
-- the forward alone, without autograd: its GFLOP/s are set against the
-- machine's sgemm (sgemm_direct.c, run beside it by scripts/bench/run)
B.report("conv2d_fwd", B.time(function()
  return lg.no_grad(function() return conv2(conv1(x)) end)
end, {target_s = 0.1, reps = 5, warmup = 1}))
