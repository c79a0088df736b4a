-- (9) nn.LSTM forward+backward: batch 32, input 64, hidden 128, over T=64
-- and T=512 steps (the second shows whether time grows linearly in T).
-- gru.lua runs this file with the global RNN_MODE = "GRU" to time nn.GRU.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"

local mode = rawget(_G, "RNN_MODE") or "LSTM"
lg.manual_seed(0)
local rnn = lg.nn[mode](64, 128)
for _, steps in ipairs({64, 512}) do
  local x = lg.randn(steps, 32, 64)
  B.report(mode:lower() .. "_T" .. steps, B.time(function()
    rnn:zero_grad()
    local out = rnn(x)
    out:sum():backward()
  end, {target_s = 0.2, reps = 7}))
end
