-- matmul_outer_spec.lua: products with an inner dim of 1 (outer products,
-- the per-example weight gradients of vmap(grad)) take gemm_tiled.c's
-- direct kernel instead of cblas: checked against the elementwise product
-- a[i] * b[j] for both float dtypes, transposed and strided operands,
-- batched and broadcast batches, and linear's weight gradient.
local lg = require "luagrad"
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

describe("matmul with an inner dim of 1", function()
  for _, dtype in ipairs({"float32", "float64"}) do
    local o = {dtype = dtype}
    it("is the outer product, " .. dtype, function()
      -- a (m, 1) @ b (1, n) against the broadcast product a * b (exact)
      local a, b = lg.randn(7, 1, o), lg.randn(1, 130, o)
      H.agree(a:matmul(b), a * b, 0, "plain")
      -- transposed operands: a's column read as a row, b's row as a column
      local at, bt = lg.randn(1, 7, o):t(), lg.randn(130, 1, o):t()
      H.agree(at:matmul(bt), at * bt, 0, "transposed")
      -- strided: a column of a wider matrix, b's row with element stride 2
      local as = lg.randn(7, 3, o):narrow(2, 2, 1)
      local bs = lg.randn(130, 2, o):t():narrow(1, 2, 1)
      H.agree(as:matmul(bs), as * bs, 0, "strided")
      -- batched (the per-example case) and a shared right side
      local ab, bb = lg.randn(5, 9, 1, o), lg.randn(5, 1, 11, o)
      H.agree(ab:matmul(bb), ab * bb, 0, "batched")
      H.agree(ab:matmul(bb[1]), ab * bb[1], 0, "broadcast")
    end)
  end

  it("gives vmap(grad)'s per-example linear weight gradients", function()
    local w, x = lg.randn(4, 6, {dtype = "float64"}), lg.randn(5, 6, {dtype = "float64"})
    local loss = function(ww, xi) return lg.nn.functional.linear(xi, ww):pow(2):sum() end
    local g = lg.func.vmap(lg.func.grad(loss), {in_dims = {false, 1}})(w, x)
    for i = 1, 5 do
      -- d/dW sum((W x)^2) = 2 (W x) x^T
      local y = w:matmul(x[i])
      H.agree(g[i], (y * 2):unsqueeze(2) * x[i]:unsqueeze(1), 1e-12, "example " .. i)
    end
  end)
end)
