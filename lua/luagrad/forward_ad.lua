--- luagrad.forward_ad (also lg.autograd.forward_ad): forward-mode AD with
-- torch.autograd.forward_ad's semantics. A dual level is a layer of the
-- runtime's dispatch stack (runtime/autograd/dual.c); inside one, a tensor
-- made by make_dual carries a tangent, and every op on it computes its
-- output's tangent with the op's jvp rule as it runs:
--
--   local fwad = lg.autograd.forward_ad
--   do
--     local _ <close> = fwad.dual_level()
--     local x = fwad.make_dual(primal, tangent)
--     local y = f(x)
--     local value, jvp = fwad.unpack_dual(y)   -- jvp nil: no tangent
--   end
--
-- Levels nest: each dual_level() is a new level, innermost first for
-- make_dual and unpack_dual (or name one with the level argument). When a
-- level exits its tangents are gone.
-- @module autograd.forward_ad
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local forward_ad = {}

local Level = {}
Level.__index = Level
Level.__name = "luagrad.DualLevel"
function Level.__close(self)
  if self.open then
    self.open = false
    lg._dual_level_exit(self.level)
  end
end
function Level.__tostring(self)
  return ("DualLevel(%d%s)"):format(self.level, self.open and "" or ", exited")
end

--- dual_level() enters a new dual level and returns its guard, for a
--- to-be-closed variable: `local _ <close> = forward_ad.dual_level()`.
--- guard.level is the level's number. dual_level(fn, ...) runs fn(...)
--- inside a level and returns its results.
-- @usage forward_ad.dual_level(function() local y = f(forward_ad.make_dual(x, v)) end)
function forward_ad.dual_level(fn, ...)
  if fn ~= nil and not check.is_callable(fn) then
    raise("dual_level: expected no argument or a function, got " .. check.typename(fn))
  end
  local guard = setmetatable({level = lg._dual_level_enter(), open = true}, Level)
  if fn == nil then return guard end
  local _ <close> = guard
  return fn(...)
end

--- enter_dual_level() / exit_dual_level([level]): the same without a guard.
-- @usage local level = forward_ad.enter_dual_level()
function forward_ad.enter_dual_level() return lg._dual_level_enter() end
--- exit_dual_level([level]): closes the innermost dual level (or the one
-- given, which must be the innermost), as PyTorch's exit_dual_level.
-- @param level the level enter_dual_level returned (optional)
-- @usage local l = forward_ad.enter_dual_level(); ...; forward_ad.exit_dual_level(l)
function forward_ad.exit_dual_level(level) return lg._dual_level_exit(level) end

local function check_tensor(fname, what, v)
  if not lg.is_tensor(v) then
    raise(("%s: expected a tensor as %s, got %s"):format(fname, what, check.typename(v)))
  end
end

--- make_dual(primal, tangent[, level]): a view of primal carrying tangent
--- (same shape and dtype) at level (default: the innermost).
-- @usage local xd = forward_ad.make_dual(x, lg.ones_like(x))
function forward_ad.make_dual(primal, tangent, level)
  check_tensor("make_dual", "the primal (argument 1)", primal)
  check_tensor("make_dual", "the tangent (argument 2)", tangent)
  return lg._make_dual(primal, tangent, level)
end

--- unpack_dual(t[, level]) returns primal, tangent: a view of t without its
--- tangent at level (default: the innermost) and that tangent, nil when t
--- has none there (or no level is active).
-- @usage local y, dy = forward_ad.unpack_dual(f(xd))
function forward_ad.unpack_dual(t, level)
  check_tensor("unpack_dual", "argument 1", t)
  return lg._unpack_dual(t, level)
end

--- is_dual(t): whether t carries a tangent at an active level.
-- @usage forward_ad.is_dual(t)
function forward_ad.is_dual(t) return lg._is_dual(t) end

--- current_level(): the innermost active level's number, or nil.
-- @usage forward_ad.current_level() --> nil outside any dual level
function forward_ad.current_level() return lg._dual_level_current() end

return forward_ad
