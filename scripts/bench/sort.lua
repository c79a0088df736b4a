-- sorting and einsum (issue 19): sort and topk along the rows of a
-- 1024x1024 float32 matrix, attention scores through einsum (a batched
-- matmul after a permute), a 3-operand einsum chain, and the fixed cost of
-- a tiny einsum (parsing and planning) against the same matmul.
-- Run: scripts/bench/run sort
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local lg = require "luagrad"

lg.manual_seed(0)
local x = lg.randn(1024, 1024)
B.report("sort_rows", B.time(function() return x:sort(2) end))
B.report("topk10_rows", B.time(function() return x:topk(10, 2) end))
local q, k = lg.randn(8, 4, 128, 32), lg.randn(8, 4, 128, 32)
B.report("einsum_attention", B.time(function() return lg.einsum("bhqd,bhkd->bhqk", q, k) end))
local a, b, c = lg.randn(64, 256), lg.randn(256, 256), lg.randn(256, 8)
B.report("einsum_chain3", B.time(function() return lg.einsum("ab,bc,cd->ad", a, b, c) end))
local s, t = lg.randn(4, 4), lg.randn(4, 4)
B.report("einsum_tiny", B.time(function() return lg.einsum("ij,jk->ik", s, t) end))
