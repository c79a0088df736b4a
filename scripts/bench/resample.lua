-- (14) padding and resampling forward + backward, batch 16, 16 channels,
-- 32x32: reflect pad 2, bilinear x2 upsample, unfold 3x3 (padding 1) of
-- the 32x32 input, and fold back; loss = sum of each result times a fixed
-- random gradient. One key per op.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"
local F = lg.F

lg.manual_seed(0)
local x = lg.randn(16, 16, 32, 32):requires_grad_()
local cases = {
  {"pad_reflect_fwd_bwd", function(t) return F.pad(t, {2, 2, 2, 2}, {mode = "reflect"}) end},
  {"upsample_bilinear_fwd_bwd",
   function(t) return F.interpolate(t, {scale_factor = 2, mode = "bilinear"}) end},
  {"unfold_fold_fwd_bwd",
   function(t) return F.fold(F.unfold(t, 3, {padding = 1}), {32, 32}, 3, {padding = 1}) end},
}
for _, c in ipairs(cases) do
  local up = lg.randn(c[2](x:detach()).shape)
  B.report(c[1], B.time(function()
    x.grad = nil
    (c[2](x) * up):sum():backward()
  end, {target_s = 0.1, reps = 5, warmup = 1}))
end
