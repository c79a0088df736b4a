-- (11) forward mode (issue 15): func.jvp of the 16-32-4 MLP over
-- functional_call with a tangent per parameter, beside the plain forward and
-- the double-vjp form it replaced; jacfwd and jacrev of a function R^16 ->
-- R^512; hessian of a scalar MLP loss in 64 parameters. The same keys in
-- forward_mode.py time PyTorch / functorch doing the same.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local nn, func = lg.nn, lg.func

lg.manual_seed(0)
local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
local params, tangents = {}, {}
for name, p in pairs(model:named_parameters()) do
  params[name] = p:detach()
  tangents[name] = lg.randn(p.shape)
end
local x = lg.randn(1, 16)
local function f(p) return func.functional_call(model, p, x) end
B.report("jvp_mlp_forward", B.time(function() return lg.no_grad(f, params) end))
B.report("jvp_mlp", B.time(function() return func.jvp(f, {params}, {tangents}) end))
B.report("jvp_mlp_double_vjp", B.time(function() return func._jvp_by_vjp(f, {params}, {tangents}) end))

local W, b = lg.randn(512, 16) * 0.25, lg.randn(512)
local function wide(v) return (W:matmul(v) + b):tanh() end
local v = lg.randn(16)
B.report("jacfwd_16_512", B.time(function() return func.jacfwd(wide)(v) end, {reps = 5}))
B.report("jacrev_16_512", B.time(function() return func.jacrev(wide)(v) end, {reps = 5}))

local xin = lg.randn(6)
local function loss(theta)
  local w1, w2 = theta:narrow(1, 1, 48):view(8, 6), theta:narrow(1, 49, 16):view(2, 8)
  return w2:matmul(w1:matmul(xin):tanh()):square():sum()
end
local theta = lg.randn(64) * 0.3
B.report("hessian_64", B.time(function() return func.hessian(loss)(theta) end, {reps = 5}))
