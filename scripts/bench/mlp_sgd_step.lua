-- (3) one SGD training step of the 16-32-4 MLP, batch 1:
-- zero_grad, forward, MSE loss, backward, step.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local F, optim = lg.F, lg.optim

local model = B.mlp(16, 32, 4)
local opt = optim.SGD(model:parameters(), {lr = 1e-3})
local x, y = lg.randn(1, 16), lg.randn(1, 4)
B.report("mlp_sgd_step", B.time(function()
  opt:zero_grad()
  local loss = F.mse_loss(model(x), y)
  loss:backward()
  opt:step()
end))
