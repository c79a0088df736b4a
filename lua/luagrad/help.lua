--- Help at the REPL: the reference text of luagrad's public functions,
-- classes and methods, read from the doc comments that the build cuts out
-- of the sources (lg._doc_text, lua/binding/tools/embed_docs.c), so it
-- needs neither LDoc nor the sources at run time.
--
-- `help(value)` or `help("name")` prints an entry; `help()` lists the
-- sub-libraries. The same lookups serve the doc-coverage check of the test
-- suite (`help.public_names`, `help.find`) and Tab completion after
-- `help("` (`help.names`).
-- @module help
-- @usage help(lg.func.grad); help("nn.Linear"); help(t.sum); help()

local lg = require "luagrad"

local M = {}

-- The sub-libraries help() lists, with what each holds.
local LIBRARIES = {
  {"lg", "tensors: creation, math, reductions, shapes, indexing, random, grad mode"},
  {"lg.Tensor", "tensor methods (t:sum(), t:backward(), ...) and properties"},
  {"lg.nn", "modules and layers (nn.Linear, nn.LSTM, ...), nn.Module, nn.init, nn.utils"},
  {"lg.nn.functional", "the functional form of the layers and losses (also lg.F)"},
  {"lg.func", "torch.func transforms: grad, vjp, jvp, jacrev, jacfwd, hessian, vmap, functional_call"},
  {"lg.autograd", "autograd.grad, backward, Function, gradcheck, anomaly mode, forward_ad"},
  {"lg.optim", "optimizers (SGD, Adam, AdamW, ...), optim.fn, optim.lr_scheduler"},
  {"lg.data", "DataLoader, TensorDataset, IDX and Fashion-MNIST loading"},
  {"lg.io", "save and load tensors and state dicts (safetensors, npy)"},
  {"lg.utils", "progress bars, svg curves, timing and formatting helpers"},
  {"lg.distributed", "MPI data parallelism: collectives and DistributedDataParallel"},
}

-- The libraries walked for public names: the path and how to reach it.
local ROOTS = {
  {"lg", function() return lg end},
  {"lg.Tensor", function() return lg.Tensor end},
  {"lg.nn", function() return lg.nn end},
  {"lg.nn.functional", function() return lg.nn.functional or lg.F end},
  {"lg.nn.init", function() return lg.nn.init end},
  {"lg.nn.utils", function() return lg.nn.utils end},
  {"lg.nn.utils.parametrize", function() return lg.nn.utils.parametrize end},
  {"lg.func", function() return lg.func end},
  {"lg.func.tree", function() return lg.func.tree end},
  {"lg.autograd", function() return lg.autograd end},
  {"lg.autograd.forward_ad", function() return require "luagrad.forward_ad" end},
  {"lg.optim", function() return lg.optim end},
  {"lg.optim.fn", function() return lg.optim.fn end},
  {"lg.optim.lr_scheduler", function() return lg.optim.lr_scheduler end},
  {"lg.data", function() return lg.data end},
  {"lg.io", function() return lg.io end},
  {"lg.utils", function() return lg.utils end},
  {"lg.utils.progress", function() return require "luagrad.progress" end},
  {"lg.utils.plot", function() return require "luagrad.plot" end},
  {"lg.distributed", function() return lg.distributed end},
}

-- Methods a class's own doc comment covers (its constructor and forward).
local CLASS_COVERED = {init = true, forward = true, extra_repr = true}

-- -----------------------------------------------------------------------
-- the doc comments

-- The public name of a definition line's subject: "grad" of
-- "function func.grad(f, opts)", "Linear" of "local Linear = ...".
local function defined_name(def)
  return def:match("^local%s+function%s+([%w_]+)")
    or def:match("^function%s+[%w_.:]-([%w_]+)%s*%(")
    or def:match("^local%s+([%w_]+)%s*=")
    or def:match("^[%w_.]-([%w_]+)%s*=")
end

-- The public path of the names a Lua file defines.
local FILE_PREFIX = {
  ["nn/init.lua"] = "lg.nn", ["nn/init_fns.lua"] = "lg.nn.init",
  ["nn/parametrize.lua"] = "lg.nn.utils.parametrize", ["nn/module.lua"] = "lg.nn",
  ["nn/containers.lua"] = "lg.nn", ["forward_ad.lua"] = "lg.autograd.forward_ad",
  ["tree.lua"] = "lg.func.tree", ["func_call.lua"] = "lg.func", ["func_vmap.lua"] = "lg.func",
  ["progress.lua"] = "lg.utils.progress", ["plot.lua"] = "lg.utils.plot",
  ["distributed_ddp.lua"] = "lg.distributed",
}

local function file_prefix(file)
  local rel = file:match("luagrad/(.*)$") or file
  if FILE_PREFIX[rel] then return FILE_PREFIX[rel] end
  if rel:match("^nn/layers") then return "lg.nn" end
  return "lg." .. rel:gsub("%.lua$", ""):gsub("/", ".")
end

-- The path a Lua definition line gives its subject under the file's
-- prefix: "autograd.detect_anomaly = ..." -> "detect_anomaly",
-- "function Module:train(" -> "Module.train"; nil for locals.
local function defined_path(def)
  if def:match("^local%s+function") then return nil end
  local target = def:match("^function%s+([%w_.:]+)%s*%(") or def:match("^([%w_.:]+)%s*=")
    or def:match("^local%s+(%u[%w_]*)%s*=")
  if not target then return nil end
  local parts = {}
  for part in target:gmatch("[%w_]+") do parts[#parts + 1] = part end
  if #parts > 1 and parts[1]:match("^%l") then table.remove(parts, 1) end
  return table.concat(parts, ".")
end

local entries_by_file, entries_by_name, all_entries

-- The tags of a comment: @function, @module, @submodule, @within, ...
local function tag(text, name)
  return text:match("\n%s*@" .. name .. "%s+([^\n]+)") or
    text:match("^%s*@" .. name .. "%s+([^\n]+)")
end

local function add_name(name, e)
  entries_by_name[name] = entries_by_name[name] or e
end

local function parse()
  if all_entries then return end
  entries_by_file, entries_by_name, all_entries = {}, {}, {}
  local text = lg._doc_text and lg._doc_text() or ""
  local module_of = {}
  for record in text:gmatch("\x1e([^\x1e]*)") do
    local kind, file, line, def, body =
      record:match("^(%a+)\x1f([^\x1f]*)\x1f(%d+)\x1f([^\x1f]*)\x1f(.*)$")
    if kind then
      local e = {kind = kind, file = file, line = tonumber(line), def = def,
                 text = body}
      local mod = tag(body, "module") or tag(body, "submodule")
      if mod then module_of[file] = mod:match("^%S+") end
      local fn = tag(body, "function") or tag(body, "table") or tag(body, "type")
      e.name = fn and fn:match("^%S+") or (def ~= "" and defined_name(def)) or nil
      e.module = module_of[file]
      all_entries[#all_entries + 1] = e
      local by_file = entries_by_file[file] or {}
      entries_by_file[file] = by_file
      by_file[e.line] = e
      if kind == "lua" then
        local path = fn and fn:match("^(%S+)") or defined_path(def)
        if path then add_name(file_prefix(file) .. "." .. path:gsub(":", "."), e) end
      end
      if kind == "c" and e.name then
        local qualified = e.name:gsub(":", ".")
        if not qualified:find(".", 1, true) and e.module then
          qualified = e.module .. "." .. qualified
        end
        if not qualified:match("^lg%.") then qualified = "lg." .. qualified end
        if qualified:match("^lg%.lg%.") then qualified = qualified:sub(4) end
        add_name(qualified, e)
      end
    end
  end
end

-- The entry documenting Lua function f: the comment right above the line
-- that defines it, in the file its chunk was loaded from.
local function entry_at(f)
  local info = debug.getinfo(f, "S")
  if info.what ~= "Lua" then return nil end
  local source = info.source:gsub("\\", "/")
  for file, by_file in pairs(entries_by_file) do
    local e = by_file[info.linedefined]
    if e and e.kind == "lua" and source:sub(-#file) == file then return e end
  end
  return nil
end

-- The entry of a class (a table with an init): the comment above the line
-- that makes it, in the file of its init, named like the class.
local function class_entry(class, key)
  local init = rawget(class, "init")
  if type(init) ~= "function" then return nil end
  local info = debug.getinfo(init, "S")
  local source = info.source:gsub("\\", "/")
  for file, by_file in pairs(entries_by_file) do
    if source:sub(-#file) == file then
      for _, e in pairs(by_file) do
        if e.name == key and e.kind == "lua" then return e end
      end
    end
  end
  return nil
end

local function is_class(v)
  return type(v) == "table" and type(rawget(v, "init")) == "function"
end

-- The names a C function at path may be documented under: its own path,
-- a tensor method's function of the same name (t:sum is lg.sum), an
-- in-place method's out-of-place op (t:exp_ is lg.exp).
local function candidates(path)
  local list = {path}
  local method = path:match("^lg%.Tensor%.([%w_]+)$")
  if method then list[#list + 1] = "lg." .. method end
  for i = 1, #list do
    local base = list[i]:match("^(.-)_$")
    if base and not base:match("%.$") then list[#list + 1] = base end
  end
  return list
end

local seeking_alias = false

--- The doc entry of a value reached at path ("lg.func.grad"), or nil.
-- @param value the function or class
-- @param path its public name
-- @return a table {text, file, line, name}, or nil when it has no doc comment
function M.find(value, path)
  parse()
  local e
  if type(value) == "function" then e = entry_at(value) end
  if not e and is_class(value) then e = class_entry(value, path:match("([%w_]+)$")) end
  if not e and path then
    for _, c in ipairs(candidates(path)) do
      e = entries_by_name[c]
      if e then break end
    end
  end
  if not e and path and not seeking_alias then
    -- an alias: the same value under another public name that has one
    seeking_alias = true
    for _, p in ipairs(M.public_names()) do
      if p.path ~= path and rawequal(p.value, value) then
        e = M.find(p.value, p.path)
        if e then break end
      end
    end
    seeking_alias = false
  end
  return e
end

-- -----------------------------------------------------------------------
-- walking the exported tables

local function sorted_keys(t)
  local keys = {}
  for k in next, t do
    if type(k) == "string" and k:match("^[%a][%w_]*$") then keys[#keys + 1] = k end
  end
  local mt = debug.getmetatable(t)
  local lazy = type(mt) == "table" and rawget(mt, "__lazy_keys")
  if type(lazy) == "function" then
    local ok, more = pcall(lazy, t)
    if ok and type(more) == "table" then
      for k in pairs(more) do
        if type(k) == "string" and rawget(t, k) == nil then keys[#keys + 1] = k end
      end
    end
  end
  table.sort(keys)
  return keys
end

local function get(t, k)
  local ok, v = pcall(function() return t[k] end)
  return ok and v or nil
end

local public_cache

--- Every public function and class of luagrad, as an array of
-- {path, value, kind} sorted by path (kind: "function", "class", "method").
-- Loads every sub-library. The doc-coverage check walks this list.
-- @return the array
function M.public_names()
  if public_cache then return public_cache end
  local list, seen_path = {}, {}
  local function add(path, value, kind)
    if not seen_path[path] then
      seen_path[path] = true
      list[#list + 1] = {path = path, value = value, kind = kind}
    end
  end
  local root_tables = {}
  local roots = {}
  for _, r in ipairs(ROOTS) do
    local ok, t = pcall(r[2])
    if ok and type(t) == "table" then
      roots[#roots + 1] = {r[1], t}
      root_tables[t] = true
    end
  end
  local function class_methods(path, class)
    for _, k in ipairs(sorted_keys(class)) do
      local v = rawget(class, k)
      if type(v) == "function" and not CLASS_COVERED[k] then
        add(path .. "." .. k, v, "method")
      end
    end
  end
  for _, r in ipairs(roots) do
    local path, t = r[1], r[2]
    for _, k in ipairs(sorted_keys(t)) do
      local v = get(t, k)
      local p = path .. "." .. k
      if type(v) == "function" then
        add(p, v, path == "lg.Tensor" and "method" or "function")
      elseif is_class(v) and not root_tables[v] then
        add(p, v, "class")
        class_methods(p, v)
      elseif type(v) == "table" and not root_tables[v] and k:match("^%u") then
        -- a base class without init of its own (optim.Optimizer)
        class_methods(p, v)
      end
    end
  end
  table.sort(list, function(a, b) return a.path < b.path end)
  public_cache = list
  return list
end

-- name -> value of every public name, also under the short forms a user
-- types ("nn.Linear", "func.grad", "Tensor.sum", "sum").
local lookup_cache
local function lookup_table()
  if lookup_cache then return lookup_cache end
  lookup_cache = {}
  for _, p in ipairs(M.public_names()) do
    lookup_cache[p.path] = p
    local short = p.path:gsub("^lg%.", "")
    if lookup_cache[short] == nil then lookup_cache[short] = p end
  end
  for _, p in ipairs(M.public_names()) do
    local short = p.path:gsub("^lg%.nn%.functional%.", "F.")
    if lookup_cache[short] == nil then lookup_cache[short] = p end
  end
  return lookup_cache
end

--- The names help("...") knows, sorted (for Tab completion).
-- @return an array of strings
function M.names()
  local names = {}
  for name in pairs(lookup_table()) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- The path of a value given to help(value): the first public name it has.
local function path_of(value)
  for _, p in ipairs(M.public_names()) do
    if rawequal(p.value, value) then return p end
  end
  return nil
end

-- -----------------------------------------------------------------------
-- formatting

local TAG_TITLES = {param = "Parameters", ["return"] = "Returns",
                    usage = "Example", raise = "Errors", see = "See also",
                    field = "Fields", tparam = "Parameters",
                    treturn = "Returns"}
local HIDDEN_TAGS = {["function"] = true, module = true, submodule = true,
                     within = true, type = true, table = true, local_ = true,
                     classmod = true, ["local"] = true, class = true}

--- The text help prints for an entry: a title line, the description and
-- its tagged sections (Parameters, Returns, Example), indented.
-- @param e an entry of help.find
-- @param path the name it was asked for
-- @return a string
function M.format(e, path)
  local lines = {}
  local title = path:gsub("^lg%.Tensor%.", "Tensor:")
  if e.kind == "lua" and e.def ~= "" then
    local params = e.def:match("function[^(]*(%b())")
    if params then title = title .. params end
  end
  lines[#lines + 1] = title
  local section
  for line in (e.text .. "\n"):gmatch("([^\n]*)\n") do
    local name, opt, rest = line:match("^%s*@([%w_]+)(%[?[%w_]*%]?)%s*(.*)$")
    if name then
      if not HIDDEN_TAGS[name] then
        local t = TAG_TITLES[name] or name
        if t ~= section then
          lines[#lines + 1] = t .. ":"
          section = t
        end
        if name == "param" or name == "tparam" or name == "field" then
          local pname, desc = rest:match("^(%S+)%s*(.*)$")
          if opt == "[opt]" then desc = "(optional) " .. (desc or "") end
          lines[#lines + 1] = ("  %s  %s"):format(pname or rest, desc or "")
        else
          lines[#lines + 1] = "  " .. rest
        end
      end
    elseif section then
      if line:match("%S") then lines[#lines + 1] = "    " .. line:gsub("^%s+", "") end
    else
      lines[#lines + 1] = "  " .. line
    end
  end
  while lines[#lines] and not lines[#lines]:match("%S") do lines[#lines] = nil end
  local where = ("(%s:%d)"):format(e.file, e.line)
  lines[#lines + 1] = "  " .. where
  return table.concat(lines, "\n")
end

-- -----------------------------------------------------------------------
-- suggestions

local function distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

--- The public names closest to a name that is not one (at most n, default 5).
-- @param name the unknown name
-- @param n how many
-- @return an array of names, closest first
function M.suggest(name, n)
  n = n or 5
  local scored = {}
  local lower = name:lower()
  local paths = {}
  for _, p in ipairs(M.public_names()) do paths[p.path] = true end
  for _, p in ipairs(M.public_names()) do
    local method = p.path:match("^lg%.Tensor%.(.*)$")
    if method and paths["lg." .. method] then goto continue end -- t:sum is lg.sum
    local path = p.path:gsub("^lg%.", "")
    local last = path:match("([%w_]+)$")
    local d = math.min(distance(lower, path:lower()), distance(lower, last:lower()))
    if path:lower():find(lower, 1, true) then d = d - 1 end
    scored[#scored + 1] = {path, d}
    ::continue::
  end
  table.sort(scored, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  local out = {}
  for i = 1, math.min(n, #scored) do out[i] = scored[i][1] end
  return out
end

-- -----------------------------------------------------------------------
-- help itself

local function overview()
  local lines = {"luagrad: help(name or value) shows a function's reference, e.g.",
                 "  help(lg.func.grad)   help(\"nn.Linear\")   help(t.sum)   :help lg.sum",
                 "Sub-libraries:"}
  for _, l in ipairs(LIBRARIES) do
    lines[#lines + 1] = ("  %-18s %s"):format(l[1], l[2])
  end
  lines[#lines + 1] = "The HTML reference: cmake --build build --target docs (build/docs/index.html)."
  return table.concat(lines, "\n")
end

-- A library table's functions, for help(lg.func).
local function library_listing(path, t)
  local names = {}
  for _, p in ipairs(M.public_names()) do
    local rest = p.path:sub(#path + 2)
    if p.path:sub(1, #path + 1) == path .. "." and not rest:find(".", 1, true) then
      names[#names + 1] = rest
    end
  end
  if #names == 0 then return nil end
  local _ = t
  return path .. ": " .. table.concat(names, ", ")
end

--- The help text of a value or a name (what help prints), or nil and a
-- message saying what is unknown and the closest names.
-- @param what a function, class, library table, or a name ("nn.Linear",
-- "lg.func.grad", "Tensor.sum", "sum"); nil for the overview
-- @return the text, or nil and the message
function M.text(what)
  if what == nil then return overview() end
  local p
  if type(what) == "string" then
    local name = what:gsub("^%s+", ""):gsub("%s+$", ""):gsub(":", ".")
      :gsub("%(%)$", "")
    local lookup = lookup_table()
    p = lookup[name] or lookup["lg." .. name] or lookup["Tensor." .. name]
      or lookup["lg.Tensor." .. name]
    if not p then
      for _, r in ipairs(ROOTS) do
        if r[1] == name or r[1] == "lg." .. name then
          local ok, t = pcall(r[2])
          if ok then return library_listing(r[1], t) end
        end
      end
      return nil, ("help: no entry named '%s'; closest: %s"):format(
        what, table.concat(M.suggest(name), ", "))
    end
  else
    p = path_of(what)
    if not p and lg.is_tensor(what) then
      return library_listing("lg.Tensor", lg.Tensor)
    end
    if not p and type(what) == "table" then
      p = path_of(getmetatable(what)) -- a module: its class
    end
    if not p then
      for _, r in ipairs(ROOTS) do
        local ok, t = pcall(r[2])
        if ok and rawequal(t, what) then return library_listing(r[1], t) end
      end
      return nil, ("help: %s is not a public luagrad function, class or library"):format(
        tostring(what))
    end
  end
  local e = M.find(p.value, p.path)
  if not e then
    return nil, ("help: %s has no doc comment yet"):format(p.path)
  end
  return M.format(e, p.path)
end

--- help(what): prints the reference of a function, class, method or
-- library, given as a value or a name; help() lists the sub-libraries.
-- Unknown names print the closest known ones.
-- @param what a value or a name (optional)
-- @usage help(lg.func.grad)
function M.help(what)
  local text, message = M.text(what)
  io.stdout:write((text or message), "\n")
  io.stdout:flush()
end

return setmetatable(M, {__call = function(_, what) return M.help(what) end})
