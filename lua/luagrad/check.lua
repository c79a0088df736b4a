--- luagrad.check (internal): what the Lua library uses to check arguments
-- and report bad ones: errors raised at the user's line (the first caller
-- outside lua/luagrad/), the one options checker (its message is made by
-- the C binding's checker, lg._option_problem, so C and Lua read alike),
-- the luagrad names of values in messages ("tensor", "module", ...), and
-- the few helpers several files would otherwise each write (shape strings,
-- nn.functional's optional-argument parser, copies of option values).
-- @module check
local lg = require "luagrad"

local check = {}

--- raise(message): error(message) at the first frame outside the library
--- (C frames skipped too), so the message starts with the user's file and
--- line; with no such frame, the message alone. The frame comes from
--- lg._user_level (C), so the library needs no `debug` library.
function check.raise(message)
  local level = lg._user_level()
  if not level then return error(message, 0) end
  return error(message, level)
end
local raise = check.raise

--- typename(v): "tensor", "module", or Lua's type name (lg._typename).
check.typename = lg._typename

--- describe(v): a value for "got ..." messages: a tensor's dtype and
--- shape, a number, boolean or string with its value ("number 10"), else
--- its type name.
function check.describe(v)
  if lg.is_tensor(v) then
    return ("a %s tensor of shape %s"):format(v.dtype, check.shape_string(v))
  end
  local kind = type(v)
  if kind == "number" or kind == "boolean" then return kind .. " " .. tostring(v) end
  if kind == "string" then return ("string %q"):format(v) end
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

--- is_callable(v): a function, or a value whose metatable has __call (read
--- raw, as Lua does, so asking runs no metamethod: the REPL asks too).
function check.is_callable(v)
  return type(v) == "function" or lg._has_call(v)
end

--- options(fname, opts, allowed): opts ({} for nil) after checking that it
--- is a table whose keys are all in the set allowed ({name = true}; see
--- check.set); otherwise raises at the user's line:
--- `fname: unknown option "dtpye" (expected dtype, requires_grad)`.
-- The options of a call that gave none: one shared table, read-only so
-- that no caller can leak a default into the next call.
local NO_OPTIONS = setmetatable({}, {__newindex = function()
  error("check.options: the options of a call without options are read-only", 2)
end})

function check.options(fname, opts, allowed)
  if opts == nil then return NO_OPTIONS end
  if type(opts) ~= "table" or lg.is_tensor(opts) then
    raise(("%s: expected an options table, got %s"):format(fname, check.typename(opts)))
  end
  local problem = lg._option_problem(fname, opts, allowed)
  if problem then raise(problem) end
  return opts
end

--- copy_value(v): a copy of a plain option value (nested tables copied,
--- tensors and other values shared), for defaults and state dicts.
function check.copy_value(v)
  if type(v) ~= "table" or lg.is_tensor(v) then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = check.copy_value(x) end
  return out
end

--- is_options(v): whether v is a trailing options table: a plain table
-- (no metatable, so neither a tensor nor a module) without array part.
function check.is_options(v)
  return type(v) == "table" and getmetatable(v) == nil and rawlen(v) == 0
end
local is_options = check.is_options

--- optional_args(fname, names, defaults): a parser for the optional
--- arguments of fname (nn.functional's and the layers' calling convention):
--- names in PyTorch's positional order, defaults a table of their default
--- values. The parser takes the optional arguments (...), given
--- positionally and/or as one trailing options table, and returns a table
--- name -> value; unknown option names and too many arguments are errors.
function check.optional_args(fname, names, defaults)
  local known = {}
  for i, n in ipairs(names) do known[n] = i end
  local expected = table.concat(names, ", ")
  return function(...)
    local n = select("#", ...)
    local o = {}
    for k, v in pairs(defaults) do o[k] = v end
    if n > 0 then
      local last = select(n, ...)
      if is_options(last) then
        check.options(fname, last, known)
        for k, v in pairs(last) do o[k] = v end
        n = n - 1
      end
    end
    if n > #names then
      raise(string.format("%s: expected at most %d optional arguments (%s), got %d",
                          fname, #names, expected, n))
    end
    for i = 1, n do
      local v = select(i, ...)
      if v ~= nil then o[names[i]] = v end
    end
    return o
  end
end

--- set(names): {name = true} for an array of names.
function check.set(names)
  local out = {}
  for _, name in ipairs(names) do out[name] = true end
  return out
end

return check
