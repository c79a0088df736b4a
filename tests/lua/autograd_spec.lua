-- autograd_spec.lua: README's Autograd section: requires_grad, .grad,
-- grad_fn, leaves, detach, backward and its options, retain_grad, grad mode
-- guards, lg.autograd.grad, custom Functions, gradcheck, the in-place
-- checks, broadcasting and flat memory over many backward passes.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

local F64 = {dtype = "float64"}

local function t64(data, opts)
  opts = opts or {}
  return lg.tensor(data, {dtype = "float64", requires_grad = opts.requires_grad})
end

local function leaf(data) return t64(data, {requires_grad = true}) end

-- Asserts tensor t has shape and values (flat array) within 1e-10.
local function same(t, shape, data, label)
  H.assert_tensor(t, shape, "float64", data, 1e-10, 1e-10, label)
end

local function ones(n) return lg.ones(n, F64) end

describe("autograd", function()
  describe("requires_grad", function()
    it("is off by default and set by the option, requires_grad_ and assignment", function()
      local x = t64({1, 2})
      assert.is_false(x.requires_grad)
      assert.are.equal(x, x:requires_grad_())
      assert.is_true(x.requires_grad)
      x:requires_grad_(false)
      assert.is_false(x.requires_grad)
      x.requires_grad = true
      assert.is_true(x.requires_grad)
      assert.is_true(leaf({1}).requires_grad)
      assert.is_true(lg.zeros(2, {dtype = "float32", requires_grad = true}).requires_grad)
    end)

    it("spreads to results of ops, not to results under no_grad", function()
      local x = leaf({1, 2})
      assert.is_true((x * 2).requires_grad)
      assert.is_false((t64({1}) * 2).requires_grad)
      assert.is_false(lg.no_grad(function() return x * 2 end).requires_grad)
    end)

    it("is refused for integer and bool tensors", function()
      for _, dtype in ipairs({"int32", "int64", "uint8", "bool"}) do
        local t = lg.zeros(2, {dtype = dtype})
        H.assert_error_names(dtype, t.requires_grad_, t)
        H.assert_error_names("floating point", lg.zeros, 2, {dtype = dtype, requires_grad = true})
      end
    end)
  end)

  describe("leaves, grad_fn and detach", function()
    it("tell leaves from results", function()
      local x = leaf({1, 2})
      local y = x * 3
      assert.is_true(x.is_leaf)
      assert.is_false(y.is_leaf)
      assert.is_true(t64({1}).is_leaf)
      assert.is_nil(x.grad_fn)
      assert.are.equal("MulBackward0", y.grad_fn:name())
      assert.truthy(tostring(y):find("grad_fn=<MulBackward0>", 1, true), tostring(y))
      assert.truthy(tostring(x):find("requires_grad=true", 1, true), tostring(x))
      assert.are.equal("<SinBackward0>", tostring(y:sin().grad_fn))
    end)

    it("detach shares storage but leaves the graph", function()
      local x = leaf({1, 2})
      local y = x * 3
      local d = y:detach()
      assert.is_false(d.requires_grad)
      assert.is_nil(d.grad_fn)
      assert.is_true(d.is_leaf)
      same(d, {2}, {3, 6})
      lg.no_grad(function() d[1] = 10 end)
      same(y:detach(), {2}, {10, 6})
    end)
  end)

  describe(".grad", function()
    it("is nil until backward, then keeps its identity", function()
      local x = leaf({1, 2})
      assert.is_nil(x.grad)
      local y = x * x
      y:backward(ones(2))
      same(x.grad, {2}, {2, 4})
      assert.are.equal(x.grad, x.grad)
      assert.is_nil(x.grad.grad_fn)
    end)

    it("accumulates over backward calls and can be assigned or cleared", function()
      local x = leaf({1, 2})
      ;(x * 3):backward(ones(2))
      ;(x * x):backward(ones(2))
      same(x.grad, {2}, {5, 7})
      local g = t64({9, 9})
      x.grad = g
      assert.are.equal(g, x.grad)
      ;(x * 1):backward(ones(2))
      same(x.grad, {2}, {10, 10})
      x.grad = nil
      assert.is_nil(x.grad)
    end)

    it("refuses an assignment of the wrong shape or dtype", function()
      local x = leaf({1, 2, 3})
      H.assert_error_names("shape", function() x.grad = lg.zeros(2, F64) end)
      H.assert_error_names("dtype", function() x.grad = lg.zeros(3) end)
      assert.is_nil(x.grad)
    end)

    it("of a broadcast input is reduced to the input's shape", function()
      local w = leaf({1, 2, 3})
      local b = leaf(5)
      local m = t64({{1, 2, 3}, {4, 5, 6}})
      ;(m * w + b):backward(lg.ones(2, 3, F64))
      same(w.grad, {3}, {5, 7, 9})
      same(b.grad, {}, {6})
      local c = leaf({{1}, {2}})           -- {2,1} against {1,3}
      local r = leaf({{10, 20, 30}})
      ;(c * r):backward(lg.ones(2, 3, F64))
      same(c.grad, {2, 1}, {60, 60})
      same(r.grad, {1, 3}, {3, 3, 3})
    end)
  end)

  describe("backward", function()
    it("needs a gradient for a non-scalar output", function()
      local x = leaf({1, 2})
      H.assert_error_names("scalar", (x * 2).backward, x * 2)
    end)

    it("uses an implicit gradient of 1 for a scalar output", function()
      local x = leaf(3)
      local y = x * x
      y:backward()
      same(x.grad, {}, {6})
      local v = leaf({1, 2})
      ;(v * v):sum():backward()
      same(v.grad, {2}, {2, 4})
    end)

    it("twice needs retain_graph", function()
      local x = leaf({1, 2})
      local y = (x * x):exp()
      y:backward(ones(2), {retain_graph = true})
      y:backward(ones(2))
      local e = {2 * 2 * math.exp(1), 2 * 4 * math.exp(4)}
      same(x.grad, {2}, e)
      H.assert_error_names("retain_graph", y.backward, y, ones(2))
    end)

    it("rejects a gradient of the wrong shape", function()
      local x = leaf({1, 2})
      local y = x * 2
      H.assert_error_names("shape", y.backward, y, ones(3))
    end)

    it("with create_graph records the backward pass", function()
      local x = leaf({1, 2})
      local y = x * x * x
      y:backward(ones(2), {create_graph = true})
      local g = x.grad
      same(g, {2}, {3, 12})
      assert.is_not_nil(g.grad_fn)
      local g2 = lg.autograd.grad(g, x, {grad_outputs = ones(2)})
      same(g2[1], {2}, {6, 12})
      -- x.grad's graph saved x: a reference cycle, as in PyTorch; break it
      x.grad = nil
    end)

    it("retain_grad keeps a non-leaf's gradient", function()
      local x = leaf({1, 2})
      local m = x * 3
      m:retain_grad()
      local n = m * m
      n:backward(ones(2))
      same(m.grad, {2}, {6, 12})
      same(x.grad, {2}, {18, 36})
      local other = x * 2
      ;(other * other):backward(ones(2))
      assert.is_nil(other.grad)
    end)
  end)

  describe("grad mode", function()
    it("no_grad and enable_grad work as to-be-closed guards", function()
      local x = leaf({1})
      assert.is_true(lg.is_grad_enabled())
      do
        local _ <close> = lg.no_grad()
        assert.is_false(lg.is_grad_enabled())
        assert.is_false((x * 2).requires_grad)
        do
          local _ <close> = lg.enable_grad()
          assert.is_true(lg.is_grad_enabled())
          assert.is_true((x * 2).requires_grad)
        end
        assert.is_false(lg.is_grad_enabled())
      end
      assert.is_true(lg.is_grad_enabled())
    end)

    it("guards restore the mode when the block raises", function()
      local ok = pcall(function()
        local _ <close> = lg.no_grad()
        error("boom")
      end)
      assert.is_false(ok)
      assert.is_true(lg.is_grad_enabled())
    end)

    it("a guard that is never closed changes nothing when it is collected", function()
      local guard = lg.no_grad() -- a plain local: the mode stays off
      assert.is_false(lg.is_grad_enabled())
      guard = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.is_false(lg.is_grad_enabled()) -- collection did not restore "on"
      local kept = lg.enable_grad()
      assert.is_true(lg.is_grad_enabled())
      kept = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.is_true(lg.is_grad_enabled())
    end)

    it("wraps functions, passing arguments and results, restoring on error", function()
      local x = leaf({1})
      local a, b = lg.no_grad(function(u, k) return u * k, lg.is_grad_enabled() end, x, 2)
      assert.is_false(a.requires_grad)
      assert.is_false(b)
      local ok, err = pcall(lg.no_grad, function() error("inner failure") end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("inner failure", 1, true))
      assert.is_true(lg.is_grad_enabled())
      local inside = lg.no_grad(function()
        return lg.enable_grad(function() return lg.is_grad_enabled() end), lg.is_grad_enabled()
      end)
      assert.is_true(inside)
      ok = pcall(lg.no_grad, function()
        lg.enable_grad(function() error("x") end)
      end)
      assert.is_false(ok)
      assert.is_true(lg.is_grad_enabled())
      H.assert_error_names("no_grad", lg.no_grad, 42)
    end)
  end)

  describe("lg.autograd.grad", function()
    it("refuses an empty array of inputs, touching no .grad (as PyTorch)", function()
      local b = leaf({1, 2, 3})
      local ok, err = pcall(lg.autograd.grad, (b * b):sum(), {}, {create_graph = true})
      assert.is_false(ok)
      assert.truthy(err:find("grad: expected at least one input tensor", 1, true), err)
      assert.is_nil(b.grad)
    end)

    it("returns gradients as an array without touching .grad", function()
      local x, y = leaf({1, 2}), leaf({3, 4})
      local out = x * y
      local gs = lg.autograd.grad(out, {x, y}, {grad_outputs = ones(2)})
      same(gs[1], {2}, {3, 4})
      same(gs[2], {2}, {1, 2})
      assert.is_nil(x.grad)
      assert.is_nil(y.grad)
    end)

    it("takes grad_outputs as a tensor or an array, and several outputs", function()
      local x = leaf({1, 2})
      local a, b = x * 2, x * x
      local gs = lg.autograd.grad({a, b}, {x}, {grad_outputs = {t64({1, 1}), t64({1, 10})}})
      same(gs[1], {2}, {4, 42})
      H.assert_error_names("grad_outputs", lg.autograd.grad, {a, b}, {x},
                           {grad_outputs = {t64({1, 1})}})
    end)

    it("allow_unused gives nil for an unused input, and an error without it", function()
      local x, z = leaf({1, 2}), leaf({5})
      local out = (x * x)
      local gs = lg.autograd.grad(out, {x, z}, {grad_outputs = ones(2), allow_unused = true,
                                                retain_graph = true})
      same(gs[1], {2}, {2, 4})
      assert.is_nil(gs[2])
      H.assert_error_names("allow_unused", lg.autograd.grad, out, {x, z},
                           {grad_outputs = ones(2)})
    end)

    it("create_graph gives differentiable gradients (second derivatives)", function()
      local x = leaf({0.5, 1.5})
      local g = lg.autograd.grad(x:sin(), x, {grad_outputs = ones(2), create_graph = true})[1]
      assert.is_not_nil(g.grad_fn)
      local g2 = lg.autograd.grad(g, x, {grad_outputs = ones(2)})[1]
      same(g2, {2}, {-math.sin(0.5), -math.sin(1.5)})
    end)

    it("refuses an input that does not require grad", function()
      local x = leaf({1})
      H.assert_error_names("require", lg.autograd.grad, x * 2, {t64({1})},
                           {grad_outputs = ones(1)})
    end)
  end)

  describe("Function", function()
    local Cube = lg.autograd.Function{
      name = "Cube",
      forward = function(ctx, x)
        ctx:save_for_backward(x)
        return x * x * x
      end,
      backward = function(ctx, g)
        local x = ctx.saved_tensors[1]
        return g * 3 * x * x
      end,
    }

    it("runs forward and backward written in Lua", function()
      local x = leaf({1, 2, 3})
      local y = Cube(x)
      same(y:detach(), {3}, {1, 8, 27})
      assert.are.equal("CubeBackward", y.grad_fn:name())
      y:backward(ones(3))
      same(x.grad, {3}, {3, 12, 27})
      same(Cube.apply(t64({2})), {1}, {8})
    end)

    it("passes gradcheck and supports double backward", function()
      assert.is_true(lg.autograd.gradcheck(Cube, {leaf({0.5, -1.2, 2})}))
      local x = leaf({1, 2})
      local g = lg.autograd.grad(Cube(x), x, {grad_outputs = ones(2), create_graph = true})[1]
      same(g, {2}, {3, 12})
      local g2 = lg.autograd.grad(g, x, {grad_outputs = ones(2)})[1]
      same(g2, {2}, {6, 12})
      assert.is_true(lg.autograd.gradgradcheck(Cube, {leaf({0.3, 1.1})}))
    end)

    it("with several inputs routes gradients, nil for non-tensors", function()
      local Scale = lg.autograd.Function{
        forward = function(ctx, a, k, b)
          ctx:save_for_backward(a, b)
          ctx.k = k
          return a * b * k
        end,
        backward = function(ctx, g)
          local a, b = table.unpack(ctx.saved_tensors)
          return g * b * ctx.k, nil, g * a * ctx.k
        end,
      }
      local a, b = leaf({1, 2}), leaf({3, 4})
      Scale(a, 10, b):backward(ones(2))
      same(a.grad, {2}, {30, 40})
      same(b.grad, {2}, {10, 20})
    end)

    it("a wrong backward is caught by gradcheck", function()
      local Wrong = lg.autograd.Function{
        forward = function(_, x) return x * x end,
        backward = function(_, g) return g end, -- should be 2 x g
      }
      local x = leaf({1, 2})
      local ok, message = lg.autograd.gradcheck(Wrong, {x}, {raise_exception = false})
      assert.is_false(ok)
      assert.truthy(message:find("mismatch", 1, true), message)
      H.assert_error_names("gradcheck", lg.autograd.gradcheck, Wrong, {x})
    end)

    it("records nothing when no input requires grad", function()
      local y = Cube(t64({2}))
      assert.is_nil(y.grad_fn)
      same(y, {1}, {8})
    end)

    it("rejects a bad definition", function()
      H.assert_error_names("Function", lg.autograd.Function, {forward = function() end})
    end)
  end)

  describe("gradcheck", function()
    it("passes built-in ops and wants float64", function()
      assert.is_true(lg.autograd.gradcheck(function(a) return (a * a):tanh() end,
                                           {leaf({0.1, 0.7})}))
      local ok, message = lg.autograd.gradcheck(function(a) return a * 2 end,
        {lg.tensor({1, 2}, {dtype = "float32", requires_grad = true})}, {raise_exception = false})
      assert.is_false(ok)
      assert.truthy(message:find("float64", 1, true), message)
    end)

    it("gradgradcheck wants an input that requires grad and keeps the caller's random stream", function()
      local ok, err = pcall(lg.autograd.gradgradcheck, function(a) return a * 2 end, {})
      assert.is_false(ok)
      assert.truthy(err:find("at least one input tensor that requires grad", 1, true), err)
      lg.manual_seed(7)
      local expected = lg.rand(3)
      lg.manual_seed(7)
      assert.is_true(lg.autograd.gradgradcheck(function(a) return (a * a):sin() end, {leaf({0.2, 0.5})}))
      assert.is_false(lg.rand(3):eq(expected):all():item()) -- the stream went on, not back to a fixed seed
    end)

    it("checks functions of several inputs", function()
      assert.is_true(lg.autograd.gradcheck(function(a, b) return (a * b):tanh() end,
                                           {leaf({0.1, 0.7}), leaf({-0.4, 2})}))
    end)
  end)

  describe("in-place checks", function()
    it("backward after modifying a saved tensor names the op", function()
      local x = leaf({1, 2})
      local y = x * 2
      local z = y:exp()
      y:mul_(3)
      local err = H.assert_error_names("ExpBackward0", z.backward, z, ones(2))
      assert.truthy(err:find("in place", 1, true), err)
    end)

    it("changing a tensor whose value no rule needs is fine (z = y + 1)", function()
      local x = leaf({1, 2})
      local y = x * 2
      local z = (y + 1) * 3
      y:mul_(3) -- add saves nothing, as in PyTorch
      z:backward(ones(2))
      same(x.grad, {2}, {6, 6})
    end)

    it("in place on a leaf requiring grad is an error, allowed under no_grad", function()
      local x = leaf({1, 2})
      H.assert_error_names("leaf", x.add_, x, 1)
      lg.no_grad(function() x:add_(1) end)
      same(x:detach(), {2}, {2, 3})
    end)
  end)

  describe("memory", function()
    it("stays flat over 10 000 forward and backward passes", function()
      lg.manual_seed(1)
      local w = lg.randn(8, 8, {dtype = "float64", requires_grad = true})
      local x = lg.randn(8, 8, F64)
      local seed = lg.ones(8, 8, F64)
      local peak = 0
      local function run(n)
        for _ = 1, n do
          local y = ((w * x):tanh() * w):exp()
          y:backward(seed)
          w.grad = nil
          local m = lg.memory_in_use()
          if m > peak then peak = m end
        end
      end
      run(1000)
      collectgarbage()
      collectgarbage()
      local tensors_1000, lua_kb_1000 = lg.memory_in_use(), collectgarbage("count")
      run(9000)
      collectgarbage()
      collectgarbage()
      local tensors_10000, lua_kb_10000 = lg.memory_in_use(), collectgarbage("count")
      assert.is_true(tensors_10000 <= tensors_1000,
        ("tensor bytes grew from %d after 1000 passes to %d after 10000"):format(
          tensors_1000, tensors_10000))
      assert.is_true(lua_kb_10000 - lua_kb_1000 < 256,
        ("Lua heap grew by %.0f kB between 1000 and 10000 passes"):format(
          lua_kb_10000 - lua_kb_1000))
      -- without collectgarbage() in the loop, tensor memory stays bounded
      assert.is_true(peak < 16 * 1024 * 1024, ("peak tensor bytes %d"):format(peak))
    end)
  end)
end)
