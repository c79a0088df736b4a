-- anomaly_spec.lua: lg.autograd.detect_anomaly: a to-be-closed guard and a
-- function form; in anomaly mode a backward (or autograd.grad) fails as
-- soon as a rule produces NaN or Inf, naming the rule and the input; off,
-- the same backward runs and the NaN reaches .grad as in PyTorch.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd

local function leaf(data) return lg.tensor(data, {dtype = "float64", requires_grad = true}) end

local function fails_with(fn, fragment)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error containing: " .. fragment)
  assert.truthy(tostring(err):find(fragment, 1, true), tostring(err))
end

describe("detect_anomaly", function()
  after_each(function() A.set_detect_anomaly(false) end)

  it("is off by default and the guard restores the previous mode", function()
    assert.is_false(A.is_anomaly_enabled())
    do
      local _ <close> = A.detect_anomaly()
      assert.is_true(A.is_anomaly_enabled())
      do
        local _ <close> = A.detect_anomaly()
        assert.is_true(A.is_anomaly_enabled())
      end
      assert.is_true(A.is_anomaly_enabled()) -- the inner guard restores "on"
    end
    assert.is_false(A.is_anomaly_enabled())
  end)

  it("names the op, the input and NaN", function()
    local a, b = lg.tensor({0.0}, {dtype = "float64"}), leaf({0.0})
    local _ <close> = A.detect_anomaly()
    fails_with(function() (a / b):sum():backward() end,
      "backward: DivBackward0 produced NaN in the gradient of input 2 (anomaly mode)")
  end)

  it("names Inf", function()
    local x = leaf({0.0, 4.0})
    local _ <close> = A.detect_anomaly()
    fails_with(function() x:sqrt():sum():backward() end,
      "backward: SqrtBackward0 produced Inf in the gradient of input 1 (anomaly mode)")
    assert.is_nil(x.grad) -- the failed run stored nothing
  end)

  it("finds the op deep in a graph, not the loss at its top", function()
    local w = leaf({1.0, 2.0})
    local _ <close> = A.detect_anomaly()
    -- log(0 * w) is -inf, its gradient 1/0 is Inf; the rest is finite
    local loss = ((w * 0):log():exp() * 3 + w):sum()
    fails_with(function() loss:backward() end, "LogBackward0 produced")
  end)

  it("also checks autograd.grad, and float32 graphs", function()
    local x = lg.tensor({-1.0, 1.0}, {requires_grad = true})
    local _ <close> = A.detect_anomaly()
    fails_with(function() A.grad((x - x):sqrt():sum(), {x}) end,
      "grad: SqrtBackward0 produced Inf")
  end)

  it("names a custom Function's backward", function()
    local Bad = A.Function{
      name = "Bad",
      forward = function(ctx, x) return x * 2 end,
      backward = function(ctx, g) return g * (0 / 0) end,
    }
    local x = leaf({1.0})
    local _ <close> = A.detect_anomaly()
    fails_with(function() Bad(x):sum():backward() end,
      "backward: BadBackward produced NaN in the gradient of input 1")
  end)

  it("does not complain about NaN in the forward pass when gradients are finite", function()
    local x = leaf({-1.0, 2.0})
    local _ <close> = A.detect_anomaly()
    local y = x:log() -- nan at -1, but d log(x)/dx = 1/x is finite
    y:sum():backward()
    H.assert_tensor(x.grad, {2}, "float64", {-1, 0.5}, 1e-12, 1e-12)
  end)

  it("off, the same backward succeeds and the NaN reaches .grad", function()
    local a, b = lg.tensor({0.0}, {dtype = "float64"}), leaf({0.0})
    ;(a / b):sum():backward()
    assert.is_true(b.grad[1] ~= b.grad[1])
  end)

  it("runs a function in anomaly mode and restores the mode, also on error", function()
    local r1, r2 = A.detect_anomaly(function(u, v)
      assert.is_true(A.is_anomaly_enabled())
      return u + v, "second"
    end, 1, 2)
    assert.are.equal(3, r1)
    assert.are.equal("second", r2)
    assert.is_false(A.is_anomaly_enabled())
    local x = leaf({0.0})
    fails_with(function()
      A.detect_anomaly(function() x:sqrt():sum():backward() end)
    end, "SqrtBackward0 produced Inf")
    assert.is_false(A.is_anomaly_enabled())
    fails_with(function() A.detect_anomaly(42) end,
      "detect_anomaly: expected a function or nothing, got number")
  end)

  it("leaves the library working after a failed run", function()
    local x = leaf({0.0, 1.0})
    do
      local _ <close> = A.detect_anomaly()
      fails_with(function() x:sqrt():sum():backward() end, "anomaly mode")
    end
    local w = leaf({3.0})
    ;(w * w):sum():backward()
    H.assert_tensor(w.grad, {1}, "float64", {6}, 1e-12, 1e-12)
  end)

  it("keeps the graph of a failed run for another try with retain_graph", function()
    local x = leaf({0.0})
    local y = x:sqrt():sum()
    do
      local _ <close> = A.detect_anomaly()
      fails_with(function() y:backward({retain_graph = true}) end, "SqrtBackward0")
    end
    y:backward() -- not in anomaly mode: the Inf goes through
    assert.are.equal(math.huge, x.grad[1])
  end)
end)
