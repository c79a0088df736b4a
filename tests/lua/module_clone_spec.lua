-- module_clone_spec.lua: module:clone() (a deep copy, as copy.deepcopy
-- gives in PyTorch: new tensors, ties kept inside the copy, nothing shared
-- with the original) and nn.utils.parameters_to_vector /
-- vector_to_parameters (values, order, gradients, wrong calls).
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local func = lg.func

local F64 = {dtype = "float64"}

local function mlp()
  lg.manual_seed(3)
  return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)):double()
end

describe("module:clone", function()
  it("copies every parameter and buffer into new tensors with the same values", function()
    local m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)):double()
    local c = m:clone()
    local mp, cp = m:named_parameters(), c:named_parameters()
    local mb, cb = m:named_buffers(), c:named_buffers()
    for name, p in pairs(mp) do
      assert.are_not.equal(p, cp[name], name)
      H.agree(p, cp[name], 0, name)
      assert.is_true(cp[name].requires_grad, name)
      assert.is_true(cp[name].is_leaf, name)
      assert.is_true(nn.is_parameter(cp[name]), name)
    end
    for name, b in pairs(mb) do
      assert.are_not.equal(b, cb[name], name)
      H.agree(b, cb[name], 0, name)
    end
    assert.are.equal(getmetatable(m), getmetatable(c))
    assert.are.equal(getmetatable(m[1]), getmetatable(c[1]))
    assert.are_not.equal(m[1], c[1])
  end)

  it("shares no storage: changing one leaves the other alone", function()
    local m = mlp()
    local c = m:clone()
    local before = c[1].weight:clone()
    lg.no_grad(function() m[1].weight:fill_(0) end)
    H.agree(c[1].weight, before, 0)
    c[1].bias.grad = nil
    c.extra = nn.Linear(2, 2)
    assert.is_nil(m.extra)
    assert.are.equal(4, #m:parameters())
    assert.are.equal(6, #c:parameters())
  end)

  it("gives the same outputs, and training on the copy leaves the original", function()
    local m = mlp()
    local c = m:clone()
    local x = lg.randn(5, 3, F64)
    H.agree(m(x), c(x), 0)
    c(x):sum():backward()
    assert.is_nil(m[1].weight.grad)
    assert.is_not_nil(c[1].weight.grad)
  end)

  it("keeps ties inside the module as ties in the copy (deepcopy's memo)", function()
    local m = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3)):double()
    m[2].weight = m[1].weight
    m.shared = m[1] -- the same child under two names
    local c = m:clone()
    assert.are.equal(c[1].weight, c[2].weight)
    assert.are_not.equal(m[1].weight, c[1].weight)
    assert.are.equal(c[1], c.shared)
    assert.are.equal(#m:parameters(), #c:parameters())
    -- functional_call sees the tie in the copy
    local w = lg.zeros(3, 3, F64)
    local out = func.functional_call(c, {["1.weight"] = w}, lg.ones(1, 3, F64))
    H.agree(out, c[2].bias:view(1, 3), 1e-12)
  end)

  it("copies gradients, requires_grad, the training flag and settings; shares functions", function()
    local m = mlp()
    m[1].weight.grad = lg.ones(4, 3, F64)
    m[3].weight:requires_grad_(false)
    m:eval()
    local hook = function() end
    m.settings = {scale = 2, hook = hook}
    local c = m:clone()
    H.agree(c[1].weight.grad, lg.ones(4, 3, F64), 0)
    assert.are_not.equal(m[1].weight.grad, c[1].weight.grad)
    assert.is_false(c[3].weight.requires_grad)
    assert.is_false(c.training)
    assert.is_false(c[1].training)
    assert.are_not.equal(m.settings, c.settings)
    assert.are.equal(2, c.settings.scale)
    assert.are.equal(hook, c.settings.hook)
  end)

  it("copies a parametrized module: the parametrization applies to the copied original", function()
    local m = nn.Linear(3, 3):double()
    nn.utils.parametrize.register_parametrization(m, "weight", function(w) return w:triu() end)
    local c = m:clone()
    H.agree(c.weight, m.weight, 0)
    lg.no_grad(function() c.parametrizations.weight.original:fill_(1) end)
    H.agree(c.weight, lg.ones(3, 3, F64):triu(), 0)
    assert.are_not.equal(0, (m.weight - c.weight):abs():sum():item())
  end)

  it("makes an ensemble for stack_module_state", function()
    local base = mlp()
    local models = {}
    for i = 1, 3 do
      models[i] = base:clone()
      lg.no_grad(function() models[i][3].bias:fill_(i) end)
    end
    local params = func.stack_module_state(models)
    assert.are.same({3, 2}, H.shape(params["3.bias"]))
    assert.are.same({{1, 1}, {2, 2}, {3, 3}}, params["3.bias"]:tolist())
  end)
end)

describe("nn.utils.parameters_to_vector and vector_to_parameters", function()
  local utils = nn.utils

  it("flattens in order and copies back", function()
    local m = mlp()
    local ps = m:parameters()
    local v = utils.parameters_to_vector(ps)
    assert.are.same({4 * 3 + 4 + 2 * 4 + 2}, H.shape(v))
    H.agree(v:narrow(1, 1, 12), ps[1]:reshape(-1), 0)
    H.agree(v:narrow(1, 13, 4), ps[2], 0)
    local w = lg.arange(1, v:numel() + 1, F64)
    utils.vector_to_parameters(w, ps)
    H.agree(ps[1], lg.arange(1, 13, F64):view(4, 3), 0)
    H.agree(ps[4], lg.tensor({25, 26}, F64), 0)
    assert.is_true(ps[1].is_leaf)
    H.agree(utils.parameters_to_vector(ps), w, 0)
    -- the parameters keep their own storage
    w:fill_(0)
    H.agree(ps[4], lg.tensor({25, 26}, F64), 0)
  end)

  it("is differentiable: gradients reach each parameter", function()
    local m = mlp()
    local ps = m:parameters()
    local v = utils.parameters_to_vector(ps)
    local weights = lg.arange(1, v:numel() + 1, F64)
    local gs = lg.autograd.grad((v * weights):sum(), ps)
    H.agree(gs[1], lg.arange(1, 13, F64):view(4, 3), 0)
    H.agree(gs[4], lg.tensor({25, 26}, F64), 0)
    H.agree(utils.parameters_to_vector(m[1].weight), m[1].weight:reshape(-1), 0)
  end)

  it("wrong calls name the function", function()
    local ps = mlp():parameters()
    H.raises("vector_to_parameters: vec has 3 elements but the parameters have 26", function()
      utils.vector_to_parameters(lg.ones(3, F64), ps)
    end)
    H.raises("vector_to_parameters: expected a 1-d vec", function()
      utils.vector_to_parameters(lg.ones(2, 13, F64), ps)
    end)
    H.raises("vector_to_parameters: expected a tensor vec", function()
      utils.vector_to_parameters({1, 2}, ps)
    end)
    H.raises("parameters_to_vector: expected a tensor at position 2", function()
      utils.parameters_to_vector({ps[1], 3})
    end)
    H.raises("parameters_to_vector: expected at least one tensor", function()
      utils.parameters_to_vector({})
    end)
  end)
end)
