-- data_spec.lua: lg.data: TensorDataset (shapes, indexing, errors),
-- DataLoader (every sample once per epoch, batch sizes that divide N and
-- that don't, drop_last, seeded shuffles that differ across epochs and seeds
-- and leave the global generator alone, batches in the reference order of
-- every shard, generic datasets), load_idx on the
-- tiny files of tests/fixtures/idx (made by tests/fixtures/generate_idx.py),
-- and fashion_mnist on Debian's copy when it is installed.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local data = lg.data

local IDX_DIR = H.root .. "/tests/fixtures/idx"
local FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

-- All indices a loader yields in one epoch (y holds the sample indices).
local function epoch_samples(loader)
  local seen, sizes = {}, {}
  for x, y in loader() do
    sizes[#sizes + 1] = y:size(1)
    local xs, ys = H.values(x), H.values(y)
    for k, v in ipairs(ys) do
      seen[#seen + 1] = v
      assert.are.equal(v * 10, xs[2 * k - 1]) -- the rows stay aligned
    end
  end
  return seen, sizes
end

local function sorted(list)
  local copy = {table.unpack(list)}
  table.sort(copy)
  return copy
end

local function range(n)
  local out = {}
  for i = 1, n do out[i] = i end
  return out
end

-- A dataset of n samples: x row i is {10 i, 10 i + 1}, y is i.
local function indexed_dataset(n)
  local x = (lg.arange(1, n + 1, {dtype = "int64"}) * 10):view(n, 1):expand(n, 2)
      + lg.tensor({0, 1})
  return data.TensorDataset(x:contiguous(), lg.arange(1, n + 1, {dtype = "int64"}))
end

describe("TensorDataset", function()
  it("holds tensors with a common first dim", function()
    local ds = data.TensorDataset(lg.zeros(5, 3), lg.arange(1, 6))
    assert.are.equal(5, ds:len())
    assert.are.equal(5, #ds)
    local x, y = ds:get(2)
    assert.are.same({3}, H.shape(x))
    assert.are.equal(2, y)
    local row = ds[-1]
    assert.are.equal(2, #row)
    assert.are.equal(5, row[2])
    assert.are.same({3}, H.shape(row[1]))
  end)

  it("gathers batches with index_select", function()
    local ds = indexed_dataset(6)
    local x, y = ds:batch(lg.tensor({4, 1}, {dtype = "int64"}))
    assert.are.same({2, 2}, H.shape(x))
    assert.are.same({40, 41, 10, 11}, H.values(x))
    assert.are.same({4, 1}, H.values(y))
  end)

  it("rejects bad arguments with clear errors", function()
    assert.has_error(function() data.TensorDataset() end,
                     "TensorDataset: expected at least one tensor, got none")
    assert.has_error(function() data.TensorDataset(lg.zeros(2), {1, 2}) end,
                     "TensorDataset: expected a tensor as argument 2, got table")
    assert.error_matches(function() data.TensorDataset(lg.zeros(3, 2), lg.zeros(4)) end,
                         "tensor 1 has 3 %(shape {3,2}%), tensor 2 has 4 %(shape {4}%)")
    assert.error_matches(function() data.TensorDataset(lg.tensor(1)) end, "0%-dimensional")
    local ds = data.TensorDataset(lg.zeros(3))
    assert.error_matches(function() return ds:get(4) end, "sample index 4 out of range 1..3")
    assert.error_matches(function() return ds[0] end, "sample index 0 out of range 1..3")
    assert.error_matches(function() return ds:get(1.5) end, "integer sample index")
  end)
end)

describe("DataLoader", function()
  it("counts its batches", function()
    local ds = indexed_dataset(10)
    assert.are.equal(4, #data.DataLoader(ds, {batch_size = 3}))
    assert.are.equal(3, #data.DataLoader(ds, {batch_size = 3, drop_last = true}))
    assert.are.equal(2, #data.DataLoader(ds, {batch_size = 5, drop_last = true}))
    assert.are.equal(10, #data.DataLoader(ds))
    assert.are.equal(0, #data.DataLoader(ds, {batch_size = 11, drop_last = true}))
  end)

  for _, shuffle in ipairs({false, true}) do
    for _, batch_size in ipairs({1, 3, 4, 12, 20}) do
      it(string.format("visits each sample once (batch_size %d, shuffle %s)",
                       batch_size, tostring(shuffle)), function()
        local loader = data.DataLoader(indexed_dataset(12),
                                       {batch_size = batch_size, shuffle = shuffle, seed = 5})
        for _ = 1, 3 do
          local seen, sizes = epoch_samples(loader)
          assert.are.same(range(12), sorted(seen))
          assert.are.equal(#loader, #sizes)
          for b = 1, #sizes - 1 do assert.are.equal(batch_size, sizes[b]) end
          assert.are.equal((12 - 1) % batch_size + 1, sizes[#sizes])
          if not shuffle then assert.are.same(range(12), seen) end
        end
      end)
    end
  end

  it("drops the last partial batch with drop_last", function()
    local loader = data.DataLoader(indexed_dataset(10),
                                   {batch_size = 4, shuffle = true, drop_last = true, seed = 1})
    local seen, sizes = epoch_samples(loader)
    assert.are.same({4, 4}, sizes)
    assert.are.equal(8, #seen)
    local distinct = {}
    for _, v in ipairs(seen) do distinct[v] = true end
    local count = 0
    for _ in pairs(distinct) do count = count + 1 end
    assert.are.equal(8, count)
  end)

  it("shuffles deterministically from the seed and the epoch", function()
    local ds = indexed_dataset(50)
    local a = data.DataLoader(ds, {batch_size = 7, shuffle = true, seed = 42})
    local b = data.DataLoader(ds, {batch_size = 7, shuffle = true, seed = 42})
    local c = data.DataLoader(ds, {batch_size = 7, shuffle = true, seed = 43})
    local a1, b1, c1 = epoch_samples(a), epoch_samples(b), epoch_samples(c)
    assert.are.same(a1, b1)
    assert.are_not.same(a1, c1)
    assert.are_not.same(range(50), a1)
    local a2 = epoch_samples(a)
    assert.are_not.same(a1, a2)
    assert.are.same(a2, epoch_samples(b))
    assert.are.same(a.epoch, 2)
    -- epoch_order matches what the loop yields, and set_epoch replays an epoch.
    assert.are.same(a1, a:epoch_order(1))
    assert.are.same(a2, a:epoch_order(2))
    b:set_epoch(1)
    assert.are.same(a1, b:epoch_order())
    assert.are.same(a1, epoch_samples(b))
  end)

  it("leaves the global generator alone", function()
    local ds = indexed_dataset(20)
    lg.manual_seed(7)
    local expected = H.values(lg.rand(5))
    lg.manual_seed(7)
    local loader = data.DataLoader(ds, {batch_size = 3, shuffle = true})
    epoch_samples(loader)
    assert.are.same(expected, H.values(lg.rand(5)))
    -- Without a seed the order follows lg.initial_seed().
    lg.manual_seed(7)
    local first = epoch_samples(data.DataLoader(ds, {batch_size = 3, shuffle = true}))
    lg.manual_seed(8)
    local other = epoch_samples(data.DataLoader(ds, {batch_size = 3, shuffle = true}))
    lg.manual_seed(7)
    assert.are.same(first, epoch_samples(data.DataLoader(ds, {batch_size = 3, shuffle = true})))
    assert.are_not.same(first, other)
  end)

  it("uses its own splitmix64 stream (the reference numbers)", function()
    local state, z = data._splitmix64(0)
    assert.are.equal(0xe220a8397b1dcdaf, z)
    _, z = data._splitmix64(state)
    assert.are.equal(0x6e789e6aa1b965f4, z)
    local p = data.permutation(1000, 3, 1)
    assert.are.same(range(1000), sorted(p))
    assert.are.same(p, data.permutation(1000, 3, 1))
  end)

  it("gathers TensorDataset batches in epoch_order's order, every shard", function()
    -- the loader's order comes from C (data_lua.c); epoch_order from the
    -- Lua reference (data.permutation, then the DistributedSampler shard)
    local cases = {
      {n = 1000, seed = 3}, {n = 7, seed = -5}, {n = 1, seed = 0},
      {n = 10, seed = math.maxinteger}, {n = 0, seed = 1}, {n = 9, shuffle = false},
      {n = 10, seed = 2, rank = 1, replicas = 3}, {n = 10, seed = 2, rank = 3, replicas = 3},
      {n = 10, seed = 2, rank = 2, replicas = 4, drop_uneven = true},
      {n = 5, seed = 8, rank = 4, replicas = 7}, {n = 12, shuffle = false, rank = 2, replicas = 5},
    }
    for _, c in ipairs(cases) do
      local shard = c.replicas and {distributed = true, rank = c.rank,
                                    num_replicas = c.replicas, drop_uneven = c.drop_uneven}
      local opts = {batch_size = 4, shuffle = c.shuffle ~= false, seed = c.seed}
      for k, v in pairs(shard or {}) do opts[k] = v end
      local loader = data.DataLoader(indexed_dataset(c.n), opts)
      for epoch = 1, 2 do
        local want = loader:epoch_order(epoch)
        local got, sizes = epoch_samples(loader)
        assert.are.same(want, got)
        assert.are.equal(#loader, #sizes)
      end
    end
  end)

  it("batches generic datasets with len() and get(i)", function()
    local generic = {n = 7}
    function generic:len() return self.n end
    function generic:get(i) return lg.full({2, 2}, i), i * 10, i % 2 == 0 end
    local loader = data.DataLoader(generic, {batch_size = 3, shuffle = true, seed = 9})
    local seen = {}
    for x, y, even in loader() do
      assert.are.same({y:size(1), 2, 2}, H.shape(x))
      assert.are.equal("int64", y.dtype)
      assert.are.equal("bool", even.dtype)
      local xs, ys, evens = H.values(x), H.values(y), H.values(even)
      for k, v in ipairs(ys) do
        seen[#seen + 1] = v // 10
        assert.are.equal(v // 10, xs[4 * (k - 1) + 1])
        assert.are.equal((v // 10) % 2 == 0, evens[k])
      end
    end
    assert.are.same(range(7), sorted(seen))
    assert.are.same(loader:epoch_order(1), seen)
  end)

  it("rejects bad options with clear errors", function()
    local ds = indexed_dataset(4)
    assert.error_matches(function() data.DataLoader(ds, {batch_size = 0}) end,
                         "batch_size must be a positive integer, got 0")
    assert.error_matches(function() data.DataLoader(ds, {batchsize = 2}) end,
                         'unknown option "batchsize"')
    assert.error_matches(function() data.DataLoader(ds, {shuffle = 1}) end,
                         "shuffle must be a boolean")
    assert.error_matches(function() data.DataLoader(ds, {seed = 1.5}) end,
                         "seed must be an integer")
    assert.error_matches(function() data.DataLoader({}, {}) end, "get%(i%)")
    assert.error_matches(function() data.DataLoader(lg.zeros(3)) end, "expected a dataset")
  end)
end)

describe("load_idx", function()
  local function expected_images()
    local out = {}
    for i = 0, 2 do for j = 0, 1 do for k = 0, 3 do
      out[#out + 1] = (i * 31 + j * 7 + k * 3) % 256
    end end end
    return out
  end

  for _, name in ipairs({"images-idx3-ubyte", "images-idx3-ubyte.gz"}) do
    it("reads " .. name, function()
      local t = data.load_idx(IDX_DIR .. "/" .. name)
      assert.are.equal("uint8", t.dtype)
      assert.are.same({3, 2, 4}, H.shape(t))
      assert.are.same(expected_images(), H.values(t))
    end)
  end

  for _, name in ipairs({"labels-idx1-ubyte", "labels-idx1-ubyte.gz"}) do
    it("reads " .. name, function()
      local t = data.load_idx(IDX_DIR .. "/" .. name)
      assert.are.equal("uint8", t.dtype)
      assert.are.same({0, 3, 6, 9, 2}, H.values(t))
    end)
  end

  it("reads int32 and float64 files", function()
    local ints = data.load_idx(IDX_DIR .. "/int32-idx2-int")
    assert.are.equal("int32", ints.dtype)
    assert.are.same({2, 3}, H.shape(ints))
    assert.are.same({-2500, -1500, -500, 500, 1500, 2500}, H.values(ints))
    local doubles = data.load_idx(IDX_DIR .. "/float64-idx1-double")
    assert.are.equal("float64", doubles.dtype)
    assert.are.same({-1, -0.5, 0, 0.5}, H.values(doubles))
  end)

  for _, name in ipairs({"bad-magic", "truncated", "short-header", "truncated.gz",
                         "does-not-exist"}) do
    it("rejects " .. name .. " with an error naming the file", function()
      local ok, err = pcall(data.load_idx, IDX_DIR .. "/" .. name)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(IDX_DIR .. "/" .. name, 1, true), err)
    end)
  end

  it("needs a path string", function()
    assert.error_matches(function() data.load_idx(3) end, "expected a file path string")
  end)
end)

describe("fashion_mnist", function()
  it("loads a root laid out like Debian's", function()
    local train = data.fashion_mnist({root = IDX_DIR .. "/fashion"})
    local images, labels = train.tensors[1], train.tensors[2]
    assert.are.same({3, 1, 28, 28}, H.shape(images))
    assert.are.equal("uint8", images.dtype)
    assert.are.equal("int64", labels.dtype)
    assert.are.same({10, 9, 8}, H.values(labels))
    assert.are.equal(5, images[2][1][1][1]) -- sample 2 (s = 1) starts at 5
    local test = data.fashion_mnist({split = "test", root = IDX_DIR .. "/fashion"})
    assert.are.equal(2, #test)
  end)

  it("names the Debian package when files are missing", function()
    assert.error_matches(function() data.fashion_mnist({root = "/nonexistent"}) end,
                         "dataset%-fashion%-mnist")
    assert.error_matches(function() data.fashion_mnist({root = "/nonexistent"}) end,
                         "/nonexistent/train%-images%-idx3%-ubyte.gz")
    assert.error_matches(function() data.fashion_mnist({split = "valid"}) end,
                         'split must be "train" or "test", got valid')
    assert.error_matches(function() data.fashion_mnist({splt = "train"}) end,
                         'unknown option "splt"')
  end)

  local installed = io.open(FASHION_MNIST_DIR .. "/train-labels-idx1-ubyte.gz", "rb")
  if installed then installed:close() end
  it("loads Debian's Fashion-MNIST", function()
    if not installed then
      pending("Debian's dataset-fashion-mnist is not installed (" .. FASHION_MNIST_DIR .. ")")
      return
    end
    local train = data.fashion_mnist()
    assert.are.same({60000, 1, 28, 28}, H.shape(train.tensors[1]))
    assert.are.equal("uint8", train.tensors[1].dtype)
    local labels = train.tensors[2]
    assert.are.same({60000}, H.shape(labels))
    assert.are.equal("int64", labels.dtype)
    assert.are.equal(1, labels:min():item())
    assert.are.equal(10, labels:max():item())
    assert.are.equal(10, labels[1]) -- ankle boot: class 9 in the file, plus one
    local test = data.fashion_mnist({split = "test"})
    assert.are.equal(10000, #test)
    assert.are.same({10000, 1, 28, 28}, H.shape(test.tensors[1]))
    local x, y = data.DataLoader(test, {batch_size = 256})()()
    assert.are.same({256, 1, 28, 28}, H.shape(x))
    assert.are.same({256}, H.shape(y))
  end)
end)
