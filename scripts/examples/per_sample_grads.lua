-- scripts/examples/per_sample_grads.lua: per-example gradients (the
-- torch.func tutorial) of a small CNN and an MLP on a batch of 64, with
-- func.vmap(func.grad(loss)) over func.functional_call, checked against the
-- per-example loop. Run: build/luagrad scripts/examples/per_sample_grads.lua
local lg = require "luagrad"
local nn, F, func = lg.nn, lg.nn.functional, lg.func

lg.manual_seed(0)

-- The loss of ONE example: vmap adds the batch back. functional_call runs
-- the model with the given parameters; unsqueeze makes a batch of one.
local function per_sample_grads(model, x, targets)
  local params = {}
  for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
  local function loss(p, xi, ti)
    local out = func.functional_call(model, p, xi:unsqueeze(1))
    return F.cross_entropy(out, ti:unsqueeze(1))
  end
  -- in_dims: the parameters are shared (false), x and targets are batched
  local grads = func.vmap(func.grad(loss), {in_dims = {false, 1, 1}})(params, x, targets)
  -- the same, one example at a time
  local worst = 0
  for i = 1, x:size(1) do
    local gi = func.grad(loss)(params, x[i], targets:select(1, i))
    for name, g in pairs(gi) do
      worst = math.max(worst, (grads[name][i] - g):abs():max():item())
    end
  end
  return grads, worst
end

local mlp = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 10))
local x = lg.randn(64, 20)
local targets = lg.randint(1, 11, {64})
local grads, worst = per_sample_grads(mlp, x, targets)
print(("MLP: per-sample gradient of 1.weight has shape {%s}; max difference "
  .. "from the loop %.2e"):format(table.concat(grads["1.weight"].shape, ", "), worst))
assert(worst < 1e-5, "MLP per-sample gradients differ from the loop")

local cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 10))
local images = lg.randn(64, 1, 8, 8)
local cgrads, cworst = per_sample_grads(cnn, images, targets)
print(("CNN: per-sample gradient of 1.weight has shape {%s}; max difference "
  .. "from the loop %.2e"):format(table.concat(cgrads["1.weight"].shape, ", "), cworst))
assert(cworst < 1e-5, "CNN per-sample gradients differ from the loop")
print("per_sample_grads: ok")
