-- scripts/examples/neural_tangent_kernel.lua: the torch.func "Neural
-- Tangent Kernels" tutorial in luagrad. Teaches: treating a module as a
-- function of its parameters with func.functional_call, per-example
-- jacobians with respect to every parameter (func.vmap of func.jacrev over
-- a table of parameters), contracting them into the empirical NTK
-- Theta(x1, x2) = J(x1) J(x2)^T, and the same kernel without forming any
-- jacobian, from NTK-vector products (func.vjp then func.jvp). Checked
-- against functorch's kernel on the same weights
-- (tests/fixtures/generate_examples.py).
--
-- Run: build/luagrad scripts/examples/neural_tangent_kernel.lua [--short]
-- (--short, the suite's run, skips the larger timing comparison).
--
-- The contraction is written with reshape and matmul: the tutorial's
-- einsum("Naf,Mbf->NMab", j1, j2) is the same product of the flattened
-- jacobians. (lg.einsum is being added on another branch; once it is on
-- main this can read lg.einsum("Naf,Mbf->NMab", j1, j2).)
local lg = require "luagrad"
local nn, func = lg.nn, lg.func
local R = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/reference.lua")

local ref = R.load("ntk")
local net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                          nn.Linear(16, 2)):double()
local params = R.named(ref.params) -- "1.weight", "1.bias", "3.weight", ...
local x1, x2 = R.tensor(ref.x1), R.tensor(ref.x2)

-- The network on ONE input, as a function of its parameters.
local function fnet_single(p, x)
  return func.functional_call(net, p, x:unsqueeze(1)):squeeze(1)
end

-- Jacobian contraction: for every parameter, the per-example jacobians
-- j1 (N, O, ...) and j2 (M, O, ...) flattened to (N*O, P) and (M*O, P);
-- their product summed over the parameters is the kernel (N, M, O, O).
local function ntk_jacobian(p, a, b)
  local per_example = func.vmap(func.jacrev(fnet_single), {in_dims = {false, 1}})
  local j1, j2 = per_example(p, a), per_example(p, b)
  local N, M, O = a:size(1), b:size(1), nil
  local sum
  for name in pairs(p) do
    O = j1[name]:size(2)
    local k = lg.matmul(j1[name]:reshape(N * O, -1), j2[name]:reshape(M * O, -1):t())
    k = k:view(N, O, M, O):permute(1, 3, 2, 4)
    sum = sum and sum + k or k
  end
  return sum
end

-- NTK-vector products: row k of Theta(a_i, b_j) is J(b_j) (J(a_i)^T e_k),
-- a vjp at a_i followed by a jvp at b_j; no jacobian is ever stored. (The
-- tutorial vmaps over i, j and the basis; plain loops read more simply.)
local function ntk_vps(p, a, b)
  local rows = {}
  for i = 1, a:size(1) do
    local out, vjp_fn = func.vjp(function(q) return fnet_single(q, a[i]) end, p)
    local O = out:numel()
    local basis = lg.eye(O, {dtype = out.dtype})
    local per_j = {}
    for j = 1, b:size(1) do
      local slices = {}
      for k = 1, O do
        local cot = vjp_fn(basis[k])
        local _, jv = func.jvp(function(q) return fnet_single(q, b[j]) end, {p}, {cot})
        slices[k] = jv
      end
      per_j[j] = lg.stack(slices)
    end
    rows[i] = lg.stack(per_j)
  end
  return lg.stack(rows)
end

print(("neural_tangent_kernel: an MLP 4-16-16-2 (%d parameters), x1 {5, 4}, x2 {3, 4}")
  :format(net:num_parameters()))
local expected = R.tensor(ref.ntk)
local K = ntk_jacobian(params, x1, x2)
R.check("NTK by jacobian contraction", K, expected, 1e-10)
R.check("NTK by vjp/jvp products", ntk_vps(params, x1, x2), expected, 1e-10)
-- the kernel of a set with itself is symmetric positive semi-definite
local Kxx = ntk_jacobian(params, x1, x1):permute(1, 3, 2, 4):reshape(10, 10)
R.check("Theta(x1, x1)", Kxx, Kxx:t(), 1e-10, "its transpose")
print(("  Theta(x1[1], x2[1]) = {{%.4f, %.4f}, {%.4f, %.4f}}"):format(
  K[{1, 1, 1, 1}], K[{1, 1, 1, 2}], K[{1, 1, 2, 1}], K[{1, 1, 2, 2}]))

if not R.short() then
  local a, b = lg.randn(32, 4, {dtype = "float64"}), lg.randn(32, 4, {dtype = "float64"})
  local t0 = lg.wall_time()
  ntk_jacobian(params, a, b)
  local t1 = lg.wall_time()
  ntk_vps(params, a:narrow(1, 1, 4), b:narrow(1, 1, 4))
  local t2 = lg.wall_time()
  print(("  32 x 32 kernel by contraction: %.1f ms; 4 x 4 by products: %.1f ms")
    :format(1e3 * (t1 - t0), 1e3 * (t2 - t1)))
end
print("neural_tangent_kernel: ok")
