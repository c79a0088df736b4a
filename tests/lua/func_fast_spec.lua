-- func_fast_spec.lua: the common paths of func.grad (one argnums, a tensor
-- or a flat table of tensors, lg._func_alias) and of functional_call (a
-- repeated call on a module whose plan is cached: the scratch swap) give
-- what the general paths give, and fall back to them whenever the cached
-- plan or the case no longer fits: a reassigned or newly tied parameter,
-- a reentrant call, forward raising, options, bad keys and values. Inside
-- one vmap level, grad's common path gives the general path's per-example
-- gradients.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local func = lg.func
local functional_call = func.functional_call

local F64 = {dtype = "float64"}
local function t64(data) return lg.tensor(data, F64) end

-- y = x W^T + b
local Affine = nn.Module:extend("FastAffine")
function Affine:init(n_in, n_out)
  self.weight = nn.Parameter(lg.randn(n_out, n_in, F64))
  self.bias = nn.Parameter(lg.randn(n_out, F64))
end
function Affine:forward(x) return lg.matmul(x, self.weight:t()) + self.bias end

local function mlp()
  lg.manual_seed(3)
  return nn.Sequential(Affine(3, 4), nn.ReLU(), Affine(4, 2))
end

local function detached(model)
  local p = {}
  for name, t in pairs(model:named_parameters()) do p[name] = t:detach() end
  return p
end

-- The MLP, an input and its detached parameters, after one functional_call
-- (which cached the module's plan).
local function cached_mlp()
  local model = mlp()
  local x = lg.randn(1, 3, F64)
  local p = detached(model)
  functional_call(model, p, x)
  return model, x, p
end

-- The same gradient through the general path: the flat table nested one
-- level deeper, so lg._func_alias declines it.
local function general_grad(loss, p, ...)
  local g = func.grad(function(wrapped, ...) return loss(wrapped.p, ...) end)({p = p}, ...)
  return g.p
end

local function same_table(a, b)
  local n = 0
  for k, v in pairs(b) do
    n = n + 1
    assert.is_not_nil(a[k], "missing key " .. tostring(k))
    H.same_bits(a[k], v, "differs at " .. tostring(k))
  end
  for _ in pairs(a) do n = n - 1 end
  assert.are.equal(0, n, "extra keys")
end

describe("func.grad's common path", function()
  local model = mlp()
  local x, y = lg.randn(5, 3, F64), lg.randn(5, 2, F64)
  local function loss(p, input, target)
    return lg.F.mse_loss(functional_call(model, p, input), target)
  end

  it("gives the general path's gradients, bit for bit, call after call", function()
    local p = detached(model)
    local expected = general_grad(loss, p, x, y)
    for _ = 1, 3 do same_table(func.grad(loss)(p, x, y), expected) end
  end)

  it("keeps has_aux, argnums > 1, grad_and_value and a lone tensor argument", function()
    local p = detached(model)
    local g, aux = func.grad(function(q, a, b) local l = loss(q, a, b); return l, l * 2 end,
                             {has_aux = true})(p, x, y)
    same_table(g, general_grad(loss, p, x, y))
    assert.is_nil(aux.grad_fn)
    local g2, value = func.grad_and_value(function(a, q, b) return loss(q, a, b) end,
                                          {argnums = 2})(x, p, y)
    same_table(g2, general_grad(loss, p, x, y))
    assert.is_nil(value.grad_fn)
    assert.is_false(value.requires_grad)
    local gx = func.grad(function(t) return (t * t):sum() end)(t64({1, -2}))
    H.assert_tensor(gx, {2}, "float64", {2, -4}, 0, 0)
  end)

  it("gives zeros for a key the output does not use, and for an output that uses none", function()
    local g = func.grad(function(q) return (q.a * 3):sum() end)({a = t64({1, 2}), unused = t64({5})})
    H.assert_tensor(g.a, {2}, "float64", {3, 3}, 0, 0)
    H.assert_tensor(g.unused, {1}, "float64", {0}, 0, 0)
    local g0 = func.grad(function() return t64(7) end)({a = t64({1, 2})})
    H.assert_tensor(g0.a, {2}, "float64", {0, 0}, 0, 0)
  end)

  it("keeps the result differentiable when another argument requires grad, also nested deeper than the C walk", function()
    local w = t64({2}):requires_grad_()
    local function f(q, deep) return (q.a * deep[1][1][1][1][1][1]):sum() end
    local deep = {{{{{{w}}}}}}
    local g = func.grad(f)({a = t64({1, 2})}, deep)
    assert.is_not_nil(g.a.grad_fn)
    local dw = lg.autograd.grad(g.a:sum(), w)[1]
    H.assert_tensor(dw, {1}, "float64", {2}, 0, 0)
    local flat = func.grad(f)({a = t64({1, 2})}, {{{{{{t64({2})}}}}}})
    assert.is_nil(flat.a.grad_fn)
  end)

  it("takes the general path for parameters that require grad (nested grad stays right)", function()
    local p = {}
    for name, t in pairs(model:named_parameters()) do p[name] = t end
    local g = func.grad(loss)(p, x, y)
    assert.is_not_nil(g["1.weight"].grad_fn)
    same_table(lg.no_grad(function() return func.grad(loss)(detached(model), x, y) end),
               general_grad(loss, detached(model), x, y))
    local dd = func.grad(function(a) return func.grad(function(b) return (a * b * b):sum() end)(a) :sum() end)(t64({3}))
    H.assert_tensor(dd, {1}, "float64", {12}, 0, 0)
  end)

  it("raises the general path's errors for a bad leaf, an int tensor and an empty table", function()
    local f = function(q) return q.a:sum() end
    H.raises("argument 1 (leaf 2)", func.grad(f), {a = t64({1}), b = "x"})
    H.raises("only float32 and float64", func.grad(f), {a = t64({1}), b = lg.tensor({1}, {dtype = "int64"})})
    H.raises("holds no tensors", func.grad(f), {})
  end)
end)

describe("func.grad's common path inside one vmap level", function()
  local model = mlp()
  local xs, ys = lg.randn(6, 3, F64), lg.randn(6, 2, F64)
  -- one example's loss (input 3, target 2)
  local function loss(p, input, target)
    return lg.F.mse_loss(functional_call(model, p, input:unsqueeze(1)), target:unsqueeze(1))
  end
  local per_example = {in_dims = {false, 1, 1}}

  it("gives the general path's per-example gradients, bit for bit, call after call", function()
    local p = detached(model)
    local expected = func.vmap(function(q, a, b) return general_grad(loss, q, a, b) end,
                               per_example)(p, xs, ys)
    local fast = func.vmap(func.grad(loss), per_example)
    for _ = 1, 3 do
      local g = fast(p, xs, ys)
      same_table(g, expected)
      assert.are.same({6, 4, 3}, g["1.weight"].shape)
    end
  end)

  it("differentiates a batched argument, a lone tensor, with has_aux and grad_and_value", function()
    local f = function(t, w) return (t * t * w):sum(), t:sum() end
    local w = t64({1, 2, 3})
    local pts = lg.randn(4, 3, F64)
    local g, aux = func.vmap(func.grad(f, {has_aux = true}), {in_dims = {1, false}})(pts, w)
    H.agree(g, pts * 2 * w, 1e-12)
    H.agree(aux, pts:sum(2), 1e-12)
    local gw, value = func.vmap(func.grad_and_value(function(t, v) return (t * t * v):sum() end,
                                                    {argnums = 2}), {in_dims = {1, false}})(pts, w)
    H.agree(gw, pts * pts, 1e-12)
    H.agree(value, (pts * pts * w):sum(2), 1e-12)
    assert.is_false(value.requires_grad)
    -- in_dims at the last dim: the gradient comes back batched there, then moved to out_dims 1
    local gl = func.vmap(func.grad(function(t) return (t * t):sum() end), {in_dims = -1})(pts)
    H.agree(gl, (pts * 2):t(), 1e-12)
  end)

  it("gives batched zeros for a key the output does not use, and for an output that uses none", function()
    local v = t64({{1, 2}, {3, 4}, {5, 6}})
    local g = func.vmap(func.grad(function(q, t) return (q.a * t):sum() end),
                        {in_dims = {false, 1}})({a = t64({1, 2}), unused = t64({5})}, v)
    H.agree(g.a, v, 1e-12)
    H.assert_tensor(g.unused, {3, 1}, "float64", {0, 0, 0}, 0, 0)
    local g0 = func.vmap(func.grad(function() return t64(7) end), {in_dims = {false, 1}})(
      {a = t64({1, 2})}, v)
    H.assert_tensor(g0.a, {3, 2}, "float64", {0, 0, 0, 0, 0, 0}, 0, 0)
  end)

  it("takes the general path for an output not batched at the level (it depends on a tensor outside)", function()
    local w = t64({2, 3}):requires_grad_()
    local g = func.vmap(func.grad(function(q, t) return (w * w):sum() + (q * 0):sum() end),
                        {in_dims = {false, 1}})(t64({1, 1}), lg.randn(3, 2, F64))
    H.assert_tensor(g, {3, 2}, "float64", {0, 0, 0, 0, 0, 0}, 0, 0)
  end)

  it("nests: grad of grad inside vmap, and vmap inside vmap (the general path)", function()
    local pts = t64({1, 2, 3})
    local second = func.vmap(func.grad(func.grad(function(t) return t * t * t end)))(pts)
    H.assert_tensor(second, {3}, "float64", {6, 12, 18}, 0, 0)
    local grid = t64({{1, 2}, {3, 4}})
    local nested = func.vmap(func.vmap(func.grad(function(t) return t * t end)))(grid)
    H.agree(nested, grid * 2, 1e-12)
  end)

  it("raises grad's errors for a non-scalar output", function()
    H.raises("scalar", func.vmap(func.grad(function(t) return t * 2 end)), lg.randn(3, 2, F64))
  end)
end)

describe("functional_call's common path (a cached plan)", function()
  local Counter = nn.Module:extend("FastCounter")
  function Counter:init() self:register_buffer("foo", t64(0)) end
  function Counter:forward(x) self.foo = self.foo + 1; return x + self.foo end

  it("restores the module and writes back rebindings on every repeated call", function()
    local mod = Counter()
    local own = mod.foo
    local p = {foo = t64(10)}
    for i = 1, 3 do
      H.assert_tensor(functional_call(mod, p, t64(0)), {}, "float64", {10 + i}, 0, 0)
      H.assert_tensor(p.foo, {}, "float64", {10 + i}, 0, 0)
      assert.are.equal(own, rawget(mod, "foo"))
    end
  end)

  it("restores the module when forward raises, and the next call works", function()
    local model = mlp()
    local own = rawget(model[1], "weight")
    local p = detached(model)
    functional_call(model, p, lg.randn(1, 3, F64))
    H.raises("can't be multiplied", functional_call, model, p, lg.randn(1, 5, F64))
    assert.are.equal(own, rawget(model[1], "weight"))
    local out = functional_call(model, p, lg.randn(2, 3, F64))
    assert.are.same({2, 2}, H.shape(out))
    assert.are.equal(own, rawget(model[1], "weight"))
  end)

  it("follows a parameter reassigned after the plan was made", function()
    local model, x, p = cached_mlp()
    local fresh = nn.Parameter(lg.zeros(2, 4, F64))
    model[3].weight = fresh -- an existing key: a plain store, no registry change
    local partial = {["1.weight"] = p["1.weight"], ["1.bias"] = p["1.bias"]}
    local out = functional_call(model, partial, x)
    H.assert_tensor(out, {1, 2}, "float64", H.values(model[3].bias:detach():view(1, 2)), 0, 0)
    assert.are.equal(fresh, rawget(model[3], "weight"))
    functional_call(model, partial, x)
    assert.are.equal(fresh, rawget(model[3], "weight"))
  end)

  it("enforces a tie made after the plan was made", function()
    local Two = nn.Module:extend("FastTwo")
    function Two:init() self.a = Affine(2, 2); self.b = Affine(2, 2) end
    function Two:forward(x) return self.b(self.a(x)) end
    local mod = Two()
    local x = t64({{1, 2}})
    local p = {["a.weight"] = t64({{1, 0}, {0, 1}}), ["b.weight"] = t64({{2, 0}, {0, 2}})}
    functional_call(mod, p, x)
    functional_call(mod, p, x)
    mod.b.weight = mod.a.weight
    H.raises("tied", functional_call, mod, p, x)
    local only_a = {["a.weight"] = t64({{2, 0}, {0, 2}})}
    local expected = lg.matmul(lg.matmul(x, t64({{2, 0}, {0, 2}})) + mod.a.bias, t64({{2, 0}, {0, 2}})) + mod.b.bias
    assert.is_true(lg.allclose(functional_call(mod, only_a, x), expected))
    assert.is_true(lg.allclose(functional_call(mod, only_a, x), expected))
  end)

  it("takes the general path for a reentrant call on the same module", function()
    local Re = nn.Module:extend("FastRe")
    function Re:init() self.w = nn.Parameter(t64(1)) end
    function Re:forward(x, inner)
      if inner then return x * self.w + functional_call(self, inner, x) end
      return x * self.w
    end
    local mod = Re()
    functional_call(mod, {w = t64(2)}, t64(1))
    local out = functional_call(mod, {w = t64(2)}, {t64(1), {w = t64(5)}})
    H.assert_tensor(out, {}, "float64", {7}, 0, 0)
    assert.are.equal(1, mod.w:item())
    H.assert_tensor(functional_call(mod, {w = t64(3)}, t64(1)), {}, "float64", {3}, 0, 0)
  end)

  it("lets forward yield inside a coroutine, restoring the module when resumed", function()
    local Yielder = nn.Module:extend("FastYielder")
    function Yielder:init() self.w = nn.Parameter(t64(1)) end
    function Yielder:forward(x)
      local got = coroutine.yield(self.w)
      return x * self.w + got
    end
    local mod = Yielder()
    local own = rawget(mod, "w")
    for _ = 1, 2 do -- the second call runs on the cached plan
      local co = coroutine.wrap(function() return functional_call(mod, {w = t64(4)}, t64(2)) end)
      local inside = co()
      H.assert_tensor(inside, {}, "float64", {4}, 0, 0)
      assert.are_not.equal(own, rawget(mod, "w"))
      H.assert_tensor(co(t64(1)), {}, "float64", {9}, 0, 0)
      assert.are.equal(own, rawget(mod, "w"))
    end
  end)

  it("passes args as the general path does: a plain array up to args.n, a table with a metatable as one value", function()
    local Args = nn.Module:extend("FastArgs")
    function Args:init() self.w = nn.Parameter(t64(1)) end
    function Args:forward(...) return select("#", ...), ... end
    local mod = Args()
    for _ = 1, 2 do
      assert.are.equal(3, (functional_call(mod, {}, {1, nil, 3, n = 3})))
      assert.are.equal(0, (functional_call(mod, {w = t64(2)}, nil)))
      local obj = setmetatable({}, {})
      local count, first = functional_call(mod, {}, obj)
      assert.are.equal(1, count)
      assert.are.equal(obj, first)
      H.raises("number has no integer representation", functional_call, mod, {}, {n = 1.5})
    end
  end)

  it("raises the general path's errors and honours options on a cached plan", function()
    local model, x, p = cached_mlp()
    H.assert_error_names({"1.weight"}, functional_call, model, {["1.weight"] = 3}, x)
    H.assert_error_names({"9.weight"}, functional_call, model, {["9.weight"] = t64(1)}, x)
    H.raises("missing key", functional_call, model, {["1.weight"] = p["1.weight"]}, x, nil, {strict = true})
    H.raises("expected params", functional_call, model, setmetatable({}, {}), x)
    assert.are.equal(rawget(model[1], "weight"), model:named_parameters()["1.weight"])
  end)
end)
