-- (2) func.grad over functional_call of the 16-32-4 MLP's MSE loss, batch 1.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local F, func = lg.F, lg.func

local model = B.mlp(16, 32, 4)
local params = B.detached_params(model)
local x, y = lg.randn(1, 16), lg.randn(1, 4)
local function loss_fn(p, input, target)
  return F.mse_loss(func.functional_call(model, p, input), target)
end
local grad_fn = func.grad(loss_fn)
B.report("mlp_grad", B.time(function() return grad_fn(params, x, y) end))
