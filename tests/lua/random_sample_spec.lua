-- random_sample_spec.lua: the samplers normal, uniform_, normal_,
-- bernoulli and multinomial, checked statistically with fixed seeds.
--
-- Moments: from N samples the sample mean must lie within 5 standard
-- errors (sigma / sqrt(N)) of the true mean and the sample variance within
-- 5 standard errors (sigma^2 sqrt(2 / (N - 1)), the normal-theory value;
-- for uniform and Bernoulli samples, whose kurtosis is lower, that bound
-- is looser still). Counts: Pearson's chi-square statistic must stay below
-- its 0.001 critical value. The seeds are fixed, so each check either
-- always passes or always fails; with a correct sampler the chance that a
-- seed was unlucky is below 1e-3 per check.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

-- 0.001 critical values of the chi-square distribution by degrees of freedom
local CHI2_CRITICAL = {[1] = 10.828, [4] = 18.467, [8] = 26.124, [19] = 43.820}

-- Asserts the sample mean and variance of the values of t.
local function assert_moments(t, mean, var, label)
  local x = t:double():reshape(-1)
  local n = x:numel()
  local m, v = x:mean():item(), x:var():item()
  local mean_bound = 5 * math.sqrt(var / n)
  local var_bound = 5 * var * math.sqrt(2 / (n - 1))
  assert.is_true(math.abs(m - mean) <= mean_bound, string.format(
    "%s: sample mean %.6g, expected %.6g within %.3g", label, m, mean, mean_bound))
  assert.is_true(math.abs(v - var) <= var_bound, string.format(
    "%s: sample variance %.6g, expected %.6g within %.3g", label, v, var, var_bound))
end

-- Pearson's statistic of observed counts against expected counts.
local function chi_square(observed, expected)
  local stat = 0
  for k, e in pairs(expected) do
    local o = observed[k] or 0
    stat = stat + (o - e) ^ 2 / e
  end
  for k, o in pairs(observed) do
    assert.is_not_nil(expected[k], "a sample fell in a cell of zero probability: " .. tostring(k))
    assert(o >= 0)
  end
  return stat
end

local function assert_chi_square(observed, expected, df, label)
  local stat = chi_square(observed, expected)
  assert.is_true(stat < CHI2_CRITICAL[df], string.format(
    "%s: chi-square %.3f with %d degrees of freedom, 0.001 critical value %.3f",
    label, stat, df, CHI2_CRITICAL[df]))
end

-- Counts of the values of an integer tensor.
local function counts(t)
  local c = {}
  for _, v in ipairs(H.values(t)) do c[v] = (c[v] or 0) + 1 end
  return c
end

local N = 200000

describe("normal", function()
  it("numbers and a size: moments of N(2, 3^2), float32 by default", function()
    lg.manual_seed(1)
    local x = lg.normal(2, 3, N)
    assert.are.same({N}, H.shape(x))
    assert.are.equal("float32", x.dtype)
    assert_moments(x, 2, 9, "normal(2, 3)")
  end)
  it("numbers with a size table and options", function()
    lg.manual_seed(2)
    local x = lg.normal(-1, 0.5, {400, 500}, {dtype = "float64", requires_grad = true})
    assert.are.same({400, 500}, H.shape(x))
    assert.are.equal("float64", x.dtype)
    assert.is_true(x.requires_grad)
    assert_moments(x, -1, 0.25, "normal(-1, 0.5)")
  end)
  it("tensor mean and std broadcast, each column its own distribution", function()
    lg.manual_seed(3)
    local mean = lg.tensor({{-2.0, 0.0, 3.0}}):expand(N // 3, 3)
    local std = lg.tensor({0.5, 1.0, 2.0})
    local x = lg.normal(mean, std)
    assert.are.same({N // 3, 3}, H.shape(x))
    local means, stds = {-2, 0, 3}, {0.5, 1, 2}
    for c = 1, 3 do
      assert_moments(x:select(2, c), means[c], stds[c] ^ 2, "column " .. c)
    end
  end)
  it("tensor mean with a number std (default 1), and a number mean with a tensor std", function()
    lg.manual_seed(4)
    local mean = lg.full({N}, 5.0, {dtype = "float64"})
    local a = lg.normal(mean)
    assert.are.equal("float64", a.dtype)
    assert_moments(a, 5, 1, "normal(mean)")
    assert_moments(lg.normal(mean, 0.25), 5, 0.0625, "normal(mean, 0.25)")
    local b = lg.normal(-3, lg.full({N}, 2.0))
    assert.are.equal("float32", b.dtype)
    assert_moments(b, -3, 4, "normal(-3, std)")
  end)
  it("the result has mean's dtype and takes no part in autograd", function()
    local mean = lg.zeros(3, {requires_grad = true})
    local x = lg.normal(mean, lg.ones(3, {dtype = "float64"}))
    assert.are.equal("float32", x.dtype)
    assert.is_false(x.requires_grad)
    assert.are.equal("float64", lg.normal(lg.zeros(2, {dtype = "float64"}), lg.ones(2)).dtype)
  end)
  it("std 0 gives the mean exactly; std inf gives infinities", function()
    H.assert_tensor(lg.normal(lg.tensor({1.5, -2.0}), 0), {2}, "float32", {1.5, -2.0})
    for _, v in ipairs(H.values(lg.normal(lg.zeros(4), math.huge))) do
      assert.are.equal(math.huge, math.abs(v))
    end
  end)
end)

describe("uniform_ and normal_", function()
  for _, dtype in ipairs({"float32", "float64"}) do
    it("uniform_(from, to) " .. dtype .. ": moments and range [from, to)", function()
      lg.manual_seed(5)
      local t = lg.zeros(N, {dtype = dtype})
      assert.are.equal(t, t:uniform_(-1, 3))
      assert_moments(t, 1, 16 / 12, "uniform_(-1, 3)")
      assert.is_true(t:min():item() >= -1 and t:max():item() < 3)
    end)
    it("normal_(mean, std) " .. dtype .. ": moments", function()
      lg.manual_seed(6)
      local t = lg.zeros(N, {dtype = dtype})
      assert.are.equal(t, t:normal_(4, 0.5))
      assert_moments(t, 4, 0.25, "normal_(4, 0.5)")
    end)
  end
  it("defaults are uniform on [0, 1) and the standard normal; options tables work", function()
    lg.manual_seed(7)
    local u = lg.zeros(N):uniform_()
    assert_moments(u, 0.5, 1 / 12, "uniform_()")
    assert_moments(lg.zeros(N):normal_(), 0, 1, "normal_()")
    assert_moments(lg.zeros(N):uniform_({to = 4}), 2, 16 / 12, "uniform_({to = 4})")
    assert_moments(lg.zeros(N):normal_({std = 3}), 0, 9, "normal_({std = 3})")
  end)
  it("uniform_ keeps float32 values below to, also where rounding would reach it", function()
    lg.manual_seed(8)
    local t = lg.zeros(N):uniform_(1, 1 + 2 ^ -22)
    assert.is_true(t:max():item() < 1 + 2 ^ -22)
    H.assert_tensor(lg.zeros(2):uniform_(3, 3), {2}, "float32", {3, 3})
  end)
  it("fills views and non-contiguous tensors in place", function()
    local t = lg.zeros(4, 6)
    t:t():narrow(1, 2, 3):uniform_(10, 11)
    local v = t:tolist()
    for r = 1, 4 do
      for c = 1, 6 do
        local inside = c >= 2 and c <= 4
        assert.is_true(inside == (v[r][c] >= 10), ("element (%d,%d) = %g"):format(r, c, v[r][c]))
      end
    end
  end)
  it("a leaf that requires grad is filled under no_grad, as nn.init does", function()
    local w = lg.zeros(5, {requires_grad = true})
    H.assert_error_names("uniform_", w.uniform_, w)
    H.assert_error_names("normal_", w.normal_, w)
    lg.no_grad(function() w:normal_(1, 0) end)
    H.assert_tensor(w, {5}, "float32", {1, 1, 1, 1, 1})
    assert.is_true(w.requires_grad and w.is_leaf)
  end)
  it("a tensor inside the graph gets a zero gradient behind the new values", function()
    local x = lg.ones(3, {requires_grad = true})
    local y = x * 2
    y:uniform_()
    local z = y * 3
    z:sum():backward()
    H.assert_tensor(x.grad, {3}, "float32", {0, 0, 0})
  end)
end)

describe("bernoulli", function()
  it("each column's frequency of ones matches its probability; values are 0 and 1", function()
    lg.manual_seed(9)
    local probs = {0.0, 0.1, 0.5, 0.9, 1.0}
    local p = lg.tensor({probs}):expand(N // 5, 5)
    local x = lg.bernoulli(p)
    assert.are.equal("float32", x.dtype)
    assert.are.same({N // 5, 5}, H.shape(x))
    assert.is_true(x:eq(0):logical_not():eq(x:eq(1)):all():item())
    for c, q in ipairs(probs) do
      local col = x:select(2, c)
      if q == 0 or q == 1 then
        assert.are.equal(q, col:min():item())
        assert.are.equal(q, col:max():item())
      else
        assert_moments(col, q, q * (1 - q), "bernoulli(" .. q .. ")")
      end
    end
  end)
  it("t:bernoulli(p) keeps t's shape and dtype; t:bernoulli() reads t as probabilities", function()
    lg.manual_seed(10)
    local x = lg.zeros(N, {dtype = "int64"}):bernoulli(0.3)
    assert.are.equal("int64", x.dtype)
    assert_moments(x, 0.3, 0.21, "int64 bernoulli(0.3)")
    local y = lg.full({N}, 0.75, {dtype = "float64"}):bernoulli()
    assert.are.equal("float64", y.dtype)
    assert_moments(y, 0.75, 0.1875, "bernoulli of 0.75")
    assert_moments(lg.bernoulli(lg.zeros(N), {p = 0.6}), 0.6, 0.24, "bernoulli(t, {p = 0.6})")
  end)
end)

describe("multinomial", function()
  local W = {1.0, 2.0, 3.0, 4.0, 0.0, 10.0}
  local TOTAL = 20

  it("with replacement: counts follow the (unnormalised) weights, 1-based, int64", function()
    lg.manual_seed(11)
    local x = lg.multinomial(lg.tensor(W), N, {replacement = true})
    assert.are.equal("int64", x.dtype)
    assert.are.same({N}, H.shape(x))
    local expected = {}
    for k, w in ipairs(W) do
      if w > 0 then expected[k] = N * w / TOTAL end
    end
    assert_chi_square(counts(x), expected, 4, "multinomial with replacement")
    assert.are.equal(1, x:min():item())
    assert.are.equal(6, x:max():item())
  end)
  it("without replacement: ordered pairs follow successive draws, never a repeat", function()
    lg.manual_seed(12)
    local rows = 60000
    local x = lg.multinomial(lg.tensor({W}):expand(rows, 6), 2)
    assert.are.same({rows, 2}, H.shape(x))
    local observed = {}
    for _, pair in ipairs(x:tolist()) do
      assert.are_not.equal(pair[1], pair[2])
      local key = pair[1] * 10 + pair[2]
      observed[key] = (observed[key] or 0) + 1
    end
    -- P(i then j) = w_i / S * w_j / (S - w_i)
    local expected, cells = {}, 0
    for i, wi in ipairs(W) do
      for j, wj in ipairs(W) do
        if i ~= j and wi > 0 and wj > 0 then
          expected[i * 10 + j] = rows * wi / TOTAL * wj / (TOTAL - wi)
          cells = cells + 1
        end
      end
    end
    assert.are.equal(20, cells)
    assert_chi_square(observed, expected, 19, "multinomial without replacement")
  end)
  it("one draw without replacement follows the weights", function()
    lg.manual_seed(16)
    local x = lg.multinomial(lg.tensor({W}):expand(N, 6), 1)
    assert.are.same({N, 1}, H.shape(x))
    local expected = {}
    for k, w in ipairs(W) do
      if w > 0 then expected[k] = N * w / TOTAL end
    end
    assert_chi_square(counts(x), expected, 4, "one draw without replacement")
  end)
  it("without replacement, all non-zero categories: each row a permutation of them", function()
    lg.manual_seed(13)
    local x = lg.multinomial(lg.tensor({W}):expand(1000, 6), 5)
    for _, row in ipairs(x:tolist()) do
      local seen = {}
      for _, v in ipairs(row) do
        assert.is_nil(seen[v], "repeated category " .. v)
        assert.are_not.equal(5, v) -- the category of weight 0
        seen[v] = true
      end
    end
  end)
  it("batched rows are sampled by their own weights and independently", function()
    lg.manual_seed(14)
    local rows = 30000
    local x = lg.multinomial(lg.ones(rows, 3), 1, true)
    assert.are.same({rows, 1}, H.shape(x))
    local v = H.values(x)
    local observed, expected = {}, {}
    for i = 1, rows, 2 do
      local key = v[i] * 10 + v[i + 1]
      observed[key] = (observed[key] or 0) + 1
    end
    for a = 1, 3 do
      for b = 1, 3 do expected[a * 10 + b] = rows / 2 / 9 end
    end
    assert_chi_square(observed, expected, 8, "pairs of neighbouring rows")
    local y = lg.multinomial(lg.tensor({{0.0, 0.0, 2.0}, {5.0, 0.0, 0.0}}), 4, true)
    assert.are.same({{3, 3, 3, 3}, {1, 1, 1, 1}}, y:tolist())
    local z = lg.tensor({{0.0, 0.0, 2.0}, {5.0, 0.0, 0.0}}):multinomial(1)
    assert.are.same({{3}, {1}}, z:tolist())
  end)
  it("float64 weights and a strided weight tensor", function()
    lg.manual_seed(15)
    -- rows {1, 0, 2} and {3, 0, 2}
    local w = lg.tensor({{1.0, 3.0}, {0.0, 0.0}, {2.0, 2.0}}, {dtype = "float64"}):t()
    local n = N // 2
    local x = lg.multinomial(w, n, true)
    assert_chi_square(counts(x:select(1, 1)), {[1] = n / 3, [3] = n * 2 / 3}, 1, "row 1")
    assert_chi_square(counts(x:select(1, 2)), {[1] = n * 3 / 5, [3] = n * 2 / 5}, 1, "row 2")
  end)
end)

describe("reproducibility with manual_seed", function()
  local function draw()
    return {
      H.values(lg.multinomial(lg.tensor({1.0, 2.0, 3.0}), 5, true)),
      H.values(lg.multinomial(lg.tensor({1.0, 2.0, 3.0, 4.0}), 3)),
      H.values(lg.bernoulli(lg.full({6}, 0.5))),
      H.values(lg.normal(lg.zeros(5), lg.ones(5))),
      H.values(lg.normal(0, 1, 5)),
      H.values(lg.zeros(5):uniform_(-2, 2)),
      H.values(lg.zeros(5):normal_()),
    }
  end
  it("the same seed gives the same samples; another seed others", function()
    lg.manual_seed(42)
    local a = draw()
    lg.manual_seed(42)
    assert.are.same(a, draw())
    lg.manual_seed(43)
    local c = draw()
    for i = 3, #a do assert.are_not.same(a[i], c[i]) end
  end)
  it("successive calls continue the stream instead of repeating it", function()
    lg.manual_seed(44)
    assert.are_not.same(H.values(lg.zeros(8):uniform_()), H.values(lg.zeros(8):uniform_()))
  end)
end)
