-- (8) one epoch of Fashion-MNIST training (60000 images, batch 128, Adam
-- lr 1e-3, cross-entropy): the MLP 784-256-10, and the CNN (the conv stack
-- of (7) with ReLUs, 2x2 max pool, linear 64*14*14 -> 10).
-- Extrapolated: each repetition times `batches` consecutive batches of the
-- shuffled loader (data loading, uint8 -> float / 255, zero_grad, forward,
-- loss, backward, step); the median time per batch is multiplied by the
-- epoch's 469 batches. BENCH_EPOCH_BATCHES=469 gives a full epoch per rep,
-- BENCH_EPOCH_REPS (default 3) the number of reps.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn, F, optim, data = lg.nn, lg.F, lg.optim, lg.data

local BATCH = 128
local dataset = data.fashion_mnist({split = "train"})
local batches_per_epoch = math.ceil(#dataset / BATCH)

local function bench(key, model, batches, reps)
  local opt = optim.Adam(model:parameters(), {lr = 1e-3})
  local loader = data.DataLoader(dataset, {batch_size = BATCH, shuffle = true, seed = 0})
  B.report_epoch(key, loader, function(x, y)
    opt:zero_grad()
    local loss = F.cross_entropy(model(x:float() / 255), y)
    loss:backward()
    opt:step()
  end, batches, reps, batches_per_epoch)
end

local n_mlp = tonumber(os.getenv("BENCH_EPOCH_BATCHES") or "40")
local n_cnn = tonumber(os.getenv("BENCH_EPOCH_BATCHES") or "4")
local reps = tonumber(os.getenv("BENCH_EPOCH_REPS") or "3")

lg.manual_seed(0)
bench("epoch_mlp", nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                                 nn.Linear(256, 10)), n_mlp, reps)
lg.manual_seed(0)
bench("epoch_cnn", nn.Sequential(nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(),
                                 nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 14 * 14, 10)),
      n_cnn, reps)
