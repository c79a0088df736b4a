-- vmap_function_spec.lua: autograd.Function's own batching rule under
-- func.vmap (torch.func's Function.vmap): what the rule is given (info,
-- in_dims, the unwrapped arguments), its results against the per-example
-- loop in vmap, nested vmap, vmap(grad), grad(vmap), vmap(jacrev) and
-- vmap(hessian), that it replaces the loop (one forward and one backward
-- per batch, no warning), and the errors of a rule that returns wrong
-- out_dims.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func, agree, raises = lg.func, H.agree, H.raises

local function randn(...) return lg.randn({...}, {dtype = "float64"}) end

-- x with its batch dim (in_dims entry d) in front; an unbatched x expanded
-- to b examples.
local function to_front(x, d, b)
  if d == false then
    local shape = {b}
    for i, s in ipairs(x.shape) do shape[i + 1] = s end
    return x:unsqueeze(1):expand(shape)
  end
  local perm = {d}
  for i = 1, x:dim() do if i ~= d then perm[#perm + 1] = i end end
  return x:permute(perm)
end

-- Calls of each part of the Functions below.
local calls

-- x^3 with its backward, and a rule that runs it once on the whole batch.
local Cube
Cube = lg.autograd.Function{
  name = "Cube",
  forward = function(ctx, x)
    calls.forward = calls.forward + 1
    ctx:save_for_backward(x)
    return x * x * x
  end,
  backward = function(ctx, g)
    calls.backward = calls.backward + 1
    local x = ctx.saved_tensors[1]
    return g * 3 * x * x
  end,
  vmap = function(info, in_dims, x)
    calls.rule = calls.rule + 1
    calls.info, calls.in_dims, calls.shape = info, in_dims, x.shape
    return Cube(x), in_dims[1]
  end,
}

-- The same Function without a rule: the per-example loop.
local CubeLoop = lg.autograd.Function{
  name = "CubeLoop",
  forward = function(ctx, x) ctx:save_for_backward(x) return x * x * x end,
  backward = function(ctx, g) local x = ctx.saved_tensors[1] return g * 3 * x * x end,
}

-- x * w + c and the sum of x's last dim (two outputs, a number
-- argument); its rule puts both batch dims in front.
local MulAdd
MulAdd = lg.autograd.Function{
  name = "MulAdd",
  forward = function(ctx, x, w, c)
    calls.forward = calls.forward + 1
    ctx:save_for_backward(x, w)
    return x * w + c, x:sum(-1)
  end,
  backward = function(ctx, g, gs)
    calls.backward = calls.backward + 1
    local x, w = ctx.saved_tensors[1], ctx.saved_tensors[2]
    local gx = g * w + gs:unsqueeze(-1)
    local gw = g * x
    -- w broadcast against x: sum its gradient back to w's shape
    while gw:dim() > w:dim() do gw = gw:sum(1) end
    return gx, gw, nil
  end,
  vmap = function(info, in_dims, x, w, c)
    calls.rule = calls.rule + 1
    calls.in_dims = in_dims
    local b = info.batch_size
    local y, s = MulAdd(to_front(x, in_dims[1], b), to_front(w, in_dims[2], b), c)
    return y, s, 1
  end,
}

describe("autograd.Function with a vmap rule", function()
  lg.manual_seed(11)
  before_each(function() calls = {forward = 0, backward = 0, rule = 0} end)

  it("gives the rule info, in_dims and the unwrapped arguments", function()
    local xs = randn(3, 5, 2)
    local out = func.vmap(function(v) return Cube(v) end, {in_dims = 2, out_dims = 2})(xs)
    agree(out, xs:pow(3))
    assert.are.same({batch_size = 5, randomness = "error"}, calls.info)
    assert.are.same({2}, calls.in_dims)
    assert.are.same({3, 5, 2}, calls.shape)
    func.vmap(function(v) return Cube(v) end, {randomness = "same", chunk_size = 2})(xs)
    assert.are.same({batch_size = 1, randomness = "same"}, calls.info) -- the last chunk
    func.vmap(function(v, w) return MulAdd(v, w, 1) end, {in_dims = {1, false}})(xs, randn(5, 2))
    assert.are.same({1, false, false}, calls.in_dims)
  end)

  it("agrees with the per-example loop, running forward once and not warning", function()
    local warned = {}
    local saved = lg._warn
    lg._warn = function(text) warned[#warned + 1] = text end
    local ok, err = pcall(function()
      local xs = randn(6, 3)
      local f = function(v) return Cube(v):sum() * 2 end
      agree(func.vmap(f)(xs), func.vmap(function(v) return CubeLoop(v):sum() * 2 end)(xs))
      assert.are.equal(1, calls.forward)
      assert.are.equal(1, calls.rule)
      local out = func.vmap(f)(xs)
      for i = 1, 6 do
        assert.is_true(math.abs(out[i] - f(xs[i]):item()) < 1e-12, "example " .. i)
      end
    end)
    lg._warn = saved
    assert(ok, err)
    assert.are.equal(1, #warned) -- CubeLoop's, not Cube's
    assert.is_truthy(warned[1]:find("CubeLoop", 1, true))
  end)

  it("batches several outputs, unbatched and number arguments", function()
    local xs, w = randn(4, 3), randn(3)
    local y, s = func.vmap(function(v, ww) return MulAdd(v, ww, 0.5) end,
      {in_dims = {1, false}})(xs, w)
    for i = 1, 4 do agree(y[i], xs[i] * w + 0.5, 1e-12, "y " .. i) end
    agree(s, xs:sum(2))
    -- a batched weight, the batch dim of x last
    local ws = randn(4, 3)
    local y2 = func.vmap(function(v, ww) return (MulAdd(v, ww, 0)) end,
      {in_dims = {-1, 1}})(xs:t(), ws)
    agree(y2, xs * ws)
  end)

  it("works in nested vmap", function()
    local xs = randn(3, 4, 2)
    local f = function(v) return Cube(v) * 2 end
    local out = func.vmap(func.vmap(f))(xs)
    agree(out, func.vmap(func.vmap(function(v) return CubeLoop(v) * 2 end))(xs))
    agree(out, xs:pow(3) * 2)
    assert.are.equal(2, calls.rule) -- inner level, then outer
    assert.are.equal(1, calls.forward)
    -- the inner level batched on dim 2 of the example, the outer unbatched
    local w = randn(4)
    local y = func.vmap(func.vmap(function(v, ww) return (MulAdd(v, ww, 0)) end,
      {in_dims = {2, false}}), {in_dims = {1, false}})(xs, w)
    assert.are.same({3, 2, 4}, H.shape(y))
    for i = 1, 3 do agree(y[i], (xs[i] * w:unsqueeze(2)):t(), 1e-12, "example " .. i) end
  end)

  it("differentiates through the Function's backward under vmap(grad) and grad(vmap)", function()
    local xs = randn(5, 3)
    local g = func.vmap(func.grad(function(v) return Cube(v):sum() end))(xs)
    agree(g, xs:pow(2) * 3, 1e-12)
    assert.are.equal(1, calls.forward)
    assert.are.equal(1, calls.backward) -- once over the whole batch
    -- per-sample gradients with respect to a shared weight
    local w = randn(3)
    local loss = function(ww, v) local y = MulAdd(v, ww, 1) return (y * y):sum() end
    local loop_loss = function(ww, v) local y = v * ww + 1 return (y * y):sum() end
    local gw = func.vmap(func.grad(loss), {in_dims = {false, 1}})(w, xs)
    for i = 1, 5 do agree(gw[i], func.grad(loop_loss)(w, xs[i]), 1e-12, "grad " .. i) end
    local gx = func.vmap(func.grad(loss, {argnums = 2}), {in_dims = {false, 1}})(w, xs)
    for i = 1, 5 do
      agree(gx[i], func.grad(loop_loss, {argnums = 2})(w, xs[i]), 1e-12, "x grad " .. i)
    end
    -- grad of a vmapped function, and vmap(vmap(grad))
    local gv = func.grad(function(v) return func.vmap(Cube)(v):sum() end)(xs)
    agree(gv, xs:pow(2) * 3, 1e-12)
    local x3 = randn(2, 3, 4)
    agree(func.vmap(func.vmap(func.grad(function(v) return Cube(v):sum() end)))(x3),
      x3:pow(2) * 3, 1e-12)
    -- per-example Jacobians and Hessians (diagonal: x^3 is elementwise)
    local eye = lg.eye(3, {dtype = "float64"})
    local J = func.vmap(func.jacrev(Cube))(xs)
    local Hs = func.vmap(func.hessian(function(v) return Cube(v):sum() end))(xs)
    for i = 1, 5 do
      agree(J[i], eye * (xs[i]:pow(2) * 3), 1e-12, "jacobian " .. i)
      agree(Hs[i], eye * (xs[i] * 6), 1e-12, "hessian " .. i)
    end
  end)

  it("differentiates the rule's own ops when it does not call the Function", function()
    local Sq = lg.autograd.Function{
      name = "Sq",
      forward = function(ctx, x) ctx:save_for_backward(x) return x * x end,
      backward = function(ctx, g) return g * 2 * ctx.saved_tensors[1] end,
      vmap = function(_, in_dims, x) return x:pow(2), in_dims[1] end,
    }
    local xs = randn(4, 3)
    agree(func.vmap(func.grad(function(v) return Sq(v):sum() end))(xs), xs * 2, 1e-12)
  end)

  it("refuses a rule whose out_dims are wrong, naming the Function", function()
    local function rule_returning(...)
      local extra = table.pack(...)
      return lg.autograd.Function{
        name = "Bad",
        forward = function(_, x) return x * 2 end,
        backward = function(_, g) return g * 2 end,
        vmap = function(_, _, x) return x * 2, table.unpack(extra, 1, extra.n) end,
      }
    end
    local xs = randn(5, 3)
    local function run(fn) return func.vmap(function(v) return fn(v) end)(xs) end
    raises("vmap: autograd.Function Bad: its vmap rule's output 1 has size 3 at its "
      .. "out dim 2, but the batch size is 5", run, rule_returning(2))
    raises("out_dims 3 for output 1 is out of range for a 2-d tensor", run, rule_returning(3))
    raises("must return the outputs and then out_dims", run, rule_returning())
    raises("returned 1 output(s) but out_dims has 2 entries", run, rule_returning({1, 1}))
    raises("out_dims for output 1 must be an integer or false, got", run, rule_returning("1"))
    raises("out_dims for output 2 is 1, but that output is number 7, not a tensor", run,
      rule_returning(7, {1, 1}))
    raises("Function: vmap must be a function(info, in_dims, ...), got number", function()
      lg.autograd.Function{forward = function() end, backward = function() end, vmap = 1}
    end)
  end)
end)
