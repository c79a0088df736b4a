-- func_call_torch_spec.lua: func.grad over func.functional_call against
-- PyTorch (functorch.grad over functional_call), on the torch.func
-- documentation's compute_loss example and on a Sequential MLP.
local lg = require "luagrad"
local nn, func = lg.nn, lg.func
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"
local cases = dofile(root .. "/tests/fixtures/func_call.lua")

local function params_of(pairs_list)
  local params = {}
  for _, pair in ipairs(pairs_list) do params[pair[1]] = H.tensor(pair[2]) end
  return params
end

local function build(case)
  if case.name:find("compute_loss", 1, true) then
    local model = nn.Linear(3, 3):to("float64")
    return model, function(out, t) return nn.functional.mse_loss(out, t) end,
      {H.tensor(case.args[1]), H.tensor(case.args[2])}
  end
  local model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)):to("float64")
  local target = H.tensor(case.args[2]) + 1 -- PyTorch's classes are 0-based
  return model, function(out, t) return nn.functional.cross_entropy(out, t) end,
    {H.tensor(case.args[1]), target}
end

describe("func.grad over functional_call against PyTorch", function()
  for _, case in ipairs(cases) do
    it(case.name, function()
      local model, loss_fn, args = build(case)
      local function compute_loss(params, x, t)
        return loss_fn(func.functional_call(model, params, {x}), t)
      end
      local params = params_of(case.params)
      local grads, loss = func.grad_and_value(compute_loss)(params, args[1], args[2])
      H.assert_close(loss, case.loss, 1e-12, 1e-14, "loss")
      for _, pair in ipairs(case.grads) do
        H.assert_close(grads[pair[1]], pair[2], 1e-10, 1e-12, pair[1])
      end
      -- detached parameters: the gradients carry no graph
      for _, g in pairs(grads) do assert.is_nil(g.grad_fn) end
      -- the module kept its own parameters
      for name, p in pairs(model:named_parameters()) do
        assert.is_false(rawequal(p, params[name]), name)
      end
    end)
  end
end)
