-- float_checks_spec.lua: isnan, isinf, isfinite, nan_to_num, isclose and
-- allclose against PyTorch (tests/fixtures/float_checks.lua, written by
-- tests/fixtures/generate_float_checks.py), nan_to_num's gradient against
-- finite differences, and their options (wrong calls: errors_spec.lua).
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

local fixtures = dofile(H.root .. "/tests/fixtures/float_checks.lua")

local function its(group)
  local n = 0
  for _, case in ipairs(fixtures.cases) do
    if case.group == group then
      n = n + 1
      it(case.name .. " [" .. H.describe_call(case) .. "]", function() H.check_case(case) end)
    end
  end
  assert(n > 0, "no fixture cases in group " .. group)
end

local NAN, INF = 0 / 0, math.huge

describe("isnan, isinf, isfinite (PyTorch fixtures)", function() its("check") end)
describe("nan_to_num (PyTorch fixtures)", function() its("nan_to_num") end)
describe("isclose and allclose (PyTorch fixtures)", function() its("close") end)

describe("nan_to_num's gradient", function()
  it("matches finite differences, also where the input is nan or infinite", function()
    local x = lg.tensor({{0.5, NAN, -1.25}, {INF, 2.0, -INF}}, {dtype = "float64", requires_grad = true})
    local w = lg.tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, {dtype = "float64"})
    -- inf +- eps is inf and nan +- eps is nan: their replacements are
    -- constant, so the finite differences there are 0, as is the gradient
    local f = function(t) return (t:nan_to_num({nan = 1.5, posinf = 10, neginf = -10}) * w):sum() end
    assert.is_true(lg.autograd.gradcheck(f, {x}))
    local y = f(x)
    y:backward()
    H.assert_tensor(x.grad, {2, 3}, "float64", {1, 0, 3, 0, 5, 0})
  end)
  it("passes a NaN upstream gradient through as NaN (grad * isfinite(x))", function()
    local x = lg.tensor({1.0, INF}, {requires_grad = true})
    local g = lg.autograd.grad({x:nan_to_num()}, {x}, {grad_outputs = {lg.tensor({NAN, NAN})}})[1]
    local v = H.values(g)
    assert.is_true(v[1] ~= v[1] and v[2] ~= v[2], "expected NaN gradients, got " .. tostring(g))
  end)
  it("records NanToNum on the graph, in place too", function()
    local x = lg.tensor({1.0, NAN}, {requires_grad = true})
    local y = x * 2
    y:nan_to_num_(3)
    H.assert_tensor(y, {2}, "float32", {2, 3})
    y:sum():backward()
    H.assert_tensor(x.grad, {2}, "float32", {2, 0})
  end)
end)

describe("options and out=", function()
  it("nan_to_num writes into {out = y}", function()
    local x = lg.tensor({NAN, 1.0, -INF})
    local y = lg.zeros(3)
    local r = lg.nan_to_num(x, {nan = 2, out = y})
    assert.are.equal(y, r)
    H.assert_tensor(y, {3}, "float32", {2, 1, -3.4028234663852886e38})
  end)
  it("isclose's defaults are rtol = 1e-5, atol = 1e-8, equal_nan = false", function()
    local a = lg.tensor({1.0, 0.0, NAN}, {dtype = "float64"})
    local b = lg.tensor({1.0 + 9e-6, 9e-9, NAN}, {dtype = "float64"})
    H.assert_tensor(lg.isclose(a, b), {3}, "bool", {true, true, false})
    H.assert_tensor(a:isclose(b, {equal_nan = true}), {3}, "bool", {true, true, true})
  end)
  it("allclose returns a Lua boolean", function()
    assert.are.equal(true, lg.allclose(lg.ones(2), lg.ones(2)))
    assert.are.equal(false, lg.ones(2):allclose(lg.zeros(2)))
  end)
  it("the checks of a tensor with no elements are empty bool tensors", function()
    local e = lg.zeros(0)
    assert.are.equal("bool", e:isnan().dtype)
    assert.are.equal(0, e:isinf():numel())
    assert.are.equal(true, lg.allclose(e, e))
  end)
end)
