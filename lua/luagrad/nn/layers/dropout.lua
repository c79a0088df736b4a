--- luagrad.nn.layers.dropout: Dropout, active only in train mode.
-- @module nn
local nn = require "luagrad.nn"
local F = require "luagrad.nn.functional"
local L = require "luagrad.nn.layers"
local raise = require("luagrad.check").raise

local M = {}

local dropout_args = L.args("Dropout", {"p", "inplace"}, {p = 0.5})

--- Dropout([p = 0.5]): zeroes elements with probability p and scales the
--- rest by 1/(1-p) while self.training; the identity after eval().
-- @usage local drop = nn.Dropout(0.1)
local Dropout = nn.Module:extend("Dropout")
function Dropout:init(...)
  local p = dropout_args(...).p
  if type(p) ~= "number" or p < 0 or p > 1 then
    raise("Dropout: expected a probability p in [0, 1], got " .. tostring(p))
  end
  self.p = p
end
function Dropout:forward(x) return F.dropout(x, self.p, self.training) end
function Dropout:extra_repr() return L.repr({{"p", self.p}}) end
M.Dropout = Dropout

return M
