--- luagrad.tree: pytrees, nested plain Lua tables of tensors (and other
-- leaves): flatten to leaves and a spec, unflatten, map over one or several
-- trees of the same structure, leaves. Used by func's transforms and by
-- optim.fn; also reached as func.tree.
-- @module func.tree
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local tree = {}

-- A pytree node is a plain Lua table (no metatable); everything else,
-- tensors and tables with a metatable (modules, specs) included, is a leaf.
--- tree.is_node(v): whether v is an inner node of a pytree (a plain table
-- without metatable); tensors, modules and anything else are leaves.
-- @param v any value
-- @return a boolean
-- @usage func.tree.is_node({1, 2}) --> true
local function is_node(value)
  return type(value) == "table" and getmetatable(value) == nil
end
tree.is_node = is_node

-- The keys of a node in a deterministic order: the array part 1, 2, ...
-- in order, then the other keys sorted by tostring (then by type name).
local function ordered_keys(node)
  local keys, n = {}, 0
  while node[n + 1] ~= nil do
    n = n + 1
    keys[n] = n
  end
  local rest, strings = {}, true
  for k in pairs(node) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      rest[#rest + 1] = k
      strings = strings and type(k) == "string"
    end
  end
  if strings then -- the common case (parameter names): plain string order
    table.sort(rest)
  else
    table.sort(rest, function(a, b)
      local sa, sb = tostring(a), tostring(b)
      if sa ~= sb then return sa < sb end
      return type(a) < type(b)
    end)
  end
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  return keys
end

-- A spec records the structure of a flattened tree: a leaf, or a node with
-- its ordered keys and one child spec per key; n counts the leaves.
local Spec = {}
Spec.__index = Spec
local LEAF = setmetatable({leaf = true, n = 1}, Spec)

function Spec:__tostring()
  if self.leaf then return "*" end
  local parts = {}
  for i, k in ipairs(self.keys) do
    local child = tostring(self.children[i])
    if k == i then parts[i] = child
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then parts[i] = k .. " = " .. child
    else parts[i] = "[" .. tostring(k) .. "] = " .. child end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Whether two specs describe the same structure.
--- tree.same_spec(a, b): whether two specs (from tree.flatten) describe
-- the same structure (the same keys at every node).
-- @param a a spec
-- @param b a spec
-- @return a boolean
-- @usage local _, s1 = tree.flatten(x); local _, s2 = tree.flatten(y); tree.same_spec(s1, s2)
local function same_spec(a, b)
  if a == b then return true end
  if a.leaf or b.leaf or a.n ~= b.n or #a.keys ~= #b.keys then return false end
  for i, k in ipairs(a.keys) do
    if b.keys[i] ~= k or not same_spec(a.children[i], b.children[i]) then return false end
  end
  return true
end
tree.same_spec = same_spec

local function flatten_into(value, leaves, visiting)
  if not is_node(value) then
    leaves[#leaves + 1] = value
    return LEAF
  end
  if visiting[value] then raise("tree.flatten: the table contains itself (a cycle)") end
  visiting[value] = true
  local keys, children, n = ordered_keys(value), {}, 0
  for i, k in ipairs(keys) do
    children[i] = flatten_into(value[k], leaves, visiting)
    n = n + children[i].n
  end
  visiting[value] = nil
  return setmetatable({keys = keys, children = children, n = n}, Spec)
end

--- tree.flatten(tree) returns the leaves (an array, in the deterministic key
--- order) and a spec from which tree.unflatten rebuilds the structure.
-- @usage local leaves, spec = func.tree.flatten({w = w, b = {b1, b2}})
function tree.flatten(value)
  local leaves = {}
  local spec = flatten_into(value, leaves, {})
  return leaves, spec
end

--- tree.leaves(tree) returns the leaves as an array.
-- @usage local list = func.tree.leaves(params)
function tree.leaves(value)
  return (tree.flatten(value))
end

local function build(spec, leaves, position)
  if spec.leaf then return leaves[position], position + 1 end
  local node = {}
  for i, k in ipairs(spec.keys) do
    node[k], position = build(spec.children[i], leaves, position)
  end
  return node, position
end

--- tree.unflatten(spec, leaves) rebuilds a tree of spec's structure holding
--- the given leaves (an array of exactly spec's leaf count).
-- @usage local params2 = func.tree.unflatten(spec, leaves)
function tree.unflatten(spec, leaves)
  if getmetatable(spec) ~= Spec then
    raise("tree.unflatten: expected a spec from tree.flatten as argument 1, got " .. check.typename(spec))
  end
  if type(leaves) ~= "table" then
    raise("tree.unflatten: expected an array of leaves as argument 2, got " .. check.typename(leaves))
  end
  local count = leaves.n or #leaves
  if count ~= spec.n then
    raise(("tree.unflatten: the spec %s has %d leaves, got %d"):format(
      tostring(spec), spec.n, count))
  end
  return (build(spec, leaves, 1))
end

--- tree.map(fn, tree, ...) applies fn to every tensor leaf and returns a new
--- tree of the same structure; other leaves pass through unchanged. Extra
--- trees of the same structure give fn their corresponding leaves as more
--- arguments: map(fn, a, b) calls fn(a_leaf, b_leaf).
-- @usage local zeros = func.tree.map(lg.zeros_like, params)
function tree.map(fn, value, ...)
  if not is_node(value) and select("#", ...) == 0 then -- one leaf
    if lg.is_tensor(value) then return fn(value) end
    return value
  end
  local leaves, spec = tree.flatten(value)
  local others = table.pack(...)
  local other_leaves = {}
  for j = 1, others.n do
    local l, s = tree.flatten(others[j])
    if not same_spec(spec, s) then
      raise(("tree.map: tree %d has structure %s, expected %s like the first"):format(
        j + 1, tostring(s), tostring(spec)))
    end
    other_leaves[j] = l
  end
  local mapped, extra = {}, {}
  for i, leaf in ipairs(leaves) do
    if lg.is_tensor(leaf) then
      for j = 1, others.n do extra[j] = other_leaves[j][i] end
      mapped[i] = fn(leaf, table.unpack(extra, 1, others.n))
    else
      mapped[i] = leaf
    end
  end
  mapped.n = #leaves
  return tree.unflatten(spec, mapped)
end

return tree
