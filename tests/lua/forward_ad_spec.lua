-- forward_ad_spec.lua: forward-mode AD (lg.autograd.forward_ad and the
-- func transforms built on it): dual levels as to-be-closed guards, make_dual
-- and unpack_dual, nested levels (forward-over-forward), in-place ops and
-- views updating tangents, ops without a tangent, the error cases, t[i] of a
-- dual tensor, autograd.Function's jvp, and func.jvp, linearize, jacfwd and
-- hessian with their compositions (forward-over-reverse,
-- reverse-over-forward, functional_call per parameter name).
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local fwad = lg.autograd.forward_ad
local func = lg.func

local F64 = {dtype = "float64"}
local function t64(data) return lg.tensor(data, F64) end

local function agree(a, b, label)
  H.assert_tensor(a, H.shape(b), b.dtype, H.values(b), 1e-10, 1e-12, label)
end

describe("forward_ad levels and duals", function()
  it("make_dual and unpack_dual round-trip inside a level, which closes", function()
    local x, t = t64({1, 2, 3}), t64({0.5, -1, 2})
    local d
    do
      local level <close> = fwad.dual_level()
      assert.are.equal(level.level, fwad.current_level())
      d = fwad.make_dual(x, t)
      assert.is_true(fwad.is_dual(d))
      assert.is_false(fwad.is_dual(x)) -- make_dual leaves its primal alone
      local p, tan = fwad.unpack_dual(d)
      agree(p, x)
      agree(tan, t)
      assert.is_false(fwad.is_dual(p))
      local _, none = fwad.unpack_dual(x)
      assert.is_nil(none)
    end
    assert.is_nil(fwad.current_level())
    assert.is_false(fwad.is_dual(d))
    local p, tan = fwad.unpack_dual(d)
    agree(p, x)
    assert.is_nil(tan)
    -- a new level never sees the old level's tangent
    local _ <close> = fwad.dual_level()
    assert.is_nil(select(2, fwad.unpack_dual(d)))
  end)

  it("dual_level(fn, ...) runs fn inside a level", function()
    local r = fwad.dual_level(function(x)
      local y = fwad.make_dual(x, lg.ones_like(x)):exp()
      return select(2, fwad.unpack_dual(y))
    end, t64({0, 1}))
    agree(r, t64({1, math.exp(1)}))
    assert.is_nil(fwad.current_level())
  end)

  it("nested levels are independent and compose (forward over forward)", function()
    local x = t64({0.3, -1.2})
    local t1, t2 = t64({1, 2}), t64({-0.5, 3})
    local outer <close> = fwad.dual_level()
    local a = fwad.make_dual(x, t1)
    local inner <close> = fwad.dual_level()
    local b = fwad.make_dual(a, t2)
    local y = b:sin()
    local _, dy2 = fwad.unpack_dual(y, inner.level)
    local _, dy1 = fwad.unpack_dual(y, outer.level)
    agree(dy2, x:cos() * t2)
    agree(dy1, x:cos() * t1)
    -- the inner tangent's outer tangent: d/d(t1) of cos(x) t2 = -sin(x) t1 t2
    local _, d12 = fwad.unpack_dual(dy2, outer.level)
    agree(d12, -x:sin() * t1 * t2)
  end)

  it("in-place ops update the tangent in place, seen through views", function()
    local _ <close> = fwad.dual_level()
    local x = fwad.make_dual(t64({1, 2, 3}), t64({1, 1, 1})):clone()
    local _, tx = fwad.unpack_dual(x)
    x:mul_(3)
    agree(select(2, fwad.unpack_dual(x)), t64({3, 3, 3}))
    agree(tx, t64({3, 3, 3})) -- the same tangent tensor, updated
    local v = x:narrow(1, 2, 2)  -- a view: its tangent views x's
    v:exp_()
    local p = fwad.unpack_dual(x)
    agree(p, t64({3, math.exp(6), math.exp(9)}))
    agree(select(2, fwad.unpack_dual(x)), t64({3, 3 * math.exp(6), 3 * math.exp(9)}))
    -- a plain tensor takes a tangent from an in-place op with a dual
    local y = t64({1, 1, 1})
    y:add_(x)
    agree(select(2, fwad.unpack_dual(y)), select(2, fwad.unpack_dual(x)))
    -- fill_ makes the tangent zero, copy_ takes the source's
    y:fill_(2)
    agree(select(2, fwad.unpack_dual(y)), t64({0, 0, 0}))
    y:copy_(x)
    agree(select(2, fwad.unpack_dual(y)), select(2, fwad.unpack_dual(x)))
  end)

  it("comparisons, arg-reductions and integer results have no tangent", function()
    local _ <close> = fwad.dual_level()
    local d = fwad.make_dual(t64({1, 5, 2}), t64({1, 1, 1}))
    assert.is_nil(select(2, fwad.unpack_dual(d:gt(2))))
    assert.is_nil(select(2, fwad.unpack_dual(d:argmax())))
    local values, indices = d:max(1)
    agree(select(2, fwad.unpack_dual(values)), t64(1))
    assert.is_nil(select(2, fwad.unpack_dual(indices)))
    assert.is_nil(select(2, fwad.unpack_dual(d:long())))
  end)

  it("t[i] of a dual tensor is a tensor carrying its tangent", function()
    local _ <close> = fwad.dual_level()
    local d = fwad.make_dual(t64({1, 5, 2}), t64({7, 8, 9}))
    local e = d[2]
    assert.is_true(H.is_tensor(e))
    agree(select(2, fwad.unpack_dual(e)), t64(8))
  end)

  it("cumprod's tangent is exact through zeros (its rule never divides)", function()
    local _ <close> = fwad.dual_level()
    local d = fwad.make_dual(t64({2, 0, 3}), t64({1, 1, 1}))
    -- y = (2, 0, 0): dy = (1, 2, 6) (d(x1 x2) = t1 x2 + x1 t2, and so on)
    agree(select(2, fwad.unpack_dual(d:cumprod(1))), t64({1, 2, 6}))
  end)

  it("rejects bad calls naming the function", function()
    H.assert_error_names("make_dual: no dual level is active", fwad.make_dual, t64({1}), t64({1}))
    local outer <close> = fwad.dual_level()
    H.assert_error_names("make_dual: the tangent", fwad.make_dual, t64({1, 2}), t64({1}))
    H.assert_error_names("make_dual: the tangent", fwad.make_dual, t64({1}), lg.tensor({1}))
    H.assert_error_names("make_dual: expected a float32 or float64 primal", fwad.make_dual,
                         lg.tensor({1}, {dtype = "int64"}), lg.tensor({1}, {dtype = "int64"}))
    H.assert_error_names("make_dual: expected a tensor as the tangent", fwad.make_dual, t64({1}), 1)
    H.assert_error_names("unpack_dual: expected a tensor", fwad.unpack_dual, "x")
    H.assert_error_names("dual_level: expected no argument or a function", fwad.dual_level, 3)
    local d = fwad.make_dual(t64({1, 2}), t64({1, 1}))
    H.assert_error_names("out= arguments don't support forward-mode AD", function()
      return lg.add(d, d, {out = lg.zeros(2, F64)})
    end)
    local inner = fwad.dual_level()
    H.assert_error_names("is not the innermost layer", fwad.exit_dual_level, outer.level)
    inner:__close()
  end)
end)

describe("autograd.Function in forward mode", function()
  local Cube = lg.autograd.Function{name = "Cube",
    forward = function(ctx, x) ctx:save_for_backward(x); return x * x * x end,
    backward = function(ctx, g) return 3 * ctx.saved_tensors[1]:square() * g end,
    jvp = function(ctx, t) return 3 * ctx.saved_tensors[1]:square() * t end}
  local NoJvp = lg.autograd.Function{name = "NoJvp",
    forward = function(_, x) return x * 2 end, backward = function(_, g) return g * 2 end}

  it("uses the Function's jvp", function()
    local _, t = func.jvp(Cube, {t64({1, 2})}, {t64({1, -1})})
    agree(t, t64({3, -12}))
  end)

  it("raises naming the Function without a jvp", function()
    H.assert_error_names("NoJvp: an argument is a dual tensor", func.jvp, NoJvp, {t64({1})}, {t64({1})})
    agree(NoJvp(t64({1})), t64({2})) -- plain calls are untouched
  end)
end)

describe("func transforms on forward mode", function()
  local function f(x, y) return {(x:sin() * y):sum(1), x:exp():matmul(y:t())} end
  local x, y = t64({{0.1, -0.4, 0.7}, {1.1, 0.2, -0.3}}), t64({{0.5, 0.25, -1}, {2, -0.5, 0.125}})
  local tx, ty = t64({{1, 0, -1}, {0.5, 2, 0}}), t64({{0, 1, 1}, {-1, 0.5, 0.25}})

  it("jvp equals the double-vjp form, with has_aux and pytrees", function()
    local out, tan, aux = func.jvp(function(a, b) return f(a, b), {tag = a:sum()} end, {x, y}, {tx, ty},
                                   {has_aux = true})
    local out2, tan2 = func._jvp_by_vjp(f, {x, y}, {tx, ty})
    for k = 1, 2 do
      agree(out[k], out2[k])
      agree(tan[k], tan2[k])
    end
    agree(aux.tag, x:sum())
    assert.is_nil(out[1].grad_fn)
    assert.is_false(fwad.is_dual(aux.tag))
  end)

  it("linearize gives the jvp at the primals, any number of times", function()
    local out, jvp_fn = func.linearize(f, x, y)
    local _, tan = func.jvp(f, {x, y}, {tx, ty})
    agree(out[1], f(x, y)[1])
    for _ = 1, 2 do
      local lin = jvp_fn(tx, ty)
      agree(lin[1], tan[1])
      agree(lin[2], tan[2])
    end
    H.assert_error_names("linearize: the tangents", jvp_fn, tx)
  end)

  it("jacfwd equals jacrev, R^3 -> R^5", function()
    local function g(v) return lg.stack({v:sin():sum(), v[1] * v[2], v:exp()[3], v:norm(), v:prod()}) end
    local v = t64({0.3, -0.7, 1.2})
    agree(func.jacfwd(g)(v), func.jacrev(g)(v))
    local jx, jy = table.unpack(func.jacfwd(function(a, b) return (a * b):sum(1) end, {argnums = {1, 2}})(x, y))
    local rx, ry = table.unpack(func.jacrev(function(a, b) return (a * b):sum(1) end, {argnums = {1, 2}})(x, y))
    agree(jx, rx)
    agree(jy, ry)
  end)

  it("hessian (forward over reverse) equals jacrev(jacrev)", function()
    local w = t64({{0.2, -0.1, 0.4}, {0.3, 0.5, -0.6}})
    local function loss(v) return (w:matmul(v):tanh():square()):sum() + v:exp():sum() end
    local v = t64({0.1, -0.2, 0.3})
    agree(func.hessian(loss)(v), func.jacrev(func.jacrev(loss))(v))
  end)

  it("hvp: jvp of grad, and grad of jvp (reverse over forward)", function()
    local function loss(v) return (v:sin() * v:exp()):sum() + v:norm() end
    local v, t = t64({0.1, -0.2, 0.3}), t64({1, 0.5, -2})
    local hvp = select(2, func.jvp(func.grad(loss), {v}, {t}))
    local h = func.hessian(loss)(v)
    agree(hvp, h:matmul(t))
    local rof = func.grad(function(u) return select(2, func.jvp(loss, {u}, {t})) end)(v)
    agree(rof, h:matmul(t))
  end)

  it("leaves no reference cycle: rules that read their output (softmax, log_softmax, cumprod)", function()
    -- under jvp of grad the outputs require grad; a rule node saving the
    -- output would be held by the output's own tangent
    local v, t = lg.randn(3, 4, F64), lg.randn(3, 4, F64)
    local function loss(u) return (u:softmax(2) * u):sum() + u:log_softmax(1):sum() + u:cumprod(2):sum() end
    local function run() return func.jvp(func.grad(loss), {v}, {t}) end
    for _ = 1, 5 do run() end
    collectgarbage()
    collectgarbage()
    local before = lg.memory_in_use()
    for _ = 1, 50 do run() end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, lg.memory_in_use())
  end)

  it("jvp over functional_call with tangents per parameter name", function()
    lg.manual_seed(3)
    local net = lg.nn.Sequential(lg.nn.Linear(3, 4), lg.nn.Tanh(), lg.nn.Linear(4, 2)):double()
    local params = {}
    for name, p in pairs(net:named_parameters()) do params[name] = p:detach() end
    local tangents = {}
    for name, p in pairs(params) do tangents[name] = lg.ones_like(p) * 0.5 end
    local inp = t64({{0.1, 0.2, 0.3}})
    local function out_of(ps) return func.functional_call(net, ps, inp) end
    local _, tan = func.jvp(out_of, {params}, {tangents})
    local _, ref = func._jvp_by_vjp(out_of, {params}, {tangents})
    agree(tan, ref)
  end)
end)
