-- Gradients of lg.linalg against central finite differences (float64):
-- gradcheck (first derivatives), gradgradcheck (second derivatives through
-- create_graph), and the jvp rules against the same differences
-- (func.jvp vs a difference quotient). Inputs are shifted to be well
-- conditioned (SPD for cholesky and eigh), and eigen- and singular vectors
-- enter through gauge-invariant quantities, as the rules' caveats require
-- (tests/lua/linalg_lapack_spec.lua compares the same rules with PyTorch).
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A, LA, func = lg.autograd, lg.linalg, lg.func

local function mT(x) return x:transpose(-2, -1) end
local function eye(n) return lg.eye(n, {dtype = "float64"}) end
local function spd(a) return a:matmul(mT(a)) + eye(a:size(-1)) * a:size(-1) end
local function shifted(a) return a + eye(a:size(-1)) * 3 end
local function coeffs(n) return lg.arange(1, n + 1, {dtype = "float64"}) / n end

local function leaves(shapes)
  lg.manual_seed(23)
  local xs = {}
  for i, s in ipairs(shapes) do xs[i] = lg.randn(s, {dtype = "float64"}):requires_grad_() end
  return xs
end

-- gradcheck and gradgradcheck of f, and f's jvp against a difference quotient
local function check(f, shapes)
  local xs = leaves(shapes)
  assert.is_true(A.gradcheck(f, xs))
  assert.is_true(A.gradgradcheck(f, xs))
  lg.manual_seed(24)
  local ts = {}
  for i, x in ipairs(xs) do ts[i] = lg.randn(x.shape, {dtype = "float64"}) end
  local prim = {}
  for i, x in ipairs(xs) do prim[i] = x:detach() end
  local _, jt = func.jvp(f, prim, ts)
  local h = 1e-6
  local up, down = {}, {}
  for i, x in ipairs(prim) do up[i], down[i] = x + ts[i] * h, x - ts[i] * h end
  local fd = (f(table.unpack(up)) - f(table.unpack(down))) / (2 * h)
  H.agree(jt, fd, 1e-6, "jvp against finite differences")
end

describe("lg.linalg gradients against finite differences", function()
  it("inv", function() check(function(a) return LA.inv(shifted(a)) end, {{3, 3}}) end)
  it("inv, batched", function() check(function(a) return LA.inv(shifted(a)) end, {{2, 3, 3}}) end)
  it("solve, both arguments, broadcast", function()
    check(function(a, b) return LA.solve(shifted(a), b) end, {{2, 3, 3}, {3, 2}})
  end)
  it("solve, a vector right-hand side and left = false", function()
    check(function(a, b) return LA.solve(shifted(a), b) end, {{3, 3}, {3}})
    check(function(a, b) return LA.solve(shifted(a), b, {left = false}) end, {{3, 3}, {2, 3}})
  end)
  it("det and slogdet", function()
    check(function(a) return LA.det(shifted(a)) end, {{2, 3, 3}})
    check(function(a) local _, l = LA.slogdet(shifted(a)) return l end, {{3, 3}})
  end)
  it("cholesky (lower and upper) and cholesky_solve", function()
    check(function(a) return LA.cholesky(spd(a)) end, {{3, 3}})
    check(function(a) return LA.cholesky(spd(a), {upper = true}) end, {{2, 3, 3}})
    check(function(a, b) return lg.cholesky_solve(b, LA.cholesky(spd(a))) end, {{3, 3}, {3, 2}})
  end)
  it("qr: square, tall, wide", function()
    local function qr(a)
      local q, r = LA.qr(a)
      return lg.cat({q:reshape(-1), r:reshape(-1)})
    end
    check(function(a) return qr(shifted(a)) end, {{3, 3}})
    check(qr, {{4, 2}})
    check(qr, {{2, 4}})
  end)
  it("eigh through gauge-invariant quantities, eigvalsh", function()
    local function f(a)
      local l, q = LA.eigh(spd(a))
      return lg.cat({l, ((q * coeffs(3)):matmul(mT(q))):reshape(-1)})
    end
    check(f, {{3, 3}})
    check(function(a) return LA.eigvalsh(spd(a)) end, {{2, 3, 3}})
  end)
  it("svd through gauge-invariant quantities, svdvals", function()
    local function f(a)
      local u, s, vh = LA.svd(a, {full_matrices = false})
      local k = s:size(-1)
      return lg.cat({s, ((u * coeffs(k)):matmul(vh)):reshape(-1)})
    end
    check(f, {{4, 3}})
    check(f, {{2, 4}})
    check(function(a) return LA.svdvals(a) end, {{3, 5}})
  end)
  it("pinv and lstsq", function()
    check(function(a) return LA.pinv(a) end, {{4, 2}})
    check(function(a, b) return (LA.lstsq(a, b)) end, {{4, 2}, {4, 3}})
  end)
  it("solve_triangular, matrix_power, cond", function()
    check(function(a, b) return LA.solve_triangular(shifted(a), b, {upper = true}) end, {{3, 3}, {3, 2}})
    check(function(a) return LA.matrix_power(shifted(a), -3) end, {{3, 3}})
    check(function(a) return LA.cond(a) end, {{4, 3}})
  end)
  it("matrix_exp", function()
    check(function(a) return LA.matrix_exp(a) end, {{3, 3}})
    check(function(a) return LA.matrix_exp(a * 2) end, {{2, 2, 2}})
  end)
  it("matrix and vector norms", function()
    for _, ord in ipairs({"fro", "nuc", 2, -2, 1, -1, math.huge, -math.huge}) do
      check(function(a) return LA.matrix_norm(a, {ord = ord}) end, {{3, 4}})
    end
    for _, ord in ipairs({2, 1, 3, math.huge}) do
      check(function(x) return LA.vector_norm(x, {ord = ord, dim = -1}) end, {{2, 5}})
    end
  end)
end)
