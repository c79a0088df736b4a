--- luagrad.data: datasets and batching. load_idx reads IDX files (through the
-- C reader), fashion_mnist loads Debian's copy of Fashion-MNIST,
-- TensorDataset holds tensors that share their first dimension, and
-- DataLoader walks a dataset in (optionally shuffled) batches.
--
-- Invariant of the loader: one epoch visits every sample exactly once, in an
-- order decided by the seed and the epoch number alone (its own PRNG, so the
-- global generator that initialises models is never touched; made in C for
-- TensorDatasets, lua/binding/data_lua.c, the same numbers), and the only
-- data it copies are the rows of the current batch (index_select).
-- @module data
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local data = {}

local DEFAULT_FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"

-- -----------------------------------------------------------------------
-- small helpers

local shape_string = check.shape_string
local shard_options

-- Through the host's file policy (lg._file_exists), not io.
local function file_exists(path)
  return lg._file_exists(path, "fashion_mnist")
end

-- -----------------------------------------------------------------------
-- IDX files and Fashion-MNIST

--- load_idx(path) reads an IDX file (the MNIST format), gzipped or not, and
--- returns a tensor of the file's dtype and dimensions (ubyte -> uint8).
-- @usage local labels = lg.data.load_idx("train-labels-idx1-ubyte.gz")
function data.load_idx(path)
  if type(path) ~= "string" then
    raise("load_idx: expected a file path string, got " .. check.typename(path))
  end
  if not lg._idx_load then
    raise("load_idx: this build has no IDX reader (lg._idx_load is missing)")
  end
  return lg._idx_load(path)
end

-- The path of an IDX file under root: the gzipped name, or the plain one
-- when only that exists.
local function find_idx_file(root, name, split)
  local gz = root .. "/" .. name .. ".gz"
  if file_exists(gz) then return gz end
  local plain = root .. "/" .. name
  if file_exists(plain) then return plain end
  local hint
  if root == DEFAULT_FASHION_MNIST_ROOT then
    hint = "install Debian's dataset-fashion-mnist package "
        .. "(apt-get install dataset-fashion-mnist)"
  else
    hint = "pass root = the directory holding the Fashion-MNIST IDX files, "
        .. "or install Debian's dataset-fashion-mnist package (it puts them in "
        .. DEFAULT_FASHION_MNIST_ROOT .. ")"
  end
  raise(string.format("fashion_mnist: the %s split needs %s (or %s), not found; %s",
                      split, gz, plain, hint))
end

local FASHION_MNIST_OPTIONS = {split = true, root = true}

--- fashion_mnist({split = "train" | "test", root = dir}) returns a
--- TensorDataset of the images (uint8, N x 1 x 28 x 28) and the labels
--- (int64, classes 1..10: the file's 0..9 plus one). root defaults to
--- Debian's /usr/share/datasets/fashion-mnist.
-- @usage local train = lg.data.fashion_mnist{split = "train"}
function data.fashion_mnist(opts)
  opts = check.options("fashion_mnist", opts, FASHION_MNIST_OPTIONS)
  local split = opts.split or "train"
  if split ~= "train" and split ~= "test" then
    raise(string.format("fashion_mnist: split must be \"train\" or \"test\", got %s",
                        tostring(split)))
  end
  local root = opts.root or DEFAULT_FASHION_MNIST_ROOT
  if type(root) ~= "string" then
    raise("fashion_mnist: root must be a directory path string, got " .. check.typename(root))
  end
  local prefix = split == "train" and "train" or "t10k"
  local images_path = find_idx_file(root, prefix .. "-images-idx3-ubyte", split)
  local labels_path = find_idx_file(root, prefix .. "-labels-idx1-ubyte", split)
  local images = data.load_idx(images_path)
  local labels = data.load_idx(labels_path)
  if images:dim() ~= 3 or labels:dim() ~= 1 or images:size(1) ~= labels:size(1) then
    raise(string.format("fashion_mnist: expected N x 28 x 28 images and N labels, got "
                        .. "images %s in %s and labels %s in %s", shape_string(images),
                        images_path, shape_string(labels), labels_path))
  end
  images = images:reshape(images:size(1), 1, images:size(2), images:size(3))
  labels = labels:long() + 1
  return data.TensorDataset(images, labels)
end

-- -----------------------------------------------------------------------
-- TensorDataset

local TensorDataset = {}

TensorDataset.__name = "TensorDataset"

-- ds[i] (an integer) is the array {ds:get(i)}: an index expression yields
-- one value, as PyTorch's yields one tuple. Any other key is a method.
TensorDataset.__index = function(ds, key)
  if math.type(key) == "integer" then return {ds:get(key)} end
  return TensorDataset[key]
end

TensorDataset.__len = function(ds) return ds.size end

TensorDataset.__tostring = function(ds)
  local parts = {}
  for i, t in ipairs(ds.tensors) do
    parts[i] = shape_string(t) .. " " .. t.dtype
  end
  return string.format("TensorDataset(%d samples: %s)", ds.size, table.concat(parts, ", "))
end

--- TensorDataset(t1, t2, ...) holds tensors with the same size along dim 1;
--- sample i is the i-th row of each.
-- @usage local ds = lg.data.TensorDataset(images, labels)
function data.TensorDataset(...)
  local n = select("#", ...)
  if n == 0 then
    raise("TensorDataset: expected at least one tensor, got none")
  end
  local tensors = {}
  for i = 1, n do
    local t = select(i, ...)
    if not lg.is_tensor(t) then
      raise(string.format("TensorDataset: expected a tensor as argument %d, got %s",
                          i, check.typename(t)))
    end
    if t:dim() == 0 then
      raise(string.format("TensorDataset: tensor %d is 0-dimensional; each tensor "
                          .. "needs a first dimension indexing the samples", i))
    end
    if i > 1 and t:size(1) ~= tensors[1]:size(1) then
      raise(string.format("TensorDataset: every tensor needs the same size along dim 1; "
                          .. "tensor 1 has %d (shape %s), tensor %d has %d (shape %s)",
                          tensors[1]:size(1), shape_string(tensors[1]), i, t:size(1),
                          shape_string(t)))
    end
    tensors[i] = t
  end
  return setmetatable({tensors = tensors, size = tensors[1]:size(1)}, TensorDataset)
end

--- ds:len() is the number of samples (also #ds).
function TensorDataset:len() return self.size end

--- ds:get(i) returns the i-th row of each tensor as multiple values
--- (negative i counts from the end); ds[i] returns them in an array.
function TensorDataset:get(i)
  if math.type(i) ~= "integer" then
    raise("TensorDataset: expected an integer sample index, got "
          .. (math.type(i) or check.typename(i)))
  end
  local n = self.size
  if i < 0 then i = i + n + 1 end
  if i < 1 or i > n then
    raise(string.format("TensorDataset: sample index %d out of range 1..%d", i, n))
  end
  local rows = {}
  for k, t in ipairs(self.tensors) do rows[k] = t[i] end
  return table.unpack(rows, 1, #self.tensors)
end

--- ds:batch(index) returns the rows listed in index (a 1-D int64 tensor of
--- 1-based positions) of each tensor, gathered with index_select.
function TensorDataset:batch(index)
  local out = {}
  for k, t in ipairs(self.tensors) do out[k] = t:index_select(1, index) end
  return table.unpack(out, 1, #self.tensors)
end

-- -----------------------------------------------------------------------
-- The loader's own random numbers: splitmix64 on Lua's wrapping 64-bit
-- integers (the same numbers as the C reference implementation), so an
-- epoch's order depends on nothing but the seed and the epoch.

local function splitmix64(state)
  state = state + 0x9E3779B97F4A7C15
  local z = state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return state, z ~ (z >> 31)
end
data._splitmix64 = splitmix64

local TWO_POW_53 = 1 << 53

--- permutation(n, seed, epoch) returns a Lua array holding a permutation of
--- 1..n (Fisher-Yates driven by splitmix64), a function of its arguments alone.
-- @usage local order = lg.data.permutation(60000, 1, epoch)
function data.permutation(n, seed, epoch)
  local _, state = splitmix64(seed)
  state = state ~ (epoch or 0)
  local order = {}
  for i = 1, n do order[i] = i end
  local z
  for i = n, 2, -1 do
    -- An unbiased draw from 1..i: reject the top sliver of the 53-bit range.
    local limit = TWO_POW_53 - TWO_POW_53 % i
    repeat
      state, z = splitmix64(state)
      z = z >> 11
    until z < limit
    local j = z % i + 1
    order[i], order[j] = order[j], order[i]
  end
  return order
end

-- -----------------------------------------------------------------------
-- DataLoader

local DataLoader = {}
DataLoader.__index = DataLoader
DataLoader.__name = "DataLoader"

local LOADER_OPTIONS = {batch_size = true, shuffle = true, drop_last = true, seed = true,
                        distributed = true, num_replicas = true, rank = true, drop_uneven = true}

-- The number of samples of a dataset: dataset:len() or #dataset.
local function dataset_length(dataset)
  local n
  if type(dataset.len) == "function" then n = dataset:len()
  else
    local ok, value = pcall(function() return #dataset end)
    if ok then n = value end
  end
  if math.type(n) ~= "integer" or n < 0 then
    raise("DataLoader: the dataset's len() must return a non-negative integer, got "
          .. tostring(n))
  end
  return n
end

-- The rank and world of a distributed loader: given, or lg.distributed's.
shard_options = function(opts)
  local rank, replicas = opts.rank, opts.num_replicas
  if rank == nil or replicas == nil then
    local distributed = require "luagrad.distributed"
    if not distributed.is_initialized() then distributed.init() end
    rank, replicas = rank or distributed.rank(), replicas or distributed.world_size()
  end
  if math.type(replicas) ~= "integer" or replicas < 1 then
    raise("DataLoader: num_replicas must be a positive integer, got " .. tostring(replicas))
  end
  if math.type(rank) ~= "integer" or rank < 1 or rank > replicas then
    raise(string.format("DataLoader: rank must be an integer in 1..%d, got %s", replicas, tostring(rank)))
  end
  return {rank = rank, num_replicas = replicas, drop_uneven = opts.drop_uneven == true}
end

-- This rank's share of an epoch's order: as PyTorch's DistributedSampler,
-- the order padded from its start to a multiple of the world (or cut down
-- to one with drop_uneven), then every num_replicas-th sample from rank on.
local function shard_of(order, shard)
  local n, replicas = #order, shard.num_replicas
  local per_rank = shard.drop_uneven and n // replicas or (n + replicas - 1) // replicas
  local mine = {}
  for k = 1, per_rank do
    local position = (k - 1) * replicas + shard.rank
    mine[k] = order[(position - 1) % n + 1]
  end
  return mine
end

--- DataLoader(dataset, {batch_size = 1, shuffle = false, drop_last = false,
--- seed = nil}) iterates over the dataset in batches: `for x, y in loader()
--- do`. dataset is a TensorDataset (batches gathered with index_select) or
--- any table with len() and get(i) returning the sample's values (tensors
--- are stacked along a new dim 1, numbers become a 1-D tensor). With shuffle,
--- each epoch's order comes from the seed and the epoch number only; seed
--- defaults to lg.initial_seed() at construction, read without drawing
--- from the global generator.
--- distributed = true gives each rank a disjoint shard of every epoch's
--- order (PyTorch's DistributedSampler): rank and num_replicas default to
--- lg.distributed's; the seed must be the same on every rank; an order that
--- does not divide evenly is padded from its start (drop_uneven = true drops
--- the remainder instead), so every rank runs the same number of batches.
-- @usage for x, y in lg.data.DataLoader(ds, {batch_size = 64, shuffle = true})() do ... end
function data.DataLoader(dataset, opts)
  if type(dataset) ~= "table" then
    raise("DataLoader: expected a dataset (TensorDataset, or a table with len() and get(i)), got "
          .. check.typename(dataset))
  end
  opts = check.options("DataLoader", opts, LOADER_OPTIONS)
  local batch_size = opts.batch_size or 1
  if math.type(batch_size) ~= "integer" or batch_size < 1 then
    raise("DataLoader: batch_size must be a positive integer, got " .. tostring(batch_size))
  end
  for _, key in ipairs({"shuffle", "drop_last"}) do
    if opts[key] ~= nil and type(opts[key]) ~= "boolean" then
      raise(string.format("DataLoader: %s must be a boolean, got %s", key, check.typename(opts[key])))
    end
  end
  local seed = opts.seed
  if seed ~= nil and math.type(seed) ~= "integer" then
    raise("DataLoader: seed must be an integer, got " .. tostring(seed))
  end
  local shard = opts.distributed and shard_options(opts) or nil
  if type(dataset.batch) ~= "function" and type(dataset.get) ~= "function" then
    raise("DataLoader: the dataset needs a get(i) method (or batch(index) like TensorDataset)")
  end
  dataset_length(dataset) -- checks it now, so a bad dataset fails here
  return setmetatable({
    dataset = dataset,
    batch_size = batch_size,
    shuffle = opts.shuffle or false,
    drop_last = opts.drop_last or false,
    seed = seed or lg.initial_seed(),
    epoch = 0,        -- the epoch last started by loader()
    shard = shard,    -- distributed: {rank, num_replicas, drop_uneven}
  }, DataLoader)
end

--- #loader is the number of batches in one epoch.
function DataLoader:__len()
  local n = self:samples_per_epoch()
  if self.drop_last then return n // self.batch_size end
  return (n + self.batch_size - 1) // self.batch_size
end

--- loader:samples_per_epoch(): the samples one epoch of this loader visits
--- (a distributed loader: this rank's shard).
function DataLoader:samples_per_epoch()
  local n = dataset_length(self.dataset)
  local shard = self.shard
  if not shard then return n end
  if shard.drop_uneven then return n // shard.num_replicas end
  return (n + shard.num_replicas - 1) // shard.num_replicas
end

--- loader:set_epoch(e) makes the next loader() run epoch e (e.g. when
--- resuming training from a checkpoint, so the shuffles continue as before).
function DataLoader:set_epoch(epoch)
  if math.type(epoch) ~= "integer" or epoch < 1 then
    raise("DataLoader: set_epoch expects a positive integer, got " .. tostring(epoch))
  end
  self.epoch = epoch - 1
end

--- loader:epoch_order([epoch]) returns the sample order of an epoch (default:
--- the one the next loader() starts) as a Lua array of 1-based indices.
function DataLoader:epoch_order(epoch)
  epoch = epoch or self.epoch + 1
  local n = dataset_length(self.dataset)
  local order
  if self.shuffle then order = data.permutation(n, self.seed, epoch)
  else
    order = {}
    for i = 1, n do order[i] = i end
  end
  if self.shard then return shard_of(order, self.shard) end
  return order
end

-- Stacks the samples at positions first..last of order (a Lua array) of a
-- generic dataset: column k of the batch holds value k of each sample.
local function collate(dataset, order, first, last)
  local columns, count = {}, nil
  for p = first, last do
    local values = table.pack(dataset:get(order[p]))
    if count == nil then count = values.n
    elseif values.n ~= count then
      raise(string.format("DataLoader: dataset:get(%d) returned %d values, earlier samples %d",
                          order[p], values.n, count))
    end
    for k = 1, values.n do
      columns[k] = columns[k] or {}
      columns[k][p - first + 1] = values[k]
    end
  end
  local out = {}
  for k = 1, count or 0 do
    local column = columns[k]
    local first_value = column[1]
    if lg.is_tensor(first_value) then out[k] = lg.stack(column, 1)
    elseif type(first_value) == "number" or type(first_value) == "boolean" then
      out[k] = lg.tensor(column)
    else
      raise(string.format("DataLoader: dataset:get returned a %s as value %d; "
                          .. "expected tensors or numbers", check.typename(first_value), k))
    end
  end
  return table.unpack(out, 1, count or 0)
end

--- loader() starts the next epoch and returns the iterator of its batches:
--- each step returns the batch's tensors (x, y, ...).
function DataLoader:__call()
  self.epoch = self.epoch + 1
  local dataset, batch_size = self.dataset, self.batch_size
  local batches = #self
  local fast = type(dataset.batch) == "function"
  local order, order_tensor, n
  if fast then -- the same order as epoch_order's, made in C (data_lua.c)
    local shard = self.shard
    order_tensor = lg._epoch_order(dataset_length(dataset), self.shuffle, self.seed,
      self.epoch, shard and shard.rank or 1, shard and shard.num_replicas or 1,
      shard and shard.drop_uneven)
    n = order_tensor:size(1)
  else
    order = self:epoch_order(self.epoch)
    n = #order
  end
  local b = 0
  return function()
    if b >= batches then return nil end
    b = b + 1
    local first = (b - 1) * batch_size + 1
    local last = math.min(b * batch_size, n)
    if fast then
      return dataset:batch(order_tensor:narrow(1, first, last - first + 1))
    end
    return collate(dataset, order, first, last)
  end
end

DataLoader.__tostring = function(loader)
  return string.format("DataLoader(%d samples, batch_size=%d, shuffle=%s, drop_last=%s, %d batches)",
                       dataset_length(loader.dataset), loader.batch_size,
                       tostring(loader.shuffle), tostring(loader.drop_last), #loader)
end

return data
