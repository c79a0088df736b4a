-- func_spec.lua: lg.func transforms (grad, grad_and_value, vjp, jvp, jacrev,
-- jacfwd, hessian) against closed forms, their nesting, pytrees, argnums,
-- has_aux, error messages and the detached/differentiable result rules; and
-- func.tree.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func = require "luagrad.func"
local tree = func.tree

local F64 = {dtype = "float64"}

local function t64(data) return lg.tensor(data, F64) end

-- Asserts tensor t has shape and values (flat array) within 1e-10.
local function same(t, shape, data, label)
  H.assert_tensor(t, shape, "float64", data, 1e-10, 1e-10, label)
end

-- Asserts two float64 tensors agree elementwise.
local function agree(a, b, label)
  same(a, H.shape(b), H.values(b), label)
end

local function map_values(t, fn)
  local out = {}
  for i, v in ipairs(H.values(t)) do out[i] = fn(v) end
  return out
end

-- diag(values) as a flat row-major array.
local function diag(values)
  local n, out = #values, {}
  for i = 1, n do
    for j = 1, n do out[(i - 1) * n + j] = (i == j) and values[i] or 0 end
  end
  return out
end

local function cube_sum(x) return (x * x * x):sum() end

describe("func", function()
  it("is lg.func", function()
    assert.are.equal(func, lg.func)
  end)

  describe("grad", function()
    it("of sum(x^3) is 3x^2, detached", function()
      local x = t64({1, 2, -3})
      local g = func.grad(cube_sum)(x)
      same(g, {3}, {3, 12, 27})
      assert.is_nil(g.grad_fn)
      assert.is_false(g.requires_grad)
    end)

    it("of grad of sin is -sin (0-dim input)", function()
      local g2 = func.grad(func.grad(function(x) return x:sin() end))
      for _, v in ipairs({0.3, 1.7, -2.2}) do
        same(g2(t64(v)), {}, {-math.sin(v)})
      end
    end)

    it("third derivative of x^4 is 24x", function()
      local d3 = func.grad(func.grad(func.grad(function(x) return x ^ 4 end)))
      same(d3(t64(1.5)), {}, {36})
    end)

    it("has no perturbation confusion when the inner f closes over x", function()
      -- d/dx [ d/dy sum(x*y) at y = c ] = d/dx sum(x) = 1 per element
      local c = t64({3, 4})
      local outer = func.grad(function(x)
        return func.grad(function(y) return (x * y):sum() end)(c):sum()
      end)
      same(outer(t64({1, 2})), {2}, {1, 1})
      -- d/dx [ d/dy (x y^2) at y = x ] = d/dx 2x^2 = 4x
      local f = func.grad(function(x)
        return func.grad(function(y) return x * y * y end)(x)
      end)
      same(f(t64(2)), {}, {8})
    end)

    it("takes argnums as an integer, an array and negative", function()
      local f = function(a, b, c) return (a * b * b + c):sum() end
      local a, b, c = t64({1, 2}), t64({3, 4}), t64({5, 6})
      same(func.grad(f)(a, b, c), {2}, {9, 16})
      same(func.grad(f, {argnums = 2})(a, b, c), {2}, {6, 16})
      same(func.grad(f, {argnums = -1})(a, b, c), {2}, {1, 1})
      same(func.grad(f, {argnums = -3})(a, b, c), {2}, {9, 16})
      local gs = func.grad(f, {argnums = {2, 1}})(a, b, c)
      assert.are.equal(2, #gs)
      same(gs[1], {2}, {6, 16})
      same(gs[2], {2}, {9, 16})
      gs = func.grad(f, {argnums = {3}})(a, b, c)
      assert.is_table(gs)
      same(gs[1], {2}, {1, 1})
    end)

    it("gives zeros for an argument f does not use", function()
      local g = func.grad(function(_, y) return y:sum() end)(t64({1, 2}), t64(3))
      same(g, {2}, {0, 0})
    end)

    it("follows pytrees of nested tables", function()
      local params = {w = t64({1, 2}), layers = {t64(3), {b = t64({4})}}, scale = 10}
      local loss = function(p)
        return (p.w * p.w):sum() * p.layers[1] + p.layers[2].b:sum() * p.scale
      end
      -- a number in the differentiated tree is an error
      H.assert_error_names("number", func.grad(loss), params)
      params.scale = nil
      local g = func.grad(function(p) return (p.w * p.w):sum() * p.layers[1]
        + p.layers[2].b:sum() * 10 end)(params)
      same(g.w, {2}, {6, 12})
      same(g.layers[1], {}, {5})
      same(g.layers[2].b, {1}, {10})
      assert.is_nil(g.scale)
    end)

    it("has_aux returns grads, aux with aux detached", function()
      local x = t64({1, 2})
      local g, aux = func.grad(function(x)
        local y = x * x
        return y:sum(), {y = y, n = 7}
      end, {has_aux = true})(x)
      same(g, {2}, {2, 4})
      same(aux.y, {2}, {1, 4})
      assert.is_nil(aux.y.grad_fn)
      assert.are.equal(7, aux.n)
    end)

    it("rejects a non-scalar output, pointing to vjp and jacrev", function()
      local err = H.assert_error_names("vjp", func.grad(function(x) return x * 2 end), t64({1, 2}))
      assert.truthy(err:find("jacrev", 1, true), err)
      assert.truthy(err:find("{2}", 1, true), err)
    end)

    it("rejects bad argnums and options", function()
      local f = function(a, b) return (a * b):sum() end
      local a, b = t64({1}), t64({2})
      local err = H.assert_error_names("argnums", func.grad(f, {argnums = 3}), a, b)
      assert.truthy(err:find("out of range", 1, true), err)
      H.assert_error_names("argnums", func.grad(f, {argnums = 0}), a, b)
      H.assert_error_names("argnums", func.grad(f, {argnums = -3}), a, b)
      H.assert_error_names("argnums", func.grad(f, {argnums = 1.5}), a, b)
      H.assert_error_names("argnums", func.grad(f, {argnums = "1"}), a, b)
      H.assert_error_names("twice", func.grad(f, {argnums = {1, -2}}), a, b)
      H.assert_error_names("empty", func.grad(f, {argnums = {}}), a, b)
      H.assert_error_names("argnum", func.grad, f, {argnum = 1})
      H.assert_error_names("function", func.grad, 42)
    end)

    it("rejects integer inputs, a missing aux and extra results", function()
      H.assert_error_names("int64", func.grad(function(x) return x:sum() end),
                           lg.tensor({1, 2}, {dtype = "int64"}))
      H.assert_error_names("has_aux", func.grad(function(x) return x:sum() end,
                                                {has_aux = true}), t64({1}))
      H.assert_error_names("has_aux", func.grad(function(x) return x:sum(), 1 end), t64({1}))
      H.assert_error_names("tensor", func.grad(function() return 3 end), t64({1}))
    end)

    it("never touches the inputs' .grad", function()
      local x = t64({1, 2}):requires_grad_()
      local w = t64({3, 4}):requires_grad_()
      func.grad(function(x) return (x * w):sum() end)(x)
      func.grad(function(v)
        return func.grad(function(y) return (y * y * w):sum() end)(v):sum()
      end)(x)
      func.hessian(cube_sum)(x)
      func.jvp(cube_sum, {x}, {w})
      select(2, func.vjp(cube_sum, x))(t64(1))
      assert.is_nil(x.grad)
      assert.is_nil(w.grad)
      local g = w:detach():clone()
      x.grad = g
      func.grad(cube_sum)(x)
      assert.are.equal(g, x.grad)
      same(x.grad, {2}, {3, 4})
    end)

    it("results are differentiable when an input requires grad outside", function()
      local x = t64({1, 2}):requires_grad_()
      local g = func.grad(cube_sum)(x)
      assert.is_not_nil(g.grad_fn)
      same(g, {2}, {3, 12})
      g:sum():backward() -- d/dx sum(3x^2) = 6x
      same(x.grad, {2}, {6, 12})
    end)

    it("results are differentiable in a non-differentiated argument requiring grad", function()
      local x, w = t64({1, 2}), t64({3, 4}):requires_grad_()
      local g = func.grad(function(a, b) return (a * a * b[1]):sum() end)(x, {w})
      same(g, {2}, {6, 16}) -- 2 x w
      assert.is_not_nil(g.grad_fn)
      g:sum():backward()   -- d/dw sum(2 x w) = 2x
      same(w.grad, {2}, {2, 4})
    end)

    it("is detached under no_grad even for inputs requiring grad", function()
      local x = t64({1, 2}):requires_grad_()
      local g = lg.no_grad(func.grad(cube_sum), x)
      same(g, {2}, {3, 12})
      assert.is_nil(g.grad_fn)
    end)
  end)

  describe("grad_and_value", function()
    it("returns grads and value, and aux", function()
      local x = t64({1, 2})
      local g, v = func.grad_and_value(cube_sum)(x)
      same(g, {2}, {3, 12})
      same(v, {}, {9})
      assert.is_nil(v.grad_fn)
      local g2, v2, aux = func.grad_and_value(function(x)
        return cube_sum(x), x:sum()
      end, {has_aux = true})(x)
      same(g2, {2}, {3, 12})
      same(v2, {}, {9})
      same(aux, {}, {3})
    end)

    it("value is differentiable when the input requires grad", function()
      local x = t64({1, 2}):requires_grad_()
      local _, v = func.grad_and_value(cube_sum)(x)
      v:backward()
      same(x.grad, {2}, {3, 12})
    end)

    it("takes argnums arrays", function()
      local gs, v = func.grad_and_value(function(a, b) return (a * b):sum() end,
                                        {argnums = {1, 2}})(t64({1, 2}), t64({3, 4}))
      same(gs[1], {2}, {3, 4})
      same(gs[2], {2}, {1, 2})
      same(v, {}, {11})
    end)
  end)

  describe("vjp", function()
    it("returns output and a vjp_fn with one gradient per primal", function()
      local x, y = t64({1, 2, 3}), t64({4, 5, 6})
      local out, vjp_fn = func.vjp(function(a, b) return a * b:sin() end, x, y)
      local ys = H.values(y)
      same(out, {3}, {math.sin(ys[1]), 2 * math.sin(ys[2]), 3 * math.sin(ys[3])})
      assert.is_nil(out.grad_fn)
      local v = t64({1, -1, 2})
      local gx, gy = vjp_fn(v)
      same(gx, {3}, {math.sin(ys[1]), -math.sin(ys[2]), 2 * math.sin(ys[3])})
      same(gy, {3}, {1 * math.cos(ys[1]), -2 * math.cos(ys[2]), 6 * math.cos(ys[3])})
      assert.is_nil(gx.grad_fn)
      -- callable again
      local gx2 = vjp_fn(v)
      agree(gx2, gx)
    end)

    it("handles pytree primals and outputs", function()
      local p = {a = t64({1, 2}), b = t64(3)}
      local out, vjp_fn = func.vjp(function(q) return {q.a * q.b, s = q.a:sum()} end, p)
      same(out[1], {2}, {3, 6})
      same(out.s, {}, {3})
      local g = vjp_fn({t64({1, 1}), s = t64(2)})
      same(g.a, {2}, {5, 5}) -- b + 2
      same(g.b, {}, {3})     -- sum(a)
      H.assert_error_names("structure", vjp_fn, t64({1, 1}))
      H.assert_error_names("shape", vjp_fn, {t64({1, 1, 1}), s = t64(2)})
    end)

    it("takes has_aux with the function: vjp({f, has_aux = true}, ...)", function()
      local out, vjp_fn, aux = func.vjp({function(x) return x * 2, x:sum() end, has_aux = true},
                                        t64({1, 2}))
      same(out, {2}, {2, 4})
      same(aux, {}, {3})
      same(vjp_fn(t64({1, 1})), {2}, {2, 2})
      H.assert_error_names("unknown option", func.vjp, {function(x) return x end, aux = true},
                           t64({1}))
    end)

    it("agrees with jvp: <v, J t> = <J^T v, t>", function()
      lg.manual_seed(3)
      local f = function(x) return (x:sin() * x:sum()):exp() end
      local x = lg.randn(4, F64)
      local v, tan = lg.randn(4, F64), lg.randn(4, F64)
      local _, vjp_fn = func.vjp(f, x)
      local _, jt = func.jvp(f, {x}, {tan})
      local lhs = (v * jt):sum():item()
      local rhs = (vjp_fn(v) * tan):sum():item()
      assert.is_true(math.abs(lhs - rhs) < 1e-10 * (1 + math.abs(lhs)), lhs .. " vs " .. rhs)
    end)

    it("output and gradients are differentiable when the primal requires grad", function()
      local x = t64({1, 2}):requires_grad_()
      local out, vjp_fn = func.vjp(function(a) return a * a end, x)
      assert.is_not_nil(out.grad_fn)
      local g = vjp_fn(t64({1, 1}))
      g:sum():backward() -- d/dx sum(2x) = 2
      same(x.grad, {2}, {2, 2})
    end)
  end)

  describe("jvp", function()
    it("gives the directional derivative", function()
      local x = t64({0.5, 1.5})
      local out, jt = func.jvp(function(x) return x:sin() end, {x}, {t64({1, 2})})
      same(out, {2}, map_values(x, math.sin))
      same(jt, {2}, {math.cos(0.5), 2 * math.cos(1.5)})
      assert.is_nil(out.grad_fn)
      assert.is_nil(jt.grad_fn)
    end)

    it("takes several primals, a single tensor, pytrees and has_aux", function()
      local out, jt = func.jvp(function(a, b) return a * b end,
                               {t64({1, 2}), t64({3, 4})}, {t64({1, 0}), t64({0, 1})})
      same(out, {2}, {3, 8})
      same(jt, {2}, {3, 2})
      local _, jt1 = func.jvp(function(a) return a * a end, t64(3), t64(1))
      same(jt1, {}, {6})
      local o, tp, aux = func.jvp(function(p) return {p.u * p.v}, "aux" end,
                                  {{u = t64(2), v = t64(5)}}, {{u = t64(1), v = t64(1)}},
                                  {has_aux = true})
      same(o[1], {}, {10})
      same(tp[1], {}, {7})
      assert.are.equal("aux", aux)
    end)

    it("gives zeros for an output that does not depend on the primals", function()
      local _, jt = func.jvp(function(x) return {x * 2, lg.ones(2, F64), x:gt(1)} end,
                             {t64({1, 2})}, {t64({1, 1})})
      same(jt[1], {2}, {2, 2})
      same(jt[2], {2}, {0, 0})
      H.assert_tensor(jt[3], {2}, "bool", {false, false})
      local J = func.jacrev(function(x) return {x * 2, x:gt(1)} end)(t64({1, 2}))
      same(J[1], {2, 2}, {2, 0, 0, 2})
      same(J[2], {2, 2}, {0, 0, 0, 0})
    end)

    it("checks tangents against primals", function()
      local f = function(x) return x end
      H.assert_error_names("shape", func.jvp, f, {t64({1, 2})}, {t64({1})})
      H.assert_error_names("structure", func.jvp, f, {t64({1, 2})}, {t64({1, 2}), t64(1)})
      H.assert_error_names("{tbl}", func.jvp, f, {a = t64(1)}, {a = t64(1)})
    end)
  end)

  describe("jacobians", function()
    it("of elementwise maps are diagonal", function()
      local x = t64({0.2, -0.7, 1.1})
      local f = function(v) return v:tanh() end
      local expected = diag(map_values(x, function(v) return 1 - math.tanh(v) ^ 2 end))
      same(func.jacrev(f)(x), {3, 3}, expected)
      same(func.jacfwd(f)(x), {3, 3}, expected)
    end)

    it("jacrev equals jacfwd, with shape output .. input", function()
      lg.manual_seed(7)
      local A = lg.randn(2, 3, F64)
      local f = function(x) return (A * x:sin()):exp() end -- {2,3} from {3}
      local x = lg.randn(3, F64)
      local jr, jf = func.jacrev(f)(x), func.jacfwd(f)(x)
      assert.are.same({2, 3, 3}, H.shape(jr))
      agree(jf, jr)
      local g = function(m) return m:sum() * m end -- {2,2} -> {2,2}, jac {2,2,2,2}
      local m = t64({{1, 2}, {3, 4}})
      jr, jf = func.jacrev(g)(m), func.jacfwd(g)(m)
      assert.are.same({2, 2, 2, 2}, H.shape(jr))
      agree(jf, jr)
      -- d(s m_ij)/d m_kl = s [ij == kl] + m_ij with s = 10
      local values = H.values(jr)
      local mv = H.values(m)
      for ij = 1, 4 do
        for kl = 1, 4 do
          local want = mv[ij] + ((ij == kl) and 10 or 0)
          assert.are.equal(want, values[(ij - 1) * 4 + kl])
        end
      end
    end)

    it("of a scalar output has the input's shape", function()
      local x = t64({1, 2})
      same(func.jacrev(cube_sum)(x), {2}, {3, 12})
      same(func.jacfwd(cube_sum)(x), {2}, {3, 12})
    end)

    it("follow argnums and pytree outputs", function()
      local f = function(a, b) return {p = a * b, s = (a + b):sum()} end
      local a, b = t64({1, 2}), t64({3, 4})
      for _, jac in ipairs({func.jacrev, func.jacfwd}) do
        local J = jac(f, {argnums = {1, 2}})(a, b)
        same(J.p[1], {2, 2}, {3, 0, 0, 4})
        same(J.p[2], {2, 2}, {1, 0, 0, 2})
        same(J.s[1], {2}, {1, 1})
        same(J.s[2], {2}, {1, 1})
        local Jb = jac(f, {argnums = -1})(a, b)
        same(Jb.p, {2, 2}, {1, 0, 0, 2})
      end
    end)

    it("take has_aux", function()
      local J, aux = func.jacrev(function(x) return x * 3, x * 2 end, {has_aux = true})(t64({1}))
      same(J, {1, 1}, {3})
      same(aux, {1}, {2})
      assert.is_nil(aux.grad_fn)
    end)

    it("are differentiable when the input requires grad", function()
      local x = t64({1, 2}):requires_grad_()
      local J = func.jacrev(function(v) return v * v end)(x)
      assert.is_not_nil(J.grad_fn)
      J:sum():backward()
      same(x.grad, {2}, {2, 2})
    end)
  end)

  describe("hessian", function()
    it("of sum(x^3) is diag(6x)", function()
      local x = t64({1, -2, 0.5})
      local h = func.hessian(cube_sum)(x)
      same(h, {3, 3}, diag({6, -12, 3}))
      assert.is_nil(h.grad_fn)
    end)

    it("of a two-variable function", function()
      -- f(x, y) = x^2 y + sin(x y): the 2x2 hessian in closed form
      local f = function(v) local x, y = v[1], v[2]
        return x * x * y + (x * y):sin() end
      local function f2(v) return f({v:select(1, 1), v:select(1, 2)}) end
      local x, y = 0.7, -1.3
      local s, c = math.sin(x * y), math.cos(x * y)
      local expected = {2 * y - y * y * s, 2 * x + c - x * y * s,
                        2 * x + c - x * y * s, -x * x * s}
      -- via a table of two scalars and argnums {1, 2} of a two-argument f
      local hh = func.hessian(function(a, b) return f({a, b}) end, {argnums = {1, 2}})(t64(x), t64(y))
      same(hh[1][1], {}, {expected[1]})
      same(hh[1][2], {}, {expected[2]})
      same(hh[2][1], {}, {expected[3]})
      same(hh[2][2], {}, {expected[4]})
      -- via one vector argument
      same(func.hessian(f2)(t64({x, y})), {2, 2}, expected)
    end)

    it("of a pytree argument has the nested structure", function()
      local f = function(p) return (p.a * p.a * p.b):sum() end
      local H2 = func.hessian(f)({a = t64({1, 2}), b = t64(3)})
      same(H2.a.a, {2, 2}, {6, 0, 0, 6})  -- 2b on the diagonal
      same(H2.a.b, {2}, {2, 4})           -- 2a
      same(H2.b.a, {2}, {2, 4})
      same(H2.b.b, {}, {0})
    end)
  end)

  describe("tree", function()
    it("flattens in a deterministic order and round-trips", function()
      local x, y, z = t64(1), t64(2), t64(3)
      local value = {z = z, y, a = {x, "s"}, [10] = 5, x}
      local leaves, spec = tree.flatten(value)
      assert.are.equal(6, #leaves)
      -- array part, then keys by tostring: "10" < "a" < "z"
      assert.are.equal(y, leaves[1])
      assert.are.equal(x, leaves[2])
      assert.are.equal(5, leaves[3])
      assert.are.equal(x, leaves[4])
      assert.are.equal("s", leaves[5])
      assert.are.equal(z, leaves[6])
      local back = tree.unflatten(spec, leaves)
      assert.are.equal(y, back[1])
      assert.are.equal(x, back[2])
      assert.are.equal(z, back.z)
      assert.are.equal(5, back[10])
      assert.are.equal("s", back.a[2])
      assert.are.equal("{*, *, [10] = *, a = {*, *}, z = *}", tostring(spec))
      assert.are.same(leaves, tree.leaves(value))
    end)

    it("treats a tensor as a one-leaf tree", function()
      local x = t64(1)
      local leaves, spec = tree.flatten(x)
      assert.are.equal(1, #leaves)
      assert.are.equal(x, leaves[1])
      same(tree.unflatten(spec, {t64(2)}), {}, {2})
    end)

    it("maps tensors and passes other leaves through", function()
      local value = {w = t64({1, 2}), n = 3, sub = {t64(5)}}
      local doubled = tree.map(function(t) return t * 2 end, value)
      same(doubled.w, {2}, {2, 4})
      same(doubled.sub[1], {}, {10})
      assert.are.equal(3, doubled.n)
      local sums = tree.map(function(a, b) return a + b end, value, doubled)
      same(sums.w, {2}, {3, 6})
      H.assert_error_names("structure", tree.map, function(a) return a end, value, {w = t64(1)})
    end)

    it("rejects a wrong leaf count and cycles", function()
      local _, spec = tree.flatten({t64(1), t64(2)})
      H.assert_error_names("leaves", tree.unflatten, spec, {t64(1)})
      local cyclic = {}
      cyclic.self = cyclic
      H.assert_error_names("cycle", tree.flatten, cyclic)
    end)
  end)
end)
