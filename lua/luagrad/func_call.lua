--- luagrad.func_call: functional_call (a module called with its parameters
-- and buffers replaced) and stack_module_state, exposed as
-- func.functional_call and func.stack_module_state.
--
-- A call swaps table fields: each dotted name is a slot (owner module,
-- field key); the tensor passed for it is rawset into the owner for the
-- duration of forward and the original rawset back afterwards, also when
-- forward raises. How names map to slots is worked out once per module and
-- kept in a plan (a weak cache keyed by the module): no string is split on
-- the hot path. A plan stays valid while every module it reached is still
-- at the same field of the same parent (checked each call, one rawget per
-- edge) and no registry changed (the global structure counter of
-- luagrad.nn.module, and each module's registry version when the counter
-- moved). Tied groups (names holding the same tensor) are recomputed when a
-- slot's tensor is not the one the plan saw.
-- @module func
local lg = require "luagrad"
local M = require "luagrad.nn.module"
local parametrize = require "luagrad.nn.parametrize"
local check = require "luagrad.check"
local raise = check.raise

local registry_of, class_name, join = M.registry_of, M.class_name, M.join
local rawget, rawset, rawequal, pairs, ipairs, type, getmetatable, error, pcall, select =
  rawget, rawset, rawequal, pairs, ipairs, type, getmetatable, error, pcall, select
local is_tensor = lg.is_tensor

local fc = {}

local finish -- defined after functional_call
local fast_or_general -- defined before functional_call
local fc_call = lg._fc_call
local GENERAL = {} -- functional_call's opts that skip the common path (the defaults)
local structure_version = M.structure_version

local plans = setmetatable({}, {__mode = "k"})

-- -----------------------------------------------------------------------
-- plans

-- Adds the slot (module index mi, key) to plan if new; returns its index.
local function slot_for(plan, mi, key)
  local by_key = plan.slot_by[mi]
  local s = by_key[key]
  if s == nil then
    s = #plan.slot_mod + 1
    plan.slot_mod[s], plan.slot_key[s], plan.slot_names[s] = mi, key, {}
    by_key[key] = s
  end
  return s
end

-- Groups the tensor slots by the identity of their current tensors.
local function compute_ties(plan)
  local by_tensor, groups, group_of = {}, {}, {}
  for s = 1, plan.n_tensor_slots do
    local v = rawget(plan.modules[plan.slot_mod[s]], plan.slot_key[s])
    plan.slot_value[s] = v
    if v ~= nil then
      local g = by_tensor[v]
      if g == nil then
        g = {}
        by_tensor[v] = g
      end
      g[#g + 1] = s
    end
  end
  for s = 1, plan.n_tensor_slots do
    local v = plan.slot_value[s]
    local g = v ~= nil and by_tensor[v]
    if g and (#g > 1 or #plan.slot_names[s] > 1) and group_of[s] == nil then
      groups[#groups + 1] = g
      local names = {}
      for _, member in ipairs(g) do
        group_of[member] = #groups
        for _, n in ipairs(plan.slot_names[member]) do names[#names + 1] = n end
      end
      g.names = M.quoted_list(names)
    end
  end
  plan.groups, plan.group_of = groups, group_of
  -- the names functional_call's common case swaps (fast_call): those of
  -- a tensor slot reached by that one name, holding a tensor now, and in
  -- no tied group; none at all while any group exists
  local fast = plan.fast_slot or {} -- one table for the plan's life (plan.rec holds it)
  for name in pairs(fast) do fast[name] = nil end
  if groups[1] == nil then
    for s = 1, plan.n_tensor_slots do
      local names = plan.slot_names[s]
      if plan.slot_value[s] ~= nil and #names == 1 then fast[names[1]] = s end
    end
  end
  plan.fast_slot = fast
end

-- Walks the module tree once: modules, the edges to check, every parameter
-- and buffer name (also those reached twice through a shared module) and
-- the plain names of parametrized tensors.
local function build_plan(root)
  local plan = {
    modules = {}, index_of = {}, mversion = {},
    edge_parent = {}, edge_key = {}, edge_child = {},
    slot_by = {}, slot_mod = {}, slot_key = {}, slot_names = {}, slot_value = {},
    slot_of = {}, names = {}, is_tensor_name = {},
    version = M.structure_version(),
  }
  local on_path = {}
  local computed = {}
  local function visit(m, prefix)
    if on_path[m] then
      raise("functional_call: the module tree contains a cycle at '" .. prefix .. "'")
    end
    local mi = plan.index_of[m]
    if mi == nil then
      mi = #plan.modules + 1
      plan.modules[mi], plan.index_of[m], plan.mversion[mi] = m, mi, registry_of(m).version
      plan.slot_by[mi] = {}
    end
    on_path[m] = true
    local reg = registry_of(m)
    for _, kind in ipairs({"parameter", "buffer"}) do
      for _, key in ipairs(reg.order) do
        if reg.kind[key] == kind and rawget(m, key) ~= nil then
          local name = join(prefix, key)
          local s = slot_for(plan, mi, key)
          plan.slot_of[name] = s
          plan.names[#plan.names + 1] = name
          plan.is_tensor_name[name] = true
          local names = plan.slot_names[s]
          names[#names + 1] = name
        end
      end
    end
    for _, pname in ipairs(parametrize.parametrized_names(m)) do
      computed[#computed + 1] = {mi, pname, join(prefix, pname)}
    end
    for _, key in ipairs(reg.order) do
      if reg.kind[key] == "module" then
        local child = rawget(m, key)
        local e = #plan.edge_parent + 1
        plan.edge_parent[e], plan.edge_key[e], plan.edge_child[e] = mi, key, child or false
        if child ~= nil then visit(child, join(prefix, key)) end
      end
    end
    on_path[m] = nil
  end
  visit(root, "")
  plan.n_tensor_slots = #plan.slot_mod
  for _, c in ipairs(computed) do
    if plan.slot_of[c[3]] == nil then plan.slot_of[c[3]] = slot_for(plan, c[1], c[2]) end
  end
  compute_ties(plan)
  -- the tables lg._fc_call reads, in its order
  plan.rec = {plan.modules, plan.edge_parent, plan.edge_key, plan.edge_child, plan.slot_mod,
              plan.slot_key, plan.slot_value, plan.fast_slot}
  return plan
end

-- Whether plan still describes its module's tree: every edge leads to the
-- same child, and no registry changed since the plan was made (checked
-- only when the global structure counter moved).
local function plan_valid(plan)
  local modules, parent, key, child = plan.modules, plan.edge_parent, plan.edge_key, plan.edge_child
  for e = 1, #parent do
    if (rawget(modules[parent[e]], key[e]) or false) ~= child[e] then return false end
  end
  local version = M.structure_version()
  if plan.version ~= version then
    for mi, m in ipairs(plan.modules) do
      if registry_of(m).version ~= plan.mversion[mi] then return false end
    end
    plan.version = version
  end
  return true
end

-- The module's plan, rebuilt when the tree or a registry changed.
local function plan_of(root)
  local plan = plans[root]
  if plan == nil or not plan_valid(plan) then
    plan = build_plan(root)
    plans[root] = plan
  end
  return plan
end

-- The slot of a name that is no parameter or buffer: a field of an existing
-- submodule that is absent or holds a tensor (set for the call, then
-- removed or restored, as PyTorch's functional_call does). Cached in plan.
local function extra_slot(plan, root, name)
  local prefix, attr = name:match("^(.*)%.([^.]*)$")
  if prefix == nil then prefix, attr = "", name end
  local ok, owner = pcall(root.get_submodule, root, prefix)
  if not ok then
    raise(string.format("functional_call: the key \"%s\" names no submodule \"%s\" of %s",
                        name, prefix, class_name(root)))
  end
  local mi = plan.index_of[owner]
  local key = registry_of(owner).key_of[attr] or attr
  local current = owner[key]
  if current ~= nil and not lg.is_tensor(current) then
    raise(string.format("functional_call: the key \"%s\" names a %s of %s, not a tensor",
                        name, check.typename(current), class_name(owner)))
  end
  local s = slot_for(plan, mi, key)
  plan.slot_of[name] = s
  return s
end

-- -----------------------------------------------------------------------
-- functional_call

-- Whether two values given for one tied group (or one shared slot) agree:
-- the same tensor, or equal in shape, dtype and every element (NaN never
-- equals), as in torch.func's example {foo = zeros, foo_tied = zeros}.
local function agree(a, b)
  if rawequal(a, b) then return true end
  return a.dtype == b.dtype and check.shape_string(a) == check.shape_string(b)
    and lg.no_grad(function() return a:eq(b):all():item() end)
end

-- Position of x in the array list (the module's traversal order).
local function rank_in(list, x)
  for i, member in ipairs(list) do
    if member == x then return i end
  end
  return math.huge
end

-- Collects the given tensors per slot into values (slot -> tensor); checks
-- keys, values and tied groups. Values that agree for one group are
-- accepted; the group then uses the one given for its first name in the
-- module's order (group_rank[g] is that name's position); a slot reached
-- by two names of a shared submodule likewise (slot_rank[s]).
local function assign_table(plan, root, tbl, values, group_value, group_rank, slot_rank)
  for k, v in pairs(tbl) do
    if type(k) ~= "string" then
      raise("functional_call: expected dotted names (strings) as keys of params, got a "
            .. check.typename(k) .. " key")
    end
    if not is_tensor(v) then
      raise(string.format("functional_call: expected a tensor for \"%s\", got %s", k, check.typename(v)))
    end
    local s = plan.slot_of[k] or extra_slot(plan, root, k)
    local g = group_value and plan.group_of[s]
    if g then
      local seen = group_value[g]
      if seen ~= nil and not agree(seen, v) then
        raise("functional_call: got different values for the keys " .. plan.groups[g].names
              .. ", which are tied; pass {tie_weights = false} to give them separate values")
      end
      local rank = rank_in(plan.groups[g], s)
      if seen == nil or rank < group_rank[g] then
        group_value[g], group_rank[g] = v, rank
      end
      values[s] = v
    else
      local rank = rank_in(plan.slot_names[s], k)
      if values[s] ~= nil and not agree(values[s], v) then
        raise("functional_call: got different values for the keys " .. M.quoted_list(plan.slot_names[s])
              .. ", which are the same tensor slot (a shared submodule)")
      end
      if values[s] == nil or rank < slot_rank[s] then values[s], slot_rank[s] = v, rank end
    end
  end
end

-- Raises the strict error when names are missing or unexpected.
local function check_strict(plan, root, tables, values)
  local missing, unexpected, given = {}, {}, {}
  for _, tbl in ipairs(tables) do
    for k in pairs(tbl) do
      given[k] = true
      if not plan.is_tensor_name[k] then unexpected[#unexpected + 1] = k end
    end
  end
  for _, name in ipairs(plan.names) do
    if not given[name] and values[plan.slot_of[name]] == nil then missing[#missing + 1] = name end
  end
  if #missing == 0 and #unexpected == 0 then return end
  local parts = {}
  if #unexpected > 0 then parts[#parts + 1] = "unexpected key(s): " .. M.quoted_list(unexpected) end
  if #missing > 0 then parts[#parts + 1] = "missing key(s): " .. M.quoted_list(missing) end
  raise("functional_call: error(s) in reparametrizing for " .. class_name(root) .. ":\n\t"
        .. table.concat(parts, "\n\t"))
end

-- Calls root with the arguments as described in functional_call.
local function call_module(root, args, kwargs)
  local plain = type(args) == "table" and getmetatable(args) == nil
  if kwargs == nil then
    if args == nil then return pcall(root) end
    if not plain then return pcall(root, args) end
    return pcall(root, table.unpack(args, 1, args.n or #args))
  end
  if type(kwargs) ~= "table" then
    raise("functional_call: expected kwargs to be nil or a table, got " .. check.typename(kwargs))
  end
  local list, n = {}, 0
  if plain then
    n = args.n or #args
    for i = 1, n do list[i] = args[i] end
  elseif args ~= nil then
    n, list[1] = 1, args
  end
  list[n + 1] = kwargs
  return pcall(root, table.unpack(list, 1, n + 1))
end

-- The common case of functional_call (no opts, no kwargs, a plan made by
-- an earlier call and still valid, params one plain table of tensors for
-- names in plan.fast_slot, none while a tied group exists): lg._fc_call
-- (func_fast.c) checks the plan's edges and tensors, swaps, calls forward
-- and restores in one C call, keeping the slots' state on its own stack.
-- It returns true and forward's results, or nothing before touching the
-- module (then the general path runs).
function fast_or_general(module, params, args, taken, ...)
  if taken then return ... end
  return fc.functional_call(module, params, args, nil, GENERAL)
end

--- functional_call(module, params, args, kwargs, opts) calls module with
--- its parameters and buffers replaced by params for the duration of the
--- call (README, "functional_call"): params a table dotted name -> tensor or an array of
--- such tables with distinct keys; args a single value, or an array table
--- of arguments (`{tbl}` passes one table; `args.n` is honoured; a table
--- with a metatable is a single value), nil for none; kwargs nil or a table
--- passed as one more argument; opts {tie_weights = true, strict = false}.
--- The module gets its own tensors back afterwards, also when forward
--- raises (the error is re-raised unchanged); whatever forward left in a
--- replaced slot is written back into the caller's table under its key.
--- Returns what forward returns.
-- @usage local y = func.functional_call(model, params, x)
function fc.functional_call(module, params, args, kwargs, opts)
  local plan = plans[module]
  if plan ~= nil and opts == nil and kwargs == nil
     and (plan.version == structure_version() or plan_valid(plan)) then
    return fast_or_general(module, params, args, fc_call(plan, params, module, args))
  end
  if not M.is_module(module) then
    raise("functional_call: expected a Module, got " .. check.typename(module))
  end
  if type(params) ~= "table" or getmetatable(params) ~= nil then
    raise("functional_call: expected params to be a table of dotted names -> tensors or an array of such tables, got "
          .. check.typename(params))
  end
  opts = check.options("functional_call", opts, {tie_weights = true, strict = true})
  local tie, strict = opts.tie_weights ~= false, opts.strict == true

  local plan = plan_of(module)
  if tie then
    local modules, mod_of, key_of, seen = plan.modules, plan.slot_mod, plan.slot_key, plan.slot_value
    for s = 1, plan.n_tensor_slots do
      if rawget(modules[mod_of[s]], key_of[s]) ~= seen[s] then
        compute_ties(plan)
        break
      end
    end
  end

  -- the tables of params
  local tables = params
  if rawget(params, 1) == nil then
    tables = {params}
  else
    local owner_of = {}
    local repeated = {}
    for i, tbl in ipairs(params) do
      if type(tbl) ~= "table" or getmetatable(tbl) ~= nil then
        raise(string.format("functional_call: expected params[%d] to be a table of dotted names -> tensors, got %s",
                            i, check.typename(tbl)))
      end
      for k in pairs(tbl) do
        if owner_of[k] ~= nil then repeated[#repeated + 1] = tostring(k) end
        owner_of[k] = i
      end
    end
    if #repeated > 0 then
      raise("functional_call: the tables of params repeat the key(s) " .. M.quoted_list(repeated)
            .. "; their keys must be distinct")
    end
  end

  local values, group_value = {}, (tie and plan.groups[1] ~= nil) and {} or nil
  local group_rank, slot_rank = {}, {}
  for _, tbl in ipairs(tables) do
    assign_table(plan, module, tbl, values, group_value, group_rank, slot_rank)
  end
  if group_value then
    for g, v in pairs(group_value) do
      for _, s in ipairs(plan.groups[g]) do values[s] = v end
    end
  end
  if strict then check_strict(plan, module, tables, values) end

  -- swap, call, restore
  local modules, mod_of, key_of = plan.modules, plan.slot_mod, plan.slot_key
  local saved = {} -- slot -> the module's tensor, then what forward left there
  for s, v in pairs(values) do
    local owner, key = modules[mod_of[s]], key_of[s]
    saved[s] = rawget(owner, key)
    rawset(owner, key, v)
  end
  return finish(plan, values, saved, tables, call_module(module, args, kwargs))
end

-- Restores the module's tensors, re-raises forward's error or writes the
-- rebindings back into the caller's tables, and returns forward's results.
function finish(plan, values, saved, tables, ok, ...)
  local modules, mod_of, key_of = plan.modules, plan.slot_mod, plan.slot_key
  for s in pairs(values) do
    local owner, key = modules[mod_of[s]], key_of[s]
    local now = rawget(owner, key)
    rawset(owner, key, saved[s])
    saved[s] = now
  end
  if not ok then error((...), 0) end
  local slot_of = plan.slot_of
  for _, tbl in ipairs(tables) do
    for k, v in pairs(tbl) do
      local now = saved[slot_of[k]]
      if now ~= nil and not rawequal(now, v) then tbl[k] = now end
    end
  end
  return ...
end

-- -----------------------------------------------------------------------
-- stack_module_state

-- name -> stacked tensor over the models, for one kind of named tensors.
local function stack_named(models, list_method, map_method, what)
  local out = {}
  local maps = {}
  for i, m in ipairs(models) do maps[i] = m[map_method](m) end
  for _, pair in ipairs(models[1][list_method](models[1])) do
    local name = pair[1]
    local tensors, grads = {}, 0
    for i = 1, #models do
      local t = maps[i][name]
      if t == nil then
        raise(string.format("stack_module_state: model %d has no %s \"%s\" (model 1 has)", i, what, name))
      end
      tensors[i] = t
      if t.requires_grad then grads = grads + 1 end
    end
    if grads ~= 0 and grads ~= #models then
      raise(string.format("stack_module_state: expected %s \"%s\" of every model to have the same requires_grad",
                          what, name))
    end
    local stacked = lg.no_grad(lg.stack, tensors, 1)
    if grads > 0 then stacked:requires_grad_() end
    out[name] = stacked
  end
  return out
end

--- stack_module_state(models) returns params, buffers: tables name ->
--- tensor stacking each name's tensors over the models on dim 1. Stacked
--- parameters are new leaves that require grad when the models' do.
-- @usage local params, buffers = func.stack_module_state(models)
function fc.stack_module_state(models)
  if type(models) ~= "table" or M.is_module(models) then
    raise("stack_module_state: expected an array of modules, got " .. check.typename(models))
  end
  if #models == 0 then raise("stack_module_state: expected at least one model, got 0") end
  for i, m in ipairs(models) do
    if not M.is_module(m) then
      raise(string.format("stack_module_state: expected a Module at position %d, got %s", i, check.typename(m)))
    end
    if m.training ~= models[1].training then
      raise("stack_module_state: expected all models to have the same training/eval mode")
    end
    if getmetatable(m) ~= getmetatable(models[1]) then
      raise(string.format("stack_module_state: expected all models to be of the same class, got %s and %s",
                          class_name(models[1]), class_name(m)))
    end
  end
  local params = stack_named(models, "named_parameters_list", "named_parameters", "parameter")
  local buffers = stack_named(models, "named_buffers_list", "named_buffers", "buffer")
  return params, buffers
end

--- replace_all_batch_norm_modules_(root): every BatchNorm module of root
--- (root itself included) stops tracking running statistics, in place, as
--- functorch.experimental.replace_all_batch_norm_modules_: running_mean,
--- running_var and num_batches_tracked become nil and track_running_stats
--- false, so the batch statistics always normalise and vmap over the
--- model in training mode updates no shared buffer. Returns root.
-- @usage func.replace_all_batch_norm_modules_(model)
function fc.replace_all_batch_norm_modules_(root)
  if not M.is_module(root) then
    raise("replace_all_batch_norm_modules_: expected a Module, got " .. check.typename(root))
  end
  for _, m in ipairs(root:modules()) do
    if class_name(m):match("^BatchNorm%dd$") and m.track_running_stats then
      for _, name in ipairs({"running_mean", "running_var", "num_batches_tracked"}) do
        m:register_buffer(name, nil)
      end
      m.track_running_stats = false
    end
  end
  return root
end

return fc
