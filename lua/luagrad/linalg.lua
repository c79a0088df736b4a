-- luagrad.linalg: lg.linalg, PyTorch's torch.linalg over LAPACK. The
-- factorizations (inv, solve, slogdet, cholesky, eigh, svd, qr,
-- matrix_exp) are ops of the runtime (runtime/ops/lapack.c, with backward,
-- jvp and vmap rules); everything else here is written with them and the
-- other differentiable ops, so gradients, jvp and vmap come along. Every
-- function takes float32 or float64 matrices batched over leading dims.
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local linalg = {}

-- the option bits of the LAPACK rows (lg_ops.h, LG_LINALG_*)
local UPPER, FULL, NO_Q, VALUES = 1, 2, 4, 8

-- lg._lapack, its errors raised at the user's line
local function lapack(...)
  local ok, a, b, c = pcall(lg._lapack, ...)
  if not ok then raise(a) end
  return a, b, c
end

-- lapack(...) for a function built on another routine: its errors are
-- named fname ("linalg.det: ..." rather than "linalg.slogdet: ...")
local function lapack_as(fname, ...)
  local ok, a, b, c = pcall(lg._lapack, ...)
  if not ok then
    local msg = tostring(a):gsub("^linalg%.[%w_]+: ", function() return fname .. ": " end, 1)
    raise(msg)
  end
  return a, b, c
end

local function tensor_arg(fname, v, what)
  if not lg.is_tensor(v) then
    raise(("%s: expected a tensor as %s, got %s"):format(fname, what, check.describe(v)))
  end
  return v
end

local function matrix_arg(fname, v, what)
  tensor_arg(fname, v, what)
  if v:dim() < 2 then
    raise(("%s: expected a matrix or a batch of matrices (at least 2 dims) as %s, got shape %s")
          :format(fname, what, check.shape_string(v)))
  end
  return v
end

local function mT(x) return x:transpose(-2, -1) end

local function eps_of(dtype) return dtype == "float64" and 2.220446049250313e-16 or 1.1920928955078125e-07 end

-- the broadcast of two batch shapes (arrays of sizes), or nil
local function broadcast(a, b)
  local n, out = math.max(#a, #b), {}
  for i = 1, n do
    local x, y = a[#a - n + i] or 1, b[#b - n + i] or 1
    if x ~= y and x ~= 1 and y ~= 1 then return nil end
    out[i] = x == 1 and y or x
  end
  return out
end

local function with_matrix(batch, r, c)
  local s = {table.unpack(batch)}
  s[#s + 1], s[#s + 2] = r, c
  return s
end

--- The inverse of square matrices.
-- @param A tensor (.., n, n), float32 or float64
-- @return A^-1; a singular matrix is an error naming the batch element
-- @usage local Ainv = lg.linalg.inv(A)
function linalg.inv(A)
  tensor_arg("linalg.inv", A, "A")
  return (lapack("inv", A))
end

--- Solves A X = B (or X A = B with left = false).
-- @param A tensor (.., n, n)
-- @param B tensor (.., n, k), or (.., n) for one right-hand side (a
-- vector when B is 1-D or has A's shape without its last dim); batch dims
-- broadcast
-- @param opts {left = true}
-- @return X
-- @usage local x = lg.linalg.solve(A, b)
function linalg.solve(A, B, opts)
  opts = check.options("linalg.solve", opts, {left = true})
  tensor_arg("linalg.solve", A, "A")
  tensor_arg("linalg.solve", B, "B")
  matrix_arg("linalg.solve", A, "A")
  local ashape, bshape = check.shape_of(A), check.shape_of(B)
  local n = ashape[#ashape]
  if ashape[#ashape - 1] ~= n then
    raise(("linalg.solve: expected square matrices as A, got shape %s"):format(check.shape_string(A)))
  end
  local vector = B:dim() == 1
  if not vector and B:dim() == A:dim() - 1 then
    vector = true
    for i = 1, #bshape do if bshape[i] ~= ashape[i] then vector = false end end
  end
  local left = opts.left ~= false
  if not left then A = mT(A) end
  local Bm = vector and B:unsqueeze(-1) or (left and B or mT(B))
  local bm = check.shape_of(Bm)
  if #bm < 2 or bm[#bm - 1] ~= n then
    raise(("linalg.solve: A of shape %s and B of shape %s don't fit (B needs %d %s)")
          :format(check.shape_string(ashape), check.shape_string(bshape), n,
                  left and "rows" or "columns"))
  end
  local abatch, bbatch = {table.unpack(ashape, 1, #ashape - 2)}, {table.unpack(bm, 1, #bm - 2)}
  local batch = broadcast(abatch, bbatch)
  if not batch then
    raise(("linalg.solve: the batch dims of A %s and B %s are not broadcastable")
          :format(check.shape_string(ashape), check.shape_string(bshape)))
  end
  A = A:expand(with_matrix(batch, n, n))
  Bm = Bm:expand(with_matrix(batch, n, bm[#bm]))
  local X = lapack("solve", A, Bm)
  if vector then return X:squeeze(-1) end
  return left and X or mT(X)
end

--- Solves a triangular system: only A's upper (or lower) triangle is read.
-- @param A tensor (.., n, n)
-- @param B tensor (.., n, k) (left) or (.., k, n) (left = false)
-- @param opts {upper = (required), left = true, unitriangular = false}:
-- unitriangular takes A's diagonal as ones
-- @return X with A X = B (X A = B)
-- @usage local X = lg.linalg.solve_triangular(L, B, {upper = false})
function linalg.solve_triangular(A, B, opts)
  opts = check.options("linalg.solve_triangular", opts, {upper = true, left = true, unitriangular = true})
  matrix_arg("linalg.solve_triangular", A, "A")
  matrix_arg("linalg.solve_triangular", B, "B")
  if type(opts.upper) ~= "boolean" then
    raise(("linalg.solve_triangular: expected the option upper (a boolean), got %s")
          :format(check.describe(opts.upper)))
  end
  local n = A:size(-1)
  local i = lg.arange(1, n + 1):unsqueeze(2)
  local j = lg.arange(1, n + 1):unsqueeze(1)
  local T = lg.where(opts.upper and j:ge(i) or j:le(i), A, 0)
  if opts.unitriangular then T = lg.where(i:eq(j), 1, T) end
  return linalg.solve(T, B, {left = opts.left})
end

--- A square matrix to an integer power (negative: of the inverse).
-- @param A tensor (.., n, n)
-- @param k integer
-- @return A^k (the identity for k = 0)
-- @usage local A3 = lg.linalg.matrix_power(A, 3)
function linalg.matrix_power(A, k)
  matrix_arg("linalg.matrix_power", A, "A")
  if math.type(k) ~= "integer" then
    raise(("linalg.matrix_power: expected an integer as k, got %s"):format(check.describe(k)))
  end
  if A:size(-1) ~= A:size(-2) then
    raise(("linalg.matrix_power: expected square matrices, got shape %s"):format(check.shape_string(A)))
  end
  if k == 0 then return lg.eye(A:size(-1), {dtype = A.dtype}):expand(A.shape):clone() end
  if k < 0 then A, k = linalg.inv(A), -k end
  local result, base = nil, A
  while k > 0 do
    if k % 2 == 1 then result = result and result:matmul(base) or base end
    k = k // 2
    if k > 0 then base = base:matmul(base) end
  end
  return result
end

--- The product of a chain of matrices (the first may be a row vector and
-- the last a column vector, given 1-D).
-- @param tensors array of tensors
-- @return their product
-- @usage local y = lg.linalg.multi_dot({A, B, v})
function linalg.multi_dot(tensors)
  if type(tensors) ~= "table" or #tensors < 2 then
    raise(("linalg.multi_dot: expected an array of at least two tensors, got %s"):format(check.describe(tensors)))
  end
  local out = tensor_arg("linalg.multi_dot", tensors[1], "tensor 1")
  for i = 2, #tensors do out = out:matmul(tensor_arg("linalg.multi_dot", tensors[i], "tensor " .. i)) end
  return out
end

--- The condition number for ord nil/2 (largest / smallest singular value),
-- -2 (its inverse), or any matrix_norm ord (norm(A) * norm(A^-1)).
-- @param A tensor (.., m, n) (square for the other ords)
-- @param opts {ord = nil}
-- @return the condition number
-- @usage local c = lg.linalg.cond(A)
function linalg.cond(A, opts)
  opts = check.options("linalg.cond", opts, {ord = true})
  matrix_arg("linalg.cond", A, "A")
  local ord = opts.ord
  if ord == nil or ord == 2 or ord == -2 then
    local S = linalg.svdvals(A)
    local big, small = S:amax(-1), S:amin(-1)
    if ord == -2 then return small / big end
    return big / small
  end
  return linalg.matrix_norm(A, {ord = ord}) * linalg.matrix_norm(linalg.inv(A), {ord = ord})
end

--- Sign and natural log of the absolute value of the determinant.
-- @param A tensor (.., n, n)
-- @return sign, logabsdet (a singular matrix: 0, -inf)
-- @usage local sign, logabsdet = lg.linalg.slogdet(A)
function linalg.slogdet(A)
  tensor_arg("linalg.slogdet", A, "A")
  return lapack("slogdet", A)
end

--- The determinant (0 for a singular matrix).
-- @param A tensor (.., n, n)
-- @return det(A), as sign * exp(logabsdet) of slogdet
-- @usage local d = lg.linalg.det(A)
function linalg.det(A)
  tensor_arg("linalg.det", A, "A")
  local sign, logabs = lapack_as("linalg.det", "slogdet", A)
  return sign * logabs:exp()
end

--- log(det(A)) (torch.logdet): NaN for a negative determinant, -inf for 0.
-- @param A tensor (.., n, n)
-- @return logdet
-- @usage local ld = lg.logdet(A)
function linalg.logdet(A)
  tensor_arg("logdet", A, "A")
  local sign, logabs = lapack_as("logdet", "slogdet", A)
  return logabs + sign:log()
end

--- Cholesky factor of symmetric positive-definite matrices.
-- @param A tensor (.., n, n); its lower triangle is read
-- @param opts {upper = false}: upper returns U = L^T (A = U^T U)
-- @return L (or U); a matrix that is not positive-definite is an error
-- naming the failing leading minor
-- @usage local L = lg.linalg.cholesky(A)
function linalg.cholesky(A, opts)
  opts = check.options("linalg.cholesky", opts, {upper = true})
  tensor_arg("linalg.cholesky", A, "A")
  local L = lapack("cholesky", A)
  return opts.upper and mT(L) or L
end

--- Solves A X = B given A's Cholesky factor (torch.cholesky_solve).
-- @param B tensor (.., n, k)
-- @param L tensor (.., n, n): lower L with A = L L^T (or upper U, A = U^T U)
-- @param opts {upper = false}
-- @return X
-- @usage local X = lg.cholesky_solve(B, lg.linalg.cholesky(A))
function linalg.cholesky_solve(B, L, opts)
  opts = check.options("cholesky_solve", opts, {upper = true})
  matrix_arg("cholesky_solve", B, "B")
  matrix_arg("cholesky_solve", L, "L")
  if opts.upper then L = mT(L) end
  return linalg.solve(mT(L), linalg.solve(L, B))
end

--- QR decomposition.
-- @param A tensor (.., m, n)
-- @param opts {mode = "reduced"|"complete"|"r"}
-- @return Q, R (mode "r": Q is an empty tensor)
-- @usage local Q, R = lg.linalg.qr(A)
function linalg.qr(A, opts)
  opts = check.options("linalg.qr", opts, {mode = true})
  tensor_arg("linalg.qr", A, "A")
  local mode = opts.mode or "reduced"
  local bits = ({reduced = 0, complete = FULL, r = NO_Q})[mode]
  if not bits then
    raise(('linalg.qr: expected mode "reduced", "complete" or "r", got %s'):format(check.describe(mode)))
  end
  return lapack("qr", A, bits)
end

local function uplo_bits(fname, opts)
  local uplo = opts.UPLO or "L"
  if uplo ~= "L" and uplo ~= "U" then
    raise(('%s: expected UPLO "L" or "U", got %s'):format(fname, check.describe(uplo)))
  end
  return uplo == "U" and UPPER or 0
end

--- Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices.
-- The eigenvectors are unique up to sign, and their gradient is infinite
-- where eigenvalues repeat (as in PyTorch).
-- @param A tensor (.., n, n)
-- @param opts {UPLO = "L"|"U"}: the triangle read
-- @return eigenvalues (.., n), eigenvectors (.., n, n)
-- @usage local L, Q = lg.linalg.eigh(A)
function linalg.eigh(A, opts)
  opts = check.options("linalg.eigh", opts, {UPLO = true})
  tensor_arg("linalg.eigh", A, "A")
  return lapack("eigh", A, uplo_bits("linalg.eigh", opts))
end

--- Eigenvalues of symmetric matrices (differentiable everywhere).
-- @param A tensor (.., n, n)
-- @param opts {UPLO = "L"|"U"}
-- @return eigenvalues (.., n), ascending
-- @usage local L = lg.linalg.eigvalsh(A)
function linalg.eigvalsh(A, opts)
  opts = check.options("linalg.eigvalsh", opts, {UPLO = true})
  tensor_arg("linalg.eigvalsh", A, "A")
  return (lapack_as("linalg.eigvalsh", "eigh", A, uplo_bits("linalg.eigvalsh", opts) | VALUES))
end

--- Singular value decomposition A = U diag(S) Vh.
-- Singular vectors are unique up to sign, and their gradient is infinite
-- where singular values repeat (or, for a non-square A, are zero).
-- @param A tensor (.., m, n)
-- @param opts {full_matrices = true}
-- @return U, S (descending), Vh
-- @usage local U, S, Vh = lg.linalg.svd(A, {full_matrices = false})
function linalg.svd(A, opts)
  opts = check.options("linalg.svd", opts, {full_matrices = true})
  tensor_arg("linalg.svd", A, "A")
  return lapack("svd", A, opts.full_matrices == false and 0 or FULL)
end

--- Singular values (descending; differentiable everywhere).
-- @param A tensor (.., m, n)
-- @return S (.., min(m, n))
-- @usage local S = lg.linalg.svdvals(A)
function linalg.svdvals(A)
  tensor_arg("linalg.svdvals", A, "A")
  local _, S = lapack_as("linalg.svdvals", "svd", A, VALUES)
  return S
end

--- Matrix exponential.
-- @param A tensor (.., n, n)
-- @return exp(A)
-- @usage local E = lg.linalg.matrix_exp(A)
function linalg.matrix_exp(A)
  tensor_arg("linalg.matrix_exp", A, "A")
  return (lapack("matrix_exp", A))
end

-- cutoff of singular values: max(atol, rtol * largest), as PyTorch's pinv
local function tolerance(fname, A, S, opts, default_rtol)
  local atol, rtol = opts.atol or 0, opts.rtol
  if rtol == nil then rtol = opts.atol and 0 or default_rtol end
  if type(atol) ~= "number" or type(rtol) ~= "number" then
    raise(("%s: expected numbers for atol and rtol, got %s and %s")
          :format(fname, check.describe(atol), check.describe(rtol)))
  end
  local largest = S:amax(-1, {keepdim = true})
  return lg.maximum(largest * rtol, lg.full_like(largest, atol))
end

--- Pseudoinverse (Moore-Penrose) through the SVD (eigh when hermitian).
-- Singular values at or below max(atol, rtol * largest) count as zero. The
-- gradient goes through svd/eigh, so it needs distinct nonzero singular
-- values (eigenvalues).
-- @param A tensor (.., m, n)
-- @param opts {atol = 0, rtol = eps * max(m, n), hermitian = false}
-- @return A^+ (.., n, m)
-- @usage local P = lg.linalg.pinv(A)
function linalg.pinv(A, opts)
  opts = check.options("linalg.pinv", opts, {atol = true, rtol = true, hermitian = true})
  matrix_arg("linalg.pinv", A, "A")
  local m, n = A:size(-2), A:size(-1)
  local rtol = eps_of(A.dtype) * math.max(m, n)
  if opts.hermitian then
    local L, Q = lapack_as("linalg.pinv", "eigh", A, 0)
    local cut = tolerance("linalg.pinv", A, L:abs(), opts, rtol)
    local inv_l = lg.where(L:abs():gt(cut), L:reciprocal(), lg.zeros_like(L))
    return (Q * inv_l:unsqueeze(-2)):matmul(mT(Q))
  end
  local U, S, Vh = lapack_as("linalg.pinv", "svd", A, 0)
  local cut = tolerance("linalg.pinv", A, S, opts, rtol)
  local inv_s = lg.where(S:gt(cut), S:reciprocal(), lg.zeros_like(S))
  return (mT(Vh) * inv_s:unsqueeze(-2)):matmul(mT(U))
end

--- Least-squares solution of A X = B (minimum norm when A lacks rank).
-- @param A tensor (.., m, n)
-- @param B tensor (.., m, k) (or (.., m))
-- @param opts {rcond = eps * max(m, n), driver = "gelsy"|"gelsd"|"gelss"|"gels"}
-- @return solution (.., n, k); residuals (squared, (.., k), when m > n,
-- A has full rank and the driver is not gelsy, else empty); rank (int64,
-- not for gels, else empty); singular_values (gelsd, gelss, else empty)
-- @usage local X = lg.linalg.lstsq(A, B)
function linalg.lstsq(A, B, opts)
  opts = check.options("linalg.lstsq", opts, {rcond = true, driver = true})
  matrix_arg("linalg.lstsq", A, "A")
  tensor_arg("linalg.lstsq", B, "B")
  local driver = opts.driver or "gelsy"
  if not ({gelsy = true, gelsd = true, gelss = true, gels = true})[driver] then
    raise(('linalg.lstsq: expected driver "gelsy", "gelsd", "gelss" or "gels", got %s')
          :format(check.describe(driver)))
  end
  local m, n = A:size(-2), A:size(-1)
  local vector = B:dim() == A:dim() - 1
  local Bm = vector and B:unsqueeze(-1) or B
  if Bm:dim() < 2 or Bm:size(-2) ~= m then
    raise(("linalg.lstsq: A of shape %s and B of shape %s don't fit (B needs %d rows)")
          :format(check.shape_string(A), check.shape_string(B), m))
  end
  local rcond = opts.rcond or eps_of(A.dtype) * math.max(m, n)
  local U, S, Vh = lapack_as("linalg.lstsq", "svd", A, 0)
  local cut = S:amax(-1, {keepdim = true}) * rcond
  local keep = S:gt(cut)
  local inv_s = lg.where(keep, S:reciprocal(), lg.zeros_like(S))
  local X = (mT(Vh) * inv_s:unsqueeze(-2)):matmul(mT(U):matmul(Bm))
  local rank = keep:sum(-1)
  local empty = lg.zeros(0, {dtype = A.dtype})
  local residuals = empty
  if driver ~= "gelsy" and m > n and rank:eq(n):all():item() then
    local r = A:matmul(X) - Bm
    residuals = (r * r):sum(-2)
    if vector then residuals = residuals:squeeze(-1) end
  end
  if vector then X = X:squeeze(-1) end
  local sv = (driver == "gelsd" or driver == "gelss") and S or empty
  if driver == "gels" then rank = lg.zeros(0, {dtype = "int64"}) end
  return X, residuals, rank, sv
end

--- The rank: the number of singular values above max(atol, rtol * largest).
-- @param A tensor (.., m, n)
-- @param opts {atol = 0, rtol = eps * max(m, n), hermitian = false}
-- @return int64 tensor (..)
-- @usage local r = lg.linalg.matrix_rank(A)
function linalg.matrix_rank(A, opts)
  opts = check.options("linalg.matrix_rank", opts, {atol = true, rtol = true, hermitian = true})
  matrix_arg("linalg.matrix_rank", A, "A")
  local S = opts.hermitian and linalg.eigvalsh(A):abs() or linalg.svdvals(A)
  local cut = tolerance("linalg.matrix_rank", A, S, opts,
                        eps_of(A.dtype) * math.max(A:size(-2), A:size(-1)))
  return S:gt(cut):sum(-1)
end

-- dims as an array of 1-based positive dims of x, or nil for all
local function dims_of(fname, x, dim)
  if dim == nil then return nil end
  if type(dim) == "number" then dim = {dim} end
  if type(dim) ~= "table" then
    raise(("%s: expected a dim or a table of dims, got %s"):format(fname, check.describe(dim)))
  end
  local out, nd = {}, x:dim()
  for i, d in ipairs(dim) do
    if math.type(d) ~= "integer" or d == 0 or d > nd or d < -nd then
      raise(("%s: dim %s out of range for a tensor of %d dims"):format(fname, tostring(d), nd))
    end
    out[i] = d < 0 and d + nd + 1 or d
  end
  return out
end

--- Vector norm over dims (all by default).
-- @param x tensor
-- @param opts {ord = 2, dim = nil, keepdim = false}: ord a number,
-- math.huge or -math.huge (max/min |x|) or 0 (count of nonzeros)
-- @return the norm
-- @usage local n = lg.linalg.vector_norm(x, {ord = 1, dim = -1})
function linalg.vector_norm(x, opts)
  opts = check.options("linalg.vector_norm", opts, {ord = true, dim = true, keepdim = true})
  tensor_arg("linalg.vector_norm", x, "x")
  if x.dtype ~= "float32" and x.dtype ~= "float64" then
    raise(("linalg.vector_norm: expected a float32 or float64 tensor, got %s"):format(x.dtype))
  end
  local ord = opts.ord == nil and 2 or opts.ord
  if type(ord) ~= "number" or ord ~= ord then
    raise(("linalg.vector_norm: expected a number as ord, got %s"):format(check.describe(ord)))
  end
  local dims, keep = dims_of("linalg.vector_norm", x, opts.dim), opts.keepdim == true
  local shape = check.shape_of(x)
  if dims == nil then
    x = x:reshape(-1)
    dims = {1}
  end
  local r
  if ord == math.huge then r = x:abs():amax(dims, {keepdim = keep})
  elseif ord == -math.huge then r = x:abs():amin(dims, {keepdim = keep})
  elseif ord == 0 then r = x:ne(0):sum(dims, {keepdim = keep}):to(x.dtype)
  else r = x:norm(ord, dims, {keepdim = keep}) end
  if keep and opts.dim == nil then
    for i = 1, #shape do shape[i] = 1 end
    r = r:reshape(shape)
  end
  return r
end

--- Matrix norm over two dims.
-- @param A tensor (.., m, n)
-- @param opts {ord = "fro"|"nuc"|2|-2|1|-1|math.huge|-math.huge,
-- dim = {-2, -1}, keepdim = false}
-- @return the norm
-- @usage local n = lg.linalg.matrix_norm(A, {ord = "nuc"})
function linalg.matrix_norm(A, opts)
  opts = check.options("linalg.matrix_norm", opts, {ord = true, dim = true, keepdim = true})
  matrix_arg("linalg.matrix_norm", A, "A")
  local ord = opts.ord == nil and "fro" or opts.ord
  local dims = dims_of("linalg.matrix_norm", A, opts.dim or {-2, -1})
  if #dims ~= 2 or dims[1] == dims[2] then
    raise("linalg.matrix_norm: expected two different dims as dim")
  end
  local keep = opts.keepdim == true
  if ord == "fro" then return A:norm(2, dims, {keepdim = keep}) end
  -- the two dims last, in the order given
  local order = {}
  for d = 1, A:dim() do if d ~= dims[1] and d ~= dims[2] then order[#order + 1] = d end end
  order[#order + 1], order[#order + 2] = dims[1], dims[2]
  local M = A:permute(order)
  local r
  if ord == "nuc" then r = linalg.svdvals(M):sum(-1)
  elseif ord == 2 then r = linalg.svdvals(M):amax(-1)
  elseif ord == -2 then r = linalg.svdvals(M):amin(-1)
  elseif ord == 1 then r = M:abs():sum(-2):amax(-1)
  elseif ord == -1 then r = M:abs():sum(-2):amin(-1)
  elseif ord == math.huge then r = M:abs():sum(-1):amax(-1)
  elseif ord == -math.huge then r = M:abs():sum(-1):amin(-1)
  else
    raise(('linalg.matrix_norm: expected ord "fro", "nuc", 2, -2, 1, -1, math.huge or -math.huge, got %s')
          :format(check.describe(ord)))
  end
  if keep then
    local lo, hi = math.min(dims[1], dims[2]), math.max(dims[1], dims[2])
    r = r:unsqueeze(lo):unsqueeze(hi)
  end
  return r
end

--- torch.linalg.norm: a matrix norm when ord is a string or dim has two
-- dims (or A is 2-D with neither given), else a vector norm.
-- @param A tensor
-- @param opts {ord, dim, keepdim = false}
-- @return the norm
-- @usage local n = lg.linalg.norm(A)
function linalg.norm(A, opts)
  opts = check.options("linalg.norm", opts, {ord = true, dim = true, keepdim = true})
  tensor_arg("linalg.norm", A, "A")
  local dim = opts.dim
  local matrix = type(opts.ord) == "string" or (type(dim) == "table" and #dim == 2)
                 or (dim == nil and opts.ord ~= nil and A:dim() == 2)
  if matrix then return linalg.matrix_norm(A, opts) end
  if dim == nil and opts.ord == nil then
    return linalg.vector_norm(A, {keepdim = opts.keepdim})
  end
  return linalg.vector_norm(A, opts)
end

return linalg
