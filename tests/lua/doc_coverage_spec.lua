-- The doc-coverage check: every public function, class and method that
-- luagrad exports (walked by luagrad.help.public_names: lg, lg.Tensor,
-- lg.nn and its layers, nn.functional, nn.init, nn.utils, func, autograd,
-- forward_ad, optim, data, io, utils, distributed) has a doc comment, the
-- same comments the LDoc reference (`cmake --build build --target docs`) and
-- `help` at the REPL show. The failure names each missing entry and where
-- its comment goes.
local help = require "luagrad.help"
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."

-- The binding file that registers a C function under `name` (a luaL_Reg
-- row {"name", ...} or an op row of lg_ops.h), for the message.
local binding_files
local function c_home(name)
  if not binding_files then
    binding_files = {}
    local pipe = io.popen(("ls %s/lua/binding/*.c %s/runtime/lg_ops.h 2>/dev/null"):format(root, root))
    for file in pipe:lines() do
      local f = io.open(file)
      if f then
        binding_files[#binding_files + 1] = {file:sub(#root + 2), f:read("a")}
        f:close()
      end
    end
    pipe:close()
  end
  local plain = name:gsub("_$", "")
  for _, b in ipairs(binding_files) do
    if b[2]:find('{"' .. name .. '"', 1, true) or b[2]:find('"' .. plain .. '",', 1, true) then
      local file = b[1]
      if file:match("lg_ops%.h$") then
        return "an op row of runtime/lg_ops.h: add the block above its Lua wrapper in the lua/binding/ops_<family>.c of its kind"
      end
      return file
    end
  end
  return "the lua/binding/*.c file that registers it"
end

local function where(p)
  if type(p.value) == "function" then
    local info = debug.getinfo(p.value, "S")
    if info.what == "Lua" then
      local file = info.source:gsub("^@", ""):gsub("^.*/lua/luagrad/", "lua/luagrad/")
        :gsub("^%[luagrad%]/", "lua/")
      return ("add a `--- Summary.` comment block (LDoc: @param, @return, @usage) right above its definition at %s:%d")
        :format(file, info.linedefined)
    end
    local last = p.path:match("([%w_]+)$")
    local name = p.path:gsub("^lg%.", ""):gsub("^Tensor%.", "Tensor:")
    return ("a C function: add a `/*** Summary. ... @function %s */` block (in the file's @module) above its wrapper in %s")
      :format(p.path:match("^lg%.Tensor%.") and name or last, c_home(last))
  end
  local init = type(p.value) == "table" and rawget(p.value, "init")
  if type(init) == "function" then
    local info = debug.getinfo(init, "S")
    local file = info.source:gsub("^@", ""):gsub("^.*/lua/luagrad/", "lua/luagrad/")
    return ("a class: add a `--- Summary.` comment block right above the line that makes it (`local %s = ...:extend(...)`) in %s")
      :format(p.path:match("([%w_]+)$"), file)
  end
  return "add a doc comment at its definition"
end

describe("doc coverage", function()
  it("finds the public names", function()
    local names = {}
    for _, p in ipairs(help.public_names()) do names[p.path] = true end
    for _, expected in ipairs{"lg.tensor", "lg.Tensor.sum", "lg.nn.Linear", "lg.func.grad",
                              "lg.nn.Module.parameters", "lg.optim.Adam", "lg.io.save",
                              "lg.nn.functional.cross_entropy", "lg.autograd.grad"} do
      assert.is_true(names[expected] ~= nil, expected .. " is not walked")
    end
  end)

  it("has a doc comment for every public function, class and method", function()
    local missing, count = {}, 0
    for _, p in ipairs(help.public_names()) do
      if help.find(p.value, p.path) then
        count = count + 1
      else
        missing[#missing + 1] = ("  %s (%s): %s"):format(p.path, p.kind, where(p))
      end
    end
    if #missing > 0 then
      error(("%d of %d public names have no doc comment:\n%s"):format(
        #missing, #missing + count, table.concat(missing, "\n")), 0)
    end
  end)

  it("every entry has a one-line example (@usage)", function()
    local missing = {}
    for _, p in ipairs(help.public_names()) do
      local e = help.find(p.value, p.path)
      if e and not e.text:find("@usage", 1, true) then
        missing[#missing + 1] = ("  %s: add a `@usage <one line of Lua>` line to its doc comment at %s:%d")
          :format(p.path, e.file, e.line)
      end
    end
    if #missing > 0 then
      error(("%d doc comments have no example:\n%s"):format(#missing, table.concat(missing, "\n")), 0)
    end
  end)

  it("every entry's text has a summary line", function()
    for _, p in ipairs(help.public_names()) do
      local e = help.find(p.value, p.path)
      if e then
        assert.is_truthy(e.text:match("%S"), p.path .. ": empty doc comment at " .. e.file .. ":" .. e.line)
      end
    end
  end)
end)

describe("help", function()
  local lg = require "luagrad"
  it("finds an entry by value, by name and through a tensor's method", function()
    assert.matches("argnums", help.text(lg.func.grad))
    assert.matches("^lg%.nn%.Linear", help.text("nn.Linear"))
    assert.matches("^Tensor:sum", help.text(lg.ones(2).sum))
    assert.matches("^lg%.sum", help.text("sum"))
    assert.matches("^Tensor:item", help.text("Tensor:item"))
    assert.matches("^lg%.nn%.Module%.parameters", help.text(lg.nn.Linear(2, 2).parameters))
    assert.matches("^lg%.nn%.Linear", help.text(lg.nn.Linear(2, 2))) -- a module: its class
    assert.matches("^lg%.Tensor: ", help.text(lg.ones(2))) -- a tensor: its methods
  end)
  it("lists the sub-libraries and a library's functions", function()
    assert.matches("lg%.func", help.text())
    assert.matches("jacrev", help.text(lg.func))
  end)
  it("suggests the closest names for an unknown one", function()
    local text, message = help.text("nn.Linaer")
    assert.is_nil(text)
    assert.matches("closest: nn%.Linear", message)
    assert.matches("not a public luagrad", select(2, help.text(print)))
  end)
end)

describe("C API doc comments", function()
  -- Every exported declaration of the public headers has a comment right
  -- above it (or above the typedefs it comes with): the C reference is the
  -- commented header, as LDoc can't read C declarations.
  for _, header in ipairs{"runtime/luagrad.h", "lua/binding/luagrad_lua.h"} do
    it(header .. " comments each exported function", function()
      local f = assert(io.open(root .. "/" .. header))
      local lines = {}
      for line in f:lines() do lines[#lines + 1] = line end
      f:close()
      local missing = {}
      for i, line in ipairs(lines) do
        local name = line:match("^LG_API[^(]-([%w_]+)%s*%(")
          or line:match("^LUALIB_API[^(]-([%w_]+)%s*%(")
        if name then
          local j = i - 1
          -- over the continuation lines of a typedef that comes with it
          while j > 0 and (lines[j]:match("^typedef") or lines[j]:match("^%s+[%w_]")) do
            j = j - 1
          end
          if not (lines[j] or ""):match("%*/%s*$") then
            missing[#missing + 1] = ("  %s (%s:%d): add a /* comment */ right above it"):format(
              name, header, i)
          end
        end
      end
      if #missing > 0 then error("undocumented C API:\n" .. table.concat(missing, "\n"), 0) end
    end)
  end
end)
