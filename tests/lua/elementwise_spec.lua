-- Elementwise math, arithmetic operators, type promotion and comparisons,
-- checked against PyTorch (tests/fixtures/tensor_ops.lua).
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

describe("elementwise math", function()
  H.fixture_its(it, "elementwise")
end)

describe("arithmetic operators", function()
  H.fixture_its(it, "arith")
end)

describe("type promotion", function()
  H.fixture_its(it, "promote")
end)

describe("comparisons", function()
  H.fixture_its(it, "compare")
end)

describe("function forms", function()
  local MATH = {"abs", "neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh",
                "sigmoid", "relu", "gelu", "silu", "softplus", "floor", "ceil", "round", "sign",
                "reciprocal", "square", "erf"}
  for _, name in ipairs(MATH) do
    it("lg." .. name .. "(x) equals x:" .. name .. "()", function()
      local x = lg.tensor({{0.25, 0.5, 1.5}, {2.0, 3.25, 0.75}})
      assert.is_function(lg[name], "lg." .. name .. " is missing")
      local a, b = lg[name](x), x[name](x)
      H.assert_close(a, {shape = {2, 3}, dtype = b.dtype, data = H.values(b)}, 0, 0)
    end)
  end
  it("lg.maximum, lg.minimum, lg.pow, lg.clamp", function()
    local x = lg.tensor({-1.5, 0.5, 2.5})
    local y = lg.tensor({0.0, 1.0, 2.0})
    H.assert_tensor(lg.maximum(x, y), {3}, "float32", {0.0, 1.0, 2.5})
    H.assert_tensor(lg.minimum(x, y), {3}, "float32", {-1.5, 0.5, 2.0})
    H.assert_tensor(lg.pow(y, 2), {3}, "float32", {0.0, 1.0, 4.0})
    H.assert_tensor(lg.clamp(x, -1, 1), {3}, "float32", {-1.0, 0.5, 1.0})
  end)
end)

describe("operators", function()
  it("== is identity, not elementwise", function()
    local a = lg.ones(3)
    local b = lg.ones(3)
    assert.is_true(a == a)
    assert.is_false(a == b)
    assert.is_true(rawequal(a, a))
    H.assert_tensor(a:eq(b), {3}, "bool", {true, true, true})
  end)
  it("does not modify its operands", function()
    local a = lg.tensor({1.0, 2.0})
    local b = lg.tensor({3.0, 4.0})
    local c = a + b * 2 - a / 2
    H.assert_tensor(c, {2}, "float32", {6.5, 9.0})
    H.assert_tensor(a, {2}, "float32", {1.0, 2.0})
    H.assert_tensor(b, {2}, "float32", {3.0, 4.0})
  end)
  it("chains mixed expressions with numbers on both sides", function()
    local x = lg.tensor({1.0, 2.0, 4.0})
    local y = 1 - (2 * x + 1) / x ^ 2 % 3
    -- PyTorch: 1 - torch.remainder((2*x+1)/x**2, 3) = [1-0, 1-1.25, 1-0.5625]
    H.assert_tensor(y, {3}, "float32", {1.0, -0.25, 0.4375})
  end)
  it("comparison results can be combined as masks", function()
    local x = lg.tensor({-2.0, -0.5, 0.5, 2.0})
    local m = x:gt(-1):eq(x:lt(1))
    H.assert_tensor(m, {4}, "bool", {false, true, true, false})
  end)
end)
