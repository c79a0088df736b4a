-- structure_errors_spec.lua: what the structure ops promise beyond their
-- values: diagonal is a view (shares storage, writes go through), diag of
-- a matrix is a copy, atleast_nd hands back a tensor that has enough dims,
-- unbind's slices share one backward node, the calling forms (several
-- results, array tables), and the wrong calls: each a Lua error naming the
-- function and what was expected.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func = lg.func

describe("structure ops: views and calling forms", function()
  it("diagonal is a view of its input, in both directions", function()
    local x = lg.zeros(3, 4)
    local d = x:diagonal(1)
    assert.are.same({3}, H.shape(d))
    x[1][2] = 5
    assert.are.equal(5, d[1])
    d:fill_(7)
    assert.are.same({{0, 7, 0, 0}, {0, 0, 7, 0}, {0, 0, 0, 7}}, x:tolist())
  end)

  it("diag of a matrix is a copy", function()
    local x = lg.zeros(2, 2)
    local d = lg.diag(x)
    d:fill_(1)
    assert.are.equal(0, x:sum():item())
  end)

  it("an empty diagonal (offset past the matrix) has length 0", function()
    assert.are.same({0}, H.shape(lg.ones(2, 3):diagonal(5)))
    assert.are.same({2, 2}, H.shape(lg.diag(lg.ones(0), 2)))
  end)

  it("atleast_nd returns the tensor itself when it has enough dims, several results for several inputs", function()
    local m = lg.ones(2, 3)
    assert.are.equal(m, lg.atleast_2d(m))
    local a, b = lg.atleast_2d(lg.tensor(1.0), lg.ones(3))
    assert.are.same({1, 1}, H.shape(a))
    assert.are.same({1, 3}, H.shape(b))
    local list = lg.atleast_1d({lg.tensor(2.0), m})
    assert.are.same({1}, H.shape(list[1]))
    assert.are.equal(m, list[2])
  end)

  it("meshgrid: several results, or one array table for one table of inputs", function()
    local X, Y = lg.meshgrid(lg.ones(2), lg.ones(3))
    assert.are.same({2, 3}, H.shape(X))
    assert.are.same({2, 3}, H.shape(Y))
    local grids = lg.meshgrid({lg.ones(2), lg.ones(3)}, {indexing = "xy"})
    assert.are.same({3, 2}, H.shape(grids[1]))
  end)

  it("unbind's slices come from one backward node, and its gradient is their stack", function()
    local x = lg.randn(4, 3, {dtype = "float64"}):requires_grad_()
    local rows = x:unbind(1)
    assert.are.equal("UnbindBackward0", rows[1].grad_fn:name())
    assert.are.equal("UnbindBackward0", rows[4].grad_fn:name())
    local g = lg.autograd.grad(rows[2]:sum() + rows[4]:sum() * 2, {x})[1]
    assert.are.same({{0, 0, 0}, {1, 1, 1}, {0, 0, 0}, {2, 2, 2}}, g:tolist())
  end)

  it("methods and lg functions agree", function()
    local x = lg.randn(3, 4)
    H.agree(x:tril(1), lg.tril(x, 1), 0)
    H.agree(x:roll(2, 2), lg.roll(x, 2, 2), 0)
    H.agree(x:movedim(1, 2), x:t(), 0)
    H.agree(x:swapaxes(1, 2), x:transpose(1, 2), 0)
    H.agree(x:moveaxis(2, 1), x:t(), 0)
  end)

  it("integer tensors keep their dtype", function()
    local x = lg.arange(1, 10):reshape(3, 3)
    assert.are.equal("int64", x:tril().dtype)
    assert.are.equal("int64", x:trace().dtype)
    assert.are.equal(15, x:trace():item())
    assert.are.equal("int64", lg.kron(x, x).dtype)
  end)
end)

describe("structure ops: wrong calls", function()
  local m = lg.ones(3, 3)
  local cases = {
    {"tril", "at least 2 dims", function() return lg.ones(3):tril() end},
    {"triu", "an integer", function() return m:triu(0.5) end},
    {"diagonal", "must differ", function() return m:diagonal(0, 1, 1) end},
    {"diagonal", "out of range", function() return m:diagonal(0, 1, 3) end},
    {"diagonal", "at least 2 dims", function() return lg.ones(3):diagonal() end},
    {"diag_embed", "at least 1 dim", function() return lg.tensor(1.0):diag_embed() end},
    {"diag", "1-d or 2-d", function() return lg.diag(lg.ones(2, 2, 2)) end},
    {"trace", "matrix", function() return lg.ones(3):trace() end},
    {"trace", "matrix", function() return lg.ones(2, 2, 2):trace() end},
    {"roll", "must align", function() return m:roll({1, 2}, 1) end},
    {"roll", "must align", function() return m:roll({1, 2}) end},
    {"roll", "out of range", function() return m:roll(1, 3) end},
    {"rot90", "must differ", function() return m:rot90(1, {1, 1}) end},
    {"rot90", "at least 2 dims", function() return lg.ones(3):rot90() end},
    {"rot90", "two dims", function() return m:rot90(1, {1}) end},
    {"kron", "expected a tensor", function() return lg.kron(m, 2) end},
    {"cross", "size 3", function() return lg.cross(lg.ones(2, 4), lg.ones(2, 4), 2) end},
    {"cross", "no dim of size 3", function() return lg.cross(lg.ones(2), lg.ones(2)) end},
    {"cross", "same number of dims", function() return lg.cross(lg.ones(3), lg.ones(1, 3), 1) end},
    {"cdist", "columns", function() return lg.cdist(lg.ones(2, 3), lg.ones(2, 4)) end},
    {"cdist", "at least 2 dims", function() return lg.cdist(lg.ones(3), lg.ones(2, 3)) end},
    {"cdist", "p must be >= 0", function() return lg.cdist(m, m, -1) end},
    {"cdist", "floating-point", function() return lg.cdist(lg.ones(2, 2, {dtype = "int64"}), lg.ones(2, 2, {dtype = "int64"})) end},
    {"repeat_interleave", "1 or 3 elements", function() return m:repeat_interleave(lg.tensor({1, 2}), 1) end},
    {"repeat_interleave", ">= 0", function() return m:repeat_interleave(lg.tensor({1, -1, 2}), 1) end},
    {"repeat_interleave", ">= 0", function() return m:repeat_interleave(-2) end},
    {"repeat_interleave", "int64 or int32", function() return m:repeat_interleave(lg.ones(3), 1) end},
    {"take_along_dim", "same number of dims", function() return m:take_along_dim(lg.tensor({1}), 1) end},
    {"take_along_dim", "do not broadcast", function() return m:take_along_dim(lg.ones(2, 1, {dtype = "int64"}), 2) end},
    {"gather", "out of range", function() return m:take_along_dim(lg.tensor({{4}}), 2) end},
    {"meshgrid", "0-d or 1-d", function() return lg.meshgrid(m, lg.ones(2)) end},
    {"meshgrid", "indexing", function() return lg.meshgrid(lg.ones(2), {indexing = "ji"}) end},
    {"meshgrid", "unknown option", function() return lg.meshgrid(lg.ones(2), {index = "ij"}) end},
    {"movedim", "as many dims", function() return lg.ones(2, 3, 4):movedim({1, 2}, 3) end},
    {"movedim", "appears twice", function() return lg.ones(2, 3, 4):movedim({1, 1}, {2, 3}) end},
    {"unflatten", "multiply", function() return lg.ones(2, 6):unflatten(2, {4, 2}) end},
    {"unflatten", "multiply", function() return lg.ones(2, 6):unflatten(2, {4, -1}) end},
    {"swapaxes", "out of range", function() return m:swapaxes(1, 3) end},
  }
  for _, c in ipairs(cases) do
    it(c[1] .. ": " .. c[2], function()
      local err = H.assert_error_names(c[1], c[3])
      assert.is_truthy(err:lower():find(c[2]:lower(), 1, true), err)
    end)
  end

  it("inside vmap: the example's rank is what counts; repeats may not vary", function()
    H.assert_error_names("tril", function()
      return func.vmap(function(v) return v:tril() end)(lg.ones(2, 3))
    end)
    H.assert_error_names("repeat_interleave", function()
      return func.vmap(function(x, r) return x:repeat_interleave(r, 1) end)(
        lg.ones(2, 3), lg.ones(2, 3, {dtype = "int64"}))
    end)
  end)
end)
