-- mlp_step.lua: one training step of a small MLP (model, cross-entropy,
-- backward, Adam step, zero_grad), the workload tests/fuzz/alloc_host.c
-- runs while the tensor allocator fails at the k-th allocation. Returns a
-- checksum of the updated parameters, so a rerun can be compared.
local lg = require "luagrad"
local nn, F, optim = lg.nn, lg.nn.functional, lg.optim
lg.manual_seed(7)
local model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
local x = lg.randn(6, 4)
local y = lg.tensor({1, 2, 3, 1, 2, 3})
local opt = optim.Adam(model:parameters(), {lr = 0.01})
opt:zero_grad()
local loss = F.cross_entropy(model(x), y)
loss:backward()
opt:step()
local sum = loss:item()
for _, p in ipairs(model:parameters()) do sum = sum + p:detach():sum():item() end
return sum
