-- (1) tiny MLP 16-32-4, forward, batch 1, no grad.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn = lg.nn

lg.manual_seed(0)
local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
local x = lg.randn(1, 16)
local _ <close> = lg.no_grad()
B.report("mlp_forward", B.time(function() return model(x) end))
