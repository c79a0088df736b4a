-- compile_steps_spec.lua: the steps of a func.compile plan that are not
-- kernel calls (runtime/compile/trace.c): random draws, replayed from the
-- context's stream so that N compiled calls after lg.manual_seed(s) give
-- exactly what N eager calls give after the same seed; and the fused
-- optimizer updates of optim.fn (SGD, Adam, AdamW, RMSprop, Adagrad) with
-- the step count kept in a tensor, so that a whole training step is one
-- plan and 20 compiled steps equal 20 eager steps bit for bit.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func, F, nn, optim = lg.func, lg.F, lg.nn, lg.optim

local same = H.same_bits

-- f called on each argument list of calls, after lg.manual_seed(seed):
-- the results of every call.
local function run_seeded(f, calls, seed)
  lg.manual_seed(seed)
  local results = {}
  for i, a in ipairs(calls) do results[i] = table.pack(f(table.unpack(a, 1, a.n))) end
  return results
end

-- N compiled calls after a seed equal N eager calls after the same seed.
local function check_stream(f, calls, opts)
  local want = run_seeded(f, calls, 11)
  local cf = func.compile(f, opts)
  lg.manual_seed(11)
  for i, a in ipairs(calls) do -- compared at once: reuse_outputs overwrites
    local got = table.pack(cf(table.unpack(a, 1, a.n)))
    assert.are.equal(want[i].n, got.n)
    for k = 1, got.n do same(got[k], want[i][k], ("call %d result %d"):format(i, k)) end
  end
  -- and the stream stands where eager calls leave it
  lg.manual_seed(11)
  for _, a in ipairs(calls) do f(table.unpack(a, 1, a.n)) end
  local after_eager = lg.rand(4)
  lg.manual_seed(11)
  for _, a in ipairs(calls) do cf(table.unpack(a, 1, a.n)) end
  same(lg.rand(4), after_eager, "the next draw")
  return cf
end

describe("func.compile: random ops", function()
  for _, dtype in ipairs({"float32", "float64"}) do
    local D = {dtype = dtype}

    it("replays rand, randn, randint, bernoulli, uniform_, normal_ and normal as eager draws (" .. dtype .. ")", function()
      local f = function(x)
        local n = x:size(1)
        local u = lg.rand(n, D) + x
        local z = lg.randn(n, 3, D) * 2
        local i = lg.randint(0, 10, {n})
        local b = lg.bernoulli(x:sigmoid())      -- tensor probabilities
        local bs = lg.bernoulli(x, 0.3)          -- a number
        local w = lg.empty({n}, D):uniform_(-1, 2)
        local v = lg.zeros({n}, D):normal_(1, 0.5)
        local m = lg.normal(x, x:abs() + 0.1)    -- tensor mean and std
        local rl, nl = lg.rand_like(x), lg.randn_like(x)
        return u, z, i, b, bs, w, v, m, rl, nl
      end
      local calls = {}
      for c = 1, 5 do calls[c] = table.pack(lg.randn(7, D) * c) end
      local cf = check_stream(f, calls)
      local info = cf:plan_info()
      assert.are.equal(1, info.traced)
      assert.are.equal(2 * #calls - 1, info.replayed) -- check_stream calls it twice
      local names = table.concat(info.op_names, " ")
      for _, op in ipairs({"rand", "randn", "randint", "bernoulli", "uniform_", "normal_"}) do
        assert.truthy((" " .. names .. " "):find(" " .. op .. " ", 1, true), op .. " in " .. names)
      end
    end)

    it("replays dropout in a training forward, fused and unfused (" .. dtype .. ")", function()
      lg.manual_seed(2)
      local model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.4), nn.Linear(8, 3))
      model:to(dtype)
      model:train()
      local params = {}
      for name, p in pairs(model:named_parameters()) do params[name] = p:detach() end
      local f = function(p, x)
        return (func.functional_call(model, p, x) * 2 + 1):tanh():sum(), F.dropout(x, 0.25, true)
      end
      local calls = {}
      for c = 1, 4 do calls[c] = table.pack(params, lg.randn(5, 6, D)) end
      check_stream(f, calls)
      check_stream(f, calls, {fuse = false})
      check_stream(f, calls, {reuse_outputs = true})
    end)
  end

  it("replays the gradient of a loss with dropout (the mask is a draw, the backward reuses it)", function()
    lg.manual_seed(3)
    local w = lg.randn(5, 4, {dtype = "float64"})
    local g = func.grad(function(wt, x)
      return (F.dropout(x:matmul(wt), 0.5, true) ^ 2):sum()
    end)
    local calls = {}
    for c = 1, 4 do calls[c] = table.pack(w, lg.randn(3, 5, {dtype = "float64"})) end
    check_stream(g, calls)
  end)

  it("still refuses draws it does not record (randperm, multinomial)", function()
    local r = func.compile(function(x) return x + lg.randperm(3):double() end)
    local ok, err = pcall(r, lg.randn(3, {dtype = "float64"}))
    assert.is_false(ok)
    assert.truthy(err:find("random", 1, true), err)
    local m = func.compile(function(x) return lg.multinomial(x, 2) end)
    ok, err = pcall(m, lg.rand(4) + 0.1)
    assert.is_false(ok)
    assert.truthy(err:find("random", 1, true), err)
  end)
end)

describe("func.compile: optimizer updates", function()
  -- A tiny model's pure training step with tx; 20 steps eager and compiled
  -- from the same start, every step's params and state compared bit for bit.
  local function check_training(tx, dtype, steps)
    lg.manual_seed(4)
    local model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    model:to(dtype)
    local grad = func.grad(function(p, x, y)
      return F.mse_loss(func.functional_call(model, p, x), y)
    end)
    local function step(p, state, x, y)
      return tx.update(p, grad(p, x, y), state)
    end
    local p0 = {}
    for name, p in pairs(model:named_parameters()) do p0[name] = p:detach() end
    local data = {}
    for i = 1, steps do
      data[i] = {lg.randn(4, 6, {dtype = dtype}), lg.randn(4, 3, {dtype = dtype})}
    end
    local cstep = func.compile(step)
    local pe, se = p0, tx.init(p0)
    local pc, sc = p0, tx.init(p0)
    for i = 1, steps do
      pe, se = step(pe, se, data[i][1], data[i][2])
      pc, sc = cstep(pc, sc, data[i][1], data[i][2])
      same(pc, pe, "params after step " .. i)
      same(sc, se, "state after step " .. i)
      assert.are.equal(i, sc.step:item())
    end
    return cstep
  end

  local cases = {
    {"adam", function() return optim.fn.adam{lr = 1e-2} end},
    {"adam", function() return optim.fn.adam{lr = 1e-2, weight_decay = 0.1, amsgrad = true} end},
    {"adamw", function() return optim.fn.adamw{lr = 1e-2} end},
    {"rmsprop", function() return optim.fn.rmsprop{lr = 1e-2, momentum = 0.5, centered = true} end},
    {"adagrad", function() return optim.fn.adagrad{lr = 0.1, lr_decay = 0.01} end},
    {"sgd", function() return optim.fn.sgd{lr = 0.1} end},
  }
  for _, dtype in ipairs({"float32", "float64"}) do
    for _, case in ipairs(cases) do
      it(("20 compiled %s steps equal 20 eager steps bit for bit, step count included (%s)"):format(
        case[1], dtype), function()
        local cstep = check_training(case[2](), dtype, 20)
        local info = cstep:plan_info()
        assert.are.equal(1, info.traced)
        assert.are.equal(19, info.replayed)
        local names = table.concat(info.op_names, " ")
        assert.truthy(names:find(case[1], 1, true), names)
      end)
    end
  end

  it("SGD with momentum: the fresh buffer traces once more, then replays", function()
    local cstep = check_training(optim.fn.sgd{lr = 0.1, momentum = 0.9}, "float64", 6)
    assert.are.equal(2, cstep:plan_info().traced)
  end)

  it("refuses an update whose count is a plain integer, naming the fix", function()
    local tx = optim.fn.adam{lr = 1e-2}
    local p = {w = lg.randn(3)}
    local cf = func.compile(function(params, g, state) return tx.update(params, g, state) end)
    local state = tx.init(p)
    state.step = 0
    local ok, err = pcall(cf, p, {w = lg.randn(3)}, state)
    assert.is_false(ok)
    assert.truthy(err:find("step number is a plain integer", 1, true), err)
    -- eagerly, an integer count still works and agrees with the tensor one
    local a = select(1, tx.update(p, {w = lg.ones(3)}, state))
    local b = select(1, tx.update(p, {w = lg.ones(3)}, tx.init(p)))
    same(a, b)
  end)

  it("rejects a step count that is not a one-element integer tensor", function()
    local tx = optim.fn.adam{}
    local p = {w = lg.randn(3)}
    local state = tx.init(p)
    state.step = lg.zeros(2, {dtype = "int64"})
    assert.has_error(function() tx.update(p, {w = lg.ones(3)}, state) end)
    local ok, err = pcall(lg._adam_step, p.w:clone(), lg.ones(3), lg.zeros(3), lg.zeros(3), nil,
                          lg.tensor({1.5}), 1e-3, 0.9, 0.999, 1e-8, 0, false, false, false)
    assert.is_false(ok)
    assert.truthy(err:find("one-element integer tensor", 1, true), err)
  end)
end)
