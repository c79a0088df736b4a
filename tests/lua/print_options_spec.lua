-- Print options: lg.set_printoptions / lg.get_printoptions against PyTorch
-- 1.13's str(tensor) under torch.set_printoptions (fixtures from
-- tests/fixtures/generate_print.py), their checks, and the REPL's width
-- being the same setting as linewidth.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
local cases = dofile(root .. "/tests/fixtures/print_options.lua")

local function reset() lg.set_printoptions{profile = "default"} end

describe("lg.set_printoptions", function()
  after_each(reset)

  for _, case in ipairs(cases) do
    it("prints as PyTorch does: " .. case.name, function()
      reset()
      lg.set_printoptions(case.options)
      local spec = case.tensor
      local t = lg.tensor(spec.data, {dtype = spec.dtype}):view(spec.shape)
      if case.grad_fn then t = t:clone():requires_grad_() * 1 end
      assert.are.equal(case.text, tostring(t))
    end)
  end

  it("starts at PyTorch's defaults, and get_printoptions round-trips", function()
    assert.are.same({precision = 4, threshold = 1000, edgeitems = 3,
                     linewidth = 80, sci_mode = "auto"}, lg.get_printoptions())
    lg.set_printoptions{precision = 2, sci_mode = false, linewidth = 60}
    local saved = lg.get_printoptions()
    assert.are.same({precision = 2, threshold = 1000, edgeitems = 3,
                     linewidth = 60, sci_mode = false}, saved)
    reset()
    lg.set_printoptions(saved)
    assert.are.same(saved, lg.get_printoptions())
  end)

  it("keeps the options not given; a profile resets them all", function()
    lg.set_printoptions{precision = 1}
    lg.set_printoptions{sci_mode = true}
    assert.are.equal(1, lg.get_printoptions().precision)
    assert.are.equal(true, lg.get_printoptions().sci_mode)
    assert.are.equal("tensor([1.5e+00, 2.0e+00])", tostring(lg.tensor({1.5, 2})))
    lg.set_printoptions{sci_mode = "auto"}
    assert.are.equal("tensor([1.5, 2.0])", tostring(lg.tensor({1.5, 2})))
    lg.set_printoptions{profile = "full"}
    assert.are.same({precision = 4, threshold = math.huge, edgeitems = 3,
                     linewidth = 80, sci_mode = "auto"}, lg.get_printoptions())
    lg.set_printoptions{profile = "short", precision = 3} -- profile first
    assert.are.same({precision = 3, threshold = 1000, edgeitems = 2,
                     linewidth = 80, sci_mode = "auto"}, lg.get_printoptions())
  end)

  it("rejects unknown keys and bad values, naming them, and changes nothing", function()
    lg.set_printoptions{precision = 3}
    local before = lg.get_printoptions()
    local bad = {
      {{precison = 2}, 'set_printoptions: unknown option "precison" (expected '
        .. "edgeitems, linewidth, precision, profile, sci_mode, threshold)"},
      {{linewidth = 60, width = 60}, 'unknown option "width"'},
      {{precision = 31}, "expected an integer from 0 to 30 for precision, got 31"},
      {{precision = -1}, "for precision, got -1"},
      {{precision = 2.5}, "expected an integer for precision, got 2.5"},
      {{threshold = -1}, "expected a number >= 0 for threshold, got -1"},
      {{threshold = 0 / 0}, "for threshold"},
      {{threshold = "big"}, "expected a number for threshold, got string"},
      {{edgeitems = 0}, "expected an integer >= 1 for edgeitems, got 0"},
      {{linewidth = 0}, "expected an integer >= 1 for linewidth, got 0"},
      {{linewidth = 2 ^ 40}, "linewidth is out of range"},
      {{sci_mode = "yes"}, 'expected true, false or "auto" for sci_mode, got "yes"'},
      {{sci_mode = 1}, "for sci_mode, got 1"},
      {{profile = "long"}, 'expected "default", "short" or "full" for profile, got "long"'},
    }
    for _, case in ipairs(bad) do
      local ok, err = pcall(lg.set_printoptions, case[1])
      assert.is_false(ok)
      assert.truthy(tostring(err):find(case[2], 1, true), tostring(err))
      assert.are.same(before, lg.get_printoptions())
    end
    H.assert_error_names("set_printoptions: expected a table of options, got number",
                         lg.set_printoptions, 3)
  end)

  it("summarises and wraps the printed text, never the values", function()
    lg.set_printoptions{threshold = 4, edgeitems = 1}
    local t = lg.arange(1, 11)
    assert.are.equal("tensor([ 1,  ..., 10])", tostring(t))
    assert.are.equal(55, t:sum():item())
    assert.are.equal(10, #t:tolist())
  end)
end)

describe("the REPL's width", function()
  local repl = require "luagrad.repl"
  after_each(reset)

  it("is the linewidth print option, both ways", function()
    assert.are.equal(80, repl.width)
    repl.width = 40
    assert.are.equal(40, lg.get_printoptions().linewidth)
    local text = repl.format(lg.arange(20) / 7)
    assert.are.equal(tostring(lg.arange(20) / 7), text)
    for line in text:gmatch("[^\n]+") do assert.is_true(#line <= 40, line) end
    lg.set_printoptions{linewidth = 100}
    assert.are.equal(100, repl.width)
    H.assert_error_names("linewidth", function() repl.width = 0 end)
  end)

  it("decides when a table breaks over several lines", function()
    local t = {alpha = string.rep("a", 20), beta = string.rep("b", 20)}
    assert.falsy(repl.format(t):find("\n"))
    repl.width = 40
    assert.truthy(repl.format(t):find("\n"))
  end)
end)
