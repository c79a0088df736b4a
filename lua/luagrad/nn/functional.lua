--- luagrad.nn.functional (also lg.F): every layer's computation and every
-- loss as a function, with PyTorch 1.13's argument semantics mapped to Lua.
--
-- Calling convention: the required arguments positionally, then PyTorch's
-- optional arguments either positionally (in PyTorch's order) or by name in
-- one trailing options table: `F.conv2d(x, w, b, {stride = 2, padding = 1})`
-- equals `F.conv2d(x, w, b, 2, 1)`. An options table is a plain table with
-- no array part (a table like {2, 2} is a positional value, e.g. a stride).
-- Dims and class indices are 1-based (cross_entropy/nll_loss targets are
-- 1..C, embedding ids 1..num_embeddings); ignore_index defaults to -100.
--
-- The fused kernels (softmax, log_softmax, cross_entropy, nll_loss, the
-- norms, conv and pooling) are the raw lg._* functions of the binding
-- (lua/binding/ops_nn_loss.c, ops_nn_conv.c); everything else is composed
-- from differentiable tensor ops, so gradients of gradients work.
-- @module nn.functional
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local F = {}

-- -----------------------------------------------------------------------
-- argument handling

local is_tensor = lg.is_tensor

local is_options, optional_args = check.is_options, check.optional_args
F._optional_args = optional_args

local function check_tensor(v, fname, what)
  if not is_tensor(v) then
    raise(string.format("%s: expected a tensor as %s, got %s", fname, what,
                        check.typename(v)))
  end
  return v
end

local function check_optional_tensor(v, fname, what)
  if v ~= nil and not is_tensor(v) then
    raise(string.format("%s: expected a tensor or nil as %s, got %s", fname, what,
                        check.typename(v)))
  end
  return v
end

-- An integer or an array of n integers as an array of n integers.
local function tuple(v, n, fname, what)
  if type(v) == "number" then
    local out = {}
    for i = 1, n do out[i] = v end
    return out
  end
  if type(v) == "table" and not is_tensor(v) and #v == n then
    local out = {}
    for i = 1, n do
      if type(v[i]) ~= "number" then break end
      out[i] = v[i]
    end
    if #out == n then return out end
  end
  raise(string.format("%s: expected %s as an integer or a table of %d integers, got %s",
                      fname, what, n, check.typename(v) == "table" and "a table" or tostring(v)))
end
F._tuple = tuple

-- The reduction option of a loss.
local REDUCTIONS = {mean = true, sum = true, none = true}
local function reduce(loss, reduction, fname)
  if reduction == "mean" then return loss:mean() end
  if reduction == "sum" then return loss:sum() end
  if reduction == "none" then return loss end
  raise(string.format("%s: expected reduction 'mean', 'sum' or 'none', got %s",
                      fname, tostring(reduction)))
end

local function check_reduction(reduction, fname)
  if not REDUCTIONS[reduction] then
    raise(string.format("%s: expected reduction 'mean', 'sum' or 'none', got %s",
                        fname, tostring(reduction)))
  end
end

-- The raw kernel lg[name], or an error saying that it is not built.
local function raw(name, fname)
  local f = lg[name]
  if not f then
    raise(string.format("%s: the fused kernel lg.%s is not built into this luagrad",
                        fname, name))
  end
  return f
end

local shape_of = require("luagrad.check").shape_of

-- -----------------------------------------------------------------------
-- linear layers

local linear_raw = lg._linear

--- linear(x, weight[, bias]): x (..., in), weight (out, in), bias (out)
--- -> (..., out).
-- @usage F.linear(x, w, b)
function F.linear(x, weight, bias)
  -- the checks inline, the helpers only to raise: a Lua call less per
  -- argument on every Linear forward
  if not is_tensor(x) then check_tensor(x, "linear", "input") end
  if not is_tensor(weight) then check_tensor(weight, "linear", "weight") end
  if bias ~= nil and not is_tensor(bias) then check_optional_tensor(bias, "linear", "bias") end
  return linear_raw(x, weight, bias) -- one fused op: x w^T + b
end

--- bilinear(x1, x2, weight[, bias]): x1 (..., in1), x2 (..., in2), weight
--- (out, in1, in2) -> (..., out) with y_k = x1^T W_k x2 + b_k.
-- @usage F.bilinear(x1, x2, w, b)
function F.bilinear(x1, x2, weight, bias)
  check_tensor(x1, "bilinear", "input1")
  check_tensor(x2, "bilinear", "input2")
  check_tensor(weight, "bilinear", "weight")
  check_optional_tensor(bias, "bilinear", "bias")
  if weight:dim() ~= 3 then
    raise("bilinear: expected a 3-D weight (out, in1, in2), got " .. weight:dim() .. "-D")
  end
  local out, in1, in2 = weight:size(1), weight:size(2), weight:size(3)
  if x1:size(-1) ~= in1 or x2:size(-1) ~= in2 then
    raise(string.format("bilinear: expected inputs with last sizes %d and %d, got %d and %d",
                        in1, in2, x1:size(-1), x2:size(-1)))
  end
  -- (..., in1) @ (in1, out*in2) -> (..., out, in2), then contract with x2
  local w = weight:permute(2, 1, 3):reshape(in1, out * in2)
  local lead = shape_of(x1)
  lead[#lead] = out
  lead[#lead + 1] = in2
  local y = x1:matmul(w):reshape(lead)
  y = (y * x2:unsqueeze(-2)):sum(-1)
  if bias then y = y + bias end
  return y
end

-- -----------------------------------------------------------------------
-- convolution and pooling (fused kernels of lua/binding/ops_nn_conv.c)

local conv2d_args = optional_args("conv2d", {"bias", "stride", "padding", "dilation", "groups"},
                                  {stride = 1, padding = 0, dilation = 1, groups = 1})

-- Padding given as "valid", "same", an integer or a table, as the
-- amounts {before_1, after_1, before_2, after_2, ...} of each spatial dim.
-- "same" splits the total dilation * (kernel - 1) as PyTorch: the extra
-- one of an odd total goes after (right/bottom).
local function conv_padding(padding, kernel, dilation, stride, fname)
  if padding == "valid" then padding = 0 end
  local p = {}
  if padding == "same" then
    for i = 1, #kernel do
      if stride[i] ~= 1 then
        raise(fname .. ": padding='same' is not supported for strided convolutions")
      end
      local total = dilation[i] * (kernel[i] - 1)
      p[2 * i - 1], p[2 * i] = total // 2, total - total // 2
    end
    return p
  end
  if type(padding) == "string" then
    raise(string.format("%s: expected padding 'valid', 'same', an integer or a table, got '%s'",
                        fname, padding))
  end
  local sym = tuple(padding, #kernel, fname, "padding")
  for i = 1, #kernel do p[2 * i - 1], p[2 * i] = sym[i], sym[i] end
  return p
end
F._conv_padding = conv_padding

-- The input padded by the part of an asymmetric conv padding (before,
-- after per spatial dim) that the symmetric kernel padding cannot do, and
-- that symmetric padding per dim.
local function split_padding(x, p)
  local k, extra, sym, asymmetric = #p // 2, {}, {}, false
  for i = 1, k do
    sym[i] = math.min(p[2 * i - 1], p[2 * i])
    -- F.pad lists the last dim first
    local j = k - i + 1
    extra[2 * j - 1], extra[2 * j] = p[2 * i - 1] - sym[i], p[2 * i] - sym[i]
    asymmetric = asymmetric or extra[2 * j - 1] ~= 0 or extra[2 * j] ~= 0
  end
  if asymmetric then x = F.pad(x, extra) end
  return x, sym
end

-- Adds a batch dim to an unbatched input of expected_dim - 1 dims.
local function batchify(x, expected_dim, fname, layout)
  if x:dim() == expected_dim then return x, false end
  if x:dim() == expected_dim - 1 then return x:unsqueeze(1), true end
  raise(string.format("%s: expected a %d-D %s or %d-D unbatched input, got %d-D",
                      fname, expected_dim, layout, expected_dim - 1, x:dim()))
end

--- conv2d(x, weight[, bias, stride, padding, dilation, groups]):
--- x (N,C,H,W) or (C,H,W), weight (O,C/groups,kh,kw), bias (O)
--- -> (N,O,OH,OW). padding may be "valid" or "same".
-- @usage F.conv2d(lg.randn(1, 3, 8, 8), lg.randn(4, 3, 3, 3), nil, {padding = "same"})
function F.conv2d(x, weight, ...)
  check_tensor(x, "conv2d", "input")
  check_tensor(weight, "conv2d", "weight")
  local o = conv2d_args(...)
  check_optional_tensor(o.bias, "conv2d", "bias")
  local xb, unbatched = batchify(x, 4, "conv2d", "(N,C,H,W)")
  local stride = tuple(o.stride, 2, "conv2d", "stride")
  local dilation = tuple(o.dilation, 2, "conv2d", "dilation")
  local kernel = {weight:size(-2), weight:size(-1)}
  local padding
  xb, padding = split_padding(xb, conv_padding(o.padding, kernel, dilation, stride, "conv2d"))
  local y = raw("_conv2d", "conv2d")(xb, weight, o.bias, stride[1], stride[2], padding[1], padding[2],
                                     dilation[1], dilation[2], o.groups)
  if unbatched then y = y:squeeze(1) end
  return y
end

local conv1d_args = optional_args("conv1d", {"bias", "stride", "padding", "dilation", "groups"},
                                  {stride = 1, padding = 0, dilation = 1, groups = 1})

--- conv1d(x, weight[, bias, stride, padding, dilation, groups]):
--- x (N,C,L) or (C,L), weight (O,C/groups,k) -> (N,O,OL); computed as a
--- conv2d over (N,C,L,1).
-- @usage F.conv1d(x, w, b, {padding = 1})
function F.conv1d(x, weight, ...)
  check_tensor(x, "conv1d", "input")
  check_tensor(weight, "conv1d", "weight")
  local o = conv1d_args(...)
  local xb, unbatched = batchify(x, 3, "conv1d", "(N,C,L)")
  if weight:dim() ~= 3 then
    raise("conv1d: expected a 3-D weight (O,C/groups,k), got " .. weight:dim() .. "-D")
  end
  local stride = tuple(o.stride, 1, "conv1d", "stride")
  local dilation = tuple(o.dilation, 1, "conv1d", "dilation")
  local padding
  xb, padding = split_padding(xb, conv_padding(o.padding, {weight:size(3)}, dilation, stride, "conv1d"))
  local y = F.conv2d(xb:unsqueeze(4), weight:unsqueeze(4), o.bias,
                     {stride[1], 1}, {padding[1], 0}, {dilation[1], 1}, o.groups)
  y = y:squeeze(4)
  if unbatched then y = y:squeeze(1) end
  return y
end

local conv_transpose2d_args = optional_args("conv_transpose2d",
  {"bias", "stride", "padding", "output_padding", "groups", "dilation"},
  {stride = 1, padding = 0, output_padding = 0, groups = 1, dilation = 1})

--- conv_transpose2d(x, weight[, bias, stride, padding, output_padding,
--- groups, dilation]): x (N,C,H,W), weight (C,O/groups,kh,kw)
--- -> (N,O,OH,OW) with OH = (H-1)*stride - 2*padding
--- + dilation*(kh-1) + output_padding + 1.
-- @usage F.conv_transpose2d(x, w, nil, {stride = 2})
function F.conv_transpose2d(x, weight, ...)
  check_tensor(x, "conv_transpose2d", "input")
  check_tensor(weight, "conv_transpose2d", "weight")
  local o = conv_transpose2d_args(...)
  check_optional_tensor(o.bias, "conv_transpose2d", "bias")
  local xb, unbatched = batchify(x, 4, "conv_transpose2d", "(N,C,H,W)")
  local stride = tuple(o.stride, 2, "conv_transpose2d", "stride")
  local padding = tuple(o.padding, 2, "conv_transpose2d", "padding")
  local output_padding = tuple(o.output_padding, 2, "conv_transpose2d", "output_padding")
  local dilation = tuple(o.dilation, 2, "conv_transpose2d", "dilation")
  local y = raw("_conv_transpose2d", "conv_transpose2d")(
    xb, weight, o.bias, stride[1], stride[2], padding[1], padding[2],
    output_padding[1], output_padding[2], dilation[1], dilation[2], o.groups)
  if unbatched then y = y:squeeze(1) end
  return y
end

local max_pool2d_args = optional_args("max_pool2d",
  {"stride", "padding", "dilation", "ceil_mode", "return_indices"},
  {padding = 0, dilation = 1, ceil_mode = false, return_indices = false})

--- max_pool2d(x, kernel_size[, stride, padding, dilation, ceil_mode,
--- return_indices]): x (N,C,H,W) or (C,H,W). stride defaults to
--- kernel_size. With return_indices also returns the 1-based flat indices
--- into each H*W plane (PyTorch's, plus one).
-- @usage local y, idx = F.max_pool2d(x, 2, {return_indices = true})
function F.max_pool2d(x, kernel_size, ...)
  check_tensor(x, "max_pool2d", "input")
  local o = max_pool2d_args(...)
  local kernel = tuple(kernel_size, 2, "max_pool2d", "kernel_size")
  local stride = o.stride and tuple(o.stride, 2, "max_pool2d", "stride") or kernel
  local xb, unbatched = batchify(x, 4, "max_pool2d", "(N,C,H,W)")
  local padding = tuple(o.padding, 2, "max_pool2d", "padding")
  local dilation = tuple(o.dilation, 2, "max_pool2d", "dilation")
  local y, idx = raw("_max_pool2d", "max_pool2d")(
    xb, kernel[1], kernel[2], stride[1], stride[2], padding[1], padding[2],
    dilation[1], dilation[2], o.ceil_mode == true)
  if unbatched then
    y = y:squeeze(1)
    if idx then idx = idx:squeeze(1) end
  end
  if o.return_indices then return y, idx end
  return y
end

local avg_pool2d_args = optional_args("avg_pool2d",
  {"stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"},
  {padding = 0, ceil_mode = false, count_include_pad = true})

--- avg_pool2d(x, kernel_size[, stride, padding, ceil_mode,
--- count_include_pad, divisor_override]): x (N,C,H,W) or (C,H,W).
-- @usage F.avg_pool2d(x, 2)
function F.avg_pool2d(x, kernel_size, ...)
  check_tensor(x, "avg_pool2d", "input")
  local o = avg_pool2d_args(...)
  local kernel = tuple(kernel_size, 2, "avg_pool2d", "kernel_size")
  local stride = o.stride and tuple(o.stride, 2, "avg_pool2d", "stride") or kernel
  local xb, unbatched = batchify(x, 4, "avg_pool2d", "(N,C,H,W)")
  local padding = tuple(o.padding, 2, "avg_pool2d", "padding")
  local y = raw("_avg_pool2d", "avg_pool2d")(
    xb, kernel[1], kernel[2], stride[1], stride[2], padding[1], padding[2],
    o.ceil_mode == true, o.count_include_pad ~= false, o.divisor_override)
  if unbatched then y = y:squeeze(1) end
  return y
end

--- adaptive_avg_pool2d(x, output_size): x (N,C,H,W) or (C,H,W); output_size
--- an integer or {OH, OW} (nil in the table keeps that input size).
-- @usage F.adaptive_avg_pool2d(x, {1, 1})
function F.adaptive_avg_pool2d(x, output_size)
  check_tensor(x, "adaptive_avg_pool2d", "input")
  local xb, unbatched = batchify(x, 4, "adaptive_avg_pool2d", "(N,C,H,W)")
  local size
  if type(output_size) == "table" and not is_tensor(output_size) then
    size = {output_size[1] or xb:size(3), output_size[2] or xb:size(4)}
  end
  size = tuple(size or output_size, 2, "adaptive_avg_pool2d", "output_size")
  local y = raw("_adaptive_avg_pool2d", "adaptive_avg_pool2d")(xb, size[1], size[2])
  if unbatched then y = y:squeeze(1) end
  return y
end

-- -----------------------------------------------------------------------
-- normalization (fused kernels of lua/binding/ops_nn_loss.c)

local batch_norm_args = optional_args("batch_norm",
  {"weight", "bias", "training", "momentum", "eps"},
  {training = false, momentum = 0.1, eps = 1e-5})

--- batch_norm(x, running_mean, running_var[, weight, bias, training,
--- momentum, eps]): x (N,C,...) normalized per channel C. In training mode
--- the batch statistics are used and the running buffers (when given) are
--- updated in place: running = (1 - momentum) * running + momentum * batch
--- (unbiased variance); otherwise the running statistics are used.
-- @usage F.batch_norm(x, running_mean, running_var, weight, bias, true)
function F.batch_norm(x, running_mean, running_var, ...)
  check_tensor(x, "batch_norm", "input")
  check_optional_tensor(running_mean, "batch_norm", "running_mean")
  check_optional_tensor(running_var, "batch_norm", "running_var")
  local o = batch_norm_args(...)
  check_optional_tensor(o.weight, "batch_norm", "weight")
  check_optional_tensor(o.bias, "batch_norm", "bias")
  if x:dim() < 2 then
    raise("batch_norm: expected an input of at least 2 dims (N,C,...), got " .. x:dim() .. "-D")
  end
  if not o.training and not (running_mean and running_var) then
    raise("batch_norm: running_mean and running_var are required when training is false")
  end
  if o.training then
    local count = x:numel() // x:size(2)
    if count <= 1 then
      raise(string.format("batch_norm: expected more than 1 value per channel when training, got input of shape {%s}",
                          table.concat(shape_of(x), ",")))
    end
  end
  return raw("_batch_norm", "batch_norm")(x, running_mean, running_var, o.weight, o.bias,
                                          o.training, o.momentum or 0.1, o.eps)
end

local layer_norm_args = optional_args("layer_norm", {"weight", "bias", "eps"}, {eps = 1e-5})

--- layer_norm(x, normalized_shape[, weight, bias, eps]): normalizes over
--- the last #normalized_shape dims (normalized_shape an integer or table).
-- @usage F.layer_norm(x, {64})
function F.layer_norm(x, normalized_shape, ...)
  check_tensor(x, "layer_norm", "input")
  local o = layer_norm_args(...)
  check_optional_tensor(o.weight, "layer_norm", "weight")
  check_optional_tensor(o.bias, "layer_norm", "bias")
  if type(normalized_shape) == "number" then normalized_shape = {normalized_shape} end
  if type(normalized_shape) ~= "table" or is_tensor(normalized_shape) then
    raise("layer_norm: expected normalized_shape as an integer or a table of integers, got " ..
          check.typename(normalized_shape))
  end
  local k = #normalized_shape
  local ok = k >= 1 and k <= x:dim()
  for i = 1, k do
    if not ok then break end
    ok = x:size(x:dim() - k + i) == normalized_shape[i]
  end
  if not ok then
    raise(string.format("layer_norm: normalized_shape {%s} does not match the trailing dims of an input of shape {%s}",
                        table.concat(normalized_shape, ","), table.concat(shape_of(x), ",")))
  end
  return raw("_layer_norm", "layer_norm")(x, normalized_shape, o.weight, o.bias, o.eps)
end

local group_norm_args = optional_args("group_norm", {"weight", "bias", "eps"}, {eps = 1e-5})

--- group_norm(x, num_groups[, weight, bias, eps]): x (N,C,...) with C
--- divisible by num_groups; weight and bias (C).
-- @usage F.group_norm(x, 4)
function F.group_norm(x, num_groups, ...)
  check_tensor(x, "group_norm", "input")
  local o = group_norm_args(...)
  check_optional_tensor(o.weight, "group_norm", "weight")
  check_optional_tensor(o.bias, "group_norm", "bias")
  if x:dim() < 2 or type(num_groups) ~= "number" or num_groups < 1 or x:size(2) % num_groups ~= 0 then
    raise(string.format("group_norm: expected an input (N,C,...) with C divisible by num_groups, got shape {%s} and num_groups %s",
                        table.concat(shape_of(x), ","), tostring(num_groups)))
  end
  return raw("_group_norm", "group_norm")(x, num_groups, o.weight, o.bias, o.eps)
end

-- -----------------------------------------------------------------------
-- embedding and dropout

local embedding_args = optional_args("embedding", {"padding_idx"}, {})

--- embedding(ids, weight[, padding_idx]): ids an int64 tensor of 1-based
--- ids (any shape), weight (num_embeddings, dim) -> ids.shape .. (dim).
--- The row padding_idx (1-based, negative from the end) gets no gradient.
-- @usage F.embedding(lg.tensor({1, 2}), weight)
function F.embedding(ids, weight, ...)
  check_tensor(ids, "embedding", "input")
  check_tensor(weight, "embedding", "weight")
  local o = embedding_args(...)
  if ids.dtype ~= "int64" and ids.dtype ~= "int32" then
    raise("embedding: expected an integer tensor of ids (int64), got " .. ids.dtype)
  end
  if weight:dim() ~= 2 then
    raise("embedding: expected a 2-D weight (num_embeddings, dim), got " .. weight:dim() .. "-D")
  end
  local shape = shape_of(ids)
  shape[#shape + 1] = weight:size(2)
  local y = weight:index_select(1, ids:reshape(-1)):reshape(shape)
  local padding_idx = o.padding_idx
  if padding_idx ~= nil then
    if type(padding_idx) ~= "number" then
      error("embedding: expected an integer padding_idx, got " .. type(padding_idx), 2)
    end
    if padding_idx < 0 then padding_idx = padding_idx + weight:size(1) + 1 end
    -- the padding positions read the row without recording its gradient
    local mask = ids:eq(padding_idx):unsqueeze(-1)
    y = lg.where(mask, y:detach(), y)
  end
  return y
end

local dropout_args = optional_args("dropout", {"p", "training", "inplace"},
                                   {p = 0.5, training = false, inplace = false})

--- dropout(x[, p, training]): zeroes each element with probability p and
--- scales the rest by 1/(1-p), only when training is true (luagrad's
--- functional default is training = false, so a plain call is the identity;
--- the Dropout module passes its own mode).
-- @usage F.dropout(x, 0.5, true)
function F.dropout(x, ...)
  check_tensor(x, "dropout", "input")
  local o = dropout_args(...)
  local p = o.p
  if type(p) ~= "number" or p < 0 or p > 1 then
    raise("dropout: expected a probability p in [0, 1], got " .. tostring(p))
  end
  if not o.training or p == 0 then return x end
  if p == 1 then return x * 0 end
  local keep = lg.rand_like(x):ge(p):to(x.dtype)
  return x * keep * (1 / (1 - p))
end

-- -----------------------------------------------------------------------
-- activations

-- relu, tanh and sigmoid call the module functions, not x:relu(): a
-- method is found through the tensor's __index, a C call per lookup on the
-- eager small-op path.
local relu, tanh, sigmoid = lg.relu, lg.tanh, lg.sigmoid

--- relu(x)
-- @usage F.relu(x)
function F.relu(x) return relu(check_tensor(x, "relu", "input")) end

--- leaky_relu(x[, negative_slope = 0.01])
-- @usage F.leaky_relu(x, 0.2)
function F.leaky_relu(x, negative_slope)
  check_tensor(x, "leaky_relu", "input")
  if is_options(negative_slope) then
    negative_slope = check.options("leaky_relu", negative_slope, {negative_slope = true}).negative_slope
  end
  negative_slope = negative_slope or 0.01
  return lg.where(x:gt(0), x, x * negative_slope)
end

--- gelu(x[, approximate = "none"]): "tanh" uses the tanh approximation.
-- @usage F.gelu(x, "tanh")
function F.gelu(x, approximate)
  check_tensor(x, "gelu", "input")
  if is_options(approximate) then
    approximate = check.options("gelu", approximate, {approximate = true}).approximate
  end
  approximate = approximate or "none"
  if approximate == "none" then return x:gelu() end
  if approximate == "tanh" then
    local inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
    return x * 0.5 * (inner:tanh() + 1)
  end
  raise("gelu: expected approximate 'none' or 'tanh', got " .. tostring(approximate))
end

--- silu(x)
-- @usage F.silu(x)
function F.silu(x) return check_tensor(x, "silu", "input"):silu() end
--- tanh(x)
-- @usage F.tanh(x)
function F.tanh(x) return tanh(check_tensor(x, "tanh", "input")) end
--- sigmoid(x)
-- @usage F.sigmoid(x)
function F.sigmoid(x) return sigmoid(check_tensor(x, "sigmoid", "input")) end

local softplus_args = optional_args("softplus", {"beta", "threshold"}, {beta = 1, threshold = 20})

--- softplus(x[, beta = 1, threshold = 20]): log(1 + exp(beta x)) / beta,
--- and x itself where beta x > threshold.
-- @usage F.softplus(x, 2)
function F.softplus(x, ...)
  check_tensor(x, "softplus", "input")
  local o = softplus_args(...)
  if o.beta == 1 and o.threshold == 20 then return x:softplus() end
  local bx = x * o.beta
  return lg.where(bx:gt(o.threshold), x, bx:softplus() / o.beta)
end

-- PyTorch's implicit softmax dim (dim = nil): the first dim for 0-, 1- and
-- 3-D inputs, else the second.
local function softmax_dim(x, dim, fname)
  if dim == nil then
    local n = x:dim()
    return (n == 0 or n == 1 or n == 3) and 1 or 2
  end
  if type(dim) ~= "number" then
    raise(fname .. ": expected dim as an integer, got " .. check.typename(dim))
  end
  return dim
end

--- softmax(x, dim): along the 1-based dim.
-- @usage F.softmax(logits, 2)
function F.softmax(x, dim)
  check_tensor(x, "softmax", "input")
  if is_options(dim) then
    dim = check.options("softmax", dim, {dim = true}).dim
  end
  return raw("_softmax", "softmax")(x, softmax_dim(x, dim, "softmax"))
end

--- log_softmax(x, dim): along the 1-based dim.
-- @usage F.log_softmax(logits, 2)
function F.log_softmax(x, dim)
  check_tensor(x, "log_softmax", "input")
  if is_options(dim) then
    dim = check.options("log_softmax", dim, {dim = true}).dim
  end
  return raw("_log_softmax", "log_softmax")(x, softmax_dim(x, dim, "log_softmax"))
end

-- -----------------------------------------------------------------------
-- losses

local function check_pair(input, target, fname)
  check_tensor(input, fname, "input")
  check_tensor(target, fname, "target")
  local a, b = shape_of(input), shape_of(target)
  local same = #a == #b
  for i = 1, same and #a or 0 do
    if a[i] ~= b[i] then same = false break end
  end
  if not same then -- (compared by element: no number formatting per call)
    raise(string.format("%s: expected input and target of the same shape, got {%s} and {%s}",
                        fname, table.concat(a, ","), table.concat(b, ",")))
  end
end

local plain_loss_args = {}
for _, spec in ipairs({{"mse_loss"}, {"l1_loss"}, {"smooth_l1_loss", "beta", 1.0},
                       {"huber_loss", "delta", 1.0}}) do
  local names, defaults = {"reduction"}, {reduction = "mean"}
  if spec[2] then names[2], defaults[spec[2]] = spec[2], spec[3] end
  plain_loss_args[spec[1]] = optional_args(spec[1], names, defaults)
end

--- mse_loss(input, target[, {reduction = "mean"}])
-- @usage F.mse_loss(pred, target, {reduction = "sum"})
function F.mse_loss(input, target, ...)
  check_pair(input, target, "mse_loss")
  local o = plain_loss_args.mse_loss(...)
  local d = input - target
  return reduce(d * d, o.reduction, "mse_loss")
end

--- l1_loss(input, target[, {reduction = "mean"}])
-- @usage F.l1_loss(pred, target)
function F.l1_loss(input, target, ...)
  check_pair(input, target, "l1_loss")
  local o = plain_loss_args.l1_loss(...)
  return reduce((input - target):abs(), o.reduction, "l1_loss")
end

--- smooth_l1_loss(input, target[, {reduction = "mean", beta = 1}]):
--- 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta.
-- @usage F.smooth_l1_loss(pred, target, {beta = 0.5})
function F.smooth_l1_loss(input, target, ...)
  check_pair(input, target, "smooth_l1_loss")
  local o = plain_loss_args.smooth_l1_loss(...)
  if type(o.beta) ~= "number" or o.beta < 0 then
    error("smooth_l1_loss: expected a number beta >= 0, got " .. tostring(o.beta), 2)
  end
  local d = (input - target):abs()
  if o.beta == 0 then return reduce(d, o.reduction, "smooth_l1_loss") end
  local loss = lg.where(d:lt(o.beta), d * d * (0.5 / o.beta), d - 0.5 * o.beta)
  return reduce(loss, o.reduction, "smooth_l1_loss")
end

--- huber_loss(input, target[, {reduction = "mean", delta = 1}]):
--- 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta).
-- @usage F.huber_loss(pred, target, {delta = 2})
function F.huber_loss(input, target, ...)
  check_pair(input, target, "huber_loss")
  local o = plain_loss_args.huber_loss(...)
  if type(o.delta) ~= "number" or o.delta <= 0 then
    error("huber_loss: expected a number delta > 0, got " .. tostring(o.delta), 2)
  end
  local d = (input - target):abs()
  local loss = lg.where(d:lt(o.delta), d * d * 0.5, (d - 0.5 * o.delta) * o.delta)
  return reduce(loss, o.reduction, "huber_loss")
end

local ce_args = optional_args("cross_entropy",
  {"weight", "ignore_index", "reduction", "label_smoothing"},
  {ignore_index = -100, reduction = "mean", label_smoothing = 0.0})

--- cross_entropy(input, target[, weight, {ignore_index = -100, reduction =
--- "mean", label_smoothing = 0}]): input (N,C), (N,C,d1,...) or (C) logits;
--- target int64 class indices 1..C of shape (N), (N,d1,...) or (), or
--- class probabilities of input's shape. With mean reduction the loss is
--- divided by the summed weights of the non-ignored targets.
-- @usage F.cross_entropy(logits, lg.tensor({1, 3})) -- 1-based classes
function F.cross_entropy(input, target, ...)
  check_tensor(input, "cross_entropy", "input")
  check_tensor(target, "cross_entropy", "target")
  local o = ce_args(...)
  check_optional_tensor(o.weight, "cross_entropy", "weight")
  check_reduction(o.reduction, "cross_entropy")
  local ls = o.label_smoothing
  if type(ls) ~= "number" or ls < 0 or ls > 1 then
    raise("cross_entropy: expected label_smoothing in [0, 1], got " .. tostring(ls))
  end
  if target.dtype ~= "int64" and target.dtype ~= "int32" then
    if target:dim() ~= input:dim() then
      raise(string.format("cross_entropy: expected int64 class indices or probabilities of the input's shape {%s}, got a %s target of shape {%s}",
                          table.concat(shape_of(input), ","), target.dtype,
                          table.concat(shape_of(target), ",")))
    end
    check_pair(input, target, "cross_entropy")
  end
  return raw("_cross_entropy", "cross_entropy")(input, target, o.weight, o.reduction,
                                                o.ignore_index, ls)
end

local nll_args = optional_args("nll_loss", {"weight", "ignore_index", "reduction"},
                               {ignore_index = -100, reduction = "mean"})

--- nll_loss(input, target[, weight, {ignore_index = -100, reduction =
--- "mean"}]): input (N,C,...) log-probabilities, target int64 classes 1..C.
-- @usage F.nll_loss(F.log_softmax(logits, 2), targets)
function F.nll_loss(input, target, ...)
  check_tensor(input, "nll_loss", "input")
  check_tensor(target, "nll_loss", "target")
  local o = nll_args(...)
  check_optional_tensor(o.weight, "nll_loss", "weight")
  check_reduction(o.reduction, "nll_loss")
  if target.dtype ~= "int64" and target.dtype ~= "int32" then
    raise("nll_loss: expected int64 class indices as target, got " .. target.dtype)
  end
  return raw("_nll_loss", "nll_loss")(input, target, o.weight, o.reduction, o.ignore_index)
end

-- The unreduced binary cross entropy with PyTorch's gradients, also where
-- a log saturates: d/dx = (x - t) / max(x (1 - x), 1e-12) and
-- d/dt = log(1 - x) - log(x), each log clamped to >= -100. The rules are
-- written with differentiable ops, so they can be differentiated again.
local pointwise_bce = require("luagrad.autograd").Function{
  name = "BinaryCrossEntropy",
  forward = function(ctx, x, t)
    ctx:save_for_backward(x, t)
    local log_x, log_1mx = x:log():clamp(-100), (-x):log1p():clamp(-100)
    return -(t * log_x + (1 - t) * log_1mx)
  end,
  backward = function(ctx, g)
    local x, t = ctx.saved_tensors[1], ctx.saved_tensors[2]
    local grad_x = g * (x - t) / (x * (1 - x)):clamp(1e-12)
    local grad_t = g * ((-x):log1p():clamp(-100) - x:log():clamp(-100))
    return grad_x, grad_t
  end,
}

local bce_args = optional_args("binary_cross_entropy", {"weight", "reduction"},
                               {reduction = "mean"})

--- binary_cross_entropy(input, target[, weight, {reduction = "mean"}]):
--- -(t log x + (1-t) log(1-x)), each log clamped to >= -100 as in PyTorch.
-- @usage F.binary_cross_entropy(lg.sigmoid(z), target)
function F.binary_cross_entropy(input, target, ...)
  check_pair(input, target, "binary_cross_entropy")
  local o = bce_args(...)
  check_optional_tensor(o.weight, "binary_cross_entropy", "weight")
  local loss = pointwise_bce(input, target)
  if o.weight then loss = loss * o.weight end
  return reduce(loss, o.reduction, "binary_cross_entropy")
end

local bce_logits_args = optional_args("binary_cross_entropy_with_logits",
  {"weight", "reduction", "pos_weight"}, {reduction = "mean"})

--- binary_cross_entropy_with_logits(input, target[, weight, {reduction =
--- "mean", pos_weight}]): the stable form
--- (1-t) x + (1 + (pw-1) t) (log1p(exp(-|x|)) + max(-x, 0)).
-- @usage F.binary_cross_entropy_with_logits(z, target, {pos_weight = pw})
function F.binary_cross_entropy_with_logits(input, target, ...)
  local fname = "binary_cross_entropy_with_logits"
  check_pair(input, target, fname)
  local o = bce_logits_args(...)
  check_optional_tensor(o.weight, fname, "weight")
  check_optional_tensor(o.pos_weight, fname, "pos_weight")
  -- log(1 + exp(-x)) written so that it never overflows
  local log_sigmoid_neg = (-input:abs()):exp():log1p() + (-input):relu()
  local loss
  if o.pos_weight then
    loss = (1 - target) * input + ((o.pos_weight - 1) * target + 1) * log_sigmoid_neg
  else
    loss = (1 - target) * input + log_sigmoid_neg
  end
  if o.weight then loss = loss * o.weight end
  return reduce(loss, o.reduction, fname)
end

local kl_args = optional_args("kl_div", {"reduction", "log_target"},
                              {reduction = "mean", log_target = false})

--- kl_div(input, target[, {reduction = "mean", log_target = false}]):
--- input log-probabilities; target probabilities (log-probabilities with
--- log_target); t (log t - x) pointwise, 0 where t = 0. reduction also
--- takes "batchmean" (sum divided by the size of dim 1).
-- @usage F.kl_div(log_p, q, {reduction = "batchmean"})
function F.kl_div(input, target, ...)
  check_pair(input, target, "kl_div")
  local o = kl_args(...)
  local loss
  if o.log_target then
    loss = target:exp() * (target - input)
  else
    -- xlogy(t, t) - t x as PyTorch: 0 where t is 0, also in the gradient
    local nonzero = target:ne(0)
    local safe = lg.where(nonzero, target, 1)
    loss = lg.where(nonzero, target * safe:log(), 0) - target * input
  end
  if o.reduction == "batchmean" then
    local n = input:dim() > 0 and input:size(1) or 1
    return loss:sum() / n
  end
  return reduce(loss, o.reduction, "kl_div")
end

---------------------------------------------------------------------------
-- encodings, normalization of vectors, similarities and distances

local one_hot_args = optional_args("one_hot", {"num_classes"}, {num_classes = -1})

--- One-hot encodes 1-based class indices (luagrad's convention, as the
-- targets of cross_entropy and nll_loss): class c sets position c.
-- @param t an integer tensor of classes 1..num_classes, any shape
-- @param num_classes the number of classes; -1 (the default) takes the
--   largest value in t
-- @return an int64 tensor of t's shape plus a last dim of num_classes
-- @usage F.one_hot(lg.tensor({1, 3}, {dtype = "int64"}), 4)
function F.one_hot(t, ...)
  check_tensor(t, "one_hot", "input")
  local o = one_hot_args(...)
  if t.dtype ~= "int64" and t.dtype ~= "int32" then
    raise("one_hot: expected an integer tensor (int64) of class indices, got " .. t.dtype)
  end
  local classes = o.num_classes
  if math.type(classes) ~= "integer" or (classes < 1 and classes ~= -1) then
    raise("one_hot: expected num_classes as a positive integer or -1, got " .. tostring(classes))
  end
  if t:numel() > 0 then
    local low, high = t:min():item(), t:max():item()
    if low < 1 then
      raise(string.format("one_hot: expected class indices >= 1 (1-based), got %d", low))
    end
    if classes == -1 then classes = high end
    if high > classes then
      raise(string.format("one_hot: class index %d is larger than num_classes %d", high, classes))
    end
  elseif classes == -1 then
    raise("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
  end
  return t:to("int64"):unsqueeze(-1):eq(lg.arange(1, classes + 1, {dtype = "int64"})):to("int64")
end

local normalize_args = optional_args("normalize", {"p", "dim", "eps"}, {p = 2, dim = 2, eps = 1e-12})

--- Divides x by its p-norm along dim, as PyTorch's `F.normalize`:
-- x / max(||x||_p, eps).
-- @param x a float tensor
-- @param opts `{p = 2, dim = 2, eps = 1e-12}` (or positionally); dim is
--   1-based, so the default is PyTorch's dim=1
-- @return a tensor of x's shape
-- @usage F.normalize(x, {dim = -1})
function F.normalize(x, ...)
  check_tensor(x, "normalize", "input")
  local o = normalize_args(...)
  return x / x:norm(o.p, o.dim, true):clamp(o.eps)
end

local cosine_args = optional_args("cosine_similarity", {"dim", "eps"}, {dim = 2, eps = 1e-8})

--- Cosine similarity along dim, as PyTorch 1.13's `F.cosine_similarity`:
-- sum(x1 x2) / sqrt(max(|x1|^2, eps^2) max(|x2|^2, eps^2)); x1 and x2
-- broadcast. As in PyTorch 1.13 the clamp changes the value only: the
-- gradient flows through the squared norms as if unclamped.
-- @param x1 a float tensor
-- @param x2 a float tensor broadcastable with x1
-- @param opts `{dim = 2, eps = 1e-8}` (or positionally; dim 1-based)
-- @return the broadcast shape without dim
-- @usage F.cosine_similarity(a, b, {dim = -1})
function F.cosine_similarity(x1, x2, ...)
  check_tensor(x1, "cosine_similarity", "x1")
  check_tensor(x2, "cosine_similarity", "x2")
  local o = cosine_args(...)
  local prod = x1 * x2
  -- the squared norms over the broadcast shape, so that dim names one dim
  local shape, floor = prod.shape, o.eps * o.eps
  local function squared_norm(x)
    local n = x:expand(shape):square():sum(o.dim)
    return n + (n:clamp(floor) - n):detach()
  end
  return prod:sum(o.dim) / (squared_norm(x1) * squared_norm(x2)):sqrt()
end

local pairwise_args = optional_args("pairwise_distance", {"p", "eps", "keepdim"},
                                    {p = 2, eps = 1e-6, keepdim = false})

--- The p-norm distance ||x1 - x2 + eps||_p over the last dim, as
-- PyTorch's `F.pairwise_distance`; x1 and x2 broadcast.
-- @param x1 a float tensor (N, D) or (D)
-- @param x2 a float tensor broadcastable with x1
-- @param opts `{p = 2, eps = 1e-6, keepdim = false}` (or positionally)
-- @return the distances, the last dim reduced
-- @usage F.pairwise_distance(a, b)
function F.pairwise_distance(x1, x2, ...)
  check_tensor(x1, "pairwise_distance", "x1")
  check_tensor(x2, "pairwise_distance", "x2")
  local o = pairwise_args(...)
  return (x1 - x2 + o.eps):norm(o.p, -1, o.keepdim)
end

require("luagrad.nn.functional_spatial")(F)

return F
