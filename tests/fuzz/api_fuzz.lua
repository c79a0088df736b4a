-- api_fuzz.lua: calls random public functions of luagrad with random
-- arguments, each under pcall, then checks the library still computes
-- correctly. Usage: luagrad tests/fuzz/api_fuzz.lua [calls [seed]]
-- (default 20000 calls, seed 1; the same seed makes the same calls).
--
-- Targets: the functions of lg (the underscore ones the Lua library calls
-- too, except those that touch files), the tensor methods of lg.Tensor,
-- the operators and indexing of tensors, lg.nn.functional, lg.autograd,
-- lg.func, and a few nn layers built and called with random arguments.
-- Arguments: tensors of random shapes (0-d and empty included), dtypes,
-- strides (transposed, expanded views) and requires_grad; numbers (nan,
-- inf, huge, negative, 0, small integers); nil; strings; tables (shapes,
-- options, nested, empty, lists of tensors); functions; booleans; and
-- results of earlier calls. Any Lua error is fine; a crash, a sanitizer
-- report or a wrong result afterwards is a finding. Sizes stay small
-- (results above 4096 elements are not reused), so no call can ask for
-- more than a few megabytes unless the library miscomputes a size.
--
-- In a sandboxing host (tests/embed/test_embed_sandbox.c sets the global
-- FUZZ_SANDBOX and lg, with no require, io, os or debug), the functions
-- that touch files are fuzzed too, and each must refuse.
local sandboxed = rawget(_G, "FUZZ_SANDBOX") ~= nil
local lg = sandboxed and rawget(_G, "lg") or require "luagrad"
local calls = tonumber(arg and arg[1]) or 20000
local seed = tonumber(arg and arg[2]) or 1
math.randomseed(seed)
lg.manual_seed(seed)
local R = math.random

local function pick(list) return list[R(#list)] end

-- the functions that read or write files: called only inside a sandbox,
-- where each must be refused
local file_functions = {
  _safetensors_save = true, _safetensors_load = true, _npy_save = true,
  _npy_load = true, _idx_load = true, _write_file = true, _file_exists = true,
}
-- set_num_threads is process-wide; _vmap_enter/_vmap_exit enter and leave
-- vmap levels (func.vmap pairs them)
local skip = {set_num_threads = true, _write = true, _warn = true, _vmap_enter = true, _vmap_exit = true}
if not sandboxed then
  for name in pairs(file_functions) do skip[name] = true end
end

---------------------------------------------------------------------------
-- values

local dtypes = {"float32", "float64", "int32", "int64", "uint8", "bool"}
local numbers = {0, -0.0, 1, -1, 2, 3, -2, 0.5, -1.5, 1e-300, 1e300, -1e300,
  0 / 0, math.huge, -math.huge, math.maxinteger, math.mininteger, 2 ^ 63,
  -(2 ^ 63), 2 ^ 53 + 1, 1e18, 4, 5, 6, -7}
local strings = {"", "float32", "float64", "int64", "bool", "uint8", "sum",
  "mean", "none", "ij,jk->ik", "i->", "abc", "1", "-1", "nan", "\0", "weight",
  "reflect", "zeros", "tanh", "relu", "x", ("y"):rep(300)}

local pool = {} -- tensors from earlier calls (bounded)
local function remember(v)
  if lg.is_tensor(v) then
    local ok, n = pcall(v.numel, v)
    if ok and type(n) == "number" and n <= 4096 then
      if #pool < 48 then pool[#pool + 1] = v else pool[R(#pool)] = v end
    end
  end
end

local function random_shape()
  local ndim = R(0, 4)
  local shape = {}
  for i = 1, ndim do shape[i] = R(0, 9) == 0 and 0 or R(1, 4) end
  return shape
end

local function random_tensor()
  local shape = random_shape()
  local dtype = pick(dtypes)
  local ok, t = pcall(function()
    local floaty = dtype == "float32" or dtype == "float64"
    local t
    if floaty then t = lg.randn(shape, {dtype = dtype}) * R(1, 3)
    elseif dtype == "bool" then t = lg.randint(0, 2, shape):to("bool")
    else t = lg.randint(dtype == "uint8" and 0 or -3, 5, shape, {dtype = dtype}) end
    if floaty and R(6) == 1 and t:numel() > 0 then
      t = t:masked_fill(lg.rand(shape):lt(0.3), pick({0 / 0, math.huge, -math.huge}))
    end
    local r = R(8)
    if r == 1 and #shape >= 2 then t = t:transpose(1, 2)
    elseif r == 2 and #shape >= 1 and shape[1] == 1 then
      local to = {} for i = 1, #shape do to[i] = shape[i] end
      to[1] = 3
      t = t:expand(to)
    elseif r == 3 and floaty then t = t:detach():requires_grad_(true)
    elseif r == 4 and floaty then t = (t:detach():requires_grad_(true) * 2) -- a non-leaf
    end
    return t
  end)
  if ok then return t end
  return lg.zeros(2)
end

local value -- forward declaration

local function random_table(depth)
  local r = R(9)
  if r == 1 then return {} end
  if r == 2 then return random_shape() end
  if r == 3 then -- nested numbers, rectangular or ragged
    local t = {}
    for i = 1, R(0, 3) do
      local row = {}
      for j = 1, R(2, 3) do row[j] = pick(numbers) end
      t[i] = row
    end
    return t
  end
  if r == 4 then -- options
    local o = {}
    if R(2) == 1 then o.dtype = pick(R(4) == 1 and strings or dtypes) end
    if R(2) == 1 then o.keepdim = R(2) == 1 end
    if R(3) == 1 then o.requires_grad = value(depth + 1) end
    if R(3) == 1 then o.dim = value(depth + 1) end
    if R(4) == 1 then o.reduction = pick({"mean", "sum", "none", "bogus"}) end
    if R(4) == 1 then o.padding = value(depth + 1) end
    if R(4) == 1 then o.stride = value(depth + 1) end
    if R(4) == 1 then o.out = value(depth + 1) end
    if R(4) == 1 then o.create_graph = true end
    if R(4) == 1 then o.retain_graph = true end
    return o
  end
  if r == 5 then -- list of tensors
    local t = {}
    for i = 1, R(0, 3) do t[i] = #pool > 0 and R(2) == 1 and pick(pool) or random_tensor() end
    return t
  end
  if r == 6 then return {{}, {{}}} end
  if r == 7 then return {1, {2, 3}, "x"} end
  if r == 8 then return setmetatable({}, {__index = function() error("trap") end}) end
  local t = {}
  for i = 1, R(1, 3) do t[i] = value(depth + 1) end
  return t
end

local function random_function()
  local r = R(5)
  if r == 1 then return function() error("raised by a fuzz callback") end end
  if r == 2 then return function(...) return ... end end
  if r == 3 then return function(x) if lg.is_tensor(x) then return x:sum() end return x end end
  if r == 4 then local t = #pool > 0 and pick(pool) or lg.ones(1)
    return function() return t end end
  return function() end
end

function value(depth)
  depth = depth or 0
  local r = R(20)
  if depth > 2 then r = R(11) end
  if r <= 7 then return #pool > 0 and R(2) == 1 and pick(pool) or random_tensor() end
  if r <= 10 then return pick(numbers) end
  if r == 11 then return nil end
  if r <= 13 then return pick(strings) end
  if r <= 16 then return random_table(depth) end
  if r == 17 then return random_function() end
  if r == 18 then return R(2) == 1 end
  if r == 19 then return R(-2, 4) end
  return pick(dtypes)
end

---------------------------------------------------------------------------
-- targets

local targets = {} -- {name, fn, self_first}

local function add_functions(prefix, tbl, self_first)
  local names = {}
  for name, fn in pairs(tbl) do
    if type(fn) == "function" and not skip[name] then names[#names + 1] = name end
  end
  table.sort(names) -- pairs order is not fixed; the seed should be
  for _, name in ipairs(names) do
    targets[#targets + 1] = {prefix .. name, tbl[name], self_first}
  end
end

add_functions("lg.", lg, false)
add_functions("Tensor:", lg.Tensor, true)
add_functions("F.", lg.nn.functional, false)
add_functions("autograd.", lg.autograd, false)
add_functions("func.", lg.func, false)
if sandboxed then -- every public function that opens a path
  add_functions("io.", lg.io, false)
  for _, name in ipairs({"load_idx", "fashion_mnist"}) do
    targets[#targets + 1] = {"data." .. name, lg.data[name], false}
  end
  targets[#targets + 1] = {"utils.svg_curves", lg.utils.svg_curves, false}
  for _, name in ipairs({"save", "load", "save_npy", "load_npy", "load_idx",
                         "fashion_mnist", "svg_curves"}) do
    file_functions[name] = true
  end
end

local operators = {
  function(a, b) return a + b end, function(a, b) return a - b end,
  function(a, b) return a * b end, function(a, b) return a / b end,
  function(a, b) return a % b end, function(a, b) return a ^ b end,
  function(a) return -a end, function(a) return #a end,
  function(a) return tostring(a) end, function(a, b) return a[b] end,
  function(a, b, c) a[b] = c end, function(a, b) return a == b end,
  function(a, b) return a < b end, function(a, b) return a .. b end,
  function(a) return a.shape, a.dtype, a.grad, a.grad_fn, a.is_leaf end,
  function(a, b) a.grad = b end, function(a, b) a.requires_grad = b end,
  function(a) return a() end,
}
for i, op in ipairs(operators) do targets[#targets + 1] = {"operator" .. i, op, true} end

local nn = lg.nn
local layers = {
  function(...) return nn.Linear(...) end, function(...) return nn.Conv2d(...) end,
  function(...) return nn.Conv1d(...) end, function(...) return nn.LayerNorm(...) end,
  function(...) return nn.BatchNorm1d(...) end, function(...) return nn.Embedding(...) end,
  function(...) return nn.MaxPool2d(...) end, function(...) return nn.Dropout(...) end,
  function(...) return nn.GRU(...) end, function(...) return nn.MultiheadAttention(...) end,
  function(...) return nn.Sequential(...) end, function(...) return nn.GroupNorm(...) end,
}
local modules = {}
targets[#targets + 1] = {"nn layer", function(...)
  local m = pick(layers)(...)
  if #modules < 8 then modules[#modules + 1] = m else modules[R(#modules)] = m end
  return m
end, false}
targets[#targets + 1] = {"nn forward", function(...)
  if #modules == 0 then return nil end
  return pick(modules)(...)
end, false}
targets[#targets + 1] = {"nn method", function(a, b)
  if #modules == 0 then return nil end
  local m = pick(modules)
  local method = pick({"state_dict", "load_state_dict", "parameters", "to", "train",
                       "eval", "zero_grad", "named_parameters", "__tostring"})
  if method == "__tostring" then return tostring(m) end
  return m[method](m, a, b)
end, false}

---------------------------------------------------------------------------
-- the run

local counts = {ok = 0, error = 0}
local internal = {} -- errors from inside the Lua library that look like bugs
local function note_error(name, err)
  counts.error = counts.error + 1
  local msg = tostring(err)
  local where = msg:match("^(.-:%d+):")
  -- only errors raised inside the library's own Lua files, by public names
  if where and where:find("luagrad/", 1, true) and not name:find("%._")
     and (msg:find("attempt to", 1, true) or msg:find("bad argument", 1, true)
          or msg:find("stack overflow", 1, true)) then
    local key = name .. " @ " .. where
    if not internal[key] then internal[key] = msg end
  end
end

-- a runaway Lua loop inside one call ends it (C calls can't loop forever)
local sethook = rawget(_G, "debug") and debug.sethook or function() end
local function guard()
  sethook(function() error("fuzz: instruction budget of one call exceeded") end, "", 1e7)
end

local started = lg.wall_time()
for i = 1, calls do
  local target = targets[R(#targets)]
  local n = R(0, 4)
  local args = {}
  for k = 1, n do args[k] = value(0) end
  if target[3] and R(5) > 1 then args[1] = #pool > 0 and R(2) == 1 and pick(pool) or random_tensor() end
  if target[3] then n = math.max(n, 1) end
  guard()
  local results = table.pack(pcall(target[2], table.unpack(args, 1, n)))
  sethook()
  if sandboxed and results[1] and file_functions[target[1]:match("[%w_]+$")] then
    error("api_fuzz: " .. target[1] .. " was not refused in the sandbox")
  end
  if results[1] then
    counts.ok = counts.ok + 1
    for k = 2, math.min(results.n, 4) do remember(results[k]) end
  else
    note_error(target[1], results[2])
  end
  -- the library's global modes go back to defaults now and then
  if i % 97 == 0 then
    lg.set_grad_enabled(true)
    if lg.autograd.set_detect_anomaly then lg.autograd.set_detect_anomaly(false) end
  end
  if i % 1000 == 0 then collectgarbage() end
end

---------------------------------------------------------------------------
-- afterwards: the library still works

pool, modules = nil, nil
collectgarbage()
collectgarbage()
-- after the collection: a no_grad()/enable_grad() guard a call left
-- unclosed restores the grad mode it saw when it is collected
lg.set_grad_enabled(true)
if lg.autograd.set_detect_anomaly then lg.autograd.set_detect_anomaly(false) end

local function check(cond, what)
  if not cond then error("api_fuzz: the library is broken after the fuzz: " .. what, 2) end
end
local A = lg.tensor({{1, 2}, {3, 4}}, {dtype = "float64", requires_grad = true})
local loss = A:matmul(A):sum()
check(loss:item() == 54, "sum(A @ A) = " .. tostring(loss:item()))
loss:backward()
local want = {{7, 11}, {9, 13}}
for r = 1, 2 do for c = 1, 2 do
  check(A.grad[r][c] == want[r][c], ("grad[%d][%d] = %s"):format(r, c, tostring(A.grad[r][c])))
end end
lg.manual_seed(3)
local lin = nn.Linear(3, 2)
local x = lg.ones(4, 3)
local y = lin(x)
local expect = (x:matmul(lin.weight:t()) + lin.bias)
check((y - expect):abs():max():item() < 1e-6, "nn.Linear")
check(lg.zeros(0, 3):sum(1):numel() == 3, "empty reduction")
check(lg.is_grad_enabled(), "grad mode")

local elapsed = lg.wall_time() - started
print(("api_fuzz: %d calls (seed %d) over %d targets in %.1f s: %d returned, %d raised; "
  .. "the library still works"):format(calls, seed, #targets, elapsed, counts.ok, counts.error))
local keys = {}
for k in pairs(internal) do keys[#keys + 1] = k end
table.sort(keys)
if #keys > 0 then
  print(("api_fuzz: %d distinct internal-looking errors (Lua library bugs or unchecked arguments):")
    :format(#keys))
  for _, k in ipairs(keys) do print("  " .. k .. ": " .. internal[k]:sub(1, 200)) end
end
