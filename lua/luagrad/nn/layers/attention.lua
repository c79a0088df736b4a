--- luagrad.nn.layers.attention: MultiheadAttention and
-- TransformerEncoderLayer, with PyTorch 1.13's parameter names
-- (in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias; self_attn,
-- linear1, linear2, norm1, norm2) and computation order.
-- @module nn
local lg = require "luagrad"
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"

local M = {}

local mha_args = L.args("MultiheadAttention", {"dropout", "bias", "batch_first", "dtype"},
                        {dropout = 0, bias = true, batch_first = false})

--- MultiheadAttention(embed_dim, num_heads[, dropout = 0, bias = true,
--- batch_first = false]): in_proj_weight (3E,E) xavier-uniform,
--- in_proj_bias (3E) zeros, out_proj a Linear(E,E) with a zero bias.
--- Keys and values have the embedding size of the query (kdim = vdim = E).
-- @usage local out, weights = nn.MultiheadAttention(16, 4)(q, k, v)
local MultiheadAttention = nn.Module:extend("MultiheadAttention")
function MultiheadAttention:init(embed_dim, num_heads, ...)
  L.sizes("MultiheadAttention", {"embed_dim", "num_heads"}, embed_dim, num_heads)
  local o = mha_args(...)
  if embed_dim % num_heads ~= 0 then
    L.raise(string.format("MultiheadAttention: embed_dim (%d) must be divisible by num_heads (%d)",
                          embed_dim, num_heads))
  end
  self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
  self.dropout, self.batch_first = o.dropout, o.batch_first
  self.in_proj_weight = nn.Parameter(L.xavier_uniform({3 * embed_dim, embed_dim}, o.dtype))
  if o.bias then
    self.in_proj_bias = nn.Parameter(lg.zeros(3 * embed_dim, {dtype = o.dtype or "float32"}))
  end
  self.out_proj = L.Linear(embed_dim, embed_dim, {bias = o.bias, dtype = o.dtype})
  if o.bias then lg.no_grad(function() self.out_proj.bias:zero_() end) end
end

-- An additive float mask from a bool mask (true: not allowed) or a float one.
local function additive(mask, dtype)
  if mask.dtype == "bool" then
    return lg.zeros(mask.shape, {dtype = dtype}):masked_fill(mask, -math.huge)
  end
  return mask
end

local mha_forward_args = L.args("MultiheadAttention.forward",
  {"key_padding_mask", "need_weights", "attn_mask", "average_attn_weights"},
  {need_weights = true, average_attn_weights = true})

--- forward(query, key, value[, key_padding_mask, need_weights = true,
--- attn_mask, average_attn_weights = true]): query (L,N,E), key and value
--- (S,N,E) ((N,L,E) with batch_first; (L,E) unbatched). attn_mask (L,S) or
--- (N*num_heads,L,S), key_padding_mask (N,S): bool (true masks the
--- position out) or float (added to the scores). Returns the output and,
--- with need_weights, the attention weights (N,L,S) averaged over heads
--- (N,num_heads,L,S with average_attn_weights = false).
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
  if e ~= self.embed_dim then
    L.raise(string.format("%s: expected embedding size %d, got %d", fname, self.embed_dim, e))
  end
  local src_len, heads, hd = key:size(1), self.num_heads, self.head_dim
  local w, b = self.in_proj_weight, self.in_proj_bias
  local ws, bs = w:chunk(3, 1), b and b:chunk(3, 1) or {}
  local q = F.linear(query, ws[1], bs[1])
  local k = F.linear(key, ws[2], bs[2])
  local v = F.linear(value, ws[3], bs[3])
  -- (L,N,E) -> (N*heads, L, hd)
  q = q:reshape(tgt_len, n * heads, hd):transpose(1, 2)
  k = k:reshape(src_len, n * heads, hd):transpose(1, 2)
  v = v:reshape(src_len, n * heads, hd):transpose(1, 2)
  local mask = o.attn_mask and additive(o.attn_mask, q.dtype)
  if kpm then
    local kmask = additive(kpm, q.dtype):reshape(n, 1, 1, src_len)
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
  return L.repr({{"embed_dim", self.embed_dim}, {"num_heads", self.num_heads},
                 {"batch_first", self.batch_first}})
end
M.MultiheadAttention = MultiheadAttention

local ACTIVATIONS = {relu = F.relu, gelu = F.gelu}

local tel_args = L.args("TransformerEncoderLayer",
  {"dim_feedforward", "dropout", "activation", "layer_norm_eps", "batch_first", "norm_first",
   "dtype"},
  {dim_feedforward = 2048, dropout = 0.1, activation = "relu", layer_norm_eps = 1e-5,
   batch_first = false, norm_first = false})

--- TransformerEncoderLayer(d_model, nhead[, dim_feedforward = 2048,
--- dropout = 0.1, activation = "relu", layer_norm_eps = 1e-5, batch_first
--- = false, norm_first = false]): activation "relu", "gelu", a function or
--- a module. forward(src[, src_mask, src_key_padding_mask]).
-- @usage nn.TransformerEncoderLayer(32, 4, {dim_feedforward = 64})(lg.randn(10, 2, 32))
local TransformerEncoderLayer = nn.Module:extend("TransformerEncoderLayer")
function TransformerEncoderLayer:init(d_model, nhead, ...)
  L.sizes("TransformerEncoderLayer", {"d_model", "nhead"}, d_model, nhead)
  local o = tel_args(...)
  local act = o.activation
  if type(act) == "string" then
    act = ACTIVATIONS[act]
    if not act then
      L.raise("TransformerEncoderLayer: expected activation 'relu' or 'gelu', got '" ..
            o.activation .. "'")
    end
  end
  local dtype = o.dtype
  self.self_attn = MultiheadAttention(d_model, nhead, {dropout = o.dropout, batch_first = o.batch_first,
                                                       dtype = dtype})
  self.linear1 = L.Linear(d_model, o.dim_feedforward, {dtype = dtype})
  self.dropout = L.Dropout(o.dropout)
  self.linear2 = L.Linear(o.dim_feedforward, d_model, {dtype = dtype})
  self.norm_first = o.norm_first
  self.norm1 = L.LayerNorm(d_model, {eps = o.layer_norm_eps, dtype = dtype})
  self.norm2 = L.LayerNorm(d_model, {eps = o.layer_norm_eps, dtype = dtype})
  self.dropout1 = L.Dropout(o.dropout)
  self.dropout2 = L.Dropout(o.dropout)
  self.activation = act
end

local tel_forward_args = L.args("TransformerEncoderLayer.forward",
                                {"src_mask", "src_key_padding_mask"}, {})

function TransformerEncoderLayer:forward(src, ...)
  local o = tel_forward_args(...)
  local function self_attention(x)
    local y = self.self_attn(x, x, x, {attn_mask = o.src_mask, key_padding_mask = o.src_key_padding_mask,
                                       need_weights = false})
    return self.dropout1(y)
  end
  local function feed_forward(x)
    return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
  end
  local x = src
  if self.norm_first then
    x = x + self_attention(self.norm1(x))
    x = x + feed_forward(self.norm2(x))
  else
    x = self.norm1(x + self_attention(x))
    x = self.norm2(x + feed_forward(x))
  end
  return x
end
M.TransformerEncoderLayer = TransformerEncoderLayer

return M
