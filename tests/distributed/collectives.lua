-- Every collective against the result computed in one process, for every
-- dtype, contiguous and not, sync and async (run by tests/distributed/run.sh
-- under mpirun -np 2 and -np 3). Each rank can compute every rank's input,
-- so each rank checks its own result without communicating. First, the
-- Open MPI transport init picks (or the one the caller chose).
local lg = require "luagrad"
local distributed = lg.distributed
local rank, world = distributed.init()
assert(distributed.is_initialized() and distributed.rank() == rank and distributed.world_size() == world)
-- init picks vader's copies through shared buffers over CMA unless the
-- caller chose (the np 3 run sets cma and says so in LUAGRAD_TEST_COPY)
local copy = os.getenv("OMPI_MCA_btl_vader_single_copy_mechanism")
assert(copy == (os.getenv("LUAGRAD_TEST_COPY") or "none"), tostring(copy))

local DTYPES = {"float32", "float64", "int32", "int64", "uint8", "bool"}

-- rank r's input: small values so sums and products stay exact in every dtype
local function input(r, dtype, shape)
  local base = lg.arange(1, 7):view(2, 3)
  local values = ((base * r) % 3) + (dtype == "bool" and 0 or 1)
  if dtype == "bool" then values = values:gt(0) end
  local t = values:to(dtype)
  if shape == "transposed" then return t:t() end -- not contiguous
  return t
end

-- bool: sum and max are or, prod and min are and (max and min of 0 and 1)
local function reference(dtype, shape, op)
  if dtype == "bool" then
    local combine = (op == "sum" or op == "max") and lg.maximum or lg.minimum
    local acc = input(1, dtype, shape):long()
    for r = 2, world do acc = combine(acc, input(r, dtype, shape):long()) end
    return acc:bool()
  end
  local acc = input(1, dtype, shape):clone()
  for r = 2, world do
    local x = input(r, dtype, shape)
    if op == "sum" or op == "mean" then acc = acc + x
    elseif op == "max" then acc = lg.maximum(acc, x)
    elseif op == "min" then acc = lg.minimum(acc, x)
    else acc = acc * x end
  end
  if op == "mean" then acc = acc / world end
  return acc
end

local function same(a, b, what)
  assert(a.dtype == b.dtype, what .. ": dtype " .. a.dtype .. " vs " .. b.dtype)
  local difference = (a:double() - b:double()):abs():max():item()
  assert(difference < 1e-6, string.format("%s: differs by %g\n%s\n%s", what, difference,
                                          tostring(a), tostring(b)))
end

for _, dtype in ipairs(DTYPES) do
  for _, shape in ipairs({"contiguous", "transposed"}) do
    for _, op in ipairs({"sum", "mean", "max", "min", "prod"}) do
      if op ~= "mean" or dtype:find("float") then
        for _, async in ipairs({false, true}) do
          local what = string.format("all_reduce %s %s %s async=%s", dtype, shape, op, async)
          local t = input(rank, dtype, shape)
          local result = distributed.all_reduce(t, {op = op, async = async})
          if async then result = result:wait() end
          assert(result == t, what .. ": must return its tensor")
          same(t, reference(dtype, shape, op), what)
        end
      end
    end
    local what = string.format("broadcast %s %s", dtype, shape)
    local t = input(rank, dtype, shape)
    distributed.broadcast(t, {src = world})
    same(t, input(world, dtype, shape), what)
    local gathered = distributed.all_gather(input(rank, dtype, shape), {async = true}):wait()
    for r = 1, world do same(gathered[r], input(r, dtype, shape), "all_gather " .. dtype) end
  end
  -- reduce_scatter: world blocks of 2 rows; rank r gets block r summed
  local function blocks(r)
    return lg.cat({input(r, dtype), input(r + 1, dtype)}, 1):tile({world, 1}):narrow(1, 1, 2 * world)
  end
  local mine = distributed.reduce_scatter(blocks(rank), {op = "max"})
  local expected = blocks(1)
  for r = 2, world do
    expected = lg.maximum(expected:long(), blocks(r):long()):to(dtype)
  end
  same(mine, expected:narrow(1, 2 * rank - 1, 2), "reduce_scatter " .. dtype)
end

-- all_reduce_tree: one fused buffer per dtype, in place
local tree = {w = lg.full({3, 2}, rank + 0.0), b = {lg.full({4}, 2.0 * rank, {dtype = "float64"})},
              n = lg.tensor({rank}, {dtype = "int64"})}
assert(distributed.all_reduce_tree(tree, {op = "sum"}) == tree)
local total = world * (world + 1) / 2
same(tree.w, lg.full({3, 2}, total), "all_reduce_tree float32")
same(tree.b[1], lg.full({4}, 2.0 * total, {dtype = "float64"}), "all_reduce_tree float64")
same(tree.n, lg.tensor({total}, {dtype = "int64"}), "all_reduce_tree int64")

-- mismatched shapes: the same error on every rank, naming both shapes
local ok, message = pcall(distributed.all_reduce, lg.zeros(rank == 1 and 2 or 3, 4))
assert(not ok and message:find("rank 1 has float32 {2, 4}", 1, true)
       and message:find("rank 2 has float32 {3, 4}", 1, true), tostring(message))
ok, message = pcall(distributed.all_reduce, lg.zeros(2, {dtype = rank == 1 and "float32" or "int32"}))
assert(not ok and message:find("rank 2 has int32 {2}", 1, true), tostring(message))
-- and still in step afterwards; 0-dim and empty tensors
distributed.barrier()
same(distributed.all_reduce(lg.tensor(rank + 0.0)), lg.tensor(total), "all_reduce 0-dim")
same(distributed.all_gather(lg.tensor(rank)), lg.arange(1, world + 1), "all_gather 0-dim")
assert(distributed.all_reduce(lg.zeros(0)):numel() == 0)
assert(#distributed.all_gather(lg.zeros(0, 2)).shape == 3)

-- finalize ends the process's part in the job for good
distributed.finalize()
assert(not distributed.is_initialized())
ok, message = pcall(distributed.init)
assert(not ok and message:find("cannot start again", 1, true), tostring(message))
print(string.format("rank %d of %d: collectives ok", rank, world))
