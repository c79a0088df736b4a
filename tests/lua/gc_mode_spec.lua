-- The collector's pace against tensor memory (lua/binding/state.c,
-- lgl_gc_pressure) in both of Lua 5.4's modes. The luagrad executable runs
-- generational (lua/cli/main.c); a host may run either. In generational
-- mode, tensors whose boxes lived through minor collections and then died
-- are freed by the full cycles the pace adds, and a vmap call frees the
-- previous call's dead results before it allocates its own; the pace never
-- changes the script's mode and does nothing while the script has stopped
-- the collector.
local lg = require "luagrad"

local MB = 2 ^ 20

-- Peak tensor bytes (above the start) of a loop that keeps each 256 KB
-- tensor for 40 iterations: long enough to be promoted to the old
-- generation, then dropped.
local function aging_loop(iterations)
  collectgarbage()
  local base, keep, peak = lg.memory_in_use(), {}, 0
  for _ = 1, iterations do
    keep[#keep + 1] = lg.ones(65536)
    if #keep > 40 then table.remove(keep, 1) end
    peak = math.max(peak, lg.memory_in_use() - base)
  end
  return peak
end

describe("the collector's pace against tensor memory", function()
  local mode
  before_each(function() mode = collectgarbage("incremental") end)
  after_each(function()
    collectgarbage("restart")
    collectgarbage(mode)
    collectgarbage()
  end)

  it("runs generational in the luagrad executable", function()
    assert.are.equal("generational", mode)
  end)

  -- in generational mode Lua's own major collections would wait for its
  -- heap to double: 250 MB of dead tensors here
  for _, m in ipairs({"generational", "incremental"}) do
    local name = "frees tensors that died old in %s mode and stays in it"
      .. " (1000 x 256 KB, 10 MB live)"
    it(name:format(m), function()
      collectgarbage(m)
      local peak = aging_loop(1000)
      assert.is_true(peak < 40 * MB, ("peak %.1f MB"):format(peak / MB))
      assert.are.equal(m, collectgarbage(m))
    end)
  end

  it("frees a vmap call's dead results before the next call allocates its own", function()
    collectgarbage("generational")
    -- per-sample gradients of a 784-128-10 MLP, batch 64: 26 MB a call
    local nn, F, func = lg.nn, lg.F, lg.func
    lg.manual_seed(0)
    local model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    local params = {}
    for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
    local x, t = lg.randn(64, 784), lg.randint(1, 11, {64})
    local psg = func.vmap(func.grad(function(p, xi, ti)
      return F.cross_entropy(func.functional_call(model, p, xi:unsqueeze(1)), ti:unsqueeze(1))
    end), {in_dims = {false, 1, 1}})
    collectgarbage()
    local base = lg.memory_in_use()
    for _ = 1, 6 do
      psg(params, x, t) -- dropped at once: the next call finds it dead
      local held = lg.memory_in_use() - base
      -- this call's gradients, not also the last call's (whose block
      -- they reused)
      assert.is_true(held < 30 * MB, ("%.1f MB"):format(held / MB))
    end
  end)

  it("leaves a stopped collector stopped", function()
    for _, m in ipairs({"generational", "incremental"}) do
      collectgarbage(m)
      collectgarbage()
      local base = lg.memory_in_use()
      collectgarbage("stop")
      for _ = 1, 40 do local _ = lg.ones(262144) end -- 40 MB of garbage
      assert.is_false(collectgarbage("isrunning"))
      assert.is_true(lg.memory_in_use() - base >= 40 * MB, m)
      collectgarbage("restart")
      collectgarbage()
      assert.are.equal(base, lg.memory_in_use(), m)
    end
  end)
end)
