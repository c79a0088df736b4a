-- vmap_spec.lua: func.vmap's contract (API.md) beyond the functorch
-- fixtures: what f sees (one example), in_dims/out_dims forms and pytrees,
-- chunk_size, randomness modes, the error messages, composition with grad,
-- jacrev, functional_call and stack_module_state (per-sample gradients and
-- ensembles against loops), the per-example loop fallback, and memory over
-- many calls.
local lg = require "luagrad"
local F, func, nn = lg.nn.functional, lg.func, lg.nn
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

local F64 = {dtype = "float64"}

local function randn(...) return lg.randn({...}, F64) end

local agree, raises = H.agree, H.raises

describe("func.vmap", function()
  lg.manual_seed(5)

  describe("inside f a batched tensor is one example", function()
    it("has the example's shape, size, dim and length", function()
      local seen = {}
      func.vmap(function(x)
        seen.shape, seen.size, seen.dim, seen.len = x.shape, x:size(1), x:dim(), #x
        seen.numel = x:numel()
        return x
      end, {in_dims = 2})(randn(3, 5, 4))
      assert.are.same({3, 4}, {seen.shape[1], seen.shape[2]})
      assert.are.equal(3, seen.size)
      assert.are.equal(2, seen.dim)
      assert.are.equal(3, seen.len)
      assert.are.equal(12, seen.numel)
    end)

    it("indexes per example and gives a tensor for t[i] of a vector", function()
      local x = randn(4, 3)
      local out = func.vmap(function(v)
        local e = v[2]
        assert.is_true(lg.is_tensor(e))
        return e
      end)(x)
      agree(out, x:select(2, 2))
    end)

    it("refuses item, tolist and reading values (data-dependent flow)", function()
      local f = func.vmap(function(v) if v:sum():item() > 0 then return v end return -v end)
      raises("item: the tensor is batched (inside vmap)", f, randn(3, 2))
      raises("lg.where", f, randn(3, 2))
      raises("tolist: the tensor is batched", func.vmap(function(v) return v:tolist() end), randn(3, 2))
    end)

    it("refuses a batched masked_fill value, pointing to lg.where", function()
      raises("masked_fill: the value is a batched tensor",
        func.vmap(function(v, s) return v:masked_fill(v:gt(0), s) end), randn(3, 2), randn(3))
    end)

    it("refuses Lua comparisons, pointing to lg.where", function()
      raises("compare: a batched tensor (inside vmap) can't be compared",
        func.vmap(function(v) if v:sum() > 0 then return v end return -v end), randn(3, 2))
      raises("compare: tensors can't be compared with <", function() return lg.ones(1) < lg.ones(1) end)
    end)

    it("refuses a batched tensor used after its vmap returned", function()
      local kept
      func.vmap(function(v) kept = v return v end)(randn(3, 2))
      raises("a batched tensor escaped the vmap that made it", function() return kept + 1 end)
    end)

    it("prints as a batched tensor", function()
      local text
      func.vmap(function(v) text = tostring(v) return v end)(lg.tensor({{1, 2}, {3, 4}}))
      assert.is_truthy(text:find("BatchedTensor(level=", 1, true))
    end)
  end)

  describe("in_dims and out_dims", function()
    it("broadcast an unbatched argument against every example", function()
      local x, y = randn(5, 3), randn(3)
      agree(func.vmap(function(a, b) return a * b end, {in_dims = {1, false}})(x, y), x * y)
    end)

    it("take negative dims, out_dims per result and false outputs", function()
      local x = randn(3, 4)
      local a, b = func.vmap(function(v) return v * 2, v:sum() end,
        {in_dims = -1, out_dims = {-1, 1}})(x)
      agree(a, x * 2)
      agree(b, x:sum(1))
      local c = func.vmap(function(v) return lg.ones(2) end, {out_dims = false})
      raises("no argument is batched", func.vmap(function(v) return v end, {in_dims = false}), x)
      agree(c(x), lg.ones(2))
    end)

    it("follow pytrees in and out", function()
      local p = {w = randn(4, 3), b = {randn(4)}}
      local x = randn(3)
      local out = func.vmap(function(q, v)
        return {y = q.w:matmul(v) + q.b[1], n = {q.w:sum()}}
      end, {in_dims = {{w = 1, b = {1}}, false}})(p, x)
      agree(out.y, p.w:matmul(x) + p.b[1])
      agree(out.n[1], p.w:sum(2))
      local same = func.vmap(function(q) return q.w end)(p)
      agree(same, p.w)
    end)

    it("pass numbers and other values through", function()
      local x = randn(4)
      agree(func.vmap(function(v, k, name)
        assert.are.equal("scale", name)
        return v * k
      end, {in_dims = {1, false, false}})(x, 3, "scale"), x * 3)
    end)

    it("runs chunk_size examples at a time with the same result", function()
      local x, w = randn(10, 3), randn(3, 2)
      local f = function(v) return v:matmul(w):tanh(), v:sum() end
      local a1, b1 = func.vmap(f)(x)
      local a2, b2 = func.vmap(f, {chunk_size = 3})(x)
      agree(a2, a1)
      agree(b2, b1)
    end)
  end)

  describe("errors", function()
    it("name batch sizes that disagree", function()
      raises("argument 1 has size 3 at its batch dim 1, but argument 2 has 4 at dim 1",
        func.vmap(function(a, b) return a + b end), randn(3, 2), randn(4, 2))
    end)

    it("name in_dims out of range or shaped unlike the arguments", function()
      raises("in_dims 3 is out of range for argument 1, a 2-d tensor",
        func.vmap(function(a) return a end, {in_dims = 3}), randn(3, 2))
      raises("in_dims has 1 entries but the function was called with 2 argument(s)",
        func.vmap(function(a, b) return a end, {in_dims = {1}}), randn(3), randn(3))
      raises("in_dims for argument 1 is a table, but the value is",
        func.vmap(function(a) return a end, {in_dims = {{1}}}), randn(3))
      raises("has no entry for key",
        func.vmap(function(a) return a.x end, {in_dims = {{y = 1}}}), {x = randn(3)})
      raises("in_dims must be an integer, false or a table",
        func.vmap, function() end, {in_dims = 1.5})
      raises("vmap: in_dims[2] must be an integer, false or a table shaped like the value, got",
        func.vmap(function(a) return a end, {in_dims = {1, "x"}}), randn(3), randn(3))
      raises("randomness must be", func.vmap, function() end, {randomness = "often"})
      raises("chunk_size must be a positive integer", func.vmap, function() end, {chunk_size = 0})
      raises("expected a function as argument 1", func.vmap, 3)
    end)

    it("refuse in-place writes of batched values into an unbatched tensor", function()
      local acc = lg.zeros(3)
      raises("an in-place op can't write batched values into a tensor that is not batched",
        func.vmap(function(v) acc:add_(v) return v end), randn(4, 3))
      -- in place on a batched tensor is fine
      local x = randn(4, 3)
      agree(func.vmap(function(v) local c = v:clone() c:mul_(2) return c end)(x), x * 2)
    end)

    it("refuse out_dims false for a batched result and non-tensor results", function()
      raises("out_dims is false for the output, but it is batched",
        func.vmap(function(v) return v end, {out_dims = false}), randn(3))
      raises("f must return tensors", func.vmap(function(v) return 1 end), randn(3))
    end)

    it("leave no level behind after an error", function()
      pcall(func.vmap(function() error("boom") end), randn(3))
      assert.is_true(lg.is_tensor(lg.rand(2))) -- randomness "error" would fire
    end)
  end)

  describe("randomness", function()
    local x = lg.zeros(200, 50)
    it("is an error by default", function()
      raises('rand: a random op inside vmap with randomness = "error"',
        func.vmap(function(v) return v + lg.rand(50) end), x)
    end)

    it("\"same\" draws one set of numbers for every example", function()
      local out = func.vmap(function(v) return v + lg.randn(50) end, {randomness = "same"})(x)
      agree(out, out[1]:expand(200, 50))
    end)

    it("\"different\" draws per example (shape and statistics)", function()
      local out = func.vmap(function(v) return v + lg.rand(50) end, {randomness = "different"})(x)
      assert.are.same({200, 50}, H.shape(out))
      assert.is_true((out[1] - out[2]):abs():max():item() > 0)
      local mean, var = out:mean():item(), out:var():item()
      assert.is_true(math.abs(mean - 0.5) < 0.02, "mean " .. mean)
      assert.is_true(math.abs(var - 1 / 12) < 0.01, "var " .. var)
      local drop = func.vmap(function(v) return F.dropout(v + 1, 0.5, true) end,
        {randomness = "different"})(x)
      local kept = drop:gt(0):to("float64"):mean():item()
      assert.is_true(math.abs(kept - 0.5) < 0.02, "kept " .. kept)
    end)
  end)

  describe("composition", function()
    it("vmap(grad) gives per-sample gradients of shared weights", function()
      local w, x, t = randn(3, 2), randn(6, 3), randn(6, 2)
      local loss = function(ww, xx, tt) return ((xx:matmul(ww)):tanh() - tt):pow(2):sum() end
      local g = func.vmap(func.grad(loss), {in_dims = {false, 1, 1}})(w, x, t)
      for i = 1, 6 do agree(g[i], func.grad(loss)(w, x[i], t[i]), 1e-12, "example " .. i) end
    end)

    it("grad(vmap) differentiates through the batch", function()
      local x = randn(4, 3)
      local g = func.grad(function(v) return func.vmap(function(r) return r:pow(3):sum() end)(v):sum() end)(x)
      agree(g, x:pow(2) * 3)
    end)

    it("nests: vmap(vmap(f)) and vmap(grad(grad))", function()
      local x, y = randn(2, 3, 4), randn(3, 4)
      local f = func.vmap(func.vmap(function(a, b) return (a * b):sum() end), {in_dims = {1, false}})
      agree(f(x, y), (x * y):sum(3))
      local s = randn(5)
      local g2 = func.vmap(func.grad(func.grad(function(v) return v:sin() end)))(s)
      agree(g2, -s:sin())
    end)

    it("jacrev is one vmapped backward, chunked or not", function()
      local W = randn(5, 4)
      local f = function(v) return W:matmul(v):tanh() end
      local x = randn(4)
      local jf = func.jacfwd(f)(x)
      agree(func.jacrev(f)(x), jf, 1e-12)
      agree(func.jacrev(f, {chunk_size = 2})(x), jf, 1e-12)
      local xs = randn(3, 4)
      local batched = func.vmap(func.jacrev(f))(xs)
      for i = 1, 3 do agree(batched[i], func.jacfwd(f)(xs[i]), 1e-12, "vmap(jacrev) " .. i) end
    end)

    it("vmap(hessian) and vmap(jvp) match per-example calls", function()
      local f = function(v) return v:pow(3):sum() + v[1] * v[2] end
      local xs, ts = randn(3, 4), randn(3, 4)
      local hs = func.vmap(func.hessian(f))(xs)
      local _, tangents = func.vmap(function(v, t) return func.jvp(f, {v}, {t}) end)(xs, ts)
      for i = 1, 3 do
        agree(hs[i], func.hessian(f)(xs[i]), 1e-12, "hessian " .. i)
        local _, ti = func.jvp(f, {xs[i]}, {ts[i]})
        agree(tangents:select(1, i), ti, 1e-12, "jvp " .. i)
      end
    end)

    it("per-sample gradients over functional_call match the loop", function()
      local model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)):to("float64")
      local params = {}
      for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
      local x, t = randn(8, 6), lg.randint(1, 4, {8})
      local function loss(p, xi, ti)
        return F.cross_entropy(func.functional_call(model, p, {xi:unsqueeze(1)}), ti:unsqueeze(1))
      end
      local grads = func.vmap(func.grad(loss), {in_dims = {false, 1, 1}})(params, x, t)
      for i = 1, 8 do
        local gi = func.grad(loss)(params, x[i], t:select(1, i))
        for name, g in pairs(gi) do agree(grads[name][i], g, 1e-12, name .. " " .. i) end
      end
    end)

    it("runs an ensemble from stack_module_state as one batched call", function()
      local models = {}
      for i = 1, 4 do models[i] = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)):to("float64") end
      local params, buffers = func.stack_module_state(models)
      local base = models[1]
      local x = randn(5, 3)
      local f = function(p, b, v) return func.functional_call(base, {p, b}, {v}) end
      local same = func.vmap(f, {in_dims = {1, 1, false}})(params, buffers, x)
      local xs = randn(4, 5, 3)
      local diff = func.vmap(f)(params, buffers, xs)
      for i = 1, 4 do
        agree(same[i], models[i](x), 1e-12, "same minibatch " .. i)
        agree(diff[i], models[i](xs[i]), 1e-12, "own minibatch " .. i)
      end
    end)
  end)

  it("runs ops without a rule once per example, warning once", function()
    -- a weighted loss mean: the per-example loop (the one rule-less case)
    local cw = lg.tensor({0.5, 2, 1}, F64)
    local f = function(v, t) return F.cross_entropy(v, t, {weight = cw}) end
    local x, t = randn(3, 4, 3), lg.tensor({{1, 2, 3, 1}, {3, 3, 2, 1}, {2, 1, 1, 3}})
    local seen, saved = {}, lg._warn
    lg._warn = function(msg) seen[#seen + 1] = msg end
    local ok, out = pcall(func.vmap(f), x, t)
    lg._warn = saved
    assert(ok, out)
    for i = 1, 3 do agree(out:select(1, i), f(x[i], t[i]), 1e-12, "example " .. i) end
    assert.are.equal(1, #seen)
    assert.is_truthy(seen[1]:find("cross_entropy", 1, true))
    -- many examples, differentiated: the loop's stacking stays within what
    -- a backward rule may hold
    local xs = randn(40, 4, 3)
    local ts = lg.randint(1, 4, {40, 4})
    local loss = function(v, tt) return f(v, tt):pow(2) end
    local g = func.vmap(func.grad(loss))(xs, ts)
    for i = 1, 40, 13 do agree(g[i], func.grad(loss)(xs[i], ts[i]), 1e-10, "grad " .. i) end
  end)

  it("batches the fused LSTM and GRU cells, rows of one example or many", function()
    local xg, hg, c = randn(4, 2, 12), randn(2, 12), randn(4, 2, 3)
    local h1, c1 = func.vmap(function(a, b, d) return lg._lstm_cell(a, b, d) end,
      {in_dims = {1, false, 1}})(xg, hg, c)
    local g = func.vmap(function(a, b, d) return lg._gru_cell(a, b, d) end)(
      randn(4, 1, 9), randn(4, 1, 9), randn(4, 1, 3))
    assert.are.same({4, 1, 3}, H.shape(g))
    for i = 1, 4 do
      local hi, ci = lg._lstm_cell(xg[i], hg, c[i])
      agree(h1[i], hi, 1e-12, "h " .. i)
      agree(c1[i], ci, 1e-12, "c " .. i)
    end
  end)

  it("runs an autograd.Function once per example, differentiably", function()
    local Cube = lg.autograd.Function{
      name = "Cube",
      forward = function(ctx, x) ctx:save_for_backward(x) return x * x * x end,
      backward = function(ctx, g) local x = ctx.saved_tensors[1] return g * 3 * x * x end,
    }
    local xs = randn(5, 3)
    agree(func.vmap(function(v) return Cube(v):sum() end)(xs), xs:pow(3):sum(2))
    local g = func.vmap(func.grad(function(v) return Cube(v):sum() end))(xs)
    agree(g, xs:pow(2) * 3, 1e-12)
  end)

  it("keeps memory flat over 10 000 vmap(grad) calls", function()
    local w, x, t = randn(8, 4), randn(16, 8), randn(16, 4)
    local psg = func.vmap(func.grad(function(ww, xx, tt)
      return ((xx:matmul(ww)) - tt):pow(2):sum()
    end), {in_dims = {false, 1, 1}})
    for _ = 1, 200 do psg(w, x, t) end
    collectgarbage() collectgarbage()
    local before, lua_before = lg.memory_in_use(), collectgarbage("count")
    -- between collections the garbage stays within what the collector's
    -- pace allows (each call leaves ~600 bytes of tensors to it: never
    -- freed, 10 000 calls would hold ~6 MB; collected, the peak is ~0.2 MB)
    local peak = 0
    for i = 1, 10000 do
      psg(w, x, t)
      peak = math.max(peak, lg.memory_in_use())
      if i % 2500 == 0 then
        collectgarbage() collectgarbage()
        assert.is_true(lg.memory_in_use() <= before + 4096,
          ("after %d calls tensor memory grew from %d to %d bytes"):format(
          i, before, lg.memory_in_use()))
        assert.is_true(collectgarbage("count") <= lua_before + 64,
          ("after %d calls the Lua heap grew from %.1f to %.1f KB"):format(
          i, lua_before, collectgarbage("count")))
      end
    end
    assert.is_true(peak <= before + 2 * 2^20,
      ("tensor memory peaked at %d bytes between collections"):format(peak))
  end)
end)
