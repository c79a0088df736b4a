--- luagrad.func_vmap: func.vmap, and what the other transforms need to run
-- inside it (exposed to func.lua: the active levels, batching an alias at
-- every level, the physical form of batched tensors for the engine).
--
-- A call of the vmapped function enters a vmap level (a dispatch layer in
-- the runtime, runtime/vmap/), wraps each batched input leaf as a batched
-- tensor at that level (one example to Lua: x.shape, x:dim(), reductions and
-- indexing act on the example), calls f, and unwraps every output leaf,
-- moving its batch dim to out_dims. Each op on batched tensors runs its
-- batching rule once over the whole batch; nested vmap is nested levels.
-- @module func
local lg = require "luagrad"
local check = require "luagrad.check"
local tree = require "luagrad.tree"
local raise = check.raise
local is_node, describe = tree.is_node, check.describe

local V = {}

-- The levels entered and not yet left, outer first: {level =, size =,
-- randomness =}.
local active = {}
V.active = active

-- -----------------------------------------------------------------------
-- helpers on dims

-- t with dim `from` moved to position `to` (1-based, both).
local function movedim(t, from, to)
  if from == to then return t end
  local perm, n = {}, t:dim()
  for d = 1, n do if d ~= from then perm[#perm + 1] = d end end
  table.insert(perm, to, from)
  return t:permute(perm)
end

-- t with a new dim of size b at position `at` (an unbatched value shared by
-- every example).
local function expand_at(t, at, b)
  local u = t:unsqueeze(at)
  local shape = {}
  for d = 1, u:dim() do shape[d] = d == at and b or -1 end
  return u:expand(shape)
end

-- Entry i of a per-value dims array, or the one spec for every value
-- (false entries are kept: `a and a[i] or b` would lose them).
local function entry(per, i, all)
  if per then return per[i] end
  return all
end

-- The 0-based position of a 1-based or negative dim of an n-d tensor, or nil.
local function resolve_dim(d, n)
  local p = d < 0 and n + 1 + d or d
  if d == 0 or p < 1 or p > n then return nil end
  return p
end

-- -----------------------------------------------------------------------
-- options

local RANDOMNESS = {error = true, different = true, same = true}

-- what names the option in the error; index (optional) its entry, so
-- the name "in_dims[i]" is only built for the message.
local function check_dims_entry(fname, what, d, index)
  if d == false then return end
  if type(d) == "table" and not lg.is_tensor(d) then return end
  if math.type(d) ~= "integer" then
    if index then what = ("%s[%d]"):format(what, index) end
    raise(("%s: %s must be an integer, false or a table shaped like the "
      .. "value, got %s"):format(fname, what, describe(d)))
  end
end

local function check_options(opts)
  opts = check.options("vmap", opts, {in_dims = true, out_dims = true,
                                      randomness = true, chunk_size = true})
  local in_dims = opts.in_dims == nil and 1 or opts.in_dims
  local out_dims = opts.out_dims == nil and 1 or opts.out_dims
  check_dims_entry("vmap", "in_dims", in_dims)
  check_dims_entry("vmap", "out_dims", out_dims)
  local randomness = opts.randomness == nil and "error" or opts.randomness
  if not RANDOMNESS[randomness] then
    raise(("vmap: randomness must be \"error\", \"different\" or \"same\", got %s"):format(
      describe(randomness)))
  end
  local chunk = opts.chunk_size
  if chunk ~= nil and not (math.type(chunk) == "integer" and chunk >= 1) then
    raise(("vmap: chunk_size must be a positive integer, got %s"):format(describe(chunk)))
  end
  return in_dims, out_dims, randomness, chunk
end

-- -----------------------------------------------------------------------
-- inputs: which leaves are batched, at which dim

-- A leaf's path, for errors only, so built lazily: a string, or
-- {parent path, key} (see path_name).
local function path_name(path)
  if type(path) == "string" then return path end
  return ("%s[%s]"):format(path_name(path[1]), tostring(path[2]))
end

-- Walks value under its dims spec (an integer or false for the whole
-- subtree, or a table shaped like it), calling visit(leaf, dim, path) for
-- each leaf; path (see path_name) names the leaf in errors. With
-- skip_false, subtrees whose spec is false are not visited (nothing in
-- them is batched).
local function walk(value, spec, path, visit, skip_false)
  if type(spec) == "table" then
    if not is_node(value) then
      raise(("vmap: in_dims for %s is a table, but the value is %s; give an "
        .. "integer or false for it"):format(path_name(path), describe(value)))
    end
    for k, v in pairs(value) do
      if spec[k] == nil then
        raise(("vmap: in_dims for %s has no entry for key %s (it must be "
          .. "shaped like the value)"):format(path_name(path), tostring(k)))
      end
      walk(v, spec[k], {path, k}, visit, skip_false)
    end
    for k in pairs(spec) do
      if value[k] == nil then
        raise(("vmap: in_dims for %s has key %s, which the value lacks"):format(
          path_name(path), tostring(k)))
      end
    end
  elseif spec == false and skip_false then
    return
  elseif is_node(value) then
    for k, v in pairs(value) do walk(v, spec, {path, k}, visit, skip_false) end
  else
    visit(value, spec, path)
  end
end

-- "argument i" and "output i", made once.
local ARGUMENT = setmetatable({}, {__index = function(t, i)
  t[i] = ("argument %d"):format(i)
  return t[i]
end})
local OUTPUT = setmetatable({}, {__index = function(t, i)
  t[i] = ("output %d"):format(i)
  return t[i]
end})

-- The batched leaves of args: array of {tensor, bdim (1-based), path}, the
-- batch size, and a function giving the args with each batched leaf replaced.
local function plan_inputs(args, in_dims)
  local per_arg
  if type(in_dims) == "table" then
    if #in_dims ~= args.n then
      raise(("vmap: in_dims has %d entries but the function was called with "
        .. "%d argument(s); give one entry (an integer, false or a table) per "
        .. "argument"):format(#in_dims, args.n))
    end
    per_arg = in_dims
  end
  local batched, size, first = {}, nil, nil
  local function visit(leaf, d, path)
    if d == false or not lg.is_tensor(leaf) then return end
    local n = leaf:dim()
    local p = resolve_dim(d, n)
    if not p then
      raise(("vmap: in_dims %d is out of range for %s, a %d-d tensor (expected "
        .. "1..%d or -%d..-1, or false)"):format(d, path_name(path), n, n, n))
    end
    local b = leaf:size(p)
    if size and b ~= size then
      raise(("vmap: expected every batched input to have the same batch size; "
        .. "%s has size %d at its batch dim %d, but %s has %d at dim %d"):format(
        path_name(first.path), size, first.dim, path_name(path), b, p))
    end
    size = size or b
    first = first or {path = path, dim = p}
    batched[#batched + 1] = {leaf = leaf, dim = p, path = path}
  end
  for i = 1, args.n do
    local spec = entry(per_arg, i, in_dims)
    if per_arg then check_dims_entry("vmap", "in_dims", spec, i) end
    walk(args[i], spec, ARGUMENT[i], visit, true)
  end
  if not size then
    raise("vmap: no argument is batched (every in_dims is false, or the "
      .. "arguments hold no tensors); at least one tensor must be batched")
  end
  return batched, size
end

-- args with every batched leaf replaced by replace(entry, data) (subtrees
-- whose spec is false are kept as they are: plan_inputs found nothing
-- batched in them).
local function substitute(args, in_dims, batched, replace, data)
  local out = table.pack(table.unpack(args, 1, args.n))
  local k = 0
  local per_arg = type(in_dims) == "table" and in_dims
  local function rebuild(value, spec)
    if spec == false then return value end
    if type(spec) == "table" or is_node(value) then
      if not is_node(value) then return value end
      local copy = {}
      for key, v in pairs(value) do
        local sub = spec
        if type(spec) == "table" then sub = spec[key] end
        copy[key] = rebuild(v, sub)
      end
      return copy
    end
    if spec == false or not lg.is_tensor(value) then return value end
    k = k + 1
    return replace(batched[k], data)
  end
  for i = 1, args.n do out[i] = rebuild(args[i], entry(per_arg, i, in_dims)) end
  return out
end

-- -----------------------------------------------------------------------
-- outputs

-- Unwraps one output leaf from level (batch size b) and puts its batch dim
-- at out_dim (false: it must not be batched).
local function unwrap_leaf(leaf, level, b, out_dim, path)
  if not lg.is_tensor(leaf) then
    raise(("vmap: f must return tensors (or tables of tensors); %s is %s"):format(
      path, describe(leaf)))
  end
  local value, bdim = lg._vmap_unwrap(leaf, level)
  if out_dim == false then
    if value then
      raise(("vmap: out_dims is false for %s, but it is batched (it depends on a "
        .. "batched input)"):format(path))
    end
    return leaf
  end
  local n = leaf:dim() + 1
  local p = resolve_dim(out_dim, n)
  if not p then
    raise(("vmap: out_dims %d is out of range for %s, whose batched result has "
      .. "%d dims"):format(out_dim, path, n))
  end
  if not value then return expand_at(leaf, p, b) end
  return movedim(value, bdim, p)
end

-- The common case of unwrap_results, one result under one integer out
-- dim: the tree rebuilt directly, without flattening it; nil when a leaf
-- would be an error (unwrap_results then runs the checked path, which
-- names the leaf).
local function unwrap_tree(value, level, b, out_dim)
  if is_node(value) then
    local out = {}
    for k, v in pairs(value) do
      local u = unwrap_tree(v, level, b, out_dim)
      if u == nil then return nil end
      out[k] = u
    end
    return out
  end
  if not lg.is_tensor(value) then return nil end
  local p = resolve_dim(out_dim, value:dim() + 1)
  if not p then return nil end
  local inner, bdim = lg._vmap_unwrap(value, level)
  if not inner then return expand_at(value, p, b) end
  return movedim(inner, bdim, p)
end

local function unwrap_results(results, level, b, out_dims)
  local per_result = type(out_dims) == "table" and results.n > 1 and out_dims
  if per_result and #out_dims ~= results.n then
    raise(("vmap: out_dims has %d entries but f returned %d values"):format(
      #out_dims, results.n))
  end
  if results.n == 0 then raise("vmap: f returned no value; return a tensor") end
  local out = {n = results.n}
  for i = 1, results.n do
    local spec = entry(per_result, i, out_dims)
    if math.type(spec) == "integer" then
      out[i] = unwrap_tree(results[i], level, b, spec)
      if out[i] ~= nil then goto next_result end
    end
    local leaves, tspec = tree.flatten(results[i])
    local dims = {}
    walk(results[i], spec, OUTPUT[i], function(_, d) dims[#dims + 1] = d end)
    local done = {}
    for j, leaf in ipairs(leaves) do
      local path = results.n > 1 and ("output %d"):format(i) or "the output"
      if not tspec.leaf then path = ("%s (leaf %d)"):format(path, j) end
      done[j] = unwrap_leaf(leaf, level, b, dims[j], path)
    end
    out[i] = tree.unflatten(tspec, done)
    ::next_result::
  end
  return out
end

-- -----------------------------------------------------------------------
-- the transform

local function warn_fallbacks()
  for _, name in ipairs(lg._vmap_warnings()) do
    lg._warn(("luagrad warning: vmap: %s runs once per example (no "
      .. "batching rule for these inputs yet; slower)\n"):format(name))
  end
end

local function wrap_entry(e, level) return lg._vmap_wrap(e.leaf, e.dim, level) end

-- f's results, packed, on args with the batched leaves wrapped at level.
local function call_batched(f, args, in_dims, batched, level)
  local call_args = substitute(args, in_dims, batched, wrap_entry, level)
  return table.pack(f(table.unpack(call_args, 1, call_args.n)))
end

-- Runs f over one (chunk of the) batch: batched = {leaf, dim} entries.
local function run_level(f, args, in_dims, batched, b, out_dims, randomness)
  local level = lg._vmap_enter(b, randomness)
  active[#active + 1] = {level = level, size = b, randomness = randomness}
  local ok, results = pcall(call_batched, f, args, in_dims, batched, level)
  active[#active] = nil
  lg._vmap_exit(level)
  warn_fallbacks()
  if not ok then error(results, 0) end
  return unwrap_results(results, level, b, out_dims)
end

-- Joins per-chunk results along each leaf's out dim.
local function join_chunks(chunks, out_dims)
  local first = chunks[1]
  local out = {n = first.n}
  local per_result = type(out_dims) == "table" and first.n > 1 and out_dims
  for i = 1, first.n do
    local spec = entry(per_result, i, out_dims)
    local leaves, tspec = tree.flatten(first[i])
    local dims = {}
    walk(first[i], spec, "output", function(_, d) dims[#dims + 1] = d end)
    local parts = {}
    for c, chunk in ipairs(chunks) do parts[c] = tree.flatten(chunk[i]) end
    local joined = {}
    for j = 1, #leaves do
      if dims[j] == false then
        joined[j] = leaves[j]
      else
        local list = {}
        for c = 1, #chunks do list[c] = parts[c][j] end
        joined[j] = lg.cat(list, resolve_dim(dims[j], leaves[j]:dim()))
      end
    end
    out[i] = tree.unflatten(tspec, joined)
  end
  return out
end

--- vmap(f, {in_dims = 1, out_dims = 1, randomness = "error", chunk_size})
--- returns f mapped over a batch dim of its inputs (see API.md).
function V.vmap(f, opts)
  if not check.is_callable(f) then
    raise(("vmap: expected a function as argument 1, got %s"):format(check.typename(f)))
  end
  local in_dims, out_dims, randomness, chunk = check_options(opts)
  return function(...)
    local args = table.pack(...)
    local batched, b = plan_inputs(args, in_dims)
    if not chunk or chunk >= b then
      local out = run_level(f, args, in_dims, batched, b, out_dims, randomness)
      return table.unpack(out, 1, out.n)
    end
    local chunks = {}
    for start = 1, b, chunk do
      local len = math.min(chunk, b - start + 1)
      local part = {}
      for k, e in ipairs(batched) do
        part[k] = {leaf = e.leaf:narrow(e.dim, start, len), dim = e.dim, path = e.path}
      end
      chunks[#chunks + 1] = run_level(f, args, in_dims, part, len, out_dims, randomness)
    end
    local out = join_chunks(chunks, out_dims)
    return table.unpack(out, 1, out.n)
  end
end

-- -----------------------------------------------------------------------
-- for the other transforms running inside vmap (func.lua)

-- x batched at every active level (outer first), an unbatched level's
-- examples sharing x; the wrapping nests the levels as the runtime does.
function V.batch_at_all_levels(x)
  local function add(t, upto)
    if upto == 0 then return t end
    local lvl = active[upto]
    local value, bdim = lg._vmap_unwrap(t, lvl.level)
    if value then
      return lg._vmap_wrap(add(value, upto - 1), bdim, lvl.level)
    end
    -- t holds no level >= this one at its top: batch the lower levels, then
    -- this one with a shared copy of every example
    local lower = add(t, upto - 1)
    return lg._vmap_wrap(expand_at(lower, 1, lvl.size), 1, lvl.level)
  end
  return add(x, #active)
end

-- The active level numbered n ({level =, size =, randomness =}).
local function level_info(n)
  for _, lvl in ipairs(active) do
    if lvl.level == n then return lvl end
  end
  raise(("vmap: level %d is not active (a tensor of a vmap that has returned)"):format(n))
end

-- t unbatched at level lvl, with that level's examples in a new leading
-- dim (expanded when t is the same for all of them); levels inside lvl
-- keep wrapping the result.
local function to_front(t, lvl)
  local top = lg._vmap_level(t)
  if top > lvl.level then
    local value, bdim = lg._vmap_unwrap(t, top)
    return lg._vmap_wrap(to_front(value, lvl), bdim + 1, top)
  elseif top == lvl.level then
    local value, bdim = lg._vmap_unwrap(t, top)
    return movedim(value, bdim, 1)
  end
  return expand_at(t, 1, lvl.size)
end

-- t with the batch dims of levels (outer first) in front, outer first.
function V.physical(t, levels)
  for i = #levels, 1, -1 do t = to_front(t, levels[i]) end
  return t
end

-- The innermost plain tensor under t's wrappers, the layout to wrap a
-- tensor like it back ({level, bdim} pairs, outer first) and the levels.
function V.unwrap_all(t)
  local layout, levels = {}, {}
  local level = lg._vmap_level(t)
  while level ~= 0 do
    local value, bdim = lg._vmap_unwrap(t, level)
    table.insert(layout, 1, {level, bdim})
    table.insert(levels, 1, level_info(level))
    t, level = value, lg._vmap_level(value)
  end
  return t, layout, levels
end

-- g batched at level with its batch dim at bdim of g's own dims, placed
-- under the wrappers of levels inside that one.
local function wrap_under(g, bdim, level)
  local top = lg._vmap_level(g)
  if top > level then
    local value, b = lg._vmap_unwrap(g, top)
    local inner_bdim = bdim + (b <= bdim and 1 or 0)
    local inner = wrap_under(value, inner_bdim, level)
    return lg._vmap_wrap(inner, b - (inner_bdim < b and 1 or 0), top)
  end
  return lg._vmap_wrap(g, bdim, level)
end

function V.rewrap_all(g, layout)
  for _, lb in ipairs(layout) do g = wrap_under(g, lb[2], lb[1]) end
  return g
end

-- -----------------------------------------------------------------------
-- an autograd.Function's own batching rule (autograd.lua)

-- Output k of a Function's vmap rule batched at level (batch size b) at
-- its out dim d (false: shared by every example, returned as it is).
local function rule_output(fname, out, d, k, b, level)
  if d == false then return out end
  if math.type(d) ~= "integer" then
    raise(("%s: its vmap rule's out_dims for output %d must be an integer or "
      .. "false, got %s"):format(fname, k, describe(d)))
  end
  if not lg.is_tensor(out) then
    raise(("%s: its vmap rule's out_dims for output %d is %d, but that output "
      .. "is %s, not a tensor; give false for it"):format(fname, k, d, describe(out)))
  end
  local n = out:dim()
  local p = resolve_dim(d, n)
  if not p then
    raise(("%s: its vmap rule's out_dims %d for output %d is out of range for "
      .. "a %d-d tensor (expected 1..%d or -%d..-1, or false)"):format(fname, d, k, n, n, n))
  end
  if out:size(p) ~= b then
    raise(("%s: its vmap rule's output %d has size %d at its out dim %d, but the "
      .. "batch size is %d (out_dims must name each output's batch dim)"):format(
      fname, k, out:size(p), p, b))
  end
  return lg._vmap_wrap(out, p, level)
end

-- Calls an autograd.Function's vmap rule (rule(info, in_dims, ...), as
-- torch.func's Function.vmap) for a call batched at level: the arguments
-- come unwrapped from that level (their batch dims named by in_dims, false
-- where none), and the outputs are wrapped back at the out_dims the rule
-- returns after them. The rule's ops are recorded by autograd as any
-- others; calling the Function itself inside the rule on the unwrapped
-- values runs its forward and backward once over the whole batch.
function V.function_rule(rule, name, level, args)
  local fname = ("vmap: autograd.Function %s"):format(name)
  local lvl = level_info(level)
  local values, in_dims = {n = args.n}, {}
  for i = 1, args.n do
    local v, bdim
    if lg.is_tensor(args[i]) then v, bdim = lg._vmap_unwrap(args[i], level) end
    values[i], in_dims[i] = v or args[i], bdim or false
  end
  local info = {batch_size = lvl.size, randomness = lvl.randomness}
  local results = table.pack(rule(info, in_dims, table.unpack(values, 1, values.n)))
  local out_dims = results[results.n]
  if results.n < 2 or lg.is_tensor(out_dims) then
    raise(("%s: its vmap rule must return the outputs and then out_dims (an "
      .. "integer, false, or one entry per output); it returned %d value(s), the "
      .. "last %s"):format(fname, results.n, describe(out_dims)))
  end
  local n = results.n - 1
  local per_output = type(out_dims) == "table" and out_dims
  if per_output and #per_output ~= n then
    raise(("%s: its vmap rule returned %d output(s) but out_dims has %d entries"):format(
      fname, n, #per_output))
  end
  local outs = {n = n}
  for k = 1, n do
    local d = entry(per_output, k, out_dims)
    -- one integer for all outputs leaves non-tensor outputs alone
    if not per_output and not lg.is_tensor(results[k]) then d = false end
    outs[k] = rule_output(fname, results[k], d, k, lvl.size, level)
  end
  return table.unpack(outs, 1, n)
end

return V
