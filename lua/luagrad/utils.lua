--- luagrad.utils: what a user watches while training: a wall clock, the
-- progress bar (progress.lua) and training curves as an SVG file
-- (plot.lua, loaded on first use).
-- @module utils
local lg = require "luagrad"
local progress = require "luagrad.progress"

local utils = {}

--- wall_time() returns seconds on a monotonic wall clock (only differences
--- mean anything); os.clock is CPU time and os.time whole seconds.
-- @usage local t0 = lg.utils.wall_time()
utils.wall_time = lg.wall_time

utils.progress = progress.progress
utils.format_duration = progress.format_duration
utils.format_rate = progress.format_rate

--- check_options(fname, opts, allowed): the library's options check
--- (luagrad.check.options), kept for scripts that used it from here.
-- @usage local o = lg.utils.check_options("train", opts, {epochs = true, lr = true})
utils.check_options = require("luagrad.check").options

--- svg_curves(path, history, opts): see plot.lua.
-- @usage lg.utils.svg_curves("curves.svg", {epochs = {1, 2}, train_loss = {0.9, 0.5}, test_loss = {1.0, 0.6}})
function utils.svg_curves(...)
  return require("luagrad.plot").svg_curves(...)
end

return utils
