-- nn_loss_spec.lua: the fused softmax, loss and normalisation entry points
-- (lg._softmax ... lg._group_norm) against PyTorch fixtures (forward values,
-- input/weight/bias/target gradients, running statistics), gradcheck and
-- gradgradcheck on float64, and argument errors.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

local fixtures = dofile(H.root .. "/tests/fixtures/nn_loss.lua")

local TOL = {float64 = {1e-9, 1e-11}, float32 = {2e-4, 2e-5}}

-- Calls the entry point of case.op with inputs T (a table of tensors).
local function call(op, T, o)
  if op == "softmax" then return lg._softmax(T.x, o.dim) end
  if op == "log_softmax" then return lg._log_softmax(T.x, o.dim) end
  if op == "cross_entropy" then
    return lg._cross_entropy(T.x, T.target, T.weight, o.reduction, o.ignore_index,
                             o.label_smoothing)
  end
  if op == "nll_loss" then
    return lg._nll_loss(T.x, T.target, T.weight, o.reduction, o.ignore_index)
  end
  if op == "layer_norm" then
    return lg._layer_norm(T.x, o.normalized_shape, T.weight, T.bias, o.eps)
  end
  if op == "batch_norm" then
    return lg._batch_norm(T.x, T.running_mean, T.running_var, T.weight, T.bias,
                          o.training, o.momentum, o.eps)
  end
  if op == "group_norm" then
    return lg._group_norm(T.x, o.num_groups, T.weight, T.bias, o.eps)
  end
  error("unknown op " .. op)
end

describe("nn kernels against PyTorch", function()
  for _, case in ipairs(fixtures.cases) do
    it(case.name, function()
      local T = {}
      for k, e in pairs(case.inputs) do
        T[k] = H.tensor(e)
        if case.expected["grad_" .. k] then T[k]:requires_grad_(true) end
      end
      local rtol, atol = table.unpack(TOL[case.dtype])
      local out = call(case.op, T, case.opts)
      H.assert_close(out, case.expected.out, rtol, atol, "output")
      out:backward(H.tensor(case.gout))
      for k, e in pairs(case.expected) do
        local name = k:match("^grad_(.*)")
        if name then
          H.assert_close(T[name].grad, e, rtol, atol, k)
        elseif k == "running_mean" or k == "running_var" then
          H.assert_close(T[k], e, rtol, atol, k)
        end
      end
    end)
  end
end)

-- Small float64 inputs for gradcheck; cases give fn and its inputs.
local function d(...)
  return lg.randn({...}, {dtype = "float64"})
end

local function checks()
  lg.manual_seed(7)
  local idx = lg.tensor({2, 1, 3}, {dtype = "int64"})
  local probs = lg.softmax(d(3, 4), 2)
  local w4 = lg.rand(4, {dtype = "float64"}) + 0.5
  return {
    {"softmax dim 2", function(x) return lg.softmax(x, 2) end, {d(3, 4)}},
    {"softmax dim 1", function(x) return lg.softmax(x, 1) end, {d(3, 2, 2)}},
    {"log_softmax", function(x) return lg.log_softmax(x, -1) end, {d(2, 5)}},
    {"cross_entropy index mean ls w ignore",
     function(x) return lg._cross_entropy(x, idx, w4, "mean", 3, 0.2) end, {d(3, 4)}},
    {"cross_entropy index none",
     function(x) return lg._cross_entropy(x, idx, nil, "none") end, {d(3, 4)}},
    {"cross_entropy (N,C,d) sum",
     function(x) return lg._cross_entropy(x, lg.tensor({{1, 3}, {2, 2}}, {dtype = "int64"}),
                                           nil, "sum", nil, 0.1) end, {d(2, 3, 2)}},
    {"cross_entropy probs (input and target)",
     function(x, t) return lg._cross_entropy(x, t, w4, "mean", nil, 0.3) end,
     {d(3, 4), probs:clone()}},
    {"nll_loss mean weighted",
     function(x) return lg._nll_loss(x, idx, w4, "mean") end, {d(3, 4)}},
    {"layer_norm over 1 dim",
     function(x, w, b) return lg._layer_norm(x, 4, w, b) end, {d(3, 4), d(4), d(4)}},
    {"layer_norm over 2 dims",
     function(x, w, b) return lg._layer_norm(x, {2, 3}, w, b) end, {d(2, 2, 3), d(2, 3), d(2, 3)}},
    {"batch_norm train 2d",
     function(x, w, b) return lg._batch_norm(x, nil, nil, w, b, true) end,
     {d(3, 2, 2, 2), d(2), d(2)}},
    {"batch_norm train 1d",
     function(x, w, b) return lg._batch_norm(x, nil, nil, w, b, true) end,
     {d(4, 3), d(3), d(3)}},
    {"batch_norm eval",
     function(x, w, b)
       return lg._batch_norm(x, lg.zeros(3, {dtype = "float64"}) + 0.1,
                             lg.ones(3, {dtype = "float64"}) * 1.5, w, b, false)
     end, {d(4, 3), d(3), d(3)}},
    {"group_norm",
     function(x, w, b) return lg._group_norm(x, 2, w, b) end, {d(2, 4, 3), d(4), d(4)}},
  }
end

describe("nn kernels: finite differences on float64", function()
  for _, c in ipairs(checks()) do
    local name, fn, inputs = c[1], c[2], c[3]
    for _, x in ipairs(inputs) do x:requires_grad_(true) end
    it("gradcheck " .. name, function()
      assert.is_true(lg.autograd.gradcheck(fn, inputs))
    end)
    it("gradgradcheck " .. name, function()
      assert.is_true(lg.autograd.gradgradcheck(fn, inputs, {atol = 1e-4, rtol = 1e-3}))
    end)
  end
end)

describe("nn kernels: behaviour", function()
  it("softmax is a method and a module function, stable for large inputs", function()
    local x = lg.tensor({{1000.0, 1001.0}, {-1000.0, -1000.0}})
    H.assert_tensor(x:softmax(2), {2, 2}, "float32",
                    {0.26894142, 0.73105858, 0.5, 0.5}, 1e-6, 1e-7)
    H.assert_tensor(lg.log_softmax(x, 2), {2, 2}, "float32",
                    {-1.3132616, -0.31326169, -0.69314718, -0.69314718}, 1e-6, 1e-6)
    H.assert_tensor(x:t():softmax(1), {2, 2}, "float32",
                    {0.26894142, 0.5, 0.73105858, 0.5}, 1e-6, 1e-7)
  end)

  it("cross_entropy equals nll_loss of log_softmax", function()
    lg.manual_seed(3)
    local x = lg.randn(6, 5)
    local t = lg.randint(1, 6, {6})
    local a = lg._cross_entropy(x, t):item()
    local b = lg._nll_loss(x:log_softmax(2), t):item()
    assert.is_true(math.abs(a - b) < 1e-5)
  end)

  it("mean over all-ignored targets is NaN, as in PyTorch", function()
    local v = lg._cross_entropy(lg.zeros(2, 3), lg.tensor({2, 2}, {dtype = "int64"}),
                                nil, "mean", 2):item()
    assert.is_true(v ~= v)
  end)

  it("batch_norm updates running statistics in place, and eval uses them", function()
    local rm, rv = lg.zeros(2), lg.ones(2)
    local x = lg.tensor({{1.0, 2.0}, {3.0, 6.0}})
    lg._batch_norm(x, rm, rv, nil, nil, true, 0.5)
    H.assert_tensor(rm, {2}, "float32", {1.0, 2.0})
    H.assert_tensor(rv, {2}, "float32", {1.5, 4.5}) -- unbiased var 2 and 8
    local y = lg._batch_norm(x, rm, rv, nil, nil, false, 0.5, 0)
    H.assert_tensor(y, {2, 2}, "float32",
                    {0, 0, 2 / math.sqrt(1.5), 4 / math.sqrt(4.5)}, 1e-6, 1e-6)
  end)

  it("one batch_norm used twice in a graph still runs its backward", function()
    local rm, rv = lg.zeros(3), lg.ones(3)
    local w = lg.ones(3, {requires_grad = true})
    local x = lg.randn(4, 3)
    local y = lg._batch_norm(x, rm, rv, w, nil, true)
    local z = lg._batch_norm(y, rm, rv, w, nil, true)
    z:sum():backward()
    assert.is_not_nil(w.grad)
  end)

  it("training passes without recording give the same gradients (fused path)", function()
    lg.manual_seed(5)
    local x = lg.randn(5, 7, {dtype = "float64", requires_grad = true})
    local t = lg.randint(1, 8, {5})
    local w = lg.rand(7, {dtype = "float64"}) + 0.5
    for _, opts in ipairs({{"mean", nil, 0}, {"sum", 3, 0.1}, {"none", 2, 0.3}}) do
      local function loss()
        local l = lg._cross_entropy(x, t, w, opts[1], opts[2], opts[3])
        if opts[1] == "none" then l = (l * lg.arange(1, 6):double()):sum() end
        return l
      end
      local fused = lg.autograd.grad({loss()}, {x})[1]
      local recorded = lg.autograd.grad({loss()}, {x}, {create_graph = true})[1]
      assert.is_true((fused - recorded):abs():max():item() < 1e-12)
      local sx = lg.softmax(x, 1)
      local g1 = lg.autograd.grad({(sx * sx):sum()}, {x})[1]
      sx = lg.softmax(x, 1)
      local g2 = lg.autograd.grad({(sx * sx):sum()}, {x}, {create_graph = true})[1]
      assert.is_true((g1 - g2):abs():max():item() < 1e-12)
    end
  end)
end)

describe("nn kernels: errors name the function", function()
  local x = lg.randn(3, 4)
  it("softmax without a dim", function()
    H.assert_error_names("softmax", function() return lg.softmax(x) end)
  end)
  it("cross_entropy target out of range", function()
    H.assert_error_names({"cross_entropy", "out of bounds"}, function()
      return lg._cross_entropy(x, lg.tensor({1, 5, 2}, {dtype = "int64"}))
    end)
  end)
  it("cross_entropy target of the wrong shape", function()
    H.assert_error_names("cross_entropy", function()
      return lg._cross_entropy(x, lg.tensor({1, 2}, {dtype = "int64"}))
    end)
  end)
  it("cross_entropy with a bad reduction", function()
    H.assert_error_names("reduction", function()
      return lg._cross_entropy(x, lg.tensor({1, 2, 3}, {dtype = "int64"}), nil, "avg")
    end)
  end)
  it("cross_entropy with label_smoothing outside [0, 1]", function()
    H.assert_error_names("label_smoothing", function()
      return lg._cross_entropy(x, lg.tensor({1, 2, 3}, {dtype = "int64"}), nil, nil, nil, 2)
    end)
  end)
  it("nll_loss with probability targets", function()
    H.assert_error_names("nll_loss", function() return lg._nll_loss(x, lg.rand(3, 4)) end)
  end)
  it("layer_norm with a mismatched shape", function()
    H.assert_error_names({"layer_norm", "normalized_shape"}, function()
      return lg._layer_norm(x, 5)
    end)
  end)
  it("batch_norm in eval mode without running statistics", function()
    H.assert_error_names("batch_norm", function() return lg._batch_norm(x) end)
  end)
  it("batch_norm training on one value per channel", function()
    H.assert_error_names("more than 1 value", function()
      return lg._batch_norm(lg.randn(1, 4), nil, nil, nil, nil, true)
    end)
  end)
  it("group_norm with groups not dividing the channels", function()
    H.assert_error_names("num_groups", function() return lg._group_norm(x, 3) end)
  end)
  it("a non-tensor weight", function()
    H.assert_error_names({"layer_norm", "weight"}, function()
      return lg._layer_norm(x, 4, "w")
    end)
  end)
end)
