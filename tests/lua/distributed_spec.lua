-- lg.distributed in one process (a world of one, no mpirun) and the
-- distributed DataLoader's shards; the multi-process tests are
-- tests/distributed/*.lua under mpirun.
local lg = require "luagrad"
local distributed = lg.distributed

describe("distributed without mpirun", function()
  if not distributed.is_available() then
    it("says luagrad was built without MPI", function()
      print("distributed_spec: MPI not built; checking the message only")
      local ok, message = pcall(distributed.init)
      assert.is_false(ok)
      assert.truthy(message:find("luagrad was built without MPI", 1, true))
    end)
    return
  end

  it("is a world of one", function()
    local rank, world = distributed.init()
    assert.are.equal(1, rank)
    assert.are.equal(1, world)
    assert.is_true(distributed.is_initialized())
    distributed.barrier()
  end)

  it("leaves tensors as they are in every collective", function()
    distributed.init()
    local t = lg.arange(6):view(2, 3):t():double()
    assert.are.equal(t, distributed.all_reduce(t, {op = "mean"}))
    assert.are.same({{0, 3}, {1, 4}, {2, 5}}, t:tolist())
    assert.are.same({{{0, 3}, {1, 4}, {2, 5}}}, distributed.all_gather(t):tolist())
    assert.are.same({{1, 2}}, distributed.reduce_scatter(lg.tensor({{1, 2}})):tolist())
    local h = distributed.broadcast(t, {async = true})
    assert.is_true(h:is_completed())
    assert.are.equal(t, h:wait())
  end)

  it("checks its arguments", function()
    distributed.init()
    assert.has_error(function() distributed.all_reduce(lg.ones(2), {op = "avg"}) end,
                     "all_reduce: op must be sum, mean, max, min or prod, got avg")
    assert.has_error(function() distributed.all_reduce(lg.ones(2, {dtype = "int64"}), {op = "mean"}) end,
                     "all_reduce: op mean needs a floating-point tensor, got int64 (use sum)")
    assert.has_error(function() distributed.broadcast(lg.ones(2), {src = 2}) end,
                     "broadcast: src must be a rank in 1..1, got 2")
    assert.has_error(function() distributed.all_reduce(5) end,
                     "all_reduce: expected a tensor as argument 1, got number")
  end)

  it("wraps a model whose training equals the plain model's", function()
    distributed.init()
    lg.manual_seed(1)
    local plain = lg.nn.Linear(3, 2)
    lg.manual_seed(1)
    local ddp = distributed.DistributedDataParallel(lg.nn.Linear(3, 2))
    local x = lg.randn(4, 3)
    ddp(x):sum():backward()
    plain(x):sum():backward()
    assert.are.same(plain.weight.grad:tolist(), ddp.module.weight.grad:tolist())
    do local _ <close> = ddp:no_sync() end
  end)
end)

describe("gradient hooks", function()
  it("register_hook replaces a gradient, post-accumulate sees .grad", function()
    local w = lg.ones(3, {requires_grad = true})
    local seen = {}
    local handle = w:register_hook(function(g) return g * 2 end)
    w:register_post_accumulate_grad_hook(function(t) seen[#seen + 1] = t.grad:sum():item() end)
    local y = (w * 3):sum()
    y:backward()
    assert.are.same({6, 6, 6}, w.grad:tolist())
    assert.are.same({18}, seen)
    handle:remove()
    handle:remove()
    w.grad = nil
    y = (w * 3):sum()
    y:backward()
    assert.are.same({3, 3, 3}, w.grad:tolist())
  end)

  it("runs on non-leaf tensors, and a hook error fails the backward", function()
    local a = lg.ones(2, {requires_grad = true})
    local b = a * 2
    b:register_hook(function(g) return g * 10 end)
    b:sum():backward()
    assert.are.same({20, 20}, a.grad:tolist())
    local c = lg.ones(2, {requires_grad = true})
    c:register_hook(function() error("hook failed") end)
    assert.has_error(function() c:sum():backward() end)
    assert.has_error(function() lg.ones(2):register_hook(print) end,
                     "register_hook: the tensor does not require grad")
  end)
end)

describe("DataLoader distributed", function()
  local ds = lg.data.TensorDataset(lg.arange(1, 11))
  local function shard(rank, opts)
    opts = opts or {}
    local loader = lg.data.DataLoader(ds, {batch_size = 3, shuffle = true, seed = 5,
      distributed = true, rank = rank, num_replicas = 3, drop_uneven = opts.drop_uneven})
    loader:set_epoch(opts.epoch or 1)
    local values = {}
    for x in loader() do
      for _, v in ipairs(x:tolist()) do values[#values + 1] = v end
    end
    return values, #loader
  end

  it("gives the ranks disjoint shards covering the epoch, padded", function()
    local seen, count = {}, 0
    for rank = 1, 3 do
      local values, batches = shard(rank)
      assert.are.equal(4, #values)
      assert.are.equal(2, batches)
      for _, v in ipairs(values) do seen[v] = (seen[v] or 0) + 1; count = count + 1 end
    end
    assert.are.equal(12, count) -- 10 samples padded to 12
    for v = 1, 10 do assert.truthy(seen[v]) end
  end)

  it("drops the uneven rest on request, and reshuffles per epoch", function()
    local seen = {}
    for rank = 1, 3 do
      local values = shard(rank, {drop_uneven = true})
      assert.are.equal(3, #values)
      for _, v in ipairs(values) do
        assert.is_nil(seen[v])
        seen[v] = true
      end
    end
    assert.are_not.same(shard(1, {epoch = 1}), shard(1, {epoch = 2}))
    assert.are.same(shard(2, {epoch = 2}), shard(2, {epoch = 2}))
  end)

  it("checks rank and num_replicas", function()
    assert.has_error(function()
      lg.data.DataLoader(ds, {distributed = true, rank = 4, num_replicas = 3})
    end, "DataLoader: rank must be an integer in 1..3, got 4")
  end)
end)
