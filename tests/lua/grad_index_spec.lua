-- Gradients of the indexing ops (index_select gather scatter scatter_add
-- masked_fill masked_select): gradcheck, gradgradcheck, the backward being
-- differentiable in the incoming gradient, exact values from PyTorch 1.13,
-- and no gradient for index and mask inputs.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd

local G = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/grad_helpers.lua")
local seq, check_grads, expect_grads = G.seq, G.check_grads, G.expect_grads

local function long(data) return lg.tensor(data, {dtype = "int64"}) end

---------------------------------------------------------------------------

describe("index op gradients", function()
  it("index_select (repeated indices, negative dim, dim 1)", function()
    local idx = long({3, 1, 3})
    check_grads(function(x) return x:index_select(2, idx) end, {{3, 4}})
    check_grads(function(x) return x:index_select(-1, idx) end, {{2, 3, 4}})
    check_grads(function(x) return x:index_select(1, long({2, 2})) end, {{3, 2}})
    check_grads(function(x) return x:index_select(1, long({2, 1, 2, 2})) end, {{3}})
    -- torch: x.index_select(1, torch.tensor([2, 0, 2])) for x (3,4)
    expect_grads(function(x) return x:index_select(2, idx) end, {{3, 4}}, {{{3, 4},
      {1.0, 0.0, 2.0, 0.0, 2.5, 0.0, 5.0, 0.0, 4.0, 0.0, 8.0, 0.0}}})
  end)

  it("gather (repeated indices, index smaller than the input)", function()
    local idx = long({{1, 1, 2}, {2, 2, 2}})
    check_grads(function(x) return x:gather(2, idx) end, {{2, 3}})
    check_grads(function(x) return x:gather(1, long({{2, 1}})) end, {{3, 3}})
    check_grads(function(x) return x:gather(-1, long({{{1}, {3}}})) end, {{1, 2, 3}})
    -- torch: x.gather(1, torch.tensor([[0, 0, 1], [1, 1, 1]])) for x (2,3)
    expect_grads(function(x) return x:gather(2, idx) end, {{2, 3}}, {{{2, 3},
      {1.5, 1.5, 0.0, 0.0, 7.5, 0.0}}})
  end)

  it("scatter (input and src; src larger than the index)", function()
    local idx = long({{1, 3}, {2, 1}})
    local function scatter(x, s) return x:scatter(2, idx, s) end
    check_grads(scatter, {{2, 3}, {2, 2}})
    -- PyTorch 1.13 rejects this src gradient ("got [2, 2] but expected
    -- shape compatible with [3, 3]"); here the unused part of src gets 0
    check_grads(scatter, {{2, 3}, {3, 3}})
    check_grads(function(x, s) return x:scatter(1, long({{3, 1}}), s) end, {{3, 2}, {1, 2}})
    -- repeated indices: only the input's gradient is well defined
    local src = lg.ones(2, 3, {dtype = "float64"})
    check_grads(function(x) return x:scatter(2, long({{1, 1, 2}, {3, 3, 3}}), src) end, {{2, 3}})
    -- a number as src
    check_grads(function(x) return x:scatter(2, idx, 7) end, {{2, 3}})
    -- torch: x.scatter(1, torch.tensor([[0, 2], [1, 0]]), s) for x (2,3), s (2,2)
    expect_grads(scatter, {{2, 3}, {2, 2}}, {
      {{2, 3}, {0.0, 1.0, 0.0, 0.0, 0.0, 3.0}},
      {{2, 2}, {0.5, 1.5, 2.5, 2.0}}})
  end)

  it("scatter_add (repeated indices)", function()
    local idx = long({{1, 1, 2}, {3, 3, 3}})
    local function scatter_add(x, s) return x:scatter_add(2, idx, s) end
    check_grads(scatter_add, {{2, 3}, {2, 3}})
    check_grads(function(x, s) return x:scatter_add(1, long({{2, 2}}), s) end, {{3, 2}, {2, 3}})
    -- torch: x.scatter_add(1, torch.tensor([[0, 0, 1], [2, 2, 2]]), s) for x, s (2,3)
    expect_grads(scatter_add, {{2, 3}, {2, 3}}, {
      {{2, 3}, {0.5, 1.0, 1.5, 2.0, 2.5, 3.0}},
      {{2, 3}, {0.5, 0.5, 1.0, 3.0, 3.0, 3.0}}})
  end)

  it("masked_fill (mask broadcast over the input, input broadcast over the mask)", function()
    local mask = lg.tensor({{true, false, true}})
    check_grads(function(x) return x:masked_fill(mask, 2.5) end, {{2, 3}})
    check_grads(function(x) return x:masked_fill(mask, 2.5) end, {{2, 1}})
    check_grads(function(x) return x:masked_fill(lg.tensor({{1, 0}, {0, 1}}, {dtype = "uint8"}), 0) end, {{2, 2}})
    -- torch: x.masked_fill(torch.tensor([[True, False, True]]), 2.5) for x (2,3) and (2,1)
    expect_grads(function(x) return x:masked_fill(mask, 2.5) end, {{2, 3}}, {{{2, 3},
      {0.0, 1.0, 0.0, 0.0, 2.5, 0.0}}})
    expect_grads(function(x) return x:masked_fill(mask, 2.5) end, {{2, 1}}, {{{2, 1}, {1.0, 2.5}}})
  end)

  it("masked_select (broadcast both ways, nothing selected)", function()
    local mask = lg.tensor({{true, false, true}})
    check_grads(function(x) return x:masked_select(mask) end, {{2, 3}})
    check_grads(function(x) return x:masked_select(mask) end, {{2, 1}})
    check_grads(function(x) return x:masked_select(x:detach():gt(0)) end, {{3, 4}})
    -- no element selected: a zero gradient of the input's shape
    local x = lg.randn(2, 3, {dtype = "float64", requires_grad = true})
    local y = x:masked_select(lg.zeros(2, 3, {dtype = "bool"}))
    assert.are.same({0}, H.shape(y))
    local g = A.grad(y, {x}, {grad_outputs = lg.zeros(0, {dtype = "float64"})})[1]
    H.assert_tensor(g, {2, 3}, "float64", {0, 0, 0, 0, 0, 0})
    -- torch: x.masked_select(torch.tensor([[True, False, True]])) for x (2,3) and (2,1)
    expect_grads(function(x) return x:masked_select(mask) end, {{2, 3}}, {{{2, 3},
      {0.5, 0.0, 1.0, 1.5, 0.0, 2.0}}})
    expect_grads(function(x) return x:masked_select(mask) end, {{2, 1}}, {{{2, 1}, {1.5, 3.5}}})
  end)

  it("index and mask inputs get no gradient; gradients have the input's shape", function()
    local x = seq({3, 4}, 0.25, -1):requires_grad_()
    local idx = long({3, 1, 3})
    local gidx = long({{1, 2}, {3, 3}})
    local mask = lg.tensor({{true, false, true, false}})
    local outs = {
      x:index_select(2, idx),
      x:gather(2, gidx),
      x:scatter(2, gidx, lg.ones(2, 2, {dtype = "float64"})),
      x:scatter_add(2, gidx, lg.ones(2, 2, {dtype = "float64"})),
      x:masked_fill(mask, 1),
      x:masked_select(mask),
    }
    for k, y in ipairs(outs) do
      x.grad = nil
      y:backward(lg.ones(y.shape, {dtype = "float64"}))
      assert.are.same({3, 4}, H.shape(x.grad), "op " .. k)
      assert.are.equal("float64", x.grad.dtype)
    end
    for _, t in ipairs({idx, gidx, mask}) do
      assert.is_false(t.requires_grad)
      assert.is_nil(t.grad)
    end
    H.assert_error_names("does not require grad", function()
      A.grad(x:index_select(2, idx), {x, idx}, {grad_outputs = lg.ones(3, 3, {dtype = "float64"})})
    end)
    -- int32 indices work the same
    local g = A.grad(x:index_select(1, lg.tensor({2, 2}, {dtype = "int32"})), {x},
                     {grad_outputs = lg.ones(2, 4, {dtype = "float64"})})[1]
    H.assert_tensor(g, {3, 4}, "float64", {0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0})
  end)

  it("only src needs a gradient in a scatter into a constant", function()
    local s = lg.ones(2, 2, {dtype = "float64", requires_grad = true})
    local y = lg.zeros(2, 3, {dtype = "float64"}):scatter(2, long({{1, 3}, {2, 1}}), s)
    local g = A.grad(y, {s}, {grad_outputs = seq({2, 3}, 1)})[1]
    H.assert_tensor(g, {2, 2}, "float64", {1, 3, 5, 4})
  end)
end)

-- t[i] down to one element: a Lua number for a plain tensor, a 0-d tensor
-- that keeps the graph when the tensor takes part in autograd (issue 12:
-- a loss built from x[i] silently lost its gradient).
describe("t[i] of a tensor in the graph", function()
  local function leaf(data)
    return lg.tensor(data, {dtype = "float64", requires_grad = true})
  end

  it("is a 0-d tensor for a leaf requiring grad, so backward reaches x", function()
    local x = leaf({0.5, -1.5, 2.0})
    local e = x[1]
    assert.is_true(lg.is_tensor(e))
    assert.are.same({}, H.shape(e))
    assert.are.equal("float64", e.dtype)
    assert.are.equal(0.5, e:item())
    assert.are.equal("SelectBackward0", e.grad_fn:name())
    ;(x[1] * 2):backward()
    H.assert_tensor(x.grad, {3}, "float64", {2, 0, 0})
  end)

  it("keeps the gradient of a loss built from elements, negative indices too", function()
    local x = leaf({0.5, -1.5, 2.0})
    local loss = x[1] * x[1] + x[2] * x[-1] + 3 * x[-1]
    loss:backward()
    H.assert_tensor(x.grad, {3}, "float64", {1.0, 2.0, -1.5 + 3})
  end)

  it("is a 0-d tensor for a result with a grad_fn, and for t[{i, j}]", function()
    local x = leaf({{1, 2}, {3, 4}})
    local y = x * 3
    local e = y[{2, 1}]
    assert.is_true(lg.is_tensor(e))
    assert.are.equal(9, e:item())
    assert.is_true(lg.is_tensor(y[2][2]))
    e:backward()
    H.assert_tensor(x.grad, {2, 2}, "float64", {0, 0, 3, 0})
  end)

  it("passes gradcheck and gradgradcheck", function()
    local x = leaf({0.3, -0.7, 1.1, 0.9})
    local f = function(v) return v[1] * v[3] + v[-1]:sin() * v[{2}] end
    assert.is_true(A.gradcheck(f, {x}))
    assert.is_true(A.gradgradcheck(f, {x}))
  end)

  it("works inside func.grad", function()
    local g = lg.func.grad(function(v) return v[2] * v[2] * v[3] end)(
      lg.tensor({1.0, 2.0, 3.0}, {dtype = "float64"}))
    H.assert_tensor(g, {3}, "float64", {0, 12, 4})
  end)

  it("stays a Lua number for plain and detached tensors", function()
    local x = leaf({0.5, -1.5})
    assert.are.equal("number", type(x:detach()[1]))
    assert.are.equal(-1.5, x:detach()[-1])
    assert.are.equal("number", type(lg.tensor({1.0, 2.0})[2]))
    assert.are.equal("number", type(lg.tensor({{1.0, 2.0}})[{1, 2}]))
    local y = lg.no_grad(function() return x * 2 end) -- no graph recorded
    assert.are.equal("number", type(y[1]))
    -- the rule follows the tensor, not the grad mode
    local e = lg.no_grad(function() return x[1] end)
    assert.is_true(lg.is_tensor(e))
    assert.is_false(e.requires_grad)
  end)
end)
