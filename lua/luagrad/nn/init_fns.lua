--- luagrad.nn.init (nn.init): in-place initialisers of tensors with
-- PyTorch's fan computations and gains. Each fills its tensor without
-- recording gradients and returns it. PyTorch's keyword arguments are a
-- trailing options table or positional arguments in PyTorch's order:
-- `kaiming_uniform_(w, math.sqrt(5))` equals `kaiming_uniform_(w, {a = math.sqrt(5)})`.
-- @module nn.init
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local init = {}

local function check_tensor(fname, t)
  if not lg.is_tensor(t) then
    raise(fname .. ": expected a tensor, got " .. check.typename(t))
  end
end

-- The optional arguments of fname: positional (names in order) and/or one
-- trailing options table, with defaults (check.optional_args), as values.
local function arguments(fname, names, defaults, ...)
  local by_name = {}
  for i, name in ipairs(names) do by_name[name] = defaults[i] end
  local o = check.optional_args(fname, names, by_name)(...)
  local out = {}
  for i, name in ipairs(names) do out[i] = o[name] end
  return table.unpack(out, 1, #names)
end

-- Copies value into t without recording gradients; returns t.
local function fill_with(t, value)
  lg.no_grad(function() t:copy_(value) end)
  return t
end

local shape_of = require("luagrad.check").shape_of

--- calculate_gain(nonlinearity, param) as torch.nn.init.calculate_gain.
-- @usage nn.init.calculate_gain("relu") --> 1.414...
function init.calculate_gain(nonlinearity, param)
  local linear = {linear = true, conv1d = true, conv2d = true, conv3d = true,
                  conv_transpose1d = true, conv_transpose2d = true,
                  conv_transpose3d = true, sigmoid = true}
  if linear[nonlinearity] then return 1 end
  if nonlinearity == "tanh" then return 5 / 3 end
  if nonlinearity == "relu" then return math.sqrt(2) end
  if nonlinearity == "leaky_relu" then
    local slope = param
    if slope == nil then slope = 0.01 end
    if type(slope) ~= "number" then
      raise("calculate_gain: expected a number negative_slope, got " .. check.typename(slope))
    end
    return math.sqrt(2 / (1 + slope * slope))
  end
  if nonlinearity == "selu" then return 3 / 4 end
  raise("calculate_gain: unsupported nonlinearity " .. tostring(nonlinearity))
end

--- calculate_fan_in_and_fan_out(t) returns fan_in, fan_out: size(2) and
--- size(1) times the product of the remaining sizes (t needs >= 2 dims).
-- @usage local fan_in, fan_out = nn.init.calculate_fan_in_and_fan_out(w)
function init.calculate_fan_in_and_fan_out(t)
  check_tensor("calculate_fan_in_and_fan_out", t)
  local shape = shape_of(t)
  if #shape < 2 then
    raise("calculate_fan_in_and_fan_out: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape {"
          .. table.concat(shape, ",") .. "}")
  end
  local receptive = 1
  for d = 3, #shape do receptive = receptive * shape[d] end
  return shape[2] * receptive, shape[1] * receptive
end

--- uniform_(t, a = 0, b = 1): values drawn uniformly from [a, b).
-- @usage nn.init.uniform_(w, -0.1, 0.1)
function init.uniform_(t, ...)
  check_tensor("uniform_", t)
  local a, b = arguments("uniform_", {"a", "b"}, {0, 1}, ...)
  lg.no_grad(function() t:uniform_(a, b) end)
  return t
end

--- normal_(t, mean = 0, std = 1): values drawn from N(mean, std^2).
-- @usage nn.init.normal_(emb.weight, 0, 0.02)
function init.normal_(t, ...)
  check_tensor("normal_", t)
  local mean, std = arguments("normal_", {"mean", "std"}, {0, 1}, ...)
  lg.no_grad(function() t:normal_(mean, std) end)
  return t
end

--- constant_(t, val), zeros_(t), ones_(t).
-- @usage nn.init.constant_(layer.bias, 0.1)
function init.constant_(t, val)
  check_tensor("constant_", t)
  if type(val) ~= "number" then
    raise("constant_: expected a number value, got " .. check.typename(val))
  end
  lg.no_grad(function() t:fill_(val) end)
  return t
end

--- zeros_(t): fills t with 0 in place (under no_grad); returns t.
-- @param t a tensor
-- @return t
-- @usage nn.init.zeros_(layer.bias)
function init.zeros_(t)
  check_tensor("zeros_", t)
  return init.constant_(t, 0)
end

--- ones_(t): fills t with 1 in place (under no_grad); returns t.
-- @param t a tensor
-- @return t
-- @usage nn.init.ones_(norm.weight)
function init.ones_(t)
  check_tensor("ones_", t)
  return init.constant_(t, 1)
end

--- xavier_uniform_(t, gain = 1): U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
-- @usage nn.init.xavier_uniform_(fc.weight)
function init.xavier_uniform_(t, ...)
  check_tensor("xavier_uniform_", t)
  local gain = arguments("xavier_uniform_", {"gain"}, {1}, ...)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  local a = math.sqrt(3) * gain * math.sqrt(2 / (fan_in + fan_out))
  return init.uniform_(t, -a, a)
end

--- xavier_normal_(t, gain = 1): N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
-- @usage nn.init.xavier_normal_(fc.weight)
function init.xavier_normal_(t, ...)
  check_tensor("xavier_normal_", t)
  local gain = arguments("xavier_normal_", {"gain"}, {1}, ...)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  return init.normal_(t, 0, gain * math.sqrt(2 / (fan_in + fan_out)))
end

-- std = gain / sqrt(fan) of the kaiming initialisers.
local function kaiming_std(fname, t, a, mode, nonlinearity)
  if mode ~= "fan_in" and mode ~= "fan_out" then
    raise(fname .. ": expected mode \"fan_in\" or \"fan_out\", got " .. tostring(mode))
  end
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  local fan = mode == "fan_in" and fan_in or fan_out
  return init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
end

--- kaiming_uniform_(t, a = 0, mode = "fan_in", nonlinearity = "leaky_relu"):
--- U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan).
-- @usage nn.init.kaiming_uniform_(fc.weight, {a = math.sqrt(5)})
function init.kaiming_uniform_(t, ...)
  check_tensor("kaiming_uniform_", t)
  local a, mode, nonlinearity = arguments("kaiming_uniform_", {"a", "mode", "nonlinearity"}, {0, "fan_in", "leaky_relu"}, ...)
  local bound = math.sqrt(3) * kaiming_std("kaiming_uniform_", t, a, mode, nonlinearity)
  return init.uniform_(t, -bound, bound)
end

--- kaiming_normal_(t, a = 0, mode = "fan_in", nonlinearity = "leaky_relu"):
--- N(0, std^2), std = gain / sqrt(fan).
-- @usage nn.init.kaiming_normal_(conv.weight, {mode = "fan_out", nonlinearity = "relu"})
function init.kaiming_normal_(t, ...)
  check_tensor("kaiming_normal_", t)
  local a, mode, nonlinearity = arguments("kaiming_normal_", {"a", "mode", "nonlinearity"}, {0, "fan_in", "leaky_relu"}, ...)
  return init.normal_(t, 0, kaiming_std("kaiming_normal_", t, a, mode, nonlinearity))
end

-- Orthonormalises the columns of a (rows >= cols, an array of rows) by
-- modified Gram-Schmidt: the Q of a QR factorisation with a positive
-- diagonal in R, which is PyTorch's q * sign(diag(r)).
local function orthonormal_columns(a, rows, cols)
  for j = 1, cols do
    for i = 1, j - 1 do
      local dot = 0
      for r = 1, rows do dot = dot + a[r][i] * a[r][j] end
      for r = 1, rows do a[r][j] = a[r][j] - dot * a[r][i] end
    end
    local norm = 0
    for r = 1, rows do norm = norm + a[r][j] * a[r][j] end
    norm = math.sqrt(norm)
    for r = 1, rows do a[r][j] = a[r][j] / norm end
  end
  return a
end

--- orthogonal_(t, gain = 1): a (semi-)orthogonal matrix from the QR
--- factorisation of a normal random matrix (t viewed as size(1) x rest).
-- @usage nn.init.orthogonal_(rnn.weight_hh_l0)
function init.orthogonal_(t, ...)
  check_tensor("orthogonal_", t)
  local gain = arguments("orthogonal_", {"gain"}, {1}, ...)
  local shape = shape_of(t)
  if #shape < 2 then
    raise("orthogonal_: only tensors with 2 or more dimensions are supported, got shape {"
          .. table.concat(shape, ",") .. "}")
  end
  if t:numel() == 0 then return t end
  local rows = shape[1]
  local cols = t:numel() // rows
  local flat = lg.randn(rows, cols, {dtype = "float64"})
  local transposed = rows < cols
  if transposed then flat = flat:t() end
  local m, n = transposed and cols or rows, transposed and rows or cols
  local q = lg.tensor(orthonormal_columns(flat:contiguous():tolist(), m, n), {dtype = "float64"})
  if transposed then q = q:t() end
  return fill_with(t, (q * gain):reshape(shape):to(t.dtype))
end

return init
