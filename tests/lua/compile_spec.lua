-- compile_spec.lua: func.compile (lua/luagrad/func_compile.lua,
-- lua/binding/compile_lua.c, runtime/compile): replays equal eager calls bit
-- for bit (float32 and float64, on new data each call), guards, the plan
-- cache, reuse_outputs, honest tracing (data-dependent reads, writes
-- outside ops; random draws and optimizer updates: compile_steps_spec.lua), in-place ops on arguments and upvalues, compile of
-- grad of functional_call, a compiled SGD training step on a Fashion-MNIST
-- subset, and memory over 100 000 replays. The allocator count of a
-- steady-state replay and lg_plan_run from C are in
-- tests/embed/test_embed_compile.c.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func, F, nn, optim = lg.func, lg.F, lg.nn, lg.optim

local same = H.same_bits

-- f compiled, called `calls` times on fresh arguments from make(i), each
-- result compared with f's eager result on the same arguments.
local function check_replays(f, make, calls, opts)
  local cf = func.compile(f, opts)
  for i = 1, calls or 3 do
    local args = make(i)
    local got = table.pack(cf(table.unpack(args, 1, args.n)))
    local want = table.pack(f(table.unpack(args, 1, args.n)))
    assert.are.equal(want.n, got.n)
    for k = 1, want.n do same(got[k], want[k], ("call %d result %d"):format(i, k)) end
  end
  return cf
end

local function args(...) return table.pack(...) end

describe("func.compile", function()
  for _, dtype in ipairs({"float32", "float64"}) do
    local D = {dtype = dtype}

    it("replays elementwise chains and reductions bit for bit (" .. dtype .. ")", function()
      local f = function(x, y)
        local z = ((x * 2 + 1):tanh() * y)
        return z:sum(), z:mean(1), (x:exp() + y:abs()):sqrt():clamp(0, 3), x:maximum(y):amax()
      end
      local cf = check_replays(f, function() return args(lg.randn(5, 7, D), lg.rand(5, 7, D)) end, 4)
      local info = cf:plan_info()
      assert.are.equal(1, info.traced)
      assert.are.equal(3, info.replayed)
      assert.are.equal(0, info.copies)
      assert.is_true(info.ops >= 12)
    end)

    it("replays linear algebra, nn kernels, views and indexing (" .. dtype .. ")", function()
      local w = lg.randn(6, 4, D)
      local idx = lg.tensor({3, 1, 2}, {dtype = "int64"})
      local f = function(x, b)
        local h = F.linear(x, w, b):relu()
        local s = F.softmax(h, 2) + F.log_softmax(h, 2)
        local t = s:t():contiguous():view(-1)
        local c = lg.cat({t:narrow(1, 1, 4), h:index_select(2, idx):reshape(-1)}, 1)
        return lg.where(c:gt(0), c, c * 0.5), x:matmul(w:t()):sum(1), h:flip(1)
      end
      check_replays(f, function() return args(lg.randn(3, 4, D), lg.randn(6, D)) end, 3)
    end)
  end

  it("returns non-tensor results and tables of results as f does", function()
    local f = function(x) return {a = x + 1, b = {x * 2, "tag"}}, x:size(1), nil end
    check_replays(f, function(i) return args(lg.randn(i % 2 + 2)) end, 4)
  end)

  it("traces again for a new guard: shape, dtype, requires_grad, numbers, grad mode", function()
    local f = function(x, k) return x * k end
    local cf = func.compile(f)
    local x = lg.randn(3)
    cf(x, 2); cf(lg.randn(3), 2)
    assert.are.equal(1, cf:plan_info().traced)
    cf(lg.randn(4), 2)
    cf(lg.randn(3, {dtype = "float64"}), 2)
    cf(x, 3)
    same(cf(x, 3), x * 3)
    assert.are.equal(4, cf:plan_info().traced)
    do
      local _ <close> = lg.no_grad()
      cf(x, 3)
    end
    assert.are.equal(5, cf:plan_info().traced)
    -- the same tensor twice is a different guard from two tensors
    local g = func.compile(function(a, b) return a + b end)
    local y = lg.randn(3)
    g(x, y); g(x, x)
    same(g(y, y), y + y)
    same(g(x, y), x + y)
    assert.are.equal(2, g:plan_info().traced)
  end)

  it("keeps at most max_plans plans, dropping the least recently used", function()
    local cf = func.compile(function(x) return x + 1 end, {max_plans = 2})
    cf(lg.randn(1)); cf(lg.randn(2)); cf(lg.randn(1)); cf(lg.randn(3))
    assert.are.equal(2, cf:plan_info().plans)
    assert.are.equal(3, cf:plan_info().traced)
    cf(lg.randn(1)) -- kept (used after 2)
    assert.are.equal(3, cf:plan_info().traced)
    cf(lg.randn(2)) -- evicted
    assert.are.equal(4, cf:plan_info().traced)
    cf:reset()
    assert.are.equal(0, cf:plan_info().plans)
  end)

  it("reuse_outputs returns the same buffers, overwritten by each call", function()
    local cf = func.compile(function(x) return x * 2, x:sum() end, {reuse_outputs = true})
    local x1, x2 = lg.randn(4), lg.randn(4)
    cf(x1)
    local a1 = cf(x1)
    local a1_values = a1:clone()
    local a2, s2 = cf(x2)
    same(a2, x2 * 2)
    same(s2, x2:sum())
    same(a1, a2) -- the first result was overwritten
    assert.is_false(a1_values:eq(a2):all():item())
    -- without it, results are fresh
    local fresh = func.compile(function(x) return x * 2 end)
    fresh(x1)
    local b1 = fresh(x1)
    fresh(x2)
    same(b1, x1 * 2)
  end)

  -- fused groups (runtime/compile/fuse.c): f compiled fused and unfused,
  -- both compared bit for bit with eager on fresh arguments; returns the
  -- fused plan's info
  local function check_fused(f, make, calls, opts)
    opts = opts or {}
    local fused = check_replays(f, make, calls, opts)
    local plain_opts = {fuse = false}
    for k, v in pairs(opts) do plain_opts[k] = v end
    plain_opts.fuse = false
    local plain = func.compile(f, plain_opts)
    local a = make(1)
    same(fused(table.unpack(a, 1, a.n)), plain(table.unpack(a, 1, a.n)), "fused vs unfused")
    assert.are.equal(0, plain:plan_info().fused_groups)
    return fused:plan_info()
  end

  for _, dtype in ipairs({"float32", "float64"}) do
    local D = {dtype = dtype}
    it("fuses elementwise chains and a sum/mean, bit for bit, odd sizes (" .. dtype .. ")", function()
      local chain = function(x, y) return ((x * 2 + 1):tanh() * y):sum() end
      local mean = function(x, y) return (x:sigmoid() - y / 3):mean() end
      local ew = function(x, y)
        return ((2 - x):exp() * (1 / (y:abs() + 1)) + x:square()):sqrt():neg() + 0.5
      end
      for _, n in ipairs({1, 31, 511, 512, 513, 4099, 100003}) do
        local make = function() return args(lg.randn(n, D), lg.randn(n, D)) end
        local info = check_fused(chain, make, 2)
        assert.are.equal(1, info.fused_groups)
        assert.are.equal("mul+add+tanh+mul+sum", info.fused[1])
        assert.are.equal(0, info.arena_bytes) -- no intermediate buffer at all
        info = check_fused(mean, make, 2)
        assert.are.equal("sigmoid+div+sub+mean", info.fused[1])
        info = check_fused(ew, make, 2)
        assert.are.equal(1, info.fused_groups)
        assert.are.equal(info.ops, info.fused_ops)
        assert.are.equal(0, info.arena_bytes)
      end
      -- several dims, integer scalars, reuse_outputs
      local f = function(x) return (x * 3 - 2):relu():sum(), (x + 1) * x end
      local info = check_fused(f, function() return args(lg.randn(7, 9, 3, D)) end, 3,
                               {reuse_outputs = true})
      assert.is_true(info.fused_groups >= 1)
    end)

    it("writes through values used outside the chain and leaves unfusable steps alone (" .. dtype .. ")", function()
      -- t is read after the chain (by a matmul), u is a result, v is viewed
      local f = function(x, y, w)
        local t = (x * 2 + 1):tanh()
        local u = t * y
        local v = (u - x):exp()
        local s = (v * 0.5):sum()
        return s, u, t:matmul(w), v:view(-1):narrow(1, 1, 3)
      end
      local info = check_fused(f, function()
        return args(lg.randn(5, 7, D), lg.randn(5, 7, D), lg.randn(7, 2, D))
      end, 3)
      assert.are.same({"mul+add+tanh+mul+sub+exp+mul+sum"}, info.fused)
      assert.is_true(info.arena_bytes > 0) -- t, written through for the matmul
      -- a value changed in place after the chain is no tile-only value
      local g = function(x)
        local t = x * 2
        local u = t:tanh() + 1
        t:add_(1)
        return u * t
      end
      info = check_fused(g, function() return args(lg.randn(33, D)) end, 3)
      assert.are.same({"mul+tanh+add"}, info.fused)
      -- broadcasting, non-contiguous operands and type promotion don't fuse
      -- (they run their kernels) but the rest of the chain still does
      local h = function(x, b, i)
        local z = (x:t() * 2):tanh()
        return ((z + b) * 3):exp():sum(), (x + i):abs()
      end
      info = check_fused(h, function()
        return args(lg.randn(4, 6, D), lg.randn(4, D),
                    lg.tensor({{1, 2, 3, 4, 5, 6}}, {dtype = "int64"}))
      end, 3)
      assert.are.same({"mul+exp+sum"}, info.fused)
      -- an empty chain: the mean of nothing is NaN, as eager
      local e = function(x) return (x * 2):sum(), (x + 1):mean():isnan() end
      check_fused(e, function() return args(lg.randn(0, D)) end, 2)
    end)
  end

  it("splits elementwise-only fused groups across threads, bit for bit", function()
    lg.set_num_threads(2)
    local ok, err = pcall(function()
      for _, dtype in ipairs({"float32", "float64"}) do
        local f = function(x, y) return ((x * 2 + 1):tanh() * y):sigmoid() - x end
        local info = check_fused(f, function()
          return args(lg.randn(200003, {dtype = dtype}), lg.randn(200003, {dtype = dtype}))
        end, 2)
        assert.are.same({"mul+add+tanh+mul+sigmoid+sub"}, info.fused)
      end
    end)
    lg.set_num_threads(1)
    assert(ok, err)
  end)

  it("splits a fused sum across threads, adding in the serial order, bit for bit", function()
    -- runtime/compile/fuse.c's run_split_sum: the summed values of later
    -- parts kept (in a fold buffer, or in memory when also a result) and
    -- added part after part; 200003 elements: 391 tiles, the last partial
    local ok, err = pcall(function()
      for _, threads in ipairs({2, 3}) do
        lg.set_num_threads(threads)
        for _, dtype in ipairs({"float32", "float64"}) do
          local make = function()
            return args(lg.randn(200003, {dtype = dtype}), lg.randn(200003, {dtype = dtype}))
          end
          local chain = function(x, y) return ((x * 2 + 1):tanh() * y):sum() end
          assert.are.same({"mul+add+tanh+mul+sum"}, check_fused(chain, make, 2).fused)
          local mean = function(x, y) return (x:sigmoid() * y):mean() end
          assert.are.same({"sigmoid+mul+mean"}, check_fused(mean, make, 2).fused)
          local kept = function(x, y) local v = (x * y):exp(); return v:sum(), v end
          assert.are.same({"mul+exp+sum"}, check_fused(kept, make, 2).fused)
        end
      end
    end)
    lg.set_num_threads(1)
    assert(ok, err)
  end)

  it("plans intermediates into one arena smaller than their sum", function()
    local f = function(x)
      local y = x
      for _ = 1, 8 do y = (y * 1.5 + 0.25):tanh() end
      return y:sum()
    end
    local cf = check_replays(f, function() return args(lg.randn(64, 64)) end, 2,
                             {fuse = false})
    local info = cf:plan_info()
    assert.are.equal(25, info.ops)
    assert.are.equal(0, info.fused_groups)
    assert.is_true(info.arena_bytes > 0)
    assert.is_true(info.arena_bytes * 4 < info.naive_bytes,
      ("arena %d bytes for %d bytes of intermediates"):format(info.arena_bytes, info.naive_bytes))
  end)

  it("raises naming the call and the line when the trace reads values into Lua", function()
    local cf = func.compile(function(x)
      if x:sum():item() > 0 then return x end -- data-dependent
      return -x
    end)
    local ok, err = pcall(cf, lg.randn(3))
    assert.is_false(ok)
    assert.truthy(err:find("item", 1, true), err)
    assert.truthy(err:find("compile_spec.lua:%d+"), err)
    local tl = func.compile(function(x) return x * x:tolist()[1] end)
    ok, err = pcall(tl, lg.randn(3))
    assert.is_false(ok)
    assert.truthy(err:find("tolist", 1, true), err)
    local ix = func.compile(function(x) return x * x[1] end)
    ok, err = pcall(ix, lg.randn(3))
    assert.is_false(ok)
    assert.truthy(err:find("t[i]", 1, true), err)
  end)

  it("with fallback, runs a data-dependent guard eagerly from then on", function()
    local f = function(x)
      if x:sum():item() > 0 then return x * 2 end
      return x * -1
    end
    local cf = func.compile(f, {fallback = true})
    local pos, neg = lg.ones(3), -lg.ones(3)
    same(cf(pos), pos * 2)
    same(cf(neg), neg * -1) -- eager: the other branch
    same(cf(pos), pos * 2)
    local info = cf:plan_info()
    assert.is_true(info.eager)
    assert.are.equal(1, info.traced)
    assert.are.equal(2, info.eager_calls)
  end)

  it("refuses results that need a graph (random ops: compile_steps_spec.lua)", function()
    local w = lg.randn(3)
    local ok, err
    local g = func.compile(function(x) return x * w end)
    ok, err = pcall(g, lg.randn(3):requires_grad_())
    assert.is_false(ok)
    assert.truthy(err:find("requires grad", 1, true), err)
  end)

  it("replays in-place ops on arguments in place", function()
    local f = function(x, y) x:add_(y); x:mul_(2); return x:sum() end
    local cf = func.compile(f)
    local a, b = lg.randn(4), lg.randn(4)
    local a2 = a:clone()
    for _ = 1, 3 do
      local s = cf(a, b)
      local e = f(a2, b)
      same(s, e)
      same(a, a2)
    end
  end)

  it("reads tensors from upvalues at every replay; reset picks up a rebinding", function()
    local w = lg.randn(3)
    local cf = func.compile(function(x) return x * w end)
    local x = lg.randn(3)
    cf(x)
    w:mul_(3)
    same(cf(x), x * w)
    w = lg.randn(3) -- rebinding: the plan still holds the old tensor
    cf:reset()
    same(cf(x), x * w)
  end)

  it("restores tensors f creates and then changes in place", function()
    local f = function(x)
      local acc = lg.zeros(3)
      acc:add_(x)
      acc:add_(x)
      return acc
    end
    check_replays(f, function() return args(lg.randn(3)) end, 3)
    -- each call returns a tensor of its own, as f does
    local cf = func.compile(f)
    local x1, x2, x3 = lg.randn(3), lg.randn(3), lg.randn(3)
    local r1, r2, r3 = cf(x1), cf(x2), cf(x3)
    same(r1, f(x1)); same(r2, f(x2)); same(r3, f(x3))
  end)

  it("compiles grad of a loss over functional_call, forward and backward in one plan", function()
    lg.manual_seed(3)
    local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    local params = {}
    for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
    local mse = func.grad(function(p, x, y)
      return F.mse_loss(func.functional_call(model, p, x), y)
    end)
    local cf = check_replays(mse, function()
      return args(params, lg.randn(8, 16), lg.randn(8, 4))
    end, 3)
    local names = table.concat(cf:plan_info().op_names, " ")
    assert.truthy(names:find("linear", 1, true))
    assert.truthy(names:find("matmul", 1, true), names) -- the backward's
    local ce = func.grad(function(p, x, y)
      return F.cross_entropy(func.functional_call(model, p, x), y)
    end)
    check_replays(ce, function()
      return args(params, lg.randn(8, 16), lg.randint(1, 5, {8}))
    end, 3)
  end)

  it("compiles a pure training step: grad over functional_call and optim.fn.sgd", function()
    lg.manual_seed(4)
    local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    local tx = optim.fn.sgd{lr = 0.1}
    local grad = func.grad(function(p, x, y)
      return F.cross_entropy(func.functional_call(model, p, x), y)
    end)
    local function step(p, x, y)
      local new_p = tx.update(p, grad(p, x, y), {step = 0})
      return new_p
    end
    local p_eager = {}
    for name, p in pairs(model:named_parameters()) do p_eager[name] = p:detach():clone() end
    local p_comp = {}
    for name, p in pairs(p_eager) do p_comp[name] = p:clone() end
    local cstep = func.compile(step)
    for _ = 1, 5 do
      local x, y = lg.randn(8, 16), lg.randint(1, 5, {8})
      p_eager = step(p_eager, x, y)
      p_comp = cstep(p_comp, x, y)
      same(p_comp, p_eager)
    end
    assert.are.equal(1, cstep:plan_info().traced)
    local names = table.concat(cstep:plan_info().op_names, " ")
    assert.truthy(names:find("sgd", 1, true), names)
  end)

  it("a compiled step trains the Fashion-MNIST MLP like the eager step", function()
    if not lg.data.fashion_mnist_available or not lg.data.fashion_mnist_available() then
      local ok = pcall(lg.data.fashion_mnist, {split = "test"})
      if not ok then pending("Fashion-MNIST is not installed") return end
    end
    local set = lg.data.fashion_mnist({split = "test"})
    local images, labels = set.tensors[1], set.tensors[2]
    local n_train, n_test, batch = 512, 256, 64
    local x_all = (images:narrow(1, 1, n_train + n_test):float() / 255 - 0.2860) / 0.3530
    local y_all = labels:narrow(1, 1, n_train + n_test):long()
    local function run(compiled)
      lg.manual_seed(7)
      local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
      local params = {}
      for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
      local tx = optim.fn.sgd{lr = 0.1}
      local grad = func.grad(function(p, x, y)
        return F.cross_entropy(func.functional_call(model, p, x), y)
      end)
      local step = function(p, x, y) return (tx.update(p, grad(p, x, y), {step = 0})) end
      if compiled then step = func.compile(step) end
      for _ = 1, 2 do
        for b = 0, n_train // batch - 1 do
          params = step(params, x_all:narrow(1, b * batch + 1, batch),
                        y_all:narrow(1, b * batch + 1, batch))
        end
      end
      local logits = func.functional_call(model, params, x_all:narrow(1, n_train + 1, n_test))
      local correct = logits:argmax(2):eq(y_all:narrow(1, n_train + 1, n_test)):sum():item()
      return correct / n_test, params, compiled and step:plan_info() or nil
    end
    local acc_eager, p_eager = run(false)
    local acc_comp, p_comp, info = run(true)
    assert.are.equal(acc_eager, acc_comp)
    same(p_comp, p_eager)
    assert.is_true(acc_comp > 0.5, "accuracy " .. acc_comp)
    assert.are.equal(1, info.traced)
  end)

  it("calls inside another compiled function's trace are traced inline", function()
    local inner = func.compile(function(x) return x:relu() * 2 end)
    local outer = func.compile(function(x) return inner(x) + 1 end)
    local x = lg.randn(5)
    same(outer(x), x:relu() * 2 + 1)
    same(outer(-x), (-x):relu() * 2 + 1)
    assert.are.equal(1, outer:plan_info().replayed)
  end)

  it("keeps memory flat over 100 000 replays", function()
    local cf = func.compile(function(x, y) return (x * y + 1):sum() end, {reuse_outputs = true})
    local x, y = lg.randn(4), lg.randn(4)
    for _ = 1, 1000 do cf(x, y) end
    collectgarbage(); collectgarbage()
    local tensors, lua_kb = lg.memory_in_use(), collectgarbage("count")
    for _ = 1, 100000 do cf(x, y) end
    collectgarbage(); collectgarbage()
    assert.are.equal(tensors, lg.memory_in_use())
    assert.is_true(collectgarbage("count") < lua_kb + 64,
      ("Lua heap grew from %.0f to %.0f KB"):format(lua_kb, collectgarbage("count")))
    same(cf(x, y), (x * y + 1):sum())
  end)

  it("rejects what it can't compile with a clear error", function()
    assert.has_error(function() func.compile(42) end, "compile: expected a function, got number")
    assert.has_error(function() func.compile(function() end, {max_plans = 0}) end)
    assert.has_error(function() func.compile(function() end, {bogus = true}) end)
  end)
end)
