-- parametrize_spec.lua: nn.utils.parametrize (register_parametrization,
-- remove_parametrizations): naming, computed reads, right_inverse writes,
-- stacking, state dicts, gradients through the parametrization.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local parametrize = nn.utils.parametrize

local F64 = {dtype = "float64"}
local function t64(data) return lg.tensor(data, F64) end

local function names_of(pairs_list)
  local out = {}
  for i, p in ipairs(pairs_list) do out[i] = p[1] end
  return out
end

local Affine = nn.Module:extend("Affine")
function Affine:init(n_in, n_out)
  self.weight = nn.Parameter(lg.randn(n_out, n_in, F64))
  self.bias = nn.Parameter(lg.zeros(n_out, F64))
end
function Affine:forward(x) return lg.matmul(x, self.weight:t()) + self.bias end

-- A parametrization module: X -> X + X^T (symmetric), with a right inverse.
local Symmetric = nn.Module:extend("Symmetric")
function Symmetric:forward(x) return x + x:t() end
function Symmetric:right_inverse(a) return a * 0.5 end

local function square(w) return w * w end

describe("register_parametrization", function()
  it("moves the tensor to parametrizations.{name}.original and computes mod[name] = p(original)", function()
    local m = Affine(2, 2)
    local w = m.weight
    parametrize.register_parametrization(m, "weight", square)
    assert.is_nil(rawget(m, "weight"))
    assert.are.equal(w, m.parametrizations.weight.original) -- the same tensor
    H.assert_tensor(m.weight, {2, 2}, "float64", H.values(w * w), 1e-12, 1e-12)
    assert.are.same({"bias", "parametrizations.weight.original"}, names_of(m:named_parameters_list()))
    assert.is_true(parametrize.is_parametrized(m, "weight"))
    assert.is_false(parametrize.is_parametrized(m, "bias"))
    assert.are.equal("ParametrizedAffine", getmetatable(m).__name)
    -- reads are computed again each time from the live original
    lg.no_grad(function() w:fill_(3) end)
    H.assert_tensor(m.weight, {2, 2}, "float64", {9, 9, 9, 9})
  end)

  it("forward uses the parametrized value and gradients reach original", function()
    local m = Affine(2, 1)
    parametrize.register_parametrization(m, "weight", square)
    local original = m.parametrizations.weight.original
    local x = t64({{1, 2}})
    m(x):sum():backward()
    -- d/dW sum(x (W*W)^T) = 2 W x
    H.assert_tensor(original.grad, {1, 2}, "float64", H.values(original * x * 2), 1e-12, 1e-12)
  end)

  it("a module parametrization with right_inverse: registration and assignment go through it", function()
    local m = Affine(2, 2)
    lg.no_grad(function() m.weight:copy_(t64({{1, 2}, {4, 3}})) end)
    parametrize.register_parametrization(m, "weight", Symmetric())
    -- original = right_inverse(W) = W / 2, so the value is (W + W^T) / 2
    H.assert_tensor(m.weight, {2, 2}, "float64", {1, 3, 3, 3})
    m.weight = t64({{2, 4}, {4, 6}})
    H.assert_tensor(m.parametrizations.weight.original, {2, 2}, "float64", {1, 2, 2, 3})
    H.assert_tensor(m.weight, {2, 2}, "float64", {2, 4, 4, 6})
    assert.are.same({"bias", "parametrizations.weight.original"}, names_of(m:named_parameters_list()))
    assert.are.same({"", "parametrizations", "parametrizations.weight", "parametrizations.weight.1"},
                    names_of(m:named_modules()))
  end)

  it("assignment without right_inverse is an error", function()
    local m = Affine(2, 2)
    parametrize.register_parametrization(m, "weight", square)
    H.assert_error_names({"right_inverse"}, function() m.weight = t64({{1, 1}, {1, 1}}) end)
  end)

  it("a second parametrization applies after the first", function()
    local m = Affine(2, 2)
    lg.no_grad(function() m.weight:copy_(t64({{1, 2}, {3, 4}})) end)
    parametrize.register_parametrization(m, "weight", square)
    parametrize.register_parametrization(m, "weight", function(w) return w + 1 end)
    H.assert_tensor(m.weight, {2, 2}, "float64", {2, 5, 10, 17})
    assert.are.equal(2, #m.parametrizations.weight)
  end)

  it("a parametrization that changes the shape is refused unless unsafe", function()
    local m = Affine(2, 3)
    H.assert_error_names({"unsafe"}, parametrize.register_parametrization, m, "weight",
                         function(w) return w:t() end)
    assert.is_not_nil(rawget(m, "weight"))
    parametrize.register_parametrization(m, "weight", function(w) return w:t() end, {unsafe = true})
    assert.are.same({2, 3}, H.shape(m.weight))
  end)

  it("unknown names and non-modules are errors", function()
    local m = Affine(2, 2)
    H.assert_error_names({"nope"}, parametrize.register_parametrization, m, "nope", square)
    H.assert_error_names({"register_parametrization"}, parametrize.register_parametrization, m, "weight", 3)
    H.assert_error_names({"remove_parametrizations", "bias"}, parametrize.remove_parametrizations, m, "bias")
  end)

  it("buffers can be parametrized and stay buffers", function()
    local m = nn.Module()
    m:register_buffer("b", t64({1, 2}))
    parametrize.register_parametrization(m, "b", square)
    assert.are.same({"parametrizations.b.original"}, names_of(m:named_buffers_list()))
    H.assert_tensor(m.b, {2}, "float64", {1, 4})
  end)

  it("state_dict and load_state_dict use the original's name", function()
    local a, b = Affine(2, 2), Affine(2, 2)
    parametrize.register_parametrization(a, "weight", square)
    parametrize.register_parametrization(b, "weight", square)
    local sd = a:state_dict()
    assert.is_not_nil(sd["parametrizations.weight.original"])
    assert.is_nil(sd.weight)
    b:load_state_dict(sd)
    H.assert_tensor(b.weight, {2, 2}, "float64", H.values(a.weight))
  end)

  it("tostring shows the parametrizations", function()
    local m = Affine(2, 2)
    parametrize.register_parametrization(m, "weight", Symmetric())
    assert.are.equal([[
ParametrizedAffine(
  bias: Parameter {2} float64
  (parametrizations): ModuleDict(
    (weight): ParametrizationList(
      original: Parameter {2, 2} float64
      (1): Symmetric()
    )
  )
)
-- 6 parameters]], tostring(m))
  end)
end)

describe("remove_parametrizations", function()
  it("leave_parametrized = true keeps the current value in the original tensor", function()
    local m = Affine(2, 2)
    local w = m.weight
    local expected = H.values(w * w)
    parametrize.register_parametrization(m, "weight", square)
    parametrize.remove_parametrizations(m, "weight")
    assert.are.equal(w, rawget(m, "weight"))
    H.assert_tensor(m.weight, {2, 2}, "float64", expected, 1e-12, 1e-12)
    assert.is_nil(rawget(m, "parametrizations"))
    assert.are.equal(Affine, getmetatable(m))
    assert.are.same({"bias", "weight"}, names_of(m:named_parameters_list()))
    assert.is_true(nn.is_parameter(m.weight))
  end)

  it("leave_parametrized = false puts the original back", function()
    local m = Affine(2, 2)
    local before = H.values(m.weight)
    parametrize.register_parametrization(m, "weight", square)
    parametrize.remove_parametrizations(m, "weight", {leave_parametrized = false})
    H.assert_tensor(m.weight, {2, 2}, "float64", before)
  end)

  it("removing one of two parametrized tensors keeps the other", function()
    local m = Affine(2, 2)
    parametrize.register_parametrization(m, "weight", square)
    parametrize.register_parametrization(m, "bias", function(b) return b + 1 end)
    parametrize.remove_parametrizations(m, "weight")
    assert.is_true(parametrize.is_parametrized(m, "bias"))
    assert.is_false(parametrize.is_parametrized(m, "weight"))
    H.assert_tensor(m.bias, {2}, "float64", {1, 1})
    assert.are.equal("ParametrizedAffine", getmetatable(m).__name)
  end)
end)
