-- rnn_step.lua: one training step of a small LSTM over 34 steps and a GRU
-- over 3, the recurrent workload tests/fuzz/alloc_host.c runs while the
-- tensor allocator fails at the k-th allocation: it goes through unbind's
-- node with many outputs, the fused cells and their backward, and a cat
-- backward with more temporaries than a backward scope holds inline.
-- Returns a checksum of the updated parameters.
local lg = require "luagrad"
local nn, optim = lg.nn, lg.optim
lg.manual_seed(7)
local lstm, gru = nn.LSTM(2, 3), nn.GRU(3, 2)
local params = lstm:parameters()
for _, p in ipairs(gru:parameters()) do params[#params + 1] = p end
local opt = optim.SGD(params, {lr = 0.1})
local out = lstm(lg.randn(34, 1, 2))
local y = gru(out:narrow(1, 32, 3))
opt:zero_grad()
local loss = out:square():mean() + y:sum()
loss:backward()
opt:step()
local sum = loss:item()
for _, p in ipairs(params) do sum = sum + p:detach():sum():item() end
return sum
