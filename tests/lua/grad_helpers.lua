-- grad_helpers.lua: the gradient checks shared by the grad_*_spec files:
-- gradcheck, gradgradcheck, the backward being differentiable in the
-- incoming gradient, and exact values against PyTorch 1.13.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd
local assert = require "luassert" -- busted gives specs, not dofile'd files, its assert

local G = {}

local function numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

-- float64 (1..n) * scale + shift in shape: the inputs of the PyTorch checks
function G.seq(shape, scale, shift)
  return (lg.arange(1, numel(shape) + 1, {dtype = "float64"}) * scale + (shift or 0)):reshape(shape)
end

-- float64 leaves of the given shapes, with fixed random values
function G.leaves(shapes)
  lg.manual_seed(11)
  local xs = {}
  for i, s in ipairs(shapes) do xs[i] = lg.randn(s, {dtype = "float64"}):requires_grad_() end
  return xs
end

-- Clones of the gradients of f at xs for the upstream gradient v, recorded.
function G.vjp(f, xs, v)
  local gs = A.grad(f(table.unpack(xs)), xs, {grad_outputs = v, create_graph = true})
  for i = 1, #xs do gs[i] = gs[i]:clone() end
  return table.unpack(gs, 1, #xs)
end

-- gradcheck of f; gradgradcheck of f(...)^2 (so the vjp depends on the
-- inputs through this op's rule); gradcheck of the vjp in its seed, which
-- fails when a rule's result is not recorded under create_graph.
-- The :clone() keeps gradcheck from reading a view output through an
-- aliasing reshape.
function G.check_grads(f, shapes)
  local xs = G.leaves(shapes)
  assert.is_true(A.gradcheck(function(...) return f(...):clone() end, xs))
  assert.is_true(A.gradgradcheck(function(...) return f(...):square() end, xs))
  lg.manual_seed(12)
  local v = lg.randn(f(table.unpack(xs)).shape, {dtype = "float64"}):requires_grad_()
  assert.is_true(A.gradcheck(function(u) return G.vjp(f, xs, u) end, {v}))
end

-- The gradients of f at inputs seq(shape, 0.25, -1) for the upstream
-- gradient seq(output shape, 0.5) against PyTorch's: expected[i] is
-- {shape, values} of input i's gradient.
function G.expect_grads(f, shapes, expected)
  local xs = {}
  for i, s in ipairs(shapes) do xs[i] = G.seq(s, 0.25, -1):requires_grad_() end
  local y = f(table.unpack(xs))
  local gs = A.grad(y, xs, {grad_outputs = G.seq(y.shape, 0.5)})
  for i, e in ipairs(expected) do
    H.assert_tensor(gs[i], e[1], "float64", e[2], 1e-12, 1e-12, "gradient of input " .. i)
  end
end

return G
