-- dtype conversions: to(dtype), float, double, long, bool; float -> int
-- truncates toward zero as in PyTorch.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

describe("conversions", function()
  H.fixture_its(it, "convert")
end)

describe("conversion behaviour", function()
  it("to() returns a tensor that does not alias a converted input", function()
    local x = lg.tensor({1.5, 2.5})
    local y = x:to("float64")
    y:fill_(0)
    H.assert_tensor(x, {2}, "float32", {1.5, 2.5})
  end)
  for _, dt in ipairs({"float32", "float64", "int32", "int64", "uint8", "bool"}) do
    it("round trip through " .. dt .. " keeps shape and reports the dtype", function()
      local x = lg.tensor({{0.0, 1.0, 2.0}, {3.0, 4.0, 5.0}})
      local y = x:to(dt)
      assert.are.equal(dt, y.dtype)
      assert.are.same({2, 3}, H.shape(y))
      local back = y:to("float32")
      local expect = dt == "bool" and {0, 1, 1, 1, 1, 1} or {0, 1, 2, 3, 4, 5}
      H.assert_tensor(back, {2, 3}, "float32", expect)
    end)
  end
  it("int64 values beyond 2^53 survive a conversion to int64 and tolist", function()
    local big = (1 << 53) + 1      -- not representable as a double
    local x = lg.tensor({big, -big}, {dtype = "int64"})
    local l = x:tolist()
    assert.are.equal(big, l[1])
    assert.are.equal(-big, l[2])
    assert.is_true(math.type(l[1]) == "integer")
  end)
end)
