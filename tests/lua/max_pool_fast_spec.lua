-- max_pool_fast_spec.lua: max_pool2d's 2x2 stride-2 windows run through a
-- branch-free kernel (pool.c's max_2x2_plane), its other windows through
-- the general one, and both split over planes across threads. Each must
-- follow PyTorch's rule exactly, checked here against a plain Lua scan:
-- the first position of a tie, a NaN taken over any number (the last NaN
-- of a window), with odd plane sizes (the last row and column dropped),
-- ceil_mode (windows over the edge: the general kernel), float32 and
-- float64, at 1 and 2 threads.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local F = lg.nn.functional

-- Values from a small set, so windows hold ties, with NaNs among them.
local function input(planes, h, w, dtype)
  local v, seed = {}, 12345
  for p = 1, planes do
    v[p] = {}
    for i = 1, h do
      v[p][i] = {}
      for j = 1, w do
        seed = (seed * 1103515245 + 12345) % 2147483648 -- an LCG
        local r = (seed >> 16) % 19
        v[p][i][j] = r == 0 and 0 / 0 or r % 4 - 2
      end
    end
  end
  return lg.tensor(v, {dtype = dtype}), v
end

-- PyTorch's scan of window (kernel k, stride s) at output (oy, ox), 1-based.
local function scan(plane, h, w, k, s, oy, ox)
  local best, at
  for i = (oy - 1) * s + 1, (oy - 1) * s + k do
    for j = (ox - 1) * s + 1, (ox - 1) * s + k do
      if i <= h and j <= w then
        local x = plane[i][j]
        if at == nil or x > best or x ~= x then best, at = x, (i - 1) * w + j end
      end
    end
  end
  return best, at
end

local function check(h, w, k, s, ceil_mode, dtype, threads)
  lg.set_num_threads(threads)
  local planes = 6
  local x, v = input(planes, h, w, dtype)
  local y, idx = F.max_pool2d(x:view(2, 3, h, w), k,
    {stride = s, ceil_mode = ceil_mode, return_indices = true})
  lg.set_num_threads(1)
  local oh, ow = y:size(3), y:size(4)
  local yl, il = y:reshape(planes, oh, ow):tolist(), idx:reshape(planes, oh, ow):tolist()
  local label = ("%dx%d k%d s%d ceil %s %s, %d threads"):format(h, w, k, s,
    tostring(ceil_mode), dtype, threads)
  for p = 1, planes do
    for oy = 1, oh do
      for ox = 1, ow do
        local best, at = scan(v[p], h, w, k, s, oy, ox)
        local got = yl[p][oy][ox]
        assert.is_true(got == best or (got ~= got and best ~= best),
          ("%s: value at %d,%d,%d"):format(label, p, oy, ox))
        assert.are.equal(at, il[p][oy][ox], ("%s: index at %d,%d,%d"):format(label, p, oy, ox))
      end
    end
  end
end

describe("max_pool2d's kernels", function()
  for _, dtype in ipairs({"float32", "float64"}) do
    for _, threads in ipairs({1, 2}) do
      it(("2x2 stride 2 match PyTorch's scan, %s, %d threads"):format(dtype, threads), function()
        check(8, 10, 2, 2, false, dtype, threads)
        check(7, 9, 2, 2, false, dtype, threads) -- last row and column dropped
        check(2, 2, 2, 2, false, dtype, threads)
      end)
      it(("other windows and ceil_mode match PyTorch's scan, %s, %d threads"):format(dtype, threads), function()
        check(7, 9, 2, 2, true, dtype, threads) -- windows over the edge
        check(9, 8, 3, 2, false, dtype, threads)
        check(6, 6, 2, 1, false, dtype, threads)
      end)
    end
  end

  it("splits big inputs over threads without changing a bit", function()
    lg.manual_seed(3)
    local x = lg.randn(64, 16, 28, 28)
    lg.set_num_threads(1)
    local y1, i1 = F.max_pool2d(x, 2, {return_indices = true})
    lg.set_num_threads(2)
    local y2, i2 = F.max_pool2d(x, 2, {return_indices = true})
    lg.set_num_threads(1)
    assert.is_true(y1:eq(y2):all():item())
    assert.is_true(i1:eq(i2):all():item())
  end)
end)
