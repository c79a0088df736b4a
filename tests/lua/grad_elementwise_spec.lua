-- grad_elementwise_spec.lua: finite-difference checks (lg.autograd.gradcheck
-- and gradgradcheck, float64) of the backward rules of every elementwise op:
-- unary math, clamp, nan_to_num, binary arithmetic with tensors and numbers
-- on either side and broadcasting, where, to, clone, and in-place ops on
-- non-leaves.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

-- Input values sit away from every kink the ops have (0 for abs, relu,
-- sign; integers and halves for floor, ceil, round; clamp's bounds; points
-- where a / b is an integer for remainder and floor_divide; ties between the
-- operands of maximum and minimum) by far more than gradcheck's eps (1e-6).
local GENERAL = {{-1.73, -0.61, 0.37}, {0.83, 1.29, 2.11}}
local POSITIVE = {{0.31, 0.77, 1.13}, {1.61, 2.23, 2.89}}
local ABOVE_MINUS_ONE = {{-0.63, -0.21, 0.17}, {0.59, 1.37, 1.93}}
local SOFTPLUS = {{-21.3, -1.7, 0.4}, {1.1, 2.6, 21.7}} -- both sides of its threshold 20
local OTHER = {{0.93, -1.41, 0.57}, {-0.71, 1.67, 0.43}} -- |b| >= 0.43: a divisor
local ROW = {0.93, -1.41, 0.57}
local COLUMN = {{0.93}, {-1.41}}
local ROW_2D = {{0.57, -0.71, 1.67}}
local SQUARE_2X2 = {{0.93, -1.41}, {0.57, -0.71}}

-- A float64 leaf that requires grad.
local function leaf(values)
  return lg.tensor(values, {dtype = "float64", requires_grad = true})
end

-- The checks, each {name, fn, inputs = function() return {...} end, opts}:
-- inputs are built afresh for every check.
local CHECKS = {}
local function check(name, fn, make_inputs, opts)
  CHECKS[#CHECKS + 1] = {name = name, fn = fn, inputs = make_inputs, opts = opts}
end
local function one(values) return function() return {leaf(values)} end end
local function two(a, b) return function() return {leaf(a), leaf(b)} end end

-- unary math ----------------------------------------------------------------

local UNARY_DOMAIN = {
  log = POSITIVE, sqrt = POSITIVE, rsqrt = POSITIVE, log1p = ABOVE_MINUS_ONE, softplus = SOFTPLUS,
}
local UNARY = {"neg", "abs", "sign", "floor", "ceil", "round", "square", "relu", "exp", "log",
               "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "gelu", "silu",
               "softplus", "reciprocal", "erf"}
for _, name in ipairs(UNARY) do
  check(name, function(x) return x[name](x) end, one(UNARY_DOMAIN[name] or GENERAL))
end
check("unary minus", function(x) return -x end, one(GENERAL))
check("exp of 0-d", function(x) return x:exp() end, function() return {leaf(0.37)} end)
check("tanh of transposed", function(x) return x:t():tanh() end, one(GENERAL))

check("clamp min and max", function(x) return x:clamp(-1, 1) end, one(GENERAL))
check("clamp min only", function(x) return x:clamp(0.5) end, one(GENERAL))
check("clamp max only", function(x) return x:clamp(nil, 0.5) end, one(GENERAL))
check("clamp options table", function(x) return x:clamp({min = -1, max = 1}) end, one(GENERAL))
-- nan_to_num: inf +- eps and nan +- eps are still inf and nan, whose
-- replacements are constants, so finite differences see slope 0 there
check("nan_to_num", function(x) return x:nan_to_num({nan = 2, posinf = 3}) end,
      one({{-1.73, 0 / 0, 0.37}, {math.huge, 1.29, -math.huge}}))

-- binary arithmetic ---------------------------------------------------------

local BINARY = {
  add = function(a, b) return a + b end,
  sub = function(a, b) return a - b end,
  mul = function(a, b) return a * b end,
  div = function(a, b) return a / b end,
  remainder = function(a, b) return a % b end,
  pow = function(a, b) return a ^ b end,
  floor_divide = function(a, b) return a // b end,
  maximum = function(a, b) return lg.maximum(a, b) end,
  minimum = function(a, b) return lg.minimum(a, b) end,
}
local BINARY_ORDER = {"add", "sub", "mul", "div", "remainder", "pow", "floor_divide", "maximum",
                      "minimum"}
-- (left operand, right operand, label): the left one positive for pow
local PAIRS = {
  {GENERAL, OTHER, "2x3 and 2x3"},
  {GENERAL, ROW, "2x3 and 3 (broadcast)"},
  {COLUMN, ROW_2D, "2x1 and 1x3 (broadcast both)"},
  {ROW, GENERAL, "3 and 2x3 (broadcast)"},
  {0.83, SQUARE_2X2, "0-d and 2x2"},
}
local function positive(values)
  if type(values) == "number" then return math.abs(values) + 0.25 end
  local out = {}
  for i, v in ipairs(values) do out[i] = positive(v) end
  return out
end
for _, name in ipairs(BINARY_ORDER) do
  local f = BINARY[name]
  for _, pair in ipairs(PAIRS) do
    local a = name == "pow" and positive(pair[1]) or pair[1]
    check(name .. " " .. pair[3], f, two(a, pair[2]))
  end
  local a = name == "pow" and POSITIVE or GENERAL
  check(name .. " tensor and number", function(x) return f(x, 0.75) end, one(a))
  check(name .. " number and tensor", function(x) return f(1.25, x) end, one(OTHER))
  -- x % x, x // x and maximum(x, x) sit exactly on their kinks
  if name ~= "remainder" and name ~= "floor_divide" and name ~= "maximum" and name ~= "minimum" then
    check(name .. " tensor with itself", function(x) return f(x, x) end,
          one(name == "pow" and POSITIVE or OTHER))
  end
end
for _, k in ipairs({2, 3, 0.5, -1.5}) do -- integer exponents take the integer-scalar path
  check("pow number exponent " .. k, function(x) return x ^ k end, one(POSITIVE))
end
check("pow of negative base, integer exponent", function(x) return x ^ 3 end, one(GENERAL))
check("maximum method with number", function(x) return x:maximum(0.5) end, one(GENERAL))
check("minimum method with tensor", function(x, y) return x:minimum(y) end, two(GENERAL, OTHER))
check("floor_divide method", function(x, y) return x:floor_divide(y) end, two(GENERAL, OTHER))
check("remainder method", function(x, y) return x:remainder(y) end, two(GENERAL, OTHER))

-- where -----------------------------------------------------------------------

local function cond() return lg.tensor({{true, false, true}, {false, false, true}}) end
check("where tensors", function(x, y) return lg.where(cond(), x, y) end, two(GENERAL, OTHER))
check("where broadcast", function(x, y)
  return lg.where(lg.tensor({{true}, {false}}), x, y)
end, two(ROW_2D, ROW))
check("where number on the right", function(x) return lg.where(cond(), x, 0.5) end, one(GENERAL))
check("where number on the left", function(x) return lg.where(cond(), -0.5, x) end, one(GENERAL))

-- copies ------------------------------------------------------------------------

-- float32 keeps ~7 digits: a step of 1e-6 would be lost in rounding, so this
-- linear round trip is differenced with a step of 1e-3 (exact for a linear map)
check("to float32 and back", function(x) return x:to("float32"):to("float64") end, one(GENERAL),
      {eps = 1e-3, atol = 1e-4, rtol = 1e-3})
check("to float64 (same dtype)", function(x) return x:to("float64") end, one(GENERAL))
check("double", function(x) return x:double() * x end, one(GENERAL))
check("clone", function(x) return x:clone() end, one(GENERAL))
check("clone then square", function(x) return x:clone():square() end, one(GENERAL))

-- in place on non-leaf tensors: y = x * 1; y:<op>_(...); the gradient flows to x

local INPLACE_UNARY = {"exp", "log", "sin", "cos", "tanh", "sigmoid", "neg", "abs", "relu", "square",
                       "sqrt", "reciprocal", "gelu", "silu", "erf"}
for _, name in ipairs(INPLACE_UNARY) do
  check(name .. "_ on a non-leaf", function(x)
    local y = x * 1
    y[name .. "_"](y)
    return y
  end, one(UNARY_DOMAIN[name] or GENERAL))
end
for _, name in ipairs({"add", "sub", "mul", "div", "pow", "maximum", "minimum"}) do
  local a = name == "pow" and POSITIVE or GENERAL
  check(name .. "_ tensor on a non-leaf", function(x, w)
    local y = x * 1
    y[name .. "_"](y, w)
    return y
  end, two(a, name == "pow" and ROW or OTHER))
  check(name .. "_ number on a non-leaf", function(x)
    local y = x * 1
    y[name .. "_"](y, 0.75)
    return y
  end, one(a))
end
check("clamp_ on a non-leaf", function(x)
  local y = x * 1
  y:clamp_(-1, 1)
  return y
end, one(GENERAL))
check("two in-place ops in a row", function(x)
  local y = x * 1
  y:sin_():mul_(x)
  return y
end, one(GENERAL))
check("fill_ on a non-leaf", function(x)
  local y = x * 1
  y:fill_(2.5)
  return y * x
end, one(GENERAL))
check("copy_ on a non-leaf", function(x, w)
  local y = x * 1
  y:copy_(w)
  return y * x
end, two(GENERAL, OTHER))
check("copy_ broadcast on a non-leaf", function(x, w)
  local y = x * 1
  y:copy_(w)
  return y * x
end, two(GENERAL, ROW))

-- the specs -------------------------------------------------------------------

describe("elementwise gradients against finite differences", function()
  for _, c in ipairs(CHECKS) do
    it("gradcheck " .. c.name, function()
      assert.is_true(lg.autograd.gradcheck(c.fn, c.inputs(), c.opts))
    end)
  end
end)

describe("elementwise second derivatives against finite differences", function()
  for _, c in ipairs(CHECKS) do
    it("gradgradcheck " .. c.name, function()
      assert.is_true(lg.autograd.gradgradcheck(c.fn, c.inputs(), c.opts))
    end)
  end
end)

-- gradcheck must catch a wrong rule: a Function whose backward is off by 2x
describe("gradcheck itself", function()
  it("rejects a wrong backward rule and names the mismatch", function()
    local Twice = lg.autograd.Function{
      name = "WrongSquare",
      forward = function(ctx, x) ctx:save_for_backward(x) return x * x end,
      backward = function(ctx, g) return g * ctx.saved_tensors[1] end, -- should be 2 x g
    }
    local ok, msg = lg.autograd.gradcheck(function(x) return Twice(x) end, {leaf(GENERAL)},
                                          {raise_exception = false})
    assert.is_false(ok)
    assert.matches("Jacobian mismatch", msg, 1, true)
  end)
end)
