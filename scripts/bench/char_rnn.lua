-- (10) One training step of scripts/examples/char_rnn.lua (embedding 64,
-- LSTM 256, T=128, batch 32, Adam, gradient clipping) on the GPL-3 text:
-- the example's own step function, timed; char_rnn.py is the same model
-- in PyTorch. Steps per second = 1e6 / the figure.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local B = require "common"
local here = arg[0]:match("(.*/)")
local example = assert(loadfile(here .. "../examples/char_rnn.lua"))
local run = example("--steps", "0", "--sample", "0", "--quiet", "true",
                    "--threads", tostring(B.threads))
B.report("char_rnn_step", B.time(run.step, {target_s = 0.5, reps = 5, warmup = 2}))
