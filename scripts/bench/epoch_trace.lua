-- epoch_trace.lua: one whole epoch (or the first N batches) of the CNN of
-- (8) as the plainest loop, timing every batch, to see whether per-batch
-- time stays flat across the epoch (memory management) and how much of the
-- run is kernel time (run it under /usr/bin/time).
--   build/luagrad scripts/bench/epoch_trace.lua [threads] [batches] [model]
-- Prints the mean time per batch (wall, and the process's CPU time, which
-- a loaded machine disturbs less) of the first 50 after 10 warm-up batches
-- and of the last 50, their ratios, and the totals.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local lg = require "luagrad"
local nn, F, optim, data = lg.nn, lg.F, lg.optim, lg.data

local threads = tonumber(arg[1] or "1")
local limit = tonumber(arg[2] or "0")
local kind = arg[3] or "cnn"
lg.set_num_threads(threads)
lg.manual_seed(0)
local model
if kind == "mlp" then
  model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
else
  model = nn.Sequential(nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(),
                        nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 14 * 14, 10))
end
local dataset = data.fashion_mnist({split = "train"})
local loader = data.DataLoader(dataset, {batch_size = 128, shuffle = true, seed = 0})
local opt = optim.Adam(model:parameters(), {lr = 1e-3})
local times, cpus, n = {}, {}, 0
local c0, t0 = os.clock(), lg.wall_time()
for x, y in loader() do
  local tb, cb = lg.wall_time(), os.clock()
  opt:zero_grad()
  local loss = F.cross_entropy(model(x:float() / 255), y)
  loss:backward()
  opt:step()
  n = n + 1
  times[n], cpus[n] = lg.wall_time() - tb, os.clock() - cb
  if limit > 0 and n >= limit then break end
end
local wall, cpu = lg.wall_time() - t0, os.clock() - c0
local function mean(a, b, t)
  t = t or times
  local s = 0
  for i = a, b do s = s + t[i] end
  return s / (b - a + 1)
end
local W = 10
local k = math.min(50, (n - W) // 2)
local first, last = mean(W + 1, W + k), mean(n - k + 1, n)
local cfirst, clast = mean(W + 1, W + k, cpus), mean(n - k + 1, n, cpus)
print(("%s threads=%d batches=%d wall=%.2fs cpu=%.2fs  wall per batch: first%d=%.4fs "
       .. "last%d=%.4fs last/first=%.3f; cpu per batch: %.4fs %.4fs last/first=%.3f")
  :format(kind, threads, n, wall, cpu, k, first, k, last, last / first,
          cfirst, clast, clast / cfirst))
