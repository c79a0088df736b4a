-- A wrong call into the Lua library is reported at the caller's line (this
-- file), not at a line of lua/luagrad/, for each sub-library; and messages
-- name values the luagrad way (tensor, module), never "userdata".
local lg = require "luagrad"

-- Calls fn (written on one line) and returns its error message and the
-- line of the call.
local function error_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return tostring(err), debug.getinfo(fn, "S").linedefined
end

local function assert_here(err, line, name)
  local file, at = err:match("^(.-):(%d+): ")
  assert.is_truthy(file, "no location in: " .. err)
  assert.is_truthy(file:match("error_location_spec%.lua$"), "located in " .. file .. ": " .. err)
  assert.are.equal(line, tonumber(at), err)
  assert.is_truthy(err:find(name .. ":", 1, true), err)
end

describe("library errors", function()
  it("point at the caller's line in every sub-library", function()
    local x = lg.ones(2, {requires_grad = true})
    local cases = {
      {"grad", function() lg.func.grad(function() end, {argnum = 1}) end},
      {"tree.unflatten", function() lg.func.tree.unflatten(1, {}) end},
      {"SGD", function() lg.optim.SGD({x}, {lr = -1}) end},
      {"StepLR", function() lg.optim.lr_scheduler.StepLR({}, 1) end},
      {"relu", function() lg.nn.functional.relu(1) end},
      {"Linear", function() lg.nn.Linear(2, 3, {bais = false}) end},
      {"load_state_dict", function() lg.nn.Linear(2, 2):load_state_dict({}) end},
      {"uniform_", function() lg.nn.init.uniform_(1) end},
      {"grad", function() lg.autograd.grad(x:sum(), x, {creat_graph = true}) end},
      {"DataLoader", function() lg.data.DataLoader(lg.data.TensorDataset(lg.ones(2)), {batchsize = 1}) end},
      {"io.save", function() lg.io.save("", {}) end},
      {"progress", function() lg.utils.progress(-1) end},
      {"functional_call", function() lg.func.functional_call(lg.nn.Linear(2, 2), 1, x) end},
      -- argument checks the API fuzz found missing (they failed inside the library)
      {"gradcheck", function() lg.autograd.gradcheck({}, {x:double()}) end},
      {"gradgradcheck", function() lg.autograd.gradgradcheck(nil, {x:double()}) end},
      {"backward", function() lg.autograd.backward({x:sum(), 3}) end},
      {"GRU.forward", function() lg.nn.GRU(2, 3)(lg.ones(4, 1, 2), 5) end},
    }
    for _, case in ipairs(cases) do
      local err, line = error_of(case[2])
      assert_here(err, line, case[1])
    end
  end)

  it("inside a method called with pcall still name the caller", function()
    local ok, err = pcall(lg.nn.Linear(2, 2).parameters, lg.nn.Linear(2, 2), {recursive = false})
    assert.is_false(ok)
    assert.is_truthy(err:match("error_location_spec%.lua:%d+: parameters: unknown option \"recursive\""), err)
  end)
end)

describe("type names in messages", function()
  it("say tensor, not userdata", function()
    local ok, err = pcall(lg.add, lg.ones(2), {})
    assert.is_false(ok)
    assert.is_truthy(err:find("add: expected tensors or numbers, got tensor and table", 1, true), err)
    ok, err = pcall(lg.zeros, 2, lg.ones(1))
    assert.is_false(ok)
    assert.is_truthy(err:find("got tensor", 1, true), err)
    assert.is_falsy(err:find("userdata", 1, true), err)
    ok, err = pcall(lg.io.save, "x.safetensors", lg.ones(1))
    assert.is_false(ok)
    assert.is_falsy(err:find("userdata", 1, true), err)
    ok, err = pcall(lg.nn.functional.linear, lg.nn.Linear(2, 2), lg.ones(2, 2))
    assert.is_false(ok)
    assert.is_truthy(err:find("got module", 1, true), err)
  end)

  it("lg._typename names tensors, modules and plain values", function()
    assert.are.equal("tensor", lg._typename(lg.ones(1)))
    assert.are.equal("module", lg._typename(lg.nn.Linear(1, 1)))
    assert.are.equal("optimizer", lg._typename(lg.optim.SGD({lg.ones(1, {requires_grad = true})}, {lr = 1})))
    assert.are.equal("table", lg._typename({}))
    assert.are.equal("number", lg._typename(1))
    assert.are.equal("nil", lg._typename(nil))
  end)

  it("zero_ and fill_ on a leaf that requires grad name themselves", function()
    local x = lg.ones(3, {requires_grad = true})
    local ok, err = pcall(x.zero_, x)
    assert.is_false(ok)
    assert.is_truthy(err:match("^zero_: a leaf tensor that requires grad"), err)
    ok, err = pcall(x.fill_, x, 2)
    assert.is_false(ok)
    assert.is_truthy(err:match("^fill_: a leaf tensor"), err)
    ok, err = pcall(x.add_, x, 2)
    assert.is_truthy(err:match("^add_: a leaf tensor"), err)
    local y = lg.ones(2)
    assert.are.equal(y, y:zero_())
    assert.are.same({0, 0}, y:tolist())
  end)
end)
