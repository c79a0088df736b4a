-- jvp_fixtures_spec.lua: every differentiable op's forward-mode tangent
-- (tests/fixtures/jvp_ops.lua, written by tests/fixtures/generate_jvp.py;
-- its docstring describes a case) three ways: against PyTorch's forward
-- AD, against central finite differences of the op, and against the
-- double-vjp construction (func._jvp_by_vjp) that jvp replaced.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local fwad = lg.autograd.forward_ad
local func = lg.func

local fixtures = dofile(H.root .. "/tests/fixtures/jvp_ops.lua")

-- H.run_case builds a case's inputs with H.tensor; in this spec an input
-- entry listed in `replace` becomes that tensor instead (a dual, or an
-- argument of a transformed function). (This H is this spec's own copy:
-- helpers.lua is loaded with dofile.)
local plain_tensor = H.tensor
local replace = {}
function H.tensor(entry)
  if replace[entry] ~= nil then return replace[entry] end
  return plain_tensor(entry)
end

local result_list = H.result_list

-- The case's call as a function of its dual inputs (in order), returning
-- the checked results.
local function as_function(case)
  local positions = {}
  for i in pairs(case.tangents) do positions[#positions + 1] = i end
  table.sort(positions)
  local function f(...)
    local xs = {...}
    replace = {}
    for k, i in ipairs(positions) do replace[case.inputs[i]] = xs[k] end
    local _, results = H.run_case(case)
    replace = {}
    local outs, chosen = result_list(results), {}
    for k, o in ipairs(case.outputs) do chosen[k] = outs[o] end
    return table.unpack(chosen, 1, #case.outputs)
  end
  local primals, tangents = {}, {}
  for k, i in ipairs(positions) do
    primals[k] = plain_tensor(case.inputs[i])
    tangents[k] = plain_tensor(case.tangents[i])
  end
  return f, primals, tangents
end

local function check_against(case, actual, expected, what, rtol, atol)
  for k, e in ipairs(expected) do
    local ok, msg = H.compare(actual[k], e, rtol or case.rtol, atol or case.atol)
    assert.is_true(ok, string.format("%s: %s of result %d: %s", H.describe_call(case), what,
                                     case.outputs[k], tostring(msg)))
  end
end

-- PyTorch: the call on duals inside a dual level.
local function check_torch(case)
  local f, primals, tangents = as_function(case)
  local _ <close> = fwad.dual_level()
  local duals = {}
  for k, x in ipairs(primals) do duals[k] = fwad.make_dual(x, tangents[k]) end
  local outs = table.pack(f(table.unpack(duals)))
  local got = {}
  for k = 1, outs.n do
    local p, t = fwad.unpack_dual(outs[k])
    got[k] = t or lg.zeros_like(p)
  end
  check_against(case, got, case.expected, "tangent")
end

-- Central differences (f(x + h t) - f(x - h t)) / 2h; float32 results
-- take a larger step and a looser tolerance.
local function check_finite_differences(case)
  local f, primals, tangents = as_function(case)
  -- through float32 (a cast on the way) counts as float32
  local single = case.name:find("float32") or case.name:find("float_method")
  for _, e in ipairs(case.expected) do single = single or e.dtype == "float32" end
  local h = single and 1e-3 or 1e-6
  local function at(sign)
    local xs = {}
    for k, x in ipairs(primals) do xs[k] = x + tangents[k] * (sign * h) end
    return table.pack(f(table.unpack(xs)))
  end
  local plus, minus = at(1), at(-1)
  local _ <close> = fwad.dual_level()
  local duals = {}
  for k, x in ipairs(primals) do duals[k] = fwad.make_dual(x, tangents[k]) end
  local outs = table.pack(f(table.unpack(duals)))
  for k = 1, outs.n do
    local p, t = fwad.unpack_dual(outs[k])
    t = t or lg.zeros_like(p)
    local fd = ((plus[k]:double() - minus[k]:double()) / (2 * h)):to(t.dtype)
    local ok, msg = H.compare(t, H.entry_of(fd), single and 1e-2 or 1e-5, single and 1e-3 or 1e-6)
    assert.is_true(ok, string.format("%s: finite differences of result %d: %s",
                                     H.describe_call(case), case.outputs[k], tostring(msg)))
  end
end

-- The double-vjp form: the same tangents.
local function check_double_vjp(case)
  local f, primals, tangents = as_function(case)
  local function g(...) return {f(...)} end
  local _, by_dual = func.jvp(g, primals, tangents)
  local _, by_vjp = func._jvp_by_vjp(g, primals, tangents)
  for k = 1, #by_vjp do
    local ok, msg = H.compare(by_dual[k], H.entry_of(by_vjp[k]), 1e-10, 1e-12)
    assert.is_true(ok, string.format("%s: jvp and the double-vjp form differ on result %d: %s",
                                     H.describe_call(case), case.outputs[k], tostring(msg)))
  end
end

describe("jvp against PyTorch " .. fixtures.torch_version .. " forward AD", function()
  H.grouped_its(describe, it, fixtures.cases, check_torch)
end)

-- floor, round, ...: piecewise constant, and the grid keeps x +- h t off
-- their steps, so finite differences see 0 as the rule does
describe("jvp against finite differences", function()
  H.grouped_its(describe, it, fixtures.cases, check_finite_differences)
end)

describe("jvp equals the double-vjp form", function()
  H.grouped_its(describe, it, fixtures.cases, check_double_vjp)
end)
