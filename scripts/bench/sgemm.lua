-- (6) sgemm (1024,1024) x (1024,1024) float32 through lg.mm; compared by the
-- driver against sgemm_direct (cblas_sgemm called from C).
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"

lg.manual_seed(0)
local a, b = lg.randn(1024, 1024), lg.randn(1024, 1024)
B.report("sgemm", B.time(function() return lg.mm(a, b) end, {target_s = 0.02, reps = 9, warmup = 2}))
