--- luagrad.distributed_ddp: DistributedDataParallel, a module wrapping a
-- model for data-parallel training, as PyTorch's DDP does: at construction
-- rank 1's parameters and buffers are broadcast to every rank; during
-- backward the gradients are averaged over the ranks in buckets of about
-- bucket_mb megabytes, each bucket all-reduced (asynchronously) as soon as
-- all of its parameters' gradients are accumulated, so communication
-- overlaps the rest of the backward pass. ddp:no_sync() skips the averaging
-- for gradient accumulation. With broadcast_buffers (the default) every
-- forward starts by copying rank 1's buffers (e.g. BatchNorm's running
-- statistics) to every rank, as PyTorch does.
--
-- Invariant: every rank launches the buckets in the same order (bucket k
-- only after buckets 1..k-1, whatever order their gradients arrive in), and
-- the backward that completes the last bucket waits for all of them and
-- writes the averaged gradients back into each parameter's .grad before it
-- returns. Every parameter that requires grad must receive a gradient in
-- each synchronised backward (checked at the next forward).
-- @module distributed
local lg = require "luagrad"
local nn = require "luagrad.nn"
local check = require "luagrad.check"
local distributed = require "luagrad.distributed"
local raise = check.raise

local DDP = nn.Module:extend("DistributedDataParallel")

local BYTES = {float32 = 4, float64 = 8, int32 = 4, int64 = 8, uint8 = 1, bool = 1}

-- Buckets of parameters in reverse registration order (roughly the order
-- backward produces their gradients), one dtype per bucket.
local function make_buckets(named, limit_bytes)
  local buckets, current = {}, nil
  for i = #named, 1, -1 do
    local name, p = named[i][1], named[i][2]
    local bytes = p:numel() * BYTES[p.dtype]
    if not current or current.dtype ~= p.dtype or current.bytes >= limit_bytes then
      current = {dtype = p.dtype, bytes = 0, params = {}, names = {}, offsets = {}, numel = 0}
      buckets[#buckets + 1] = current
    end
    current.params[#current.params + 1] = p
    current.names[#current.names + 1] = name
    current.offsets[#current.offsets + 1] = current.numel + 1
    current.numel = current.numel + p:numel()
    current.bytes = current.bytes + bytes
  end
  for _, b in ipairs(buckets) do
    b.buffer = lg.zeros(b.numel, {dtype = b.dtype})
    b.views = {}
    for i, p in ipairs(b.params) do
      b.views[i] = b.buffer:narrow(1, b.offsets[i], p:numel()):view(p.shape)
    end
    b.ready, b.seen = 0, {}
  end
  return buckets
end

-- Moves the bucket's gradients, divided by the world size, into its buffer
-- and starts its all-reduce (a sum: the average, as PyTorch's DDP divides
-- before it sums). The division rides on the move, one pass over the
-- gradients instead of a copy and a second pass after the wait. Each .grad
-- becomes a view of the buffer (PyTorch's gradient_as_bucket_view), so the
-- averages need no copy back, and while .grad stays that view (zero_
-- instead of set to nil) backward accumulates straight into the buffer.
local function launch(sync, b, world_size)
  for i, p in ipairs(b.params) do
    local view = b.views[i]
    if p.grad ~= view then
      lg.div(p.grad, world_size, {out = view})
      p.grad = view
    else
      view:div_(world_size)
    end
  end
  b.handle = distributed.all_reduce(b.buffer, {op = "sum", async = true, check = false})
  sync.launched = sync.launched + 1
end

-- Waits for every bucket (the averages land in the gradients' own memory).
local function finish(sync)
  for _, b in ipairs(sync.buckets) do
    b.handle:wait()
    b.handle, b.ready, b.seen = nil, 0, {}
  end
  sync.launched = 0
end

-- The hook run after parameter p of bucket b accumulated its gradient.
local function on_grad_ready(sync, b, p, world_size)
  if not sync.enabled or b.seen[p] then return end
  b.seen[p] = true
  b.ready = b.ready + 1
  -- MPI moves a non-blocking collective on only inside MPI calls: poke the
  -- launched ones so they progress while backward goes on
  for k = 1, sync.launched do sync.buckets[k].handle:is_completed() end
  -- launch every complete bucket that is next in order
  while sync.launched < #sync.buckets do
    local next_bucket = sync.buckets[sync.launched + 1]
    if next_bucket.ready < #next_bucket.params then break end
    launch(sync, next_bucket, world_size)
  end
  if sync.launched == #sync.buckets then finish(sync) end
end

--- DistributedDataParallel(model, {bucket_mb = 25, broadcast_buffers = true})
--- wraps model (its parameters are then named "module.<name>"); initialises
--- lg.distributed when that has not been done.
function DDP:init(model, opts)
  opts = check.options("DistributedDataParallel", opts,
                       {bucket_mb = true, broadcast_buffers = true})
  if type(model) ~= "table" or type(model.parameters) ~= "function" then
    raise("DistributedDataParallel: expected a module, got " .. check.typename(model))
  end
  local bucket_mb = opts.bucket_mb or 25
  if type(bucket_mb) ~= "number" or bucket_mb <= 0 then
    raise("DistributedDataParallel: bucket_mb must be a positive number, got " .. tostring(bucket_mb))
  end
  if not distributed.is_initialized() then distributed.init() end
  self.module = model
  local world_size = distributed.world_size()
  lg.no_grad(function()
    for _, p in ipairs(model:parameters()) do distributed.broadcast(p, {src = 1}) end
    if opts.broadcast_buffers ~= false then
      for _, b in ipairs(model:buffers()) do distributed.broadcast(b, {src = 1}) end
    end
  end)
  local named = {}
  for _, entry in ipairs(self:named_parameters_list()) do
    if entry[2].requires_grad then named[#named + 1] = entry end
  end
  local sync = {enabled = true, launched = 0, world_size = world_size,
                broadcast_buffers = opts.broadcast_buffers ~= false,
                buckets = make_buckets(named, bucket_mb * 1024 * 1024)}
  rawset(self, "_sync", sync)
  if world_size == 1 then return end -- nothing to average
  for _, b in ipairs(sync.buckets) do
    for _, p in ipairs(b.params) do
      p:register_post_accumulate_grad_hook(function(param)
        on_grad_ready(sync, b, param, world_size)
      end)
    end
  end
end

-- A synchronised backward that left buckets half done: name the parameters
-- that got no gradient.
local function check_previous(sync)
  local missing = {}
  for _, b in ipairs(sync.buckets) do
    if b.ready > 0 or sync.launched > 0 then
      for i, p in ipairs(b.params) do
        if not b.seen[p] then missing[#missing + 1] = b.names[i] end
      end
    end
  end
  if #missing > 0 then
    raise("DistributedDataParallel: the previous backward gave no gradient to "
          .. table.concat(missing, ", ") .. "; every parameter that requires grad "
          .. "must take part in the loss (or set requires_grad = false on it)")
  end
end

function DDP:forward(...)
  local sync = rawget(self, "_sync")
  if sync.enabled then check_previous(sync) end
  if sync.broadcast_buffers and sync.world_size > 1 then
    lg.no_grad(function()
      for _, b in ipairs(self.module:buffers()) do distributed.broadcast(b, {src = 1}) end
    end)
  end
  return self.module(...)
end

local Guard = {}
Guard.__index = Guard
Guard.__name = "NoSyncGuard"
function Guard.__close(guard)
  guard.sync.enabled = guard.before
end

--- ddp:no_sync() returns a guard for a to-be-closed variable: backward
--- passes inside it accumulate gradients locally; the first backward after
--- it averages the accumulated sums. ddp:no_sync(fn, ...) runs fn so.
function DDP:no_sync(fn, ...)
  local sync = rawget(self, "_sync")
  local guard = setmetatable({sync = sync, before = sync.enabled}, Guard)
  sync.enabled = false
  if fn == nil then return guard end
  local results = table.pack(pcall(fn, ...))
  Guard.__close(guard)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

return DDP
