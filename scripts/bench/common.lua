-- scripts/bench/common.lua: timing helpers shared by the luagrad halves of
-- the benchmarks. Every figure is the median over `reps` repetitions of a
-- loop whose length is calibrated so one repetition lasts about `target_s`.
--
-- Output protocol (read by scripts/bench/run): one line per measurement,
--   BENCH <key> <microseconds per call>
local lg = require "luagrad"

local M = {}

M.threads = tonumber(arg and arg[1]) or 1
M.scale = tonumber(os.getenv("BENCH_SCALE") or "1")
-- BENCH_CLOCK=cpu times with the process's CPU time (os.clock) instead of
-- the wall clock: steadier on a loaded machine, meaningful for 1 thread.
local clock = os.getenv("BENCH_CLOCK") == "cpu" and os.clock or lg.wall_time
lg.set_num_threads(M.threads)

local function median(xs)
  table.sort(xs)
  local n = #xs
  if n % 2 == 1 then return xs[(n + 1) // 2] end
  return (xs[n // 2] + xs[n // 2 + 1]) / 2
end
M.median = median

-- Median seconds per call of fn(). Calibrates the inner loop so each
-- repetition takes about target_s (default 0.05 s), runs warm-up calls first.
function M.time(fn, opts)
  opts = opts or {}
  local target = (opts.target_s or 0.05) * M.scale
  local reps = opts.reps or 7
  for _ = 1, (opts.warmup or 3) do fn() end
  local n = 1
  while true do
    local t0 = clock()
    for _ = 1, n do fn() end
    local dt = clock() - t0
    if dt >= target / 4 or n >= 1e7 then
      n = math.max(1, math.ceil(n * target / math.max(dt, 1e-9)))
      break
    end
    n = n * 4
  end
  local samples = {}
  for r = 1, reps do
    local t0 = clock()
    for _ = 1, n do fn() end
    samples[r] = (clock() - t0) / n
  end
  return median(samples)
end

-- The benchmarks' MLP: Linear(n_in, n_hidden), ReLU, Linear(n_hidden, n_out),
-- built after seeding the generator with 0 so every run times the same model.
function M.mlp(n_in, n_hidden, n_out)
  lg.manual_seed(0)
  local nn = lg.nn
  return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))
end

-- A model's parameters by name, detached: the table func.functional_call takes.
function M.detached_params(model)
  local params = {}
  for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
  return params
end

-- A function giving loader's next batch (x, y) each call, starting the next
-- epoch when one ends, so a bench can time any number of batches.
function M.endless_batches(loader)
  local iter_state = {loader()}
  return function()
    local x, y = iter_state[1](iter_state[2], iter_state[3])
    if x == nil then                     -- epoch over: start the next one
      iter_state = {loader()}
      x, y = iter_state[1](iter_state[2], iter_state[3])
    end
    iter_state[3] = x
    return x, y
  end
end

-- Times train_one(x, y) over batches of an endless loader: 2 warm-up
-- batches (a compiled step traces there), then reps runs of `batches`
-- batches; reports the median time per batch times per_epoch batches.
function M.report_epoch(key, loader, train_one, batches, reps, per_epoch)
  local next_batch = M.endless_batches(loader)
  local function train_batches(n)
    for _ = 1, n do train_one(next_batch()) end
  end
  train_batches(2)
  local samples = {}
  for r = 1, reps do
    local t0 = lg.wall_time()
    train_batches(batches)
    samples[r] = (lg.wall_time() - t0) / batches
  end
  M.report(key, median(samples) * per_epoch)
end

-- Prints one measurement in the driver's protocol.
function M.report(key, seconds)
  print(string.format("BENCH %s %.6f", key, seconds * 1e6))
  io.stdout:flush()
end

return M
