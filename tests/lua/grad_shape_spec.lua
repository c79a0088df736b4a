-- Gradients of the shape ops (view expand permute squeeze unsqueeze narrow
-- select reshape flip tile cat): gradcheck, gradgradcheck, the backward
-- being differentiable in the incoming gradient, and exact values from
-- PyTorch 1.13.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd

local G = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/grad_helpers.lua")
local seq, check_grads, expect_grads = G.seq, G.check_grads, G.expect_grads

---------------------------------------------------------------------------

describe("shape op gradients", function()
  it("view", function()
    check_grads(function(x) return x:view(4, -1) end, {{2, 3, 4}})
    check_grads(function(x) return x:view(6) end, {{2, 3}})
    -- torch: x.view(4, 6) for x (2,3,4)
    expect_grads(function(x) return x:view(4, 6) end, {{2, 3, 4}}, {{{2, 3, 4},
      {0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0,
       8.5, 9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0}}})
  end)

  it("reshape (of a non-contiguous tensor, which copies)", function()
    check_grads(function(x) return x:transpose(1, 2):reshape(6, 4) end, {{2, 3, 4}})
    check_grads(function(x) return x:reshape(-1) end, {{2, 3}})
    -- torch: x.transpose(0, 1).reshape(6, 4) for x (2,3,4)
    expect_grads(function(x) return x:transpose(1, 2):reshape(6, 4) end, {{2, 3, 4}}, {{{2, 3, 4},
      {0.5, 1.0, 1.5, 2.0, 4.5, 5.0, 5.5, 6.0, 8.5, 9.0, 9.5, 10.0, 2.5, 3.0, 3.5, 4.0,
       6.5, 7.0, 7.5, 8.0, 10.5, 11.0, 11.5, 12.0}}})
  end)

  it("expand (new leading dims, size-1 dims, -1)", function()
    check_grads(function(x) return x:expand(2, 2, 4, 3) end, {{2, 1, 3}})
    check_grads(function(x) return x:expand(3, -1) end, {{1, 4}})
    check_grads(function(x) return x:expand(2, 3) end, {{}})
    -- torch: x.expand(2, 2, 4, 3) for x (2,1,3)
    expect_grads(function(x) return x:expand(2, 2, 4, 3) end, {{2, 1, 3}}, {{{2, 1, 3},
      {70.0, 74.0, 78.0, 118.0, 122.0, 126.0}}})
  end)

  it("permute and transpose", function()
    check_grads(function(x) return x:permute(3, 1, 2) end, {{2, 3, 4}})
    check_grads(function(x) return x:permute(-1, -3, -2) end, {{2, 3, 4}})
    check_grads(function(x) return x:t() end, {{2, 3}})
    -- torch: x.permute(2, 0, 1) for x (2,3,4)
    expect_grads(function(x) return x:permute(3, 1, 2) end, {{2, 3, 4}}, {{{2, 3, 4},
      {0.5, 3.5, 6.5, 9.5, 1.0, 4.0, 7.0, 10.0, 1.5, 4.5, 7.5, 10.5, 2.0, 5.0, 8.0, 11.0,
       2.5, 5.5, 8.5, 11.5, 3.0, 6.0, 9.0, 12.0}}})
  end)

  it("squeeze (all dims, one dim, negative dim, a dim that is not 1)", function()
    check_grads(function(x) return x:squeeze() end, {{2, 1, 3, 1}})
    check_grads(function(x) return x:squeeze(-1) end, {{2, 1, 3, 1}})
    check_grads(function(x) return x:squeeze(2) end, {{2, 1, 3, 1}})
    check_grads(function(x) return x:squeeze(1) end, {{2, 1, 3, 1}})
    -- torch: x.squeeze(-1) and x.squeeze() for x (2,1,3,1)
    local expected = {{{2, 1, 3, 1}, {0.5, 1.0, 1.5, 2.0, 2.5, 3.0}}}
    expect_grads(function(x) return x:squeeze(-1) end, {{2, 1, 3, 1}}, expected)
    expect_grads(function(x) return x:squeeze() end, {{2, 1, 3, 1}}, expected)
  end)

  it("unsqueeze (front, back, negative)", function()
    check_grads(function(x) return x:unsqueeze(1) end, {{2, 3}})
    check_grads(function(x) return x:unsqueeze(-1) end, {{2, 3}})
    check_grads(function(x) return x:unsqueeze(-2) end, {{2, 3}})
    -- torch: x.unsqueeze(-1) for x (2,3)
    expect_grads(function(x) return x:unsqueeze(-1) end, {{2, 3}}, {{{2, 3},
      {0.5, 1.0, 1.5, 2.0, 2.5, 3.0}}})
  end)

  it("narrow (inner, first and last positions, negative dim and start)", function()
    check_grads(function(x) return x:narrow(2, 2, 3) end, {{3, 5}})
    check_grads(function(x) return x:narrow(1, 1, 2) end, {{3, 5}})
    check_grads(function(x) return x:narrow(-1, -2, 2) end, {{3, 5}})
    check_grads(function(x) return x:narrow(1, 1, 3) end, {{3, 5}})
    -- torch: x.narrow(1, 1, 3) for x (3,5)
    expect_grads(function(x) return x:narrow(2, 2, 3) end, {{3, 5}}, {{{3, 5},
      {0.0, 0.5, 1.0, 1.5, 0.0, 0.0, 2.0, 2.5, 3.0, 0.0, 0.0, 3.5, 4.0, 4.5, 0.0}}})
  end)

  it("select (negative dim and index, first, down to 0-d)", function()
    check_grads(function(x) return x:select(-1, -2) end, {{3, 4}})
    check_grads(function(x) return x:select(1, 1) end, {{3, 4}})
    check_grads(function(x) return x:select(1, 3) end, {{3}})
    -- torch: x.select(-1, -2) for x (3,4)
    expect_grads(function(x) return x:select(-1, -2) end, {{3, 4}}, {{{3, 4},
      {0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.5, 0.0}}})
  end)

  it("flip", function()
    check_grads(function(x) return x:flip(1, 3) end, {{2, 3, 4}})
    check_grads(function(x) return x:flip(-1) end, {{2, 3}})
    -- torch: x.flip([0, 2]) for x (2,3,4)
    expect_grads(function(x) return x:flip(1, 3) end, {{2, 3, 4}}, {{{2, 3, 4},
      {8.0, 7.5, 7.0, 6.5, 10.0, 9.5, 9.0, 8.5, 12.0, 11.5, 11.0, 10.5, 2.0, 1.5, 1.0, 0.5,
       4.0, 3.5, 3.0, 2.5, 6.0, 5.5, 5.0, 4.5}}})
  end)

  it("tile (more reps than dims, fewer, ones)", function()
    check_grads(function(x) return x:tile(2, 1, 3) end, {{2, 3}})
    check_grads(function(x) return x:tile(2) end, {{2, 3}})
    check_grads(function(x) return x:tile(1, 1) end, {{2, 3}})
    check_grads(function(x) return x:tile(3, 2) end, {{2, 1, 2}})
    -- torch: x.tile((2, 1, 3)) for x (2,3)
    expect_grads(function(x) return x:tile(2, 1, 3) end, {{2, 3}}, {{{2, 3},
      {39.0, 42.0, 45.0, 66.0, 69.0, 72.0}}})
  end)

  it("cat of 3 tensors with different sizes along the dim", function()
    local function cat2(a, b, c) return lg.cat({a, b, c}, 2) end
    check_grads(cat2, {{2, 1, 3}, {2, 3, 3}, {2, 2, 3}})
    check_grads(function(a, b, c) return lg.cat({a, b, c}, -1) end, {{2, 1}, {2, 3}, {2, 2}})
    check_grads(function(a, b) return lg.cat({a, b}) end, {{1, 2}, {3, 2}})
    -- torch: torch.cat([a, b, c], 1) for a (2,1,3), b (2,3,3), c (2,2,3)
    expect_grads(cat2, {{2, 1, 3}, {2, 3, 3}, {2, 2, 3}}, {
      {{2, 1, 3}, {0.5, 1.0, 1.5, 9.5, 10.0, 10.5}},
      {{2, 3, 3}, {2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 11.0, 11.5, 12.0, 12.5, 13.0,
                   13.5, 14.0, 14.5, 15.0}},
      {{2, 2, 3}, {6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 15.5, 16.0, 16.5, 17.0, 17.5, 18.0}}})
  end)

  it("cat gives each input a gradient of its own dtype; constants get none", function()
    local a = lg.ones(2, 2, {dtype = "float32", requires_grad = true})
    local b = lg.ones(2, 1, {dtype = "float64", requires_grad = true})
    local c = lg.zeros(2, 1, {dtype = "float64"})
    local y = lg.cat({a, b, c}, 2)
    assert.are.equal("float64", y.dtype)
    y:backward(seq(y.shape, 1))
    H.assert_tensor(a.grad, {2, 2}, "float32", {1, 2, 5, 6})
    H.assert_tensor(b.grad, {2, 1}, "float64", {3, 7})
    assert.is_nil(c.grad)
  end)

  it("stack (unsqueeze + cat) and split (narrow) compose", function()
    check_grads(function(a, b) return lg.stack({a, b}, 2) end, {{2, 3}, {2, 3}})
    check_grads(function(x) return x:split(2, 2)[2] end, {{2, 5}})
  end)
end)
