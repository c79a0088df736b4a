-- (2) func.grad over functional_call of the 16-32-4 MLP's MSE loss, batch 1.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn, F, func = lg.nn, lg.F, lg.func

lg.manual_seed(0)
local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
local params = {}
for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
local x, y = lg.randn(1, 16), lg.randn(1, 4)
local function loss_fn(p, input, target)
  return F.mse_loss(func.functional_call(model, p, input), target)
end
local grad_fn = func.grad(loss_fn)
B.report("mlp_grad", B.time(function() return grad_fn(params, x, y) end))
