-- Tensor boxes have no __gc (lua/binding/lgl.h, lgl_box): a dead box's
-- tensor is released by the per-cycle sweep of the state's slots. These
-- specs check that memory comes back, that released and resurrected boxes
-- read as released (never as another tensor), and that a long loop of
-- small ops keeps the live bytes, the Lua heap and the resident set flat.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = require "luagrad"

local function settle()
  collectgarbage()
  collectgarbage()
end

-- Runs code as a script of its own in the luagrad executable (a fresh
-- state, its own stack layout); returns what it printed.
local function run_script(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local exe = os.getenv("LUAGRAD_EXE") or (H.root .. "/build/luagrad")
  local p = assert(io.popen("'" .. exe .. "' '" .. path .. "' 2>&1", "r"))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out
end

describe("tensor boxes without __gc", function()
  it("a dropped tensor's bytes come back after a collection", function()
    settle()
    local before = lg.memory_in_use()
    local t = lg.ones(1000, 1000)
    assert.is_true(lg.memory_in_use() >= before + 4e6)
    t = nil -- luacheck: ignore
    settle()
    assert.are.equal(before, lg.memory_in_use())
  end)

  it("thousands of live tensors keep their values (the slots grow)", function()
    local ts = {}
    for i = 1, 5000 do ts[i] = lg.tensor({i}) end
    collectgarbage()
    for i = 1, 5000, 97 do assert.are.equal(i, ts[i][1]) end
    local sum = 0
    for i = 1, 5000 do sum = sum + ts[i]:item() end
    assert.are.equal(5000 * 5001 / 2, sum)
  end)

  it("a closed (to-be-closed) tensor reads as released, and frees at once", function()
    settle()
    local before = lg.memory_in_use()
    local kept
    do
      local t <close> = lg.zeros(256, 256)
      kept = t
      assert.is_true(lg.memory_in_use() >= before + 256 * 256 * 4)
    end
    assert.are.equal(before, lg.memory_in_use())
    assert.has_error(function() return kept:exp() end,
      "exp: argument 1 is a tensor that was already released")
    assert.are.equal("tensor(<released>)", tostring(kept))
    assert.is_false(lg.is_tensor(kept))
    kept = nil -- luacheck: ignore
    settle()
  end)

  it("a box resurrected by a finalizer reads as released, not as another tensor", function()
    settle()
    local before = lg.memory_in_use()
    local saved
    do
      local holder = setmetatable({t = lg.full({64}, 7)}, {__gc = function(h) saved = h.t end})
      holder = nil -- luacheck: ignore
    end
    settle()
    assert.is_not_nil(saved)
    -- the slot is reused by new tensors; the old box must not see them
    local others = {}
    for i = 1, 200 do others[i] = lg.full({64}, i) end
    assert.is_false(lg.is_tensor(saved))
    assert.has_error(function() return saved:sum() end)
    others = nil -- luacheck: ignore
    saved = nil
    settle()
    assert.are.equal(before, lg.memory_in_use())
  end)

  it("tensors made in coroutines are released like any other", function()
    settle()
    local before = lg.memory_in_use()
    local co = coroutine.wrap(function()
      for _ = 1, 100 do coroutine.yield(lg.randn(100)) end
    end)
    for _ = 1, 100 do assert.are.equal(100, co():numel()) end
    co = nil -- luacheck: ignore
    settle()
    assert.are.equal(before, lg.memory_in_use())
  end)

  it(".grad keeps one identity and hooks receive live tensors", function()
    local x = lg.ones(3):requires_grad_()
    local seen
    x:register_hook(function(g) seen = g:sum():item() end)
    local y = (x * 2):sum()
    y:backward()
    assert.are.equal(6, seen)
    local g1 = x.grad
    collectgarbage()
    assert.are.equal(g1, x.grad)
    assert.are.same({2, 2, 2}, x.grad:tolist())
  end)

  it("a loop that makes no other Lua garbage still frees its dead results", function()
    -- The sentinel whose finalizer sweeps dead boxes once sat in a stack
    -- slot above the top after arm_sentinel popped it; this loop's frames
    -- reached over that slot at each collector step, so the sentinel never
    -- died, no sweep ran and every 4 MB result stayed allocated (580 MB
    -- after 150 calls). Run as its own script: the stack layout matters.
    local code = [[
local lg = require "luagrad"
lg.set_num_threads(1)
local x = lg.randn(1000000)
local function run(f, n) -- a timing loop as a new user writes it
  for i = 1, 5 do f() end
  local times = {}
  for r = 1, 3 do
    local w0 = lg.wall_time()
    for i = 1, n do f() end
    times[r] = lg.wall_time() - w0
  end
  return times
end
run(function() return x * 2 end, 50)
print("IN USE " .. lg.memory_in_use())
]]
    local out = run_script(code)
    local in_use = tonumber(out:match("IN USE (%d+)"))
    assert.is_truthy(in_use, out)
    -- x and a few results of 4 MB each, not one per call (155)
    assert.is_true(in_use < 64 * 2 ^ 20, out)
  end)

  it("1e6 small ops keep live bytes, the Lua heap and RSS flat", function()
    local code = [[
local lg = require "luagrad"
local a, b = lg.randn(4), lg.randn(4)
local function rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local kb = tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
  f:close()
  return kb or 0
end
local stats = {}
for round = 1, 5 do
  for _ = 1, 200000 do local c = a + b; c = c:exp() * a; c = c:tanh() end
  stats[round] = {lg.memory_in_use(), collectgarbage("count"), rss_kb()}
end
for r = 1, 5 do print(string.format("ROUND %d %d %.0f %d", r, stats[r][1], stats[r][2], stats[r][3])) end
print("LOOP DONE")
]]
    local out = run_script(code)
    assert.is_truthy(out:find("LOOP DONE", 1, true), out)
    local rounds = {}
    for bytes, heap, rss in out:gmatch("ROUND %d+ (%d+) (%d+) (%d+)") do
      rounds[#rounds + 1] = {tonumber(bytes), tonumber(heap), tonumber(rss)}
    end
    assert.are.equal(5, #rounds, out)
    -- rounds 2..5 against round 2 (round 1 warms the caches): no growth
    for r = 3, 5 do
      assert.is_true(rounds[r][1] <= 2 * rounds[2][1] + 65536, "live tensor bytes grew\n" .. out)
      assert.is_true(rounds[r][2] <= 2 * rounds[2][2] + 256, "the Lua heap grew\n" .. out)
      assert.is_true(rounds[r][3] <= rounds[2][3] + 4096, "the resident set grew\n" .. out)
    end
  end)
end)
