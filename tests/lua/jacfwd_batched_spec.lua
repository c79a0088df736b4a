-- jacfwd_batched_spec.lua: func.jacfwd runs f once, vmapped over the rows
-- of an identity matrix as dual tangents (chunk_size rows per run when
-- given; a random op draws once for all columns): it agrees with jacrev
-- for R^16 -> R^32 with and without chunks, over several input leaves of
-- mixed shapes, and hessian (jacfwd of jacrev) agrees with jacrev(jacrev),
-- plain and under vmap.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func = lg.func

local F64 = {dtype = "float64"}

local function agree(a, b, label)
  H.assert_tensor(a, H.shape(b), b.dtype, H.values(b), 1e-10, 1e-12, label)
end

lg.manual_seed(7)
local W, b = lg.randn({32, 16}, F64) * 0.3, lg.randn({32}, F64)
local function wide(v) return (W:matmul(v) + b):tanh() * v:sum() end
local A = lg.randn({5, 4}, F64) * 0.5
local function loss(v)
  return (A:matmul(v:narrow(1, 1, 4)):sin() * v:narrow(1, 5, 5)):square():sum()
end

describe("jacfwd batched over the identity", function()
  local v = lg.randn({16}, F64)
  local expected = func.jacrev(wide)(v)

  it("equals jacrev for R^16 -> R^32", function()
    agree(func.jacfwd(wide)(v), expected, "jacfwd")
  end)

  for _, chunk in ipairs({1, 5, 16, 40}) do
    it("equals jacrev with chunk_size " .. chunk, function()
      agree(func.jacfwd(wide, {chunk_size = chunk})(v), expected, "chunk " .. chunk)
    end)
  end

  it("fills every block of several input leaves in one pass", function()
    local function f(p, s) return (W:matmul(p.w:reshape(16)) * s + p.c):cos() end
    local p, s = {w = lg.randn({4, 4}, F64), c = lg.randn({32}, F64)}, lg.tensor(0.7, F64)
    for _, opts in ipairs({{argnums = {1, 2}}, {argnums = {1, 2}, chunk_size = 3}}) do
      local fwd, rev = func.jacfwd(f, opts)(p, s), func.jacrev(f, {argnums = {1, 2}})(p, s)
      agree(fwd[1].w, rev[1].w, "w")
      agree(fwd[1].c, rev[1].c, "c")
      agree(fwd[2], rev[2], "s")
    end
  end)

  it("differentiates one draw of a random op for every column", function()
    local f = function(x) return x * lg.rand(x.shape, F64) end
    for _, opts in ipairs({{}, {chunk_size = 16}}) do
      local J = func.jacfwd(f, opts)(v)
      local E = lg.eye(16, F64)
      local r = (J * E):sum(2) -- the diagonal: the draw
      assert.is_true(r:min():item() >= 0 and r:max():item() < 1)
      agree(J, E * r:unsqueeze(2), "diagonal")
    end
  end)

  it("gives hessian equal to jacrev(jacrev)", function()
    local v9 = lg.randn({9}, F64)
    agree(func.hessian(loss)(v9), func.jacrev(func.jacrev(loss))(v9), "hessian")
  end)

  it("gives hessian equal to jacrev(jacrev) under vmap", function()
    local batch = lg.randn({3, 9}, F64)
    local expected_h = func.vmap(func.jacrev(func.jacrev(loss)))(batch)
    agree(func.vmap(func.hessian(loss))(batch), expected_h, "vmap(hessian)")
    for k = 1, 3 do
      agree(func.hessian(loss)(batch[k]), expected_h[k], "example " .. k)
    end
  end)
end)
