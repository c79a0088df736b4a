--- luagrad.nn.layers.sparse: Embedding, a lookup table of 1-based ids.
-- @module nn
local lg = require "luagrad"
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"
local raise = require("luagrad.check").raise

local M = {}

local embedding_args = L.args("Embedding", {"padding_idx", "dtype"}, {})

--- Embedding(num_embeddings, embedding_dim[, padding_idx, {dtype}]):
--- weight (num_embeddings, embedding_dim) drawn from N(0, 1); the row
--- padding_idx (1-based, negative from the end) starts at zero and gets no
--- gradient.
-- @usage nn.Embedding(100, 16)(lg.tensor({{1, 5, 7}}))
local Embedding = nn.Module:extend("Embedding")
function Embedding:init(num_embeddings, embedding_dim, ...)
  L.sizes("Embedding", {"num_embeddings", "embedding_dim"}, num_embeddings, embedding_dim)
  local o = embedding_args(...)
  local padding_idx = o.padding_idx
  if padding_idx ~= nil then
    if padding_idx < 0 then padding_idx = padding_idx + num_embeddings + 1 end
    if padding_idx < 1 or padding_idx > num_embeddings then
      raise(string.format("Embedding: padding_idx must be within 1..%d (or negative from the end), got %s",
                          num_embeddings, tostring(o.padding_idx)))
    end
  end
  self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
  self.padding_idx = padding_idx
  local weight = lg.randn({num_embeddings, embedding_dim}, {dtype = o.dtype or "float32"})
  if padding_idx then weight[padding_idx] = 0 end
  self.weight = nn.Parameter(weight)
end
function Embedding:forward(ids) return F.embedding(ids, self.weight, self.padding_idx) end
function Embedding:extra_repr()
  local fields = {{"", self.num_embeddings}, {"", self.embedding_dim}}
  if self.padding_idx then fields[3] = {"padding_idx", self.padding_idx} end
  return L.repr(fields)
end
M.Embedding = Embedding

return M
