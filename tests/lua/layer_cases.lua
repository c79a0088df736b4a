-- layer_cases.lua: runs one layer case of the PyTorch fixtures
-- (tests/fixtures/nn_layers.lua, nn_func.lua; the format is described in
-- generate_nn_layers.py): loads the state dict into the luagrad layer,
-- compares the outputs, the parameter and input gradients for the fixed
-- upstream gradients, and the buffers after the call; and names_of, a
-- module's parameter names in order.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local assert = require "luassert" -- busted gives specs, not dofile'd files, its assert

-- Evaluates a fixture's Lua source with nn and lg in scope.
local function eval(src, what)
  local chunk = assert(load("return " .. src, what, "t", {nn = nn, lg = lg, math = math}))
  return chunk()
end

local function run_layer_case(case)
  local m = eval(case.ctor, case.name .. " ctor")
  local state = {}
  for k, e in pairs(case.state) do state[k] = H.tensor(e) end
  m:load_state_dict(state) -- strict: also checks the parameter names
  if case.train then m:train() else m:eval() end
  local inputs = {}
  for i, e in ipairs(case.inputs) do
    inputs[i] = H.tensor(e)
    if case.input_grads[i] then inputs[i]:requires_grad_(true) end
  end
  local outs = eval(case.call, case.name .. " call")(m, inputs)
  assert.are.equal(#case.outputs, #outs, case.name .. ": number of outputs")
  local total
  for i, e in ipairs(case.outputs) do
    H.assert_close(outs[i], e, case.rtol, case.atol, case.name .. " output " .. i)
    local term = (outs[i] * H.tensor(case.upstream[i])):sum()
    total = total and total + term or term
  end
  local params = m:named_parameters()
  for name, e in pairs(case.grads) do
    local p = params[name]
    assert.is_truthy(p, case.name .. ": no parameter " .. name)
  end
  local names, tensors = {}, {}
  for name in pairs(case.grads) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do tensors[i] = params[name] end
  local input_ids = {}
  for i in pairs(case.input_grads) do input_ids[#input_ids + 1] = i end
  table.sort(input_ids)
  for _, i in ipairs(input_ids) do tensors[#tensors + 1] = inputs[i] end
  if #tensors > 0 then
    local grads = lg.autograd.grad(total, tensors, {allow_unused = true})
    for i, name in ipairs(names) do
      local g = grads[i] or lg.zeros_like(tensors[i])
      H.assert_close(g, case.grads[name], case.rtol, case.atol, case.name .. " grad of " .. name)
    end
    for j, i in ipairs(input_ids) do
      H.assert_close(grads[#names + j], case.input_grads[i], case.rtol, case.atol,
                     case.name .. " grad of input " .. i)
    end
  end
  local buffers = m:named_buffers()
  for name, e in pairs(case.buffers_after) do
    H.assert_close(buffers[name], e, case.rtol, case.atol, case.name .. " buffer " .. name)
  end
end

-- A module's parameter names in registration order, space-separated.
local function names_of(m)
  local out = {}
  for i, pair in ipairs(m:named_parameters_list()) do out[i] = pair[1] end
  return table.concat(out, " ")
end

return {run = run_layer_case, eval = eval, names_of = names_of}
