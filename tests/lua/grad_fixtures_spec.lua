-- grad_fixtures_spec.lua: every differentiable op's gradient, and its second
-- derivative, against PyTorch's (tests/fixtures/grad_ops.lua, written by
-- tests/fixtures/generate_grads.py; its docstring describes a case).
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

local fixtures = dofile(H.root .. "/tests/fixtures/grad_ops.lua")

-- H.run_case builds a case's inputs with H.tensor; in this spec an input
-- entry marked requires_grad becomes a leaf that requires grad. (This H is
-- this spec's own copy: helpers.lua is loaded with dofile.)
local plain_tensor = H.tensor
function H.tensor(entry)
  local t = plain_tensor(entry)
  if entry.requires_grad then t:requires_grad_(true) end
  return t
end

local result_list = H.result_list

-- A missing gradient (nil: unused with allow_unused) stands for zeros.
local function or_zeros(t, entry)
  if t ~= nil then return t end
  return lg.zeros(entry.shape, {dtype = entry.dtype})
end

local function assert_grads(actual, expected, case, what)
  for k, e in ipairs(expected) do
    local ok, msg = H.compare(or_zeros(actual[k], e), e, case.rtol, case.atol)
    assert.is_true(ok, string.format("%s: %s %d: %s", H.describe_call(case), what, k, tostring(msg)))
  end
end

-- Runs a case: first gradients (with create_graph and an upstream gradient
-- that requires grad when the case has second derivatives), then the
-- gradients of sum(first[k] * v[k]) with respect to the inputs and the
-- upstream gradients.
local function check(case)
  local inputs, results = H.run_case(case)
  local outs = result_list(results)
  local xs = {}
  for i, e in ipairs(case.inputs) do
    if e.requires_grad then xs[#xs + 1] = inputs[i] end
  end
  local chosen, upstream = {}, {}
  for k, o in ipairs(case.outputs) do
    assert.is_true(H.is_tensor(outs[o]), H.describe_call(case) .. ": result " .. o .. " is not a tensor")
    chosen[k] = outs[o]
    upstream[k] = plain_tensor(case.grad_outputs[k])
    if case.second then upstream[k]:requires_grad_(true) end
  end
  local first = lg.autograd.grad(chosen, xs, {grad_outputs = upstream, allow_unused = true,
                                              create_graph = case.second ~= nil})
  assert_grads(first, case.expected, case, "gradient of input")
  if not case.second then return end

  local firsts, vs = {}, {}
  for k = 1, #xs do
    if first[k] ~= nil and first[k].requires_grad then
      firsts[#firsts + 1] = first[k]
      vs[#vs + 1] = plain_tensor(case.second.v[k])
    end
  end
  local wrt = {table.unpack(xs)}
  for _, u in ipairs(upstream) do wrt[#wrt + 1] = u end
  -- no first gradient depends on anything: every second derivative is zero
  local second = {}
  if #firsts > 0 then
    second = lg.autograd.grad(firsts, wrt, {grad_outputs = vs, allow_unused = true})
  end
  assert_grads(second, case.second.expected, case, "second derivative, input")
  local of_upstream = {}
  for k = 1, #upstream do of_upstream[k] = second[#xs + k] end
  assert_grads(of_upstream, case.second.upstream, case, "second derivative, grad_output")
end

describe("gradients against PyTorch " .. fixtures.torch_version, function()
  H.grouped_its(describe, it, fixtures.cases, check)
end)
