-- jvp_step.lua: forward-mode work of a small MLP (a jvp over its
-- parameters, a Hessian-vector product as jvp of grad, an in-place op on a
-- dual tensor inside a dual level), the second workload tests/fuzz/alloc_host.c
-- runs while the tensor allocator fails at the k-th allocation. Returns a
-- checksum of the results, so a rerun can be compared.
local lg = require "luagrad"
local nn, F, func = lg.nn, lg.nn.functional, lg.func
local fwad = lg.autograd.forward_ad
lg.manual_seed(7)
local model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
local x = lg.randn(6, 4)
local y = lg.tensor({1, 2, 3, 1, 2, 3})
local params, tangents = {}, {}
for name, p in pairs(model:named_parameters()) do
  params[name] = p:detach()
  tangents[name] = lg.ones_like(p) * 0.5
end
local function loss(p) return F.cross_entropy(func.functional_call(model, p, x), y) end
local value, jvp = func.jvp(loss, {params}, {tangents})
local _, hvp = func.jvp(func.grad(loss), {params}, {tangents})
local sum = value:item() + jvp:item()
for _, h in pairs(hvp) do sum = sum + h:sum():item() end
do
  local _ <close> = fwad.dual_level()
  local d = fwad.make_dual(x, lg.ones_like(x)):clone()
  d:mul_(2):exp_()
  sum = sum + select(2, fwad.unpack_dual(d)):sum():item()
end
return sum
