-- autograd_limits_spec.lua: the engine has no fixed limits (issue 12):
-- ops with thousands of inputs, long chains and recurrent layers over
-- 1 000 steps run forward and backward with correct gradients.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd

local function max_diff(a, b) return (a - b):abs():max():item() end

describe("autograd without fixed limits", function()
  it("stack of 49 and of 10 000 tensors backpropagates to each", function()
    for _, n in ipairs({49, 10000}) do
      local xs = {}
      for i = 1, n do xs[i] = lg.full({3}, i, {dtype = "float32"}):requires_grad_() end
      local w = lg.arange(1, 3 * n + 1, {dtype = "float32"}):reshape(n, 3)
      ;(lg.stack(xs) * w):sum():backward()
      local bad = 0
      for i = 1, n do
        if max_diff(xs[i].grad, w[i]) ~= 0 then bad = bad + 1 end
      end
      assert.are.equal(0, bad, n .. " inputs")
    end
  end)

  it("cat of 10 000 tensors gives each its own stretch of the gradient", function()
    local n, xs = 10000, {}
    for i = 1, n do xs[i] = lg.full({2}, i / n):requires_grad_() end
    local y = lg.cat(xs)
    assert.are.same({2 * n}, H.shape(y))
    y:square():sum():backward() -- d/dx x^2 = 2x
    local bad = 0
    for i = 1, n do
      if max_diff(xs[i].grad, xs[i]:detach() * 2) > 1e-6 then bad = bad + 1 end
    end
    assert.are.equal(0, bad)
  end)

  it("a chain of 50 000 ops runs backward and is freed", function()
    local x = lg.tensor(1.0, {dtype = "float64"}):requires_grad_()
    local y = x
    for _ = 1, 50000 do y = y * 1.00001 end
    y:backward()
    assert.is_true(math.abs(x.grad:item() - 1.00001 ^ 50000) < 1e-9)
    y = nil
    collectgarbage()
  end)

  it("a backward rule with more temporaries than any fixed scope (cat of 3 000 under create_graph)", function()
    local xs = {}
    for i = 1, 3000 do xs[i] = lg.full({1}, i, {dtype = "float64"}):requires_grad_() end
    local y = lg.cat(xs):square():sum()
    local g = A.grad(y, xs, {create_graph = true})
    local gg = A.grad(lg.stack(g):sum(), xs)
    assert.are.equal(2 * 3000, g[3000]:item())
    assert.are.equal(2, gg[1]:item())
  end)

  -- nn.LSTM over 1 000 steps against the same recurrence written in plain
  -- ops, and one weight's gradient against a central difference.
  it("nn.LSTM over 1 000 steps: outputs and gradients", function()
    lg.manual_seed(7)
    local steps, batch, input, hidden = 1000, 2, 3, 4
    local lstm = lg.nn.LSTM(input, hidden, {dtype = "float64"})
    local x = (lg.randn({steps, batch, input}, {dtype = "float64"}) * 0.5):requires_grad_()
    local out, hc = lstm(x)
    assert.are.same({steps, batch, hidden}, H.shape(out))
    local seed = lg.randn({steps, batch, hidden}, {dtype = "float64"})
    local loss = (out * seed):sum() + hc[2]:sum()
    loss:backward()

    -- the reference loop: plain ops, the same parameters
    local w_ih, w_hh = lstm.weight_ih_l0:detach():requires_grad_(), lstm.weight_hh_l0:detach():requires_grad_()
    local b = (lstm.bias_ih_l0 + lstm.bias_hh_l0):detach()
    local xr = x:detach():requires_grad_()
    local h, c = lg.zeros({batch, hidden}, {dtype = "float64"}), lg.zeros({batch, hidden}, {dtype = "float64"})
    local outs = {}
    for t = 1, steps do
      local g = (lg.matmul(xr[t], w_ih:t()) + lg.matmul(h, w_hh:t()) + b):chunk(4, 2)
      c = g[2]:sigmoid() * c + g[1]:sigmoid() * g[3]:tanh()
      h = g[4]:sigmoid() * c:tanh()
      outs[t] = h
    end
    local ref_out = lg.stack(outs)
    assert.is_true(max_diff(out, ref_out) < 1e-12)
    ;((ref_out * seed):sum() + c:sum()):backward()
    assert.is_true(max_diff(x.grad, xr.grad) < 1e-10)
    assert.is_true(max_diff(lstm.weight_ih_l0.grad, w_ih.grad) < 1e-9)
    assert.is_true(max_diff(lstm.weight_hh_l0.grad, w_hh.grad) < 1e-9)

    -- central difference on one recurrent weight
    local function loss_at(delta)
      local w = lstm.weight_hh_l0
      lg.no_grad(function() w[2][3] = w[2][3] + delta end)
      local o, s = lstm(x:detach())
      local v = ((o * seed):sum() + s[2]:sum()):item()
      lg.no_grad(function() w[2][3] = w[2][3] - delta end)
      return v
    end
    local eps = 1e-6
    local numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    local analytic = lstm.weight_hh_l0.grad[2][3]
    assert.is_true(math.abs(numeric - analytic) < 1e-5 * math.max(1, math.abs(analytic)),
                   ("numeric %g vs analytic %g"):format(numeric, analytic))
  end)

  it("recurrent layers give the same results when the input projection goes in blocks", function()
    local rnn = require "luagrad.nn.layers.rnn"
    for _, mode in ipairs({"LSTM", "GRU", "RNN"}) do
      lg.manual_seed(9)
      local m = lg.nn[mode](3, 4, {dtype = "float64", bidirectional = true})
      local x = lg.randn({7, 2, 3}, {dtype = "float64"}):requires_grad_()
      local function run()
        local out = m(x)
        local g = A.grad((out * out):sum(), {x, m.weight_ih_l0, m.bias_ih_l0_reverse})
        return out, g
      end
      local out, g = run()
      local saved = rnn.block_elements
      rnn.block_elements = 2 * 2 * m.weight_ih_l0:size(1) -- blocks of 2 steps
      local ok, out_b, g_b = pcall(run)
      rnn.block_elements = saved
      assert.is_true(ok, tostring(out_b))
      assert.is_true(max_diff(out, out_b) < 1e-14, mode)
      for i = 1, 3 do assert.is_true(max_diff(g[i], g_b[i]) < 1e-13, mode .. " grad " .. i) end
    end
  end)

  it("nn.GRU and nn.RNN train over 1 000 steps", function()
    for _, mode in ipairs({"GRU", "RNN"}) do
      lg.manual_seed(8)
      local m = lg.nn[mode](2, 3)
      local x = lg.randn(1000, 2, 2):requires_grad_()
      local out = m(x)
      out:sum():backward()
      assert.is_true(m.weight_hh_l0.grad:abs():sum():item() > 0, mode)
      assert.are.equal(x.grad:abs():sum():item(), x.grad:abs():sum():item(), mode .. " NaN")
      assert.are.same({1000, 2, 2}, H.shape(x.grad))
    end
  end)
end)
