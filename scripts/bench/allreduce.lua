-- scripts/bench/allreduce.lua: lg.distributed.all_reduce (sum, in place, with
-- the default header check) of 25 MB of float32, timed as
-- allreduce_direct.c times MPI_Allreduce: a barrier, then one call; the
-- median of 15. Run under mpirun; rank 1 prints
-- "BENCH allreduce_25MB <microseconds>". With the argument "nocheck" the
-- calls skip the header exchange ({check = false}).
local lg = require "luagrad"
local distributed = lg.distributed
local rank = distributed.init()
local REPS = 15
local opts = {check = not (arg and arg[1] == "nocheck")}
local buffer = lg.arange(25 * 1024 * 1024 // 4):remainder(1000):float() * 1e-6
local samples = {}
for r = -1, REPS do -- two warm-up calls
  distributed.barrier()
  local t0 = lg.wall_time()
  distributed.all_reduce(buffer, opts)
  if r >= 1 then samples[r] = lg.wall_time() - t0 end
end
table.sort(samples)
if rank == 1 then print(string.format("BENCH allreduce_25MB %.1f", samples[(REPS + 1) // 2] * 1e6)) end
