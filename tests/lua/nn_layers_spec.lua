-- nn_layers_spec.lua: every layer of README's nn section against PyTorch: the
-- same weights loaded into both (tests/fixtures/nn_layers.lua), then the
-- outputs, the parameter gradients and the input gradients for a fixed
-- upstream gradient, and BatchNorm's buffers after the step; plus default
-- initialisation, parameter names, modes and tostring.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"

local fixtures = dofile(H.root .. "/tests/fixtures/nn_layers.lua")

local run_layer_case = dofile(H.root .. "/tests/lua/layer_cases.lua").run

describe("nn layers against PyTorch", function()
  for _, case in ipairs(fixtures.layers) do
    it(case.name .. " [" .. case.ctor .. "]", function() run_layer_case(case) end)
  end
end)

describe("nn layer construction", function()
  local names_of = dofile(H.root .. "/tests/lua/layer_cases.lua").names_of

  it("default initialisation follows PyTorch's bounds", function()
    lg.manual_seed(1)
    local lin = nn.Linear(16, 64)
    local bound = 1 / math.sqrt(16)
    assert.is_true(lin.weight:abs():max():item() <= bound)
    assert.is_true(lin.weight:abs():max():item() > 0.8 * bound)
    assert.is_true(lin.bias:abs():max():item() <= bound)
    local conv = nn.Conv2d(4, 8, 3, {groups = 2})
    local cbound = 1 / math.sqrt(2 * 9)
    assert.is_true(conv.weight:abs():max():item() <= cbound)
    assert.is_true(conv.weight:abs():max():item() > 0.8 * cbound)
    local convt = nn.ConvTranspose2d(4, 6, 2) -- fan_in = (6) * 4
    assert.is_true(convt.weight:abs():max():item() <= 1 / math.sqrt(24))
    local emb = nn.Embedding(200, 10, {padding_idx = 3})
    local std = emb.weight:std():item()
    assert.is_true(std > 0.9 and std < 1.1, "embedding std " .. std)
    H.assert_tensor(emb.weight[3], {10}, "float32", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
    local bn = nn.BatchNorm2d(3)
    H.assert_tensor(bn.weight, {3}, "float32", {1, 1, 1})
    H.assert_tensor(bn.bias, {3}, "float32", {0, 0, 0})
    H.assert_tensor(bn.running_var, {3}, "float32", {1, 1, 1})
    assert.are.equal(0, bn.num_batches_tracked:item())
    local lstm = nn.LSTM(3, 25)
    assert.is_true(lstm.weight_hh_l0:abs():max():item() <= 0.2)
    local mha = nn.MultiheadAttention(8, 2)
    H.assert_tensor(mha.in_proj_bias, {24}, "float32", (function()
      local z = {} for i = 1, 24 do z[i] = 0 end return z end)())
    assert.is_true(mha.in_proj_weight:abs():max():item() <= math.sqrt(6 / 32))
  end)

  it("parameter names and order are PyTorch's", function()
    assert.are.equal("weight_ih_l0 weight_hh_l0 bias_ih_l0 bias_hh_l0 weight_ih_l0_reverse "
      .. "weight_hh_l0_reverse bias_ih_l0_reverse bias_hh_l0_reverse weight_ih_l1 weight_hh_l1 "
      .. "bias_ih_l1 bias_hh_l1 weight_ih_l1_reverse weight_hh_l1_reverse bias_ih_l1_reverse "
      .. "bias_hh_l1_reverse", names_of(nn.GRU(2, 3, {num_layers = 2, bidirectional = true})))
    assert.are.equal("self_attn.in_proj_weight self_attn.in_proj_bias self_attn.out_proj.weight "
      .. "self_attn.out_proj.bias linear1.weight linear1.bias linear2.weight linear2.bias "
      .. "norm1.weight norm1.bias norm2.weight norm2.bias",
      names_of(nn.TransformerEncoderLayer(4, 2, {dim_feedforward = 8})))
    local sd = nn.BatchNorm1d(2):state_dict()
    for _, k in ipairs({"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}) do
      assert.is_truthy(sd[k], k)
    end
    assert.are.equal("weight", names_of(nn.Linear(2, 3, false)))
  end)

  it("tostring shows PyTorch's extra_repr", function()
    -- the first line up to the parameter shapes, which follow two spaces
    local function repr(m) return (tostring(m):match("^[^\n]*"):gsub("  .*$", "")) end
    assert.are.equal("Linear(in_features=4, out_features=8, bias=true)", repr(nn.Linear(4, 8)))
    assert.are.equal("Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))",
                     repr(nn.Conv2d(3, 8, 3, {stride = 2, padding = 1})))
    assert.are.equal("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)",
                     repr(nn.BatchNorm2d(4)))
    assert.are.equal("LayerNorm((8,), eps=1e-05, elementwise_affine=true)", repr(nn.LayerNorm(8)))
    assert.are.equal("Embedding(5, 3, padding_idx=2)", repr(nn.Embedding(5, 3, 2)))
    assert.are.equal("LSTM(3, 4, num_layers=2, batch_first=true)",
                     repr(nn.LSTM(3, 4, {num_layers = 2, batch_first = true})))
    assert.are.equal("Dropout(p=0.5)", tostring(nn.Dropout()))
    assert.are.equal("ReLU()", tostring(nn.ReLU()))
  end)

  it("tostring adds the parameters' shapes and their count", function()
    assert.are.equal("Linear(in_features=4, out_features=8, bias=true)  weight {8, 4}, bias {8}\n"
                     .. "-- 40 parameters", tostring(nn.Linear(4, 8)))
    assert.are.equal("Linear(in_features=4, out_features=8, bias=false)  weight {8, 4}\n"
                     .. "-- 32 parameters", tostring(nn.Linear(4, 8, false)))
    -- too long for one line: the shapes go below, two columns in
    assert.are.equal([[
BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)
  weight {4}, bias {4}
-- 8 parameters]], tostring(nn.BatchNorm2d(4)))
    assert.are.equal([[
Sequential(
  (1): Embedding(10, 3)  weight {10, 3}
  (2): LSTM(3, 4, num_layers=2, batch_first=true)
         weight_ih_l0 {16, 3}, weight_hh_l0 {16, 4}, bias_ih_l0 {16},
         bias_hh_l0 {16}, weight_ih_l1 {16, 4}, weight_hh_l1 {16, 4},
         bias_ih_l1 {16}, bias_hh_l1 {16}
  (3): ReLU()
  (4): Linear(in_features=4, out_features=2, bias=true)  weight {2, 4}, bias {2}
)
-- 344 parameters]], tostring(nn.Sequential(nn.Embedding(10, 3),
                                              nn.LSTM(3, 4, {num_layers = 2, batch_first = true}),
                                              nn.ReLU(), nn.Linear(4, 2))))
  end)

  it("Dropout is active only in train mode", function()
    lg.manual_seed(3)
    local d = nn.Dropout(0.5)
    local x = lg.ones(1000)
    local y = d(x)
    local zeros = y:eq(0):sum():item()
    assert.is_true(zeros > 400 and zeros < 600, "zeroed " .. zeros)
    assert.are.equal(2, y:max():item())
    d:eval()
    H.assert_tensor(d(lg.ones(3)), {3}, "float32", {1, 1, 1})
  end)

  it("BatchNorm updates its buffers only in train mode", function()
    local bn = nn.BatchNorm1d(2)
    local x = lg.tensor({{1, 2}, {3, 6}}, {dtype = "float32"})
    bn(x)
    H.assert_tensor(bn.running_mean, {2}, "float32", {0.2, 0.4})
    H.assert_tensor(bn.running_var, {2}, "float32", {0.9 + 0.1 * 2, 0.9 + 0.1 * 8})
    assert.are.equal(1, bn.num_batches_tracked:item())
    bn:eval()
    bn(x)
    assert.are.equal(1, bn.num_batches_tracked:item())
    H.assert_tensor(bn.running_mean, {2}, "float32", {0.2, 0.4})
  end)

  it("errors name the layer and what was expected", function()
    H.assert_error_names("BatchNorm2d", function() nn.BatchNorm2d(2)(lg.zeros(2, 2)) end)
    H.assert_error_names("LSTM", function() nn.LSTM(3, 4)(lg.zeros(2, 2, 5)) end)
    H.assert_error_names("GroupNorm", function() nn.GroupNorm(3, 4) end)
    H.assert_error_names("MultiheadAttention", function() nn.MultiheadAttention(5, 2) end)
    H.assert_error_names("Linear", function() nn.Linear(2, 3, {bais = false}) end)
    H.assert_error_names("Embedding", function() nn.Embedding(3, 2, {padding_idx = 4}) end)
  end)
end)
