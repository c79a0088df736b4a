-- Matrix products (matmul with 1-D/2-D/batched/broadcast shapes, mm, bmm,
-- mv, dot, outer, addmm), checked against PyTorch.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

describe("linear algebra", function()
  H.fixture_its(it, "linalg")
end)

describe("linear algebra identities", function()
  it("matmul with the identity is the input", function()
    local a = lg.tensor({{1.5, -2.0, 3.0}, {0.5, 4.0, -1.0}})
    H.assert_close(lg.matmul(a, lg.eye(3)), {shape = {2, 3}, dtype = "float32",
      data = {1.5, -2.0, 3.0, 0.5, 4.0, -1.0}}, 0, 0)
  end)
  it("matmul of a non-contiguous (expanded) operand", function()
    local a = lg.tensor({{1.0, 2.0}}):expand(3, 2)   -- stride 0 rows
    local b = lg.tensor({{1.0, 0.0}, {0.0, 2.0}})
    H.assert_tensor(a:matmul(b), {3, 2}, "float32", {1, 4, 1, 4, 1, 4})
  end)
  it("mm of transposed views equals mm of their contiguous copies", function()
    local a = lg.tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}})
    local p = a:t():mm(a)
    local q = a:t():contiguous():mm(a:contiguous())
    H.assert_close(p, {shape = {3, 3}, dtype = "float32", data = H.values(q)}, 0, 0)
    H.assert_tensor(p, {3, 3}, "float32", {17, 22, 27, 22, 29, 36, 27, 36, 45})
  end)
  it("dot of 1-D tensors is a 0-d tensor", function()
    local d = lg.tensor({1.0, 2.0, 3.0}):dot(lg.tensor({4.0, 5.0, 6.0}))
    assert.are.equal(0, d:dim())
    assert.are.equal(32, d:item())
  end)
end)
