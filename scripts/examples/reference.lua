-- scripts/examples/reference.lua: what the torch.func examples share, the
-- PyTorch reference they check themselves against
-- (tests/fixtures/examples.lua, written by
-- tests/fixtures/generate_examples.py) and the comparison.
-- Loaded by the examples with dofile; not part of the library.
local lg = require "luagrad"

local R = {}

-- The examples' folder, from the running script's path.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = os.getenv("LUAGRAD_SOURCE_DIR") or (here .. "/../..")

--- The reference of one example (a table of entries and numbers).
function R.load(name)
  local chunk = assert(loadfile(root .. "/tests/fixtures/examples.lua"))
  return chunk()[name]
end

--- A tensor from a fixture entry {shape, dtype, data}.
function R.tensor(e)
  if #e.shape == 0 then return lg.tensor(e.data[1], {dtype = e.dtype}) end
  return lg.tensor(e.data, {dtype = e.dtype}):view(e.shape)
end

--- A table name -> tensor from an array of {name, entry} pairs.
function R.named(pairs_)
  local t = {}
  for _, p in ipairs(pairs_) do t[p[1]] = R.tensor(p[2]) end
  return t
end

--- Loads named tensors into a module's parameters (under no_grad).
function R.load_params(model, named)
  local own = model:named_parameters()
  lg.no_grad(function()
    for name, value in pairs(named) do
      assert(own[name], "no parameter " .. name)
      own[name]:copy_(value)
    end
  end)
end

--- The largest |a - b| (shapes must agree).
function R.maxdiff(a, b)
  assert(#a.shape == #b.shape, "shapes differ")
  for i = 1, #a.shape do assert(a.shape[i] == b.shape[i], "shapes differ") end
  if a:numel() == 0 then return 0 end
  return (a - b):abs():max():item()
end

--- Prints "what: max |difference| from PyTorch d" (or from `against`)
-- and fails above tol (default 1e-10).
function R.check(what, got, expected, tol, against)
  local d = R.maxdiff(got, expected)
  print(("  %-34s max |difference| from %s %.2e"):format(what, against or "PyTorch", d))
  assert(d <= (tol or 1e-10), what .. " differs from PyTorch's")
  return d
end

--- Whether the script was started with --short (the suite's quick run).
function R.short()
  for _, a in ipairs(arg or {}) do if a == "--short" then return true end end
  return false
end

return R
