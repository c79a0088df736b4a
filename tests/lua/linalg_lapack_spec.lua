-- linalg_lapack_spec.lua: lg.linalg against PyTorch 1.13
-- (tests/fixtures/generate_linalg.py -> linalg_ops.lua): forward values (also
-- on non-contiguous inputs), first derivatives, second derivatives (a
-- Hessian-vector product through create_graph), jvp (func.jvp, forward
-- mode) and vmap (func.vmap over a batch of 3), on the same named functions
-- as the generator, which return gauge-invariant quantities for eigen- and
-- singular vectors. Then the error cases.
local lg = require "luagrad"
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"
local cases = dofile(root .. "/tests/fixtures/linalg_ops.lua")
local LA, func = lg.linalg, lg.func

local function mT(x) return x:transpose(-2, -1) end
local function sym(a) return (a + mT(a)) / 2 end
local function coeffs(n, dtype) return lg.arange(1, n + 1, {dtype = dtype}) / n end

local function eigh_inv(a)
  local ev, q = LA.eigh(sym(a))
  local c = coeffs(ev:size(-1), a.dtype)
  return {ev, (q * c):matmul(mT(q))}
end

local function svd_inv(a)
  local u, s, vh = LA.svd(a, {full_matrices = false})
  local c = coeffs(s:size(-1), a.dtype)
  return {s, (u * c):matmul(vh), (u * c):matmul(mT(u))}
end

-- Q and R with R's diagonal made positive (the sign gauge fixed)
local function qr_pos(a, mode)
  local q, r = LA.qr(a, {mode = mode})
  local k = math.min(r:size(-2), r:size(-1))
  local rk = r:narrow(-2, 1, k):narrow(-1, 1, k)
  local d = (rk * lg.eye(k, {dtype = a.dtype})):sum(-1):sign()
  local function padded(len)
    if len == k then return d end
    local shape = H.shape(d)
    shape[#shape] = len - k
    return lg.cat({d, lg.ones(shape, {dtype = a.dtype})}, -1)
  end
  return {q * padded(q:size(-1)):unsqueeze(-2), r * padded(r:size(-2)):unsqueeze(-1)}
end

local INF = math.huge
local FUNCS = {
  inv = function(a) return {LA.inv(a)} end,
  solve = function(a, b) return {LA.solve(a, b)} end,
  solve_vec = function(a, b) return {LA.solve(a, b)} end,
  solve_right = function(a, b) return {LA.solve(a, b, {left = false})} end,
  det = function(a) return {LA.det(a)} end,
  slogdet = function(a) local s, l = LA.slogdet(a) return {l, s} end,
  logdet = function(a) return {lg.logdet(a)} end,
  cholesky = function(a) return {LA.cholesky(sym(a))} end,
  cholesky_upper = function(a) return {LA.cholesky(sym(a), {upper = true})} end,
  cholesky_solve = function(a, b) return {lg.cholesky_solve(b, LA.cholesky(sym(a)))} end,
  qr = function(a) return qr_pos(a) end,
  qr_complete = function(a) return qr_pos(a, "complete") end,
  qr_r = function(a) local _, r = LA.qr(a, {mode = "r"}) return {r:abs()} end,
  eigh = eigh_inv,
  eigvalsh = function(a) return {LA.eigvalsh(sym(a))} end,
  svd = svd_inv,
  svd_full = function(a) local _, s = LA.svd(a) return {s} end,
  svdvals = function(a) return {LA.svdvals(a)} end,
  pinv = function(a) return {LA.pinv(a)} end,
  lstsq = function(a, b) return {(LA.lstsq(a, b))} end,
  lstsq_gelsd = function(a, b) local x, r = LA.lstsq(a, b, {driver = "gelsd"}) return {x, r} end,
  matrix_exp = function(a) return {LA.matrix_exp(a)} end,
  norm_fro = function(a) return {LA.matrix_norm(a)} end,
  norm_nuc = function(a) return {LA.matrix_norm(a, {ord = "nuc"})} end,
  norm_2 = function(a) return {LA.matrix_norm(a, {ord = 2})} end,
  norm_m2 = function(a) return {LA.matrix_norm(a, {ord = -2})} end,
  norm_1 = function(a) return {LA.matrix_norm(a, {ord = 1})} end,
  norm_m1 = function(a) return {LA.matrix_norm(a, {ord = -1})} end,
  norm_inf = function(a) return {LA.matrix_norm(a, {ord = INF})} end,
  norm_minf = function(a) return {LA.matrix_norm(a, {ord = -INF})} end,
  norm_dims = function(a) return {LA.matrix_norm(a, {ord = 1, dim = {1, 3}, keepdim = true})} end,
  solve_tri = function(a, b) return {LA.solve_triangular(a, b, {upper = false})} end,
  solve_tri_upper_right_unit = function(a, b)
    return {LA.solve_triangular(a, b, {upper = true, left = false, unitriangular = true})}
  end,
  matrix_power_3 = function(a) return {LA.matrix_power(a, 3)} end,
  matrix_power_m2 = function(a) return {LA.matrix_power(a, -2)} end,
  multi_dot = function(a, b, c) return {LA.multi_dot({a, b, c})} end,
  cond = function(a) return {LA.cond(a)} end,
  cond_fro = function(a) return {LA.cond(a, {ord = "fro"})} end,
  vnorm_2 = function(x) return {LA.vector_norm(x)} end,
  vnorm_1_dim = function(x) return {LA.vector_norm(x, {ord = 1, dim = -1})} end,
  vnorm_3_keep = function(x) return {LA.vector_norm(x, {ord = 3, dim = {1, 2}, keepdim = true})} end,
  vnorm_inf = function(x) return {LA.vector_norm(x, {ord = INF, dim = 1})} end,
  vnorm_minf = function(x) return {LA.vector_norm(x, {ord = -INF})} end,
  vnorm_0 = function(x) return {LA.vector_norm(x, {ord = 0, dim = 2})} end,
}

local function tensors(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = H.tensor(e) end
  return out
end

-- the same values in a transposed layout (not contiguous)
local function strided(t)
  if t:dim() < 2 then return t end
  return mT(mT(t):contiguous())
end

local function tol(case)
  if case.inputs[1].dtype == "float32" then return 1e-4, 1e-4 end
  return 1e-8, 1e-9
end

local function check_outs(outs, expected, rtol, atol, label)
  assert.are.equal(#expected, #outs, label .. ": number of outputs")
  for k, e in ipairs(expected) do
    H.assert_close(outs[k], e, rtol, atol, ("%s %d"):format(label, k))
  end
end

describe("lg.linalg against PyTorch", function()
  for _, case in ipairs(cases) do
    local fn = FUNCS[case.fn]
    local rtol, atol = tol(case)
    it(case.name .. ": forward", function()
      local xs = tensors(case.inputs)
      check_outs(fn(table.unpack(xs)), case.out, rtol, atol, "output")
      local ys = {}
      for i, x in ipairs(xs) do ys[i] = strided(x) end
      check_outs(fn(table.unpack(ys)), case.out, rtol, atol, "output (strided)")
    end)
    if case.grads then
      it(case.name .. ": first and second derivatives", function()
        local xs = tensors(case.inputs)
        for _, x in ipairs(xs) do x:requires_grad_() end
        local outs = fn(table.unpack(xs))
        local loss = 0
        for k, o in ipairs(outs) do loss = loss + (o * H.tensor(case.weights[k])):sum() end
        local gs = lg.autograd.grad(loss, xs, {create_graph = true})
        for i, g in ipairs(gs) do H.assert_close(g, case.grads[i], 1e-7, 1e-8, "grad " .. i) end
        if case.hvp then
          local total = 0
          for i, g in ipairs(gs) do total = total + (g * H.tensor(case.v[i])):sum() end
          local hs = lg.autograd.grad(total, xs, {allow_unused = true})
          for i = 1, #xs do
            H.assert_close(hs[i] or lg.zeros_like(xs[i]), case.hvp[i], 1e-6, 1e-7, "hvp " .. i)
          end
        end
      end)
      it(case.name .. ": jvp", function()
        local _, touts = func.jvp(function(...) return fn(...) end, tensors(case.inputs),
                                  tensors(case.tangents))
        for k, e in ipairs(case.jvp) do H.assert_close(touts[k], e, 1e-7, 1e-8, "jvp " .. k) end
      end)
    end
    if case.vmap_inputs then
      it(case.name .. ": vmap", function()
        local outs = func.vmap(function(...) return fn(...) end)(table.unpack(tensors(case.vmap_inputs)))
        check_outs(outs, case.vmap_out, rtol, atol, "vmap output")
      end)
    end
  end
end)

describe("lg.linalg errors", function()
  it("singular matrices", function()
    local a = lg.tensor({{1, 2}, {2, 4}}, {dtype = "float64"})
    H.raises("linalg.inv: the matrix is singular (U[2,2] is zero)", LA.inv, a)
    local b = lg.stack({lg.eye(2, {dtype = "float64"}), a})
    H.raises("linalg.inv: batch element {2}: the matrix is singular", LA.inv, b)
    H.raises("linalg.solve: batch element {2}: the matrix is singular", LA.solve, b, lg.ones(2, 2, 1, {dtype = "float64"}))
    -- PyTorch's documented results: det 0, slogdet (0, -inf)
    assert.are.equal(0, LA.det(a):item())
    local s, l = LA.slogdet(a)
    assert.are.equal(0, s:item())
    assert.are.equal(-math.huge, l:item())
    -- det's gradient at a singular matrix is refused, naming why
    local x = a:clone():requires_grad_()
    H.raises("linalg.slogdet (also det, logdet): the gradient needs an invertible matrix "
             .. "(linalg.inv: the matrix is singular (U[2,2] is zero))",
             function() LA.det(x):backward() end)
  end)
  it("non-square, too few dims, integer dtype", function()
    H.raises("linalg.inv: expected square matrices, got shape {2,3}", LA.inv, lg.zeros(2, 3))
    H.raises("linalg.det: expected square matrices", LA.det, lg.zeros(4, 2, 3))
    H.raises("linalg.cholesky: expected square matrices", LA.cholesky, lg.zeros(2, 3))
    H.raises("linalg.eigh: expected square matrices", LA.eigh, lg.zeros(2, 3))
    H.raises("linalg.matrix_exp: expected square matrices", LA.matrix_exp, lg.zeros(2, 3))
    H.raises("linalg.svd: expected a matrix or a batch of matrices (at least 2 dims), got shape {3}",
             LA.svd, lg.zeros(3))
    H.raises("linalg.qr: expected a float32 or float64 tensor, got int64", LA.qr,
             lg.zeros(2, 2, {dtype = "int64"}))
    H.raises("linalg.inv: expected a tensor as A, got number", LA.inv, 3)
  end)
  it("cholesky of a matrix that is not positive-definite names the minor", function()
    local a = lg.tensor({{4, 2, 0}, {2, 1, 0}, {0, 0, 1}}, {dtype = "float64"})
    H.raises("linalg.cholesky: the factorization could not be completed because the input "
             .. "is not positive-definite (the leading minor of order 2 is not positive-definite)",
             LA.cholesky, a)
    H.raises("linalg.cholesky: batch element {2}: ", LA.cholesky,
             lg.stack({lg.eye(3, {dtype = "float64"}), a}))
  end)
  it("solve and lstsq with shapes that don't fit", function()
    local a = lg.eye(3, {dtype = "float64"})
    H.raises("linalg.solve: A of shape {3,3} and B of shape {4,2} don't fit (B needs 3 rows)",
             LA.solve, a, lg.zeros(4, 2, {dtype = "float64"}))
    H.raises("linalg.solve: expected square matrices as A, got shape {3,2}", LA.solve,
             lg.zeros(3, 2, {dtype = "float64"}), lg.zeros(3, 1, {dtype = "float64"}))
    H.raises("linalg.solve: the batch dims of A {2,3,3} and B {4,3,1} are not broadcastable",
             LA.solve, lg.zeros(2, 3, 3, {dtype = "float64"}), lg.zeros(4, 3, 1, {dtype = "float64"}))
    H.raises("linalg.solve: A and B must have one dtype, got float64 and float32",
             LA.solve, a, lg.zeros(3, 1))
    H.raises("linalg.lstsq: A of shape {3,3} and B of shape {4,1} don't fit", LA.lstsq, a,
             lg.zeros(4, 1, {dtype = "float64"}))
  end)
  it("bad options", function()
    local a = lg.eye(3, {dtype = "float64"})
    H.raises('linalg.qr: expected mode "reduced", "complete" or "r", got string "full"', LA.qr, a,
             {mode = "full"})
    H.raises('linalg.eigh: expected UPLO "L" or "U", got string "X"', LA.eigh, a, {UPLO = "X"})
    H.raises("linalg.matrix_norm: expected ord", LA.matrix_norm, a, {ord = 3})
    H.raises('linalg.svd: unknown option "full"', LA.svd, a, {full = true})
    H.raises("linalg.vector_norm: dim 3 out of range for a tensor of 2 dims", LA.vector_norm, a,
             {dim = 3})
    H.raises('linalg.lstsq: expected driver', LA.lstsq, a, a, {driver = "x"})
    H.raises("linalg.solve_triangular: expected the option upper (a boolean), got nil",
             LA.solve_triangular, a, a)
    H.raises("linalg.matrix_power: expected an integer as k, got number 0.5", LA.matrix_power, a, 0.5)
    H.raises("linalg.multi_dot: expected an array of at least two tensors", LA.multi_dot, {a})
  end)
  it("qr derivatives that PyTorch refuses", function()
    local a = lg.randn(4, 2, {dtype = "float64"}):requires_grad_()
    local _, r = LA.qr(a, {mode = "r"})
    H.raises("linalg.qr: the derivative of linalg.qr depends on Q", function() r:sum():backward() end)
    local q = LA.qr(a, {mode = "complete"})
    H.raises("linalg.qr: the QR decomposition is not differentiable when mode is \"complete\" and nrows > ncols",
             function() q:sum():backward() end)
  end)
end)

describe("lg.linalg extras", function()
  it("torch-namespace names and methods", function()
    local a = lg.tensor({{4, 1}, {1, 3}}, {dtype = "float64"})
    H.agree(lg.inverse(a), LA.inv(a))
    H.agree(a:inverse(), LA.inv(a))
    H.agree(lg.det(a), LA.det(a))
    H.agree(a:matrix_exp(), LA.matrix_exp(a))
    H.agree(lg.pinverse(a), LA.pinv(a), 1e-12)
    local s, l = lg.slogdet(a)
    H.agree(s, lg.tensor(1, {dtype = "float64"}))
    H.agree(l, lg.tensor(math.log(11), {dtype = "float64"}), 1e-14)
  end)
  it("matrix_rank, pinv of a rank-deficient matrix, lstsq's rank and empty results", function()
    local a = lg.tensor({{1, 2}, {2, 4}, {3, 6}}, {dtype = "float64"})
    assert.are.equal(1, LA.matrix_rank(a):item())
    local p = LA.pinv(a)
    H.agree(a:matmul(p):matmul(a), a, 1e-12, "A A+ A = A")
    local x, res, rank, sv = LA.lstsq(a, lg.ones(3, 1, {dtype = "float64"}))
    assert.are.equal(1, rank:item())
    assert.are.same({0}, H.shape(res))
    assert.are.same({0}, H.shape(sv))
    H.agree(x, p:matmul(lg.ones(3, 1, {dtype = "float64"})), 1e-12, "minimum-norm solution")
  end)
  it("lg.linalg.norm picks a vector or a matrix norm", function()
    local a = lg.tensor({{3, 4}, {0, 0}}, {dtype = "float64"})
    assert.are.equal(5, LA.norm(a):item())
    assert.are.equal(7, LA.norm(a, {ord = math.huge}):item())
    assert.are.equal(4, LA.norm(a, {ord = math.huge, dim = -1})[1])
  end)
  it("matrix_exp of a diagonal and of a nilpotent matrix", function()
    local d = lg.tensor({{1, 0}, {0, -2}}, {dtype = "float64"})
    H.agree(LA.matrix_exp(d), lg.tensor({{math.exp(1), 0}, {0, math.exp(-2)}}, {dtype = "float64"}), 1e-14)
    local n = lg.tensor({{0, 1}, {0, 0}}, {dtype = "float64"})
    H.agree(LA.matrix_exp(n * 50), lg.tensor({{1, 50}, {0, 1}}, {dtype = "float64"}), 1e-12)
  end)
end)
