--- luagrad.repl: the Lua half of the `luagrad` REPL: how results are printed,
-- what Tab completes, and the globals (lg, nn, F, func, optim) that resolve
-- lazily at the prompt. The loop itself, line editing and Ctrl-C live in C
-- (lua/cli/repl.c); every function here is also usable from plain Lua.
--
-- Printing never calls user code except __tostring (tensors, modules), and
-- walks tables raw (next/rawget/rawlen), so a value with odd metamethods prints
-- as what it holds. Completion reads values without calling user code: raw
-- fields, __index tables, tensors, and libraries loaded on first use (see
-- peek below).
-- @module repl

local M = {}

-- How much of a table is shown: nesting depth and entries per table.
M.max_depth = 4
M.max_items = 100

-- M.width, the characters per line under which a table stays on one line
-- and at which tensors wrap, is luagrad's `linewidth` print option, so
-- `repl.width = 60` and `lg.set_printoptions{linewidth = 60}` are one
-- setting (of this Lua state). Without luagrad it is a value of its own.
local own_width = 80
local luagrad_or_false -- require "luagrad", or false when it is not there

local function luagrad()
  if luagrad_or_false == nil then
    local ok, lg = pcall(require, "luagrad")
    luagrad_or_false = ok and type(lg) == "table" and lg.get_printoptions
      and lg or false
  end
  return luagrad_or_false
end

setmetatable(M, {
  __index = function(_, key)
    if key ~= "width" then return nil end
    local lg = luagrad()
    return lg and lg.get_printoptions().linewidth or own_width
  end,
  __newindex = function(t, key, value)
    if key ~= "width" then return rawset(t, key, value) end
    local lg = luagrad()
    if lg then
      lg.set_printoptions{linewidth = value}
    elseif math.type(value) ~= "integer" or value < 1 then
      error("repl.width: expected an integer >= 1, got " .. tostring(value), 2)
    else
      own_width = value
    end
  end,
})

local keywords = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
  "true", "until", "while",
}
local is_keyword = {}
for _, k in ipairs(keywords) do is_keyword[k] = true end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
    and not is_keyword[s]
end

-- Properties that a tensor's __index answers besides its methods.
local tensor_properties = {
  "shape", "dtype", "ndim", "requires_grad", "grad", "grad_fn", "is_leaf",
}

-- -----------------------------------------------------------------------
-- printing

local function quote(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"):gsub("\r", "\\r"))
end

-- The metatable's __tostring, when the value has one (modules, tensors,
-- classes). debug.getmetatable sees past a __metatable field.
local function has_tostring(v)
  local mt = debug.getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "<" .. type(v) .. ": __tostring failed: " .. tostring(s) .. ">"
end

local function indent_lines(s, indent)
  return (s:gsub("\n", "\n" .. string.rep(" ", indent)))
end

local type_rank = { number = 1, string = 2 }

local function key_less(a, b)
  local ra, rb = type_rank[type(a)] or 3, type_rank[type(b)] or 3
  if ra ~= rb then return ra < rb end
  if ra == 3 then return tostring(a) < tostring(b) end
  return a < b
end

local render, rawtostring

local function render_key(k, path, indent)
  if is_identifier(k) then return k end
  if type(k) == "string" then return "[" .. quote(k) .. "]" end
  if math.type(k) == "float" and k ~= k then return "[nan]" end
  return "[" .. render(k, M.max_depth, path, indent, indent + 1) .. "]"
end

-- Renders v at nesting depth `depth`: a table's entries are indented by
-- indent + 2 and its closing brace by indent; the text of a __tostring
-- (tensors, modules) is shifted to `column`, where the value starts, so its
-- own alignment holds. Lines after the first are indented absolutely. path
-- holds the tables being rendered (the chain from the top), so a table met
-- again inside itself is a cycle.
function render(v, depth, path, indent, column)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if has_tostring(v) then
    return indent_lines(safe_tostring(v), column or indent)
  end
  if tv ~= "table" then return tostring(v) end
  if path[v] then return "<cycle: " .. rawtostring(v) .. ">" end
  if next(v) == nil then return "{}" end
  if depth >= M.max_depth then return "{...}" end
  path[v] = true
  local n = rawlen(v)
  local keys = {}
  for k in next, v do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, key_less)
  local entries, multiline, shown = {}, false, 0
  local total = n + #keys
  local function add(s)
    entries[#entries + 1] = s
    if s:find("\n", 1, true) then multiline = true end
  end
  for i = 1, n do
    if shown >= M.max_items then break end
    add(render(rawget(v, i), depth + 1, path, indent + 2, indent + 2))
    shown = shown + 1
  end
  for _, k in ipairs(keys) do
    if shown >= M.max_items then break end
    local ks = render_key(k, path, indent + 2)
    add(ks .. " = " .. render(rawget(v, k), depth + 1, path, indent + 2,
                              indent + 2 + #ks + 3))
    shown = shown + 1
  end
  if shown < total then add("... (" .. (total - shown) .. " more)") end
  path[v] = nil
  if not multiline then
    local line = "{" .. table.concat(entries, ", ") .. "}"
    if indent + #line <= M.width then return line end
  end
  local pad = string.rep(" ", indent + 2)
  return "{\n" .. pad .. table.concat(entries, ",\n" .. pad) .. "\n"
    .. string.rep(" ", indent) .. "}"
end

-- tostring without the __tostring metamethod ("table: 0x...").
function rawtostring(v)
  local mt = debug.getmetatable(v)
  if type(mt) ~= "table" or rawget(mt, "__tostring") == nil
     and rawget(mt, "__name") == nil then
    return tostring(v)
  end
  debug.setmetatable(v, nil)
  local s = tostring(v)
  debug.setmetatable(v, mt)
  return s
end

-- The text the REPL shows for one value: strings as they are (as the stock
-- lua REPL prints them), tensors and modules through tostring, tables nested,
-- depth-limited, with cycles marked.
function M.format(v)
  if type(v) == "string" then return v end
  return render(v, 0, {}, 0)
end

-- The text for every value of a multiple return: one line joined by tabs
-- when each value fits on one line, one value after the other otherwise.
-- nil when there are no values.
function M.format_values(...)
  local n = select("#", ...)
  if n == 0 then return nil end
  local parts, multiline = {}, false
  for i = 1, n do
    parts[i] = M.format((select(i, ...)))
    if parts[i]:find("\n", 1, true) then multiline = true end
  end
  return table.concat(parts, multiline and "\n" or "\t")
end

-- Writes the values of a multiple return to stdout (nothing for none).
function M.print_values(...)
  local s = M.format_values(...)
  if s then
    io.stdout:write(s, "\n")
    io.stdout:flush()
  end
end

-- -----------------------------------------------------------------------
-- lazy globals

-- Globals ready at the prompt, each the module of that name, loaded on
-- first use. A module that does not exist yet leaves its global nil.
M.lazy_globals = {
  lg = "luagrad",
  nn = "luagrad.nn",
  F = "luagrad.nn.functional",
  func = "luagrad.func",
  optim = "luagrad.optim",
  help = "luagrad.help",
}

-- Whether require(name) would find a module, without loading it.
local function module_available(name)
  if package.loaded[name] ~= nil or package.preload[name] ~= nil then
    return true
  end
  if package.searchpath(name, package.path) then return true end
  return package.searchpath(name, package.cpath) ~= nil
end

-- Loads a module; nil when it is not there, the error when it fails to load.
local function load_module(name)
  local ok, mod = pcall(require, name)
  if ok then return mod end
  if type(mod) == "string"
     and mod:find("module '" .. name .. "' not found", 1, true) then
    return nil
  end
  error(mod, 3)
end

-- Makes the lazy globals resolve in G (default _G) through a metatable
-- __index, keeping any __index that G already had.
function M.install_globals(G)
  G = G or _G
  local mt = getmetatable(G)
  if mt == nil then
    mt = {}
    setmetatable(G, mt)
  end
  local previous = mt.__index
  mt.__index = function(t, k)
    local name = M.lazy_globals[k]
    if name then
      local mod = load_module(name)
      if mod ~= nil then
        rawset(t, k, mod)
        return mod
      end
    end
    if type(previous) == "function" then return previous(t, k) end
    if type(previous) == "table" then return previous[k] end
    return nil
  end
end

-- -----------------------------------------------------------------------
-- completion

-- Completion evaluates the expression before the cursor's name only as far
-- as that has no side effects: it reads globals and fields, never calls.
-- A read takes the raw field, then follows __index tables; an __index
-- function runs only for a tensor (luagrad's C code: a property or a view)
-- and for a key the metatable's __lazy_keys lists (a library loaded on
-- first use, as lg.nn or nn.LSTM). Any other __index function may compute
-- or count, so the read stops there.
--
-- The __lazy_keys protocol: a metatable field holding function(obj) that
-- returns {name = module name or true}, the keys its __index resolves by
-- loading a library (the module name, when given, must be found by
-- require); completion lists them without loading anything.

-- The placeholder value of a lazy name that is not loaded yet.
local NOT_LOADED = {}

local function is_tensor(obj)
  local mt = debug.getmetatable(obj)
  return type(mt) == "table" and rawget(mt, "__name") == "luagrad.Tensor"
end

-- The lazy keys of obj ({name = module name or true}), or nil.
local function lazy_keys(obj)
  if obj == _G then return M.lazy_globals end
  local mt = debug.getmetatable(obj)
  local keys_of = type(mt) == "table" and rawget(mt, "__lazy_keys")
  if type(keys_of) ~= "function" then return nil end
  local ok, keys = pcall(keys_of, obj)
  return ok and type(keys) == "table" and keys or nil
end

-- obj[key] as completion may read it (see above); nil where it may not.
local function peek(obj, key)
  for _ = 1, 64 do -- a longer __index chain is a cycle
    if type(obj) == "table" then
      local v = rawget(obj, key)
      if v ~= nil then return v end
    end
    local mt = debug.getmetatable(obj)
    local index = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(index) ~= "function" then
      if type(index) ~= "table" then return nil end
      obj = index
    else
      local lazy = lazy_keys(obj)
      if not is_tensor(obj) and not (lazy and lazy[key]) then return nil end
      local ok, v = pcall(index, obj, key)
      if ok then return v end
      return nil
    end
  end
  return nil
end

-- Adds to `found` (name -> value) the identifier keys of obj: its own
-- fields, those reachable through __index tables of its metatables, tensor
-- methods and properties, and the lazy keys whose library can be found
-- (as NOT_LOADED).
local function collect(obj, found, seen)
  if seen[obj] then return end
  seen[obj] = true
  if type(obj) == "table" then
    for k, v in next, obj do
      if is_identifier(k) and found[k] == nil then found[k] = v end
    end
  end
  for k, name in pairs(lazy_keys(obj) or {}) do
    if is_identifier(k) and found[k] == nil
       and (name == true or type(name) == "string" and module_available(name)) then
      found[k] = NOT_LOADED
    end
  end
  local mt = debug.getmetatable(obj)
  if type(mt) ~= "table" then return end
  local index = rawget(mt, "__index")
  if type(index) == "table" then
    collect(index, found, seen)
  elseif type(index) == "function" and not is_tensor(obj) then
    collect(mt, found, seen) -- a class with an __index function keeps its
  end                        -- methods in itself, as a rule
  if is_tensor(obj) then
    local lg = package.loaded.luagrad
    if type(lg) == "table" and type(rawget(lg, "Tensor")) == "table" then
      collect(rawget(lg, "Tensor"), found, seen)
    end
    for _, k in ipairs(tensor_properties) do
      if found[k] == nil then found[k] = true end
    end
  end
end

-- The key inside the brackets that end text at `close`: a number or a
-- quoted string (without escapes); returns the key and the position of
-- '[', or nil for anything else (an expression would have to be run).
local function bracket_key(text, close)
  local head = text:sub(1, close)
  local open, _, body = head:match("()%[%s*([\"'])(.-)%2%s*%]$")
  if open and not body:find("\\", 1, true) then return body, open end
  local number
  open, number = head:match("()%[%s*([%-%w%.]+)%s*%]$")
  number = tonumber(number)
  if not number then return nil end
  return math.tointeger(number) or number, open
end

-- The expression ending `text` as the chain of keys it reads: a global
-- name, then fields, numbers or strings; and its last name, partly typed.
-- Returns keys (empty for a bare name), the separator before that name
-- ("." or ":"; nil for a bare name) and the prefix; nil when the chain
-- holds a call, a literal or anything else that is not a plain read.
local function parse_chain(text)
  local prefix = text:match("[%w_]*$")
  local i = #text - #prefix
  local sep = text:sub(i, i)
  if prefix:match("^%d") then return nil end
  if sep ~= "." and sep ~= ":" or text:sub(i - 1, i) == ".." then
    return {}, nil, prefix
  end
  local keys = {}
  i = i - 1
  while true do
    local c = text:sub(i, i)
    if c == "]" then
      local key, open = bracket_key(text, i)
      if key == nil then return nil end
      table.insert(keys, 1, key)
      i = open - 1
    elseif c:match("[%w_]") then
      local name = text:sub(1, i):match("[%w_]+$")
      if not is_identifier(name) then return nil end
      table.insert(keys, 1, name)
      i = i - #name
      local before = text:sub(i, i)
      if before == ":" then return nil end -- a method call inside
      if before ~= "." or text:sub(i - 1, i) == ".." then break end
      i = i - 1
    else
      return nil -- ')' of a call, a string, a table constructor, ...
    end
  end
  if type(keys[1]) ~= "string" then return nil end -- `[1].x`: no root
  return keys, sep, prefix
end

local function common_prefix(list)
  local p = list[1] or ""
  for i = 2, #list do
    local s, j = list[i], 0
    while j < #p and j < #s and p:byte(j + 1) == s:byte(j + 1) do j = j + 1 end
    p = p:sub(1, j)
  end
  return p
end

local is_callable = require("luagrad.check").is_callable

-- The names that can complete the Lua expression ending `text` (the line up
-- to the cursor): returns the sorted candidates for its last name, that
-- name's typed prefix, and the table name -> value they came from and the
-- value whose names they are. Handles globals and keywords, chains of
-- fields and indexes (`a.b[1]["c"].d`, through tables, metatables and lazy
-- libraries, see peek) and `obj:method` (callables only); not chains with
-- a call. Names starting with "_" are offered only when the prefix does,
-- those starting with "__" (metamethods) when it starts with "__".
function M.candidates(text)
  local keys, sep, prefix = parse_chain(text)
  if keys == nil then return {}, text:match("[%w_]*$") end
  local found, obj = {}, _G
  for _, key in ipairs(keys) do
    local t = type(obj)
    if t ~= "table" and t ~= "userdata" and t ~= "string" then return {}, prefix end
    obj = peek(obj, key)
    if obj == nil then return {}, prefix end
  end
  collect(obj, found, {})
  if sep == nil then
    for _, k in ipairs(keywords) do found[k] = found[k] or false end
  end
  local list = {}
  local private = prefix:sub(1, 1) == "_"
  local dunder = prefix:sub(1, 2) == "__"
  for k, v in pairs(found) do
    if k:sub(1, #prefix) == prefix
       and (dunder or k:sub(1, 2) ~= "__") and (private or k:sub(1, 1) ~= "_")
       and (sep ~= ":" or is_callable(v)) then
      list[#list + 1] = k
    end
  end
  table.sort(list)
  return list, prefix, found, obj
end

-- Lays out names in columns that fit `width` characters.
function M.columns(list, width)
  width = width or M.width
  local longest = 0
  for _, s in ipairs(list) do longest = math.max(longest, #s) end
  local column = longest + 2
  local per_row = math.max(1, (width - 1) // column)
  local rows = {}
  for i = 1, #list, per_row do
    local row = {}
    for j = i, math.min(i + per_row - 1, #list) do
      row[#row + 1] = list[j] .. string.rep(" ", column - #list[j])
    end
    rows[#rows + 1] = (table.concat(row):gsub("%s+$", ""))
  end
  return table.concat(rows, "\n")
end

local help_name_at, help_candidates

-- The name being typed as help's argument: `help("nn.Li` and `:help nn.Li`
-- give "nn.Li" and what closes the call once the name is complete.
function help_name_at(text)
  local quote, name = text:match("help%s*%(%s*([\"'])([%w_.:]*)$")
  if name then return name, quote .. ")" end
  name = text:match("^%s*:h[elp]*%s+([%w_.:]*)$")
  if name then return name, "" end
  return nil
end

-- The names luagrad.help knows that start with prefix.
function help_candidates(prefix)
  local ok, help = pcall(require, "luagrad.help")
  if not ok then return {} end
  local list = {}
  for _, n in ipairs(help.names()) do
    if n:sub(1, #prefix) == prefix then list[#list + 1] = n end
  end
  return list
end

-- What Tab does at the end of `text`: returns the text to insert (the rest
-- of the common prefix of the candidates; a unique callable also gets "(")
-- and, when there is nothing to insert but several candidates, their list
-- laid out for a terminal `width` wide.
function M.complete(text, width)
  local name, closing = help_name_at(text)
  if name then
    local list = help_candidates(name)
    if #list == 0 then return "", nil end
    local insert = common_prefix(list):sub(#name + 1)
    if #list == 1 then insert = insert .. closing end
    if insert ~= "" or #list == 1 then return insert, nil end
    return "", M.columns(list, width)
  end
  local list, prefix, found, obj = M.candidates(text)
  if #list == 0 then return "", nil end
  local common = common_prefix(list)
  local insert = common:sub(#prefix + 1)
  local only = list[1]
  if #list == 1 and found[only] == NOT_LOADED then
    found[only] = peek(obj, only) -- one library to load, the one typed
  end
  if #list == 1 and is_callable(found[only]) then insert = insert .. "(" end
  if insert ~= "" or #list == 1 then return insert, nil end
  return "", M.columns(list, width)
end

return M
