-- (12) one Adam step (and one AdamW step) on the parameters of the
-- Fashion-MNIST MLP 784-256-10 (203,530 float32 parameters), gradients
-- already in .grad: the optimizer's share of a training step (issue 18).
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn, optim = lg.nn, lg.optim

lg.manual_seed(0)
local model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
local params = model:parameters()
for _, p in ipairs(params) do p.grad = lg.randn(table.unpack(p.shape)) end
for _, kind in ipairs({"Adam", "AdamW"}) do
  local opt = optim[kind](params, {lr = 1e-3})
  B.report(kind:lower() .. "_step", B.time(function() opt:step() end))
end
