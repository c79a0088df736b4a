-- api_fuzz seeds 5 and 9: neg and abs of an int64 holding math.mininteger
-- negated a signed integer past its range (UBSan: undefined behaviour).
local lg = require "luagrad"
for _, f in ipairs({"neg", "abs"}) do
  pcall(lg[f], lg.tensor(math.mininteger))
  pcall(lg[f], lg.tensor({-2147483648}, {dtype = "int32"}))
end
