-- scripts/examples/maml.lua: model-agnostic meta-learning (MAML) on
-- sine-wave regression, the functorch example. Teaches: a network as a
-- pure function of a parameter table (func.functional_call), the inner
-- adaptation step written with func.grad, and the meta-gradient taken
-- THROUGH that step by an outer func.grad (second order: gradients of
-- gradients), against the first-order approximation that cuts it. The
-- meta-loss and meta-gradient on fixed tasks are checked against
-- functorch's (tests/fixtures/generate_examples.py); then the network is
-- meta-trained on random tasks and adapted to a new sine in one step.
--
-- Run: build/luagrad scripts/examples/maml.lua [--short]
-- (--short, the suite's run: 30 meta-iterations instead of 2000).
local lg = require "luagrad"
local nn, F, func = lg.nn, lg.nn.functional, lg.func
local R = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/reference.lua")

local ref = R.load("maml")
local net = nn.Sequential(nn.Linear(1, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(),
                          nn.Linear(20, 1)):double()
local INNER_LR = ref.inner_lr

local function mse(p, x, y)
  return F.mse_loss(func.functional_call(net, p, x), y)
end

-- One inner step of plain gradient descent on a task's support set. The
-- gradient stays differentiable, so an outer grad differentiates through it.
local function adapt(p, xs, ys)
  local g = func.grad(mse)(p, xs, ys)
  local adapted = {}
  for k, v in pairs(p) do adapted[k] = v - INNER_LR * g[k] end
  return adapted
end

-- The meta-loss: the query loss after adaptation, averaged over tasks.
-- first_order cuts the inner gradient out of the graph (FOMAML).
local function meta_loss(p, tasks, first_order)
  local total = 0
  for _, task in ipairs(tasks) do
    local xs, ys, xq, yq = task[1], task[2], task[3], task[4]
    local adapted
    if first_order then
      local g = func.grad(mse)(p, xs, ys)
      adapted = {}
      for k, v in pairs(p) do adapted[k] = v - INNER_LR * g[k]:detach() end
    else
      adapted = adapt(p, xs, ys)
    end
    total = total + mse(adapted, xq, yq)
  end
  return total / #tasks
end

local function tasks_of(list)
  local tasks = {}
  for i, t in ipairs(list) do
    tasks[i] = {R.tensor(t[1]), R.tensor(t[2]), R.tensor(t[3]), R.tensor(t[4])}
  end
  return tasks
end

print("maml: an MLP 1-20-20-1 meta-learns sine waves y = A sin(x + phase)")
local params = R.named(ref.params)
local tasks = tasks_of(ref.tasks)
local loss = meta_loss(params, tasks)
R.check("meta-loss on 2 fixed tasks", loss, R.tensor(ref.meta_loss), 1e-10)
local meta_grad = func.grad(meta_loss)(params, tasks)
local fo_grad = func.grad(function(p) return meta_loss(p, tasks, true) end)(params)
local expected = R.named(ref.meta_grad)
local expected_fo = R.named(ref.first_order_grad)
local worst, worst_fo, gap = 0, 0, 0
for name in pairs(expected) do
  worst = math.max(worst, R.maxdiff(meta_grad[name], expected[name]))
  worst_fo = math.max(worst_fo, R.maxdiff(fo_grad[name], expected_fo[name]))
  gap = math.max(gap, R.maxdiff(meta_grad[name], fo_grad[name]))
end
print(("  %-34s max |difference| from PyTorch %.2e"):format("second-order meta-gradient", worst))
print(("  %-34s max |difference| from PyTorch %.2e"):format("first-order meta-gradient", worst_fo))
print(("  second- and first-order gradients differ by up to %.3e"):format(gap))
assert(worst < 1e-9 and worst_fo < 1e-9, "meta-gradients differ from PyTorch's")
assert(gap > 1e-6, "the second-order terms vanished")

-- Meta-training on random tasks: Adam on the meta-gradient, 5 tasks per
-- meta-batch, 10 support and 10 query points each.
local function sine_task(n)
  local amplitude = 0.1 + 4.9 * math.random()
  local phase = math.pi * math.random()
  local xs = lg.rand(n, 1, {dtype = "float64"}) * 10 - 5
  local xq = lg.rand(n, 1, {dtype = "float64"}) * 10 - 5
  return {xs, (xs + phase):sin() * amplitude, xq, (xq + phase):sin() * amplitude}
end
math.randomseed(0)
lg.manual_seed(0)
local iterations = R.short() and 30 or 2000
-- optim.fn.adam is the pure form: update(params, grads, state) returns new
-- tables, which suits func.grad's parameter tables.
local tx = lg.optim.fn.adam{lr = 1e-3}
local state = tx.init(params)
local first, last
for it = 1, iterations do
  local batch = {}
  for i = 1, 5 do batch[i] = sine_task(10) end
  local g, value = func.grad_and_value(meta_loss)(params, batch)
  params, state = tx.update(params, g, state)
  first = first or value:item()
  last = value:item()
  if it % math.max(1, iterations // 5) == 0 then
    print(("  meta-iteration %4d: query loss after one step %.3f"):format(it, last))
  end
end
assert(first == first and last == last, "meta-training diverged")

-- Adapt to a new sine from 10 points with ONE gradient step.
local task = sine_task(10)
local before = mse(params, task[3], task[4]):item()
local after = mse(adapt(params, task[1], task[2]), task[3], task[4]):item()
print(("  new task: query loss %.3f before adapting, %.3f after one step"):format(before, after))
print("maml: ok")
