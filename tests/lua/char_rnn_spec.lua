-- char_rnn_spec.lua: scripts/examples/char_rnn.lua in small (a few steps of
-- a tiny model on short windows), so the example cannot rot: it trains, the
-- loss goes down, and it samples text from its alphabet.
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
local script = root .. "/scripts/examples/char_rnn.lua"

local function run(args)
  return assert(loadfile(script))(table.unpack(args))
end

local function mean(xs, first, last)
  local s = 0
  for i = first, last do s = s + xs[i] end
  return s / (last - first + 1)
end

describe("scripts/examples/char_rnn.lua", function()
  it("trains a character LSTM: the loss goes down, and it samples text", function()
    local r = run({"--steps", "40", "--seq-len", "16", "--batch", "8", "--embed", "16",
                   "--hidden", "32", "--lr", "0.01", "--sample", "40", "--quiet", "true",
                   "--text", root .. "/README.md"})
    assert.are.equal(40, #r.losses)
    local first, last = mean(r.losses, 1, 5), mean(r.losses, 36, 40)
    assert.is_true(last < first - 0.5, ("loss %.3f -> %.3f"):format(first, last))
    assert.are.equal(40, #r.sample)
    assert.is_true(r.steps_per_second > 0)
    local again = r.step() -- one more step through the returned function
    assert.is_true(again > 0 and again < first)
  end)

  it("takes the text as its first argument", function()
    local r = run({root .. "/README.md", "--steps", "2", "--seq-len", "8", "--batch", "2",
                   "--embed", "8", "--hidden", "8", "--sample", "5", "--quiet", "true"})
    assert.are.equal(2, #r.losses)
    assert.are.equal(5, #r.sample)
  end)

  it("rejects unknown options, naming the script", function()
    local ok, err = pcall(run, {"--stepz", "3"})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("char_rnn", 1, true))
  end)
end)
