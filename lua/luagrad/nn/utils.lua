--- luagrad.nn.utils: gradient clipping, flattening parameters into one
-- vector and back, and nn.utils.parametrize.
-- @module nn.utils
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local utils = {}

utils.parametrize = require "luagrad.nn.parametrize"

-- The tensors of a params argument: one tensor, or an array of tensors.
local function tensor_list(fname, params)
  if lg.is_tensor(params) then return {params} end
  if type(params) ~= "table" then
    raise(fname .. ": expected a tensor or an array of tensors, got " .. check.typename(params))
  end
  for i = 1, #params do
    if not lg.is_tensor(params[i]) then
      raise(string.format("%s: expected a tensor at position %d, got %s", fname, i, check.typename(params[i])))
    end
  end
  return params
end

--- clip_grad_norm_(params, max_norm, norm_type = 2, {error_if_nonfinite})
--- scales the .grad of params (a tensor or an array, e.g.
--- module:parameters()) in place so that their joint norm is at most
--- max_norm, as PyTorch does (coefficient max_norm / (norm + 1e-6), never
--- above 1). Returns the joint norm before clipping, a 0-d tensor.
-- @usage local total = nn.utils.clip_grad_norm_(net:parameters(), 1.0)
function utils.clip_grad_norm_(params, max_norm, norm_type, opts)
  local list = tensor_list("clip_grad_norm_", params)
  if type(max_norm) ~= "number" then
    raise("clip_grad_norm_: expected a number max_norm, got " .. check.typename(max_norm))
  end
  if type(norm_type) == "table" then norm_type, opts = nil, norm_type end
  norm_type = norm_type or 2
  if type(norm_type) ~= "number" or norm_type <= 0 then
    raise("clip_grad_norm_: expected a positive norm_type (or math.huge), got " .. tostring(norm_type))
  end
  opts = check.options("clip_grad_norm_", opts, {error_if_nonfinite = true})
  local grads = {}
  for _, p in ipairs(list) do
    if p.grad ~= nil then grads[#grads + 1] = p.grad end
  end
  if #grads == 0 then return lg.tensor(0.0) end
  return lg.no_grad(function()
    local norms = {}
    for i, g in ipairs(grads) do
      if norm_type == math.huge then norms[i] = g:abs():max():to("float64")
      else norms[i] = g:norm(norm_type):to("float64") end
    end
    local stacked = lg.stack(norms, 1)
    local total = norm_type == math.huge and stacked:max() or stacked:norm(norm_type)
    local value = total:item()
    if opts.error_if_nonfinite and (value ~= value or value == math.huge) then
      raise("clip_grad_norm_: the total norm of the gradients is " .. tostring(value)
            .. "; pass {error_if_nonfinite = false} to clip anyway")
    end
    local coef = max_norm / (value + 1e-6)
    if coef < 1 then
      for _, g in ipairs(grads) do g:mul_(coef) end
    end
    return total:to(grads[1].dtype)
  end)
end

--- clip_grad_value_(params, clip_value) clamps every .grad to
--- [-clip_value, clip_value] in place.
-- @usage nn.utils.clip_grad_value_(net:parameters(), 0.5)
function utils.clip_grad_value_(params, clip_value)
  local list = tensor_list("clip_grad_value_", params)
  if type(clip_value) ~= "number" then
    raise("clip_grad_value_: expected a number clip_value, got " .. check.typename(clip_value))
  end
  lg.no_grad(function()
    for _, p in ipairs(list) do
      if p.grad ~= nil then p.grad:clamp_(-clip_value, clip_value) end
    end
  end)
end

--- parameters_to_vector(params) returns the parameters (a tensor or an
--- array, e.g. module:parameters()) flattened and joined into one 1-d
--- tensor, in order. The result is recorded: gradients flow back to them.
-- @param params a tensor or an array of tensors
-- @treturn Tensor 1-d, as many elements as the parameters together
-- @usage local theta = nn.utils.parameters_to_vector(model:parameters())
function utils.parameters_to_vector(params)
  local list = tensor_list("parameters_to_vector", params)
  if #list == 0 then raise("parameters_to_vector: expected at least one tensor") end
  local flat = {}
  for i, p in ipairs(list) do flat[i] = p:reshape(-1) end
  return lg.cat(flat, 1)
end

--- vector_to_parameters(vec, params) copies consecutive slices of the 1-d
--- vec into the parameters, in order (the inverse of parameters_to_vector).
--- The values are copied into the same tensors, without recording (PyTorch
--- rebinds each param.data to a view of vec; here the parameters keep their
--- own storage, so vec may be changed afterwards without touching them).
-- @tparam Tensor vec 1-d, exactly as many elements as the parameters
-- @param params a tensor or an array of tensors
-- @usage nn.utils.vector_to_parameters(theta - lr * g, model:parameters())
function utils.vector_to_parameters(vec, params)
  if not lg.is_tensor(vec) then
    raise("vector_to_parameters: expected a tensor vec, got " .. check.typename(vec))
  end
  if vec:dim() ~= 1 then
    raise("vector_to_parameters: expected a 1-d vec, got shape " .. check.shape_string(vec))
  end
  local list = tensor_list("vector_to_parameters", params)
  local total = 0
  for _, p in ipairs(list) do total = total + p:numel() end
  if total ~= vec:numel() then
    raise(string.format("vector_to_parameters: vec has %d elements but the parameters have %d",
                        vec:numel(), total))
  end
  lg.no_grad(function()
    local offset = 1
    for _, p in ipairs(list) do
      local n = p:numel()
      p:copy_(vec:narrow(1, offset, n):view(p.shape))
      offset = offset + n
    end
  end)
end

return utils
