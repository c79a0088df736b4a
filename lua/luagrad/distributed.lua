--- luagrad.distributed: data-parallel training over MPI. The process group
-- (init, rank, world_size, barrier, finalize), collectives on tensors
-- (all_reduce, broadcast, all_gather, reduce_scatter, each also async),
-- all_reduce_tree for gradient pytrees, and DistributedDataParallel
-- (luagrad.distributed_ddp).
--
-- Ranks are 1-based like every luagrad index (MPI rank + 1). A script
-- started without mpirun is a world of one: init() then touches no MPI at
-- all and every collective leaves its tensor as it is. The MPI calls are
-- lg._mpi (lua/binding/distributed/mpi_lua.c), present only in a build that
-- found MPI; without it every function raises "luagrad was built without
-- MPI".
--
-- Invariant of the collectives: every rank calls the same collectives in the
-- same order. Unless {check = false}, a collective first exchanges a small
-- header (kind, op, dtype, shape) so that a mismatch between ranks becomes
-- the same Lua error on every rank, naming both shapes, instead of a hang
-- or corrupt data.
-- @module distributed
local lg = require "luagrad"
local check = require "luagrad.check"
local tree = require "luagrad.tree"
local raise = check.raise

local mpi = rawget(lg, "_mpi")

local distributed = {}

local world = {initialized = false, rank = 1, size = 1, mpi = false}

local DTYPES = {"float32", "float64", "int32", "int64", "uint8", "bool"}
local DTYPE_CODE = {}
for code, name in ipairs(DTYPES) do DTYPE_CODE[name] = code end
local OPS = {"sum", "mean", "max", "min", "prod"}
local OP_CODE = {}
for code, name in ipairs(OPS) do OP_CODE[name] = code end
local KINDS = {"all_reduce", "broadcast", "all_gather", "reduce_scatter"}
local KIND_CODE = {}
for code, name in ipairs(KINDS) do KIND_CODE[name] = code end
local HEADER_DIMS = 8

--- distributed.is_available() tells whether this build has MPI.
-- @usage if lg.distributed.is_available() then ... end
function distributed.is_available() return mpi ~= nil end

local function require_mpi(fname)
  if not mpi then
    raise("distributed." .. fname .. ": luagrad was built without MPI "
          .. "(install openmpi-bin and libopenmpi-dev, then rebuild)")
  end
end

local function require_init(fname)
  require_mpi(fname)
  if not world.initialized then
    raise("distributed." .. fname .. ": call distributed.init() first")
  end
end

-- Whether an MPI launcher (mpirun, srun with PMI) started this process.
local function launched()
  return os.getenv("OMPI_COMM_WORLD_SIZE") or os.getenv("PMIX_RANK")
      or os.getenv("PMI_RANK")
end

--- distributed.init() joins the job started by mpirun (a world of one
--- without it); calling it again does nothing. Returns rank, world_size.
-- @usage local rank, world_size = lg.distributed.init()
function distributed.init()
  require_mpi("init")
  if not world.initialized then
    if launched() then
      local rank0, size = mpi.init()
      world.rank, world.size, world.mpi = rank0 + 1, size, true
    end
    world.initialized = true
  end
  return world.rank, world.size
end

--- distributed.is_initialized()
-- @usage lg.distributed.is_initialized()
function distributed.is_initialized() return world.initialized end

--- distributed.rank(): this process's rank, 1..world_size.
-- @usage if lg.distributed.rank() == 1 then print(loss) end
function distributed.rank()
  require_init("rank")
  return world.rank
end

--- distributed.world_size(): the number of processes in the job.
-- @usage local n = lg.distributed.world_size()
function distributed.world_size()
  require_init("world_size")
  return world.size
end

--- distributed.barrier() returns once every rank has called it.
-- @usage lg.distributed.barrier()
function distributed.barrier()
  require_init("barrier")
  if world.mpi then mpi.barrier() end
end

--- distributed.finalize() leaves the job (also done at exit). No collective
--- may follow it.
-- @usage lg.distributed.finalize()
function distributed.finalize()
  require_mpi("finalize")
  if world.mpi then mpi.finalize() end
  world.initialized, world.mpi = false, false
end

-- -----------------------------------------------------------------------
-- collectives

local COLLECTIVE_OPTIONS = {op = true, async = true, check = true, src = true}

local function describe(header)
  local dims = {}
  for i = 1, header[4] do dims[i] = header[5 + i] end
  local shape = "{" .. table.concat(dims, ", ") .. "}"
  if header[4] > HEADER_DIMS then shape = string.format("a %d-dim shape", header[4]) end
  local reduces = KINDS[header[1]] == "all_reduce" or KINDS[header[1]] == "reduce_scatter"
  return string.format("%s %s%s", DTYPES[header[3]], shape,
                       reduces and " (op " .. OPS[header[2]] .. ")" or "")
end

-- The header exchange: every rank learns every rank's call and raises the
-- same error on a mismatch.
local function check_headers(fname, kind, t, op)
  local shape = t.shape
  local header = {KIND_CODE[kind], OP_CODE[op] or 1, DTYPE_CODE[t.dtype], #shape, t:numel()}
  for i = 1, HEADER_DIMS do header[5 + i] = shape[i] or 0 end
  local all = mpi.allgather_ints(header)
  for r = 2, #all do
    for i = 1, #header do
      if all[r][i] ~= all[1][i] then
        if all[r][1] ~= all[1][1] then
          raise(string.format("%s: rank 1 called %s but rank %d called %s; every rank "
                              .. "must call the same collectives in the same order",
                              fname, KINDS[all[1][1]], r, KINDS[all[r][1]]))
        end
        raise(string.format("%s: the ranks disagree: rank 1 has %s, rank %d has %s",
                            fname, describe(all[1]), r, describe(all[r])))
      end
    end
  end
end

local Handle = {}
Handle.__index = Handle
Handle.__name = "distributed.Handle"

--- handle:wait() blocks until the collective is done and returns its result.
function Handle:wait()
  if not self.done then
    if self.request then self.request:wait() end
    self.done = true
    lg.no_grad(self.finish)
  end
  return self.result
end

--- handle:is_completed() tells, without blocking, whether wait() would return
--- at once.
function Handle:is_completed()
  if self.done or not self.request then return true end
  return self.request:is_completed()
end

-- Checks a collective's arguments; returns the options table.
local function collective_args(fname, t, opts, allowed_ops)
  if not lg.is_tensor(t) then
    raise(fname .. ": expected a tensor as argument 1, got " .. check.typename(t))
  end
  opts = check.options(fname, opts, COLLECTIVE_OPTIONS)
  local op = opts.op or "sum"
  if allowed_ops and not OP_CODE[op] then
    raise(string.format("%s: op must be sum, mean, max, min or prod, got %s", fname, tostring(op)))
  end
  if op == "mean" and t.dtype ~= "float32" and t.dtype ~= "float64" then
    raise(string.format("%s: op mean needs a floating-point tensor, got %s (use sum)",
                        fname, t.dtype))
  end
  return opts, op
end

-- Runs kind on the contiguous buffer send (into recv), then finish();
-- returns result, or a Handle whose wait() returns it.
local function run(fname, kind, t, send, recv, opts, op, root, finish, result)
  require_init(fname)
  local handle = setmetatable({result = result, finish = finish, done = false}, Handle)
  if world.mpi then
    if opts.check ~= false then check_headers(fname, kind, t, op) end
    handle.request = mpi.run(kind, send, recv, op, root, opts.async == true)
  end
  if opts.async then return handle end
  return handle:wait()
end

local function contiguous(t)
  if t:is_contiguous() then return t end
  return t:contiguous()
end

-- After an in-place collective on buf: the mean's division, and the copy
-- back into t when buf is t's contiguous copy.
local function write_back(t, buf, op)
  return function()
    if op == "mean" and world.size > 1 then buf:div_(world.size) end
    if buf ~= t then t:copy_(buf) end
  end
end

--- distributed.all_reduce(t, {op = "sum", async = false, check = true})
--- reduces t over all ranks in place (sum, mean, max, min or prod; on bool
--- sum and max are or, prod and min are and) and returns t, or a handle
--- whose wait() returns t.
-- @usage lg.distributed.all_reduce(t, {op = "mean"})
function distributed.all_reduce(t, opts)
  local op
  opts, op = collective_args("all_reduce", t, opts, true)
  local buf = contiguous(t)
  return run("all_reduce", "all_reduce", t, buf, buf, opts, op, 0, write_back(t, buf, op), t)
end

--- distributed.broadcast(t, {src = 1, async = false, check = true}) copies
--- rank src's t into every rank's t, in place; returns t (or a handle).
-- @usage lg.distributed.broadcast(t, {src = 1})
function distributed.broadcast(t, opts)
  opts = collective_args("broadcast", t, opts, false)
  local src = opts.src or 1
  if math.type(src) ~= "integer" or src < 1 or (world.initialized and src > world.size) then
    raise(string.format("broadcast: src must be a rank in 1..%d, got %s", world.size, tostring(src)))
  end
  local buf = contiguous(t)
  return run("broadcast", "broadcast", t, buf, buf, opts, "sum", src - 1,
             write_back(t, buf, "sum"), t)
end

--- distributed.all_gather(t, {async = false, check = true}) returns a new
--- tensor of shape {world_size, t's shape...}: row r is rank r's t.
-- @usage local all = lg.distributed.all_gather(t)
function distributed.all_gather(t, opts)
  opts = collective_args("all_gather", t, opts, false)
  require_init("all_gather")
  local out = lg.empty({world.size, table.unpack(t.shape)}, {dtype = t.dtype})
  local send = contiguous(t)
  local finish = function() end
  if not world.mpi then finish = function() out[1] = send end end
  return run("all_gather", "all_gather", t, send, out, opts, "sum", 0, finish, out)
end

--- distributed.reduce_scatter(t, {op = "sum", async = false, check = true}):
--- t's first dim holds world_size equal blocks; returns this rank's block
--- reduced over all ranks (a new tensor).
-- @usage local mine = lg.distributed.reduce_scatter(t)
function distributed.reduce_scatter(t, opts)
  local op
  opts, op = collective_args("reduce_scatter", t, opts, true)
  require_init("reduce_scatter")
  local shape = t.shape
  if #shape == 0 or shape[1] % world.size ~= 0 then
    raise(string.format("reduce_scatter: the first dim (%s) must divide into %d equal blocks, "
                        .. "one per rank", tostring(shape[1] or "none, a 0-dim tensor"), world.size))
  end
  local block = {shape[1] // world.size, table.unpack(shape, 2)}
  local out = lg.empty(block, {dtype = t.dtype})
  local send = contiguous(t)
  local finish = write_back(out, out, op)
  if not world.mpi then finish = function() out:copy_(send) end end
  return run("reduce_scatter", "reduce_scatter", t, send, out, opts, op, 0, finish, out)
end

--- distributed.all_reduce_tree(tree, {op = "mean", check = true}) reduces
--- every tensor of a pytree (e.g. gradients from func.grad) over all ranks,
--- in place, through one fused buffer per dtype; returns the tree.
-- @usage lg.distributed.all_reduce_tree(grads)
function distributed.all_reduce_tree(value, opts)
  opts = check.options("all_reduce_tree", opts, {op = true, check = true})
  require_init("all_reduce_tree")
  local op = opts.op or "mean"
  local groups, order = {}, {}
  for _, leaf in ipairs(tree.leaves(value)) do
    if not lg.is_tensor(leaf) then
      raise("all_reduce_tree: expected a tree of tensors, found a " .. check.typename(leaf))
    end
    local group = groups[leaf.dtype]
    if not group then
      group = {}
      groups[leaf.dtype] = group
      order[#order + 1] = leaf.dtype
    end
    group[#group + 1] = leaf
  end
  if not world.mpi then return value end
  lg.no_grad(function()
    for _, dtype in ipairs(order) do
      local leaves, flat = groups[dtype], {}
      for i, leaf in ipairs(leaves) do flat[i] = leaf:reshape(-1) end
      local buffer = lg.cat(flat, 1)
      distributed.all_reduce(buffer, {op = op, check = opts.check})
      local offset = 1
      for _, leaf in ipairs(leaves) do
        local n = leaf:numel()
        leaf:copy_(buffer:narrow(1, offset, n):view(leaf.shape))
        offset = offset + n
      end
    end
  end)
  return value
end

--- distributed.DistributedDataParallel(model, {bucket_mb = 25}): see
--- luagrad.distributed_ddp.
-- @usage local ddp = lg.distributed.DistributedDataParallel(model)
function distributed.DistributedDataParallel(model, opts)
  return require("luagrad.distributed_ddp")(model, opts)
end

return distributed
