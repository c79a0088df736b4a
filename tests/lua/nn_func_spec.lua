-- nn_func_spec.lua: nn.functional's pad, interpolate, unfold, fold,
-- one_hot, normalize, cosine_similarity, pairwise_distance and conv
-- "same" padding against PyTorch 1.13 and functorch
-- (tests/fixtures/nn_func.lua: values, gradients, jvp and vmap), their
-- finite-difference gradchecks (also second order), the wrong calls; and
-- the layers built on them (padding modules, Upsample, Fold/Unfold, conv
-- padding_mode, MultiheadAttention kdim/vdim/add_bias_kv/add_zero_attn,
-- LSTM proj_size, the Transformer decoder and encoder-decoder) with
-- PyTorch's weights.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local G = dofile(H.root .. "/tests/lua/grad_helpers.lua")
local cases = dofile(H.root .. "/tests/lua/layer_cases.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local func = require "luagrad.func"
local F = lg.F

local fixtures = dofile(H.root .. "/tests/fixtures/nn_func.lua")

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- f(x1, ..., xn) of the case's call, with the inputs at the float
-- positions replaced by the arguments (in order of position).
local function over_floats(call, inputs, positions)
  return function(...)
    local args = {table.unpack(inputs, 1, #inputs)}
    for j, i in ipairs(positions) do args[i] = select(j, ...) end
    return call(F, args)
  end
end

local function run_function_case(case)
  local call = assert(load("return " .. case.call, case.name, "t", {}))()
  local inputs = {}
  for i, e in ipairs(case.inputs) do inputs[i] = H.tensor(e) end
  local floats = case.grads and sorted_keys(case.grads) or {}
  for _, i in ipairs(floats) do inputs[i]:requires_grad_(true) end
  local out = call(F, inputs)
  H.assert_close(out, case.expected, case.rtol, case.atol, case.name .. " value")
  if #floats == 0 then return end
  local leaves = {}
  for j, i in ipairs(floats) do leaves[j] = inputs[i] end
  local grads = lg.autograd.grad((out * H.tensor(case.upstream)):sum(), leaves)
  for j, i in ipairs(floats) do
    H.assert_close(grads[j], case.grads[i], case.rtol, case.atol, case.name .. " grad " .. i)
  end
  local plain = {}
  for i, x in ipairs(inputs) do plain[i] = x:detach() end
  local f = over_floats(call, plain, floats)
  if case.jvp then
    local primals, tangents = {}, {}
    for j, i in ipairs(floats) do
      primals[j], tangents[j] = plain[i], H.tensor(case.tangents[i])
    end
    local _, t_out = func.jvp(f, primals, tangents)
    H.assert_close(t_out, case.jvp, case.rtol, case.atol, case.name .. " jvp")
  end
  if case.vmap then
    local batched = {}
    for j, i in ipairs(floats) do batched[j] = H.tensor(case.batched[i]) end
    local y = func.vmap(f)(table.unpack(batched))
    H.assert_close(y, case.vmap, case.rtol, case.atol, case.name .. " vmap")
  end
end

describe("nn.functional padding and resampling against PyTorch", function()
  for _, case in ipairs(fixtures.functions) do
    it(case.name .. " [" .. case.call .. "]", function() run_function_case(case) end)
  end
end)

describe("interpolate's gather path (the one for large dims) against PyTorch", function()
  for _, case in ipairs(fixtures.functions) do
    if case.name:find("linear", 1, true) then
      it(case.name, function()
        local limit = F._interpolate_dense_limit
        F._interpolate_dense_limit = 0
        local ok, err = pcall(run_function_case, case)
        F._interpolate_dense_limit = limit
        assert(ok, err)
      end)
    end
  end
  it("gradcheck", function()
    local limit = F._interpolate_dense_limit
    F._interpolate_dense_limit = 0
    local ok, err = pcall(G.check_grads, function(x)
      return F.interpolate(x, {size = {4, 5}, mode = "bilinear"}) end, {{1, 1, 3, 3}})
    F._interpolate_dense_limit = limit
    assert(ok, err)
  end)
end)

describe("layers around them against PyTorch", function()
  for _, case in ipairs(fixtures.layers) do
    it(case.name .. " [" .. case.ctor .. "]", function() cases.run(case) end)
  end
end)

describe("finite-difference gradients (first and second order)", function()
  local checks = {
    {"pad reflect", function(x) return F.pad(x, {2, 1, 1, 1}, {mode = "reflect"}) end, {{1, 3, 4}}},
    {"pad replicate", function(x) return F.pad(x, {3, 0, 0, 2}, {mode = "replicate"}) end, {{1, 2, 3}}},
    {"pad circular", function(x) return F.pad(x, {1, 2}, {mode = "circular"}) end, {{2, 2, 3}}},
    {"pad constant", function(x) return F.pad(x, {-1, 2, 1, 0}, {value = 3}) end, {{2, 3, 3}}},
    {"interpolate bilinear", function(x)
      return F.interpolate(x, {size = {4, 5}, mode = "bilinear"}) end, {{1, 1, 3, 3}}},
    {"interpolate bilinear align", function(x)
      return F.interpolate(x, {scale_factor = 1.5, mode = "bilinear", align_corners = true}) end,
      {{1, 2, 2, 3}}},
    {"interpolate nearest", function(x) return F.interpolate(x, {size = {5, 2}}) end, {{1, 1, 3, 3}}},
    {"interpolate linear", function(x) return F.interpolate(x, {size = 6, mode = "linear"}) end, {{2, 1, 4}}},
    {"unfold", function(x) return F.unfold(x, 2, {padding = 1, stride = 2}) end, {{1, 2, 3, 4}}},
    {"fold", function(x) return F.fold(x, {3, 3}, 2) end, {{1, 4, 4}}},
    {"normalize", function(x) return F.normalize(x, {dim = -1}) end, {{3, 4}}},
    {"cosine_similarity", function(a, b) return F.cosine_similarity(a, b) end, {{3, 4}, {3, 4}}},
    {"pairwise_distance", function(a, b) return F.pairwise_distance(a, b) end, {{3, 4}, {3, 4}}},
    {"conv2d same even", function(x, w) return F.conv2d(x, w, {padding = "same"}) end,
      {{1, 1, 4, 4}, {2, 1, 2, 2}}},
  }
  for _, c in ipairs(checks) do
    it(c[1], function() G.check_grads(c[2], c[3]) end)
  end
end)

describe("one_hot and the 1-based class convention", function()
  it("encodes class c at position c, as cross_entropy's targets", function()
    local t = lg.tensor({3, 1, 2}, {dtype = "int64"})
    H.assert_tensor(F.one_hot(t), {3, 3}, "int64", {0, 0, 1, 1, 0, 0, 0, 1, 0})
    local logits = lg.randn(3, 4)
    local onehot = F.one_hot(t, 4):to("float32")
    assert.is_true(math.abs(F.cross_entropy(logits, onehot):item() - F.cross_entropy(logits, t):item()) < 1e-6)
  end)
  it("refuses class 0, classes above num_classes and float input", function()
    assert.has_error(function() F.one_hot(lg.tensor({0, 1}, {dtype = "int64"})) end,
      "one_hot: expected class indices >= 1 (1-based), got 0")
    assert.has_error(function() F.one_hot(lg.tensor({5}, {dtype = "int64"}), 4) end,
      "one_hot: class index 5 is larger than num_classes 4")
    assert.has_error(function() F.one_hot(lg.tensor({1.0})) end,
      "one_hot: expected an integer tensor (int64) of class indices, got float32")
  end)
end)

describe("nn.functional wrong calls", function()
  local x = lg.randn(1, 2, 3, 4)
  local function err(f, pattern)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    assert.is_truthy(tostring(msg):find(pattern, 1, true), tostring(msg))
  end
  it("pad", function()
    err(function() F.pad(x, {1, 2, 3}) end, "pad: expected pad as a table of an even number of integers")
    err(function() F.pad(x, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}) end, "pads 5 dims, but the input has 4")
    err(function() F.pad(x, {1.5, 1}) end, "pad: expected integer pad values, got 1.5")
    err(function() F.pad(x, {4, 0, 0, 0}, {mode = "reflect"}) end,
      "pad: reflect padding (4, 0) must be less than the size 4 of dim 4")
    err(function() F.pad(x, {5, 0, 0, 0}, {mode = "circular"}) end,
      "pad: circular padding (5, 0) must be at most the size 4 of dim 4")
    err(function() F.pad(x, {1, 1}, {mode = "mirror"}) end,
      "pad: expected mode 'constant', 'reflect', 'replicate' or 'circular', got 'mirror'")
    err(function() F.pad(x, {1, 1}, {mode = "reflect"}) end,
      "mode 'reflect' pads the last 1 to 3 dims")
    err(function() F.pad(x, {1, 1, 1, 1}, {mode = "reflect", value = 2}) end,
      "a fill value is only for mode 'constant'")
    err(function() F.pad(x, {-3, -2}) end, "gives a negative size")
    err(function() F.pad(x, {1, 1}, {modes = "reflect"}) end, 'pad: unknown option "modes"')
  end)
  it("interpolate", function()
    err(function() F.interpolate(x, {size = 2, scale_factor = 2}) end,
      "interpolate: expected exactly one of size and scale_factor")
    err(function() F.interpolate(x, {size = 2, mode = "bicubic"}) end, "expected mode 'nearest'")
    err(function() F.interpolate(x, {size = 2, mode = "linear"}) end,
      "interpolate: mode 'linear' expects a 3-D input, got 4-D")
    err(function() F.interpolate(x, {size = 2, align_corners = true}) end,
      "align_corners is only for the interpolating modes")
    err(function() F.interpolate(x, {scale_factor = {2, 2, 2}}) end,
      "expected scale_factor as a number or a table of 2 numbers")
  end)
  it("unfold and fold", function()
    err(function() F.unfold(x, 5) end, "unfold: the kernel (5 with dilation 1) does not fit")
    err(function() F.unfold(lg.randn(2, 3), 1) end, "unfold: expected a 4-D (N,C,H,W)")
    err(function() F.fold(lg.randn(1, 4, 5), {3, 3}, 2) end, "fold: expected 4 blocks (size(3))")
    err(function() F.fold(lg.randn(1, 5, 4), {3, 3}, 2) end, "divisible by the kernel area 4")
  end)
  it("conv padding", function()
    err(function() F.conv2d(x, lg.randn(1, 2, 2, 2), {padding = "same", stride = 2}) end,
      "conv2d: padding='same' is not supported for strided convolutions")
    err(function() F.conv2d(x, lg.randn(1, 2, 2, 2), {padding = "full"}) end,
      "conv2d: expected padding 'valid', 'same', an integer or a table, got 'full'")
    err(function() nn.Conv2d(2, 2, 3, {padding_mode = "mirror"}) end,
      "Conv2d: expected padding_mode 'zeros', 'reflect', 'replicate' or 'circular', got mirror")
  end)
end)

describe("layers", function()
  local names_of = cases.names_of

  it("MultiheadAttention keeps PyTorch's names with kdim/vdim and bias_kv", function()
    local m = nn.MultiheadAttention(4, 2, {kdim = 3, vdim = 5, add_bias_kv = true})
    assert.are.equal("q_proj_weight k_proj_weight v_proj_weight in_proj_bias bias_k bias_v "
      .. "out_proj.weight out_proj.bias", names_of(m))
    H.assert_tensor(m.k_proj_weight, {4, 3}, "float32", H.values(m.k_proj_weight))
    assert.are.same({1, 1, 4}, m.bias_k.shape)
    assert.has_error(function() m(lg.randn(2, 1, 4), lg.randn(3, 1, 4), lg.randn(3, 1, 5)) end)
  end)

  it("LSTM proj_size: names, shapes and the limit", function()
    local m = nn.LSTM(3, 5, {proj_size = 2})
    assert.are.equal("weight_ih_l0 weight_hh_l0 bias_ih_l0 bias_hh_l0 weight_hr_l0", names_of(m))
    assert.are.same({20, 2}, m.weight_hh_l0.shape)
    local out, state = m(lg.randn(4, 3))
    assert.are.same({4, 2}, out.shape)
    assert.are.same({1, 2}, state[1].shape)
    assert.are.same({1, 5}, state[2].shape)
    assert.has_error(function() nn.LSTM(3, 5, {proj_size = 5}) end,
      "LSTM: expected proj_size an integer in [0, hidden_size) = [0, 5), got 5")
  end)

  it("TransformerEncoder copies the layer: equal values, separate tensors", function()
    local layer = nn.TransformerEncoderLayer(4, 2, {dim_feedforward = 8})
    local enc = nn.TransformerEncoder(layer, 2)
    assert.are_not.equal(enc.layers[1].linear1.weight, enc.layers[2].linear1.weight)
    H.assert_close(enc.layers[2].linear1.weight, H.entry_of(layer.linear1.weight), 0, 0)
    assert.has_error(function() nn.TransformerEncoder(nn.Linear(2, 2), 2) end,
      "TransformerEncoder: expected a TransformerEncoderLayer as the layer to copy, got module")
  end)

  it("Transformer's subsequent mask and batch check", function()
    local mask = nn.Transformer.generate_square_subsequent_mask(3)
    H.assert_tensor(mask, {3, 3}, "float32", {0, -math.huge, -math.huge, 0, 0, -math.huge, 0, 0, 0})
    local t = nn.Transformer({d_model = 4, nhead = 1, num_encoder_layers = 1,
                              num_decoder_layers = 1, dim_feedforward = 4})
    assert.has_error(function() t(lg.randn(3, 2, 4), lg.randn(3, 1, 4)) end,
      "Transformer.forward: the batch number of src (2) and tgt (1) must be equal")
  end)

  it("print as PyTorch", function()
    assert.are.equal("ReflectionPad2d((1, 1, 1, 1))", tostring(nn.ReflectionPad2d(1)))
    assert.are.equal("ConstantPad1d((2, 3), value=1.5)", tostring(nn.ConstantPad1d({2, 3}, 1.5)))
    assert.is_truthy(tostring(nn.Conv2d(1, 1, 3, {padding = 1, padding_mode = "reflect"}))
      :find("padding_mode='reflect'", 1, true))
  end)

  it("a padded conv trains under vmap over examples", function()
    local conv = nn.Conv2d(1, 2, 3, {padding = 1, padding_mode = "circular"})
    local params = conv:named_parameters()
    local loss = function(p, x)
      return func.functional_call(conv, p, x:unsqueeze(1)):square():sum()
    end
    local xs = lg.randn(3, 1, 4, 4)
    local g = func.vmap(func.grad(loss), {in_dims = {false, 1}})(params, xs)
    for i = 1, 3 do
      local gi = func.grad(loss)(params, xs[i])
      H.assert_close(g.weight[i], H.entry_of(gi.weight), 1e-5, 1e-5)
    end
  end)
end)

describe("scatter_add of a line index (the row path behind index_select's backward)", function()
  it("adds repeated indices, along the last and the first dim, and checks the line", function()
    local line = lg.tensor({1, 3, 3}, {dtype = "int64"}):reshape(1, 3):expand(2, 3)
    for _, dtype in ipairs({"float32", "float64"}) do
      local src = lg.arange(6, {dtype = dtype}):reshape(2, 3)
      H.assert_tensor(lg.zeros(2, 4, {dtype = dtype}):scatter_add(2, line, src), {2, 4}, dtype,
                      {0, 0, 3, 0, 3, 0, 9, 0})
    end
    local rows = lg.tensor({2, 1}, {dtype = "int64"}):reshape(2, 1):expand(2, 3)
    H.assert_tensor(lg.zeros(3, 3):scatter_add(1, rows, lg.arange(6, {dtype = "float32"}):reshape(2, 3)),
                    {3, 3}, "float32", {3, 4, 5, 0, 1, 2, 0, 0, 0})
    local bad = lg.tensor({1, 5}, {dtype = "int64"}):reshape(1, 2):expand(2, 2)
    assert.has_error(function() lg.zeros(2, 4):scatter_add(2, bad, lg.ones(2, 2)) end,
      "scatter_add: index 5 out of range for dim 2 of size 4 (indices are 1-based: expected 1..4)")
  end)
end)
