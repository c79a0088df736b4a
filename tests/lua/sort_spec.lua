-- sort_spec.lua: sort, argsort, msort, topk, kthvalue, median, cummax,
-- cummin and unique against PyTorch 1.13 (forward, gradients, jvp, vmap;
-- tests/fixtures/generate_sort.py), finite-difference gradchecks of every
-- differentiable one, and the wrong calls.
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
local H = dofile(root .. "/tests/lua/helpers.lua")
local G = dofile(root .. "/tests/lua/grad_helpers.lua")
local C = dofile(root .. "/tests/lua/sort_cases.lua")
local lg = H.lg

describe("sorting against PyTorch", function()
  for _, case in ipairs(C.cases) do
    if case.op ~= "einsum" then it(case.name, function() C.check(case) end) end
  end
end)

describe("sorting gradchecks (finite differences, double backward)", function()
  local fns = {
    sort = function(x) return (x:sort(2)) end,
    ["sort descending"] = function(x) return (x:sort(1, true)) end,
    msort = function(x) return lg.msort(x) end,
    topk = function(x) return (x:topk(2)) end,
    ["topk smallest"] = function(x) return (x:topk(2, 1, false)) end,
    kthvalue = function(x) return (x:kthvalue(2, 1)) end,
    ["kthvalue keepdim"] = function(x) return (x:kthvalue(3, 2, true)) end,
    ["median over a dim"] = function(x) return (x:median(2)) end,
    ["median of all"] = function(x) return x:median() end,
    cummax = function(x) return (x:cummax(2)) end,
    cummin = function(x) return (x:cummin(1)) end,
  }
  for name, f in pairs(fns) do
    it(name, function() G.check_grads(f, {{3, 4}}) end)
  end
  it("cummax's gradient adds up where one element is picked many times", function()
    local x = lg.tensor({1, 3, 2, 2, 5}, {dtype = "float64"}):requires_grad_()
    local v = x:cummax(1)
    v:sum():backward()
    H.assert_close(x.grad, {shape = {5}, dtype = "float64", data = {1, 3, 0, 0, 1}}, 0, 0)
  end)
end)

describe("sorting results", function()
  it("indices are 1-based int64 and gather the values back", function()
    local x = lg.randn(3, 5)
    local v, i = x:sort(2)
    assert.are.equal("int64", i.dtype)
    H.assert_close(x:gather(2, i), H.entry_of(v), 0, 0)
    assert.is_true(i:min():item() >= 1 and i:max():item() <= 5)
  end)
  it("topk, kthvalue and median pick what the stable sort puts there, with many ties", function()
    lg.manual_seed(5)
    for _, n in ipairs({1, 2, 7, 37, 200}) do
      local x = lg.randint(0, 6, {3, n}):double()
      local up_v, up_i = x:sort(2, {stable = true})
      local down_v, down_i = x:sort(2, {descending = true, stable = true})
      for _, k in ipairs({1, (n + 1) // 2, n}) do
        local v, i = x:topk(k, 2)
        H.assert_close(v, H.entry_of(down_v:narrow(2, 1, k)), 0, 0, "topk values")
        H.assert_close(i, H.entry_of(down_i:narrow(2, 1, k)), 0, 0, "topk indices")
        v, i = x:topk(k, 2, false)
        H.assert_close(i, H.entry_of(up_i:narrow(2, 1, k)), 0, 0, "topk smallest indices")
        v, i = x:kthvalue(k, 2)
        H.assert_close(v, H.entry_of(up_v:select(2, k)), 0, 0, "kthvalue values")
        H.assert_close(i, H.entry_of(up_i:select(2, k)), 0, 0, "kthvalue indices")
      end
      local _, i = x:median(2)
      H.assert_close(i, H.entry_of(up_i:select(2, (n - 1) // 2 + 1)), 0, 0, "median indices")
    end
  end)
  it("argsort equals sort's indices, also descending", function()
    local x = lg.randn(4, 3)
    local _, i = x:sort(1, {descending = true})
    H.assert_close(x:argsort(1, {descending = true}), H.entry_of(i), 0, 0)
  end)
  it("unique: sorted = false still sorts, and the outputs follow the flags", function()
    local x = lg.tensor({3, 1, 3})
    local u, inv, counts = x:unique({sorted = false, return_inverse = true, return_counts = true})
    assert.are.same({1, 3}, u:tolist())
    assert.are.same({2, 1, 2}, inv:tolist())
    assert.are.same({1, 2}, counts:tolist())
    local u2, c2 = lg.unique(x, {return_counts = true})
    assert.are.same({1, 3}, u2:tolist())
    assert.are.same({1, 2}, c2:tolist())
    assert.is_nil(select(2, x:unique()))
  end)
  it("unique is not differentiable: its result does not require grad", function()
    local x = lg.tensor({1.0, 2.0, 1.0}):requires_grad_()
    assert.is_false(x:unique().requires_grad)
  end)
  it("a 0-d tensor sorts as one element", function()
    local v, i = lg.tensor(2.5):sort()
    assert.are.equal(2.5, v:item())
    assert.are.equal(1, i:item())
  end)
  it("sort of an empty dim gives empty results", function()
    local v, i = lg.zeros(2, 0):sort(2)
    assert.are.same({2, 0}, H.shape(v))
    assert.are.same({2, 0}, H.shape(i))
  end)
  it("vmap of sort with the batch dim last", function()
    local x = lg.randn(4, 3)
    local v = lg.func.vmap(function(r) return (r:sort()) end, {in_dims = 2})(x)
    H.assert_close(v, H.entry_of((x:t():sort(2))), 0, 0)
  end)
end)

describe("sorting errors", function()
  local x = lg.randn(3, 4)
  it("k out of range", function()
    H.raises("topk: k = 5 is out of range for dim 2 of size 4", x.topk, x, 5)
    H.raises("topk: k = -1 is out of range", x.topk, x, -1)
    H.raises("kthvalue: k = 0 is out of range for dim 2 of size 4 (expected 1..4)", x.kthvalue, x, 0)
    H.raises("kthvalue: k = 4 is out of range for dim 1 of size 3", x.kthvalue, x, 4, 1)
  end)
  it("dim out of range", function()
    H.raises("sort: dim 3 out of range for a 2-d tensor", x.sort, x, 3)
    H.raises("sort: dim 0 is invalid", x.sort, x, 0)
    H.raises("topk: dim -3 out of range", x.topk, x, 1, -3)
    H.raises("median: dim 5 out of range", x.median, x, 5)
    H.raises("cummax: dim 3 out of range", x.cummax, x, 3)
    H.raises("unique: dim 4 out of range", x.unique, x, {dim = 4})
  end)
  it("missing or wrong arguments", function()
    H.raises("cummin: expected a dim as argument 2", x.cummin, x)
    H.raises("topk: expected an integer for k", x.topk, x, "two")
    H.raises("sort: expected a boolean for descending, got number", x.sort, x, 1, 2)
    H.raises("sort: unknown option \"reverse\"", x.sort, x, {reverse = true})
    H.raises("median: expected a non-empty", lg.zeros(0).median, lg.zeros(0))
    H.raises("median: expected a non-empty dim 2", lg.zeros(2, 0).median, lg.zeros(2, 0), 2)
  end)
end)
