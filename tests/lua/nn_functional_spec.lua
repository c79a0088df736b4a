-- nn_functional_spec.lua: nn.functional against PyTorch: every loss with
-- every option (reduction, weight, ignore_index, label_smoothing,
-- probability targets, pos_weight, log_target) and the functional forms
-- of layers with options, values and input gradients from
-- tests/fixtures/nn_layers.lua; plus the calling convention, the loss
-- modules and argument errors.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local F = lg.F

local fixtures = dofile(H.root .. "/tests/fixtures/nn_layers.lua")

local function run_loss_case(case)
  local fn = assert(load("return " .. case.call, case.name, "t", {}))()
  local inputs = {}
  for i, e in ipairs(case.inputs) do inputs[i] = H.tensor(e) end
  inputs[1]:requires_grad_(true)
  local out = fn(F, inputs)
  H.assert_close(out, case.expected, case.rtol, case.atol, case.name .. " value")
  local g = lg.autograd.grad((out * H.tensor(case.upstream)):sum(), {inputs[1]})[1]
  H.assert_close(g, case.input_grad, case.rtol, case.atol, case.name .. " input gradient")
end

describe("nn.functional against PyTorch", function()
  for _, case in ipairs(fixtures.losses) do
    it(case.name .. " [" .. case.call .. "]", function() run_loss_case(case) end)
  end
end)

describe("nn.functional conventions", function()
  it("is lg.F and nn.functional", function()
    assert.are.equal(nn.functional, lg.F)
  end)

  it("takes PyTorch's optional arguments positionally or by name", function()
    lg.manual_seed(5)
    local x, w = lg.randn(1, 2, 5, 5), lg.randn(3, 2, 3, 3)
    local a = F.conv2d(x, w, nil, 2, 1)
    local b = F.conv2d(x, w, {stride = 2, padding = 1})
    local c = F.conv2d(x, w, nil, {2, 2}, {1, 1}, 1, 1)
    assert.are.same(H.values(a), H.values(b))
    assert.are.same(H.values(a), H.values(c))
    assert.are.same({1, 3, 3, 3}, H.shape(a))
  end)

  it("dropout is the identity unless training = true", function()
    lg.manual_seed(2)
    local x = lg.ones(200)
    assert.are.equal(x, F.dropout(x, 0.5))
    assert.are.equal(x, F.dropout(x, 0.5, false))
    local y = F.dropout(x, 0.25, true)
    local kept = y:ne(0):sum():item()
    assert.is_true(kept > 120 and kept < 180, "kept " .. kept)
    H.assert_close(y:max(), {shape = {}, dtype = "float32", data = {1 / 0.75}}, 1e-6, 0)
    H.assert_tensor(F.dropout(lg.ones(3), {p = 1, training = true}), {3}, "float32", {0, 0, 0})
  end)

  it("embedding gives the padding row no gradient", function()
    local w = lg.tensor({{1, 2}, {3, 4}, {5, 6}}, {dtype = "float32"}):requires_grad_(true)
    local ids = lg.tensor({3, 2, 3, 1}, {dtype = "int64"})
    local y = F.embedding(ids, w, {padding_idx = 3})
    H.assert_tensor(y, {4, 2}, "float32", {5, 6, 3, 4, 5, 6, 1, 2})
    y:sum():backward()
    H.assert_tensor(w.grad, {3, 2}, "float32", {1, 1, 1, 1, 0, 0})
  end)

  it("max_pool2d returns 1-based indices with return_indices", function()
    local x = lg.tensor({{{{1, 5}, {3, 2}}}}, {dtype = "float32"})
    local y, idx = F.max_pool2d(x, 2, {return_indices = true})
    H.assert_tensor(y, {1, 1, 1, 1}, "float32", {5})
    H.assert_tensor(idx, {1, 1, 1, 1}, "int64", {2})
  end)

  it("loss modules hold their options and buffers", function()
    local logits = lg.tensor({{2, 0, -1}, {0.5, 0.5, 3}}, {dtype = "float32"})
    local target = lg.tensor({1, 3}, {dtype = "int64"})
    local w = lg.tensor({1, 2, 3}, {dtype = "float32"})
    local loss = nn.CrossEntropyLoss(w, {label_smoothing = 0.1, reduction = "sum"})
    assert.are.equal(w, loss:named_buffers().weight)
    local expected = F.cross_entropy(logits, target, w, {label_smoothing = 0.1, reduction = "sum"})
    assert.are.equal(expected:item(), loss(logits, target):item())
    local bce = nn.BCEWithLogitsLoss({pos_weight = lg.tensor({2, 1, 1}, {dtype = "float32"})})
    assert.is_truthy(bce:named_buffers().pos_weight)
    local t = lg.tensor({{1, 0, 1}, {0, 1, 0}}, {dtype = "float32"})
    assert.are.equal(F.binary_cross_entropy_with_logits(logits, t, {pos_weight = bce.pos_weight}):item(),
                     bce(logits, t):item())
    assert.are.equal(F.mse_loss(logits, t, {reduction = "none"}):sum():item(),
                     nn.MSELoss({reduction = "none"})(logits, t):sum():item())
  end)

  it("errors name the function and say what was expected", function()
    local x = lg.randn(2, 3)
    H.assert_error_names("mse_loss", F.mse_loss, x, lg.randn(3, 2))
    H.assert_error_names("mse_loss", F.mse_loss, x, x, {reduction = "avg"})
    H.assert_error_names("cross_entropy", F.cross_entropy, x, lg.tensor({1, 2}, {dtype = "int64"}),
                         {label_smoothing = 2})
    H.assert_error_names("cross_entropy", F.cross_entropy, x, lg.randn(2))
    H.assert_error_names("conv2d", F.conv2d, x, x, {strides = 2})
    H.assert_error_names("conv2d", F.conv2d, lg.randn(1, 2, 3, 3), lg.randn(1, 2, 2, 2), {stride = {1, 2, 3}})
    H.assert_error_names("layer_norm", F.layer_norm, x, 4)
    H.assert_error_names("embedding", F.embedding, x, x)
    H.assert_error_names("dropout", F.dropout, x, 1.5, true)
    H.assert_error_names("batch_norm", F.batch_norm, x, nil, nil)
    H.assert_error_names("linear", F.linear, x, "w")
  end)
end)
