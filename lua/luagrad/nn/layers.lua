--- luagrad.nn.layers: the index of the built-in layer and loss classes,
-- name -> class, loading each family file (nn/layers/<family>.lua) on
-- first use. nn/init.lua resolves nn.Linear and the others through it.
--
-- Each family file returns a table name -> class; its classes are made with
-- nn.Module:extend and hold their parameters as plain fields, calling
-- nn.functional for the computation. The helpers below are shared by the
-- family files (PyTorch's default initialisation, constructor options).
-- @module nn.layers
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local FAMILY = {
  Identity = "linear", Linear = "linear", Bilinear = "linear", Flatten = "linear",
  Conv1d = "conv", Conv2d = "conv", ConvTranspose2d = "conv",
  MaxPool2d = "pooling", AvgPool2d = "pooling", AdaptiveAvgPool2d = "pooling",
  BatchNorm1d = "normalization", BatchNorm2d = "normalization",
  LayerNorm = "normalization", GroupNorm = "normalization",
  ReLU = "activation", LeakyReLU = "activation", GELU = "activation", SiLU = "activation",
  Tanh = "activation", Sigmoid = "activation", Softmax = "activation",
  LogSoftmax = "activation",
  Dropout = "dropout",
  Embedding = "sparse",
  RNN = "rnn", LSTM = "rnn", GRU = "rnn",
  MultiheadAttention = "attention", TransformerEncoderLayer = "attention",
  TransformerEncoder = "attention", TransformerDecoderLayer = "attention",
  TransformerDecoder = "attention", Transformer = "attention",
  ZeroPad2d = "padding", ConstantPad1d = "padding", ConstantPad2d = "padding",
  ConstantPad3d = "padding", ReflectionPad1d = "padding", ReflectionPad2d = "padding",
  ReflectionPad3d = "padding", ReplicationPad1d = "padding", ReplicationPad2d = "padding",
  ReplicationPad3d = "padding", Upsample = "padding", Unfold = "padding", Fold = "padding",
  MSELoss = "loss", L1Loss = "loss", SmoothL1Loss = "loss", HuberLoss = "loss",
  CrossEntropyLoss = "loss", NLLLoss = "loss", BCELoss = "loss",
  BCEWithLogitsLoss = "loss", KLDivLoss = "loss",
}

local layers = {}

--- layers.sizes(cname, names, ...): checks that each value is a positive
--- integer (a layer's size arguments), raising "cname: expected a positive
--- integer for name, got ..." at the line that constructed the layer.
function layers.sizes(cname, names, ...)
  for i, name in ipairs(names) do
    local v = select(i, ...)
    if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) or v < 1 then
      raise(string.format("%s: expected a positive integer for %s, got %s", cname, name,
                          check.typename(v) == "number" and tostring(v) or check.typename(v)))
    end
  end
end

--- layers.names(): the sorted names of every class in the index.
function layers.names()
  local out = {}
  for name in pairs(FAMILY) do out[#out + 1] = name end
  table.sort(out)
  return out
end

--- layers.family(name): the family file of a class name, or nil.
function layers.family(name)
  return FAMILY[name]
end

--- layers.uniform(shape, bound, dtype): a tensor drawn from U(-bound, bound)
--- (PyTorch's kaiming_uniform_(a = sqrt(5)) for Linear and Conv weights
--- has bound 1/sqrt(fan_in), the same as their biases).
function layers.uniform(shape, bound, dtype)
  return (lg.rand(shape, {dtype = dtype or "float32"}) * 2 - 1) * bound
end

--- layers.xavier_uniform(shape, dtype): U(-a, a) with a = sqrt(6 / (fan_in
--- + fan_out)) for a 2-D shape (out, in).
function layers.xavier_uniform(shape, dtype)
  return layers.uniform(shape, math.sqrt(6 / (shape[1] + shape[2])), dtype)
end

-- layers.raise(message) and layers.typename(v): luagrad.check's, for the
-- family files (errors at the user's line, type names in messages).
layers.raise, layers.typename = check.raise, check.typename

--- layers.args(cname, names, defaults): a parser of a constructor's optional
--- arguments (positional in PyTorch's order, or one trailing options table);
--- see nn.functional's calling convention.
function layers.args(cname, names, defaults)
  return check.optional_args(cname, names, defaults)
end

--- layers.repr(fields): "k1=v1, k2=v2" for extra_repr, from an array of
--- {name, value} pairs (name "" prints the bare value; quote = true quotes a
--- string); tables of numbers print as (a, b).
function layers.repr(fields)
  local parts = {}
  for _, f in ipairs(fields) do
    local v = f[2]
    if type(v) == "table" and not lg.is_tensor(v) then
      local items = {}
      for i = 1, #v do items[i] = tostring(v[i]) end
      v = "(" .. table.concat(items, ", ") .. (#v == 1 and ",)" or ")")
    elseif type(v) == "string" and f.quote then
      v = "'" .. v .. "'"
    end
    parts[#parts + 1] = (f[1] == "" and "" or f[1] .. "=") .. tostring(v)
  end
  return table.concat(parts, ", ")
end

setmetatable(layers, {
  __index = function(t, name)
    local family = FAMILY[name]
    if not family then return nil end
    local classes = require("luagrad.nn.layers." .. family)
    for k, v in pairs(classes) do rawset(t, k, v) end
    return rawget(t, name)
  end,
})

return layers
