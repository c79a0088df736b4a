-- helpers.lua: shared code of the busted specs: PyTorch fixtures, building
-- tensors from fixture entries, running a fixture case and comparing results.
--
-- Load from a spec with
--   local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")

local lg = require "luagrad"
local luassert = require "luassert"

local H = {}
H.lg = lg
H.root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
H.fixture_path = H.root .. "/tests/fixtures/tensor_ops.lua"

---------------------------------------------------------------------------
-- small utilities

local function is_tensor(v)
  if lg.is_tensor then return lg.is_tensor(v) == true end
  return type(v) == "userdata"
end
H.is_tensor = is_tensor

local function shape_str(shape)
  local parts = {}
  for i = 1, #shape do parts[i] = tostring(shape[i]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
H.shape_str = shape_str

-- The shape of a tensor as a plain array (t.shape, copied).
function H.shape(t)
  local s, out = t.shape, {}
  for i = 1, #s do out[i] = s[i] end
  return out
end

local function flatten_into(v, out)
  if type(v) == "table" then
    for i = 1, #v do flatten_into(v[i], out) end
  else
    out[#out + 1] = v
  end
  return out
end

-- All elements of a tensor, row-major, as a flat Lua array (via tolist).
function H.values(t)
  return flatten_into(t:tolist(), {})
end

local function num(v)
  if v == true then return 1 elseif v == false then return 0 end
  return v
end

local function fmt(v)
  if type(v) == "number" then return string.format("%.9g", v) end
  return tostring(v)
end

-- The 1-based multi-index of flat position i (1-based) in shape.
local function multi_index(shape, i)
  local idx, rest = {}, i - 1
  for d = #shape, 1, -1 do
    idx[d] = rest % shape[d] + 1
    rest = rest // shape[d]
  end
  return "(" .. table.concat(idx, ",") .. ")"
end

---------------------------------------------------------------------------
-- fixtures

local fixtures
function H.fixtures()
  if not fixtures then fixtures = dofile(H.fixture_path) end
  return fixtures
end

-- The fixture cases of one group ("elementwise", "reduce", ...).
function H.cases(group)
  local out = {}
  for _, c in ipairs(H.fixtures().cases) do
    if c.group == group then out[#out + 1] = c end
  end
  assert(#out > 0, "no fixture cases in group " .. group)
  return out
end

-- Nested Lua tables of shape from a flat array.
local function nest(data, shape)
  local pos = 0
  local function build(d)
    local t = {}
    for i = 1, shape[d] do
      if d == #shape then
        pos = pos + 1
        t[i] = data[pos]
      else
        t[i] = build(d + 1)
      end
    end
    return t
  end
  return build(1)
end
H.nest = nest

-- A tensor from a fixture entry {shape=, dtype=, data=}.
function H.tensor(entry)
  if #entry.shape == 0 then
    return lg.tensor(entry.data[1], {dtype = entry.dtype})
  end
  return lg.tensor(nest(entry.data, entry.shape), {dtype = entry.dtype})
end

-- A tensor's fixture entry {shape=, dtype=, data=} (to compare two tensors).
function H.entry_of(t)
  return {shape = H.shape(t), dtype = t.dtype, data = H.values(t)}
end

---------------------------------------------------------------------------
-- comparison

local INTEGER_DTYPES = {int32 = true, int64 = true, uint8 = true, bool = true}

-- Compares two numbers; returns ok, excess (how far beyond tolerance).
local function close(a, e, rtol, atol, exact)
  a, e = num(a), num(e)
  if type(a) ~= "number" then return false, math.huge end
  if e ~= e then return a ~= a, (a ~= a) and 0 or math.huge end
  if a ~= a then return false, math.huge end
  if exact or e == math.huge or e == -math.huge then
    return a == e, (a == e) and 0 or math.huge
  end
  local diff = math.abs(a - e)
  local tol = atol + rtol * math.abs(e)
  return diff <= tol, diff / (tol > 0 and tol or 1e-300)
end

-- Checks actual (a tensor) against expected {shape=, dtype=, data=} or
-- {number=}; returns true or false plus a message naming the worst element.
function H.compare(actual, expected, rtol, atol, allow_number)
  rtol, atol = rtol or 0, atol or 0
  if expected.number ~= nil then
    if type(actual) ~= "number" and type(actual) ~= "boolean" then
      return false, "expected a Lua number " .. fmt(expected.number) .. ", got " ..
        (is_tensor(actual) and ("a tensor " .. tostring(actual)) or type(actual))
    end
    local ok = close(actual, expected.number, rtol, atol, false)
    if not ok then
      return false, "expected number " .. fmt(expected.number) .. ", got " .. fmt(actual)
    end
    return true
  end
  if allow_number and #expected.shape == 0 and type(actual) == "number" then
    return H.compare(actual, {number = expected.data[1]}, rtol, atol)
  end
  if not is_tensor(actual) then
    return false, "expected a tensor of shape " .. shape_str(expected.shape) .. ", got " ..
      type(actual) .. " " .. tostring(actual)
  end
  local shape = H.shape(actual)
  if shape_str(shape) ~= shape_str(expected.shape) then
    return false, "shape: expected " .. shape_str(expected.shape) .. ", got " .. shape_str(shape)
  end
  if actual.dtype ~= expected.dtype then
    return false, "dtype: expected " .. tostring(expected.dtype) .. ", got " .. tostring(actual.dtype)
  end
  local values = H.values(actual)
  if #values ~= #expected.data then
    return false, "tolist gave " .. #values .. " elements, expected " .. #expected.data
  end
  local exact = INTEGER_DTYPES[expected.dtype]
  local bad, worst, worst_i = 0, -1, nil
  for i = 1, #values do
    local ok, excess = close(values[i], expected.data[i], rtol, atol, exact)
    if not ok then
      bad = bad + 1
      if excess > worst then worst, worst_i = excess, i end
    end
  end
  if bad > 0 then
    local a, e = values[worst_i], expected.data[worst_i]
    local diff = (type(num(a)) == "number") and math.abs(num(a) - num(e)) or math.huge
    return false, string.format(
      "%d of %d values differ (%s, rtol=%g atol=%g); worst at %s (flat %d): got %s, expected %s, |diff| = %s",
      bad, #values, expected.dtype, rtol, atol, multi_index(expected.shape, worst_i), worst_i,
      fmt(a), fmt(e), fmt(diff))
  end
  return true
end

-- Asserts that actual matches expected (a fixture entry); see H.compare.
function H.assert_close(actual, expected, rtol, atol, label)
  local ok, msg = H.compare(actual, expected, rtol, atol)
  luassert.is_true(ok, (label and (label .. ": ") or "") .. tostring(msg))
end

-- Asserts that tensor t has the given shape, dtype and values (a flat array).
function H.assert_tensor(t, shape, dtype, data, rtol, atol, label)
  H.assert_close(t, {shape = shape, dtype = dtype, data = data}, rtol or 1e-6, atol or 1e-7, label)
end

---------------------------------------------------------------------------
-- running a fixture case

local BINOPS = {
  ["+"] = function(a, b) return a + b end,
  ["-"] = function(a, b) return a - b end,
  ["*"] = function(a, b) return a * b end,
  ["/"] = function(a, b) return a / b end,
  ["%"] = function(a, b) return a % b end,
  ["^"] = function(a, b) return a ^ b end,
}

local function resolve(v, inputs)
  if type(v) ~= "table" then return v end
  if v.input then return inputs[v.input] end
  local out = {}
  for k, x in pairs(v) do out[k] = resolve(x, inputs) end
  return out
end

-- The Lua source of a case's call, for messages.
function H.describe_call(case)
  local call = case.call
  local function show(x)
    if type(x) ~= "table" then return tostring(x) end
    if x.input then return "in" .. x.input end
    local p = {}
    for j = 1, #x do p[j] = show(x[j]) end
    for k, y in pairs(x) do
      if type(k) ~= "number" then p[#p + 1] = k .. "=" .. show(y) end
    end
    return "{" .. table.concat(p, ", ") .. "}"
  end
  local function args(list, n)
    local parts = {}
    for i = 1, n do parts[i] = show(list[i]) end
    return table.concat(parts, ", ")
  end
  if call.kind == "method" then
    local s = "in1"
    for _, link in ipairs(call.chain) do
      s = s .. ":" .. link.name .. "(" .. args(link.args, link.nargs) .. ")"
    end
    return s
  elseif call.kind == "lg" or call.kind == "F" then
    return (call.kind == "F" and "F." or "lg.") .. call.name .. "(" .. args(call.args, call.nargs) .. ")"
  elseif call.kind == "binop" then
    return args({call.args[1]}, 1) .. " " .. call.op .. " " .. args({call.args[2]}, 1)
  elseif call.kind == "unm" then
    return "-in1"
  elseif call.kind == "index" then
    return "in1[" .. args({call.key}, 1) .. "]"
  elseif call.kind == "setindex" then
    return "in1[" .. args({call.key}, 1) .. "] = " .. args({call.value}, 1)
  end
  return call.kind
end

-- Builds the inputs and performs the case's call; returns the inputs and
-- the packed results.
function H.run_case(case)
  local inputs = {}
  for i, e in ipairs(case.inputs) do inputs[i] = H.tensor(e) end
  local call = case.call
  local results
  if call.kind == "method" then
    local self = inputs[1]
    for _, link in ipairs(call.chain) do
      local f = self[link.name]
      luassert.is_function(f, "tensor has no method " .. link.name)
      local args = resolve(link.args, inputs)
      results = table.pack(f(self, table.unpack(args, 1, link.nargs)))
      self = results[1]
    end
  elseif call.kind == "lg" then
    local f = lg[call.name]
    luassert.is_function(f, "lg." .. call.name .. " is missing")
    local args = resolve(call.args, inputs)
    results = table.pack(f(table.unpack(args, 1, call.nargs)))
  elseif call.kind == "F" then
    local f = lg.F[call.name]
    luassert.is_function(f, "lg.F." .. call.name .. " is missing")
    local args = resolve(call.args, inputs)
    results = table.pack(f(table.unpack(args, 1, call.nargs)))
  elseif call.kind == "binop" then
    local args = resolve(call.args, inputs)
    results = table.pack(BINOPS[call.op](args[1], args[2]))
  elseif call.kind == "unm" then
    results = table.pack(-inputs[1])
  elseif call.kind == "index" then
    results = table.pack(inputs[1][resolve(call.key, inputs)])
  elseif call.kind == "setindex" then
    inputs[1][resolve(call.key, inputs)] = resolve(call.value, inputs)
    results = table.pack(inputs[1])
  else
    error("unknown call kind " .. tostring(call.kind))
  end
  return inputs, results
end

-- The list of outputs to compare: a function that returns several tensors
-- may return them as multiple values or as one array table (split, chunk).
function H.outputs(case, results)
  if #case.expected > 1 and results.n == 1 and type(results[1]) == "table" then
    local list = results[1]
    return table.pack(table.unpack(list, 1, #list))
  end
  return results
end

-- Runs a fixture case and asserts every output against PyTorch's.
function H.check_case(case)
  local _, results = H.run_case(case)
  local outs = H.outputs(case, results)
  local where = H.describe_call(case)
  luassert.are.equal(#case.expected, outs.n,
    where .. ": expected " .. #case.expected .. " result(s), got " .. outs.n)
  for i, e in ipairs(case.expected) do
    local ok, msg = H.compare(outs[i], e, case.rtol, case.atol, case.allow_number)
    luassert.is_true(ok, string.format("%s (output %d): %s", where, i, tostring(msg)))
  end
end

-- Defines one busted `it` per fixture case of group; pass busted's `it`
-- (spec files run in busted's environment, this file in the global one).
function H.fixture_its(it, group, filter)
  for _, case in ipairs(H.cases(group)) do
    if not filter or filter(case) then
      it(case.name .. " [" .. H.describe_call(case) .. "]", function() H.check_case(case) end)
    end
  end
end

-- A call's results as a flat list: split and chunk return one array table.
function H.result_list(results)
  if results.n == 1 and type(results[1]) == "table" then
    local list = results[1]
    return table.pack(table.unpack(list, 1, #list))
  end
  return results
end

-- One busted `describe` per group of cases (in their first-seen order) and
-- one `it` per case, running check(case); pass busted's describe and it.
function H.grouped_its(describe, it, cases, check)
  local groups, order = {}, {}
  for _, case in ipairs(cases) do
    if not groups[case.group] then
      groups[case.group] = {}
      order[#order + 1] = case.group
    end
    table.insert(groups[case.group], case)
  end
  for _, group in ipairs(order) do
    describe(group, function()
      for _, case in ipairs(groups[group]) do
        it(case.name .. " [" .. H.describe_call(case) .. "]", function() check(case) end)
      end
    end)
  end
end

-- Expects fn(...) to raise a Lua error whose message is a string that
-- contains one of the given names (plain text, case-insensitive).
function H.assert_error_names(names, fn, ...)
  if type(names) == "string" then names = {names} end
  local ok, err = pcall(fn, ...)
  luassert.is_false(ok, "expected an error naming " .. table.concat(names, " or ") .. ", but the call succeeded")
  luassert.is_string(err, "the error value is a " .. type(err) .. ", not a string")
  -- a missing function or method is Lua's error, not the library's
  for _, generic in ipairs({"attempt to call", "attempt to index", "attempt to perform",
                            "attempt to compare", "attempt to concatenate"}) do
    luassert.is_falsy(err:find(generic, 1, true), "not an argument check of the library: " .. err)
  end
  local lower = err:lower()
  for _, n in ipairs(names) do
    if lower:find(n:lower(), 1, true) then return err end
  end
  luassert.is_true(false, "error message does not name " .. table.concat(names, " or ") .. ": " .. err)
end

-- Asserts tensors a and b have the same shape and values within tol
-- (largest absolute difference; 1e-12 when not given).
-- Bitwise equality of two tensors or pytrees of tensors: same shape, dtype
-- and values (compiled replay against eager runs).
local function same_bits(a, b, label)
  if is_tensor(a) then
    luassert.is_true(is_tensor(b), label)
    luassert.are.equal(a.dtype, b.dtype, label)
    luassert.are.same(a:size(), b:size(), label)
    if a:numel() > 0 then
      luassert.is_true(a:eq(b):all():item(), (label or "") .. ": values differ")
    end
    return
  end
  luassert.are.equal(type(a), type(b), label)
  if type(a) ~= "table" then
    luassert.are.equal(a, b, label)
    return
  end
  for k, v in pairs(a) do same_bits(v, b[k], (label or "") .. "." .. tostring(k)) end
  for k in pairs(b) do luassert.is_not_nil(a[k], label) end
end
H.same_bits = same_bits

function H.agree(a, b, tol, label)
  luassert.are.same(H.shape(b), H.shape(a), label)
  local d = (a - b):abs():max():item()
  luassert.is_true(d <= (tol or 1e-12), ("%s: differs by %g"):format(label or "", d))
end

-- Asserts fn(...) raises an error whose text contains pattern (plain).
function H.raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  luassert.is_false(ok, "expected an error matching " .. pattern)
  luassert.is_truthy(tostring(err):find(pattern, 1, true),
    ("error %q does not contain %q"):format(tostring(err), pattern))
end

-- ---- vmap fixtures (generate_vmap*.py) ----

-- A vmap fixture case's inputs as tensors; int64 ones hold 0-based indices.
local function vmap_inputs(case)
  local args = {}
  for i, a in ipairs(case.args) do
    local t = H.tensor(a)
    if t.dtype == "int64" then t = t + 1 end
    args[i] = t
  end
  return args
end

local function describe_dims(d)
  if type(d) ~= "table" then return tostring(d) end
  local parts = {}
  for i, x in ipairs(d) do parts[i] = describe_dims(x) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- One `it` per vmap fixture case: fns[case.key] vmapped (twice for a
-- nested case) with the case's in_dims/out_dims against functorch's outputs.
function H.vmap_fixture_its(describe, it, title, cases, fns)
  local func = require("luagrad").func
  describe(title, function()
    for n, case in ipairs(cases) do
      local label = ("%d %s, in_dims %s, out_dims %s%s"):format(n, case.key,
        describe_dims(case.in_dims), describe_dims(case.out_dims),
        case.nested and (", nested in_dims " .. describe_dims(case.nested)) or "")
      it(label, function()
        local fn = assert(fns[case.key], case.key)
        if case.nested then fn = func.vmap(fn, {in_dims = case.nested}) end
        local outs = table.pack(func.vmap(fn, {in_dims = case.in_dims,
                                               out_dims = case.out_dims})(table.unpack(vmap_inputs(case))))
        luassert.are.equal(#case.outs, outs.n)
        for k, want in ipairs(case.outs) do
          H.assert_close(outs[k], want, 1e-10, 1e-12, ("output %d"):format(k))
        end
      end)
    end
  end)
end

return H
