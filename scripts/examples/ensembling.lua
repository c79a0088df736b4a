-- scripts/examples/ensembling.lua: model ensembling (the torch.func
-- tutorial): 10 MLPs stacked with func.stack_module_state and run as one
-- batched computation with func.vmap over func.functional_call, on the same
-- minibatch for every model and on a different minibatch per model, checked
-- against calling each model. Run: build/luagrad scripts/examples/ensembling.lua
local lg = require "luagrad"
local nn, func = lg.nn, lg.func

lg.manual_seed(0)
local n_models = 10
local models = {}
for i = 1, n_models do
  models[i] = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
end

-- params and buffers: name -> tensor stacked over the models on dim 1
local params, buffers = func.stack_module_state(models)
local base = models[1] -- any of them: functional_call swaps in the weights
local function call(p, b, x) return func.functional_call(base, {p, b}, x) end

local function check(label, got, want_fn)
  local worst = 0
  for i = 1, n_models do worst = math.max(worst, (got[i] - want_fn(i)):abs():max():item()) end
  print(("%s: predictions {%s}, max difference from each model %.2e"):format(
    label, table.concat(got.shape, ", "), worst))
  assert(worst < 1e-5, label .. " differs from the models")
end

-- the same minibatch for every model: x is not batched (false)
local x = lg.randn(64, 784)
local same = func.vmap(call, {in_dims = {1, 1, false}})(params, buffers, x)
check("same minibatch", same, function(i) return models[i](x) end)

-- a different minibatch per model: everything batched on dim 1
local xs = lg.randn(n_models, 64, 784)
local different = func.vmap(call)(params, buffers, xs)
check("different minibatches", different, function(i) return models[i](xs[i]) end)
print("ensembling: ok")
