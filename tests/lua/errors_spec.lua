-- Wrong calls: every one must raise a Lua error (a string) whose message
-- names the function, must not crash the process, and must leave the
-- library working.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg

local function m23() return lg.tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}) end
local function v3() return lg.tensor({1.0, 2.0, 3.0}) end
local function idx(t) return lg.tensor(t, {dtype = "int64"}) end
-- t[k] = v: the message may call the operation indexing or assignment
local ASSIGN = {"index", "assign"}

-- {names the message must contain (one of), description, function}
local CASES = {
  -- creation
  {"zeros", "lg.zeros(-1)", function() return lg.zeros(-1) end},
  {"zeros", "lg.zeros(2, -3)", function() return lg.zeros(2, -3) end},
  {"zeros", "lg.zeros(1e12) (impossible size)", function() return lg.zeros(1e12) end},
  {"zeros", "lg.zeros(1e6, 1e6, 1e6) (size overflows)", function() return lg.zeros(1000000, 1000000, 1000000) end},
  {"zeros", "lg.zeros(2^62, 2^62) (size overflows int64)", function() return lg.zeros(1 << 62, 1 << 62) end},
  {"zeros", "lg.zeros(2.5)", function() return lg.zeros(2.5) end},
  {"zeros", "lg.zeros('a')", function() return lg.zeros("a") end},
  {"zeros", "lg.zeros({2, 'x'})", function() return lg.zeros({2, "x"}) end},
  {{"zeros", "float16"}, "lg.zeros(2, {dtype = 'float16'})", function() return lg.zeros(2, {dtype = "float16"}) end},
  {{"zeros", "dtype"}, "lg.zeros(2, {dtype = 3})", function() return lg.zeros(2, {dtype = 3}) end},
  {"ones", "lg.ones(-2)", function() return lg.ones(-2) end},
  {"ones", "lg.ones(1e12)", function() return lg.ones(1e12) end},
  {"empty", "lg.empty(-1)", function() return lg.empty(-1) end},
  {"empty", "lg.empty(1e12)", function() return lg.empty(1e12) end},
  {"full", "lg.full({2}, 'x')", function() return lg.full({2}, "x") end},
  {"full", "lg.full({-2}, 1)", function() return lg.full({-2}, 1) end},
  {"full", "lg.full(nil, 1)", function() return lg.full(nil, 1) end},
  {"rand", "lg.rand(-1)", function() return lg.rand(-1) end},
  {"rand", "lg.rand(1e12)", function() return lg.rand(1e12) end},
  {"randn", "lg.randn(-5)", function() return lg.randn(-5) end},
  {{"rand", "int"}, "lg.rand(2, {dtype = 'int64'})", function() return lg.rand(2, {dtype = "int64"}) end},
  {"randint", "lg.randint(5, 1, {3}) (low >= high)", function() return lg.randint(5, 1, {3}) end},
  {"randint", "lg.randint(0, 5, {-1})", function() return lg.randint(0, 5, {-1}) end},
  {"randint", "lg.randint('a', 5, {2})", function() return lg.randint("a", 5, {2}) end},
  {"randperm", "lg.randperm(-1)", function() return lg.randperm(-1) end},
  {"randperm", "lg.randperm('x')", function() return lg.randperm("x") end},
  {"randperm", "lg.randperm(1e12)", function() return lg.randperm(1e12) end},
  {"arange", "lg.arange(0, 10, 0) (zero step)", function() return lg.arange(0, 10, 0) end},
  {"arange", "lg.arange(0, 10, -1) (wrong sign)", function() return lg.arange(0, 10, -1) end},
  {"arange", "lg.arange('a')", function() return lg.arange("a") end},
  {"arange", "lg.arange(0, 1e13)", function() return lg.arange(0, 1e13) end},
  {"linspace", "lg.linspace(0, 1, -1)", function() return lg.linspace(0, 1, -1) end},
  {"linspace", "lg.linspace(0, 'b', 3)", function() return lg.linspace(0, "b", 3) end},
  {"eye", "lg.eye(-1)", function() return lg.eye(-1) end},
  {"eye", "lg.eye('n')", function() return lg.eye("n") end},
  {"tensor", "lg.tensor('abc')", function() return lg.tensor("abc") end},
  {"tensor", "lg.tensor({1, {2}}) (ragged)", function() return lg.tensor({1, {2}}) end},
  {"tensor", "lg.tensor({{1, 2}, {3}}) (ragged)", function() return lg.tensor({{1, 2}, {3}}) end},
  {"tensor", "lg.tensor({1, 'a'})", function() return lg.tensor({1, "a"}) end},
  {"tensor", "lg.tensor(nil)", function() return lg.tensor(nil) end},
  {{"tensor", "float16"}, "lg.tensor({1}, {dtype = 'float16'})", function() return lg.tensor({1}, {dtype = "float16"}) end},
  {"zeros_like", "lg.zeros_like(nil)", function() return lg.zeros_like(nil) end},
  {"ones_like", "lg.ones_like(3)", function() return lg.ones_like(3) end},
  {"rand_like", "lg.rand_like('x')", function() return lg.rand_like("x") end},
  {"full_like", "lg.full_like(nil, 1)", function() return lg.full_like(nil, 1) end},
  {"manual_seed", "lg.manual_seed('x')", function() return lg.manual_seed("x") end},
  {"manual_seed", "lg.manual_seed(nil)", function() return lg.manual_seed(nil) end},

  -- inspect
  {"size", "t:size(0)", function() return m23():size(0) end},
  {"size", "t:size(3) on 2-D", function() return m23():size(3) end},
  {"size", "t:size(-3) on 2-D", function() return m23():size(-3) end},
  {"item", "t:item() on 6 elements", function() return m23():item() end},
  {"item", "t.item(nil)", function() return m23().item(nil) end},

  -- arithmetic
  {"add", "{2,3} + {4}", function() return m23() + lg.ones(4) end},
  {"add", "t + 'x'", function() return m23() + "x" end},
  {"add", "t + {}", function() return m23() + {} end},
  {"add", "t + nil", function() return m23() + nil end},
  {"add", "nil + t", function() return nil + m23() end},
  {"add", "t:add(nil)", function() return m23():add(nil) end},
  {"sub", "{2,3} - {2}", function() return m23() - lg.ones(2) end},
  {"sub", "t - print (a function)", function() return m23() - print end},
  {"mul", "{2,3} * {3,2}", function() return m23() * lg.ones(3, 2) end},
  {"div", "{2,3} / {5}", function() return m23() / lg.ones(5) end},
  {{"remainder", "mod", "fmod"}, "{2,3} % {4}", function() return m23() % lg.ones(4) end},
  {"pow", "{2,3} ^ {4}", function() return m23() ^ lg.ones(4) end},
  {"pow", "t:pow('x')", function() return m23():pow("x") end},
  {"maximum", "maximum({2,3}, {4})", function() return m23():maximum(lg.ones(4)) end},
  {"minimum", "minimum(t, nil)", function() return m23():minimum(nil) end},
  {"eq", "eq({2,3}, {4})", function() return m23():eq(lg.ones(4)) end},
  {"lt", "lt(t, 'x')", function() return m23():lt("x") end},
  {"ge", "ge(t, nil)", function() return m23():ge(nil) end},
  {"clamp", "t:clamp('a')", function() return m23():clamp("a") end},
  {"exp", "t.exp(5) (self is a number)", function() return m23().exp(5) end},
  {"sum", "t.sum('x') (self is a string)", function() return m23().sum("x") end},
  {"neg", "t.neg(nil)", function() return m23().neg(nil) end},

  -- in place
  {"add", "{3}:add_({2,3}) (result would not fit)", function() return v3():add_(m23()) end},
  {"add", "int64:add_(2.5) (float into int)", function() return idx({1, 2}):add_(2.5) end},
  {"mul", "t:mul_({4})", function() return m23():mul_(lg.ones(4)) end},
  {"copy", "t:copy_({4})", function() return m23():copy_(lg.ones(4)) end},
  {"fill", "t:fill_('x')", function() return m23():fill_("x") end},
  {"exp", "int64:exp_()", function() return idx({1, 2}):exp_() end},

  -- reductions
  {"sum", "t:sum(0)", function() return m23():sum(0) end},
  {"sum", "t:sum(3) on 2-D", function() return m23():sum(3) end},
  {"sum", "t:sum(-3) on 2-D", function() return m23():sum(-3) end},
  {"sum", "t:sum({1, 1}) (repeated dim)", function() return m23():sum({1, 1}) end},
  {"sum", "t:sum('x')", function() return m23():sum("x") end},
  {"mean", "t:mean(5)", function() return m23():mean(5) end},
  {"prod", "t:prod(0)", function() return m23():prod(0) end},
  {"max", "t:max(3)", function() return m23():max(3) end},
  {"min", "t:min(0)", function() return m23():min(0) end},
  {"argmax", "t:argmax(4)", function() return m23():argmax(4) end},
  {"argmin", "t:argmin(0)", function() return m23():argmin(0) end},
  {"var", "t:var(3)", function() return m23():var(3) end},
  {"std", "t:std(0)", function() return m23():std(0) end},
  {"logsumexp", "t:logsumexp(3)", function() return m23():logsumexp(3) end},
  {"norm", "t:norm(2, 5)", function() return m23():norm(2, 5) end},
  {"all", "t:all(3)", function() return m23():gt(0):all(3) end},
  {"any", "t:any(0)", function() return m23():gt(0):any(0) end},
  {"cumsum", "t:cumsum(0)", function() return m23():cumsum(0) end},
  {"cumsum", "t:cumsum(3)", function() return m23():cumsum(3) end},
  {"max", "max of an empty tensor", function() return lg.zeros(0):max() end},

  -- shape
  {"view", "view(4) of 6 elements", function() return m23():view(4) end},
  {"view", "view(-1, -1)", function() return m23():view(-1, -1) end},
  {"view", "view(-2, 3)", function() return m23():view(-2, 3) end},
  {"view", "view of a transposed tensor that needs a copy", function() return m23():t():view(6) end},
  {"view", "view('a')", function() return m23():view("a") end},
  {"reshape", "reshape(4, 2)", function() return m23():reshape(4, 2) end},
  {"transpose", "transpose(1, 3) on 2-D", function() return m23():transpose(1, 3) end},
  {"transpose", "transpose(0, 1)", function() return m23():transpose(0, 1) end},
  {"t", "t() on 3-D", function() return lg.zeros(2, 2, 2):t() end},
  {"permute", "permute(1, 1)", function() return m23():permute(1, 1) end},
  {"permute", "permute(1) on 2-D", function() return m23():permute(1) end},
  {"permute", "permute(1, 3) on 2-D", function() return m23():permute(1, 3) end},
  {"squeeze", "squeeze(3) on 2-D", function() return m23():squeeze(3) end},
  {"squeeze", "squeeze(0)", function() return m23():squeeze(0) end},
  {"unsqueeze", "unsqueeze(4) on 2-D", function() return m23():unsqueeze(4) end},
  {"unsqueeze", "unsqueeze(0)", function() return m23():unsqueeze(0) end},
  {"unsqueeze", "unsqueeze(-4) on 2-D", function() return m23():unsqueeze(-4) end},
  {"expand", "expand {3} to {4}", function() return v3():expand(4) end},
  {"expand", "expand {2,3} to {3}", function() return m23():expand(3) end},
  {"expand", "expand(-2, 3)", function() return lg.zeros(1, 3):expand(-2, 3) end},
  {"expand_as", "expand_as(nil)", function() return v3():expand_as(nil) end},
  {{"expand_as", "expand"}, "expand_as({2,4})", function() return v3():expand_as(lg.zeros(2, 4)) end},
  {"flatten", "flatten(3) on 2-D", function() return m23():flatten(3) end},
  {"flatten", "flatten(2, 1)", function() return m23():flatten(2, 1) end},
  {"cat", "cat of {2,3} and {2,2} along 1", function() return lg.cat({m23(), lg.zeros(2, 2)}, 1) end},
  {"cat", "cat of 2-D and 1-D", function() return lg.cat({m23(), v3()}, 1) end},
  {"cat", "cat({}, 1)", function() return lg.cat({}, 1) end},
  {"cat", "cat(nil, 1)", function() return lg.cat(nil, 1) end},
  {"cat", "cat({t, 5}, 1)", function() return lg.cat({m23(), 5}, 1) end},
  {"cat", "cat({t, t}, 3) on 2-D", function() return lg.cat({m23(), m23()}, 3) end},
  {"cat", "cat({t, t}, 0)", function() return lg.cat({m23(), m23()}, 0) end},
  {"stack", "stack of {2,3} and {3}", function() return lg.stack({m23(), v3()}, 1) end},
  {"stack", "stack({t, t}, 4) on 2-D", function() return lg.stack({m23(), m23()}, 4) end},
  {"stack", "stack({}, 1)", function() return lg.stack({}, 1) end},
  {"split", "split(0)", function() return m23():split(0) end},
  {"split", "split(1, 3) on 2-D", function() return m23():split(1, 3) end},
  {"split", "split({1, 1}, 1) (sections do not add up)", function() return lg.zeros(3, 2):split({1, 1}, 1) end},
  {"chunk", "chunk(0)", function() return m23():chunk(0) end},
  {"chunk", "chunk(2, 0)", function() return m23():chunk(2, 0) end},
  {"unbind", "unbind(3) on 2-D", function() return m23():unbind(3) end},
  {"unbind", "unbind of a 0-d tensor", function() return lg.tensor(1):unbind() end},
  {"lstm_cell", "_lstm_cell with a state of the wrong width",
   function() return lg._lstm_cell(lg.zeros(2, 8), lg.zeros(2, 8), lg.zeros(2, 3)) end},
  {"gru_cell", "_gru_cell with int64 gates",
   function() return lg._gru_cell(lg.zeros({2, 6}, {dtype = "int64"}), lg.zeros(2, 6), lg.zeros(2, 2)) end},
  {"flip", "flip(3) on 2-D", function() return m23():flip(3) end},
  {"flip", "flip({1, 1})", function() return m23():flip({1, 1}) end},
  {"tile", "tile(-1, 2)", function() return m23():tile(-1, 2) end},
  {"tile", "tile('x')", function() return m23():tile("x") end},
  {"narrow", "narrow(1, 2, 5)", function() return m23():narrow(1, 2, 5) end},
  {"narrow", "narrow(1, 0, 1)", function() return m23():narrow(1, 0, 1) end},
  {"narrow", "narrow(3, 1, 1)", function() return m23():narrow(3, 1, 1) end},
  {"narrow", "narrow(1, 1, -1)", function() return m23():narrow(1, 1, -1) end},
  {"select", "select(1, 0)", function() return m23():select(1, 0) end},
  {"select", "select(1, 3)", function() return m23():select(1, 3) end},
  {"select", "select(1, -3)", function() return m23():select(1, -3) end},
  {"select", "select(3, 1)", function() return m23():select(3, 1) end},
  {"contiguous", "t.contiguous(nil)", function() return m23().contiguous(nil) end},
  {"clone", "t.clone(4)", function() return m23().clone(4) end},

  -- indexing
  {"index", "t[0]", function() return m23()[0] end},
  {"index", "t[3] on 2 rows", function() return m23()[3] end},
  {"index", "t[-3] on 2 rows", function() return m23()[-3] end},
  {"index", "t[4] on 1-D of 3", function() return v3()[4] end},
  {"index", "t[1.5]", function() return v3()[1.5] end},
  {"index", "t[{1, 4}] on 2-D", function() return m23()[{1, 4}] end},
  {"index", "t[{1, {2, 5}}] (range out of bounds)", function() return m23()[{1, {2, 5}}] end},
  {"index", "t[{1, {0, 1}}]", function() return m23()[{1, {0, 1}}] end},
  {"index", "t[{1, 1, 1}] (too many dims)", function() return m23()[{1, 1, 1}] end},
  {"index", "t[{'a'}]", function() return m23()[{"a"}] end},
  {ASSIGN, "t[0] = 1", function() local t = m23(); t[0] = 1 end},
  {ASSIGN, "t[3] = 1 on 2 rows", function() local t = m23(); t[3] = 1 end},
  {ASSIGN, "t[1] = {4} (does not broadcast)", function() local t = m23(); t[1] = lg.ones(4) end},
  {ASSIGN, "t[1] = 'x'", function() local t = m23(); t[1] = "x" end},
  {ASSIGN, "t[{{}, 5}] = 0", function() local t = m23(); t[{{}, 5}] = 0 end},
  {"index_select", "index_select(1, {3}) (out of range)", function() return m23():index_select(1, idx({3})) end},
  {"index_select", "index_select(1, {0})", function() return m23():index_select(1, idx({0})) end},
  {"index_select", "index_select(3, {1})", function() return m23():index_select(3, idx({1})) end},
  {"index_select", "index_select with a float index", function() return m23():index_select(1, lg.tensor({1.0})) end},
  {"index_select", "index_select(1, nil)", function() return m23():index_select(1, nil) end},
  {"gather", "gather(2, {{4}}) (out of range)", function() return m23():gather(2, idx({{4}, {1}})) end},
  {"gather", "gather(2, {{0}})", function() return m23():gather(2, idx({{0}, {1}})) end},
  {"gather", "gather(3, ...)", function() return m23():gather(3, idx({{1}, {1}})) end},
  {"gather", "gather with a 1-D index on 2-D", function() return m23():gather(2, idx({1, 1})) end},
  {"scatter", "scatter(2, {{4}}, src) (out of range)", function()
    return m23():scatter(2, idx({{4}, {1}}), lg.ones(2, 1)) end},
  {"scatter", "scatter(2, {{0}}, src)", function() return m23():scatter(2, idx({{0}, {1}}), lg.ones(2, 1)) end},
  {"scatter", "scatter with a float index", function() return m23():scatter(2, lg.ones(2, 1), lg.ones(2, 1)) end},
  {"scatter", "scatter(2, idx, nil)", function() return m23():scatter(2, idx({{1}, {1}}), nil) end},
  {"scatter_add", "scatter_add(2, {{7}}, src)", function()
    return m23():scatter_add(2, idx({{7}, {1}}), lg.ones(2, 1)) end},
  {"scatter_add", "scatter_add(0, ...)", function() return m23():scatter_add(0, idx({{1}, {1}}), lg.ones(2, 1)) end},
  {"masked_fill", "masked_fill with a float mask", function() return m23():masked_fill(lg.ones(2, 3), 0) end},
  {"masked_fill", "masked_fill with a {4} mask", function()
    return m23():masked_fill(lg.ones(4, {dtype = "bool"}), 0) end},
  {"masked_fill", "masked_fill(mask, 'x')", function() return m23():masked_fill(m23():gt(2), "x") end},
  {"masked_fill", "masked_fill(nil, 0)", function() return m23():masked_fill(nil, 0) end},
  {"masked_select", "masked_select with a {2} mask", function()
    return m23():masked_select(lg.ones(2, {dtype = "bool"})) end},
  {"masked_select", "masked_select(nil)", function() return m23():masked_select(nil) end},
  {"where", "where(nil, a, b)", function() return lg.where(nil, m23(), m23()) end},
  {"where", "where with non-broadcastable shapes", function()
    return lg.where(m23():gt(1), lg.ones(4), m23()) end},
  {"where", "where(c, 'x', b)", function() return lg.where(m23():gt(1), "x", m23()) end},

  -- linear algebra
  {"matmul", "matmul {2,3} x {4,5}", function() return lg.matmul(m23(), lg.ones(4, 5)) end},
  {"matmul", "matmul {3} x {4}", function() return lg.matmul(v3(), lg.ones(4)) end},
  {"matmul", "matmul(nil, t)", function() return lg.matmul(nil, m23()) end},
  {"matmul", "matmul of 0-d tensors", function() return lg.matmul(lg.tensor(1.0), lg.tensor(2.0)) end},
  {"matmul", "batched matmul with non-broadcastable batch", function()
    return lg.matmul(lg.ones(2, 3, 4), lg.ones(3, 4, 5)) end},
  {"matmul", "t:matmul('x')", function() return m23():matmul("x") end},
  {"mm", "mm {2,3} x {2,3}", function() return m23():mm(m23()) end},
  {"mm", "mm with a 1-D operand", function() return m23():mm(v3()) end},
  {"bmm", "bmm of 2-D tensors", function() return m23():bmm(m23():t()) end},
  {"bmm", "bmm with different batch sizes", function() return lg.ones(2, 2, 3):bmm(lg.ones(3, 3, 2)) end},
  {"mv", "mv {2,3} x {2}", function() return m23():mv(lg.ones(2)) end},
  {"mv", "mv with a 2-D vector", function() return m23():mv(m23()) end},
  {"dot", "dot of lengths 3 and 4", function() return v3():dot(lg.ones(4)) end},
  {"dot", "dot of 2-D tensors", function() return m23():dot(m23()) end},
  {"dot", "dot of float32 and float64", function() return v3():dot(lg.ones(3, {dtype = "float64"})) end},
  {"outer", "outer of 2-D", function() return m23():outer(v3()) end},
  {"addmm", "addmm with a wrong bias", function() return lg.addmm(lg.ones(4), m23(), m23():t()) end},
  {"addmm", "addmm with wrong inner dims", function() return lg.addmm(lg.ones(2, 2), m23(), m23()) end},

  -- conversions
  {{"to", "float16"}, "t:to('float16')", function() return m23():to("float16") end},
  {"to", "t:to(nil)", function() return m23():to(nil) end},
  {"to", "t:to(5)", function() return m23():to(5) end},
  {"float", "t.float(nil)", function() return m23().float(nil) end},
  {"long", "t.long('x')", function() return m23().long("x") end},

  -- samplers and floating-point checks (issue 12)
  {"multinomial", "multinomial of negative weights", function() return lg.multinomial(lg.tensor({1.0, -1.0}), 1) end},
  {"multinomial", "multinomial of an infinite weight", function() return lg.multinomial(lg.tensor({1.0, 1 / 0}), 1) end},
  {"multinomial", "multinomial of a nan weight", function() return lg.multinomial(lg.tensor({0 / 0, 1.0}), 1, true) end},
  {"multinomial", "multinomial of an all-zero row", function()
    return lg.multinomial(lg.tensor({{1.0, 0.0}, {0.0, 0.0}}), 1, true) end},
  {"multinomial", "multinomial without replacement past the non-zero categories", function()
    return lg.multinomial(lg.tensor({1.0, 0.0, 2.0}), 3) end},
  {"multinomial", "multinomial of no categories", function() return lg.multinomial(lg.zeros(2, 0), 1) end},
  {"multinomial", "multinomial of 0 samples", function() return lg.multinomial(v3(), 0) end},
  {"multinomial", "multinomial of 1.5 samples", function() return lg.multinomial(v3(), 1.5) end},
  {"multinomial", "multinomial of 3-D weights", function() return lg.multinomial(lg.ones(2, 2, 2), 1) end},
  {"multinomial", "multinomial of 0-d weights", function() return lg.multinomial(lg.tensor(1.0), 1) end},
  {"multinomial", "multinomial of int64 weights", function() return lg.multinomial(idx({1, 2}), 1) end},
  {"multinomial", "multinomial with replacement = 'yes'", function()
    return lg.multinomial(v3(), 1, {replacement = "yes"}) end},
  {"multinomial", "multinomial with an unknown option", function() return lg.multinomial(v3(), 1, {replace = true}) end},
  {"multinomial", "multinomial of a number", function() return lg.multinomial(3, 1) end},
  {"bernoulli", "bernoulli of a probability above 1", function() return lg.bernoulli(lg.tensor({0.5, 1.5})) end},
  {"bernoulli", "bernoulli of a nan probability", function() return lg.bernoulli(lg.tensor({0 / 0})) end},
  {"bernoulli", "bernoulli of int64 probabilities", function() return lg.bernoulli(idx({1, 0})) end},
  {"bernoulli", "t:bernoulli(-0.1)", function() return v3():bernoulli(-0.1) end},
  {"bernoulli", "t:bernoulli('a')", function() return v3():bernoulli("a") end},
  {"bernoulli", "lg.bernoulli(0.5)", function() return lg.bernoulli(0.5) end},
  {"normal", "normal with a negative std", function() return lg.normal(0, -1, 3) end},
  {"normal", "normal with a nan std", function() return lg.normal(v3(), 0 / 0) end},
  {"normal", "normal with a negative std element", function() return lg.normal(v3(), lg.tensor({1.0, -1.0, 1.0})) end},
  {"normal", "normal with an int64 mean", function() return lg.normal(idx({1, 2}), 1.0) end},
  {"normal", "normal of non-broadcastable mean and std", function() return lg.normal(v3(), lg.ones(2)) end},
  {"normal", "normal of numbers without a size", function() return lg.normal(0, 1) end},
  {"normal", "normal of numbers with an int64 dtype", function() return lg.normal(0, 1, 3, {dtype = "int64"}) end},
  {"normal", "normal with a size after tensors", function() return lg.normal(v3(), 1, 3) end},
  {"normal", "normal('a', 1)", function() return lg.normal("a", 1, 3) end},
  {"normal", "normal(0, 'a')", function() return lg.normal(0, "a", 3) end},
  {"uniform_", "uniform_(2, 1) (from > to)", function() return v3():uniform_(2, 1) end},
  {"uniform_", "uniform_(0, inf)", function() return v3():uniform_(0, 1 / 0) end},
  {"uniform_", "uniform_ of an int64 tensor", function() return idx({1, 2}):uniform_() end},
  {"uniform_", "uniform_ of a leaf that requires grad", function()
    return lg.zeros(2, {requires_grad = true}):uniform_() end},
  {"uniform_", "uniform_('a')", function() return v3():uniform_("a") end},
  {"normal_", "normal_(0, -1)", function() return v3():normal_(0, -1) end},
  {"normal_", "normal_ of a bool tensor", function() return lg.ones(2, {dtype = "bool"}):normal_() end},
  {"normal_", "normal_ with an unknown option", function() return v3():normal_({sd = 1}) end},
  {"isnan", "lg.isnan(1)", function() return lg.isnan(1) end},
  {"isfinite", "lg.isfinite({})", function() return lg.isfinite({}) end},
  {"nan_to_num", "nan_to_num with a string nan", function() return v3():nan_to_num({nan = "0"}) end},
  {"nan_to_num", "nan_to_num('a')", function() return v3():nan_to_num("a") end},
  {"nan_to_num", "nan_to_num with an unknown option", function() return v3():nan_to_num({posinfinity = 1}) end},
  {"nan_to_num", "nan_to_num with out = 3", function() return v3():nan_to_num({out = 3}) end},
  {"nan_to_num", "nan_to_num into an out of another shape", function()
    return v3():nan_to_num({out = lg.zeros(2)}) end},
  {"nan_to_num_", "nan_to_num_ of a leaf that requires grad", function()
    return lg.ones(2, {requires_grad = true}):nan_to_num_() end},
  {"isclose", "isclose of float32 and int64", function() return lg.isclose(v3(), idx({1, 2, 3})) end},
  {"isclose", "isclose with a number", function() return v3():isclose(1.0) end},
  {"isclose", "isclose with rtol -1", function() return v3():isclose(v3(), {rtol = -1}) end},
  {"isclose", "isclose of shapes {3} and {2}", function() return v3():isclose(lg.ones(2)) end},
  {"isclose", "isclose with atol nan", function() return v3():isclose(v3(), {atol = 0 / 0}) end},
  {"isclose", "isclose with equal_nan = 1", function() return v3():isclose(v3(), {equal_nan = 1}) end},
  {"allclose", "allclose of shapes {3} and {2}", function() return v3():allclose(lg.ones(2)) end},
  {"allclose", "allclose with an unknown option", function() return v3():allclose(v3(), {tol = 1}) end},
  {"allclose", "allclose of float32 and float64", function() return v3():allclose(v3():double()) end},
  {"allclose", "allclose with atol 'x'", function() return v3():allclose(v3(), {atol = "x"}) end},
}

describe("wrong calls raise errors that name the function", function()
  for _, case in ipairs(CASES) do
    local names, what, fn = case[1], case[2], case[3]
    it(what, function()
      H.assert_error_names(names, fn)
    end)
  end
end)

describe("no wrong call crashes or corrupts state", function()
  it("the library works after every wrong call above", function()
    for _, case in ipairs(CASES) do pcall(case[3]) end
    collectgarbage()
    collectgarbage()
    local a = lg.tensor({{1.0, 2.0}, {3.0, 4.0}})
    local b = (a + 1):matmul(a:t()):sum(2)
    H.assert_tensor(b, {2}, "float32", {26, 46})
    assert.are.equal(10, a:sum():item())
  end)
  it("an error inside an expression leaves the operands intact", function()
    local a = lg.tensor({1.0, 2.0, 3.0})
    assert.is_false(pcall(function() return a:add_(lg.ones(4)) end))
    H.assert_tensor(a, {3}, "float32", {1, 2, 3})
  end)
  it("a failed in-place op on an int tensor leaves it unchanged", function()
    local a = idx({1, 2})
    pcall(function() return a:add_(2.5) end)
    H.assert_tensor(a, {2}, "int64", {1, 2})
  end)
  it("too many dims is an error or works, never a crash", function()
    local ok, r = pcall(lg.zeros, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    if ok then
      assert.are.equal(10, r:dim())
    else
      assert.is_string(r)
    end
    assert.are.equal(4, lg.ones(4):sum():item())
  end)
  it("the random generator keeps working after failed random calls", function()
    pcall(lg.randint, 5, 1, {3})
    pcall(lg.rand, -1)
    lg.manual_seed(11)
    local a = H.values(lg.rand(4))
    lg.manual_seed(11)
    assert.are.same(a, H.values(lg.rand(4)))
  end)
  it("a metamethod on a non-tensor operand is not mistaken for a tensor", function()
    local ok, err = pcall(function() return {} + lg.ones(2) end)
    assert.is_false(ok)
    assert.is_string(err)
  end)
end)
