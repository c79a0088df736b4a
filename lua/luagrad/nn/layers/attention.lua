--- luagrad.nn.layers.attention: MultiheadAttention, the Transformer
-- encoder and decoder layers and stacks, and the whole Transformer, with
-- PyTorch 1.13's parameter names (in_proj_weight or q/k/v_proj_weight,
-- in_proj_bias, bias_k, bias_v, out_proj.weight, out_proj.bias; self_attn,
-- multihead_attn, linear1, linear2, norm1..norm3) and computation order.
-- @module nn
local lg = require "luagrad"
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

local mha_args = L.args("MultiheadAttention",
  {"dropout", "bias", "add_bias_kv", "add_zero_attn", "kdim", "vdim", "batch_first", "dtype"},
  {dropout = 0, bias = true, add_bias_kv = false, add_zero_attn = false, batch_first = false})

--- MultiheadAttention(embed_dim, num_heads[, dropout = 0, bias = true,
--- add_bias_kv = false, add_zero_attn = false, kdim = embed_dim, vdim =
--- embed_dim, batch_first = false]), with PyTorch's parameters: when kdim
--- and vdim equal embed_dim, in_proj_weight (3E,E) xavier-uniform; else
--- q_proj_weight (E,E), k_proj_weight (E,kdim), v_proj_weight (E,vdim),
--- each xavier-uniform. in_proj_bias (3E) zeros, out_proj a Linear(E,E)
--- with a zero bias; add_bias_kv adds bias_k and bias_v (1,1,E),
--- xavier-normal, appended to the keys and values as one more position;
--- add_zero_attn appends a zero key and value after the projection.
-- @usage local out, weights = nn.MultiheadAttention(16, 4)(q, k, v)
local MultiheadAttention = nn.Module:extend("MultiheadAttention")
function MultiheadAttention:init(embed_dim, num_heads, ...)
  L.sizes("MultiheadAttention", {"embed_dim", "num_heads"}, embed_dim, num_heads)
  local o = mha_args(...)
  if embed_dim % num_heads ~= 0 then
    L.raise(string.format("MultiheadAttention: embed_dim (%d) must be divisible by num_heads (%d)",
                          embed_dim, num_heads))
  end
  local kdim, vdim = o.kdim or embed_dim, o.vdim or embed_dim
  L.sizes("MultiheadAttention", {"kdim", "vdim"}, kdim, vdim)
  self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
  self.kdim, self.vdim = kdim, vdim
  self.dropout, self.batch_first = o.dropout, o.batch_first
  self.add_zero_attn = o.add_zero_attn
  local float = {dtype = o.dtype or "float32"}
  if kdim == embed_dim and vdim == embed_dim then
    self.in_proj_weight = nn.Parameter(L.xavier_uniform({3 * embed_dim, embed_dim}, o.dtype))
  else
    self.q_proj_weight = nn.Parameter(L.xavier_uniform({embed_dim, embed_dim}, o.dtype))
    self.k_proj_weight = nn.Parameter(L.xavier_uniform({embed_dim, kdim}, o.dtype))
    self.v_proj_weight = nn.Parameter(L.xavier_uniform({embed_dim, vdim}, o.dtype))
  end
  if o.bias then
    self.in_proj_bias = nn.Parameter(lg.zeros(3 * embed_dim, float))
  end
  self.out_proj = L.Linear(embed_dim, embed_dim, {bias = o.bias, dtype = o.dtype})
  if o.bias then lg.no_grad(function() self.out_proj.bias:zero_() end) end
  if o.add_bias_kv then
    -- xavier_normal_ of a (1,1,E) tensor: std = sqrt(2 / (E + E))
    local std = math.sqrt(1 / embed_dim)
    self.bias_k = nn.Parameter(lg.randn({1, 1, embed_dim}, float) * std)
    self.bias_v = nn.Parameter(lg.randn({1, 1, embed_dim}, float) * std)
  end
end

-- An additive float mask from a bool mask (true: not allowed) or a float one.
local function additive(mask, dtype)
  if mask.dtype == "bool" then
    return lg.zeros(mask.shape, {dtype = dtype}):masked_fill(mask, -math.huge)
  end
  return mask
end

-- The projections q (L,N,E), k (S,N,E), v (S,N,E) of the inputs.
local function project(self, query, key, value)
  local b = self.in_proj_bias
  local bs = b and b:chunk(3, 1) or {}
  local wq, wk, wv
  if self.in_proj_weight then
    local ws = self.in_proj_weight:chunk(3, 1)
    wq, wk, wv = ws[1], ws[2], ws[3]
  else
    wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
  end
  return F.linear(query, wq, bs[1]), F.linear(key, wk, bs[2]), F.linear(value, wv, bs[3])
end

-- Appends one more key position to the masks (L,S)/(N*heads,L,S) and
-- (N,S), allowed: after bias_k/bias_v or the zero attention.
local function extend_masks(attn_mask, kpm)
  if attn_mask then attn_mask = F.pad(attn_mask, {0, 1}) end
  if kpm then kpm = F.pad(kpm, {0, 1}) end
  return attn_mask, kpm
end

local mha_forward_args = L.args("MultiheadAttention.forward",
  {"key_padding_mask", "need_weights", "attn_mask", "average_attn_weights"},
  {need_weights = true, average_attn_weights = true})

--- forward(query, key, value[, key_padding_mask, need_weights = true,
--- attn_mask, average_attn_weights = true]): query (L,N,E), key (S,N,kdim)
--- and value (S,N,vdim) ((N,L,E) with batch_first; (L,E) unbatched).
--- attn_mask (L,S) or (N*num_heads,L,S), key_padding_mask (N,S): bool
--- (true masks the position out) or float (added to the scores). Returns
--- the output and, with need_weights, the attention weights (N,L,S)
--- averaged over heads (N,num_heads,L,S with average_attn_weights =
--- false); S counts the bias_k and zero-attention positions.
function MultiheadAttention:forward(query, key, value, ...)
  local o = mha_forward_args(...)
  local fname = "MultiheadAttention.forward"
  for i, t in ipairs({query, key, value}) do
    if not lg.is_tensor(t) then
      L.raise(string.format("%s: expected a tensor as %s, got %s", fname,
                            ({"query", "key", "value"})[i], L.typename(t)))
    end
  end
  local batched = query:dim() == 3
  local kpm = o.key_padding_mask
  if not batched then
    query, key, value = query:unsqueeze(2), key:unsqueeze(2), value:unsqueeze(2)
    if kpm then kpm = kpm:unsqueeze(1) end
  elseif self.batch_first then
    query, key, value = query:transpose(1, 2), key:transpose(1, 2), value:transpose(1, 2)
  end
  local tgt_len, n, e = query:size(1), query:size(2), query:size(3)
  for _, c in ipairs({{query, self.embed_dim, "query"}, {key, self.kdim, "key"},
                      {value, self.vdim, "value"}}) do
    if c[1]:dim() ~= 3 or c[1]:size(3) ~= c[2] then
      L.raise(string.format("%s: expected %s with embedding size %d, got shape {%s}", fname,
                            c[3], c[2], table.concat(c[1].shape, ",")))
    end
  end
  if key:size(1) ~= value:size(1) or key:size(2) ~= n or value:size(2) ~= n then
    L.raise(string.format("%s: expected key and value of one length and the query's batch size %d, got {%s} and {%s}",
                          fname, n, table.concat(key.shape, ","), table.concat(value.shape, ",")))
  end
  local heads, hd = self.num_heads, self.head_dim
  local q, k, v = project(self, query, key, value)
  local attn_mask = o.attn_mask and additive(o.attn_mask, q.dtype)
  kpm = kpm and additive(kpm, q.dtype)
  if self.bias_k then
    k = lg.cat({k, self.bias_k:expand(1, n, e)}, 1)
    v = lg.cat({v, self.bias_v:expand(1, n, e)}, 1)
    attn_mask, kpm = extend_masks(attn_mask, kpm)
  end
  -- (L,N,E) -> (N*heads, L, hd)
  q = q:reshape(tgt_len, n * heads, hd):transpose(1, 2)
  k = k:reshape(k:size(1), n * heads, hd):transpose(1, 2)
  v = v:reshape(v:size(1), n * heads, hd):transpose(1, 2)
  if self.add_zero_attn then
    k = lg.cat({k, lg.zeros({n * heads, 1, hd}, {dtype = k.dtype})}, 2)
    v = lg.cat({v, lg.zeros({n * heads, 1, hd}, {dtype = v.dtype})}, 2)
    attn_mask, kpm = extend_masks(attn_mask, kpm)
  end
  local src_len = k:size(2)
  local mask = attn_mask
  if kpm then
    local kmask = kpm:reshape(n, 1, 1, src_len)
      :expand(n, heads, 1, src_len):reshape(n * heads, 1, src_len)
    mask = mask and (mask + kmask) or kmask
  end
  local scores = (q * (1 / math.sqrt(hd))):matmul(k:transpose(2, 3))
  if mask then scores = scores + mask end
  local attn = F.softmax(scores, -1)
  if self.dropout > 0 then attn = F.dropout(attn, self.dropout, self.training) end
  local out = attn:matmul(v):transpose(1, 2):reshape(tgt_len * n, e)
  out = self.out_proj(out):reshape(tgt_len, n, e)
  local weights
  if o.need_weights then
    weights = attn:reshape(n, heads, tgt_len, src_len)
    if o.average_attn_weights then weights = weights:mean(2) end
    if not batched then weights = weights:squeeze(1) end
  end
  if not batched then
    out = out:squeeze(2)
  elseif self.batch_first then
    out = out:transpose(1, 2)
  end
  return out, weights
end

function MultiheadAttention:extra_repr()
  local fields = {{"embed_dim", self.embed_dim}, {"num_heads", self.num_heads},
                  {"batch_first", self.batch_first}}
  if self.kdim ~= self.embed_dim then fields[#fields + 1] = {"kdim", self.kdim} end
  if self.vdim ~= self.embed_dim then fields[#fields + 1] = {"vdim", self.vdim} end
  return L.repr(fields)
end
M.MultiheadAttention = MultiheadAttention

local ACTIVATIONS = {relu = F.relu, gelu = F.gelu}

local LAYER_NAMES = {"dim_feedforward", "dropout", "activation", "layer_norm_eps", "batch_first",
                     "norm_first", "dtype"}
local LAYER_DEFAULTS = {dim_feedforward = 2048, dropout = 0.1, activation = "relu",
                        layer_norm_eps = 1e-5, batch_first = false, norm_first = false}

-- The parts shared by the encoder and decoder layers, in PyTorch's order:
-- the attention blocks (self_attn, multihead_attn), linear1, dropout,
-- linear2, norm1..norm<n>, dropout1..dropout<n>, the activation.
local function init_layer(self, cname, d_model, nhead, o, attentions)
  L.sizes(cname, {"d_model", "nhead"}, d_model, nhead)
  local act = o.activation
  if type(act) == "string" then
    act = ACTIVATIONS[act]
    if not act then
      L.raise(cname .. ": expected activation 'relu' or 'gelu', got '" .. o.activation .. "'")
    end
  end
  local dtype = o.dtype
  for _, name in ipairs(attentions) do
    self[name] = MultiheadAttention(d_model, nhead, {dropout = o.dropout,
                                                     batch_first = o.batch_first, dtype = dtype})
  end
  self.linear1 = L.Linear(d_model, o.dim_feedforward, {dtype = dtype})
  self.dropout = L.Dropout(o.dropout)
  self.linear2 = L.Linear(o.dim_feedforward, d_model, {dtype = dtype})
  self.norm_first = o.norm_first
  for i = 1, #attentions + 1 do
    self["norm" .. i] = L.LayerNorm(d_model, {eps = o.layer_norm_eps, dtype = dtype})
  end
  for i = 1, #attentions + 1 do self["dropout" .. i] = L.Dropout(o.dropout) end
  self.activation = act
end

-- linear2(dropout(activation(linear1(x)))), then the block's own dropout.
local function feed_forward(self, x, dropout)
  return dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))
end

-- A residual block: x + f(norm(x)) with norm_first, else norm(x + f(x)).
local function residual(self, x, norm, f)
  if self.norm_first then return x + f(norm(x)) end
  return norm(x + f(x))
end

local tel_args = L.args("TransformerEncoderLayer", LAYER_NAMES, LAYER_DEFAULTS)

--- TransformerEncoderLayer(d_model, nhead[, dim_feedforward = 2048,
--- dropout = 0.1, activation = "relu", layer_norm_eps = 1e-5, batch_first
--- = false, norm_first = false]): activation "relu", "gelu", a function or
--- a module. forward(src[, src_mask, src_key_padding_mask]).
-- @usage nn.TransformerEncoderLayer(32, 4, {dim_feedforward = 64})(lg.randn(10, 2, 32))
local TransformerEncoderLayer = nn.Module:extend("TransformerEncoderLayer")
function TransformerEncoderLayer:init(d_model, nhead, ...)
  init_layer(self, "TransformerEncoderLayer", d_model, nhead, tel_args(...), {"self_attn"})
end

local tel_forward_args = L.args("TransformerEncoderLayer.forward",
                                {"src_mask", "src_key_padding_mask"}, {})

function TransformerEncoderLayer:forward(src, ...)
  local o = tel_forward_args(...)
  local x = residual(self, src, self.norm1, function(y)
    return self.dropout1(self.self_attn(y, y, y, {attn_mask = o.src_mask,
      key_padding_mask = o.src_key_padding_mask, need_weights = false}))
  end)
  return residual(self, x, self.norm2, function(y) return feed_forward(self, y, self.dropout2) end)
end
M.TransformerEncoderLayer = TransformerEncoderLayer

local tdl_args = L.args("TransformerDecoderLayer", LAYER_NAMES, LAYER_DEFAULTS)

--- TransformerDecoderLayer(d_model, nhead[, dim_feedforward = 2048,
--- dropout = 0.1, activation = "relu", layer_norm_eps = 1e-5, batch_first
--- = false, norm_first = false]): PyTorch's self_attn, multihead_attn
--- (attention over the encoder's memory), linear1, linear2, norm1..3.
-- @usage nn.TransformerDecoderLayer(32, 4)(lg.randn(5, 2, 32), lg.randn(10, 2, 32))
local TransformerDecoderLayer = nn.Module:extend("TransformerDecoderLayer")
function TransformerDecoderLayer:init(d_model, nhead, ...)
  init_layer(self, "TransformerDecoderLayer", d_model, nhead, tdl_args(...),
             {"self_attn", "multihead_attn"})
end

local DECODER_MASKS = {"tgt_mask", "memory_mask", "tgt_key_padding_mask",
                       "memory_key_padding_mask"}
local tdl_forward_args = L.args("TransformerDecoderLayer.forward", DECODER_MASKS, {})

--- forward(tgt, memory[, tgt_mask, memory_mask, tgt_key_padding_mask,
--- memory_key_padding_mask]): tgt (T,N,E), memory (S,N,E) ((N,T,E) with
--- batch_first); masks as MultiheadAttention's.
function TransformerDecoderLayer:forward(tgt, memory, ...)
  local o = tdl_forward_args(...)
  local x = residual(self, tgt, self.norm1, function(y)
    return self.dropout1(self.self_attn(y, y, y, {attn_mask = o.tgt_mask,
      key_padding_mask = o.tgt_key_padding_mask, need_weights = false}))
  end)
  x = residual(self, x, self.norm2, function(y)
    return self.dropout2(self.multihead_attn(y, memory, memory, {attn_mask = o.memory_mask,
      key_padding_mask = o.memory_key_padding_mask, need_weights = false}))
  end)
  return residual(self, x, self.norm3, function(y) return feed_forward(self, y, self.dropout3) end)
end
M.TransformerDecoderLayer = TransformerDecoderLayer

-- n independent copies of a layer with its current weights, as PyTorch's
-- copy.deepcopy (module:clone()).
local function copies(layer, n)
  local out = {}
  for i = 1, n do out[i] = layer:clone() end
  return out
end

local function stack_class(cname, layer_class, forward_names)
  -- PyTorch's enable_nested_tensor and mask_check (encoder) only choose
  -- its fast paths: accepted, with the same results
  local args = L.args(cname, {"norm", "enable_nested_tensor", "mask_check"}, {})
  local Stack = nn.Module:extend(cname)
  function Stack:init(layer, num_layers, norm, ...)
    if not (nn.is_module(layer) and getmetatable(layer) == layer_class) then
      L.raise(string.format("%s: expected a %s as the layer to copy, got %s", cname,
                            layer_class.__name, L.typename(layer)))
    end
    L.sizes(cname, {"num_layers"}, num_layers)
    -- a module is a table without array part: take it positionally here,
    -- before the options parser would read it as an options table
    if nn.is_module(norm) then args(nil, ...) else norm = args(norm, ...).norm end
    if norm ~= nil and not nn.is_module(norm) then
      L.raise(string.format("%s: expected a module or nil as norm, got %s", cname, L.typename(norm)))
    end
    self.layers = nn.ModuleList(copies(layer, num_layers))
    self.num_layers = num_layers
    if norm ~= nil then self.norm = norm end
  end
  local forward_args = L.args(cname .. ".forward", forward_names, {})
  if layer_class == TransformerDecoderLayer then
    function Stack:forward(tgt, memory, ...)
      local masks = forward_args(...)
      for i = 1, self.num_layers do tgt = self.layers[i](tgt, memory, masks) end
      if self.norm then tgt = self.norm(tgt) end
      return tgt
    end
  else
    function Stack:forward(src, ...)
      local masks = forward_args(...)
      local layer_masks = {src_mask = masks.mask, src_key_padding_mask = masks.src_key_padding_mask}
      for i = 1, self.num_layers do src = self.layers[i](src, layer_masks) end
      if self.norm then src = self.norm(src) end
      return src
    end
  end
  return Stack
end

--- TransformerEncoder(encoder_layer, num_layers[, norm]): num_layers
--- copies of encoder_layer (layers.1 ... as ModuleList names them) and an
--- optional final norm. forward(src[, mask, src_key_padding_mask]).
-- @usage nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4), 2)(lg.randn(10, 2, 32))
local TransformerEncoder = stack_class("TransformerEncoder", TransformerEncoderLayer,
                                       {"mask", "src_key_padding_mask"})
M.TransformerEncoder = TransformerEncoder

--- TransformerDecoder(decoder_layer, num_layers[, norm]):
--- forward(tgt, memory[, tgt_mask, memory_mask, tgt_key_padding_mask,
--- memory_key_padding_mask]).
-- @usage nn.TransformerDecoder(nn.TransformerDecoderLayer(32, 4), 2)(lg.randn(5, 2, 32), lg.randn(10, 2, 32))
M.TransformerDecoder = stack_class("TransformerDecoder", TransformerDecoderLayer, DECODER_MASKS)

local transformer_args = L.args("Transformer",
  {"d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward", "dropout",
   "activation", "custom_encoder", "custom_decoder", "layer_norm_eps", "batch_first",
   "norm_first", "dtype"},
  {d_model = 512, nhead = 8, num_encoder_layers = 6, num_decoder_layers = 6,
   dim_feedforward = 2048, dropout = 0.1, activation = "relu", layer_norm_eps = 1e-5,
   batch_first = false, norm_first = false})

--- Transformer([d_model = 512, nhead = 8, num_encoder_layers = 6,
--- num_decoder_layers = 6, dim_feedforward = 2048, dropout = 0.1,
--- activation = "relu", custom_encoder, custom_decoder, layer_norm_eps =
--- 1e-5, batch_first = false, norm_first = false]): PyTorch's
--- encoder-decoder (encoder.layers.i..., encoder.norm, decoder.layers.i...,
--- decoder.norm), every matrix parameter xavier-uniform.
--- forward(src, tgt[, src_mask, tgt_mask, memory_mask,
--- src_key_padding_mask, tgt_key_padding_mask, memory_key_padding_mask]).
-- @usage nn.Transformer({d_model = 32, nhead = 4, num_encoder_layers = 1, num_decoder_layers = 1})(lg.randn(10, 2, 32), lg.randn(5, 2, 32))
local Transformer = nn.Module:extend("Transformer")
function Transformer:init(...)
  local o = transformer_args(...)
  local layer_opts = {dim_feedforward = o.dim_feedforward, dropout = o.dropout,
                      activation = o.activation, layer_norm_eps = o.layer_norm_eps,
                      batch_first = o.batch_first, norm_first = o.norm_first, dtype = o.dtype}
  local norm_opts = {eps = o.layer_norm_eps, dtype = o.dtype}
  self.encoder = o.custom_encoder or TransformerEncoder(
    TransformerEncoderLayer(o.d_model, o.nhead, layer_opts), o.num_encoder_layers,
    L.LayerNorm(o.d_model, norm_opts))
  self.decoder = o.custom_decoder or M.TransformerDecoder(
    TransformerDecoderLayer(o.d_model, o.nhead, layer_opts), o.num_decoder_layers,
    L.LayerNorm(o.d_model, norm_opts))
  self.d_model, self.nhead, self.batch_first = o.d_model, o.nhead, o.batch_first
  lg.no_grad(function()
    for _, p in ipairs(self:parameters()) do
      if p:dim() > 1 then p:copy_(L.xavier_uniform({p:size(1), p:size(2)}, p.dtype)) end
    end
  end)
end

local transformer_forward_args = L.args("Transformer.forward",
  {"src_mask", "tgt_mask", "memory_mask", "src_key_padding_mask", "tgt_key_padding_mask",
   "memory_key_padding_mask"}, {})

function Transformer:forward(src, tgt, ...)
  local o = transformer_forward_args(...)
  local batch = (src:dim() == 3) and (self.batch_first and 1 or 2) or nil
  if batch and tgt:dim() == 3 and src:size(batch) ~= tgt:size(batch) then
    L.raise(string.format("Transformer.forward: the batch number of src (%d) and tgt (%d) must be equal",
                          src:size(batch), tgt:size(batch)))
  end
  if src:size(-1) ~= self.d_model or tgt:size(-1) ~= self.d_model then
    L.raise(string.format("Transformer.forward: the feature number of src and tgt must be d_model (%d), got %d and %d",
                          self.d_model, src:size(-1), tgt:size(-1)))
  end
  local memory = self.encoder(src, {mask = o.src_mask,
                                    src_key_padding_mask = o.src_key_padding_mask})
  return self.decoder(tgt, memory, {tgt_mask = o.tgt_mask, memory_mask = o.memory_mask,
                                    tgt_key_padding_mask = o.tgt_key_padding_mask,
                                    memory_key_padding_mask = o.memory_key_padding_mask})
end

--- Transformer.generate_square_subsequent_mask(sz): the (sz,sz) float
--- mask with -inf above the diagonal and 0 elsewhere (a position may
--- attend to itself and earlier ones).
-- @usage nn.Transformer.generate_square_subsequent_mask(4)  -- {4, 4}
function Transformer.generate_square_subsequent_mask(sz, dtype)
  L.sizes("generate_square_subsequent_mask", {"sz"}, sz)
  local i = lg.arange(sz, {dtype = "int64"})
  local future = i:unsqueeze(1):gt(i:unsqueeze(2))
  return lg.zeros({sz, sz}, {dtype = dtype or "float32"}):masked_fill(future, -math.huge)
end
M.Transformer = Transformer

return M
