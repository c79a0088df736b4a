-- api_fuzz seeds 2, 11 and others: functions of the Lua library that
-- failed inside (attempt to call / compare / do arithmetic on a wrong
-- value) on arguments they did not check. Each is now an error naming
-- the function.
local lg = require "luagrad"
local F = lg.nn.functional
local x, y = lg.zeros(3), lg.ones(3)
local function refuses(fname, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok and tostring(err):find(fname, 1, true) and
         not tostring(err):find("attempt to", 1, true), tostring(err))
end
refuses("smooth_l1_loss", F.smooth_l1_loss, x, y, {beta = true})
refuses("huber_loss", F.huber_loss, x, y, {delta = "1"})
refuses("embedding", F.embedding, lg.tensor({1, 2}, {dtype = "int64"}), lg.zeros(3, 2), x)
refuses("backward", lg.autograd.backward, {x, "y"})
refuses("gradcheck", lg.autograd.gradcheck, "fn", {x})
refuses("gradgradcheck", lg.autograd.gradgradcheck, true, {x})
assert(F.smooth_l1_loss(x, y, {beta = 0.5}):item() == 0.75)
