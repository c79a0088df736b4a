-- repl_spec.lua: the REPL's Lua half (luagrad.repl: printing, completion,
-- lazy globals) called directly, and the `luagrad` executable driven through
-- pipes: the REPL reading plain lines, and the stock interpreter's command
-- line. The terminal side (libedit, Tab, Ctrl-C, history) is tested by the
-- pty sessions in tests/repl/.

local lg = require "luagrad"
local repl = require "luagrad.repl"

local exe = os.getenv("LUAGRAD_EXE") or "build/luagrad"

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs a shell command line; returns its stdout+stderr and exit code.
local function run(cmdline)
  local pipe = assert(io.popen(cmdline .. " 2>&1", "r"))
  local out = pipe:read("a")
  local _, _, code = pipe:close()
  return out, code
end

local function write_temp(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- Pipes `input` into `luagrad args` (stdin is no terminal: plain lines).
local function pipe_repl(input, args)
  local path = write_temp(input)
  local out, code = run(shell_quote(exe) .. " " .. (args or "") .. " < "
                        .. shell_quote(path))
  os.remove(path)
  return out, code
end

local function has(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

describe("repl.format", function()
  it("prints scalars as the stock REPL does", function()
    assert.equal("42", repl.format(42))
    assert.equal("1.5", repl.format(1.5))
    assert.equal("nil", repl.format(nil))
    assert.equal("true", repl.format(true))
    assert.equal("abc", repl.format("abc"))
  end)

  it("prints tables nested, array part first, keys sorted, strings quoted", function()
    assert.equal('{1, 2, {3}, a = "x", b = {c = true}}',
                 repl.format({1, 2, {3}, b = {c = true}, a = "x"}))
    assert.equal("{}", repl.format({}))
    assert.equal('{["a key"] = 1, [true] = 2}',
                 repl.format({["a key"] = 1, [true] = 2}))
    assert.equal('{"line\\nbreak"}', repl.format({"line\nbreak"}))
  end)

  it("marks cycles", function()
    local t = {name = "t"}
    t.self = t
    local s = repl.format(t)
    assert.truthy(s:match('^{name = "t", self = <cycle: table: 0x%x+>}$'), s)
  end)

  it("limits depth and the number of entries", function()
    assert.equal("{{{{{...}}}}}", repl.format({{{{{{1}}}}}}))
    local big = {}
    for i = 1, 150 do big[i] = i end
    local s = repl.format(big)
    assert.truthy(s:find("... (50 more)", 1, true), s)
    assert.falsy(s:find("101", 1, true))
  end)

  it("breaks a table that does not fit the width over several lines", function()
    local t = {alpha = string.rep("a", 40), beta = string.rep("b", 40)}
    assert.equal('{\n  alpha = "' .. string.rep("a", 40) .. '",\n  beta = "'
                 .. string.rep("b", 40) .. '"\n}', repl.format(t))
  end)

  it("prints values with __tostring (modules, tensors) through it", function()
    local Module = {__tostring = function() return "Net(\n  (fc): Linear\n)" end}
    local net = setmetatable({}, Module)
    assert.equal("Net(\n  (fc): Linear\n)", repl.format(net))
    assert.equal("{\n  net = Net(\n          (fc): Linear\n        )\n}",
                 repl.format({net = net}))
    local bad = setmetatable({}, {__tostring = function() error("no") end})
    assert.truthy(repl.format(bad):find("__tostring failed", 1, true))
  end)

  it("prints tensors PyTorch-style through tostring", function()
    local t = lg.tensor({1, 2})
    assert.equal(tostring(t), repl.format(t))
  end)

  it("prints every value of a multiple return", function()
    assert.equal("1\tnil\tb", repl.format_values(1, nil, "b"))
    assert.equal("nil", repl.format_values(nil))
    assert.is_nil(repl.format_values())
    local m = setmetatable({}, {__tostring = function() return "a\nb" end})
    assert.equal("1\na\nb", repl.format_values(1, m))
  end)
end)

describe("repl.candidates", function()
  it("completes globals and keywords", function()
    local list, prefix = repl.candidates("x = stri")
    assert.same({"string"}, list)
    assert.equal("stri", prefix)
    assert.same({"function"}, (repl.candidates("functi")))
    assert.truthy(has(repl.candidates("l"), "lg"))
  end)

  it("completes fields and nested paths", function()
    assert.same({"rep", "reverse"}, (repl.candidates("string.re")))
    _G.repl_spec_nested = {inner = {deep_one = 1, deep_two = 2, other = 3}}
    assert.same({"deep_one", "deep_two"},
                (repl.candidates("print(repl_spec_nested.inner.de")))
    assert.same({}, (repl.candidates("repl_spec_nested.missing.x")))
    _G.repl_spec_nested = nil
  end)

  it("completes methods through metatables' __index tables, callables after ':'", function()
    local Base = {base_method = function() end}
    Base.__index = Base
    local Class = setmetatable({own_method = function() end, own_field = 1},
                               Base)
    Class.__index = Class
    _G.repl_spec_obj = setmetatable({instance_field = 2}, Class)
    local all = repl.candidates("repl_spec_obj.")
    for _, k in ipairs({"instance_field", "own_method", "own_field",
                        "base_method"}) do
      assert.truthy(has(all, k), k)
    end
    local methods = repl.candidates("repl_spec_obj:")
    assert.truthy(has(methods, "own_method"))
    assert.truthy(has(methods, "base_method"))
    assert.falsy(has(methods, "own_field"))
    assert.falsy(has(methods, "instance_field"))
    _G.repl_spec_obj = nil
  end)

  it("completes methods of a class whose __index is a function", function()
    local Class = {forward = function() end, num_parameters = function() end}
    Class.__index = function(self, k) return Class[k] end
    _G.repl_spec_mod = setmetatable({weight = 1}, Class)
    local all = repl.candidates("repl_spec_mod.")
    assert.truthy(has(all, "forward"))
    assert.truthy(has(all, "weight"))
    assert.falsy(has(all, "__index"))
    assert.same({"__index"}, (repl.candidates("repl_spec_mod.__ind")))
    assert.same({"forward"}, (repl.candidates("repl_spec_mod:f")))
    _G.repl_spec_mod = nil
  end)

  it("completes string methods after ':'", function()
    _G.repl_spec_s = "text"
    assert.same({"upper"}, (repl.candidates("repl_spec_s:up")))
    _G.repl_spec_s = nil
  end)

  it("completes tensor methods from lg.Tensor and tensor properties", function()
    local t = lg.tensor({1, 2})
    _G.repl_spec_t = t
    local methods = repl.candidates("repl_spec_t:")
    for name, v in pairs(lg.Tensor) do
      if type(v) == "function" and name:match("^[%a_][%w_]*$") then
        assert.truthy(has(methods, name), name)
      end
    end
    assert.truthy(has(repl.candidates("repl_spec_t."), "shape"))
    assert.falsy(has(methods, "shape"))
    _G.repl_spec_t = nil
  end)

  it("offers lg's sub-libraries only when they can be loaded", function()
    local saved_lg = rawget(_G, "lg")
    _G.lg = lg
    local name = "luagrad.optim"
    local available = package.searchpath(name, package.path) ~= nil
      or package.loaded[name] ~= nil or package.preload[name] ~= nil
    assert.equal(available, has(repl.candidates("lg.op"), "optim"))
    if not available then
      package.preload[name] = function() return {SGD = function() end} end
      assert.truthy(has(repl.candidates("lg.op"), "optim"))
      assert.same({"SGD"}, (repl.candidates("lg.optim.S")))
      package.preload[name] = nil
      package.loaded[name] = nil
      rawset(lg, "optim", nil)
    end
    assert.truthy(has(repl.candidates("lg.Ten"), "Tensor"))
    _G.lg = saved_lg
  end)

  it("does not complete after a call or a number", function()
    assert.same({}, (repl.candidates("f().x")))
    assert.same({}, (repl.candidates("12")))
    _G.repl_spec_f = function() return {abc = 1} end
    assert.same({}, (repl.candidates("repl_spec_f().a")))
    assert.same({}, (repl.candidates("repl_spec_f():a")))
    assert.same({}, (repl.candidates("repl_spec_f{}.a")))
    assert.same({}, (repl.candidates("repl_spec_f'x'.a")))
    assert.same({}, (repl.candidates("lg.zeros(3):su")))
    assert.same({}, (repl.candidates("1.5")))
    assert.same({}, (repl.candidates("('x'):up")))
    _G.repl_spec_f = nil
  end)

  it("hides names starting with '_' unless the prefix does", function()
    _G.repl_spec_p = {_private = 1, __meta = 2, public = 3}
    assert.same({"public"}, (repl.candidates("repl_spec_p.")))
    assert.same({"_private"}, (repl.candidates("repl_spec_p._")))
    assert.same({"__meta"}, (repl.candidates("repl_spec_p.__")))
    _G.repl_spec_p = nil
    local saved_lg = rawget(_G, "lg")
    _G.lg = lg
    local all = repl.candidates("lg.")
    for _, name in ipairs(all) do assert.are_not.equal("_", name:sub(1, 1), name) end
    assert.truthy(has(all, "tensor"))
    assert.truthy(has(repl.candidates("lg._"), "_VERSION"))
    _G.lg = saved_lg
    local F = require "luagrad.nn.functional"
    _G.repl_spec_F = F
    assert.falsy(has(repl.candidates("repl_spec_F."), "_optional_args"))
    assert.truthy(has(repl.candidates("repl_spec_F._"), "_optional_args"))
    _G.repl_spec_F = nil
  end)

  it("lists nn's layers before they are loaded, and loads one only to complete it", function()
    local nn = require "luagrad.nn"
    _G.repl_spec_nn = nn
    local names = repl.candidates("repl_spec_nn.")
    for _, name in ipairs({"Linear", "LSTM", "GRU", "Conv2d", "MSELoss", "functional", "F",
                           "Sequential", "Module"}) do
      assert.truthy(has(names, name), name)
    end
    assert.same({"GRU"}, (repl.candidates("repl_spec_nn.GR")))
    repl.candidates("repl_spec_nn.Mul") -- listing loads nothing
    assert.is_nil(rawget(nn, "MultiheadAttention"))
    assert.is_nil(package.loaded["luagrad.nn.layers.attention"])
    -- a unique lazy name is loaded to learn that it is callable
    assert.equal("iheadAttention(", (repl.complete("repl_spec_nn.Mult")))
    assert.is_not_nil(rawget(nn, "MultiheadAttention"))
    _G.repl_spec_nn = nil
  end)

  it("completes after indexes with numbers and strings", function()
    local nn = require "luagrad.nn"
    _G.repl_spec_net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert.truthy(has(repl.candidates("repl_spec_net[1]."), "weight"))
    assert.same({"out_features"}, (repl.candidates("repl_spec_net[1].out_")))
    assert.same({"forward"}, (repl.candidates("x = repl_spec_net[ 2 ]:forw")))
    assert.same({}, (repl.candidates("repl_spec_net[-1.0 + 3]:forw"))) -- an expression
    assert.truthy(has(repl.candidates("repl_spec_net[1].weight:"), "sum"))
    _G.repl_spec_net = nil
    _G.repl_spec_d = {["a.b"] = {deep = {leaf_x = 1}}, [2] = {two = 2}}
    assert.same({"leaf_x"}, (repl.candidates('repl_spec_d["a.b"].deep.le')))
    assert.same({"leaf_x"}, (repl.candidates("repl_spec_d['a.b'].deep.le")))
    assert.same({"two"}, (repl.candidates("repl_spec_d[2].t")))
    assert.same({}, (repl.candidates("repl_spec_d[k].t")))      -- a variable key
    assert.same({}, (repl.candidates("repl_spec_d[3].t")))      -- nothing there
    _G.repl_spec_d = nil
    _G.repl_spec_t = lg.ones(2, 3)
    assert.truthy(has(repl.candidates("repl_spec_t[2]:"), "sum"))
    assert.truthy(has(repl.candidates("repl_spec_t[-1]:"), "sum"))
    assert.same({}, (repl.candidates("repl_spec_t[{1, 2}]:"))) -- a table: an expression
    assert.same({}, (repl.candidates("repl_spec_t.shape."))) -- an array: no names
    _G.repl_spec_t = nil
  end)

  it("never runs a user's __index function to evaluate the prefix", function()
    local calls = 0
    local proxy = setmetatable({}, {__index = function(_, k)
      calls = calls + 1
      return {inner_name = k}
    end})
    _G.repl_spec_proxy = proxy
    assert.same({}, (repl.candidates("repl_spec_proxy.anything.inn")))
    assert.same({}, (repl.candidates("repl_spec_proxy[1].inn")))
    repl.complete("repl_spec_proxy.anything.inn")
    assert.equal(0, calls)
    -- raw fields and __index tables still work
    local Base = {method_x = function() end}
    _G.repl_spec_proxy = setmetatable({child = setmetatable({}, {__index = Base})},
                                      {__index = function() calls = calls + 1 end})
    assert.same({"method_x"}, (repl.candidates("repl_spec_proxy.child:meth")))
    assert.equal(0, calls)
    _G.repl_spec_proxy = nil
  end)
end)

describe("repl.complete", function()
  it("inserts the rest of a unique name, with '(' for a function", function()
    assert.equal("mat(", (repl.complete("string.for")))
    assert.equal("ing", (repl.complete("str")))
  end)

  it("inserts the common prefix, or lists the candidates", function()
    local insert, list = repl.complete("string.re")
    assert.equal("", insert)
    assert.equal("rep      reverse", list)
    _G.repl_spec_c = {abc_one = 1, abc_two = 2}
    assert.equal("bc_", (repl.complete("repl_spec_c.a")))
    _G.repl_spec_c = nil
    assert.same({"", nil}, {repl.complete("no_such_global_xyz")})
  end)

  it("lays out columns that fit the width", function()
    assert.equal("aa   b\nccc", repl.columns({"aa", "b", "ccc"}, 12))
    assert.equal("aa   b    ccc", repl.columns({"aa", "b", "ccc"}, 80))
  end)
end)

describe("repl.install_globals", function()
  it("resolves lg and the other globals lazily, nil when not there", function()
    local G = {}
    repl.install_globals(G)
    assert.equal(lg, G.lg)
    assert.equal(lg, rawget(G, "lg"))
    for name, module in pairs(repl.lazy_globals) do
      local ok, value = pcall(require, module)
      if ok then assert.equal(value, G[name]) else assert.is_nil(G[name]) end
    end
    assert.is_nil(G.not_a_lazy_global)
  end)

  it("raises the error of a module that exists but fails to load", function()
    repl.lazy_globals.repl_spec_broken = "repl_spec_broken_module"
    package.preload.repl_spec_broken_module = function() error("broken!") end
    local G = {}
    repl.install_globals(G)
    local ok, err = pcall(function() return G.repl_spec_broken end)
    assert.falsy(ok)
    assert.truthy(tostring(err):find("broken!", 1, true))
    repl.lazy_globals.repl_spec_broken = nil
    package.preload.repl_spec_broken_module = nil
  end)

  it("keeps an __index the table already had", function()
    local G = setmetatable({}, {__index = {kept = 7}})
    repl.install_globals(G)
    assert.equal(7, G.kept)
    assert.equal(lg, G.lg)
  end)
end)

describe("the REPL on piped input", function()
  it("prints expressions, not statements, and not after ';'", function()
    local out, code = pipe_repl("1 + 1\nx = 5\nx;\nx\nreturn 1, nil, 'a'\n"
                                .. "{1, {2}}\n")
    assert.equal(0, code)
    assert.equal("2\n5\n1\tnil\ta\n{1, {2}}\n", out)
  end)

  it("reads multi-line chunks and goes on after errors", function()
    local out, code = pipe_repl("function f(a)\n  return a * 2\nend\n"
                                .. "error('boom')\nf(21)\nx = = 1\n{\n3}\n")
    assert.equal(1, code) -- the chunks after the errors ran, then exit 1
    assert.truthy(out:find("^stdin:1: boom\nstack traceback:\n"), out)
    assert.truthy(out:find("\n42\nstdin:1: unexpected symbol near '='\n{3}\n$"),
                  out)
  end)

  it("has the globals and the commands", function()
    local out = pipe_repl("lg == require('luagrad')\n:time 6 * 7\n:help\n"
                          .. ":bogus\n:quit\nprint('not reached')\n")
    assert.truthy(out:find("^true\n42\nwall time: [%d.]+ [um]?s\n"), out)
    assert.truthy(out:find(":time <code>", 1, true))
    assert.truthy(out:find("unknown command ':bogus'", 1, true))
    assert.falsy(out:find("not reached", 1, true))
  end)

  it("exits non-zero when any chunk failed, 0 when none did", function()
    local cases = {
      {"error('e')\n", 1},                  -- a runtime error
      {"print(1)\nerror('e')\nprint(2)\n", 1}, -- the rest still runs
      {"x = = 1\n", 1},                     -- a syntax error
      {":bogus\n", 1},                      -- an unknown command
      {"error('e')\n:quit\n", 1},           -- :quit keeps the failure
      {"print(1)\n:quit\n", 0},
      {"x = 1\nx\n", 0},
    }
    for _, case in ipairs(cases) do
      local out, code = pipe_repl(case[1])
      assert.equal(case[2], code, case[1] .. " -> " .. out)
    end
    local out, code = pipe_repl("print('a')\nerror('boom')\nprint('b')\n")
    assert.equal(1, code)
    assert.truthy(out:find("^a\nstdin:1: boom\n.*\nb\n$"), out)
  end)

  it("has nn, F, func and optim at the prompt without errors", function()
    local out, code = pipe_repl("type(nn), type(F), type(func), type(optim)\n")
    assert.equal(0, code)
    for word in out:gmatch("%S+") do
      assert.truthy(word == "nil" or word == "table", out)
    end
  end)

  it("reports an unfinished chunk at the end of input", function()
    local out, code = pipe_repl("function f(\n")
    assert.equal(1, code)
    assert.truthy(out:find("<eof>", 1, true), out)
  end)
end)

describe("the command line", function()
  local q = shell_quote(exe)

  it("runs a script with its arguments in arg and ...", function()
    local script = write_temp("print(arg[0] == ..., select('#', ...), ...)\n"
                              .. "print(#arg, arg[1], arg[2], arg[-1] ~= nil)\n")
    local out, code = run(q .. " " .. script .. " a b")
    os.remove(script)
    assert.equal(0, code)
    assert.equal("false\t2\ta\tb\n2\ta\tb\ttrue\n", out)
  end)

  it("runs -e in order, -l into a global, and -v", function()
    local out, code = run(q .. " -e 'x = 1' -l s=string -e 'print(x, s.rep(\"ab\", 2))'")
    assert.equal(0, code)
    assert.equal("1\tabab\n", out)
    out, code = run(q .. " -lstring -e 'print(string == require(\"string\"))'")
    assert.equal(0, code)
    assert.equal("true\n", out)
    out, code = run(q .. " -v")
    assert.equal(0, code)
    assert.truthy(out:match("^luagrad %d+%.%d+%.%d+ %(Lua 5%.4"), out)
  end)

  it("enters the REPL after -e with -i", function()
    local out, code = pipe_repl("x * 2\n", "-e 'x = 21' -i")
    assert.equal(0, code)
    assert.equal("42\n", out)
  end)

  it("runs stdin as a script with -", function()
    local out, code = pipe_repl("local a = 6\nprint(a * 7)\n", "-")
    assert.equal(0, code)
    assert.equal("42\n", out)
  end)

  it("prints help, and fails on bad options and failing scripts", function()
    local out, code = run(q .. " --help")
    assert.equal(0, code)
    assert.truthy(out:find("-l mod", 1, true))
    assert.truthy(out:find("-i ", 1, true))
    out, code = run(q .. " --bogus")
    assert.equal(1, code)
    assert.truthy(out:find("usage:", 1, true))
    out, code = run(q .. " -e")
    assert.equal(1, code)
    out, code = run(q .. " -e 'error(\"bad\")'")
    assert.equal(1, code)
    assert.truthy(out:find('bad\nstack traceback:', 1, true), out)
    out, code = run(q .. " -l no_such_module_xyz")
    assert.equal(1, code)
    assert.truthy(out:find("no_such_module_xyz", 1, true))
  end)

  it("runs LUA_INIT first unless -E", function()
    local out = run("env LUA_INIT='y = 9' " .. q .. " -e 'print(y)'")
    assert.equal("9\n", out)
    out = run("env LUA_INIT='y = 9' " .. q .. " -E -e 'print(y)'")
    assert.equal("nil\n", out)
  end)
end)
