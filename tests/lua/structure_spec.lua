-- structure_spec.lua: the structure ops and shape helpers (tril, triu,
-- diag, diagonal, diag_embed, trace, roll, rot90, kron, cross, cdist,
-- repeat_interleave, take_along_dim, meshgrid, movedim, unflatten,
-- swapaxes, atleast_nd, unbind) against PyTorch 1.13
-- (tests/fixtures/structure.lua, from generate_structure.py; its docstring
-- describes a case): forward results, gradients for a cotangent, second
-- derivatives of the non-linear ones, jvp tangents, and vmap over a batch
-- of 3.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local A = lg.autograd
local func = lg.func

local cases = dofile(H.root .. "/tests/fixtures/structure.lua")
local RTOL, ATOL = 1e-10, 1e-12

-- The case's Lua function, its results always as an array of tensors.
local function function_of(case)
  local f = assert(load("local lg = ...; return " .. case.lua, case.name, "t"))(lg)
  return function(...)
    local out = table.pack(f(...))
    if out.n == 1 and not lg.is_tensor(out[1]) then out = out[1] end
    local list = {}
    for k = 1, #out do list[k] = out[k] end
    return list
  end
end

local function tensors(entries)
  local ts = {}
  for i, e in ipairs(entries) do ts[i] = H.tensor(e) end
  return ts
end

local function check_all(label, got, expected)
  assert.are.equal(#expected, #got, label .. ": number of results")
  for k, e in ipairs(expected) do
    H.assert_close(got[k], e, RTOL, ATOL, ("%s, result %d"):format(label, k))
  end
end

-- The float inputs (differentiated) and a function of them alone.
local function float_part(case, f, inputs)
  local positions, floats = {}, {}
  for i, x in ipairs(inputs) do
    if x.dtype == "float64" then
      positions[#positions + 1] = i
      floats[#floats + 1] = x
    end
  end
  local function g(...)
    local args, given = {}, {...}
    for i, x in ipairs(inputs) do args[i] = x end
    for k, i in ipairs(positions) do args[i] = given[k] end
    return f(table.unpack(args, 1, #inputs))
  end
  return g, floats
end

describe("structure ops against PyTorch 1.13", function()
  for _, case in ipairs(cases) do
    describe(case.name, function()
      local f = function_of(case)

      it("forward", function()
        check_all("forward", f(table.unpack(tensors(case.inputs))), case.outputs)
      end)

      if case.grads then
        it("gradients", function()
          local g, floats = float_part(case, f, tensors(case.inputs))
          for _, x in ipairs(floats) do x:requires_grad_() end
          local outs, diff = g(table.unpack(floats)), {}
          for _, o in ipairs(outs) do
            if o.dtype == "float64" then diff[#diff + 1] = o end
          end
          local gs = A.grad(diff, floats, {grad_outputs = tensors(case.cotangents),
                                           allow_unused = true})
          for i, e in ipairs(case.grads) do
            H.assert_close(gs[i] or lg.zeros_like(floats[i]), e, RTOL, ATOL, "gradient " .. i)
          end
        end)

        if case.second then
          it("second derivatives", function()
            local g, floats = float_part(case, f, tensors(case.inputs))
            for _, x in ipairs(floats) do x:requires_grad_() end
            local outs = g(table.unpack(floats))
            local first = A.grad(outs, floats, {grad_outputs = tensors(case.cotangents),
                                                create_graph = true})
            local weights, total = tensors(case.second.weights), nil
            for i, gi in ipairs(first) do
              local term = (gi * weights[i]):sum()
              total = total and total + term or term
            end
            local second = A.grad(total, floats, {allow_unused = true})
            for i, e in ipairs(case.second.grads) do
              H.assert_close(second[i] or lg.zeros_like(floats[i]), e, RTOL, ATOL,
                             "second derivative " .. i)
            end
          end)
        end

        it("jvp", function()
          local g, floats = float_part(case, f, tensors(case.inputs))
          local _, tangent = func.jvp(g, floats, tensors(case.tangents))
          check_all("jvp", tangent, case.jvp)
        end)
      end

      if case.vmap then
        it("vmap", function()
          local vf = func.vmap(f, {in_dims = case.vmap.in_dims})
          check_all("vmap", vf(table.unpack(tensors(case.vmap.inputs))), case.vmap.outputs)
        end)
      end
    end)
  end
end)
