-- scripts/bench/ddp_epoch.lua [mlp|cnn]: one Fashion-MNIST training epoch
-- (global batch 128, Adam lr 1e-3, one thread per process) through
-- DistributedDataParallel and the distributed DataLoader, alone (a world of
-- one) or under mpirun: 1 process x 128 samples or N x 128/N per batch, the
-- same 469 batches of the same work per sample either way. After 3 warm-up
-- batches it times epoch 2 from its start: all of it for the MLP (~1 s), the
-- first BENCH_DDP_BATCHES (default 60 of 469) for the CNN, then scaled to the
-- epoch; BENCH_DDP_BATCHES=469 times a whole CNN epoch. Rank 1 prints
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
-- The timed batches: the whole epoch, or BENCH_DDP_BATCHES from its start.
local batches = tonumber(os.getenv("BENCH_DDP_BATCHES") or "") or (kind == "mlp" and #loader or 60)
batches = math.min(batches, #loader)
local function step(x, y)
  opt:zero_grad()
  F.cross_entropy(ddp(x:float() / 255), y):backward()
  opt:step()
end
local warm = loader() -- epoch 1: warm-up batches
for _ = 1, 3 do step(warm()) end
distributed.barrier()
local t0 = lg.wall_time()
local next_batch = loader() -- epoch 2, timed from its start (its shuffle included)
for _ = 1, batches do step(next_batch()) end
local seconds = lg.wall_time() - t0
if rank == 1 then
  print(string.format("BENCH ddp_epoch_%s_np%d %.0f", kind, world, seconds / batches * #loader * 1e6))
end
