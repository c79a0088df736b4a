-- op_table_spec.lua: the Lua wrappers generated from the op table
-- (runtime/lg_ops.h, registered by lua/binding/ops_table.c): every op of a
-- generated kind is both an lg.* function and a method, follows its kind's
-- calling convention, and names itself in its errors.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

local KINDS = {
  reduce = {"sum", "mean", "prod", "amax", "amin", "logsumexp", "all", "any"},
  along_dim = {"cumsum", "cumprod", "softmax", "log_softmax"},
  argreduce = {"argmax", "argmin"},
  predicate = {"logical_not"},
}

describe("generated wrappers", function()
  for kind, names in pairs(KINDS) do
    for _, name in ipairs(names) do
      it(kind .. " " .. name .. " is a module function and a method", function()
        local x = lg.tensor({{1.0, 0.0, 3.0}, {4.0, 5.0, 0.5}})
        assert.is_function(lg[name], "lg." .. name)
        local arg = kind == "along_dim" and 2 or nil
        assert.are.same(H.values(lg[name](x, arg)), H.values(x[name](x, arg)))
        H.assert_error_names(name, lg[name], "x")
      end)
    end
  end

  it("reductions take dims and keepdim", function()
    local x = lg.tensor({{1.0, 2.0}, {3.0, 4.0}})
    H.assert_tensor(x:amax(2, true), {2, 1}, "float32", {2, 4})
    H.assert_tensor(lg.prod(x, {1, 2}), {}, "float32", {24})
    H.assert_tensor(x:any({keepdim = true}), {1, 1}, "bool", {true})
  end)

  it("along_dim ops require their dim", function()
    local x = lg.tensor({1.0, 2.0, 3.0})
    H.assert_tensor(x:cumprod(1), {3}, "float32", {1, 2, 6})
    H.assert_error_names("cumsum", lg.cumsum, x)
    H.assert_error_names("softmax", lg.softmax, x)
    assert.is_true(rawequal(lg._softmax, lg.softmax))
  end)

  it("argreduce: one dim, or the flattened tensor", function()
    local x = lg.tensor({{1.0, 7.0}, {9.0, 2.0}})
    H.assert_tensor(x:argmax(), {}, "int64", {3})
    H.assert_tensor(lg.argmin(x, 2, true), {2, 1}, "int64", {1, 2})
    H.assert_error_names("argmax", lg.argmax, x, {1, 2})
  end)

  it("predicate: bool result, out= into a bool tensor, no in-place form", function()
    local x = lg.tensor({0.0, 2.0, -1.0})
    H.assert_tensor(x:logical_not(), {3}, "bool", {true, false, false})
    local y = lg.zeros(3, {dtype = "bool"})
    assert.is_true(rawequal(lg.logical_not(x, {out = y}), y))
    H.assert_tensor(y, {3}, "bool", {true, false, false})
    H.assert_error_names("logical_not", lg.logical_not, x, {out = lg.zeros(3)})
    assert.is_nil(x.logical_not_)
  end)
end)
