-- Requiring a sub-library loads only what it uses: each require runs in a
-- fresh `luagrad -e` process, which prints the luagrad modules it loaded.
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
local exe = os.getenv("LUAGRAD_EXE") or (root .. "/build/luagrad")

-- The luagrad.* modules (sorted) that `require(name)` loads in a fresh state.
local function loaded_by(name)
  local code = table.concat({
    "local before = {}",
    "for k in pairs(package.loaded) do before[k] = true end",
    ("require %q"):format(name),
    "local new = {}",
    "for k in pairs(package.loaded) do",
    "  if not before[k] and (k == \"luagrad\" or k:match(\"^luagrad%.\")) then new[#new + 1] = k end",
    "end",
    "table.sort(new)",
    "io.write(table.concat(new, \" \"))"}, "; ")
  local pipe = assert(io.popen(("'%s' -e '%s' 2>&1"):format(exe, code)))
  local out = pipe:read("a")
  local ok = pipe:close()
  assert.is_true(ok, out)
  local list = {}
  for m in out:gmatch("%S+") do list[#list + 1] = m end
  return list
end

-- What each sub-library may load (itself and luagrad.check included; the
-- executable opens luagrad itself before running anything).
local EXPECTED = {
  ["luagrad.tree"] = {"luagrad.check", "luagrad.tree"},
  ["luagrad.func"] = {"luagrad.check", "luagrad.func", "luagrad.tree"},
  ["luagrad.optim"] = {"luagrad.check", "luagrad.optim", "luagrad.optim.lr_scheduler",
                       "luagrad.tree"},
  ["luagrad.autograd"] = {"luagrad.autograd", "luagrad.check"},
  ["luagrad.data"] = {"luagrad.check", "luagrad.data"},
  ["luagrad.io"] = {"luagrad.check", "luagrad.io"},
  ["luagrad.utils"] = {"luagrad.check", "luagrad.progress", "luagrad.utils"},
  ["luagrad.nn.functional"] = {"luagrad.autograd", "luagrad.check", "luagrad.nn.functional",
                               "luagrad.nn.functional_spatial"},
  ["luagrad.nn"] = {"luagrad.check", "luagrad.nn", "luagrad.nn.containers",
                    "luagrad.nn.init_fns", "luagrad.nn.module", "luagrad.nn.parametrize",
                    "luagrad.nn.utils"},
}

describe("library layout", function()
  for name, expected in pairs(EXPECTED) do
    it(name .. " loads only what it uses", function()
      assert.are.same(expected, loaded_by(name))
    end)
  end

  it("func.tree is luagrad.tree and func.functional_call loads the module system on use", function()
    local lg = require "luagrad"
    assert.are.equal(require "luagrad.tree", lg.func.tree)
    local y = lg.func.functional_call(lg.nn.Linear(2, 1), {weight = lg.ones(1, 2), bias = lg.zeros(1)},
                                      lg.ones(2))
    assert.are.same({2}, y:tolist())
  end)

  it("keeps utils' public names", function()
    local utils = require("luagrad").utils
    for _, k in ipairs({"wall_time", "progress", "format_duration", "format_rate", "svg_curves",
                        "check_options"}) do
      assert.are.equal("function", type(utils[k]), k)
    end
    assert.are.equal("1:01", utils.format_duration(61))
  end)
end)
