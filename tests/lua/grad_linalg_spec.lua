-- Gradients of matmul in every torch.matmul shape case (1-D operands,
-- matrices, batched, broadcast batch dims): gradcheck, gradgradcheck, the
-- backward being differentiable in the incoming gradient, exact values
-- from PyTorch 1.13.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd

local G = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/grad_helpers.lua")
local seq, check_grads, expect_grads = G.seq, G.check_grads, G.expect_grads

---------------------------------------------------------------------------

describe("matmul gradients", function()
  local function matmul(a, b) return lg.matmul(a, b) end
  -- {name, a's shape, b's shape, PyTorch's grads of a and b}
  local CASES = {
    {"matrix @ matrix", {2, 3}, {3, 4},
     {-1.25, 3.75, 8.75, -4.25, 8.75, 21.75},
     {-0.375, -0.75, -1.125, -1.5, 0.375, 0.25, 0.125, 0.0, 1.125, 1.25, 1.375, 1.5}},
    {"vector @ vector", {3}, {3},
     {-0.375, -0.25, -0.125}, {-0.375, -0.25, -0.125}},
    {"matrix @ vector", {2, 3}, {3},
     {-0.375, -0.25, -0.125, -0.75, -0.5, -0.25}, {-0.375, 0.0, 0.375}},
    {"vector @ matrix", {3}, {3, 4},
     {-1.25, 3.75, 8.75},
     {-0.375, -0.75, -1.125, -1.5, -0.25, -0.5, -0.75, -1.0, -0.125, -0.25, -0.375, -0.5}},
    {"vector @ batch", {3}, {2, 3, 4},
     {33.5, 51.5, 69.5},
     {-0.375, -0.75, -1.125, -1.5, -0.25, -0.5, -0.75, -1.0, -0.125, -0.25, -0.375, -0.5,
      -1.875, -2.25, -2.625, -3.0, -1.25, -1.5, -1.75, -2.0, -0.625, -0.75, -0.875, -1.0}},
    {"batch @ vector", {2, 2, 3}, {3},
     {-0.375, -0.25, -0.125, -0.75, -0.5, -0.25, -1.125, -0.75, -0.375, -1.5, -1.0, -0.5},
     {3.75, 5.0, 6.25}},
    {"broadcast batch dims", {2, 1, 2, 3}, {3, 3, 2},
     {26.625, 34.875, 43.125, 31.875, 43.125, 54.375, 58.125, 84.375, 110.625, 63.375,
      92.625, 121.875},
     {15.75, 16.5, 19.75, 21.0, 23.75, 25.5, 18.75, 19.5, 24.75, 26.0, 30.75, 32.5, 21.75,
      22.5, 29.75, 31.0, 37.75, 39.5}},
    {"matrix @ batch", {2, 3}, {2, 3, 2},
     {4.0, 7.5, 11.0, 4.5, 10.0, 15.5},
     {-0.375, -0.75, 0.125, 0.0, 0.625, 0.75, -1.875, -2.25, -0.375, -0.5, 1.125, 1.25}},
  }
  for _, c in ipairs(CASES) do
    local name, sa, sb, ga, gb = table.unpack(c)
    it(name .. " (" .. H.shape_str(sa) .. " @ " .. H.shape_str(sb) .. ")", function()
      check_grads(matmul, {sa, sb})
      -- torch: torch.matmul(a, b), a and b from seq(shape, 0.25, -1),
      -- upstream gradient seq(out shape, 0.5)
      expect_grads(matmul, {sa, sb}, {{sa, ga}, {sb, gb}})
    end)
  end

  it("batch @ batch with a size-1 batch dim on each side", function()
    check_grads(matmul, {{1, 3, 2, 3}, {2, 1, 3, 2}})
    check_grads(matmul, {{4, 1}, {2, 1, 3}})
  end)

  it("mm, mv, dot, outer, bmm go through matmul", function()
    check_grads(function(a, b) return a:mm(b) end, {{2, 3}, {3, 2}})
    check_grads(function(a, b) return a:mv(b) end, {{2, 3}, {3}})
    check_grads(function(a, b) return a:dot(b) end, {{3}, {3}})
    check_grads(function(a, b) return a:outer(b) end, {{3}, {2}})
    check_grads(function(a, b) return a:bmm(b) end, {{2, 2, 3}, {2, 3, 2}})
  end)

  it("an integer operand gets no gradient; the other one its own shape and dtype", function()
    local a = seq({2, 3}, 0.25, -1):requires_grad_()
    local b = lg.tensor({{1, 2}, {3, 4}, {5, 6}}, {dtype = "int64"})
    local y = lg.matmul(a, b)
    assert.are.equal("float64", y.dtype)
    y:backward(lg.ones(2, 2, {dtype = "float64"}))
    -- torch: grad of a = ones(2, 2) @ b^T
    H.assert_tensor(a.grad, {2, 3}, "float64", {3, 7, 11, 3, 7, 11})
    assert.is_false(b.requires_grad)
    assert.is_nil(b.grad)
  end)

  it("mixed float32 and float64 operands get gradients of their own dtype", function()
    local a = lg.ones(2, 3, {dtype = "float32", requires_grad = true})
    local b = lg.ones(3, {dtype = "float64", requires_grad = true})
    lg.matmul(a, b):backward(lg.tensor({1, 2}, {dtype = "float64"}))
    H.assert_tensor(a.grad, {2, 3}, "float32", {1, 1, 1, 2, 2, 2})
    H.assert_tensor(b.grad, {3}, "float64", {3, 3, 3})
  end)

  it("second derivative of sum((a @ b)^2) in closed form", function()
    -- d/da of grad_a = 2 (a b) b^T along a direction u is 2 (u b) b^T
    local a = seq({2, 3}, 0.25, -1):requires_grad_()
    local b = seq({3, 2}, 0.5, -1)
    local ga = A.grad(lg.matmul(a, b):square(), {a},
                      {grad_outputs = lg.ones(2, 2, {dtype = "float64"}), create_graph = true})[1]
    local u = seq({2, 3}, 1)
    local hu = A.grad(ga, {a}, {grad_outputs = u})[1]
    local expected = lg.matmul(lg.matmul(u, b), b:t()) * 2
    H.assert_tensor(hu, {2, 3}, "float64", H.values(expected), 1e-12, 1e-12)
  end)

  it("the fused linear op (F.linear): gradients, second derivatives, matmul + add values", function()
    local function linear(x, w, b) return lg._linear(x, w, b) end
    check_grads(linear, {{4, 3}, {2, 3}, {2}})          -- a batch of rows
    check_grads(linear, {{2, 2, 3}, {5, 3}, {5}})       -- extra leading dims
    check_grads(linear, {{3}, {2, 3}, {2}})             -- one sample
    check_grads(function(x, w) return lg._linear(x, w) end, {{4, 3}, {2, 3}})
    local x, w, b = seq({4, 3}, 0.25, -1), seq({2, 3}, 0.5, -1), seq({2}, 1)
    H.assert_tensor(linear(x, w, b), {4, 2}, "float64", H.values(lg.matmul(x, w:t()) + b),
                    1e-12, 1e-12)
  end)
end)
