-- where_select_spec.lua: lg.where over contiguous rows takes a branch-free
-- select by bit masks (elementwise.c's where_bits32/64, relu's backward),
-- strided operands the per-element loop. Both must give each element of the
-- chosen operand bit for bit (NaN, -0, infinities, integers past 2^53),
-- with a tensor or a number as the other branch, in every dtype of 4 or 8
-- bytes, at lengths around the vector widths.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

-- The bits of a value as tolist gives it (NaNs compare as one value).
local function bits(v)
  if v ~= v then return "nan" end
  return math.type(v) == "integer" and string.pack("<i8", v) or string.pack("<d", v)
end

-- n values of the dtype with the awkward ones among them.
local function values(dtype, n, seed)
  local out = {}
  for i = 1, n do
    local k = (i * 7 + seed) % 11
    if dtype == "float32" or dtype == "float64" then
      local special = {0 / 0, -0.0, math.huge, -math.huge}
      out[i] = special[k + 1] or math.sin(i * 0.37 + seed) * 10 ^ (k - 5)
    else
      local big = dtype == "int64" and 9007199254740993 or 2147483647
      out[i] = k == 0 and big or k == 1 and -big or (i * 37 + seed) % 201 - 100
    end
  end
  return out
end

local function check(dtype, n, strided)
  local av, bv = values(dtype, n, 1), values(dtype, n, 5)
  local cv = {}
  for i = 1, n do cv[i] = (i * 13) % 7 < 3 end
  local a = lg.tensor(av, {dtype = dtype})
  local b = lg.tensor(bv, {dtype = dtype})
  local cond = lg.tensor(cv, {dtype = "bool"})
  if strided then -- every operand a stride-2 view of a longer tensor
    local function spread(t)
      local wide = lg.zeros(n, 2, {dtype = t.dtype})
      wide:select(2, 1):copy_(t)
      return wide:select(2, 1)
    end
    a, b, cond = spread(a), spread(b), spread(cond)
    assert(n == 1 or not a:is_contiguous())
  end
  local label = ("%s n=%d %s"):format(dtype, n, strided and "strided" or "contiguous")
  local al, bl = a:tolist(), b:tolist() -- the values as the dtype holds them
  local with_tensor = lg.where(cond, a, b):tolist()
  local scalar = dtype:find("int") and 42 or -0.0
  local with_number = lg.where(cond, a, scalar):tolist()
  local scalar_bits = bits(lg.tensor({scalar}, {dtype = dtype}):tolist()[1])
  for i = 1, n do
    local want_tensor = cv[i] and bits(al[i]) or bits(bl[i])
    assert.are.equal(want_tensor, bits(with_tensor[i]), label .. " tensor b at " .. i)
    local want = cv[i] and bits(al[i]) or scalar_bits
    assert.are.equal(want, bits(with_number[i]), label .. " number b at " .. i)
  end
end

describe("lg.where's contiguous select", function()
  for _, dtype in ipairs({"float32", "float64", "int32", "int64"}) do
    for _, n in ipairs({1, 7, 16, 33, 257}) do
      it(("gives the chosen element's bits, %s, n = %d"):format(dtype, n), function()
        check(dtype, n, false)
        check(dtype, n, true)
      end)
    end
  end

  it("keeps relu's gradient: 0 where x <= 0, g elsewhere, NaN g included", function()
    local x = lg.tensor({-1, 0, 2, 3, -0.0}, {requires_grad = true})
    local g = lg.tensor({5, 6, 0 / 0, -0.0, 8})
    x:relu():backward(g)
    local got = x.grad:tolist()
    assert.are.same({bits(0.0), bits(0.0), "nan", bits(-0.0), bits(0.0)},
      {bits(got[1]), bits(got[2]), bits(got[3]), bits(got[4]), bits(got[5])})
  end)
end)
