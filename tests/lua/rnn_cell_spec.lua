-- rnn_cell_spec.lua: the fused recurrent cells lg._lstm_cell / lg._gru_cell
-- against the same step written with elementwise ops, their gradients
-- (gradcheck, gradgradcheck, fused plain backward = recorded backward) and
-- lg.unbind, whose one node gives a sequence's steps one gradient.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local G = dofile(H.root .. "/tests/lua/grad_helpers.lua")
local lg = H.lg
local A = lg.autograd

-- The reference steps, PyTorch's formulas in plain ops.
local function lstm_ref(xg, hg, c)
  local g = (xg + hg):chunk(4, 2)
  local i, f, gg, o = g[1]:sigmoid(), g[2]:sigmoid(), g[3]:tanh(), g[4]:sigmoid()
  local cn = f * c + i * gg
  return o * cn:tanh(), cn
end
local function gru_ref(xg, hg, h)
  local x, y = xg:chunk(3, 2), hg:chunk(3, 2)
  local r, z = (x[1] + y[1]):sigmoid(), (x[2] + y[2]):sigmoid()
  local n = (x[3] + r * y[3]):tanh()
  return (1 - z) * n + z * h
end

local function max_diff(a, b) return (a - b):abs():max():item() end

describe("fused recurrent cells", function()
  for _, case in ipairs({{"lstm", 4, lstm_ref}, {"gru", 3, gru_ref}}) do
    local name, gates, ref = case[1], case[2], case[3]
    local cell = lg["_" .. name .. "_cell"]

    it(name .. "_cell matches the step written in elementwise ops", function()
      for _, dtype in ipairs({"float32", "float64"}) do
        lg.manual_seed(3)
        local xg = lg.randn({5, gates * 7}, {dtype = dtype}) * 3
        local hg = lg.randn({5, gates * 7}, {dtype = dtype}) * 3
        local s = lg.randn({5, 7}, {dtype = dtype})
        local got, want = table.pack(cell(xg, hg, s)), table.pack(ref(xg, hg, s))
        assert.are.equal(want.n, got.n)
        for k = 1, want.n do
          assert.are.equal(dtype, got[k].dtype)
          assert.is_true(max_diff(got[k], want[k]) < (dtype == "float32" and 1e-5 or 1e-13))
        end
      end
    end)

    it(name .. "_cell passes gradcheck and gradgradcheck", function()
      local xs = G.leaves({{3, gates * 2}, {3, gates * 2}, {3, 2}})
      assert.is_true(A.gradcheck(cell, xs))
      assert.is_true(A.gradgradcheck(cell, xs))
    end)

    it(name .. "_cell's fused backward equals the recorded one and the reference", function()
      local xs = G.leaves({{4, gates * 5}, {4, gates * 5}, {4, 5}})
      lg.manual_seed(5)
      local outs = table.pack(cell(table.unpack(xs)))
      local seeds = {}
      for k = 1, outs.n do seeds[k] = lg.randn(outs[k].shape, {dtype = "float64"}) end
      local plain = A.grad({table.unpack(outs, 1, outs.n)}, xs, {grad_outputs = seeds})
      outs = table.pack(cell(table.unpack(xs)))
      local recorded = A.grad({table.unpack(outs, 1, outs.n)}, xs,
                              {grad_outputs = seeds, create_graph = true})
      local r = table.pack(ref(table.unpack(xs)))
      local want = A.grad({table.unpack(r, 1, r.n)}, xs, {grad_outputs = seeds})
      for i = 1, 3 do
        assert.is_true(max_diff(plain[i], want[i]) < 1e-12, "input " .. i)
        assert.is_true(max_diff(recorded[i], want[i]) < 1e-12, "input " .. i)
        assert.is_true(recorded[i].requires_grad)
      end
    end)

    it(name .. "_cell errors name the op and the shapes", function()
      local ok = lg.zeros(2, gates * 3)
      H.assert_error_names(name .. "_cell", cell, ok, ok, lg.zeros(2, 4))
      H.assert_error_names(name .. "_cell", cell, ok, lg.zeros(3, gates * 3), lg.zeros(2, 3))
      H.assert_error_names(name .. "_cell", cell, ok, ok, lg.zeros({2, 3}, {dtype = "float64"}))
      H.assert_error_names(name .. "_cell", cell, ok, ok)
    end)
  end
end)

describe("unbind", function()
  it("returns the slices along a dim as views", function()
    local x = lg.arange(1, 25):reshape(2, 3, 4)
    local rows = x:unbind(2)
    assert.are.equal(3, #rows)
    for k = 1, 3 do assert.are.equal(0, max_diff(rows[k], x:select(2, k))) end
    assert.are.equal(2, #lg.unbind(x))
    assert.are.equal(4, #x:unbind(-1))
    rows[1]:fill_(0)
    assert.are.equal(0, x[1][1]:sum():item())
  end)

  it("has one node whose backward stacks the gradients, zeros for unused slices", function()
    local x = lg.randn(5, 2, 3):requires_grad_()
    local steps = x:unbind(1)
    assert.are.equal("UnbindBackward0", steps[1].grad_fn:name())
    assert.are.equal("UnbindBackward0", steps[5].grad_fn:name())
    ;(steps[2] * 2 + steps[4] * 3):sum():backward()
    local want = lg.zeros(5, 2, 3)
    want[2]:fill_(2)
    want[4]:fill_(3)
    assert.are.equal(0, max_diff(x.grad, want))
  end)

  it("refuses in-place changes to the slices of a tensor in the graph", function()
    local x = lg.randn(3, 2):requires_grad_()
    local rows = (x * 1):unbind(1)
    H.assert_error_names("view", function() rows[1]:mul_(2) end)
    local plain = lg.randn(3, 2):unbind(1)
    plain[1]:mul_(2) -- outside the graph, a view like any other
  end)

  it("passes gradcheck and gradgradcheck", function()
    local function f(x)
      local s = x:unbind(2)
      return s[1] * s[3] + s[2]:square()
    end
    local xs = G.leaves({{2, 3, 2}})
    assert.is_true(A.gradcheck(f, xs))
    assert.is_true(A.gradgradcheck(f, xs))
  end)

  it("rejects 0-d tensors and bad dims, naming unbind", function()
    H.assert_error_names("unbind", function() lg.tensor(1):unbind() end)
    H.assert_error_names("unbind", function() lg.zeros(2, 2):unbind(3) end)
  end)
end)
