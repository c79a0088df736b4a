-- sort_cases.lua: runs the cases of tests/fixtures/sort_ops.lua (from
-- generate_sort.py) for sort_spec.lua and einsum_spec.lua: each case's
-- outputs, and where PyTorch gave them its gradients, jvp and vmap outputs.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local func = lg.func
local luassert = require "luassert"

local C = {}
C.cases = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/fixtures/sort_ops.lua")

-- The Lua call of a case on tensors xs: an array of its results.
local calls = {
  einsum = function(a, xs) return {lg.einsum(a[1], table.unpack(xs))} end,
  sort = function(a, xs) return {xs[1]:sort(a[1], {descending = a[2], stable = a[3]})} end,
  argsort = function(a, xs) return {lg.argsort(xs[1], a[1], a[2])} end,
  msort = function(_, xs) return {lg.msort(xs[1])} end,
  topk = function(a, xs) return {xs[1]:topk(a[1], a[2], {largest = a[3]})} end,
  kthvalue = function(a, xs) return {xs[1]:kthvalue(a[1], a[2], a[3])} end,
  median = function(a, xs)
    if a[1] == nil then return {xs[1]:median()} end
    return {xs[1]:median(a[1], {keepdim = a[2]})}
  end,
  cummax = function(a, xs) return {xs[1]:cummax(a[1])} end,
  cummin = function(a, xs) return {lg.cummin(xs[1], a[1])} end,
  unique = function(a, xs)
    return {xs[1]:unique({dim = a[1], return_inverse = a[2], return_counts = a[3]})}
  end,
}

function C.call(case, xs) return calls[case.op](case.args, xs) end

local function tensors(entries)
  local xs = {}
  for i, e in ipairs(entries) do xs[i] = H.tensor(e) end
  return xs
end

-- Results against expected entries; index outputs of a values_only case
-- are checked to pick elements equal to the values instead.
local function check_outputs(case, results, expected, label, x)
  luassert.are.equal(#expected, #results, label .. ": number of results")
  for k, e in ipairs(expected) do
    local is_index = results[k].dtype == "int64" and k > 1
    if case.values_only and is_index and x then
      local dim = case.op == "kthvalue" and case.args[2] or case.args[1]
      local index = results[k]
      if index:dim() < x:dim() then index = index:unsqueeze(dim) end
      local picked = x:gather(dim, index):reshape(results[1].shape)
      H.assert_close(picked, H.entry_of(results[1]), 0, 0, label .. " indices pick the values")
    else
      local tol = e.dtype == "float32" and 1e-5 or 1e-12
      H.assert_close(results[k], e, tol, tol, label .. " result " .. k)
    end
  end
end

-- Every check the case has data for.
function C.check(case)
  local xs = tensors(case.inputs)
  check_outputs(case, C.call(case, xs), case.outputs, "forward",
                case.values_only and xs[1] or nil)
  if case.grads then
    for _, x in ipairs(xs) do x:requires_grad_() end
    local y = C.call(case, xs)[1]
    local gs = lg.autograd.grad(y, xs, {grad_outputs = H.tensor(case.seed)})
    for i, g in ipairs(case.grads) do H.assert_close(gs[i], g, 1e-12, 1e-12, "grad " .. i) end
    local _, t_out = func.jvp(function(...) return C.call(case, {...})[1] end,
                              tensors(case.inputs), tensors(case.tangents))
    H.assert_close(t_out, case.jvp, 1e-12, 1e-12, "jvp")
  end
  if case.vmap then
    local bx = tensors(case.vmap.inputs)
    local out = func.vmap(function(...) return C.call(case, {...}) end,
                          {in_dims = case.vmap.in_dims})(table.unpack(bx))
    check_outputs(case, out, case.vmap.outputs, "vmap")
  end
end

return C
