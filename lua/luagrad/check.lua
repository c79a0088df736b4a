-- luagrad.check (internal): what the Lua library uses to check arguments
-- and report bad ones: errors raised at the user's line (the first caller
-- outside lua/luagrad/), the one options checker (its message is made by
-- the C binding's checker, lg._option_problem, so C and Lua read alike),
-- and the luagrad names of values in messages ("tensor", "module", ...).
local lg = require "luagrad"

local check = {}

-- "@/path/to/lua/luagrad/": every library file's chunk name starts so.
local LIBRARY = debug.getinfo(1, "S").source:match("^(@.*[/\\])") or "@"

--- raise(message): error(message) at the first frame outside the library
--- (C frames skipped too), so the message starts with the user's file and
--- line; with no such frame, the message alone.
function check.raise(message)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return error(message, 0) end
    if info.what ~= "C" and info.source:sub(1, #LIBRARY) ~= LIBRARY then
      return error(message, level)
    end
    level = level + 1
  end
end
local raise = check.raise

--- typename(v): "tensor", "module", or Lua's type name (lg._typename).
check.typename = lg._typename

--- describe(v): a value for "got ..." messages: a tensor's dtype and
--- shape, a number, boolean or string itself, else its type name.
function check.describe(v)
  if lg.is_tensor(v) then
    return ("a %s tensor of shape %s"):format(v.dtype, check.shape_string(v))
  end
  local kind = type(v)
  if kind == "number" or kind == "boolean" then return tostring(v) end
  if kind == "string" then return ("%q"):format(v) end
  return check.typename(v)
end

--- shape_string(t_or_shape): "{2,3}" for a tensor or an array of sizes.
function check.shape_string(t)
  local s = lg.is_tensor(t) and t.shape or t
  local parts = {}
  for i = 1, #s do parts[i] = tostring(s[i]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

--- shape_of(t): a fresh array copy of t's sizes.
function check.shape_of(t)
  local s, out = t.shape, {}
  for i = 1, #s do out[i] = s[i] end
  return out
end

--- is_callable(v): a function, or a value whose metatable has __call.
function check.is_callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

--- options(fname, opts, allowed): opts ({} for nil) after checking that it
--- is a table whose keys are all in allowed (a set {name = true} or an
--- array of names); otherwise raises at the user's line:
--- `fname: unknown option "dtpye" (expected dtype, requires_grad)`.
function check.options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" or lg.is_tensor(opts) then
    raise(("%s: expected an options table, got %s"):format(fname, check.typename(opts)))
  end
  if allowed[1] ~= nil then allowed = check.set(allowed) end
  local problem = lg._option_problem(fname, opts, allowed)
  if problem then raise(problem) end
  return opts
end

--- set(names): {name = true} for an array of names.
function check.set(names)
  local out = {}
  for _, name in ipairs(names) do out[name] = true end
  return out
end

return check
