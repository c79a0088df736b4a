-- optim_spec.lua: the optimizers, schedulers and optim.fn against PyTorch
-- (tests/fixtures/optim.lua, written by tests/fixtures/generate_optim.py),
-- plus param groups, state dict round trips, purity of optim.fn and errors.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local optim = require "luagrad.optim"

local fixtures = dofile(H.root .. "/tests/fixtures/optim.lua")

-- Calls fn and checks that it fails with a message naming every entry of
-- names (case-insensitive).
local function assert_error_all(names, fn, ...)
  local err = H.assert_error_names(names[1], fn, ...)
  for _, n in ipairs(names) do
    assert.is_truthy(err:lower():find(n:lower(), 1, true),
      "error message does not name " .. n .. ": " .. err)
  end
end

local TOLERANCE = {float64 = {1e-12, 1e-14}, float32 = {2e-6, 1e-7}}

local function assert_matches(actual, entry, label)
  local tol = TOLERANCE[entry.dtype]
  local ok, msg = H.compare(actual, entry, tol[1], tol[2])
  assert.is_true(ok, label .. ": " .. tostring(msg))
end

-- Largest |a - b| over two equally shaped tensors.
local function max_diff(a, b)
  return (a:double() - b:double()):abs():max():item()
end

local function fresh_params(case)
  local params = {}
  for i, entry in ipairs(case.params) do params[i] = H.tensor(entry):requires_grad_() end
  return params
end

-- The params argument of a case: an array of tensors, or its groups.
local function params_arg(case, params)
  if not case.groups then return params end
  local groups = {}
  for g, spec in ipairs(case.groups) do
    local group = {}
    for k, v in pairs(spec) do group[k] = v end
    group.params = {}
    for i, index in ipairs(spec.params) do group.params[i] = params[index] end
    groups[g] = group
  end
  return groups
end

-- Runs steps first..last of a case on an optimizer, checking each step.
local function run_steps(case, opt, params, first, last, check)
  for step = first, last do
    for i, p in ipairs(params) do p.grad = H.tensor(case.grads[step][i]) end
    opt:step()
    if check then
      for i, p in ipairs(params) do
        assert_matches(p, case.expected[step][i], ("%s step %d param %d"):format(case.name, step, i))
      end
    end
  end
end

describe("optimizers match PyTorch step by step", function()
  for _, case in ipairs(fixtures.optimizers) do
    it(case.name, function()
      local params = fresh_params(case)
      local opt = optim[case.optimizer](params_arg(case, params), case.opts)
      run_steps(case, opt, params, 1, #case.grads, true)
    end)
  end
end)

describe("optim.fn", function()
  for _, case in ipairs(fixtures.optimizers) do
    if not case.groups then
      it(case.name .. " gives the stateful numbers and leaves its inputs alone", function()
        local tx = optim.fn[case.optimizer:lower()](case.opts)
        local params = {}
        for i, entry in ipairs(case.params) do params[i] = H.tensor(entry) end
        local tree = {weights = params[1], rest = {table.unpack(params, 2)}}
        local state = tx.init(tree)
        assert.are.equal(0, state.step:item())
        for step = 1, #case.grads do
          local g = case.grads[step]
          local grads = {weights = H.tensor(g[1]), rest = {}}
          for i = 2, #g do grads.rest[i - 1] = H.tensor(g[i]) end
          local before_p = tree.weights:clone()
          local before_g = grads.weights:clone()
          local before_state = {}
          for k, v in pairs(state) do
            if k ~= "step" then before_state[k] = v.weights:clone() end
          end
          local new_tree, new_state = tx.update(tree, grads, state)
          assert.are.equal(0, max_diff(tree.weights, before_p))
          assert.are.equal(0, max_diff(grads.weights, before_g))
          for k, v in pairs(before_state) do assert.are.equal(0, max_diff(state[k].weights, v)) end
          assert.are_not.equal(tree.weights, new_tree.weights)
          assert.is_nil(grads.weights.grad)
          assert.are.equal(step, new_state.step:item())
          assert_matches(new_tree.weights, case.expected[step][1], case.name .. " fn step " .. step)
          tree, state = new_tree, new_state
        end
      end)
    end
  end

  it("agrees exactly with the stateful optimizer on a nested tree", function()
    lg.manual_seed(3)
    local a, b = lg.randn(4, 3, {dtype = "float64"}), lg.randn(5, {dtype = "float64"})
    local pa, pb = a:clone():requires_grad_(), b:clone():requires_grad_()
    local opt = optim.RMSprop({pa, pb}, {lr = 0.03, momentum = 0.5, centered = true})
    local tx = optim.fn.rmsprop{lr = 0.03, momentum = 0.5, centered = true}
    local tree = {layer = {w = a}, b}
    local state = tx.init(tree)
    for _ = 1, 4 do
      local ga, gb = lg.randn(4, 3, {dtype = "float64"}), lg.randn(5, {dtype = "float64"})
      pa.grad, pb.grad = ga, gb
      opt:step()
      tree, state = tx.update(tree, {layer = {w = ga}, gb}, state)
    end
    assert.are.equal(0, max_diff(tree.layer.w, pa))
    assert.are.equal(0, max_diff(tree[1], pb))
  end)

  it("works inside a func.grad loop", function()
    local func = require "luagrad.func"
    local target = lg.tensor({1, -2, 3}, {dtype = "float64"})
    local loss = function(p) return ((p.w - target) ^ 2):sum() end
    local grad_fn = func.grad(loss)
    local tx = optim.fn.adam{lr = 0.1}
    local params = {w = lg.zeros(3, {dtype = "float64"})}
    local state = tx.init(params)
    for _ = 1, 300 do params, state = tx.update(params, grad_fn(params), state) end
    assert.is_true(loss(params):item() < 1e-3)
  end)

  it("rejects mismatched trees and bad states", function()
    local tx = optim.fn.sgd{lr = 0.1, momentum = 0.9}
    local params = {lg.zeros(2), lg.zeros(3)}
    local state = tx.init(params)
    assert_error_all({"fn.sgd.update", "grads"}, tx.update, params, {lg.zeros(2)}, state)
    assert_error_all({"fn.sgd.update", "state"}, tx.update, params, {lg.zeros(2), lg.zeros(3)}, nil)
    assert_error_all({"fn.adam", "betas"}, optim.fn.adam, {betas = {1, 0.9}})
  end)
end)

describe("param groups", function()
  it("each group uses its own lr and the defaults fill the rest", function()
    local a = lg.ones(2, {dtype = "float64"}):requires_grad_()
    local b = lg.ones(2, {dtype = "float64"}):requires_grad_()
    local opt = optim.SGD({{params = {a}}, {params = {b}, lr = 0.5}}, {lr = 0.1})
    assert.are.equal(0.1, opt.param_groups[1].lr)
    assert.are.equal(0.5, opt.param_groups[2].lr)
    assert.are.equal(0, opt.param_groups[2].momentum)
    a.grad, b.grad = lg.ones(2, {dtype = "float64"}), lg.ones(2, {dtype = "float64"})
    opt:step()
    assert.are.same({0.9, 0.9}, a:tolist())
    assert.are.same({0.5, 0.5}, b:tolist())
  end)

  it("lr changes in param_groups take effect at the next step", function()
    local w = lg.zeros(1, {dtype = "float64"}):requires_grad_()
    local opt = optim.SGD({w}, {lr = 0.1})
    w.grad = lg.ones(1, {dtype = "float64"})
    opt:step()
    opt.param_groups[1].lr = 1
    opt:step()
    assert.is_true(math.abs(w:item() + 1.1) < 1e-15)
  end)

  it("step skips params without grad; zero_grad clears them", function()
    local a = lg.ones(2):requires_grad_()
    local b = lg.ones(2):requires_grad_()
    local opt = optim.Adam({a, b}, {lr = 0.1})
    a.grad = lg.ones(2)
    opt:step()
    assert.are.same({1, 1}, b:tolist())
    assert.is_nil(opt.state[b])
    assert.are.equal(1, opt.state[a].step)
    opt:zero_grad()
    assert.is_nil(a.grad)
    a.grad = lg.ones(2)
    opt:zero_grad(false)
    assert.are.same({0, 0}, a.grad:tolist())
  end)

  it("step runs outside autograd and bumps versions", function()
    local w = lg.tensor({1, 2}, {dtype = "float64", requires_grad = true})
    local y = (w * w):sum()
    local opt = optim.SGD({w}, {lr = 0.1})
    w.grad = lg.ones(2, {dtype = "float64"})
    opt:step()
    assert.is_nil(w.grad_fn)
    assert.is_true(w.is_leaf)
    assert.has_error(function() y:backward() end)
  end)

  it("returns the closure's loss", function()
    local w = lg.tensor({3}, {dtype = "float64", requires_grad = true})
    local opt = optim.SGD({w}, {lr = 0.25})
    local loss = opt:step(function()
      opt:zero_grad()
      local l = (w * w):sum()
      l:backward()
      return l
    end)
    assert.are.equal(9, loss:item())
    assert.are.equal(1.5, w:item())
  end)

  it("updates a non-contiguous parameter like a contiguous one", function()
    lg.manual_seed(5)
    local base = lg.randn(3, 4, {dtype = "float64"})
    local strided = base:clone():t():requires_grad_()
    local plain = base:clone():t():contiguous():requires_grad_()
    assert.is_false(strided:is_contiguous())
    local o1 = optim.Adam({strided}, {lr = 0.1, amsgrad = true})
    local o2 = optim.Adam({plain}, {lr = 0.1, amsgrad = true})
    for _ = 1, 3 do
      local g = lg.randn(4, 3, {dtype = "float64"})
      strided.grad, plain.grad = g, g:clone()
      o1:step()
      o2:step()
    end
    assert.are.equal(0, max_diff(strided, plain))
  end)
end)

describe("state_dict", function()
  local round_trip_cases = {}
  for _, case in ipairs(fixtures.optimizers) do
    if case.name:match("amsgrad") or case.name:match("centered_momentum") or case.name:match("groups")
        or case.name:match("nesterov") or case.name:match("adagrad_wd") then
      round_trip_cases[#round_trip_cases + 1] = case
    end
  end

  for _, case in ipairs(round_trip_cases) do
    it(case.name .. ": a loaded optimizer continues like an uninterrupted one", function()
      local params = fresh_params(case)
      local opt = optim[case.optimizer](params_arg(case, params), case.opts)
      run_steps(case, opt, params, 1, 2, false)
      local sd = opt:state_dict()
      -- a second optimizer on copies of the parameters, different options
      local copies = {}
      for i, p in ipairs(params) do copies[i] = p:detach():clone():requires_grad_() end
      local other = optim[case.optimizer](params_arg(case, copies), {lr = 123})
      other:load_state_dict(sd)
      assert.are.equal(opt.param_groups[1].lr, other.param_groups[1].lr)
      -- the state dict holds clones: later steps do not change it
      local snapshot = {}
      for index, entry in pairs(sd.state) do
        for k, v in pairs(entry) do
          if lg.is_tensor(v) then snapshot[#snapshot + 1] = {v, v:clone()} end
        end
        assert.is_not_nil(entry)
        assert.is_true(math.type(index) == "integer")
      end
      run_steps(case, opt, params, 3, #case.grads, true)
      run_steps(case, other, copies, 3, #case.grads, true)
      for _, pair in ipairs(snapshot) do assert.are.equal(0, max_diff(pair[1], pair[2])) end
    end)
  end

  it("has PyTorch's structure", function()
    local a, b = lg.zeros(2):requires_grad_(), lg.zeros(3):requires_grad_()
    local opt = optim.SGD({{params = {a}}, {params = {b}, lr = 0.5}}, {lr = 0.1, momentum = 0.9})
    b.grad = lg.ones(3)
    opt:step()
    local sd = opt:state_dict()
    assert.are.same({1}, sd.param_groups[1].params)
    assert.are.same({2}, sd.param_groups[2].params)
    assert.are.equal(0.5, sd.param_groups[2].lr)
    assert.is_nil(sd.state[1])
    assert.are.same({1, 1, 1}, sd.state[2].momentum_buffer:tolist())
  end)

  it("rejects a state dict of another shape", function()
    local opt = optim.Adam({lg.zeros(2):requires_grad_()})
    local two = optim.Adam({lg.zeros(2):requires_grad_(), lg.zeros(1):requires_grad_()})
    assert_error_all({"Adam.load_state_dict", "parameter group 1"}, opt.load_state_dict, opt,
                         two:state_dict())
    assert_error_all({"Adam.load_state_dict"}, opt.load_state_dict, opt, 42)
  end)
end)

describe("lr schedulers match PyTorch", function()
  for _, case in ipairs(fixtures.schedulers) do
    it(case.name, function()
      local groups = {}
      for i, lr in ipairs(case.groups) do groups[i] = {params = {lg.zeros(1):requires_grad_()}, lr = lr} end
      local opt = optim[case.optimizer](groups, case.opts)
      local make = optim.lr_scheduler[case.scheduler]
      local sched
      if case.scheduler == "LambdaLR" then
        sched = make(opt, case.lr_lambda)
      else
        sched = make(opt, case.args[1], case.kwargs)
      end
      local function check(step)
        local lrs = sched:get_last_lr()
        for g, want in ipairs(case.lrs[step + 1]) do
          local got = lrs[g]
          assert.is_true(math.abs(got - want) <= 1e-12 * math.abs(want) + 1e-15,
            ("%s step %d group %d: lr %.17g, expected %.17g"):format(case.name, step, g, got, want))
          assert.are.equal(got, opt.param_groups[g].lr)
          if case.momentums then
            local group = opt.param_groups[g]
            local m = group.betas and group.betas[1] or group.momentum
            local want_m = case.momentums[step + 1][g]
            assert.is_true(math.abs(m - want_m) <= 1e-12,
              ("%s step %d group %d: momentum %.17g, expected %.17g"):format(case.name, step, g, m, want_m))
          end
        end
      end
      check(0)
      for step = 1, case.steps do
        opt:step()
        sched:step()
        check(step)
      end
    end)
  end

  it("OneCycleLR refuses to step past total_steps", function()
    local opt = optim.SGD({lg.zeros(1):requires_grad_()}, {momentum = 0.9})
    local sched = optim.lr_scheduler.OneCycleLR(opt, 0.1, 3)
    for _ = 1, 3 do sched:step() end
    assert_error_all({"OneCycleLR", "total_steps"}, sched.step, sched)
  end)

  it("a scheduler's state dict restores its position", function()
    local opt = optim.SGD({lg.zeros(1):requires_grad_()}, {lr = 1})
    local sched = optim.lr_scheduler.StepLR(opt, 2, 0.5)
    for _ = 1, 3 do sched:step() end
    local sd = sched:state_dict()
    local opt2 = optim.SGD({lg.zeros(1):requires_grad_()}, {lr = 1})
    local sched2 = optim.lr_scheduler.StepLR(opt2, 2, 0.5)
    sched2:load_state_dict(sd)
    opt2.param_groups[1].lr = opt.param_groups[1].lr
    sched:step()
    sched2:step()
    assert.are.same(sched:get_last_lr(), sched2:get_last_lr())
  end)
end)

describe("optimizer errors", function()
  local w = lg.zeros(2):requires_grad_()
  local cases = {
    {{"SGD", "lr"}, optim.SGD, {w}, {lr = -0.1}},
    {{"SGD", "lr"}, optim.SGD, {w}, {lr = "fast"}},
    {{"SGD", "momentum"}, optim.SGD, {w}, {momentum = -1}},
    {{"SGD", "nesterov"}, optim.SGD, {w}, {nesterov = true}},
    {{"SGD", "unknown option", "lrr"}, optim.SGD, {w}, {lrr = 0.1}},
    {{"Adam", "betas[1]"}, optim.Adam, {w}, {betas = {1.0, 0.999}}},
    {{"AdamW", "betas"}, optim.AdamW, {w}, {betas = 0.9}},
    {{"Adam", "eps"}, optim.Adam, {w}, {eps = -1}},
    {{"RMSprop", "alpha"}, optim.RMSprop, {w}, {alpha = -0.5}},
    {{"Adagrad", "lr_decay"}, optim.Adagrad, {w}, {lr_decay = -1}},
    {{"Adam", "params", "tensor"}, optim.Adam, w},
    {{"Adam", "params", "number"}, optim.Adam, 3},
    {{"SGD", "empty parameter list"}, optim.SGD, {}},
    {{"SGD", "params", "string"}, optim.SGD, {"w"}},
    {{"RMSprop", "non-leaf"}, optim.RMSprop, {w * 2}},
    {{"Adam", "more than one parameter group"}, optim.Adam, {{params = {w}}, {params = {w}}}},
    {{"SGD", "lr", "-1"}, optim.SGD, {{params = {w}, lr = -1}}},
    {{"SGD", "floating point"}, optim.SGD, {lg.zeros(2, {dtype = "int64"})}},
  }
  for _, c in ipairs(cases) do
    it(table.concat(c[1], " "), function()
      assert_error_all(c[1], c[2], table.unpack(c, 3))
    end)
  end

  it("schedulers name themselves and the bad argument", function()
    local opt = optim.SGD({w}, {momentum = 0.9})
    assert_error_all({"StepLR", "optimizer"}, optim.lr_scheduler.StepLR, {}, 3)
    assert_error_all({"StepLR", "step_size"}, optim.lr_scheduler.StepLR, opt, 0)
    assert_error_all({"LambdaLR", "lr_lambda"}, optim.lr_scheduler.LambdaLR, opt, {})
    assert_error_all({"OneCycleLR", "total_steps"}, optim.lr_scheduler.OneCycleLR, opt, 0.1)
    assert_error_all({"OneCycleLR", "anneal_strategy"}, optim.lr_scheduler.OneCycleLR, opt, 0.1,
                         {total_steps = 5, anneal_strategy = "square"})
  end)

  it("a gradient of the wrong shape or dtype fails naming the optimizer", function()
    local p = lg.zeros(2, {dtype = "float64"}):requires_grad_()
    local opt = optim.Adam({p})
    p.grad = nil
    local ok, err = pcall(lg._adam_step, p, lg.zeros(3, {dtype = "float64"}), lg.zeros_like(p),
                          lg.zeros_like(p), nil, 1, 0.1, 0.9, 0.999, 1e-8, 0, false, false, false)
    assert.is_false(ok)
    assert.matches("adam: grad has shape {3}", err, 1, true)
    ok, err = pcall(lg._sgd_step, p, lg.zeros(2), nil, 0.1, 0, 0, 0, false, false, false)
    assert.is_false(ok)
    assert.matches("sgd: grad has dtype float32", err, 1, true)
    assert.is_not_nil(opt)
  end)
end)
