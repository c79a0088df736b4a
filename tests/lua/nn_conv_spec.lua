-- nn_conv_spec.lua: the raw convolution and pooling entry points (lg._conv2d,
-- lg._conv_transpose2d, lg._max_pool2d, lg._avg_pool2d,
-- lg._adaptive_avg_pool2d): forward values, max_pool2d indices and
-- input/weight/bias gradients against PyTorch 1.13 (tests/fixtures/nn_conv.lua),
-- gradcheck and gradgradcheck on small float64 cases, and argument errors.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

local fixtures = dofile(H.root .. "/tests/fixtures/nn_conv.lua")

-- Calls lg._<fn> with the case's tensors and args (conv: x, w, b or nil).
local function call(case, t)
  local f = lg["_" .. case.fn]
  if case.fn == "conv2d" or case.fn == "conv_transpose2d" then
    return f(t.x, t.w, t.b, table.unpack(case.args))
  end
  return f(t.x, table.unpack(case.args))
end

describe("conv and pool kernels against PyTorch", function()
  for _, case in ipairs(fixtures.cases) do
    it(case.name, function()
      local t = {}
      for k, e in pairs(case.tensors) do
        t[k] = H.tensor(e)
        t[k].requires_grad = true
      end
      local out, indices = call(case, t)
      local e = case.expected
      H.assert_close(out, e.out, case.rtol, case.atol, case.name .. " output")
      if e.indices then
        H.assert_close(indices, e.indices, 0, 0, case.name .. " indices")
      end
      local loss = (out * H.tensor(case.upstream)):sum()
      loss:backward()
      for _, k in ipairs({"x", "w", "b"}) do
        if e[k] then
          H.assert_close(t[k].grad, e[k], case.rtol, case.atol, case.name .. " grad " .. k)
        end
      end
    end)
  end
end)

local function leaf(...)
  local t = lg.randn({...}, {dtype = "float64"})
  t.requires_grad = true
  return t
end

describe("conv and pool gradients (float64 gradcheck, gradgradcheck)", function()
  lg.manual_seed(11)
  local checks = {
    {"conv2d stride, padding, dilation, bias", function(x, w, b)
      return lg._conv2d(x, w, b, 2, 1, 1, 0, 1, 2, 1) end,
      function() return {leaf(1, 2, 5, 4), leaf(2, 2, 2, 2), leaf(2)} end},
    {"conv2d groups", function(x, w)
      return lg._conv2d(x, w, nil, 1, 1, 1, 1, 1, 1, 2) end,
      function() return {leaf(1, 4, 3, 3), leaf(2, 2, 2, 2)} end},
    {"conv_transpose2d output_padding, groups, bias", function(x, w, b)
      return lg._conv_transpose2d(x, w, b, 2, 2, 1, 0, 1, 1, 1, 1, 2) end,
      function() return {leaf(1, 2, 2, 3), leaf(2, 1, 3, 2), leaf(2)} end},
    {"conv_transpose2d dilation", function(x, w)
      return lg._conv_transpose2d(x, w, nil, 1, 2, 0, 1, 0, 1, 2, 1, 1) end,
      function() return {leaf(1, 1, 3, 3), leaf(1, 2, 2, 2)} end},
    {"max_pool2d padding, ceil_mode", function(x)
      return (lg._max_pool2d(x, 3, 2, 2, 2, 1, 1, 1, 1, true)) end,
      function() return {leaf(1, 2, 5, 4)} end},
    {"avg_pool2d ceil_mode, count_include_pad = false", function(x)
      return lg._avg_pool2d(x, 3, 2, 2, 1, 1, 1, true, false) end,
      function() return {leaf(1, 2, 5, 4)} end},
    {"avg_pool2d count_include_pad = true", function(x)
      return lg._avg_pool2d(x, 2, 3, 1, 2, 1, 1, false, true) end,
      function() return {leaf(2, 4, 5)} end},
    {"adaptive_avg_pool2d", function(x)
      return lg._adaptive_avg_pool2d(x, 3, 2) end,
      function() return {leaf(1, 2, 5, 3)} end},
  }
  for _, c in ipairs(checks) do
    local name, fn, make = c[1], c[2], c[3]
    it(name .. ": gradcheck", function()
      assert.is_true(lg.autograd.gradcheck(fn, make()))
    end)
    it(name .. ": gradgradcheck", function()
      assert.is_true(lg.autograd.gradgradcheck(fn, make()))
    end)
  end

  it("conv2d's double backward matches a hand-worked value", function()
    -- y = sum(conv2d(x, w)) with a 1x1 kernel is w * sum(x); dy/dx = w
    -- everywhere, and d/dw of sum(dy/dx) is the number of x elements
    local x = leaf(1, 1, 2, 3)
    local w = lg.tensor({{{{2.5}}}}, {dtype = "float64"})
    w.requires_grad = true
    local y = lg._conv2d(x, w, nil, 1, 1, 0, 0, 1, 1, 1):sum()
    local gx = lg.autograd.grad(y, x, {create_graph = true})[1]
    H.assert_tensor(gx, {1, 1, 2, 3}, "float64", {2.5, 2.5, 2.5, 2.5, 2.5, 2.5})
    local gw = lg.autograd.grad(gx:sum(), w)[1]
    H.assert_tensor(gw, {1, 1, 1, 1}, "float64", {6})
  end)
end)

describe("conv and pool argument errors", function()
  local x = lg.randn(1, 4, 5, 5)
  it("conv2d names the channel mismatch", function()
    H.assert_error_names("conv2d", lg._conv2d, x, lg.randn(2, 3, 3, 3), nil, 1, 1, 0, 0, 1, 1, 1)
    H.assert_error_names("4 channels", lg._conv2d, x, lg.randn(2, 3, 3, 3), nil, 1, 1, 0, 0, 1, 1, 1)
  end)
  it("conv2d rejects a kernel larger than the padded input", function()
    H.assert_error_names("smaller than the dilated kernel", lg._conv2d, x, lg.randn(2, 4, 7, 7),
      nil, 1, 1, 0, 0, 1, 1, 1)
  end)
  it("conv2d checks the bias shape and the groups", function()
    H.assert_error_names("bias", lg._conv2d, x, lg.randn(2, 4, 3, 3), lg.randn(3),
      1, 1, 0, 0, 1, 1, 1)
    H.assert_error_names("groups", lg._conv2d, x, lg.randn(2, 4, 3, 3), nil,
      1, 1, 0, 0, 1, 1, 0)
    H.assert_error_names("stride_w", lg._conv2d, x, lg.randn(2, 4, 3, 3), nil, 1, "two")
  end)
  it("conv_transpose2d checks output_padding", function()
    H.assert_error_names("output_padding", lg._conv_transpose2d, x, lg.randn(4, 2, 3, 3), nil,
      1, 1, 0, 0, 1, 1, 1, 1, 1)
  end)
  it("the pools name their problem", function()
    H.assert_error_names("padding", lg._max_pool2d, x, 2, 2, 2, 2, 2, 2, 1, 1, false)
    H.assert_error_names("ceil_mode", lg._max_pool2d, x, 2, 2, 2, 2, 0, 0, 1, 1, 1)
    H.assert_error_names("too small", lg._avg_pool2d, x, 7, 7, 1, 1, 0, 0, false, true)
    H.assert_error_names("4-D", lg._avg_pool2d, lg.randn(5, 5), 2, 2, 2, 2, 0, 0, false, true)
    H.assert_error_names("output size", lg._adaptive_avg_pool2d, x, 0, 2)
  end)
end)
