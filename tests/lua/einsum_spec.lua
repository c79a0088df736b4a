-- einsum_spec.lua: lg.einsum against PyTorch 1.13 (forward, gradients,
-- jvp, vmap; tests/fixtures/generate_sort.py), finite-difference
-- gradchecks, the plan (one matmul per contraction) and the bad specs.
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
local H = dofile(root .. "/tests/lua/helpers.lua")
local G = dofile(root .. "/tests/lua/grad_helpers.lua")
local C = dofile(root .. "/tests/lua/sort_cases.lua")
local lg = H.lg

describe("einsum against PyTorch", function()
  for _, case in ipairs(C.cases) do
    if case.op == "einsum" then it(case.name, function() C.check(case) end) end
  end
end)

describe("einsum gradchecks (finite differences, double backward)", function()
  local specs = {
    {"ij,jk->ik", {{2, 3}, {3, 4}}},
    {"bij,bjk->bik", {{2, 2, 3}, {2, 3, 2}}},
    {"ii", {{3, 3}}},
    {"ii->i", {{3, 3}}},
    {"i,j->ij", {{3}, {2}}},
    {"...ij,...jk", {{2, 2, 3}, {3, 2}}},
    {"ab,bc,cd->ad", {{2, 3}, {3, 2}, {2, 2}}},
    {"bn,anm,bm->ba", {{2, 3}, {2, 3, 2}, {2, 2}}},
    {"iij,jk->ik", {{2, 2, 3}, {3, 2}}},
  }
  for _, s in ipairs(specs) do
    it(s[1], function()
      G.check_grads(function(...) return lg.einsum(s[1], ...) end, s[2])
    end)
  end
end)

describe("einsum results", function()
  it("takes the operands as one array table too", function()
    local a, b = lg.randn(2, 3), lg.randn(3, 2)
    H.assert_close(lg.einsum("ij,jk", {a, b}), H.entry_of(a:matmul(b)), 1e-6, 1e-6)
  end)
  it("a 4-operand chain equals the matmuls in any order", function()
    local a, b, c, d = lg.randn(2, 30), lg.randn(30, 3), lg.randn(3, 40), lg.randn(40, 2)
    local expected = a:matmul(b):matmul(c):matmul(d)
    H.assert_close(lg.einsum("ab,bc,cd,de->ae", a, b, c, d), H.entry_of(expected), 1e-5, 1e-5)
  end)
  it("the result does not share the input's tensor object", function()
    local a = lg.randn(2, 3)
    assert.are_not.equal(a, lg.einsum("ij", a))
  end)
  it("hessian of a bilinear form through einsum", function()
    local A = lg.randn(3, 3, {dtype = "float64"})
    local h = lg.func.hessian(function(x) return lg.einsum("i,ij,j", x, A, x) end)(lg.randn(3, {dtype = "float64"}))
    H.assert_close(h, H.entry_of(A + A:t()), 1e-12, 1e-12)
  end)
  it("vmap over an operand that is not batched", function()
    local w = lg.randn(3, 4, {dtype = "float64"})
    local xs = lg.randn(5, 3, {dtype = "float64"})
    local out = lg.func.vmap(function(x) return lg.einsum("i,ij->j", x, w) end,
                             {in_dims = {1}})(xs)
    H.assert_close(out, H.entry_of(xs:matmul(w)), 1e-12, 1e-12)
  end)
end)

describe("einsum errors", function()
  local a, b = lg.randn(2, 3), lg.randn(3, 4)
  it("names einsum, the spec and what is wrong", function()
    H.raises('einsum: spec "ij,jk->iz": output subscript \'z\' does not occur in any input term',
             lg.einsum, "ij,jk->iz", a, b)
    H.raises('einsum: spec "ij;jk": invalid character \';\'', lg.einsum, "ij;jk", a, b)
    H.raises('einsum: spec "ij,jk,kl": 3 terms for 2 operands', lg.einsum, "ij,jk,kl", a, b)
    H.raises('einsum: spec "ijk,jk": term 1 has 3 subscripts but operand 1 has 2 dims',
             lg.einsum, "ijk,jk", a, b)
    H.raises("subscript 'j' has size 3 in operand 2 but 4 elsewhere", lg.einsum, "ij,jk", b, b)
    H.raises("output subscript 'i' occurs more than once", lg.einsum, "ij->ii", a)
    H.raises("a second \"...\"", lg.einsum, "......", a)
    H.raises("a '.' that does not start \"...\"", lg.einsum, "i.j", a)
    H.raises("'-' not followed by '>'", lg.einsum, "ij-ji", a)
    H.raises("a second \"->\"", lg.einsum, "ij->ji->ij", a)
    H.raises("subscript 'i' is repeated in operand 1 over dims of sizes 2 and 3",
             lg.einsum, "ii", a)
    H.raises("the \"...\" dims of operand 2 do not broadcast", lg.einsum, "...i,...i",
             lg.randn(2, 3), lg.randn(4, 3))
  end)
  it("wrong arguments", function()
    H.raises("einsum: expected a tensor as operand 2, got number", lg.einsum, "i,i", lg.randn(2), 3)
    H.raises("einsum: expected operands after the spec", lg.einsum, "ij")
    H.raises("einsum: expected a spec string such as \"ij,jk->ik\" as argument 1, got nil", lg.einsum, nil, a)
  end)
end)
