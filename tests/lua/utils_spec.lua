-- utils_spec.lua: lg.utils and the modules it reaches: duration and rate
-- formatting and the progress bar (luagrad.progress: one line per loop off a
-- terminal, redrawn line on one, running and mean metrics, rate and ETA with
-- an injected clock, closing on break) captured through its out option, and
-- svg_curves (luagrad.plot: well-formed XML, one marker per value, labels,
-- gaps, atomic write, errors).
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local utils = lg.utils

-- A sink collecting what the bar writes, and a clock the test advances.
local function capture()
  local sink = {text = ""}
  sink.out = function(s) sink.text = sink.text .. s end
  return sink
end

local function fake_clock()
  local clock = {now = 100}
  clock.fn = function() return clock.now end
  return clock
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

describe("formatting", function()
  it("formats durations", function()
    assert.are.equal("0:00", utils.format_duration(0))
    assert.are.equal("0:59", utils.format_duration(59.4))
    assert.are.equal("1:01", utils.format_duration(61))
    assert.are.equal("1:02:05", utils.format_duration(3725))
    assert.are.equal("?", utils.format_duration(nil))
    assert.are.equal("?", utils.format_duration(math.huge))
    assert.are.equal("?", utils.format_duration(0 / 0))
    assert.are.equal("?", utils.format_duration(-1))
  end)

  it("formats rates", function()
    assert.are.equal("5.0it/s", utils.format_rate(10, 2))
    assert.are.equal("500it/s", utils.format_rate(1000, 2))
    assert.are.equal("4.00s/it", utils.format_rate(1, 4))
    assert.are.equal("?it/s", utils.format_rate(0, 1))
    assert.are.equal("?it/s", utils.format_rate(3, 0))
    assert.are.equal("2.0batch/s", utils.format_rate(4, 2, "batch"))
  end)

  it("has a wall clock that moves forward", function()
    local a = utils.wall_time()
    local b = utils.wall_time()
    assert.are.equal("number", type(a))
    assert.is_true(b >= a)
  end)
end)

describe("progress", function()
  local loader
  before_each(function()
    local ds = lg.data.TensorDataset(lg.arange(1, 9):view(8, 1), lg.arange(1, 9))
    loader = lg.data.DataLoader(ds, {batch_size = 2})
  end)

  it("prints one line per loop off a terminal, with mean metrics", function()
    local sink, clock = capture(), fake_clock()
    local bar = utils.progress(loader, {desc = "epoch 1", tty = false, out = sink.out,
                                        clock = clock.fn})
    local batches = 0
    for x, y in bar() do
      batches = batches + 1
      assert.are.same({2, 1}, H.shape(x))
      clock.now = clock.now + 2
      bar:set_postfix{loss = y:double():mean()} -- 1.5, 3.5, 5.5, 7.5
    end
    assert.are.equal(4, batches)
    assert.are.equal("epoch 1: 4/4 [0:08, 2.00s/it] loss=4.5000\n", sink.text)
    assert.are.equal(4.5, bar:averages().loss)
    assert.are.equal(4, bar.n)
  end)

  it("redraws one line on a terminal with rate, ETA and a running loss", function()
    local sink, clock = capture(), fake_clock()
    local bar = utils.progress(loader, {desc = "train", tty = true, out = sink.out,
                                        clock = clock.fn, ascii = true, width = 100})
    local k = 0
    for _ in bar() do
      k = k + 1
      if k == 3 then
        -- after two finished batches in 4 s: 2/4, 0:04 elapsed, 0:04 left
        assert.matches("\rtrain:  50%%|#+%-+| 2/4 %[0:04<0:04, 2%.00s/it%] loss=1%.0000\27%[K$",
                       sink.text)
      end
      clock.now = clock.now + 2
      bar:set_postfix{loss = 1}
    end
    assert.matches("\rtrain: 100%%|#+| 4/4 %[0:08, 2%.00s/it%] loss=1%.0000\27%[K\n$", sink.text)
    assert.are.equal(1, count(sink.text, "\n"))
    assert.is_true(count(sink.text, "\r") >= 5)
  end)

  it("keeps an exponential running average, bias-corrected", function()
    local bar = utils.progress(nil, {total = 3, out = function() end})
    bar:update(1, {loss = 1})
    assert.are.equal(1, bar.running.loss)
    bar:update(1, {loss = 2})
    bar:update(1, {loss = 3})
    local ema = ((0.1 * 1) * 0.9 + 0.1 * 2) * 0.9 + 0.1 * 3
    assert.is_true(math.abs(bar.running.loss - ema / (1 - 0.9 ^ 3)) < 1e-12)
    assert.are.equal(2, bar:averages().loss)
  end)

  it("closes when the loop breaks, once", function()
    local sink = capture()
    local bar = utils.progress(loader, {tty = false, out = sink.out})
    for _ in bar() do
      if bar.n == 1 then break end
    end
    bar:close()
    assert.are.equal(1, count(sink.text, "\n"))
    -- An item counts once finished: the one the loop broke out of does not.
    assert.matches("^1/4 %[", sink.text)
  end)

  it("is driven by hand with update and close", function()
    local sink, clock = capture(), fake_clock()
    local bar = utils.progress(nil, {total = 10, desc = "work", out = sink.out, clock = clock.fn})
    clock.now = clock.now + 1
    bar:update(4)
    bar:update(6, {acc = 0.5})
    bar:close()
    bar:close()
    assert.are.equal("work: 10/10 [0:01, 10.0it/s] acc=0.5000\n", sink.text)
  end)

  it("counts over numbers and arrays, and stays quiet when disabled", function()
    local sink = capture()
    local seen = {}
    for i in utils.progress(3, {out = sink.out})() do seen[#seen + 1] = i end
    assert.are.same({1, 2, 3}, seen)
    for i, v in utils.progress({"a", "b"}, {out = sink.out})() do seen[#seen + 1] = i .. v end
    assert.are.same({1, 2, 3, "1a", "2b"}, seen)
    assert.matches("^3/3 %[.-%]\n2/2 %[.-%]\n$", sink.text)
    local quiet = capture()
    for _ in utils.progress(loader, {out = quiet.out, disable = true})() do end
    assert.are.equal("", quiet.text)
  end)

  it("shows no total when the iterable has no length", function()
    local sink = capture()
    local bar = utils.progress(nil, {out = sink.out})
    bar:update(3)
    bar:close()
    assert.matches("^3 %[", sink.text)
  end)

  it("rejects bad arguments", function()
    assert.error_matches(function() utils.progress(loader, {dsc = "x"}) end, 'unknown option "dsc"')
    assert.error_matches(function() utils.progress(-1) end, "non%-negative integer")
    assert.error_matches(function() utils.progress("x") end, "expected a loader")
    local bar = utils.progress(nil, {out = function() end})
    assert.error_matches(function() bar:set_postfix{loss = "high"} end,
                         "metric 'loss' must be a number, got string")
    assert.error_matches(function() bar() end, "no iterable")
  end)
end)

-- Checks that an SVG text is well-formed XML of the simple kind svg_curves
-- writes: balanced tags, quoted attributes, escaped text. Returns the tag counts.
local function check_xml(text)
  local body = text:gsub("^<%?xml[^>]*%?>%s*", "")
  local stack, tags, pos = {}, {}, 1
  while true do
    local s, e, closing, name, attrs, empty = body:find("<(/?)([%w:_-]+)(.-)(/?)>", pos)
    local between = body:sub(pos, (s or #body + 1) - 1)
    assert.is_nil(between:find("<"), "stray < in text")
    for amp in between:gmatch("&[^;]*;?") do
      assert.truthy(amp:match("^&%a+;$") or amp:match("^&#%d+;$"), "bad entity " .. amp)
    end
    if not s then break end
    assert.is_nil(attrs:gsub('%s+[%w:_-]+="[^"<]*"', ""):find("%S"),
                  "bad attributes in <" .. name .. attrs .. ">")
    if closing == "/" then
      assert.are.equal(table.remove(stack), name)
    else
      tags[name] = (tags[name] or 0) + 1
      if empty ~= "/" then stack[#stack + 1] = name end
    end
    pos = e + 1
  end
  assert.are.same({}, stack)
  return tags
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("svg_curves", function()
  local dir, path
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    assert.is_true(os.execute("mkdir -p '" .. dir .. "'"))
    path = dir .. "/curves.svg"
  end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  local history = {
    epochs = {1, 2, 3, 4, 5},
    train_loss = {0.9, 0.6, 0.5, 0.45, 0.4},
    test_loss = {0.8, 0.62, 0.55, 0.5, 0.49},
    train_accuracy = {0.7, 0.8, 0.85, 0.87, 0.88},
    test_accuracy = {0.72, 0.79, 0.83, 0.85, 0.86},
  }

  it("writes two panels with a marker per value, axes and a legend", function()
    assert.are.equal(path, utils.svg_curves(path, history, {title = "MLP & friends <3>"}))
    local text = read(path)
    assert.matches("^<%?xml", text)
    local tags = check_xml(text)
    assert.are.equal(1, tags.svg)
    assert.are.equal(20, tags.circle)
    assert.are.equal(4, tags.polyline)
    assert.truthy(text:find(">Loss</text>", 1, true))
    assert.truthy(text:find(">Accuracy</text>", 1, true))
    assert.truthy(text:find(">accuracy (%)</text>", 1, true))
    assert.are.equal(2, count(text, ">epoch</text>"))
    assert.are.equal(2, count(text, ">train</text>"))
    assert.are.equal(2, count(text, ">test</text>"))
    assert.truthy(text:find("MLP &amp; friends &lt;3&gt;", 1, true))
    for e = 1, 5 do assert.truthy(text:find(">" .. e .. "</text>", 1, true)) end
    assert.truthy(text:find("<title>test, epoch 5: 86</title>", 1, true))
    -- Written atomically: no temporary file left behind.
    assert.is_nil(io.open(path .. ".tmp", "rb"))
  end)

  it("leaves out panels without series and gaps at missing values", function()
    utils.svg_curves(path, {epochs = {1, 2, 3, 4}, train_loss = {1, 0 / 0, 0.5, 0.25}})
    local text = read(path)
    local tags = check_xml(text)
    assert.are.equal(3, tags.circle)
    assert.are.equal(1, tags.polyline) -- the run 3..4; epoch 1 stands alone
    assert.is_nil(text:find("Accuracy", 1, true))
    utils.svg_curves(path, {epochs = {1}, test_accuracy = {91.5}})
    tags = check_xml(read(path))
    assert.are.equal(1, tags.circle)
    assert.is_nil(tags.polyline)
  end)

  it("rejects malformed histories", function()
    assert.error_matches(function() utils.svg_curves(path, {train_loss = {1}}) end,
                         "expected history = {epochs")
    assert.error_matches(function()
      utils.svg_curves(path, {epochs = {1}, train_loss = {1, 2}})
    end, "history.train_loss has 2 values for 1 epochs")
    assert.error_matches(function()
      utils.svg_curves(path, {epochs = {1, 2}, test_loss = {1, "x"}})
    end, "history.test_loss%[2%] must be a number, got string")
    assert.error_matches(function() utils.svg_curves(path, {epochs = {1}}) end,
                         "history has no series")
    assert.error_matches(function() utils.svg_curves(dir .. "/no/such/dir.svg", history) end,
                         "svg_curves: .*no/such/dir.svg: cannot create a temporary file")
  end)
end)
