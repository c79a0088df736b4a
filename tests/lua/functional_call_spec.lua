-- functional_call_spec.lua: func.functional_call, one `it` per sentence of
-- its semantics (README, "functional_call"), each example of the torch.func.functional_call
-- documentation written in Lua, func.grad over functional_call against the
-- closed form, the name cache, and stack_module_state. The modules here are
-- built from nn.Parameter and plain ops, independent of the layer files.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local fc = require "luagrad.func_call"
local functional_call, stack_module_state = fc.functional_call, fc.stack_module_state
local parametrize = nn.utils.parametrize

local F64 = {dtype = "float64"}
local function t64(data) return lg.tensor(data, F64) end

local function same(t, shape, data, label)
  H.assert_tensor(t, shape, "float64", data, 1e-12, 1e-12, label)
end

-- y = x W^T + b
local Affine = nn.Module:extend("Affine")
function Affine:init(n_in, n_out)
  self.weight = nn.Parameter(lg.randn(n_out, n_in, F64))
  self.bias = nn.Parameter(lg.randn(n_out, F64))
end
function Affine:forward(x) return lg.matmul(x, self.weight:t()) + self.bias end

-- fc2(relu(fc1(x))) * scale + offset (a buffer)
local Net = nn.Module:extend("Net")
function Net:init()
  self.fc1 = Affine(2, 3)
  self.fc2 = Affine(3, 1)
  self.scale = nn.Parameter(t64({2}))
  self:register_buffer("offset", t64({0.5}))
end
function Net:forward(x) return self.fc2(lg.relu(self.fc1(x))) * self.scale + self.offset end

-- Foo of the documentation: forward does self.foo = self.foo + 1.
local Counter = nn.Module:extend("Counter")
function Counter:init() self:register_buffer("foo", t64(0)) end
function Counter:forward(x)
  self.foo = self.foo + 1
  return x + self.foo
end

-- Foo of the documentation with tied weights: x + foo + foo_tied.
local Tied = nn.Module:extend("Tied")
function Tied:init()
  self.foo = nn.Parameter(t64(1))
  self.foo_tied = self.foo
end
function Tied:forward(x) return x + self.foo + self.foo_tied end

-- Bar of the documentation: weight @ x + buffer.
local Bar = nn.Module:extend("Bar")
function Bar:init(n_in, n_out)
  self.weight = nn.Parameter(lg.randn(n_out, n_in, F64))
  self:register_buffer("buffer", lg.randn(n_out, F64))
end
function Bar:forward(x) return lg.matmul(self.weight, x) + self.buffer end

-- Returns every argument it got, to see how functional_call passes them.
local Echo = nn.Module:extend("Echo")
function Echo:init() self.w = nn.Parameter(t64(1)) end
function Echo:forward(...) return select("#", ...), ... end

describe("functional_call, its semantics sentence by sentence", function()
  it("calls module:forward with its parameters and buffers replaced by params for the duration of the call", function()
    local net = Net()
    local seen
    local Probe = nn.Module:extend("Probe")
    function Probe:init() self.w = nn.Parameter(t64(1)); self:register_buffer("b", t64(2)) end
    function Probe:forward(x) seen = {self.w, self.b}; return x * self.w + self.b end
    local probe = Probe()
    local w, b = t64(10), t64(20)
    local y = functional_call(probe, {w = w, b = b}, t64(3))
    assert.are.equal(w, seen[1])
    assert.are.equal(b, seen[2])
    same(y, {}, {50})
    -- a full Net: the result equals the closed form with the passed tensors
    local W1, b1, W2, b2 = t64({{1, 0}, {0, 1}, {1, 1}}), t64({0, 0, -5}), t64({{1, 2, 3}}), t64({1})
    local out = functional_call(net, {["fc1.weight"] = W1, ["fc1.bias"] = b1, ["fc2.weight"] = W2,
                                      ["fc2.bias"] = b2, scale = t64({3}), offset = t64({0})}, t64({{1, 2}}))
    -- h = relu([1, 2, -2]) = [1, 2, 0]; y = (1 + 4 + 0 + 1) * 3 = 18
    same(out, {1, 1}, {18})
  end)

  it("params: a table from dotted names to tensors", function()
    local net = Net()
    local x = t64({{1, -1}})
    local expected = net(x)
    local params = net:named_parameters()
    same(functional_call(net, params, x), {1, 1}, H.values(expected))
    local out = functional_call(net, {["fc2.bias"] = net.fc2.bias + 1}, x)
    same(out, {1, 1}, {H.values(expected)[1] + 2}) -- bias + 1, times scale 2
  end)

  it("params: or an array of such tables", function()
    local net = Net()
    local x = t64({{0.5, 2}})
    local expected = net(x)
    local p = net:named_parameters()
    local first, second = {["fc1.weight"] = p["fc1.weight"], ["fc1.bias"] = p["fc1.bias"]},
                          {["fc2.weight"] = p["fc2.weight"], ["fc2.bias"] = p["fc2.bias"], scale = t64({4})}
    local out = functional_call(net, {first, second, net:named_buffers()}, x)
    same(out, {1, 1}, {(H.values(expected)[1] - 0.5) * 2 + 0.5})
  end)

  it("params: the keys of the array's tables must be distinct, otherwise an error naming the repeated keys", function()
    local net = Net()
    local err = H.assert_error_names({"functional_call"}, functional_call, net,
      {{scale = t64({1}), ["fc1.bias"] = t64({0, 0, 0})}, {scale = t64({1})}, {["fc1.bias"] = t64({1, 1, 1})}},
      t64({{1, 1}}))
    assert.truthy(err:find('"fc1.bias", "scale"', 1, true), err)
    assert.truthy(err:find("distinct", 1, true), err)
  end)

  it("args: a tensor or other non-table value is the single argument", function()
    local n, a = functional_call(Echo(), {}, t64(7))
    assert.are.equal(1, n)
    same(a, {}, {7})
    local n2, s = functional_call(Echo(), {}, "text")
    assert.are.equal(1, n2)
    assert.are.equal("text", s)
  end)

  it("args: an array table holds the arguments ({x, t})", function()
    local x, t = t64(1), t64(2)
    local n, a, b = functional_call(Echo(), {}, {x, t})
    assert.are.equal(2, n)
    assert.are.equal(x, a)
    assert.are.equal(t, b)
    local n3, _, mid, last = functional_call(Echo(), {}, {n = 3, x, nil, t}) -- args.n keeps a hole
    assert.are.equal(3, n3)
    assert.is_nil(mid)
    assert.are.equal(t, last)
  end)

  it("args: to pass one table as the only argument write {tbl}", function()
    local tbl = {a = 1}
    local n, got = functional_call(Echo(), {}, {tbl})
    assert.are.equal(1, n)
    assert.are.equal(tbl, got)
  end)

  it("args: nil passes none", function()
    local n = functional_call(Echo(), {}, nil)
    assert.are.equal(0, n)
  end)

  it("kwargs: nil, or a table passed as one more trailing argument", function()
    local x, kw = t64(1), {scale = 3}
    local n, a, k = functional_call(Echo(), {}, x, kw)
    assert.are.equal(2, n)
    assert.are.equal(x, a)
    assert.are.equal(kw, k)
    local n2, a2, b2, k2 = functional_call(Echo(), {}, {x, x}, kw)
    assert.are.equal(3, n2)
    assert.are.equal(x, a2)
    assert.are.equal(x, b2)
    assert.are.equal(kw, k2)
    local n3, k3 = functional_call(Echo(), {}, nil, kw)
    assert.are.equal(1, n3)
    assert.are.equal(kw, k3)
    assert.are.equal(1, (functional_call(Echo(), {}, x, nil)))
  end)

  it("opts: {tie_weights = true, strict = false} are the defaults", function()
    local mod = Tied()
    -- tie_weights defaults to true: foo's value also replaces foo_tied
    same(functional_call(mod, {foo = t64(0)}, t64(0)), {}, {0})
    -- strict defaults to false: a partial table is accepted
    local net = Net()
    assert.has_no.errors(function() functional_call(net, {scale = t64({1})}, t64({{1, 1}})) end)
  end)

  it("afterwards the module holds its original tensors again", function()
    local net = Net()
    local before = net:named_parameters()
    local buffer = net.offset
    local replacement = {}
    for k, v in pairs(before) do replacement[k] = v:detach() * 0 end
    replacement.offset = t64({9})
    functional_call(net, replacement, t64({{1, 2}}))
    for k, v in pairs(net:named_parameters()) do assert.are.equal(before[k], v, k) end
    assert.are.equal(buffer, net.offset)
  end)

  it("afterwards the module holds its original tensors again, also when forward raised an error", function()
    local Failing = nn.Module:extend("Failing")
    function Failing:init() self.w = nn.Parameter(t64(1)) end
    function Failing:forward() error({code = 42}) end
    local mod = Failing()
    local w = mod.w
    local ok, err = pcall(functional_call, mod, {w = t64(5)}, t64(0))
    assert.is_false(ok)
    assert.are.equal(42, err.code) -- the same error value, re-raised
    assert.are.equal(w, mod.w)
    -- a string error passes unchanged too
    local net = Net()
    local w1 = net.fc1.weight
    local ok2, err2 = pcall(functional_call, net, {["fc1.weight"] = t64({{1, 2, 3}})}, t64({{1, 2}}))
    assert.is_false(ok2)
    assert.truthy(err2:find("matmul", 1, true), err2)
    assert.are.equal(w1, net.fc1.weight)
  end)

  it("whatever forward left in a replaced slot (self.foo = self.foo + 1) is written back into the caller's table under that key", function()
    local mod = Counter()
    local a = {foo = t64(0)}
    functional_call(mod, a, t64(1))
    same(mod.foo, {}, {0})
    same(a.foo, {}, {1})
    -- with an array of tables the key goes back to the table that held it
    local first, second = {foo = t64(5)}, {}
    functional_call(mod, {first, second}, t64(0))
    same(first.foo, {}, {6})
    assert.is_nil(second.foo)
  end)

  it("in-place changes to a passed tensor are visible to the caller because it is the same tensor", function()
    local Running = nn.Module:extend("Running")
    function Running:init() self:register_buffer("running_mean", t64({0, 0})) end
    function Running:forward(x)
      lg.no_grad(function() self.running_mean:mul_(0.9):add_(x:mean(1) * 0.1) end)
      return x
    end
    local mod = Running()
    local rm = t64({1, 1})
    local a = {running_mean = rm}
    functional_call(mod, a, t64({{11, 21}, {11, 21}}))
    assert.are.equal(rm, a.running_mean)
    same(rm, {2}, {0.9 + 1.1, 0.9 + 2.1})
    same(mod.running_mean, {2}, {0, 0})
  end)

  it("tie_weights: names that hold the same tensor in the module are tied; a value passed for one is used for all of them", function()
    local mod = Tied()
    local seen = {}
    local Probe = Tied:extend("TiedProbe")
    function Probe:forward() seen = {self.foo, self.foo_tied} end
    local probe = Probe()
    local v = t64(3)
    functional_call(probe, {foo_tied = v}, nil)
    assert.are.equal(v, seen[1])
    assert.are.equal(v, seen[2])
    same(functional_call(mod, {foo_tied = t64(0)}, t64(0)), {}, {0})
  end)

  it("tie_weights: values that differ for one tied group are an error that names the keys and suggests tie_weights = false", function()
    local mod = Tied()
    local err = H.assert_error_names({"tie_weights = false"}, functional_call, mod,
                                     {foo = t64(0), foo_tied = t64(1)}, t64(0))
    assert.truthy(err:find('"foo", "foo_tied"', 1, true), err)
    -- differing in shape or dtype only is a difference too
    H.assert_error_names({"tie_weights = false"}, functional_call, mod,
                         {foo = t64(0), foo_tied = t64({0})}, t64(0))
    H.assert_error_names({"tie_weights = false"}, functional_call, mod,
                         {foo = t64(0), foo_tied = lg.tensor(0.0)}, t64(0))
    H.assert_error_names({"tie_weights = false"}, functional_call, mod,
                         {foo = t64(0 / 0), foo_tied = t64(0 / 0)}, t64(0))
  end)

  it("tie_weights: the documentation's {foo = zeros, foo_tied = zeros} (two tensors, equal) gives 0", function()
    local mod = Tied()
    same(functional_call(mod, {foo = t64(0), foo_tied = t64(0)}, t64(0)), {}, {0})
    -- the same tensor for both is fine too
    local z = t64(0)
    same(functional_call(mod, {foo = z, foo_tied = z}, t64(0)), {}, {0})
  end)

  it("tie_weights: of equal values, the one given for the group's first name in the module's order is used", function()
    local seen
    local Probe = Tied:extend("TiedFirst")
    function Probe:forward() seen = {self.foo, self.foo_tied} end
    local probe = Probe()
    for _ = 1, 5 do -- whatever order pairs() visits the keys in
      local a, b = t64(2), t64(2)
      functional_call(probe, {foo_tied = b, foo = a}, nil)
      assert.are.equal(a, seen[1])
      assert.are.equal(a, seen[2])
    end
    -- gradients reach the tensor used, none the other
    local a, b = t64(2):requires_grad_(), t64(2):requires_grad_()
    local out = functional_call(Tied(), {foo = a, foo_tied = b}, t64(1))
    local ga, gb = table.unpack(lg.autograd.grad(out, {a, b}, {allow_unused = true}))
    same(ga, {}, {2})
    assert.is_nil(gb)
  end)

  it("tie_weights: with tie_weights = false only the named slot changes", function()
    local mod = Tied()
    same(functional_call(mod, {foo = t64(0)}, t64(0), nil, {tie_weights = false}), {}, {1})
    same(functional_call(mod, {foo = t64(0), foo_tied = t64(0)}, t64(0), nil, {tie_weights = false}), {}, {0})
  end)

  it("strict: every parameter and buffer name must be given and no other; otherwise an error listing the missing and unexpected keys", function()
    local net = Net()
    local all = net:named_parameters()
    all.offset = net.offset
    assert.has_no.errors(function() functional_call(net, all, t64({{1, 1}}), nil, {strict = true}) end)
    local partial = {scale = t64({1}), ["fc1.bogus"] = t64(1)}
    local err = H.assert_error_names({"missing"}, functional_call, net, partial, t64({{1, 1}}), nil, {strict = true})
    assert.truthy(err:find('missing key(s): "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "offset"', 1, true), err)
    assert.truthy(err:find('unexpected key(s): "fc1.bogus"', 1, true), err)
    -- nothing was swapped
    assert.are.equal(all.scale, net.scale)
    -- with tied weights one name of the group covers the others
    assert.has_no.errors(function() functional_call(Tied(), {foo = t64(0)}, t64(0), nil, {strict = true}) end)
  end)

  it("a key \"{sub}.parametrizations.{name}.original\" replaces the unconstrained tensor, so the parametrization still applies", function()
    local net = Net()
    parametrize.register_parametrization(net.fc1, "weight", function(w) return w * w end)
    local x = t64({{1, 1}})
    local W1 = t64({{1, 2}, {3, 4}, {-1, -1}})
    local params = {["fc1.parametrizations.weight.original"] = W1, ["fc1.bias"] = t64({0, 0, 0}),
                    ["fc2.weight"] = t64({{1, 1, 1}}), ["fc2.bias"] = t64({0}), scale = t64({1}),
                    offset = t64({0})}
    -- weight = W1^2 = {{1,4},{9,16},{1,1}}; h = {5, 25, 2}; y = 32
    same(functional_call(net, params, x, nil, {strict = true}), {1, 1}, {32})
    assert.is_nil(rawget(net.fc1, "weight"))
  end)

  it("the plain name \"{sub}.{name}\" replaces the computed weight itself, bypassing the parametrization", function()
    local net = Net()
    parametrize.register_parametrization(net.fc1, "weight", function(w) return w * w end)
    local params = {["fc1.weight"] = t64({{1, 2}, {3, 4}, {-1, -1}}), ["fc1.bias"] = t64({0, 0, 0}),
                    ["fc2.weight"] = t64({{1, 1, 1}}), ["fc2.bias"] = t64({0}), scale = t64({1}),
                    offset = t64({0})}
    -- weight used as given: h = relu({3, 7, -2}) = {3, 7, 0}; y = 10
    same(functional_call(net, params, t64({{1, 1}})), {1, 1}, {10})
    -- and the parametrization is back afterwards
    assert.is_nil(rawget(net.fc1, "weight"))
    local original = net.fc1.parametrizations.weight.original
    same(net.fc1.weight, {3, 2}, H.values(original * original))
  end)
end)

describe("functional_call, the torch.func.functional_call documentation in Lua", function()
  it("a module that does self.foo = self.foo + 1", function()
    local a = {foo = lg.zeros({}, F64)}
    local mod = Counter()
    same(mod.foo, {}, {0})
    functional_call(mod, a, lg.ones({}, F64))
    same(mod.foo, {}, {0})
    same(a.foo, {}, {1})
  end)

  it("tied weights follow the tie_weights flag", function()
    local a = {foo = lg.zeros({}, F64)}
    local mod = Tied()
    same(mod.foo, {}, {1})
    same(mod(lg.zeros({}, F64)), {}, {2})
    same(functional_call(mod, a, lg.zeros({}, F64)), {}, {0}) -- changes self.foo_tied too
    same(functional_call(mod, a, lg.zeros({}, F64), nil, {tie_weights = false}), {}, {1})
    -- new_a: the documentation passes two separate zeros for foo and
    -- foo_tied and shows 0; under tie_weights = true PyTorch's code (and
    -- README's functional_call) reject two different values for one tied group, so the same
    -- zero goes to both, and two different ones need tie_weights = false.
    local zero = lg.zeros({}, F64)
    same(functional_call(mod, {foo = zero, foo_tied = zero}, lg.zeros({}, F64)), {}, {0})
    same(functional_call(mod, {foo = lg.zeros({}, F64), foo_tied = lg.zeros({}, F64)}, lg.zeros({}, F64),
                         nil, {tie_weights = false}), {}, {0})
  end)

  it("passing multiple dictionaries", function()
    local a = {{weight = lg.ones(1, 1, F64)}, {buffer = lg.zeros(1, F64)}}
    local mod = Bar(1, 1)
    local weight, buffer = mod.weight, mod.buffer
    local x = lg.randn({1, 1}, F64)
    same(functional_call(mod, a, x), {1, 1}, H.values(x))
    assert.are.equal(weight, mod.weight)
    assert.are.equal(buffer, mod.buffer)
  end)

  -- The documentation's compute_loss with model = nn.Linear(3, 3), here the
  -- Affine module; mse_loss written out. Closed form: with r = y - t,
  -- dL/dW = 2/numel * r^T x, dL/db = 2/numel * sum of r over rows.
  local function compute_loss_setup()
    local func = require "luagrad.func"
    local x, t = lg.randn({4, 3}, F64), lg.randn({4, 3}, F64)
    local model = Affine(3, 3)
    local function compute_loss(params, xx, tt)
      local y = functional_call(model, params, xx)
      return ((y - tt) ^ 2):mean()
    end
    local function expected(W, b)
      local r = lg.matmul(x, W:t()) + b - t
      return (lg.matmul(r:t(), x) * (2 / 12)):detach(), (r:sum(1) * (2 / 12)):detach()
    end
    return func, model, compute_loss, x, t, expected
  end

  it("the grad transform over the parameters of a model", function()
    local func, model, compute_loss, x, t, expected = compute_loss_setup()
    local grads = func.grad(compute_loss)(model:named_parameters(), x, t)
    local gW, gb = expected(model.weight, model.bias)
    same(grads.weight, {3, 3}, H.values(gW), "weight")
    same(grads.bias, {3}, H.values(gb), "bias")
    -- the parameters required grad outside, so the gradients are differentiable
    assert.is_not_nil(grads.weight.grad_fn)
    assert.is_nil(model.weight.grad) -- grad never touches .grad
  end)

  it("detached parameters: the gradients have no grad_fn", function()
    local func, model, compute_loss, x, t, expected = compute_loss_setup()
    local detached = {}
    for k, v in pairs(model:named_parameters()) do detached[k] = v:detach() end
    local grads = func.grad(compute_loss)(detached, x, t)
    assert.is_nil(grads.weight.grad_fn)
    assert.is_nil(grads.bias.grad_fn)
    local gW, gb = expected(model.weight, model.bias)
    same(grads.weight, {3, 3}, H.values(gW), "weight")
    same(grads.bias, {3}, H.values(gb), "bias")
  end)

  it("the grad example with nn.Linear(3, 3) itself", function()
    local func = require "luagrad.func"
    local x, t = lg.randn(4, 3), lg.randn(4, 3)
    local model = nn.Linear(3, 3)
    local function compute_loss(params, xx, tt)
      local y = functional_call(model, params, xx)
      return ((y - tt) ^ 2):mean()
    end
    local grad_weights = func.grad(compute_loss)(model:named_parameters(), x, t)
    local r = lg.matmul(x, model.weight:t()) + model.bias - t
    H.assert_tensor(grad_weights.weight, {3, 3}, "float32", H.values(lg.matmul(r:t(), x) * (2 / 12)), 1e-5, 1e-6)
    H.assert_tensor(grad_weights.bias, {3}, "float32", H.values(r:sum(1) * (2 / 12)), 1e-5, 1e-6)
    local detached = {}
    for k, v in pairs(model:named_parameters()) do detached[k] = v:detach() end
    assert.is_nil(func.grad(compute_loss)(detached, x, t).weight.grad_fn)
  end)

  it("lg.autograd.grad through functional_call gives the same gradients", function()
    local _, model, compute_loss, x, t, expected = compute_loss_setup()
    local W, b = lg.randn({3, 3}, F64):requires_grad_(), lg.randn({3}, F64):requires_grad_()
    local loss = compute_loss({weight = W, bias = b}, x, t)
    local g = lg.autograd.grad(loss, {W, b})
    local gW, gb = expected(W, b)
    same(g[1], {3, 3}, H.values(gW))
    same(g[2], {3}, H.values(gb))
  end)
end)

describe("functional_call, names and errors", function()
  it("a key naming no submodule is an error naming the key", function()
    H.assert_error_names({"fc9.weight"}, functional_call, Net(), {["fc9.weight"] = t64(1)}, t64({{1, 1}}))
  end)

  it("a key naming a method is an error", function()
    H.assert_error_names({"not a tensor"}, functional_call, Net(), {forward = t64(1)}, t64({{1, 1}}))
  end)

  it("a non-tensor value is an error naming its key", function()
    H.assert_error_names({"scale"}, functional_call, Net(), {scale = 3}, t64({{1, 1}}))
  end)

  it("an extra key of an existing submodule is set for the call and removed afterwards", function()
    local Reader = nn.Module:extend("Reader")
    function Reader:forward() return self.extra end
    local mod = Reader()
    local v = t64(1)
    assert.are.equal(v, functional_call(mod, {extra = v}, nil))
    assert.is_nil(rawget(mod, "extra"))
  end)

  it("the names of Sequential children are 1, 2, ...", function()
    local seq = nn.Sequential(Affine(2, 2), Affine(2, 1))
    local out = functional_call(seq, {["1.weight"] = t64({{1, 0}, {0, 1}}), ["1.bias"] = t64({0, 0}),
                                      ["2.weight"] = t64({{1, 1}}), ["2.bias"] = t64({1})}, t64({{2, 3}}))
    same(out, {1, 1}, {6})
  end)

  it("the cached name resolution follows a replaced child and a new registration", function()
    local net = Net()
    local x = t64({{1, 1}})
    local p = {["fc2.weight"] = t64({{1, 1, 1}}), ["fc2.bias"] = t64({0}), scale = t64({1}), offset = t64({0})}
    functional_call(net, p, x)
    local old = net.fc1
    net.fc1 = Affine(2, 3) -- existing key: a plain store, found by the edge check
    p["fc1.weight"], p["fc1.bias"] = t64({{1, 0}, {0, 1}, {0, 0}}), t64({0, 0, 0})
    same(functional_call(net, p, x), {1, 1}, {2})
    assert.are_not.equal(old, net.fc1)
    assert.are_not.equal(p["fc1.weight"], net.fc1.weight)
    net.fc1:register_buffer("shift", t64({0, 0, 0})) -- a new registration inside a child
    local Shifted = Affine:extend("Shifted")
    function Shifted:forward(xx) return lg.matmul(xx, self.weight:t()) + self.bias + self.shift end
    setmetatable(net.fc1, Shifted)
    p["fc1.shift"] = t64({10, 0, 0})
    same(functional_call(net, p, x, nil, {strict = true}), {1, 1}, {12})
  end)

  it("ties are recomputed after a plain reassignment ties two slots", function()
    local Two = nn.Module:extend("Two")
    function Two:init() self.a = nn.Parameter(t64(1)); self.b = nn.Parameter(t64(2)) end
    function Two:forward() return self.a + self.b end
    local mod = Two()
    same(functional_call(mod, {a = t64(10)}, nil), {}, {12})
    mod.b = mod.a
    same(functional_call(mod, {a = t64(10)}, nil), {}, {20})
  end)

  it("returns every value forward returns", function()
    local Multi = nn.Module:extend("Multi")
    function Multi:forward(x) return x, x + 1, nil, "last" end
    local a, b, c, d = functional_call(Multi(), {}, t64(1))
    same(a, {}, {1})
    same(b, {}, {2})
    assert.is_nil(c)
    assert.are.equal("last", d)
  end)
end)

describe("stack_module_state", function()
  it("stacks parameters and buffers on dim 1; stacked parameters are new leaves requiring grad", function()
    local models = {Bar(2, 3), Bar(2, 3), Bar(2, 3)}
    local params, buffers = stack_module_state(models)
    assert.are.same({3, 3, 2}, H.shape(params.weight))
    assert.are.same({3, 3}, H.shape(buffers.buffer))
    for i = 1, 3 do
      same(params.weight[i], {3, 2}, H.values(models[i].weight))
      same(buffers.buffer[i], {3}, H.values(models[i].buffer))
    end
    assert.is_true(params.weight.requires_grad)
    assert.is_true(params.weight.is_leaf)
    assert.is_nil(params.weight.grad_fn)
    assert.is_false(buffers.buffer.requires_grad)
  end)

  it("rejects an empty list, mixed classes and mixed modes", function()
    H.assert_error_names({"at least one"}, stack_module_state, {})
    H.assert_error_names({"same class"}, stack_module_state, {Bar(1, 1), Affine(1, 1)})
    H.assert_error_names({"training"}, stack_module_state, {Bar(1, 1), Bar(1, 1):eval()})
  end)

  it("a stacked state runs each model's functional_call on its slice", function()
    local models = {Bar(2, 1), Bar(2, 1)}
    local params, buffers = stack_module_state(models)
    local x = t64({{1}, {2}})
    for i = 1, 2 do
      local out = functional_call(models[1], {{weight = params.weight[i]}, {buffer = buffers.buffer[i]}}, x)
      same(out, {1, 1}, H.values(models[i](x)))
    end
  end)
end)
