-- Shape ops, checked against PyTorch; views share storage, copies do not.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

describe("shape ops", function()
  H.fixture_its(it, "shape")
end)

describe("views share storage", function()
  local function base() return lg.tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}) end
  local VIEWS = {
    view = function(x) return x:view(3, 2) end,
    t = function(x) return x:t() end,
    transpose = function(x) return x:transpose(1, 2) end,
    permute = function(x) return x:permute(2, 1) end,
    unsqueeze = function(x) return x:unsqueeze(1) end,
    narrow = function(x) return x:narrow(2, 1, 3) end,
    select = function(x) return x:select(1, 1) end,
    flatten = function(x) return x:flatten() end,
  }
  for name, make in pairs(VIEWS) do
    it(name .. " writes through to the base", function()
      local x = base()
      local v = make(x)
      v:fill_(0)
      local s = x:sum():item()
      if name == "select" then
        assert.are.equal(15, s)     -- only row 1 was zeroed
      else
        assert.are.equal(0, s)
      end
    end)
  end
  it("expand shares storage with its input", function()
    local x = lg.tensor({{1.0}, {2.0}})
    local e = x:expand(2, 3)
    x:mul_(10)
    H.assert_tensor(e, {2, 3}, "float32", {10, 10, 10, 20, 20, 20})
  end)
  it("squeeze is a view", function()
    local x = lg.zeros(1, 3, 1)
    x:squeeze():add_(2)
    H.assert_tensor(x, {1, 3, 1}, "float32", {2, 2, 2})
  end)
  it("clone, contiguous of a transpose and cat/stack copies are independent", function()
    local x = base()
    local copies = {x:clone(), x:t():contiguous(), lg.cat({x, x}, 1), lg.stack({x, x}, 1),
                    x:flip(1), x:tile(2, 1)}
    for _, c in ipairs(copies) do c:fill_(-1) end
    H.assert_tensor(x, {2, 3}, "float32", {1, 2, 3, 4, 5, 6})
  end)
  it("split and chunk pieces are views", function()
    local x = lg.zeros(4, 2)
    local parts = {x:split(2, 1)}
    if #parts == 1 and not H.is_tensor(parts[1]) then parts = parts[1] end
    assert.are.equal(2, #parts)
    parts[2]:fill_(1)
    H.assert_tensor(x, {4, 2}, "float32", {0, 0, 0, 0, 1, 1, 1, 1})
  end)
  it("shape, size and contiguity after transpose", function()
    local x = lg.zeros(2, 3, 4)
    local y = x:transpose(1, 3)
    assert.are.same({4, 3, 2}, H.shape(y))
    assert.are.equal(4, y:size(1))
    assert.are.equal(2, y:size(-1))
    assert.are.same({2, 3, 4}, H.shape(x))
  end)
end)
