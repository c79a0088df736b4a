-- (12) func.compile: the tiny MLP 16-32-4 forward at batch 1 (against
-- PyTorch's torch.jit, frozen and optimize_for_inference), the MLP's whole
-- pure-form SGD training step (func.grad over functional_call +
-- optim.fn.sgd, against PyTorch's eager step), and the chain
-- ((x * 2 + 1):tanh() * y):sum() on 1M floats (compiled; the luagrad eager
-- chain is printed as compile_chain_1M_eager, a reference without a
-- PyTorch side).
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn, F, func, optim = lg.nn, lg.F, lg.func, lg.optim

lg.manual_seed(0)
local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
local params = {}
for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end

local forward = func.compile(function(x) return func.functional_call(model, params, x) end,
                             {reuse_outputs = true})
local x1 = lg.randn(1, 16)
B.report("compile_mlp_forward", B.time(function() return forward(x1) end))

local tx = optim.fn.sgd{lr = 1e-3}
local grad = func.grad(function(p, x, y)
  return F.mse_loss(func.functional_call(model, p, x), y)
end)
local no_state = {step = 0}
local step = func.compile(function(p, x, y)
  return (tx.update(p, grad(p, x, y), no_state))
end, {reuse_outputs = true})
local xs, ys = lg.randn(1, 16), lg.randn(1, 4)
local p = params
B.report("compile_train_step", B.time(function() p = step(p, xs, ys) end))

local x, y = lg.randn(1000000), lg.randn(1000000)
local chain = function(a, b) return ((a * 2 + 1):tanh() * b):sum() end
local compiled_chain = func.compile(chain, {reuse_outputs = true})
B.report("compile_chain_1M", B.time(function() return compiled_chain(x, y) end))
B.report("compile_chain_1M_eager", B.time(function() return chain(x, y) end))
