-- jvp_fast_spec.lua: func.jvp's fast path (f a function, no options, flat
-- primals and tangents, nothing requiring grad) against its general path
-- (forced by an options table) and the double-vjp reference, and the calls
-- that must fall back to the general path: nested tables, tangents of
-- another dtype, primals or tangents requiring grad, mismatched structure
-- or shapes (same errors), a callable table, inside vmap and inside grad.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func = lg.func
local fwad = lg.autograd.forward_ad

local F64 = {dtype = "float64"}
local function t64(data) return lg.tensor(data, F64) end

local function agree(a, b, label)
  H.assert_tensor(a, H.shape(b), b.dtype, H.values(b), 1e-10, 1e-12, label)
end

local function both(f, primals, tangents)
  local y1, t1 = func.jvp(f, primals, tangents)
  local y2, t2 = func.jvp(f, primals, tangents, {}) -- options: the general path
  local y3, t3 = func._jvp_by_vjp(f, primals, tangents)
  return y1, t1, y2, t2, y3, t3
end

describe("func.jvp fast path", function()
  it("a single tensor primal and tangent agree with the general path", function()
    local x, v = t64({0.5, -1, 2}), t64({1, 2, -0.5})
    local y1, t1, y2, t2, y3, t3 = both(lg.sin, x, v)
    agree(y1, y2, "output"); agree(t1, t2, "tangent"); agree(t1, t3, "double vjp")
    agree(t1, x:cos() * v, "cos(x) v")
    assert.is_false(fwad.is_dual(y1)); assert.is_false(fwad.is_dual(t1))
    assert.is_nil(fwad.current_level())
  end)

  it("several primals and a table of parameters agree, tables of outputs too", function()
    local W, b, x = t64({{1, 2}, {3, -1}}), t64({0.5, -0.5}), t64({2, 1})
    local tW, tb = t64({{0.1, 0}, {0, 0.2}}), t64({1, 1})
    local function f(p, z) return {y = (p.W:matmul(z) + p.b):tanh(), s = z:sum()} end
    local P, T = {W = W, b = b}, {W = tW, b = tb}
    local y1, t1, y2, t2, _, t3 = both(f, {P, x}, {T, t64({1, -1})})
    agree(y1.y, y2.y, "y"); agree(t1.y, t2.y, "dy"); agree(t1.y, t3.y, "dy double vjp")
    agree(t1.s, t2.s, "ds"); agree(t1.s, t64(0), "ds")
  end)

  it("an output without tangent gets zeros; the primals are left plain", function()
    local x = t64({1, 2})
    local c = t64({3, 4})
    local y, t = func.jvp(function() return c end, {x}, {t64({1, 1})})
    agree(y, c, "output"); agree(t, t64({0, 0}), "zero tangent")
    assert.is_false(fwad.is_dual(x))
  end)

  it("falls back for nested tables, other tangent dtypes, callable tables", function()
    local x, v = t64({1, 2}), t64({0.5, 1})
    local _, t = func.jvp(function(p) return p.a.b * 2 end, {{a = {b = x}}}, {{a = {b = v}}})
    agree(t, v * 2, "nested")
    local _, t32 = func.jvp(function(z) return z * 3 end, {x}, {lg.tensor({0.5, 1})})
    agree(t32, v * 3, "float32 tangent converted")
    local callable = setmetatable({}, {__call = function(_, z) return z:exp() end})
    local _, tc = func.jvp(callable, {x}, {v})
    agree(tc, x:exp() * v, "callable table")
  end)

  it("keeps the graph when a primal requires grad (reverse over forward)", function()
    local x = t64({0.3, 0.7}):requires_grad_()
    local v = t64({1, 0})
    local _, t = func.jvp(function(z) return z:sin():sum() end, {x}, {v})
    assert.is_true(t.requires_grad)
    local g = func.grad(function(z) return select(2, func.jvp(function(u) return u:sin():sum() end,
      {z}, {v})) end)(x:detach())
    agree(g, t64({-math.sin(0.3), 0}), "d/dx (cos(x) . v)")
  end)

  it("gives the general path's errors", function()
    local x = t64({1, 2})
    local function same_error(pattern, f, primals, tangents)
      local ok1, e1 = pcall(func.jvp, f, primals, tangents)
      local ok2, e2 = pcall(func.jvp, f, primals, tangents, {})
      assert.is_false(ok1); assert.is_false(ok2)
      local function bare(e) return (tostring(e):gsub("^[^:]*:%d+: ", "")) end
      assert.are.equal(bare(e2), bare(e1)) -- the same message, raised at another line
      assert.truthy(tostring(e1):find(pattern), tostring(e1))
      assert.is_nil(fwad.current_level())
    end
    same_error("jvp: .*shape", lg.sin, {x}, {t64({1, 2, 3})})
    same_error("jvp: .*structure", lg.sin, {x}, {})
    same_error("jvp: .*structure", lg.sin, {{a = x}}, {{b = x}})
    same_error("jvp: .*leaf 1 must be a tensor", lg.sin, {x}, {"a"})
    same_error("jvp: expected at least one primal", lg.sin, {}, {})
    same_error("holds no tensors", lg.sin, {{}}, {{}})
    same_error("jvp: primals must be an array", lg.sin, {x, k = x}, {x, k = x})
    local i64 = lg.tensor({1, 2}, {dtype = "int64"})
    same_error("jvp: ", lg.sin, {i64}, {i64})
    same_error("jvp: f returned 2 values", function(z) return z, z end, {x}, {x})
    same_error("jvp: f must return a tensor", function() return "no" end, {x}, {x})
    same_error("jvp: expected a function", 42, {x}, {x})
  end)

  it("works under vmap (the general path) and inside grad", function()
    local xs, vs = t64({{1, 2}, {3, 4}}), t64({{1, 0}, {0, 1}})
    local ts = func.vmap(function(x, v) return select(2, func.jvp(lg.exp, {x}, {v})) end)(xs, vs)
    agree(ts, xs:exp() * vs, "vmapped")
  end)
end)
