-- matmul_vectors_spec.lua: one matrix times a batch of column vectors
-- (what vmap of W @ v, and jacrev's batched vjp of it, hand matmul) runs as
-- one product (batches, K) @ op(W)^T in linalg.c instead of one gemm per
-- column: checked against the per-column products for both float dtypes, a
-- transposed matrix, nested batch dims, under vmap, and jacrev against
-- jacfwd.
local lg = require "luagrad"
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

describe("a matrix times a batch of vectors", function()
  for _, dtype in ipairs({"float32", "float64"}) do
    local o = {dtype = dtype}
    local tol = dtype == "float32" and 1e-4 or 1e-12
    it("equals the per-column products, " .. dtype, function()
      local w, wt = lg.randn(37, 300, o), lg.randn(300, 37, o):t()
      local x = lg.randn(70, 300, 1, o)
      for _, case in ipairs({{w, "plain"}, {wt, "transposed"}}) do
        local y = case[1]:matmul(x)
        assert.are.same({70, 37, 1}, y.shape)
        for i = 1, 70, 23 do
          H.agree(y[i], case[1]:matmul(x[i]), tol, case[2] .. " column " .. i)
        end
      end
      -- two batch dims
      local x2 = lg.randn(3, 4, 300, 1, o)
      local y2 = w:matmul(x2)
      assert.are.same({3, 4, 37, 1}, y2.shape)
      H.agree(y2[3][2], w:matmul(x2[3][2]), tol, "nested batch")
    end)
  end

  it("gives vmap's W @ v and jacrev's batched vjp", function()
    local w, b = lg.randn(512, 16, {dtype = "float64"}), lg.randn(512, {dtype = "float64"})
    local v = lg.randn(64, 16, {dtype = "float64"})
    local y = lg.func.vmap(function(vi) return w:matmul(vi) end)(v)
    for i = 1, 64, 21 do H.agree(y[i], w:matmul(v[i]), 1e-12, "vmap example " .. i) end
    local wide = function(u) return (w:matmul(u) + b):tanh() end
    H.agree(lg.func.jacrev(wide)(v[1]), lg.func.jacfwd(wide)(v[1]), 1e-12, "jacrev = jacfwd")
  end)
end)
