-- alloc_failure_spec.lua: one training step of a small MLP (forward,
-- cross-entropy, backward, Adam step), and one of an LSTM and a GRU
-- (tests/fuzz/rnn_step.lua), in a lua_State opened with
-- luagrad_open and a tensor allocator that fails at the k-th allocation,
-- for every k up to the count of a clean run. tests/fuzz/alloc_host.c runs
-- the step (tests/fuzz/mlp_step.lua) once per k and reports each; here
-- every report must be a clean Lua error naming the memory failure, with
-- nothing left in the allocator after lua_close, and the same state must
-- train correctly once the allocator works again.
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
local build = os.getenv("LUAGRAD_BUILD_DIR") or (root .. "/build")

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("allocation failure in a training step", function()
  local host = build .. "/alloc_host"

  for _, script in ipairs({"mlp_step", "rnn_step"}) do
  it(script .. ": a clean Lua error, no leak and a working state for every k", function()
    assert.is_true(file_exists(host), "missing " .. host .. " (build the tests)")
    local pipe = assert(io.popen(("%q %q %q 2>&1"):format(host,
      root .. "/tests/fuzz/" .. script .. ".lua", root)))
    local reports, total, clean = {}, nil, nil
    for line in pipe:lines() do
      local k, result, live, recovered, message =
        line:match("^k=(%d+) result=(%S+) live=(%-?%d+) recovered=(%S+) message=(.*)$")
      if k then
        reports[#reports + 1] = {k = tonumber(k), result = result, live = tonumber(live),
                                 recovered = recovered, message = message}
      else
        total, clean = line:match("^total=(%d+) clean=(%S+)$")
        if not total then error("alloc_host: " .. line) end
      end
    end
    local ok = pipe:close()
    assert.is_not_nil(total, "alloc_host printed no total")
    total = tonumber(total)
    assert.is_true(total > 50, "a training step makes more allocations than " .. total)
    assert.are.equal(total + 1, #reports)
    for _, r in ipairs(reports) do
      local where = ("k=%d: %s"):format(r.k, r.message)
      assert.are.equal(0, r.live, "leaked blocks after lua_close at " .. where)
      if r.k < total then
        assert.are_not.equal("ok", r.result, "allocation " .. r.k .. " failed silently")
        assert.truthy(r.message:find("out of memory", 1, true), where)
        if r.result == "error" then
          assert.are.equal("yes", r.recovered, "state unusable after " .. where)
        end
      else
        assert.are.equal("ok", r.result, where)
      end
    end
    assert.is_true(ok, "alloc_host reported a problem")
    assert.is_not_nil(tonumber(clean))
  end)
  end
end)
