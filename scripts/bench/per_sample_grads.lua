-- (9) Per-sample gradients of the 784-128-10 MLP's cross-entropy, batch 64:
-- func.vmap(func.grad) over functional_call (key per_sample_grads), and
-- luagrad's own per-example loop of func.grad (key per_sample_grads_loop).
-- Also the ensemble of 10 such MLPs on one minibatch of 64 (forward, key
-- ensemble_forward) and jacrev of a 64->64 two-layer tanh MLP (key jacrev).
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn, F, func = lg.nn, lg.F, lg.func

local model = B.mlp(784, 128, 10)
local params = B.detached_params(model)
local x, t = lg.randn(64, 784), lg.randint(1, 11, {64})

local function loss_fn(p, xi, ti)
  return F.cross_entropy(func.functional_call(model, p, xi:unsqueeze(1)), ti:unsqueeze(1))
end
local psg = func.vmap(func.grad(loss_fn), {in_dims = {false, 1, 1}})
B.report("per_sample_grads", B.time(function() return psg(params, x, t) end))

local g = func.grad(loss_fn)
B.report("per_sample_grads_loop", B.time(function()
  local out = {}
  for i = 1, 64 do out[i] = g(params, x[i], t:select(1, i)) end
  return out
end))

local models = {}
for i = 1, 10 do models[i] = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)) end
local sp, sb = func.stack_module_state(models)
for k, v in pairs(sp) do sp[k] = v:detach() end
local ens = func.vmap(function(p, b, v) return func.functional_call(models[1], {p, b}, v) end,
  {in_dims = {1, 1, false}})
B.report("ensemble_forward", B.time(function() return ens(sp, sb, x) end))

local W1, W2 = lg.randn(64, 64) / 8, lg.randn(64, 64) / 8
local jf = func.jacrev(function(v) return W2:matmul(W1:matmul(v):tanh()):tanh() end)
local v = lg.randn(64)
B.report("jacrev", B.time(function() return jf(v) end))
