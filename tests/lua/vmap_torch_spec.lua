-- vmap_torch_spec.lua: func.vmap against functorch 1.13's vmap
-- (tests/fixtures/vmap.lua from generate_vmap.py): every rule family with
-- the batch dim first, last and in the middle, unbatched mixes, out_dims,
-- nested vmap and vmap(grad). FNS holds each case's function, written in
-- Lua, under the fixture's key.
local lg = require "luagrad"
local F, func = lg.nn.functional, lg.func
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"
local cases = dofile(root .. "/tests/fixtures/vmap.lua")

local function loss(w, x, t) return ((x:matmul(w)):tanh() - t):pow(2):sum() end

local FNS = {
  exp = function(x) return x:exp() end,
  add = function(x, y) return x + y end,
  mul_scalar = function(x) return x * 3 - 1 end,
  where = function(c, a, b) return lg.where(c:gt(0), a, b) end,
  pow_clamp = function(x) return x:clamp(-0.5, 0.5):pow(2) end,
  sigmoid_tanh = function(x) return x:sigmoid() * x:tanh() end,
  sum_all = function(x) return x:sum() end,
  sum_dim = function(x) return x:sum(1) end,
  mean_keep = function(x) return x:mean(-1, true) end,
  amax = function(x) return x:amax(1) end,
  max_dim = function(x) return (x:max(2)) end,
  argmax = function(x) return x:argmax() - 1 end,
  var = function(x) return x:var(1) end,
  logsumexp = function(x) return x:logsumexp(1) end,
  cumsum = function(x) return x:cumsum(1) end,
  softmax = function(x) return F.softmax(x, -1) end,
  log_softmax = function(x) return F.log_softmax(x, 1) end,
  t = function(x) return x:t() end,
  reshape = function(x) return x:reshape(-1) end,
  view = function(x) return x:view(3, 2) end,
  unsqueeze = function(x) return x:unsqueeze(1) end,
  select = function(x) return x[2] end,
  narrow = function(x) return x:narrow(2, 2, 2) end,
  expand = function(x) return x:expand(2, 3) end,
  flip = function(x) return x:flip(1) end,
  squeeze = function(x) return x:squeeze() end,
  cat = function(x, y) return lg.cat({x, y}, 1) end,
  permute = function(x) return x:permute(3, 1, 2) end,
  gather = function(x, i) return x:gather(1, i) end,
  index_select = function(x, i) return x:index_select(1, i) end,
  masked_fill = function(x) return x:masked_fill(x:gt(0), 0) end,
  mv = function(a, v) return a:matmul(v) end,
  mm = function(a, b) return a:matmul(b) end,
  dot = function(a, b) return a:matmul(b) end,
  linear = function(x, w, b) return F.linear(x, w, b) end,
  cross_entropy = function(x, t) return F.cross_entropy(x, t) end,
  cross_entropy_sum = function(x, t) return F.cross_entropy(x, t, {reduction = "sum"}) end,
  mse = function(a, b) return F.mse_loss(a, b) end,
  conv2d = function(x, w) return F.conv2d(x, w, {padding = 1}) end,
  conv2d_bias = function(x, w, b) return F.conv2d(x, w, b, {padding = 1}) end,
  max_pool2d = function(x) return F.max_pool2d(x, 2) end,
  two_out = function(x) return x:sum(1), x * 2 end,
  clamp_min = function(x) return x:clamp(0.1) end,
  to_f32 = function(x) return (x * 2):to("float32"):to("float64") end,
  where_scalar = function(c, a) return lg.where(c:gt(0), a, 0) end,
  maximum = function(a, b) return lg.maximum(a, b) end,
  prod = function(x) return x:prod(2) end,
  std_all = function(x) return x:std() end,
  norm2 = function(x) return x:norm() end,
  argmin_dim = function(x) return x:argmin(1) - 1 end,
  cumprod = function(x) return x:cumprod(-1) end,
  min_dim = function(x) local _, i = x:min(1) return i - 1 end,
  tile = function(x) return x:tile(2, 1) end,
  tile3 = function(x) return x:tile(2, 1, 2) end,
  squeeze_dim = function(x) return x:squeeze(2) end,
  scatter_add = function(x, i, v) return x:scatter_add(1, i, v) end,
  scatter = function(x, i, v) return x:scatter(1, i, v) end,
  index_select_b = function(x, i) return x:index_select(1, i) end,
  nll_loss = function(x, t) return F.nll_loss(F.log_softmax(x, -1), t) end,
  ce_probs = function(x, t) return F.cross_entropy(x, t) end,
  ce_none = function(x, t) return F.cross_entropy(x, t, {reduction = "none"}) end,
  layer_norm = function(x, w, b) return F.layer_norm(x, {3}, w, b) end,
  layer_norm_w = function(x, w, b) return F.layer_norm(x, {3}, w, b) end,
  group_norm = function(x, w, b) return F.group_norm(x, 2, w, b) end,
  avg_pool2d = function(x) return F.avg_pool2d(x, 2) end,
  adaptive_avg_pool2d = function(x) return F.adaptive_avg_pool2d(x, {1, 2}) end,
  conv_transpose2d = function(x, w) return F.conv_transpose2d(x, w) end,
  batch_norm = function(x) return F.batch_norm(x, nil, nil, nil, nil, true) end,
  batch_norm_eval = function(x, m, v) return F.batch_norm(x, m, v) end,
  layer_norm_b = function(x, b) return F.layer_norm(x, {3}, nil, b) end,
  inplace_mul = function(x, y) return x:clone():mul_(y) end,
  psg = func.grad(loss),
  psg_x = func.grad(loss, {argnums = 2}),
}

-- Fixture inputs as tensors; int64 ones hold 0-based indices.
local function inputs(case)
  local args = {}
  for i, a in ipairs(case.args) do
    local t = H.tensor(a)
    if t.dtype == "int64" then t = t + 1 end
    args[i] = t
  end
  return args
end

local function describe_dims(d)
  if type(d) ~= "table" then return tostring(d) end
  local parts = {}
  for i, x in ipairs(d) do parts[i] = describe_dims(x) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

describe("func.vmap against functorch", function()
  for n, case in ipairs(cases) do
    local label = ("%d %s, in_dims %s, out_dims %s%s"):format(n, case.key,
      describe_dims(case.in_dims), describe_dims(case.out_dims),
      case.nested and (", nested in_dims " .. describe_dims(case.nested)) or "")
    it(label, function()
      local fn = assert(FNS[case.key], case.key)
      if case.nested then fn = func.vmap(fn, {in_dims = case.nested}) end
      local outs = table.pack(func.vmap(fn, {in_dims = case.in_dims,
                                             out_dims = case.out_dims})(table.unpack(inputs(case))))
      assert.are.equal(#case.outs, outs.n)
      for k, want in ipairs(case.outs) do
        H.assert_close(outs[k], want, 1e-10, 1e-12, ("output %d"):format(k))
      end
    end)
  end
end)
