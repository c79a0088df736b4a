-- parallel_split_spec.lua: the memory-bound kernels that split large work
-- across threads (where, copies and casts, fill and zeros through
-- iter.c's lg_iter_run_split and lg_full; scatter_add by rows, max_pool2d's
-- backward) give the same bits at 1 and 2 threads, and scatter_add's row
-- path the same bits as its general strided walk.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

-- fn() at 1 and at 2 threads.
local function both(fn)
  lg.set_num_threads(1)
  local one = fn()
  lg.set_num_threads(2)
  local two = fn()
  lg.set_num_threads(1)
  return one, two
end

local function same(a, b, label)
  assert.are.same(a:size(), b:size(), label)
  assert.are.equal(a.dtype, b.dtype, label)
  -- equal, or NaN on both sides
  local ok = a:eq(b):int() + a:isnan():int() * b:isnan():int()
  assert.are.equal(1, ok:min():item(), label)
end

describe("kernels split across threads", function()
  lg.manual_seed(11)
  local n = 600 * 1001 -- above two grains, not a multiple of anything
  local x = lg.randn(n)
  x[7] = 0 / 0

  it("where, fill, zeros, copies and casts agree at 1 and 2 threads", function()
    local cond = x:gt(0)
    same(both(function() return lg.where(cond, x, 0) end))
    same(both(function() return lg.where(cond, x, -x) end))
    same(both(function() return lg.full({n}, 2.5) end))
    same(both(function() return lg.zeros(n, {dtype = "float64"}) end))
    same(both(function() return x:clone() end))
    same(both(function() return x:double() end))
    same(both(function() return x:to("int32") end))
    same(both(function() return lg.empty(n):fill_(-3) end))
    same(both(function() local y = lg.empty(n); y:copy_(x); return y end))
  end)

  it("scatter_add along the last dim: rows equal the strided walk, at 1 and 2 threads", function()
    for _, dtype in ipairs({"float32", "float64"}) do
      local rows, size, k = 600, 1001, 700
      local index = lg.randint(1, size + 1, {rows, k}, {dtype = "int64"})
      local src = lg.randn(rows, k, {dtype = dtype})
      local dense = function() return lg.zeros(rows, size, {dtype = dtype}):scatter_add(2, index, src) end
      local a, b = both(dense)
      same(a, b, dtype .. " threads")
      -- the same target stored column by column takes the general walk
      local strided = lg.zeros(size, rows, {dtype = dtype}):t():scatter_add(2, index, src)
      same(a, strided:contiguous(), dtype .. " row path vs walk")
      -- and in place
      local y = lg.zeros(rows, size, {dtype = dtype})
      y:scatter_add_(2, index, src)
      same(a, y, dtype .. " in place")
    end
  end)

  it("scatter_add still names a bad index and leaves an in-place target alone", function()
    local t = lg.zeros(3, 4)
    local index = lg.tensor({{1, 2}, {3, 5}, {1, 1}}, {dtype = "int64"})
    H.raises("index 5 out of range for dim 2 of size 4", function() t:scatter_add_(2, index, lg.ones(3, 2)) end)
    assert.are.equal(0, t:abs():sum():item())
    -- a dense index large enough to be checked across threads: a bad
    -- value in the last chunk and one in the first are both found
    for _, threads in ipairs({1, 2}) do
      lg.set_num_threads(threads)
      for _, at in ipairs({1, 600 * 1000}) do
        local big = lg.ones(600, 1000, {dtype = "int64"})
        big:view(-1)[at] = 9
        local target = lg.zeros(600, 8)
        H.raises("index 9 out of range for dim 2 of size 8", function()
          target:scatter_add_(2, big, lg.ones(600, 1000))
        end)
        assert.are.equal(0, target:abs():sum():item())
      end
    end
    lg.set_num_threads(1)
  end)

  it("max_pool2d's gradient agrees at 1 and 2 threads", function()
    local input = lg.randn(16, 32, 28, 28)
    local g = lg.randn(16, 32, 14, 14)
    local a, b = both(function()
      local leaf = input:clone():requires_grad_()
      lg.nn.functional.max_pool2d(leaf, 2):backward(g)
      return leaf.grad
    end)
    same(a, b, "max_pool2d grad")
  end)
end)
