-- DistributedDataParallel against one process (run by tests/distributed/run.sh
-- under mpirun -np 2): W ranks at per-rank batch B give the same parameters as
-- one process at batch W*B after 20 Adam steps, and no_sync accumulation
-- equals one larger batch.
local lg = require "luagrad"
local nn = lg.nn
local distributed = lg.distributed
local rank, world = distributed.init()
local per_rank = 64

local function make_model(seed)
  lg.manual_seed(seed)
  return nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 5))
end

-- the same data on every rank; rank r trains on its rows
lg.manual_seed(123)
local steps = 20
local xs = lg.randn(steps, world * per_rank, 12)
local ys = lg.randint(1, 6, {steps, world * per_rank})
local function rows(t, step) return t[step]:narrow(1, (rank - 1) * per_rank + 1, per_rank) end

local function max_difference(a, b)
  local worst = 0
  for i, p in ipairs(a) do worst = math.max(worst, (p - b[i]):abs():max():item()) end
  return worst
end

-- 1. 20 Adam steps: DDP (rank r's rows) vs one process (all rows)
local reference = make_model(7)
local model = make_model(7 + (rank - 1) * 100) -- different on purpose: DDP broadcasts rank 1's
local ddp = distributed.DistributedDataParallel(model, {bucket_mb = 0.0005})
assert(#rawget(ddp, "_sync").buckets > 1, "expected several buckets")
local opt = lg.optim.Adam(ddp:parameters(), {lr = 1e-2})
local ref_opt = lg.optim.Adam(reference:parameters(), {lr = 1e-2})
for step = 1, steps do
  -- odd steps drop .grad, even steps zero it in place (the buckets' views)
  opt:zero_grad(step % 2 == 1)
  lg.F.cross_entropy(ddp(rows(xs, step)), rows(ys, step)):backward()
  opt:step()
  ref_opt:zero_grad()
  lg.F.cross_entropy(reference(xs[step]), ys[step]):backward()
  ref_opt:step()
end
local difference = max_difference(model:parameters(), reference:parameters())
assert(difference < 1e-4, "DDP after 20 Adam steps differs from one process by " .. difference)

-- 2. no_sync: two micro-batches per rank, the first without averaging
local half = per_rank // 2
model:zero_grad()
do
  local _ <close> = ddp:no_sync()
  lg.F.cross_entropy(ddp(rows(xs, 1):narrow(1, 1, half)), rows(ys, 1):narrow(1, 1, half)):backward()
end
lg.F.cross_entropy(ddp(rows(xs, 1):narrow(1, half + 1, half)), rows(ys, 1):narrow(1, half + 1, half)):backward()
-- reference: every rank's two micro-batch gradients summed, over the world size
local copy = make_model(1)
copy:load_state_dict(model:state_dict())
for r = 1, world do
  for part = 0, 1 do
    local first = (r - 1) * per_rank + part * half + 1
    lg.F.cross_entropy(copy(xs[1]:narrow(1, first, half)), ys[1]:narrow(1, first, half)):backward()
  end
end
local grads, ref_grads = {}, {}
for i, p in ipairs(model:parameters()) do grads[i] = p.grad end
for i, p in ipairs(copy:parameters()) do ref_grads[i] = p.grad / world end
difference = max_difference(grads, ref_grads)
assert(difference < 1e-5, "no_sync accumulation differs from one larger batch by " .. difference)

-- 3. a parameter left out of the loss is reported at the next forward
local partial = distributed.DistributedDataParallel(make_model(3))
partial.module[3](lg.randn(4, 32)):sum():backward()
local ok, message = pcall(partial, xs[1])
assert(not ok, "a forward after a backward that missed parameters must fail")
assert(message:find("gave no gradient to module.1.bias, module.1.weight", 1, true), message)
-- 4. every forward starts from rank 1's buffers
local Counter = nn.Module:extend("Counter")
function Counter:init()
  self.fc = nn.Linear(2, 2)
  self:register_buffer("seen", lg.zeros(1))
end
function Counter:forward(x) return self.fc(x) end
local counted = distributed.DistributedDataParallel(Counter())
counted.module.seen:fill_(rank)
counted(lg.ones(1, 2))
assert(counted.module.seen:item() == 1, "buffers were not broadcast from rank 1")
print(string.format("rank %d: ddp ok", rank))
