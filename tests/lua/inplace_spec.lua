-- In-place variants (name ending in "_"): they return self (the very same
-- Lua value) and write into the storage that every view shares.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

-- Out-of-place ops whose in-place twin must exist (luagrad's rule: every math op,
-- add_ and friends, and PyTorch's in-place indexing ops).
local INPLACE = {}
for _, n in ipairs({"abs", "neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh",
                    "sigmoid", "relu", "gelu", "silu", "softplus", "floor", "ceil", "round", "sign",
                    "clamp", "pow", "reciprocal", "square", "erf", "maximum", "minimum",
                    "add", "sub", "mul", "div", "masked_fill", "scatter", "scatter_add"}) do
  INPLACE[n] = true
end
local BINOP_METHOD = {["+"] = "add", ["-"] = "sub", ["*"] = "mul", ["/"] = "div", ["^"] = "pow"}

local function same_layout(case)
  local e, x = case.expected[1], case.inputs[1]
  return #case.expected == 1 and e.shape and e.dtype == x.dtype and H.shape_str(e.shape) == H.shape_str(x.shape)
    and #x.shape > 0
end

-- Turns a fixture case into an in-place call: name and args (or nil).
local function inplace_form(case)
  local call = case.call
  if not same_layout(case) then return nil end
  if call.kind == "method" and #call.chain == 1 and INPLACE[call.chain[1].name] then
    return call.chain[1].name, call.chain[1].args, call.chain[1].nargs
  elseif call.kind == "binop" and BINOP_METHOD[call.op] and type(call.args[1]) == "table"
      and call.args[1].input == 1 then
    return BINOP_METHOD[call.op], {call.args[2]}, 1
  end
  return nil
end

local function resolve(v, inputs)
  if type(v) ~= "table" then return v end
  if v.input then return inputs[v.input] end
  local out = {}
  for k, x in pairs(v) do out[k] = resolve(x, inputs) end
  return out
end

for _, group in ipairs({"elementwise", "arith", "promote", "index"}) do
  describe("in-place forms of the " .. group .. " fixtures", function()
    for _, case in ipairs(H.cases(group)) do
      local name, args, nargs = inplace_form(case)
      if name then
        it(name .. "_ (" .. case.name .. ")", function()
          local inputs = {}
          for i, e in ipairs(case.inputs) do inputs[i] = H.tensor(e) end
          local base = inputs[1]
          local alias = base:narrow(1, 1, base:size(1))   -- a view on base's storage
          local f = alias[name .. "_"]
          assert.is_function(f, "tensor has no method " .. name .. "_")
          local r = f(alias, table.unpack(resolve(args, inputs), 1, nargs))
          assert.is_true(rawequal(r, alias), name .. "_ must return self")
          H.assert_close(base, case.expected[1], case.rtol, case.atol, "base after " .. name .. "_ on a view")
          H.assert_close(alias, case.expected[1], case.rtol, case.atol, "the view itself")
        end)
      end
    end
  end)
end

describe("in-place ops and views", function()
  it("zero_ returns self and clears the storage", function()
    local x = lg.tensor({{1.0, 2.0}, {3.0, 4.0}})
    local row = x[2]
    assert.is_true(rawequal(row:zero_(), row))
    H.assert_tensor(x, {2, 2}, "float32", {1, 2, 0, 0})
  end)
  it("fill_ through a transposed view", function()
    local x = lg.zeros(2, 3)
    local col = x:t()[3]         -- column 3 of x
    assert.is_true(rawequal(col:fill_(5), col))
    H.assert_tensor(x, {2, 3}, "float32", {0, 0, 5, 0, 0, 5})
  end)
  it("copy_ broadcasts the source and returns self", function()
    local x = lg.zeros(2, 3)
    local r = x:copy_(lg.tensor({1.0, 2.0, 3.0}))
    assert.is_true(rawequal(r, x))
    H.assert_tensor(x, {2, 3}, "float32", {1, 2, 3, 1, 2, 3})
  end)
  it("copy_ converts the dtype of the source", function()
    local x = lg.zeros(3, {dtype = "int64"})
    x:copy_(lg.tensor({1.9, -1.9, 3.0}))
    H.assert_tensor(x, {3}, "int64", {1, -1, 3})
  end)
  it("mul_ on a transposed view doubles the base", function()
    local x = lg.tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}})
    local t = x:t()
    assert.is_true(rawequal(t:mul_(2), t))
    H.assert_tensor(x, {2, 3}, "float32", {2, 4, 6, 8, 10, 12})
  end)
  it("add_ on a select view changes one column", function()
    local x = lg.zeros(3, 2)
    x:select(2, 2):add_(lg.tensor({1.0, 2.0, 3.0}))
    H.assert_tensor(x, {3, 2}, "float32", {0, 1, 0, 2, 0, 3})
  end)
  it("a view taken before the in-place op sees the change", function()
    local x = lg.tensor({{1.0, 2.0}, {3.0, 4.0}})
    local flat = x:view(-1)
    local exp = x:expand(2, 2, 2)
    x:add_(10)
    H.assert_tensor(flat, {4}, "float32", {11, 12, 13, 14})
    H.assert_tensor(exp, {2, 2, 2}, "float32", {11, 12, 13, 14, 11, 12, 13, 14})
  end)
  it("in-place ops chain and keep returning self", function()
    local x = lg.tensor({1.0, -2.0, 3.0})
    local r = x:add_(1):mul_(2):clamp_(0, 5):neg_()
    assert.is_true(rawequal(r, x))
    H.assert_tensor(x, {3}, "float32", {-4, 0, -5})
  end)
  it("narrow view of a 1-D tensor: sqrt_ touches only the window", function()
    local x = lg.tensor({4.0, 9.0, 16.0, 25.0})
    x:narrow(1, 2, 2):sqrt_()
    H.assert_tensor(x, {4}, "float32", {4, 3, 4, 25})
  end)
  it("masked_fill_ on a view", function()
    local x = lg.tensor({{1.0, -2.0}, {-3.0, 4.0}})
    local v = x[2]
    local r = v:masked_fill_(v:lt(0), 0)
    assert.is_true(rawequal(r, v))
    H.assert_tensor(x, {2, 2}, "float32", {1, -2, 0, 4})
  end)
  it("in-place ops keep the tensor's dtype", function()
    local x = lg.tensor({1, 2, 3}, {dtype = "int32"})
    x:add_(2)
    x:mul_(lg.tensor({1, 2, 3}, {dtype = "int32"}))
    H.assert_tensor(x, {3}, "int32", {3, 8, 15})
    local f = lg.tensor({1.5, 2.5})
    f:add_(lg.tensor({1, 2}, {dtype = "int64"}))
    H.assert_tensor(f, {2}, "float32", {2.5, 4.5})
  end)
  it("clone does not share storage", function()
    local x = lg.tensor({1.0, 2.0})
    local c = x:clone()
    c:fill_(7)
    H.assert_tensor(x, {2}, "float32", {1, 2})
    H.assert_tensor(c, {2}, "float32", {7, 7})
  end)
end)
