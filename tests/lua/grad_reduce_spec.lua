-- Gradients of the reductions (sum mean prod amax amin logsumexp var std
-- norm, max/min over a dim, cumsum cumprod): gradcheck and gradgradcheck
-- over one dim, several dims, all dims, keepdim, negative dims; ties, zeros
-- and large values against exact values from PyTorch 1.13.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd

-- A float64 leaf of shape {2, 3, 4} with random values (seeded); `away`
-- moves them away from zero (prod, norms with p < 2).
local function leaf(away)
  lg.manual_seed(7)
  local x = lg.randn(2, 3, 4, {dtype = "float64"})
  if away then x = x:sign() * (x:abs() + 0.5) end
  return x:requires_grad_()
end

-- gradcheck of f; gradgradcheck of f (of f^2 when f's gradient does not
-- depend on x: sum, mean, cumsum, the selections); gradcheck of the vjp in
-- its seed, which fails when the rule's result is not recorded under
-- create_graph. The :clone() keeps gradcheck from reading a result that
-- views the seed (sum's gradient is an expand of it) through an aliasing
-- reshape.
local function check(f, x, linear)
  assert.is_true(A.gradcheck(f, {x}))
  local second = linear and function(t) return f(t):square() end or f
  assert.is_true(A.gradgradcheck(second, {x}))
  lg.manual_seed(12)
  local v = lg.randn(f(x).shape, {dtype = "float64"}):requires_grad_()
  assert.is_true(A.gradcheck(function(u)
    return A.grad(f(x), {x}, {grad_outputs = u, create_graph = true})[1]:clone()
  end, {v}))
end

-- The dim forms every reduction is checked over: one dim, several, all,
-- keepdim, negative dims.
local FORMS = {
  {2}, {2, true}, {-1}, {{1, 3}}, {{1, 3}, true}, {{-1, -3}}, {}, {{}, true},
}

-- check() of x:name(form...) for every form (extra: arguments in front).
local function check_forms(name, x, linear, extra)
  for _, form in ipairs(FORMS) do
    local args = {table.unpack(extra or {})}
    for _, a in ipairs(form) do args[#args + 1] = a end
    check(function(t) return t[name](t, table.unpack(args)) end, x, linear)
  end
end

-- The gradient of f at x (a nested table) for the upstream gradient go
-- (nested table; ones when nil), compared with PyTorch's (flat values);
-- also with create_graph, where some rules take another formula.
local function expect_grad(f, x, go, expected, tol)
  for _, create_graph in ipairs({false, true}) do
    local t = lg.tensor(x, {dtype = "float64", requires_grad = true})
    local y = f(t)
    local seed = go and lg.tensor(go, {dtype = "float64"}) or lg.ones(y.shape, {dtype = "float64"})
    local g = A.grad(y, {t}, {grad_outputs = seed, create_graph = create_graph})[1]
    H.assert_tensor(g, H.shape(t), "float64", expected, tol or 1e-12, tol or 1e-12,
                    create_graph and "with create_graph" or nil)
  end
end

---------------------------------------------------------------------------

describe("reduction gradients", function()
  it("sum", function()
    check_forms("sum", leaf(), true)
    expect_grad(function(t) return t:sum(2) end, {{1, 2}, {3, 4}}, {5, 7}, {5, 5, 7, 7})
  end)
  it("mean", function()
    check_forms("mean", leaf(), true)
    -- torch: x.mean(0) for x (2,2), grad_outputs [2, 4]
    expect_grad(function(t) return t:mean(1) end, {{1, 2}, {3, 4}}, {2, 4}, {1, 2, 1, 2})
  end)
  it("prod", function()
    check_forms("prod", leaf(true))
  end)
  it("prod with one zero and with two zeros in a slice", function()
    local z = {{0, 2, 3}, {4, 0, 0}, {1, 2, 3}}
    -- torch: x.prod(1), grad_outputs [1, 2, 3]
    expect_grad(function(t) return t:prod(2) end, z, {1, 2, 3}, {6, 0, 0, 0, 0, 0, 18, 9, 6})
    -- torch: x.prod() for x [[1,2,0],[4,5,6]] (one zero overall)
    expect_grad(function(t) return t:prod() end, {{1, 2, 0}, {4, 5, 6}}, nil, {0, 0, 240, 0, 0, 0})
    -- torch: x.prod() with three zeros: all zero
    expect_grad(function(t) return t:prod() end, z, nil, {0, 0, 0, 0, 0, 0, 0, 0, 0})
    -- second derivatives at zeros, also between the two zeros of a row
    local x = lg.tensor(z, {dtype = "float64", requires_grad = true})
    for _, f in ipairs({
      function(t) return t:prod(2) end, function(t) return t:prod(1, true) end,
      function(t) return t:prod() end, function(t) return t:prod({-1, 1}) end,
    }) do
      check(f, x)
    end
  end)
  it("amax and amin", function()
    check_forms("amax", leaf(), true)
    check_forms("amin", leaf(), true)
  end)
  it("amax and amin split the gradient evenly among ties", function()
    local t = {{1, 3, 3}, {2, 2, 2}}
    -- torch: x.amax(1), grad_outputs [1, 3]
    expect_grad(function(x) return x:amax(2) end, t, {1, 3}, {0, 0.5, 0.5, 1, 1, 1})
    -- torch: x.amax()
    expect_grad(function(x) return x:amax() end, t, nil, {0, 0.5, 0.5, 0, 0, 0})
    -- torch: x.amin(0), grad_outputs [1, 2, 4]
    expect_grad(function(x) return x:amin(1) end, t, {1, 2, 4}, {1, 0, 0, 0, 2, 4})
    -- max() of everything is amax
    expect_grad(function(x) return x:max() end, t, nil, {0, 0.5, 0.5, 0, 0, 0})
  end)
  it("logsumexp", function()
    check_forms("logsumexp", leaf())
  end)
  it("logsumexp of large values", function()
    -- torch: x.logsumexp(0) for x [1000, 1001, 1002]
    expect_grad(function(x) return x:logsumexp(1) end, {1000, 1001, 1002}, nil,
      {0.09003057317037612, 0.24472847105478585, 0.6652409557747898})
    local x = lg.tensor({{1000, 1001, 1002}, {-1000, -999, -1001}},
                        {dtype = "float64", requires_grad = true})
    check(function(t) return t:logsumexp(2) end, x)
  end)
  for _, correction in ipairs({0, 1}) do
    for _, name in ipairs({"var", "std"}) do
      it(("%s with correction %d"):format(name, correction), function()
        local x = leaf()
        for _, form in ipairs(FORMS) do
          local opts = {correction = correction, keepdim = form[2] == true}
          check(function(t) return t[name](t, form[1] or {}, opts) end, x)
        end
      end)
    end
  end
  it("std of a constant slice has a zero gradient (PyTorch masks it)", function()
    -- torch: x.std(1) for x [[2,2,2],[1,2,4]]
    expect_grad(function(x) return x:std(2) end, {{2, 2, 2}, {1, 2, 4}}, nil,
      {0, 0, 0, -0.43643578047198484, -0.10910894511799625, 0.5455447255899809})
  end)
  for _, p in ipairs({1, 2, 3, 0.5, math.huge}) do
    it("norm with p = " .. tostring(p), function()
      local x = leaf(p < 2 or p == math.huge)
      for _, form in ipairs(FORMS) do
        check(function(t) return t:norm(p, form[1] or {}, form[2] == true) end, x)
      end
    end)
  end
  it("norm at zero and with ties, as PyTorch", function()
    -- torch: x.norm(2, dim=1) for x [[0,0,0],[3,4,0]]: 0 where the norm is 0
    expect_grad(function(x) return x:norm(2, 2) end, {{0, 0, 0}, {3, 4, 0}}, nil,
      {0, 0, 0, 0.6, 0.8, 0})
    -- torch: x.norm(1, dim=1), grad_outputs [1, 2]
    expect_grad(function(x) return x:norm(1, 2) end, {{0, -2, 3}, {3, 4, 0}}, {1, 2},
      {0, -1, 1, 2, 2, 0})
    -- torch: x.norm(inf, dim=1), grad_outputs [1, 2]: ties split, with sign
    expect_grad(function(x) return x:norm(math.huge, 2) end, {{-3, 3, 1}, {0, -2, 1}}, {1, 2},
      {-0.5, 0.5, 0, 0, -2, 0})
  end)
  it("max and min over a dim", function()
    local x = leaf()
    for _, name in ipairs({"max", "min"}) do
      for _, form in ipairs({{2}, {2, true}, {-1}, {1, true}, {-3}}) do
        check(function(t) return (t[name](t, table.unpack(form))) end, x, true)
      end
    end
  end)
  it("max and min over a dim send the gradient to the returned index only", function()
    local t = {{1, 3, 3}, {2, 2, 2}}
    -- torch: x.max(1)[0], grad_outputs [1, 3]
    expect_grad(function(x) return (x:max(2)) end, t, {1, 3}, {0, 1, 0, 3, 0, 0})
    -- torch: x.min(1, keepdim=True)[0], grad_outputs [[1], [3]]
    expect_grad(function(x) return (x:min(2, true)) end, t, {{1}, {3}}, {1, 0, 0, 3, 0, 0})
  end)
  it("cumsum", function()
    local x = leaf()
    for _, d in ipairs({1, 2, 3, -1}) do
      check(function(t) return t:cumsum(d) end, x, true)
    end
    -- torch: x.cumsum(0) for x [1,2,3], grad_outputs [1, 2, 4]
    expect_grad(function(t) return t:cumsum(1) end, {1, 2, 3}, {1, 2, 4}, {7, 6, 4})
  end)
  it("cumprod", function()
    local x = leaf(true)
    for _, d in ipairs({1, 2, 3, -1}) do
      check(function(t) return t:cumprod(d) end, x)
    end
  end)
  it("cumprod with zeros, also between two zeros of a slice", function()
    local z = {{0, 2, 3}, {4, 0, 0}, {1, 2, 3}}
    local go = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
    -- torch: x.cumprod(1), grad_outputs [[1,2,3],[4,5,6],[7,8,9]]
    expect_grad(function(t) return t:cumprod(2) end, z, go, {23, 0, 0, 4, 20, 0, 77, 35, 18})
    -- torch: x.cumprod(0), same grad_outputs
    expect_grad(function(t) return t:cumprod(1) end, z, go, {45, 2, 3, 0, 42, 99, 0, 0, 0})
    local x = lg.tensor(z, {dtype = "float64", requires_grad = true})
    check(function(t) return t:cumprod(2) end, x)
    check(function(t) return t:cumprod(-2) end, x)
  end)
  it("a 0-d input", function()
    local x = lg.tensor(1.5, {dtype = "float64", requires_grad = true})
    for _, f in ipairs({
      function(t) return t:sum() end, function(t) return t:prod() end,
      function(t) return t:cumsum(1) end, function(t) return t:cumprod(1) end,
      function(t) return t:amax() end, function(t) return t:logsumexp() end,
    }) do
      assert.are.equal(1, A.grad(f(x), {x})[1]:item())
    end
  end)
end)
