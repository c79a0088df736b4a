-- scripts/examples/physics_informed.lua: a physics-informed network. A
-- small MLP u(t) is fitted, with no data at all, to the ODE u'(t) = -u(t)
-- on [0, 2] with u(0) = 1 (whose solution is exp(-t)): the loss is the mean
-- squared residual u' + u at 21 collocation points plus the squared error
-- of the initial condition. Teaches: a derivative of the output with
-- respect to the INPUT inside the loss, by lg.autograd.grad with
-- create_graph = true (so the loss stays differentiable in the
-- parameters: loss:backward() then goes through the derivative, second
-- order), and the same derivative from func.vmap(func.grad(u)) per point.
-- The loss, its parameter gradient and the loss after 50 Adam steps are
-- checked against PyTorch's (tests/fixtures/generate_examples.py).
--
-- Run: build/luagrad scripts/examples/physics_informed.lua [--short]
-- (--short, the suite's run: 300 Adam steps instead of 3000).
local lg = require "luagrad"
local nn, func = lg.nn, lg.func
local R = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/reference.lua")

local ref = R.load("pinn")
local u = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                        nn.Linear(16, 1)):double()
R.load_params(u, R.named(ref.params))
local t = R.tensor(ref.t) -- {21, 1}, 0 .. 2

-- du/dt at every t: each output depends on its own t only, so the gradient
-- of their sum with respect to t is the vector of derivatives.
local function residual_loss()
  local tt = t:detach():requires_grad_()
  local out = u(tt)
  local du = lg.autograd.grad(out:sum(), tt, {create_graph = true})[1]
  local residual = du + out
  local u0 = u(lg.zeros(1, 1, {dtype = "float64"}))
  return (residual ^ 2):mean() + ((u0 - 1) ^ 2):sum()
end

print("physics_informed: fit u' = -u, u(0) = 1 on [0, 2] with an MLP 1-16-16-1")
local loss = residual_loss()
R.check("loss at initialisation", loss, R.tensor(ref.loss), 1e-10)
loss:backward()
local grads = R.named(ref.grads)
local worst = 0
for name, p in pairs(u:named_parameters()) do
  worst = math.max(worst, R.maxdiff(p.grad, grads[name]))
end
print(("  %-34s max |difference| from PyTorch %.2e"):format("d loss / d parameters", worst))
assert(worst < 1e-9, "the parameter gradient differs from PyTorch's")

-- The same derivative the torch.func way: grad of the scalar u(t) per point.
local params = {}
for name, p in pairs(u:named_parameters()) do params[name] = p:detach() end
local function u_scalar(ti) return func.functional_call(u, params, ti:view(1, 1)):sum() end
local du_func = func.vmap(func.grad(u_scalar))(t)
local tt = t:detach():requires_grad_()
local du_autograd = lg.autograd.grad(u(tt):sum(), tt)[1]
R.check("vmap(grad(u)) vs autograd.grad", du_func, du_autograd, 1e-12, "autograd")

-- Training with Adam; after 50 steps the loss matches PyTorch's run.
local opt = lg.optim.Adam(u:parameters(), {lr = ref.adam_lr})
local steps = R.short() and 300 or 3000
for step = 1, steps do
  opt:zero_grad()
  local l = residual_loss()
  l:backward()
  opt:step()
  if step == ref.adam_steps then
    R.check("loss after 50 Adam steps", residual_loss():detach(),
            R.tensor(ref.loss_after_adam), 1e-8)
  end
  if step % (steps // 5) == 0 then
    print(("  step %4d: loss %.3e"):format(step, l:item()))
  end
end
local test = lg.linspace(0, 2, 101, {dtype = "float64"}):view(101, 1)
local err = lg.no_grad(function() return (u(test) - (-test):exp()):abs():max():item() end)
print(("  max |u(t) - exp(-t)| on [0, 2] after %d steps: %.2e"):format(steps, err))
assert(err < (R.short() and 0.1 or 0.01), "the network did not learn the solution")
print("physics_informed: ok")
