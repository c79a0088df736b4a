-- (13) one epoch of Fashion-MNIST training of the MLP 784-256-10 (batch
-- 128, Adam lr 1e-3, cross-entropy) in the pure form: func.grad over
-- functional_call, then optim.fn.adam's update, as one func.compile plan
-- (epoch_mlp_compiled, against PyTorch's eager epoch of epoch.py), and the
-- same step run eagerly (epoch_mlp_pure_eager, no PyTorch side).
-- Extrapolated as epoch.lua is: each repetition times `batches` consecutive
-- batches of the shuffled loader (data loading and uint8 -> float / 255
-- included, inside the plan for the compiled step); the median time per
-- batch is multiplied by the epoch's 469 batches.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn, F, optim, data, func = lg.nn, lg.F, lg.optim, lg.data, lg.func

local BATCH = 128
local dataset = data.fashion_mnist({split = "train"})
local batches_per_epoch = math.ceil(#dataset / BATCH)

local function bench(key, compiled, batches, reps)
  lg.manual_seed(0)
  local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
  local params = {}
  for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
  local tx = optim.fn.adam{lr = 1e-3}
  local state = tx.init(params)
  local grad = func.grad(function(p, x, y)
    return F.cross_entropy(func.functional_call(model, p, x), y)
  end)
  local step = function(p, s, x, y) return tx.update(p, grad(p, x:float() / 255, y), s) end
  if compiled then step = func.compile(step) end
  local loader = data.DataLoader(dataset, {batch_size = BATCH, shuffle = true, seed = 0})
  B.report_epoch(key, loader, function(x, y)
    params, state = step(params, state, x, y)
  end, batches, reps, batches_per_epoch)
end

local n_mlp = tonumber(os.getenv("BENCH_EPOCH_BATCHES") or "40")
bench("epoch_mlp_compiled", true, n_mlp, 3)
bench("epoch_mlp_pure_eager", false, n_mlp, 3)
