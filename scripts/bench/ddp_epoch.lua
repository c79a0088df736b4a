-- scripts/bench/ddp_epoch.lua [mlp|cnn]: one Fashion-MNIST training epoch
-- (global batch 128, Adam lr 1e-3, one thread per process) through
-- DistributedDataParallel and the distributed DataLoader, alone (a world of
-- one) or under mpirun. Times BENCH_DDP_BATCHES consecutive batches (default
-- 60 for the MLP, 6 for the CNN) after 3 warm-up batches, three times, and
-- extrapolates the median to the epoch's batches per process. Rank 1 prints
-- "BENCH ddp_epoch_<model>_np<N> <microseconds per epoch>".
local lg = require "luagrad"
local nn, F, optim, data, distributed = lg.nn, lg.F, lg.optim, lg.data, lg.distributed
local kind = arg and arg[1] or "mlp"
lg.set_num_threads(1)
local rank, world = distributed.init()
lg.manual_seed(0)
local model
if kind == "mlp" then
  model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
else
  model = nn.Sequential(nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 7 * 7, 10))
end
local ddp = distributed.DistributedDataParallel(model)
local opt = optim.Adam(ddp:parameters(), {lr = 1e-3})
local loader = data.DataLoader(data.fashion_mnist({split = "train"}),
  {batch_size = 128 // world, shuffle = true, seed = 0, distributed = true})
local batches = tonumber(os.getenv("BENCH_DDP_BATCHES") or "") or (kind == "mlp" and 60 or 6)
local next_batch = loader()
local function step()
  local x, y = next_batch()
  if not x then
    next_batch = loader()
    x, y = next_batch()
  end
  opt:zero_grad()
  F.cross_entropy(ddp(x:float() / 255), y):backward()
  opt:step()
end
for _ = 1, 3 do step() end
local samples = {}
for r = 1, 3 do
  distributed.barrier()
  local t0 = lg.wall_time()
  for _ = 1, batches do step() end
  samples[r] = (lg.wall_time() - t0) / batches
end
table.sort(samples)
if rank == 1 then
  print(string.format("BENCH ddp_epoch_%s_np%d %.0f", kind, world, samples[2] * #loader * 1e6))
end
