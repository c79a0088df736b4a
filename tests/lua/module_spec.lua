-- module_spec.lua: nn.Module (classes, registration by field assignment,
-- traversal order, state dicts, modes, conversion, printing), nn.Parameter,
-- the containers, nn.init and nn.utils.clip_grad_norm_. The modules are
-- built from nn.Parameter and plain ops, independent of the layer files.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"

local F64 = {dtype = "float64"}
local function t64(data) return lg.tensor(data, F64) end

local function names_of(pairs_list)
  local out = {}
  for i, p in ipairs(pairs_list) do out[i] = p[1] end
  return out
end

local Affine = nn.Module:extend("Affine")
function Affine:init(n_in, n_out)
  self.in_features, self.out_features = n_in, n_out
  self.weight = nn.Parameter(lg.randn(n_out, n_in))
  self.bias = nn.Parameter(lg.zeros(n_out))
end
function Affine:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=true", self.in_features, self.out_features)
end
function Affine:forward(x) return lg.matmul(x, self.weight:t()) + self.bias end

local Net = nn.Module:extend("Net")
function Net:init(n_in, n_out)
  self.fc1 = Affine(n_in, 8)
  self.fc2 = Affine(8, n_out)
  self.scale = nn.Parameter(lg.ones(1))
  self:register_buffer("steps", lg.zeros(1))
  self:register_buffer("cache", lg.zeros(2), false)
end
function Net:forward(x) return self.fc2(lg.relu(self.fc1(x))) * self.scale end

describe("nn.Module classes", function()
  it("extend, init, construct by calling the class, forward by calling the instance", function()
    local net = Net(4, 2)
    assert.is_true(nn.is_module(net))
    assert.are.equal(Net, getmetatable(net))
    local y = net(lg.ones(3, 4))
    assert.are.same({3, 2}, H.shape(y))
    assert.is_true(net.training)
    assert.are.equal("Net", tostring(Net):match("Net"))
  end)

  it("a subclass inherits methods and metamethods and can call its parent's init", function()
    local Scaled = Affine:extend("Scaled")
    function Scaled:init(n_in, n_out, s)
      Affine.init(self, n_in, n_out)
      self.s = s
    end
    function Scaled:forward(x) return Affine.forward(self, x) * self.s end
    local m = Scaled(2, 3, 2)
    local x = lg.ones(1, 2)
    H.assert_tensor(m(x), {1, 3}, "float32", H.values((lg.matmul(x, m.weight:t()) + m.bias) * 2))
    assert.are.same({"weight", "bias"}, names_of(m:named_parameters_list()))
  end)

  it("a module without forward says so", function()
    local Empty = nn.Module:extend("Empty")
    H.assert_error_names({"forward"}, function() return Empty()(1) end)
  end)

  it("fields hold children, parameters and buffers in the module table itself", function()
    local net = Net(4, 2)
    assert.is_true(nn.is_module(rawget(net, "fc1")))
    assert.is_true(lg.is_tensor(rawget(net, "scale")))
    assert.is_true(lg.is_tensor(rawget(net, "steps")))
    assert.is_true(nn.is_parameter(net.scale))
    assert.is_true(net.scale.requires_grad)
    assert.is_false(net.steps.requires_grad)
  end)

  it("nn.Parameter shares storage with its tensor, requires grad and is a leaf", function()
    local t = lg.zeros(2)
    local p = nn.Parameter(t)
    assert.is_true(p.requires_grad)
    assert.is_true(p.is_leaf)
    assert.is_false(t.requires_grad)
    t:fill_(3)
    H.assert_tensor(p, {2}, "float32", {3, 3})
    assert.is_false(nn.Parameter(lg.zeros(1), false).requires_grad)
    H.assert_error_names({"Parameter"}, nn.Parameter, 3)
  end)

  it("plain values and plain tensors are not registered", function()
    local M = nn.Module:extend("M")
    function M:init() self.k = 3; self.t = lg.ones(1); self.w = nn.Parameter(lg.ones(1)) end
    local m = M()
    assert.are.same({"w"}, names_of(m:named_parameters_list()))
    assert.are.same({}, m:buffers())
    assert.are.equal(3, m.k)
  end)

  it("reassigning a registered field replaces the tensor that traversals see", function()
    local net = Net(4, 2)
    local w = nn.Parameter(lg.zeros(1))
    net.scale = w
    assert.are.equal(w, net:named_parameters().scale)
    net.fc2 = Affine(8, 5)
    assert.are.same({5, 8}, H.shape(net:named_parameters()["fc2.weight"]))
    net.scale = nil
    assert.is_nil(net:named_parameters().scale)
    net.scale = w -- filling the emptied slot keeps its place
    assert.are.same({"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"},
                    names_of(net:named_parameters_list()))
    -- a store into a present key is raw (no check); into an emptied child slot it is checked
    net.fc1 = nil
    H.assert_error_names({"fc1"}, function() net.fc1 = lg.ones(1) end)
  end)
end)

describe("nn.Module traversal", function()
  it("parameters: own first in registration order, then each child's (PyTorch's order)", function()
    local net = Net(4, 2)
    assert.are.same({"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"},
                    names_of(net:named_parameters_list()))
    local list = net:parameters()
    assert.are.equal(5, #list)
    assert.are.equal(net.scale, list[1])
    assert.are.equal(net.fc1.weight, list[2])
    local map = net:named_parameters()
    assert.are.equal(net.fc2.bias, map["fc2.bias"])
    assert.is_nil(getmetatable(map)) -- a plain table: a pytree for func.grad
  end)

  it("a tensor held twice is reported once, unless remove_duplicate = false", function()
    local Tied = nn.Module:extend("Tied")
    function Tied:init() self.a = Affine(2, 2); self.b = Affine(2, 2); self.b.weight = self.a.weight end
    local m = Tied()
    assert.are.same({"a.weight", "a.bias", "b.bias"}, names_of(m:named_parameters_list()))
    assert.are.same({"a.weight", "a.bias", "b.weight", "b.bias"},
                    names_of(m:named_parameters_list({remove_duplicate = false})))
    assert.are.equal(4 + 2 + 2, m:num_parameters())
  end)

  it("a shared child is visited once", function()
    local Shared = nn.Module:extend("Shared")
    function Shared:init() local a = Affine(2, 2); self.a = a; self.b = a end
    local m = Shared()
    assert.are.same({"", "a"}, names_of(m:named_modules()))
    assert.are.equal(1, #m:children())
    assert.are.same({"a.weight", "a.bias"}, names_of(m:named_parameters_list()))
  end)

  it("buffers, named_buffers, children, named_children, modules, named_modules", function()
    local net = Net(4, 2)
    assert.are.same({"steps", "cache"}, names_of(net:named_buffers_list()))
    assert.are.equal(net.steps, net:named_buffers().steps)
    assert.are.equal(2, #net:buffers())
    assert.are.same({"fc1", "fc2"}, names_of(net:named_children()))
    assert.are.equal(net.fc2, net:children()[2])
    assert.are.same({"", "fc1", "fc2"}, names_of(net:named_modules()))
    assert.are.equal(net, net:modules()[1])
    assert.are.same({"scale"}, names_of(net:named_parameters_list({recurse = false})))
    assert.are.same({"p.scale", "p.fc1.weight", "p.fc1.bias", "p.fc2.weight", "p.fc2.bias"},
                    names_of(net:named_parameters_list({prefix = "p"})))
  end)

  it("register_parameter, register_module, add_module, register_buffer and get_submodule", function()
    local m = nn.Module()
    m:register_parameter("w", lg.ones(2))
    assert.is_true(nn.is_parameter(m.w))
    m:register_module("child", Affine(1, 1))
    m:add_module("other", Affine(1, 1))
    m:register_buffer("b", lg.zeros(1))
    assert.are.same({"w", "child.weight", "child.bias", "other.weight", "other.bias"},
                    names_of(m:named_parameters_list()))
    assert.are.equal(m.child, m:get_submodule("child"))
    assert.are.equal(m, m:get_submodule(""))
    local seq = nn.Sequential(Affine(1, 1), nn.Sequential(Affine(1, 1)))
    assert.are.equal(seq[2][1], seq:get_submodule("2.1"))
    H.assert_error_names({"get_submodule", "nope"}, m.get_submodule, m, "child.nope")
    H.assert_error_names({"register_parameter", "\".\""}, m.register_parameter, m, "a.b", lg.ones(1))
    H.assert_error_names({"already exists"}, m.register_buffer, m, "w", lg.ones(1))
    H.assert_error_names({"register_module"}, m.register_module, m, "x", 3)
  end)
end)

describe("nn.Module state dicts", function()
  it("state_dict: parameters and persistent buffers, dotted names, detached tensors sharing storage", function()
    local net = Net(4, 2)
    local sd = net:state_dict()
    local keys = {}
    for k in pairs(sd) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({"fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "scale", "steps"}, keys)
    assert.is_false(sd["fc1.weight"].requires_grad)
    assert.is_nil(sd["fc1.weight"].grad_fn)
    lg.no_grad(function() net.scale:fill_(7) end)
    H.assert_tensor(sd.scale, {1}, "float32", {7})
    assert.are.same({"scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"},
                    names_of(net:state_dict_list()))
    assert.are.equal(net.scale, net:state_dict({keep_vars = true}).scale)
  end)

  it("load_state_dict copies in place and keeps the tensors", function()
    local a, b = Net(4, 2), Net(4, 2)
    local w = b.fc1.weight
    local result = b:load_state_dict(a:state_dict())
    assert.are.equal(w, b.fc1.weight)
    H.assert_tensor(b.fc1.weight, {8, 4}, "float32", H.values(a.fc1.weight))
    assert.is_true(b.fc1.weight.requires_grad)
    assert.are.same({}, result.missing_keys)
    assert.are.same({}, result.unexpected_keys)
  end)

  it("strict load_state_dict lists missing and unexpected keys", function()
    local net = Net(4, 2)
    local sd = net:state_dict()
    sd["fc1.weight"], sd.steps = nil, nil
    sd["fc3.bias"] = lg.zeros(1)
    local err = H.assert_error_names({"load_state_dict"}, net.load_state_dict, net, sd)
    assert.truthy(err:find('missing key(s): "fc1.weight", "steps"', 1, true), err)
    assert.truthy(err:find('unexpected key(s): "fc3.bias"', 1, true), err)
    local result = net:load_state_dict(sd, {strict = false})
    assert.are.same({"fc1.weight", "steps"}, result.missing_keys)
    assert.are.same({"fc3.bias"}, result.unexpected_keys)
  end)

  it("a shape mismatch names the key and both shapes", function()
    local net = Net(4, 2)
    local sd = net:state_dict()
    sd["fc1.weight"] = lg.zeros(4, 8)
    local err = H.assert_error_names({"fc1.weight"}, net.load_state_dict, net, sd)
    assert.truthy(err:find("{4,8}", 1, true) and err:find("{8,4}", 1, true), err)
  end)
end)

describe("nn.Module modes, gradients, conversion", function()
  it("train and eval set training on every module", function()
    local net = Net(4, 2)
    assert.are.equal(net, net:eval())
    assert.is_false(net.training)
    assert.is_false(net.fc1.training)
    net:train()
    assert.is_true(net.fc2.training)
    net:train(false)
    assert.is_false(net.fc2.training)
  end)

  it("zero_grad sets every .grad to nil", function()
    local net = Net(4, 2)
    net(lg.ones(3, 4)):sum():backward()
    assert.is_not_nil(net.fc1.weight.grad)
    net:zero_grad()
    for _, p in ipairs(net:parameters()) do assert.is_nil(p.grad) end
  end)

  it("apply visits children first, then the module", function()
    local net = Net(4, 2)
    local order = {}
    assert.are.equal(net, net:apply(function(m) order[#order + 1] = m end))
    assert.are.same({net.fc1, net.fc2, net}, order)
  end)

  it("num_parameters counts elements", function()
    local net = Net(4, 2)
    assert.are.equal(4 * 8 + 8 + 8 * 2 + 2 + 1, net:num_parameters())
    net.scale:requires_grad_(false)
    assert.are.equal(4 * 8 + 8 + 8 * 2 + 2, net:num_parameters({only_trainable = true}))
  end)

  it("to(dtype) converts floating parameters, buffers and grads, keeping ties and leaves", function()
    local Tied = nn.Module:extend("Tied")
    function Tied:init()
      self.a = nn.Parameter(lg.ones(2))
      self.b = self.a
      self:register_buffer("n", lg.zeros(1, {dtype = "int64"}))
    end
    local m = Tied()
    m.a.grad = lg.ones(2)
    assert.are.equal(m, m:to("float64"))
    assert.are.equal("float64", m.a.dtype)
    assert.are.equal(m.a, m.b)
    assert.is_true(m.a.requires_grad and m.a.is_leaf)
    assert.is_true(nn.is_parameter(m.a))
    assert.are.equal("float64", m.a.grad.dtype)
    assert.are.equal("int64", m.n.dtype)
    local a = m.a
    m:double() -- already float64: the same tensors
    assert.are.equal(a, m.a)
    H.assert_error_names({"to"}, m.to, m, "int32")
  end)

  it("tostring draws the tree with parameter shapes and the count", function()
    local Small = nn.Module:extend("Net")
    function Small:init()
      self.fc1 = Affine(4, 8)
      self.fc2 = Affine(8, 2)
      self.scale = nn.Parameter(lg.ones(1))
    end
    assert.are.equal([[
Net(
  (fc1): Affine(in_features=4, out_features=8, bias=true)
           weight {8, 4}, bias {8}
  (fc2): Affine(in_features=8, out_features=2, bias=true)
           weight {2, 8}, bias {2}
  scale: Parameter {1}
)
-- 59 parameters]], tostring(Small()))
    -- nested: the count only at the top
    local outer = nn.Sequential(Small(), nn.Module())
    assert.are.equal([[
Sequential(
  (1): Net(
    (fc1): Affine(in_features=4, out_features=8, bias=true)
             weight {8, 4}, bias {8}
    (fc2): Affine(in_features=8, out_features=2, bias=true)
             weight {2, 8}, bias {2}
    scale: Parameter {1}
  )
  (2): Module()
)
-- 59 parameters]], tostring(outer))
    -- buffers of a module without extra_repr, dtypes other than float32
    local m = nn.Module()
    m:register_buffer("b", lg.zeros(2, 3, {dtype = "float64"}))
    assert.are.equal("Module(\n  b: Buffer {2, 3} float64\n)", tostring(m))
    m.w = nn.Parameter(lg.zeros(3, {dtype = "float64"}))
    assert.are.equal("Module(\n  b: Buffer {2, 3} float64\n  w: Parameter {3} float64\n)\n"
                     .. "-- 3 parameters", tostring(m))
    -- a shared tensor counts once; frozen ones are told apart
    local tied = nn.Sequential(Affine(2, 2), Affine(2, 2))
    tied[2].weight = nil
    tied[2].weight = tied[1].weight
    tied[1].bias:requires_grad_(false)
    assert.truthy(tostring(tied):find("\n%-%- 8 parameters %(6 trainable%)$"), tostring(tied))
    local one = nn.Module()
    one.p = nn.Parameter(lg.ones(1))
    assert.truthy(tostring(one):find("\n%-%- 1 parameter$"))
  end)

  it("tostring keeps a class's own __tostring for its children", function()
    local Custom = nn.Module:extend("Custom")
    function Custom:init() self.w = nn.Parameter(lg.ones(2)) end
    Custom.__tostring = function() return "<custom>" end
    local seq = nn.Sequential(Custom())
    assert.are.equal("Sequential(\n  (1): <custom>\n)\n-- 2 parameters", tostring(seq))
  end)

  it("tostring wraps the shapes at the print options' linewidth", function()
    lg.set_printoptions{linewidth = 120}
    local ok, text = pcall(tostring, nn.Sequential(Affine(4, 8)))
    lg.set_printoptions{profile = "default"}
    assert.is_true(ok, text)
    assert.are.equal("Sequential(\n  (1): Affine(in_features=4, out_features=8, bias=true)  weight {8, 4}, "
                     .. "bias {8}\n)\n-- 40 parameters", text)
  end)
end)

describe("containers", function()
  it("Sequential chains its children, named 1, 2, ...", function()
    local seq = nn.Sequential(Affine(4, 3), Affine(3, 2))
    assert.are.equal(2, #seq)
    local x = lg.ones(1, 4)
    local expected = seq[2](seq[1](x))
    H.assert_tensor(seq(x), {1, 2}, "float32", H.values(expected))
    assert.are.same({"1.weight", "1.bias", "2.weight", "2.bias"}, names_of(seq:named_parameters_list()))
    assert.are.same({"1", "2"}, names_of(seq:named_children()))
    local seq2 = nn.Sequential({Affine(1, 1), Affine(1, 1)})
    assert.are.equal(2, #seq2)
  end)

  it("a Sequential's error names the child that failed", function()
    local seq = nn.Sequential(Affine(4, 3), Affine(5, 2))
    local err = H.assert_error_names({"Sequential: child 2 (Affine): "}, seq, lg.ones(1, 4))
    assert.truthy(err:find("matmul", 1, true), err)
    H.assert_error_names({"Sequential"}, nn.Sequential, Affine(1, 1), 3)
  end)

  it("append, extend, insert and pop keep the names 1..n in order", function()
    local a, b, c, d = Affine(1, 1), Affine(1, 1), Affine(1, 1), Affine(1, 1)
    local list = nn.ModuleList({a})
    list:append(c):extend({d})
    list:insert(2, b)
    assert.are.same({a, b, c, d}, {list[1], list[2], list[3], list[4]})
    assert.are.same({"1", "2", "3", "4"}, names_of(list:named_children()))
    assert.are.equal(c, list:pop(3))
    assert.are.same({"1", "2", "3"}, names_of(list:named_children()))
    assert.are.equal(d, list[3])
    assert.are.equal(d, list:get_submodule("3"))
    local n = 0
    for _, m in ipairs(list) do n = n + 1; assert.is_true(nn.is_module(m)) end
    assert.are.equal(3, n)
    H.assert_error_names({"ModuleList"}, list, 1)
  end)

  it("ModuleDict holds children by name in insertion order", function()
    local d = nn.ModuleDict({{"enc", Affine(2, 2)}, {"dec", Affine(2, 1)}})
    assert.are.same({"enc", "dec"}, d:keys())
    assert.are.same({"enc.weight", "enc.bias", "dec.weight", "dec.bias"}, names_of(d:named_parameters_list()))
    assert.is_true(nn.is_module(d.enc))
    d:set("extra", Affine(1, 1))
    assert.are.equal(3, #d:values())
    d:pop("enc")
    assert.are.same({"dec", "extra"}, d:keys())
    H.assert_error_names({"keys"}, d.set, d, "keys", Affine(1, 1))
    local sorted = nn.ModuleDict({b = Affine(1, 1), a = Affine(1, 1)})
    assert.are.same({"a", "b"}, sorted:keys())
  end)
end)

describe("nn.init", function()
  local init = nn.init

  it("fans as PyTorch computes them", function()
    assert.are.same({4, 8}, {init.calculate_fan_in_and_fan_out(lg.zeros(8, 4))})
    assert.are.same({3 * 9, 16 * 9}, {init.calculate_fan_in_and_fan_out(lg.zeros(16, 3, 3, 3))})
    H.assert_error_names({"fewer than 2"}, init.calculate_fan_in_and_fan_out, lg.zeros(3))
  end)

  it("gains as PyTorch's calculate_gain", function()
    assert.are.equal(1, init.calculate_gain("linear"))
    assert.are.equal(5 / 3, init.calculate_gain("tanh"))
    assert.are.equal(math.sqrt(2), init.calculate_gain("relu"))
    assert.are.equal(math.sqrt(2 / (1 + 0.01 ^ 2)), init.calculate_gain("leaky_relu"))
    assert.are.equal(math.sqrt(2 / (1 + 5)), init.calculate_gain("leaky_relu", math.sqrt(5)))
    assert.are.equal(3 / 4, init.calculate_gain("selu"))
  end)

  it("constant_, zeros_, ones_ fill in place, also a parameter", function()
    local p = nn.Parameter(lg.empty(2, 2))
    assert.are.equal(p, init.constant_(p, 0.5))
    H.assert_tensor(p, {2, 2}, "float32", {0.5, 0.5, 0.5, 0.5})
    H.assert_tensor(init.zeros_(p), {2, 2}, "float32", {0, 0, 0, 0})
    H.assert_tensor(init.ones_(p), {2, 2}, "float32", {1, 1, 1, 1})
    assert.is_true(p.requires_grad and p.is_leaf)
  end)

  -- The largest absolute value, the mean and the standard deviation.
  local function stats(t)
    local v = H.values(t)
    local max, sum, sq = 0, 0, 0
    for _, x in ipairs(v) do
      max = math.max(max, math.abs(x))
      sum = sum + x
    end
    local mean = sum / #v
    for _, x in ipairs(v) do sq = sq + (x - mean) ^ 2 end
    return max, mean, math.sqrt(sq / #v)
  end

  it("uniform bounds of uniform_, xavier_uniform_ and kaiming_uniform_", function()
    lg.manual_seed(1)
    local w = lg.empty(200, 100, F64)
    local max, mean = stats(init.uniform_(w, -2, 2))
    assert.is_true(max <= 2 and max > 1.9 and math.abs(mean) < 0.05)
    local a = math.sqrt(6 / 300)
    max = stats(init.xavier_uniform_(w))
    assert.is_true(max <= a and max > 0.95 * a, tostring(max))
    max = stats(init.xavier_uniform_(w, {gain = 2}))
    assert.is_true(max <= 2 * a and max > 1.9 * a, tostring(max))
    -- Linear's default: kaiming_uniform_(w, sqrt(5)) gives bound 1/sqrt(fan_in)
    max = stats(init.kaiming_uniform_(w, math.sqrt(5)))
    assert.is_true(max <= 1 / math.sqrt(100) and max > 0.95 / math.sqrt(100), tostring(max))
    local bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(200)
    max = stats(init.kaiming_uniform_(w, {mode = "fan_out", nonlinearity = "relu"}))
    assert.is_true(max <= bound and max > 0.95 * bound, tostring(max))
  end)

  it("normal standard deviations of normal_, xavier_normal_ and kaiming_normal_", function()
    lg.manual_seed(2)
    local w = lg.empty(200, 100, F64)
    local _, mean, std = stats(init.normal_(w, 3, 0.5))
    assert.is_true(math.abs(mean - 3) < 0.02 and math.abs(std - 0.5) < 0.02)
    _, _, std = stats(init.xavier_normal_(w))
    assert.is_true(math.abs(std - math.sqrt(2 / 300)) < 0.03 * math.sqrt(2 / 300), tostring(std))
    _, _, std = stats(init.kaiming_normal_(w, 0, "fan_in", "relu"))
    assert.is_true(math.abs(std - math.sqrt(2 / 100)) < 0.03 * math.sqrt(2 / 100), tostring(std))
    H.assert_error_names({"mode"}, init.kaiming_normal_, w, {mode = "fan"})
  end)

  it("orthogonal_ gives orthonormal rows or columns, times the gain", function()
    for _, shape in ipairs({{5, 3}, {3, 5}, {4, 2, 2}}) do
      local w = init.orthogonal_(lg.empty(shape, F64), 2)
      local m = w:reshape(shape[1], -1)
      local gram = (#H.shape(m) == 2 and shape[1] < m:size(2)) and lg.matmul(m, m:t()) or lg.matmul(m:t(), m)
      local n = gram:size(1)
      local expected = {}
      for i = 1, n do for j = 1, n do expected[(i - 1) * n + j] = (i == j) and 4 or 0 end end
      H.assert_tensor(gram, {n, n}, "float64", expected, 1e-9, 1e-9, table.concat(shape, "x"))
    end
    H.assert_error_names({"orthogonal_"}, init.orthogonal_, lg.zeros(3))
  end)
end)

describe("nn.utils.clip_grad_norm_", function()
  it("scales the gradients to the max norm and returns the total norm", function()
    local a, b = lg.zeros(2):requires_grad_(), lg.zeros(1):requires_grad_()
    a.grad, b.grad = lg.tensor({3, 0}, {dtype = "float32"}), lg.tensor({4}, {dtype = "float32"})
    local total = nn.utils.clip_grad_norm_({a, b}, 1)
    H.assert_tensor(total, {}, "float32", {5})
    local c = 1 / (5 + 1e-6)
    H.assert_tensor(a.grad, {2}, "float32", {3 * c, 0})
    H.assert_tensor(b.grad, {1}, "float32", {4 * c})
    -- under the max norm nothing changes
    nn.utils.clip_grad_norm_({a, b}, 10)
    H.assert_tensor(b.grad, {1}, "float32", {4 * c})
  end)

  it("the infinity norm and a module's parameters", function()
    local net = Net(4, 2)
    net(lg.ones(3, 4)):sum():backward()
    local total = nn.utils.clip_grad_norm_(net:parameters(), 0.1, math.huge)
    local max = 0
    for _, p in ipairs(net:parameters()) do
      max = math.max(max, p.grad:abs():max():item())
    end
    assert.is_true(total:item() > 0.1)
    assert.is_true(max <= 0.1 + 1e-6, tostring(max))
    H.assert_error_names({"clip_grad_norm_"}, nn.utils.clip_grad_norm_, {1}, 1)
  end)
end)
