-- A Lua error on one rank ends the whole job (run by tests/distributed/run.sh,
-- which expects this script to fail within its time limit): rank 2 raises
-- while the others wait in a collective that rank 2 never joins.
local lg = require "luagrad"
local distributed = lg.distributed
local rank = distributed.init()
if rank == 2 then error("deliberate failure on rank 2") end
distributed.all_reduce(lg.ones(4)) -- blocks forever unless the job is aborted
print("unreachable: rank " .. rank .. " passed the collective")
