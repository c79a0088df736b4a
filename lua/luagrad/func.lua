--- luagrad.func: torch.func-style function transforms (grad, grad_and_value,
-- vjp, jvp, linearize, jacrev, jacfwd, hessian), built on the reverse-mode
-- engine through lg.autograd.grad and on forward mode (luagrad.forward_ad,
-- loaded by the first jvp); func.tree is luagrad.tree (pytrees), and
-- functional_call / stack_module_state load func_call.lua (and the module
-- system) on first use.
--
-- How a transform works: each differentiated input leaf is replaced by an
-- alias before f runs. An input that needs no gradient outside becomes
-- `x:detach():requires_grad_()`, a fresh leaf; one that does (an outer
-- transform's alias, an nn parameter) becomes `x:view(x.shape)`, an
-- identity op recorded in the graph, so that gradients can flow on to the
-- outer level. The gradient is taken with respect to the aliases only, which
-- keeps the levels apart (no perturbation confusion), and never touches any
-- tensor's .grad. The backward pass is itself recorded (create_graph) when
-- an input required grad outside or when the transform runs inside another
-- transform's f (whose closures may capture that transform's aliases);
-- otherwise every result is detached (grad_fn == nil). "Outside" means in
-- any argument of the call, differentiated or not; a tensor requiring grad
-- that f only captures in a closure is not seen at the top level, so pass
-- such tensors (nn parameters) as arguments to keep the results
-- differentiable with respect to them.
--
-- jvp and jacfwd run f on dual tensors (luagrad.forward_ad: each op
-- computes its output's tangent by its jvp rule as it runs), one run per
-- jvp (jacfwd: one run vmapped over the one-hot tangents, chunk_size at a
-- time; inside vmap, the double-vjp form below); jacrev builds its rows
-- from vjps in one backward pass vmapped over the one-hot cotangents
-- (chunk_size rows at a time bounds memory). linearize keeps the
-- double-vjp construction: with u a dummy cotangent requiring grad,
-- g(u) = J^T u is linear in u, and the vjp of g with cotangent t is J t,
-- so each product is one backward pass without running f again.
--
-- Inside vmap (func_vmap.lua), an alias is batched at every active vmap
-- level (an unbatched input's examples share it), so that each example's
-- gradient lands in its own slot: vjp_flat hands the engine the physical
-- tensors (batch dims first) and wraps the gradients back (grad's common
-- path does the same in C inside one level, func_fast.c).
-- @module func
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local func = {}

-- pytrees: their own module, luagrad.tree, also reached as func.tree
local tree = require "luagrad.tree"
func.tree = tree
local is_node, same_spec = tree.is_node, tree.same_spec

-- -----------------------------------------------------------------------
-- shared machinery of the transforms

-- How many transforms are running their f right now. Inside one, another
-- transform records its backward pass, because f may close over the outer
-- transform's aliases (grad(function(x) return grad(function(y) return
-- (x * y):sum() end)(c) end)(a) must differentiate the inner result in x).
local depth = 0
local LEAVE = setmetatable({}, {__close = function() depth = depth - 1 end})

local shape_string, describe = check.shape_string, check.describe

local FLOATING = {float32 = true, float64 = true}

local is_callable = check.is_callable

-- func_vmap.lua, loaded by the first func.vmap (without `package`, so a
-- sandboxed host that never opened it runs func too).
local vmap_module

-- func_vmap.lua when a vmap level is active.
local function vmapping()
  local V = vmap_module
  return V and #V.active > 0 and V or nil
end

local function check_function(fname, f)
  if not is_callable(f) then
    raise(("%s: expected a function as argument 1, got %s"):format(fname, check.typename(f)))
  end
end


-- The 1-based argument positions named by argnums (an integer or a
-- non-empty array of distinct integers; negative counts from the end), and
-- whether argnums was an array.
local function resolve_argnums(fname, argnums, nargs)
  local function position(a)
    local i = type(a) == "number" and math.tointeger(a)
    if not i then
      raise(("%s: argnums must be an integer or an array of integers, got %s"):format(
        fname, check.typename(a) == "number" and tostring(a) or check.typename(a)))
    end
    local p = i < 0 and nargs + 1 + i or i
    if i == 0 or p < 1 or p > nargs then
      raise(("%s: argnums %d is out of range for a call with %d argument(s) "
        .. "(expected 1..%d or -%d..-1)"):format(fname, i, nargs, nargs, nargs))
    end
    return p
  end
  if type(argnums) ~= "table" then return {position(argnums)}, false end
  if #argnums == 0 then
    raise(fname .. ": argnums must not be an empty array")
  end
  local positions, seen = {}, {}
  for k, a in ipairs(argnums) do
    local p = position(a)
    if seen[p] then
      raise(("%s: argnums names argument %d twice"):format(fname, p))
    end
    seen[p], positions[k] = true, p
  end
  return positions, true
end

-- Raises alias_of's error for x, named what. Called as a tail call, so
-- level 4 is the same function as it would be from alias_of.
local function alias_error(fname, x, what)
  if not lg.is_tensor(x) then
    raise(("%s: %s must be a tensor or a table of tensors; found %s"):format(
      fname, what, describe(x)))
  end
  if not FLOATING[x.dtype] then
    raise(("%s: %s is a %s tensor; only float32 and float64 tensors can be "
      .. "differentiated"):format(fname, what, x.dtype))
  end
end

-- Replaces one input leaf (leaf i of argument p; leaf: the argument is the
-- tensor itself) by its alias (see the file comment). Returns the alias and
-- whether x required grad outside.
local function alias_of(fname, x, p, i, leaf)
  if not (lg.is_tensor(x) and FLOATING[x.dtype]) then
    -- the argument's name is only built for the message
    local what = ("argument %d"):format(p)
    if not leaf then what = what .. (" (leaf %d)"):format(i) end
    return alias_error(fname, x, what)
  end
  local V = vmapping()
  local batch = V and V.batch_at_all_levels
  if x.requires_grad and lg.is_grad_enabled() then
    return (batch and batch(x) or x):view(x.shape), true
  end
  if lg._is_dual(x) then -- a view keeps the tangents (forward-over-reverse)
    -- not re-batched: its tangent lives on x itself (inside vmap, x comes
    -- batched from the vmapped arguments)
    local alias = x:view(x.shape)
    if not alias.requires_grad then alias:requires_grad_() end
    return alias, false
  end
  return (batch and batch(x:detach()) or x:detach()):requires_grad_(), false
end

-- Whether value (a tensor, or plain tables holding tensors) holds a
-- tensor that requires grad; cycles are skipped.
local function holds_requires_grad(value, seen)
  if lg.is_tensor(value) then return value.requires_grad end
  if not is_node(value) or seen[value] then return false end
  seen[value] = true
  for _, v in pairs(value) do
    if holds_requires_grad(v, seen) then return true end
  end
  return false
end

-- Aliases the arguments at positions. Returns the arguments for f, a plan
-- ({aliases = flat array, groups = {{spec, first, count}...}}) and whether
-- any argument, differentiated or not, requires grad outside (then the
-- results must stay differentiable with respect to it).
local function alias_arguments(fname, args, positions)
  local call_args = table.pack(table.unpack(args, 1, args.n))
  local plan = {aliases = {}, groups = {}}
  local outer = false
  if lg.is_grad_enabled() then
    local seen = {}
    for i = 1, args.n do outer = outer or holds_requires_grad(args[i], seen) end
  end
  for k, p in ipairs(positions) do
    local leaves, spec = tree.flatten(args[p])
    local first = #plan.aliases + 1
    local aliased = {}
    for i, x in ipairs(leaves) do
      local alias, required = alias_of(fname, x, p, i, spec.leaf)
      aliased[i] = alias
      plan.aliases[#plan.aliases + 1] = alias
      outer = outer or required
    end
    if #leaves == 0 then
      raise(("%s: argument %d holds no tensors to differentiate"):format(fname, p))
    end
    plan.groups[k] = {spec = spec, first = first, count = #leaves}
    call_args[p] = tree.unflatten(spec, aliased)
  end
  return call_args, plan, outer
end

-- Splits a flat array of per-alias values into one tree per group.
local function assemble(plan, values)
  local trees = {}
  for k, group in ipairs(plan.groups) do
    trees[k] = tree.unflatten(group.spec,
      table.move(values, group.first, group.first + group.count - 1, 1, {n = group.count}))
  end
  return trees
end

-- Returns its arguments' count, then the arguments.
local function counted(...)
  return select("#", ...), ...
end

-- f(...) with grad mode on, counted in depth: the results' count, then
-- the results.
local function call_traced_values(f, ...)
  depth = depth + 1
  local _ <close> = LEAVE
  if type(f) ~= "function" then -- a callable table (a Function, a module)
    local callable = f
    f = function(...) return callable(...) end
  end
  return counted(lg.enable_grad(f, ...))
end

-- Runs f(args) with grad mode on, counted in depth; returns the packed results.
local function call_traced(f, args)
  return table.pack(select(2, call_traced_values(f, table.unpack(args, 1, args.n))))
end

-- Whether the backward pass must be recorded (see the file comment).
local function wants_graph(outer)
  return lg.is_grad_enabled() and (outer or depth > 0)
end

-- Splits f's results (n of them, the first two a and b) into output and
-- aux, checking their count.
local function split_values(fname, has_aux, n, a, b)
  if has_aux then
    if n ~= 2 then
      raise(("%s: has_aux is set, so f must return two values (output, aux); it "
        .. "returned %d"):format(fname, n))
    end
    return a, b
  end
  if n ~= 1 then
    raise(("%s: f returned %d values; return one, or set has_aux = true to return "
      .. "(output, aux)"):format(fname, n))
  end
  return a
end

-- Splits f's packed results into output and aux, checking their count.
local function split_results(fname, results, has_aux)
  return split_values(fname, has_aux, results.n, results[1], results[2])
end

-- The output leaves of f (tensors only), checked.
local function output_leaves(fname, output)
  local leaves, spec = tree.flatten(output)
  for i, leaf in ipairs(leaves) do
    if not lg.is_tensor(leaf) then
      raise(("%s: f must return a tensor or a table of tensors; output leaf %d is %s"):format(
        fname, i, describe(leaf)))
    end
  end
  return leaves, spec
end

-- Dual tensors keep their tangents (detach would drop them): results of a
-- transform run inside a dual level stay differentiable in forward mode.
local function detach(t)
  if not t.requires_grad or lg._is_dual(t) then return t end -- nothing to cut
  return t:detach()
end

-- The results a caller sees: detached unless the graph is recorded.
local function finish(value, recorded)
  if recorded or value == nil then return value end
  return tree.map(detach, value)
end

-- Gradients of outputs (with cotangents) with respect to inputs, zeros for
-- the inputs the outputs do not depend on. Outputs that carry no graph
-- contribute nothing.
local function engine_vjp(outputs, cotangents, inputs, create_graph)
  local outs, cts = {}, {}
  for i, o in ipairs(outputs) do
    if o.requires_grad then
      outs[#outs + 1], cts[#cts + 1] = o, cotangents and cotangents[i]
    end
  end
  local grads = {}
  if #outs > 0 then
    -- the engine itself: these options are ours, already known to be right
    grads = lg._autograd_grad(outs, inputs, {grad_outputs = cotangents and cts,
                                             retain_graph = true,
                                             create_graph = create_graph,
                                             allow_unused = true})
  end
  for i, x in ipairs(inputs) do
    grads[i] = grads[i] or lg.zeros_like(x)
  end
  return grads
end

-- Inside vmap, the aliases are batched at the levels active when they
-- were made: the engine gets the physical tensors of those levels (their
-- batch dims in front, every example in its own slot); levels entered
-- since (vmap over a vjp, as in jacrev) stay batched in the cotangents,
-- and the engine's backward ops run their batching rules.
local function vjp_flat(outputs, cotangents, inputs, create_graph)
  local V = vmapping()
  if not V then return engine_vjp(outputs, cotangents, inputs, create_graph) end
  local pins, layouts, levels = {}, {}, nil
  for j, x in ipairs(inputs) do pins[j], layouts[j], levels = V.unwrap_all(x) end
  if not levels or #levels == 0 then
    return engine_vjp(outputs, cotangents, inputs, create_graph)
  end
  local pouts, pcts = {}, {}
  for i, o in ipairs(outputs) do
    pouts[i] = V.physical(o, levels)
    local ct = cotangents and cotangents[i]
    pcts[i] = ct and V.physical(ct, levels) or lg.ones_like(pouts[i])
  end
  local grads = engine_vjp(pouts, pcts, pins, create_graph)
  for j = 1, #inputs do grads[j] = V.rewrap_all(grads[j], layouts[j]) end
  return grads
end

local function concat_shapes(a, b)
  local shape = table.move(a, 1, #a, 1, {})
  return table.move(b, 1, #b, #shape + 1, shape)
end

-- -----------------------------------------------------------------------
-- grad and grad_and_value

-- Raises unless grad's f returned a floating-point scalar tensor.
local function check_scalar_output(fname, output)
  if not lg.is_tensor(output) then
    raise(("%s: f must return a scalar tensor, got %s"):format(fname, describe(output)))
  end
  if output:dim() ~= 0 then
    raise(("%s: f must return a scalar (0-dim) tensor, got %s; for non-scalar "
      .. "outputs use func.vjp or func.jacrev"):format(fname, describe(output)))
  end
  if not FLOATING[output.dtype] then
    raise(("%s: f returned %s; only float32 and float64 outputs can be "
      .. "differentiated"):format(fname, describe(output)))
  end
end

-- grad's common case, without trees (see grad_and_value_impl): the
-- differentiated argument is one tensor or a flat table of tensors that
-- need no gradient outside, aliased by lg._func_alias in one C call; the
-- gradient table comes from lg._func_grad_of (func_fast.c) in another.
-- Inside one vmap level both take the level (its number and batch size):
-- the aliases are batched there and the pass runs on the physical tensors.
local func_alias, func_requires_grad, func_grad_of =
  lg._func_alias, lg._func_requires_grad, lg._func_grad_of

-- The gradient of output by the general vjp, in the common case's form
-- (for an output _func_grad_of does not take inside vmap).
local function vjp_gradient(output, aliases, keys, recorded)
  if keys == nil then return vjp_flat({output}, nil, {aliases}, recorded)[1], 0 end
  local grads, result = vjp_flat({output}, nil, aliases, recorded), {}
  for i = 1, #keys do result[keys[i]] = grads[i] end
  return result, 0
end

-- The rest of the common case once f ran: the gradient (a tensor, or a
-- table with the argument's keys), the value and aux (nil unless wanted).
local function fast_gradient(fname, has_aux, want_value, recorded, aliases, keys, level, n, a, b)
  local output, aux = split_values(fname, has_aux, n, a, b)
  local result, missing = func_grad_of(output, aliases, keys, recorded, level)
  if result == nil then
    check_scalar_output(fname, output) -- raises unless a scalar
    result, missing = vjp_gradient(output, aliases, keys, recorded)
  end
  if missing > 0 then -- aliases the output does not depend on: zeros
    if keys == nil then
      result = lg.zeros_like(aliases)
    else
      result = result or {}
      for i = 1, #keys do
        if result[keys[i]] == nil then result[keys[i]] = lg.zeros_like(aliases[i]) end
      end
    end
  end
  return result, want_value and finish(output, recorded) or nil, finish(aux, recorded)
end

-- The common case's f call with argument p replaced by aliased (p <= n);
-- level: the one active vmap level, or nil.
local function fast_call(fname, f, has_aux, want_value, p, n, aliased, aliases, keys, level, ...)
  local outer = func_requires_grad(...)
  if outer == nil then
    local seen = {}
    outer = false
    for i = 1, n do outer = outer or holds_requires_grad((select(i, ...)), seen) end
  end
  local recorded = wants_graph(outer)
  if p == 1 then
    return fast_gradient(fname, has_aux, want_value, recorded, aliases, keys, level,
                         call_traced_values(f, aliased, select(2, ...)))
  end
  local args = table.pack(...)
  args[p] = aliased
  return fast_gradient(fname, has_aux, want_value, recorded, aliases, keys, level,
                       call_traced_values(f, table.unpack(args, 1, n)))
end

-- Whether grad's common case can run here: true outside vmap, true and
-- the level's number and batch size inside exactly one vmap level, false
-- with levels nested (the general path takes those).
local function common_case_level()
  local active = vmap_module and vmap_module.active
  local depth = active and #active or 0
  if depth == 0 then return true end
  if depth == 1 then return true, active[1].level, active[1].size end
  return false
end

-- The function of grad and grad_and_value: returns grads, value (when
-- want_value), aux. A positive integer argnums, outside vmap or inside one
-- level, tries the common case first (fast_call); everything else, and
-- every error, takes the general path through trees.
local function grad_and_value_impl(fname, f, opts, want_value)
  check_function(fname, f)
  opts = check.options(fname, opts, {argnums = true, has_aux = true})
  local argnums = opts.argnums == nil and 1 or opts.argnums
  local has_aux = opts.has_aux
  local fast_p = math.type(argnums) == "integer" and argnums >= 1 and argnums or nil
  return function(...)
    if fast_p then
      local common, level, size = common_case_level()
      local n = select("#", ...)
      if common and fast_p <= n then
        local aliased, aliases, keys = func_alias((select(fast_p, ...)), level, size)
        if aliased ~= nil then
          return fast_call(fname, f, has_aux, want_value, fast_p, n, aliased, aliases,
                           keys, level, ...)
        end
      end
    end
    local args = table.pack(...)
    local positions, multi = resolve_argnums(fname, argnums, args.n)
    local call_args, plan, outer = alias_arguments(fname, args, positions)
    local recorded = wants_graph(outer)
    local output, aux = split_results(fname, call_traced(f, call_args), has_aux)
    check_scalar_output(fname, output)
    local grads = assemble(plan, vjp_flat({output}, nil, plan.aliases, recorded))
    local result = multi and grads or grads[1]
    return result, want_value and finish(output, recorded) or nil, finish(aux, recorded)
  end
end

--- grad(f, {argnums = 1, has_aux = false}) returns a function that gives
--- the gradient of f's scalar output with respect to argument argnums (an
--- integer, or an array of integers giving an array of gradients), each in
--- the structure of its argument; with has_aux, f returns loss, aux and the
--- function returns grads, aux.
-- @usage local g = func.grad(function(x) return (x ^ 2):sum() end)(lg.ones(3)) --> {2, 2, 2}
function func.grad(f, opts)
  local inner = grad_and_value_impl("grad", f, opts, false)
  local has_aux = opts and opts.has_aux
  return function(...)
    local grads, _, aux = inner(...)
    if has_aux then return grads, aux end
    return grads
  end
end

--- grad_and_value(f, opts): like grad, returning grads, value (and aux).
-- @usage local grads, loss = func.grad_and_value(loss_fn)(params, x, y)
function func.grad_and_value(f, opts)
  local inner = grad_and_value_impl("grad_and_value", f, opts, true)
  local has_aux = opts and opts.has_aux
  return function(...)
    local grads, value, aux = inner(...)
    if has_aux then return grads, value, aux end
    return grads, value
  end
end

-- -----------------------------------------------------------------------
-- vjp and jvp

-- Checks that a cotangent or tangent tree matches the tree it goes with
-- (structure and each tensor's shape). Returns its leaves.
local function same_shape(a, b)
  local n = a:dim()
  if b:dim() ~= n then return false end
  for d = 1, n do
    if a:size(d) ~= b:size(d) then return false end
  end
  return true
end

-- Appends value's leaves to out, following spec; false when value has
-- another structure (no spec is built, no keys sorted: the fast path of
-- matching_leaves).
local function leaves_by_spec(spec, value, out)
  if spec.leaf then
    out[#out + 1] = value
    return not is_node(value)
  end
  if not is_node(value) then return false end
  local count = 0
  for _ in pairs(value) do count = count + 1 end
  if count ~= #spec.keys then return false end
  for i, k in ipairs(spec.keys) do
    local v = value[k]
    if v == nil or not leaves_by_spec(spec.children[i], v, out) then return false end
  end
  return true
end

local function matching_leaves(fname, what, value, like_leaves, like_spec)
  local leaves = {}
  if leaves_by_spec(like_spec, value, leaves) then
    for i, leaf in ipairs(leaves) do
      if not (lg.is_tensor(leaf) and same_shape(leaf, like_leaves[i])) then leaves = nil break end
    end
    if leaves then return leaves end
  end
  local spec
  leaves, spec = tree.flatten(value)
  if not same_spec(spec, like_spec) then
    raise(("%s: %s has structure %s, expected %s"):format(
      fname, what, tostring(spec), tostring(like_spec)))
  end
  for i, leaf in ipairs(leaves) do
    local like = like_leaves[i]
    if not lg.is_tensor(leaf) then
      raise(("%s: %s leaf %d must be a tensor, got %s"):format(fname, what, i, describe(leaf)))
    end
    if not same_shape(leaf, like) then
      raise(("%s: %s leaf %d has shape %s, expected %s"):format(
        fname, what, i, shape_string(leaf.shape), shape_string(like.shape)))
    end
  end
  return leaves
end

local function any_requires_grad(leaves)
  for _, t in ipairs(leaves) do
    if t.requires_grad then return true end
  end
  return false
end

local function all_positions(n)
  local positions = {}
  for i = 1, n do positions[i] = i end
  return positions
end

--- vjp(f, primals...) returns output, vjp_fn where vjp_fn(cotangents)
--- returns one gradient per primal, as multiple values; cotangents has the
--- structure of output. Lua has no keyword arguments and a trailing table
--- would be a primal, so has_aux goes with the function:
--- vjp({f, has_aux = true}, primals...) returns output, vjp_fn, aux.
--- vjp_fn may be called several times.
-- @usage local y, vjp_fn = func.vjp(lg.sin, x); local gx = vjp_fn(lg.ones_like(y))
function func.vjp(f, ...)
  local has_aux = false
  if is_node(f) then
    local opts = {}
    for k, v in pairs(f) do
      if k ~= 1 then opts[k] = v end
    end
    check.options("vjp", opts, {has_aux = true})
    has_aux, f = f.has_aux, f[1]
  end
  check_function("vjp", f)
  local primals = table.pack(...)
  if primals.n == 0 then raise("vjp: expected at least one primal after f") end
  local call_args, plan, outer = alias_arguments("vjp", primals, all_positions(primals.n))
  local recorded = wants_graph(outer)
  local output, aux = split_results("vjp", call_traced(f, call_args), has_aux)
  local outs, out_spec = output_leaves("vjp", output)
  local function vjp_fn(cotangents)
    local cts = matching_leaves("vjp_fn", "the cotangent", cotangents, outs, out_spec)
    local create_graph = recorded or (lg.is_grad_enabled() and any_requires_grad(cts))
    local grads = vjp_flat(outs, cts, plan.aliases, create_graph)
    return table.unpack(assemble(plan, grads), 1, primals.n)
  end
  if has_aux then return finish(output, recorded), vjp_fn, finish(aux, recorded) end
  return finish(output, recorded), vjp_fn
end

-- Forward-mode products J t by the double vjp (see the file comment):
-- prepares g = J^T u once; the returned function maps the per-alias
-- tangents (nil where zero) to one tangent per output leaf.
local function forward_products(outs, aliases, create_graph)
  local live, live_outs, dummies = {}, {}, {} -- the outputs in the graph
  local V = vmapping() -- inside vmap the dummies are batched like aliases
  for i, o in ipairs(outs) do
    if o.requires_grad then
      live[#live + 1], live_outs[#live + 1] = i, o
      local u = lg.zeros_like(o)
      dummies[#live] = (V and V.batch_at_all_levels(u) or u):requires_grad_()
    end
  end
  local g = #live > 0 and vjp_flat(live_outs, dummies, aliases, true) or {}
  return function(tangents)
    local products = {}
    local gs, ts = {}, {}
    for j, t in pairs(tangents) do
      if g[j] and g[j].requires_grad then gs[#gs + 1], ts[#ts + 1] = g[j], t end
    end
    if #gs > 0 then
      local live_products = vjp_flat(gs, ts, dummies, create_graph)
      for k, i in ipairs(live) do products[i] = live_products[k] end
    end
    for i, o in ipairs(outs) do products[i] = products[i] or lg.zeros_like(o) end
    return products
  end
end

-- Checks jvp's primals and tangents arguments; returns the packed
-- arguments and the tangents tree.
local function jvp_arguments(fname, f, primals, tangents, opts)
  check_function(fname, f)
  opts = check.options(fname, opts, {has_aux = true})
  if lg.is_tensor(primals) then primals = {primals} end
  if lg.is_tensor(tangents) then tangents = {tangents} end
  if not is_node(primals) then
    raise(("%s: expected an array of primals as argument 2, got %s"):format(
      fname, check.typename(primals)))
  end
  local n = #primals
  for k in pairs(primals) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      raise(fname .. ": primals must be an array of f's arguments; to pass one table, "
        .. "write {tbl}")
    end
  end
  if n == 0 then raise(fname .. ": expected at least one primal") end
  return table.pack(table.unpack(primals, 1, n)), primals, tangents, opts
end

--- _jvp_by_vjp(f, primals, tangents, {has_aux}): jvp by the double-vjp
--- construction (two backward passes), kept as the reference forward mode
--- is tested and benchmarked against.
function func._jvp_by_vjp(f, primals, tangents, opts)
  local args
  args, primals, tangents, opts = jvp_arguments("jvp", f, primals, tangents, opts)
  local n = args.n
  local call_args, plan, outer = alias_arguments("jvp", args, all_positions(n))
  local _, primal_spec = tree.flatten(primals)
  local tangent_leaves = matching_leaves("jvp", "tangents", tangents, plan.aliases, primal_spec)
  local recorded = wants_graph(outer or any_requires_grad(tangent_leaves))
  local output, aux = split_results("jvp", call_traced(f, call_args), opts.has_aux)
  local outs, out_spec = output_leaves("jvp", output)
  local products = forward_products(outs, plan.aliases, recorded)(tangent_leaves)
  local tangent_out = tree.unflatten(out_spec, products)
  if opts.has_aux then
    return finish(output, recorded), tangent_out, finish(aux, recorded)
  end
  return finish(output, recorded), tangent_out
end

-- -----------------------------------------------------------------------
-- forward mode: jvp, linearize (and jacfwd below)

-- The arguments at positions, flattened: plan = {aliases = the float
-- tensor leaves themselves (forward mode needs no aliases), groups =
-- {{spec, first, count}...}}, and whether any argument requires grad
-- outside (as alias_arguments). spec (optional): the spec of the array
-- args when positions are all of them (jvp flattened it already), so each
-- argument's spec is one of its children.
local function dual_arguments(fname, args, positions, leaves, spec)
  local plan = {aliases = {}, groups = {}}
  local outer = false
  if lg.is_grad_enabled() then
    if spec then -- every argument's leaves are at hand
      for _, x in ipairs(leaves) do outer = outer or (lg.is_tensor(x) and x.requires_grad) end
    else
      local seen = {}
      for i = 1, args.n do outer = outer or holds_requires_grad(args[i], seen) end
    end
  end
  for k, p in ipairs(positions) do
    local first, arg_leaves, arg_spec = #plan.aliases + 1, nil, nil
    if spec then
      arg_spec = spec.children[p]
      arg_leaves = table.move(leaves, first, first + arg_spec.n - 1, 1, {})
    else
      arg_leaves, arg_spec = tree.flatten(args[p])
    end
    for i, x in ipairs(arg_leaves) do
      if not (lg.is_tensor(x) and FLOATING[x.dtype]) then
        local what = ("argument %d"):format(p)
        if not arg_spec.leaf then what = what .. (" (leaf %d)"):format(i) end
        alias_error(fname, x, what)
      end
      plan.aliases[#plan.aliases + 1] = x
    end
    if #arg_leaves == 0 then
      raise(("%s: argument %d holds no tensors to differentiate"):format(fname, p))
    end
    plan.groups[k] = {spec = arg_spec, first = first, count = #arg_leaves}
  end
  return plan, outer
end

local forward_ad -- luagrad.forward_ad, loaded on first use

-- Runs f once inside a new dual level, on the arguments with leaf j of the
-- plan made dual with tangents[j] (leaves without one stay plain). Returns
-- the output leaves (primals), one tangent per output leaf (zeros where
-- none), the output's spec and aux (its tensors' primals).
local function run_dual(fname, f, args, plan, positions, tangents, has_aux)
  forward_ad = forward_ad or require "luagrad.forward_ad"
  local level <close> = forward_ad.dual_level()
  local duals = {}
  for j, x in ipairs(plan.aliases) do
    local t = tangents[j]
    if t and t.dtype ~= x.dtype then t = t:to(x.dtype) end
    duals[j] = t and lg._make_dual(x, t, level.level) or x
  end
  local call_args = table.pack(table.unpack(args, 1, args.n))
  for k, group in ipairs(plan.groups) do
    call_args[positions[k]] = group.spec.leaf and duals[group.first]
      or tree.unflatten(group.spec, table.move(duals, group.first, group.first + group.count - 1, 1,
                                               {n = group.count}))
  end
  local output, aux = split_results(fname, call_traced(f, call_args), has_aux)
  local outs, out_spec = output_leaves(fname, output)
  local products = {n = #outs}
  for i, o in ipairs(outs) do products[i] = lg._tangent(o, level.level) or lg.zeros_like(o) end
  outs.n = #outs
  -- once the level exits (on return) the outputs and aux hold no tangent
  -- of it: they are the primals themselves
  return outs, products, out_spec, aux
end

-- The leaves a caller sees (see finish), in place.
local function finish_leaves(leaves, recorded)
  if recorded then return leaves end
  for i = 1, leaves.n or #leaves do
    if lg.is_tensor(leaves[i]) then leaves[i] = detach(leaves[i]) end
  end
  return leaves
end

-- func.jvp's fast path (the common calls: f a function, no options, each
-- primal a tensor or a flat table of tensors, tangents alike, nothing
-- requiring grad, no vmap): the duals are made per leaf by one C call
-- (lg._jvp_dual, nil when a leaf does not fit) straight into copies of the
-- argument tables, with no flatten, spec, key sort or unflatten. Returns
-- nil (after closing its level) whenever the call does not fit, and
-- func.jvp then takes the general path, which checks and raises; else as
-- run_dual, with out_spec nil when the output is one tensor (outs it).
local function node_count(t)
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count
end

local function jvp_fast_run(f, primals, tangents)
  if type(f) ~= "function" or vmapping() then return nil end
  if lg.is_tensor(primals) then primals = {primals} end
  if lg.is_tensor(tangents) then tangents = {tangents} end
  if not (is_node(primals) and is_node(tangents)) then return nil end
  local n = #primals
  if n == 0 or node_count(primals) ~= n or node_count(tangents) ~= n then return nil end
  forward_ad = forward_ad or require "luagrad.forward_ad"
  local guard <close> = forward_ad.dual_level()
  local level, jvp_dual = guard.level, lg._jvp_dual
  local call_args = {n = n}
  for i = 1, n do
    local p, t = primals[i], tangents[i]
    local d
    if is_node(p) then
      if not is_node(t) then return nil end
      d = {}
      local count = 0
      for k, x in pairs(p) do
        local dx = jvp_dual(x, t[k], level)
        if not dx then return nil end
        d[k], count = dx, count + 1
      end
      if count == 0 or node_count(t) ~= count then return nil end
    else
      d = jvp_dual(p, t, level)
      if not d then return nil end
    end
    call_args[i] = d
  end
  local output = split_results("jvp", call_traced(f, call_args), false)
  if lg.is_tensor(output) then
    return output, lg._tangent(output, level) or lg.zeros_like(output), nil
  end
  local outs, out_spec = output_leaves("jvp", output)
  local products = {n = #outs}
  for i, o in ipairs(outs) do products[i] = lg._tangent(o, level) or lg.zeros_like(o) end
  outs.n = #outs
  return outs, products, out_spec
end

--- jvp(f, primals, tangents, {has_aux}) returns output, tangent_out (and
--- aux): f's output at primals and its directional derivative along
--- tangents, from one run of f on dual tensors (forward-mode AD: each op
--- computes its output's tangent as it runs). primals is an array of f's
--- arguments (a single tensor also works); tangents has the same structure
--- and shapes.
-- @usage local y, dy = func.jvp(lg.sin, {x}, {lg.ones_like(x)})
function func.jvp(f, primals, tangents, opts)
  if opts == nil then
    local recorded = wants_graph(false)
    local outs, products, out_spec = jvp_fast_run(f, primals, tangents)
    if outs then -- the level has exited: the results hold no tangent of it
      if not out_spec then
        if recorded then return outs, products end
        return detach(outs), detach(products)
      end
      return tree.unflatten(out_spec, finish_leaves(outs, recorded)),
        tree.unflatten(out_spec, finish_leaves(products, recorded))
    end
  end
  local args
  args, primals, tangents, opts = jvp_arguments("jvp", f, primals, tangents, opts)
  local positions = all_positions(args.n)
  local leaves, primal_spec = tree.flatten(primals)
  local plan, outer = dual_arguments("jvp", args, positions, leaves, primal_spec)
  local tangent_leaves = matching_leaves("jvp", "tangents", tangents, plan.aliases, primal_spec)
  local recorded = wants_graph(outer or any_requires_grad(tangent_leaves))
  local outs, products, out_spec, aux =
    run_dual("jvp", f, args, plan, positions, tangent_leaves, opts.has_aux)
  local output = tree.unflatten(out_spec, finish_leaves(outs, recorded))
  local tangent_out = tree.unflatten(out_spec, finish_leaves(products, recorded))
  if opts.has_aux then return output, tangent_out, finish(aux, recorded) end
  return output, tangent_out
end

--- linearize(f, primals...) returns output, jvp_fn: f's output at primals
--- and a function jvp_fn(tangents...) (one tangent per primal, in their
--- structure) giving the jvp at primals along them. f runs once; the
--- linearization is kept as the graph of J^T u (u a dummy cotangent), and
--- each jvp_fn call is one backward pass through it (the double-vjp
--- construction), so f never runs again.
-- @usage local y, jvp_fn = func.linearize(f, x); local dy = jvp_fn(v)
function func.linearize(f, ...)
  check_function("linearize", f)
  local args = table.pack(...)
  if args.n == 0 then raise("linearize: expected at least one primal after f") end
  local call_args, plan, outer = alias_arguments("linearize", args, all_positions(args.n))
  local recorded = wants_graph(outer)
  local output = split_results("linearize", call_traced(f, call_args), false)
  local outs, out_spec = output_leaves("linearize", output)
  local product = forward_products(outs, plan.aliases, true)
  local _, primal_spec = tree.flatten({table.unpack(args, 1, args.n)})
  local function jvp_fn(...)
    local tangents = table.pack(...)
    local leaves = matching_leaves("linearize", "the tangents", {table.unpack(tangents, 1, tangents.n)},
                                   plan.aliases, primal_spec)
    return finish(tree.unflatten(out_spec, product(leaves)), recorded)
  end
  return finish(output, recorded), jvp_fn
end

-- -----------------------------------------------------------------------
-- jacobians

-- The jacobian tree: for each output leaf, the argnums-shaped tree of
-- blocks[i][j] (output leaf i, alias j).
local function jacobian_tree(out_spec, plan, multi, blocks)
  local per_output = {}
  for i, row in ipairs(blocks) do
    local trees = assemble(plan, row)
    per_output[i] = multi and trees or trees[1]
  end
  per_output.n = #blocks
  return tree.unflatten(out_spec, per_output)
end

-- The transform of jacrev and jacfwd; fill(outs, aliases, recorded) returns
-- blocks[i][j], the jacobian of output leaf i with respect to alias j.
local function jacobian_transform(fname, f, opts, fill)
  check_function(fname, f)
  opts = check.options(fname, opts, {argnums = true, has_aux = true, chunk_size = true})
  local chunk = opts.chunk_size
  if chunk ~= nil and not (math.type(chunk) == "integer" and chunk >= 1) then
    raise(("%s: chunk_size must be a positive integer, got %s"):format(fname, describe(chunk)))
  end
  local argnums = opts.argnums == nil and 1 or opts.argnums
  return function(...)
    local args = table.pack(...)
    local positions, multi = resolve_argnums(fname, argnums, args.n)
    local call_args, plan, outer = alias_arguments(fname, args, positions)
    local recorded = wants_graph(outer)
    local output, aux = split_results(fname, call_traced(f, call_args), opts.has_aux)
    local outs, out_spec = output_leaves(fname, output)
    local blocks = fill(outs, plan.aliases, recorded, chunk)
    local jac = jacobian_tree(out_spec, plan, multi, blocks)
    if opts.has_aux then return jac, finish(aux, recorded) end
    return jac
  end
end

-- Reverse mode: the rows of output leaf i's jacobian are the vjps with the
-- one-hot cotangents e_k, all in one backward pass vmapped over the rows
-- of an identity matrix (chunk_size rows at a time when given).
local function reverse_blocks(outs, aliases, recorded, chunk_size)
  local blocks = {}
  for i, o in ipairs(outs) do
    blocks[i] = {}
    local n = o:numel()
    local rows
    if o.requires_grad and n > 0 then
      local basis = lg.eye(n, {dtype = o.dtype}):view(concat_shapes({n}, o.shape))
      rows = table.pack(func.vmap(function(ct)
        return table.unpack(vjp_flat({o}, {ct}, aliases, recorded))
      end, {chunk_size = chunk_size})(basis))
    end
    for j, x in ipairs(aliases) do
      local shape = concat_shapes(o.shape, x.shape)
      if not rows then
        blocks[i][j] = lg.zeros(shape, {dtype = x.dtype})
      else
        blocks[i][j] = rows[j]:reshape(shape)
      end
    end
  end
  return blocks
end

-- The block of output leaf o (shape O) for an input leaf of n elements
-- from columns, an (N, O) stack of jacobian columns (row k: the output
-- tangent along e_k): rows offset+1 .. offset+n, the input's dims moved
-- last, as shape (O .. I).
local function column_block(columns, offset, n, o, shape)
  local rows = columns:reshape({columns.shape[1], o:numel()}):narrow(1, offset + 1, n)
  return rows:t():reshape(shape)
end

-- jacfwd inside vmap: column k of the jacobian with respect to alias j is
-- the double-vjp forward product with the one-hot tangent e_k of alias j,
-- all columns in one pass vmapped over the rows of an identity matrix
-- (chunk_size at a time when given). Dual tensors do not yet reach the
-- physical tensors the engine sees inside vmap (vjp_flat), so
-- forward-over-reverse (hessian) under vmap takes this form.
local function forward_blocks(outs, aliases, recorded, chunk_size)
  local product = forward_products(outs, aliases, recorded)
  local blocks = {}
  for i = 1, #outs do blocks[i] = {} end
  for j, x in ipairs(aliases) do
    local n = x:numel()
    local columns
    if n > 0 then
      local basis = lg.eye(n, {dtype = x.dtype}):view(concat_shapes({n}, x.shape))
      columns = table.pack(func.vmap(function(t)
        return table.unpack(product({[j] = t}), 1, #outs)
      end, {chunk_size = chunk_size})(basis))
    end
    for i, o in ipairs(outs) do
      local shape = concat_shapes(o.shape, x.shape)
      if not columns then
        blocks[i][j] = lg.zeros(shape, {dtype = o.dtype})
      else
        blocks[i][j] = column_block(columns[i], 0, n, o, shape)
      end
    end
  end
  return blocks
end

--- jacrev(f, {argnums = 1, has_aux = false, chunk_size}): the jacobian of
--- f by reverse mode, its rows vmapped (chunk_size rows per pass). For an
--- output leaf of shape O and an input leaf of shape I the
--- block has shape O .. I; the result has f's output structure, each leaf
--- replaced by the gradient structure of argnums (as in grad).
-- @usage local J = func.jacrev(lg.sin)(lg.randn(3)) -- {3, 3}
function func.jacrev(f, opts)
  return jacobian_transform("jacrev", f, opts, reverse_blocks)
end

-- The columns of the jacobian with respect to all input leaves at once:
-- for each output leaf i, an (N, O_i) tensor (N: the input leaves' element
-- count) whose row k is the output tangent of run(tangents) with tangents
-- the one-hot e_k spread over the leaves. One run on dual tensors whose
-- tangents are the rows of an identity matrix, vmapped (chunk_size rows per
-- run when given; random ops draw once per run, the columns' numbers are
-- the same); nil when there is no input element. Every leaf gets a
-- tangent, so none stays plain (a plain leaf would be batched by a jacrev
-- inside f and the engine would lose the tangents: hessian).
local function jvp_columns(run, aliases, chunk_size)
  local total = 0
  for _, x in ipairs(aliases) do total = total + x:numel() end
  if total == 0 then return nil end
  local eyes, basis, offset = {}, {}, 0
  for j, x in ipairs(aliases) do
    eyes[x.dtype] = eyes[x.dtype] or lg.eye(total, {dtype = x.dtype})
    local rows = eyes[x.dtype]:narrow(2, offset + 1, x:numel())
    basis[j] = rows:reshape(concat_shapes({total}, x.shape))
    offset = offset + x:numel()
  end
  return table.pack(func.vmap(function(...)
    local products = run({...})
    return table.unpack(products, 1, products.n)
  end, {chunk_size = chunk_size, randomness = "same"})(table.unpack(basis, 1, #aliases)))
end

--- jacfwd(f, {argnums = 1, has_aux = false, chunk_size}): the same
--- jacobian by forward mode: one run of f on dual tensors, vmapped over
--- the one-hot tangents of each input leaf (chunk_size columns per run when
--- given); the faster one when f has fewer inputs than outputs. Inside
--- vmap the columns come from the double-vjp form (forward_blocks): a jacrev
--- in f there would hand the engine the physical tensors, which do not
--- carry the dual tangents, and hessian would come out zero.
-- @usage local J = func.jacfwd(lg.sin)(lg.randn(3)) -- {3, 3}
function func.jacfwd(f, opts)
  check_function("jacfwd", f)
  opts = check.options("jacfwd", opts, {argnums = true, has_aux = true, chunk_size = true})
  local chunk = opts.chunk_size
  if chunk ~= nil and not (math.type(chunk) == "integer" and chunk >= 1) then
    raise(("jacfwd: chunk_size must be a positive integer, got %s"):format(describe(chunk)))
  end
  local argnums = opts.argnums == nil and 1 or opts.argnums
  local under_vmap = jacobian_transform("jacfwd", f, opts, forward_blocks)
  return function(...)
    if vmapping() then return under_vmap(...) end
    local args = table.pack(...)
    local positions, multi = resolve_argnums("jacfwd", argnums, args.n)
    local plan, outer = dual_arguments("jacfwd", args, positions)
    local recorded = wants_graph(outer)
    local outs, out_spec, aux
    local function run(tangents)
      local products
      outs, products, out_spec, aux = run_dual("jacfwd", f, args, plan, positions, tangents,
                                               opts.has_aux)
      return products
    end
    local columns = jvp_columns(run, plan.aliases, chunk)
    if not outs then run({}) end -- no input elements: the output's shapes only
    local blocks = {}
    for i, o in ipairs(outs) do
      blocks[i] = {}
      local offset = 0
      for j, x in ipairs(plan.aliases) do
        local shape, n = concat_shapes(o.shape, x.shape), x:numel()
        blocks[i][j] = n == 0 and lg.zeros(shape, {dtype = o.dtype})
          or column_block(columns[i], offset, n, o, shape)
        offset = offset + n
      end
    end
    local jac = finish(jacobian_tree(out_spec, plan, multi, blocks), recorded)
    if opts.has_aux then return jac, finish(aux, recorded) end
    return jac
  end
end

--- hessian(f, {argnums = 1}): jacfwd(jacrev(f)), the second derivatives of
--- f's scalar output, of shape I .. I for an input of shape I.
-- @usage local H = func.hessian(function(x) return (x ^ 3):sum() end)(lg.ones(2))
function func.hessian(f, opts)
  check_function("hessian", f)
  opts = check.options("hessian", opts, {argnums = true})
  local inner = {argnums = opts.argnums}
  return func.jacfwd(func.jacrev(f, inner), inner)
end

--- vmap(f, {in_dims = 1, out_dims = 1, randomness = "error", chunk_size}):
--- f mapped over a batch dim of its inputs (func_vmap.lua).
-- @usage local batched_dot = func.vmap(lg.dot) -- over dim 1 of both
function func.vmap(f, opts)
  vmap_module = vmap_module or require("luagrad.func_vmap")
  return vmap_module.vmap(f, opts)
end

-- functional_call and stack_module_state live beside the module system,
-- which is loaded on their first use only.
local functional_call -- func_call.lua's, found by the first call
function func.functional_call(...)
  functional_call = functional_call or require("luagrad.func_call").functional_call
  return functional_call(...)
end
function func.stack_module_state(...)
  return require("luagrad.func_call").stack_module_state(...)
end

--- replace_all_batch_norm_modules_(root): root's BatchNorm modules stop
--- tracking running statistics (in place), so vmap can run the model in
--- training mode (func_call.lua; functorch's function of that name).
-- @param root a Module
-- @return root
-- @usage func.replace_all_batch_norm_modules_(model)
function func.replace_all_batch_norm_modules_(root)
  return require("luagrad.func_call").replace_all_batch_norm_modules_(root)
end

--- compile(f, opts): f traced once per guard and replayed in C (see
--- luagrad.func_compile for the guard and the options).
-- @param f the function to compile
-- @param opts optional table: max_plans, reuse_outputs, fallback
-- @return the compiled function (with plan_info() and reset())
-- @usage local fast = func.compile(function(x) return x:relu():sum() end)
function func.compile(f, opts)
  return require("luagrad.func_compile").compile(f, opts)
end

return func
