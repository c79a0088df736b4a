-- scripts/examples/jacobians_hessians.lua: the torch.func "Jacobians,
-- Hessians, hvp, vhp, and more" tutorial in luagrad. Teaches: func.jacrev
-- (reverse mode, one vjp per output row) and func.jacfwd (forward mode, one
-- jvp per input column) on a small tanh network, the jacobian with respect
-- to a weight (argnums), batched jacobians with func.vmap, func.hessian
-- (jacfwd of jacrev) and a Hessian-vector product by forward-over-reverse
-- (func.jvp of func.grad) without forming the Hessian. Every result is
-- checked against functorch's on the same weights
-- (tests/fixtures/generate_examples.py).
--
-- Run: build/luagrad scripts/examples/jacobians_hessians.lua [--short]
-- (--short, the suite's run, skips the timing of jacrev against jacfwd).
local lg = require "luagrad"
local func = lg.func
local R = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/reference.lua")

local ref = R.load("jacobians_hessians")
local W1, b1, W2, b2 = R.tensor(ref.W1), R.tensor(ref.b1), R.tensor(ref.W2), R.tensor(ref.b2)
local x, v, xs = R.tensor(ref.x), R.tensor(ref.v), R.tensor(ref.xs)

-- f: R^3 -> R^2, a one-hidden-layer network with fixed weights.
local function f(x_)
  return lg.mv(W2, lg.tanh(lg.mv(W1, x_) + b1)) + b2
end
-- the same network as a function of its first weight
local function f_w1(w1, x_)
  return lg.mv(W2, lg.tanh(lg.mv(w1, x_) + b1)) + b2
end
-- a scalar function of x for the Hessian-vector product
local function g(x_) return (f(x_) ^ 2):sum() end

print("jacobians_hessians: f: R^3 -> R^2, f(x) = W2 tanh(W1 x + b1) + b2")
R.check("f(x)", f(x), R.tensor(ref.f))

-- jacrev: J[i][j] = d f_i / d x_j, built from vjps (one per output).
local J = func.jacrev(f)(x)
R.check("jacrev(f)(x)  {2, 3}", J, R.tensor(ref.jacrev))
-- jacfwd: the same matrix from jvps (one per input).
R.check("jacfwd(f)(x)  {2, 3}", func.jacfwd(f)(x), R.tensor(ref.jacfwd))
-- argnums picks the argument: the jacobian with respect to W1 (2 x 8 x 3).
R.check("jacrev(f_w1, {argnums = 1})", func.jacrev(f_w1, {argnums = 1})(W1, x),
        R.tensor(ref.jacobian_W1))
-- vmap over a batch of inputs: one jacobian per row of xs.
R.check("vmap(jacrev(f))(xs)  {5, 2, 3}", func.vmap(func.jacrev(f))(xs),
        R.tensor(ref.batched_jacobian))
-- hessian = jacfwd(jacrev(f)): second derivatives, {2, 3, 3} for f's two outputs.
R.check("hessian(f)(x)  {2, 3, 3}", func.hessian(f)(x), R.tensor(ref.hessian))
-- hvp: forward-over-reverse, jvp of grad(g) along v; luagrad's jvp takes
-- arrays of primals and tangents and returns output, tangent_out.
local _, hv = func.jvp(func.grad(g), {x}, {v})
R.check("hvp: jvp(grad(g), {x}, {v})", hv, R.tensor(ref.hvp))
-- the same product from the full Hessian, for comparison
R.check("hessian(g)(x) @ v", lg.mv(func.hessian(g)(x), v), R.tensor(ref.hvp), 1e-9)

if not R.short() then
  -- Which mode is faster depends on the shape: jacrev costs one pass per
  -- output, jacfwd one per input. A wide map (many inputs, few outputs)
  -- favours jacrev; a tall one favours jacfwd.
  local function time(fn, n)
    local t0 = lg.wall_time()
    for _ = 1, n do fn() end
    return (lg.wall_time() - t0) / n
  end
  local Wwide = lg.randn(4, 512, {dtype = "float64"})
  local wide = function(z) return lg.mv(Wwide, z):tanh() end
  local zw = lg.randn(512, {dtype = "float64"})
  local Wtall = lg.randn(512, 4, {dtype = "float64"})
  local tall = function(z) return lg.mv(Wtall, z):tanh() end
  local zt = lg.randn(4, {dtype = "float64"})
  print(("  R^512 -> R^4: jacrev %.2f ms, jacfwd %.2f ms"):format(
    1e3 * time(function() return func.jacrev(wide)(zw) end, 20),
    1e3 * time(function() return func.jacfwd(wide)(zw) end, 20)))
  print(("  R^4 -> R^512: jacrev %.2f ms, jacfwd %.2f ms"):format(
    1e3 * time(function() return func.jacrev(tall)(zt) end, 20),
    1e3 * time(function() return func.jacfwd(tall)(zt) end, 20)))
end
print("jacobians_hessians: ok")
