--- luagrad.func_compile: func.compile, the Lua face of lg._compile
-- (lua/binding/compile_lua.c: the guard, the plan cache, the replay) and of
-- the trace (runtime/compile: every kernel call of one run of f recorded
-- into a plan whose intermediates share one arena, replayed in C).
-- @module func_compile
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local M = {}

-- How a guard that falls back says so: once, on stderr when there is one.
local function warn(message)
  local io_lib = rawget(_G, "io")
  if io_lib and io_lib.stderr then
    io_lib.stderr:write(message, "\n")
  else
    print(message)
  end
end

--- compile(f, opts) returns a function with f's signature and results that
--- traces f once per guard and replays the recorded ops in C.
-- A guard is the grad mode and, for every argument (through tables), the
-- dtype, shape, strides and requires_grad of each tensor, which earlier
-- tensor it repeats, and the value of each number, string and boolean
-- (other values by identity). A call with a new guard runs f once,
-- recording each op into a plan, and returns f's results; later calls with
-- that guard replay the plan: no Lua per op, intermediates in one arena
-- planned by liveness, results bit-identical to f. Tensors f reads from
-- upvalues are read at every replay (in-place updates are seen; rebinding
-- one needs `compiled:reset()`).
-- @param f the function (or callable table) to compile
-- @param opts optional table: max_plans (plans kept, least recently used
-- out first, default 8), reuse_outputs (return the same result tensors on
-- every call, overwritten, in the same result tables: a steady-state
-- replay allocates nothing),
-- fallback (a trace that turns out data-dependent, say through `item`,
-- runs that guard eagerly from then on, saying so once, instead of
-- raising), fuse (default true: chains of elementwise ops, and a full
-- sum/mean they feed, run as one pass over memory in tiles, bit-identical
-- to the per-op replay; false replays every op on its own)
-- @return the compiled function, with methods plan_info() and reset()
-- @usage local step = func.compile(function(x) return (x * 2 + 1):tanh() end)
-- local y = step(lg.randn(3))   -- traced
-- y = step(lg.randn(3))         -- replayed
-- print(step:plan_info().ops)   -- 3
function M.compile(f, opts)
  if not check.is_callable(f) then
    raise(("compile: expected a function, got %s"):format(check.typename(f)))
  end
  opts = check.options("compile", opts, {max_plans = true, reuse_outputs = true,
                                         fallback = true, fuse = true})
  local max_plans = opts.max_plans == nil and 8 or opts.max_plans
  if math.type(max_plans) ~= "integer" or max_plans < 1 then
    raise(("compile: max_plans must be a positive integer, got %s"):format(
      check.typename(max_plans)))
  end
  if type(f) ~= "function" then -- a callable table (a module)
    local callable = f
    f = function(...) return callable(...) end
  end
  return lg._compile(f, max_plans, opts.reuse_outputs and true or false,
                     opts.fallback and true or false, warn,
                     opts.fuse ~= false)
end

return M
