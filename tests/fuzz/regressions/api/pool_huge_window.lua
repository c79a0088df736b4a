-- api_fuzz seed 11: a pool with a kernel and stride of math.maxinteger
-- overflowed computing the output size (UBSan: signed integer overflow).
-- Windows longer than the input are an error naming the op (with
-- ceil_mode, one window clipped to the input); a huge stride with a small
-- kernel is one window, as in PyTorch.
local lg = require "luagrad"
local big = math.maxinteger
local x = lg.arange(16, {dtype = "float32"}):reshape(1, 1, 4, 4)
for _, ceil in ipairs({false, true}) do
  local ok, err = pcall(lg._avg_pool2d, x, big, big, big, big, 0, 0, ceil, true)
  if ceil then -- PyTorch's rule: one window, clipped to the input
    assert(ok and err:numel() == 1 and err:item() == 7.5, tostring(err))
  else
    assert(not ok and tostring(err):find("avg_pool2d"), tostring(err))
  end
  ok, err = pcall(lg._max_pool2d, x, 2, 2, 1, 1, 0, 0, big, big, ceil)
  assert(not ok and tostring(err):find("max_pool2d"), tostring(err))
  local y = lg._avg_pool2d(x, 2, 2, big, big, 0, 0, ceil, true)
  assert(y:numel() == 1 and y:item() == (0 + 1 + 4 + 5) / 4, tostring(y))
end
