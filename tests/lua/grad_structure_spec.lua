-- Gradients of the structure ops and shape helpers by finite differences:
-- gradcheck, gradgradcheck (of the result squared) and the backward being
-- differentiable in its seed (grad_helpers.lua). Exact values against
-- PyTorch are in structure_spec.lua.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local G = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/grad_helpers.lua")
local check_grads = G.check_grads

describe("structure op gradients", function()
  it("tril and triu", function()
    check_grads(function(x) return x:tril() end, {{3, 4}})
    check_grads(function(x) return x:tril(-1) end, {{2, 3, 3}})
    check_grads(function(x) return x:triu(1) end, {{4, 3}})
  end)

  it("diagonal (a view), its offsets and dims", function()
    check_grads(function(x) return x:diagonal() end, {{3, 4}})
    check_grads(function(x) return x:diagonal(1) end, {{3, 4}})
    check_grads(function(x) return x:diagonal(-1, 3, 1) end, {{3, 2, 4}})
    check_grads(function(x) return x:diagonal(2) end, {{3, 4}})
  end)

  it("diag_embed and diag", function()
    check_grads(function(x) return x:diag_embed() end, {{2, 3}})
    check_grads(function(x) return x:diag_embed(-1, 1, 3) end, {{2, 3}})
    check_grads(function(x) return lg.diag(x, 1) end, {{3}})
    check_grads(function(x) return lg.diag(x, -1) end, {{3, 4}})
  end)

  it("trace", function()
    check_grads(function(x) return x:trace() end, {{3, 3}})
    check_grads(function(x) return x:trace() end, {{2, 4}})
  end)

  it("roll and rot90", function()
    check_grads(function(x) return x:roll({1, -1}, {1, 2}) end, {{3, 4}})
    check_grads(function(x) return x:roll(7) end, {{3, 4}})
    for k = -1, 2 do check_grads(function(x) return x:rot90(k) end, {{2, 3}}) end
  end)

  it("kron, cross and cdist (non-linear in two inputs)", function()
    check_grads(function(a, b) return lg.kron(a, b) end, {{2, 2}, {3, 2}})
    check_grads(function(a, b) return lg.cross(a, b, 2) end, {{4, 3}, {4, 3}})
    for _, p in ipairs({2, 1, 3, 0.7, math.huge}) do
      check_grads(function(a, b) return lg.cdist(a, b, p) end, {{3, 2}, {4, 2}})
    end
    check_grads(function(a, b) return lg.cdist(a, b) end, {{27, 2}, {3, 2}})
  end)

  it("repeat_interleave and take_along_dim", function()
    check_grads(function(x) return x:repeat_interleave(2, 2) end, {{2, 3}})
    check_grads(function(x) return x:repeat_interleave(lg.tensor({2, 0, 1}), 2) end, {{2, 3}})
    local idx = lg.tensor({{2, 2}, {1, 3}})
    check_grads(function(x) return x:take_along_dim(idx, 2) end, {{2, 3}})
  end)

  it("meshgrid, movedim, unflatten, swapaxes, atleast_3d, unbind", function()
    check_grads(function(a, b)
      local X, Y = lg.meshgrid(a, b, {indexing = "xy"})
      return X * Y
    end, {{3}, {2}})
    check_grads(function(x) return x:movedim({1, 2}, {3, 1}) end, {{2, 3, 4}})
    check_grads(function(x) return x:unflatten(1, {2, 3}) end, {{6, 2}})
    check_grads(function(x) return x:swapaxes(1, 2) end, {{2, 3}})
    check_grads(function(x) return lg.atleast_3d(x) end, {{3}})
    check_grads(function(x)
      local rows = x:unbind(1)
      return rows[1] * rows[3] + rows[2]
    end, {{3, 2}})
  end)
end)
