-- vmap_norm_spec.lua: the batching rules of batch_norm (batch statistics
-- per example, batched running statistics, per-example weights),
-- group_norm with per-example weights and conv2d's weight gradient, against
-- functorch 1.13 (tests/fixtures/vmap_norm.lua from generate_vmap_norm.py);
-- vmap(grad) per-sample gradients of a small CNN against the per-example
-- loop; batch_norm's in-place running statistics error and
-- func.replace_all_batch_norm_modules_; unique refused inside vmap.
local lg = require "luagrad"
local F, func, nn = lg.nn.functional, lg.func, lg.nn
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"
local cases = dofile(root .. "/tests/fixtures/vmap_norm.lua")
local F64 = {dtype = "float64"}

local function conv_loss(w, x)
  return F.conv2d(x:unsqueeze(1), w, {padding = 1}):tanh():pow(2):sum()
end
local function conv_loss_g(w, x)
  return F.conv2d(x:unsqueeze(1), w, {stride = 2, groups = 2}):sin():sum()
end
local function convt_loss(w, x)
  return F.conv_transpose2d(x:unsqueeze(1), w, {stride = 2}):tanh():sum()
end
local function cnn_loss(w1, b1, w2, b2, x, t)
  local h = F.max_pool2d(F.conv2d(x:unsqueeze(1), w1, b1, {padding = 1}):relu(), 2)
  return F.cross_entropy(h:flatten(2):matmul(w2:t()) + b2, t:unsqueeze(1))
end
local function bn_loss(w, x)
  return F.batch_norm(x, nil, nil, w, nil, true):pow(3):sum()
end

local FNS = {
  bn_train = function(x, w, b) return F.batch_norm(x, nil, nil, w, b, true) end,
  bn_train_2d = function(x) return F.batch_norm(x, nil, nil, nil, nil, true) end,
  bn_stats = function(x, m, v)
    local y = F.batch_norm(x, m, v, nil, nil, true, 0.3)
    return y, m * 1, v * 1
  end,
  bn_eval = function(x, m, v, w, b) return F.batch_norm(x, m, v, w, b, false) end,
  gn = function(x, w, b) return F.group_norm(x, 2, w, b) end,
  conv_psg = func.grad(conv_loss),
  conv_psg_groups = func.grad(conv_loss_g),
  convt_psg = func.grad(convt_loss),
  cnn_psg = function(...)
    local g = func.grad(cnn_loss, {argnums = {1, 2, 3, 4}})(...)
    return g[1], g[2], g[3], g[4]
  end,
  bn_psg = func.grad(bn_loss),
  bn_psg_x = func.grad(bn_loss, {argnums = 2}),
}

-- Runs fn, returning what it returns and the vmap loop warnings it gave.
local function warnings_of(fn, ...)
  local seen, saved = {}, lg._warn
  lg._warn = function(msg) seen[#seen + 1] = msg end
  local res = table.pack(pcall(fn, ...))
  lg._warn = saved
  assert(res[1], res[2])
  return seen, table.unpack(res, 2, res.n)
end

-- every case runs through a rule: none falls back to the per-example loop
local checked = {}
for k, fn in pairs(FNS) do
  checked[k] = function(...)
    local res = table.pack(warnings_of(fn, ...))
    assert.are.same({}, res[1], "no loop fallback in " .. k)
    return table.unpack(res, 2, res.n)
  end
end
H.vmap_fixture_its(describe, it, "func.vmap norm and conv-gradient rules against functorch",
                   cases, checked)

describe("func.vmap: per-sample gradients of a CNN", function()
  it("vmap(grad) of conv + relu + pool + linear matches the per-example loop, one pass", function()
    lg.manual_seed(5)
    local model = nn.Sequential(nn.Conv2d(1, 4, 3, {padding = 1, dtype = "float64"}), nn.ReLU(),
                                nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 10, {dtype = "float64"}))
    local params = {}
    for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
    local function loss(p, x, t)
      return F.cross_entropy(func.functional_call(model, p, x:unsqueeze(1)), t:unsqueeze(1))
    end
    local xs, ts = lg.randn(16, 1, 8, 8, F64), lg.randint(1, 11, {16})
    local warned, grads = warnings_of(func.vmap(func.grad(loss), {in_dims = {false, 1, 1}}), params, xs, ts)
    assert.are.same({}, warned)
    for i = 1, 16 do
      local gi = func.grad(loss)(params, xs[i], ts:select(1, i))
      for name, g in pairs(gi) do H.agree(grads[name][i], g, 1e-10, name .. " example " .. i) end
    end
  end)
end)

describe("func.vmap: batch_norm's running statistics", function()
  it("refuses batch statistics updating unbatched running statistics, naming the fixes", function()
    local x = lg.randn(3, 4, 2, F64)
    local m, v = lg.zeros(2, F64), lg.ones(2, F64)
    H.raises("which it updates in place, are not batched",
             func.vmap(function(a) return F.batch_norm(a, m, v, nil, nil, true) end), x)
    H.raises("replace_all_batch_norm_modules_",
             func.vmap(function(a) return F.batch_norm(a, m, v, nil, nil, true) end), x)
    -- untouched by the failed call
    H.agree(m, lg.zeros(2, F64), 0, "running_mean")
  end)

  it("updates running statistics batched on any dim as the per-example loop", function()
    local x = lg.randn(4, 3, 2, 3, F64)
    local m, v = lg.randn(2, 3, F64), lg.rand(2, 3, F64) + 0.5
    local m0, v0 = m:clone(), v:clone()
    local y = func.vmap(function(a, mm, vv) return F.batch_norm(a, mm, vv, nil, nil, true, 0.3) end,
                        {in_dims = {2, 2, 2}})(x, m, v)
    for i = 1, 3 do
      local mi, vi = m0:select(2, i):clone(), v0:select(2, i):clone()
      H.agree(y[i], F.batch_norm(x:select(2, i), mi, vi, nil, nil, true, 0.3), 1e-12, "output " .. i)
      H.agree(m:select(2, i), mi, 1e-12, "running_mean " .. i)
      H.agree(v:select(2, i), vi, 1e-12, "running_var " .. i)
    end
  end)

  it("runs a BatchNorm model in training mode after replace_all_batch_norm_modules_", function()
    local bn = nn.BatchNorm1d(3, {dtype = "float64"})
    local model = nn.Sequential(nn.Linear(5, 3, {dtype = "float64"}), bn)
    local x = lg.randn(4, 6, 5, F64)
    H.raises("not batched", func.vmap(function(a) return model(a) end), x)
    assert.are.equal(model, func.replace_all_batch_norm_modules_(model))
    assert.is_false(bn.track_running_stats)
    assert.is_nil(bn.running_mean)
    assert.are.same({}, model:named_buffers())
    local y = func.vmap(function(a) return model(a) end)(x)
    for i = 1, 4 do H.agree(y[i], model(x[i]), 1e-12, "example " .. i) end
    H.raises("expected a Module", func.replace_all_batch_norm_modules_, 3)
  end)

  it("updates each model's running statistics in a vmapped ensemble", function()
    local models = {}
    for i = 1, 3 do models[i] = nn.BatchNorm2d(2, {dtype = "float64"}) end
    local params, buffers = func.stack_module_state(models)
    local xs = lg.randn(3, 4, 2, 3, 3, F64)
    local call = function(p, b, x) return func.functional_call(models[1], {p, b}, x) end
    local ys = func.vmap(call, {in_dims = {1, 1, 1}})(params, buffers, xs)
    for i = 1, 3 do
      local ref = nn.BatchNorm2d(2, {dtype = "float64"})
      H.agree(ys[i], ref(xs[i]), 1e-12, "output " .. i)
      H.agree(buffers.running_mean[i], ref.running_mean, 1e-12, "running_mean " .. i)
      H.agree(buffers.running_var[i], ref.running_var, 1e-12, "running_var " .. i)
    end
  end)
end)

describe("func.vmap: unique", function()
  it("is refused (its result's shape depends on the values), not looped", function()
    local x = lg.tensor({{1, 2, 2}, {3, 3, 3}})
    H.raises("unique: its result's shape depends on the values",
             func.vmap(function(a) return lg.unique(a) end), x)
    -- an unbatched tensor inside vmap is not touched by the rule
    local u = func.vmap(function(a) return a + lg.unique(lg.tensor({2, 1, 2})):sum() end)(lg.zeros(2))
    H.agree(u, lg.tensor({3, 3}, {dtype = u.dtype}), 0, "unbatched unique")
  end)
end)
