-- luagrad.utils: what a user watches while training: a progress bar with
-- rate, ETA and running metrics (one redrawn line on a terminal, one line per
-- finished loop otherwise), a wall clock, and training curves as an SVG file.
local lg = require "luagrad"
local raise = require("luagrad.check").raise

local utils = {}

---------------------------------------------------------------------------
-- wall clock

--- wall_time() returns seconds on a monotonic wall clock (only differences
--- mean anything); os.clock is CPU time and os.time whole seconds.
utils.wall_time = lg.wall_time

---------------------------------------------------------------------------
-- options and formatting

--- check_options(fname, opts, allowed) returns opts (or {} for nil) after
--- checking that it is a table whose keys are all in the set allowed; errors
--- name fname and the caller's caller (the user's line).
function utils.check_options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    raise(string.format("%s: expected an options table, got %s", fname, type(opts)))
  end
  for key in pairs(opts) do
    if not allowed[key] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      raise(string.format("%s: unknown option '%s' (expected one of %s)", fname,
                          tostring(key), table.concat(names, ", ")))
    end
  end
  return opts
end

--- format_duration(seconds) gives "M:SS" or "H:MM:SS" ("?" when unknown).
function utils.format_duration(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds or seconds == math.huge
      or seconds < 0 then
    return "?"
  end
  local s = math.floor(seconds + 0.5)
  local h, m = s // 3600, s % 3600 // 60
  s = s % 60
  if h > 0 then return string.format("%d:%02d:%02d", h, m, s) end
  return string.format("%d:%02d", m, s)
end

--- format_rate(count, seconds, unit) gives "12.3it/s", or "2.50s/it" when an
--- item takes more than a second ("?it/s" before any time has passed).
function utils.format_rate(count, seconds, unit)
  unit = unit or "it"
  if count <= 0 or seconds <= 0 then return "?" .. unit .. "/s" end
  local rate = count / seconds
  if rate >= 100 then return string.format("%.0f%s/s", rate, unit) end
  if rate >= 1 then return string.format("%.1f%s/s", rate, unit) end
  return string.format("%.2fs/%s", 1 / rate, unit)
end

local function format_metric(value)
  if value ~= value then return "nan" end
  if math.abs(value) >= 1e5 or (value ~= 0 and math.abs(value) < 1e-3) then
    return string.format("%.3e", value)
  end
  return string.format("%.4f", value)
end

---------------------------------------------------------------------------
-- progress

local Progress = {}
Progress.__index = Progress
Progress.__name = "Progress"

local stdout_is_terminal -- cached: asking costs a process

local function default_terminal()
  if stdout_is_terminal == nil then
    local term = os.getenv("TERM")
    -- The shell inherits our stdout, so `test -t 1` asks about it.
    stdout_is_terminal = term ~= nil and term ~= "dumb" and os.execute("test -t 1") == true
  end
  return stdout_is_terminal
end

local function write_stdout(s)
  io.stdout:write(s)
  io.stdout:flush()
end

local EMA_WEIGHT = 0.1 -- the weight of the newest value in a running metric
local BLOCKS = {"▏", "▎", "▍", "▌", "▋", "▊", "▉"}

local PROGRESS_OPTIONS = {desc = true, total = true, tty = true, out = true,
                          width = true, ascii = true, min_interval = true,
                          unit = true, disable = true, clock = true}

--- progress(iterable, opts) returns a progress bar.
---   iterable: a DataLoader (or anything called to give an iterator, with
---     #iterable batches), an array table (the loop gets i, value), a number
---     n (the loop gets 1..n), or nil for a bar driven by bar:update.
---   opts: desc (a label), total (default #iterable), tty (redraw one line;
---     default: LUAGRAD_PROGRESS=bar|lines|off, else whether stdout is a
---     terminal, false when out is given), out (function receiving the text;
---     default stdout), width (columns; default $COLUMNS or 80), ascii (a
---     bar of # instead of blocks), min_interval (seconds between redraws,
---     0.1), unit ("it"), disable (print nothing), clock (a function giving
---     seconds; default lg.utils.wall_time).
--- Use:
---   local bar = lg.utils.progress(loader, {desc = "epoch 1"})
---   for x, y in bar() do ...; bar:set_postfix{loss = loss} end
---   local means = bar:averages()   -- {loss = mean over the loop}
--- The loop closes the bar (also on break or error); a bar driven by hand
--- calls bar:update(n, metrics) and bar:close().
function utils.progress(iterable, opts)
  opts = utils.check_options("progress", opts, PROGRESS_OPTIONS)
  local kind = type(iterable)
  local total = opts.total
  if kind == "number" then
    if math.type(iterable) ~= "integer" or iterable < 0 then
      raise("progress: a count must be a non-negative integer, got " .. tostring(iterable))
    end
    total = total or iterable
  elseif kind == "table" or kind == "userdata" then
    if total == nil then
      local ok, n = pcall(function() return #iterable end)
      if ok and math.type(n) == "integer" then total = n end
    end
  elseif iterable ~= nil then
    raise("progress: expected a loader, an array, a count or nil, got " .. kind)
  end
  if total ~= nil and (math.type(total) ~= "integer" or total < 0) then
    raise("progress: total must be a non-negative integer, got " .. tostring(total))
  end
  if opts.out ~= nil and type(opts.out) ~= "function" then
    raise("progress: out must be a function receiving text, got " .. type(opts.out))
  end

  local mode = os.getenv("LUAGRAD_PROGRESS")
  local tty = opts.tty
  local disabled = opts.disable or (opts.tty == nil and mode == "off")
  if tty == nil then
    if mode == "bar" then tty = true
    elseif mode == "lines" then tty = false
    elseif opts.out then tty = false
    else tty = default_terminal() end
  end
  if opts.clock ~= nil and type(opts.clock) ~= "function" then
    raise("progress: clock must be a function giving seconds, got " .. type(opts.clock))
  end
  local clock = opts.clock or utils.wall_time
  return setmetatable({
    clock = clock,
    iterable = iterable, total = total, n = 0, desc = opts.desc,
    tty = tty, disabled = disabled, out = opts.out or write_stdout,
    width = opts.width or tonumber(os.getenv("COLUMNS") or "") or 80,
    ascii = opts.ascii, unit = opts.unit or "it",
    min_interval = opts.min_interval or 0.1,
    start = clock(), last_draw = -math.huge, closed = false,
    names = {},     -- metric names, sorted
    running = {},   -- name -> running average shown while the loop runs
    sums = {}, counts = {},
  }, Progress)
end

--- bar:set_postfix(metrics) records named values ({loss = 0.31}; numbers or
--- 0-d tensors). The bar shows each one's running average (exponential,
--- weight 0.1 for the newest) while it runs and the plain mean over the loop
--- at the end. The line shows them at its next redraw.
function Progress:set_postfix(metrics)
  if type(metrics) ~= "table" then
    raise("progress: set_postfix expects a table of named numbers, got " .. type(metrics))
  end
  for name, value in pairs(metrics) do
    if lg.is_tensor(value) then value = value:item() end
    if type(value) ~= "number" then
      raise(string.format("progress: metric '%s' must be a number, got %s",
                          tostring(name), type(value)))
    end
    if self.counts[name] == nil then
      self.names[#self.names + 1] = name
      table.sort(self.names, function(a, b) return tostring(a) < tostring(b) end)
      self.counts[name], self.sums[name], self.running[name] = 0, 0, 0
    end
    local k = self.counts[name] + 1
    self.counts[name] = k
    self.sums[name] = self.sums[name] + value
    -- The bias-corrected EMA (so early values aren't shrunk toward 0), as an
    -- update whose first step (weight 1) takes the value exactly.
    local weight = k == 1 and 1 or EMA_WEIGHT / (1 - (1 - EMA_WEIGHT) ^ k)
    self.running[name] = self.running[name] + (value - self.running[name]) * weight
  end
end

--- bar:update([n = 1], [metrics]) counts n more finished items (and records
--- metrics as set_postfix does).
function Progress:update(n, metrics)
  n = n or 1
  if type(n) ~= "number" then
    raise("progress: update expects a count, got " .. type(n))
  end
  self.n = self.n + n
  if metrics then self:set_postfix(metrics) end
  self:_draw(false)
end

--- bar:averages() returns {name = mean of every value recorded}.
function Progress:averages()
  local means = {}
  for _, name in ipairs(self.names) do means[name] = self.sums[name] / self.counts[name] end
  return means
end

--- bar:elapsed() returns the seconds since the bar started.
function Progress:elapsed()
  return (self.finished_at or self.clock()) - self.start
end

-- The figures after the bar: count, times, rate, metrics.
function Progress:_figures(final)
  local elapsed = self:elapsed()
  local count = self.total and string.format("%d/%d", self.n, self.total)
      or tostring(self.n)
  local times = utils.format_duration(elapsed)
  if not final and self.total then
    local eta = self.n > 0 and elapsed / self.n * (self.total - self.n) or nil
    times = times .. "<" .. utils.format_duration(eta)
  end
  local parts = {string.format("%s [%s, %s]", count, times,
                               utils.format_rate(self.n, elapsed, self.unit))}
  local values = final and self:averages() or self.running
  for _, name in ipairs(self.names) do
    parts[#parts + 1] = string.format("%s=%s", tostring(name), format_metric(values[name]))
  end
  return table.concat(parts, " ")
end

-- A bar of width cells, a fraction filled.
function Progress:_bar(fraction, width)
  if self.ascii then
    local filled = math.floor(fraction * width + 0.5)
    return string.rep("#", filled) .. string.rep("-", width - filled)
  end
  local eighths = math.floor(fraction * width * 8)
  local full, partial = eighths // 8, eighths % 8
  local s = string.rep("█", full)
  if full < width then
    s = s .. (partial > 0 and BLOCKS[partial] or " ") .. string.rep(" ", width - full - 1)
  end
  return s
end

--- bar:line([final]) returns the text of the bar without control characters.
function Progress:line(final)
  local prefix = self.desc and (self.desc .. ": ") or ""
  local figures = self:_figures(final)
  if not self.tty then return prefix .. figures end
  if not self.total or self.total == 0 then return prefix .. figures end
  local fraction = math.min(1, self.n / self.total)
  local percent = string.format("%3d%%", math.floor(fraction * 100))
  local used = utf8.len(prefix) + #percent + 3 + utf8.len(figures)
  local width = math.max(10, math.min(40, self.width - used - 1))
  return string.format("%s%s|%s| %s", prefix, percent, self:_bar(fraction, width), figures)
end

function Progress:_draw(final)
  if self.disabled or not self.tty then return end
  local now = self.clock()
  if not final and now - self.last_draw < self.min_interval
      and not (self.total and self.n >= self.total) then
    return
  end
  self.last_draw = now
  -- \r returns to the line's start; ESC[K erases what a longer line left.
  self.out("\r" .. self:line(final) .. "\27[K" .. (final and "\n" or ""))
end

--- bar:close() ends the bar: the final line (a newline on a terminal; the
--- one line of this loop otherwise) shows the mean of each metric. Safe to
--- call twice.
function Progress:close()
  if self.closed then return end
  self.closed = true
  self.finished_at = self.clock()
  if self.disabled then return end
  if self.tty then self:_draw(true)
  else self.out(self:line(true) .. "\n") end
end

Progress.__close = Progress.close

--- bar() returns the loop over the iterable, counting each finished item;
--- the bar is the loop's to-be-closed value, so it closes when the loop ends.
function Progress:__call()
  local iterable = self.iterable
  local step
  if type(iterable) == "number" then
    local i = 0
    step = function()
      if i >= iterable then return nil end
      i = i + 1
      return i
    end
  elseif type(iterable) == "table" and getmetatable(iterable) == nil then
    local i = 0
    step = function()
      i = i + 1
      if iterable[i] == nil then return nil end
      return i, iterable[i]
    end
  elseif iterable ~= nil then
    local f, state, control = iterable()
    step = function()
      local values = table.pack(f(state, control))
      control = values[1]
      return table.unpack(values, 1, values.n)
    end
  else
    raise("progress: this bar has no iterable; drive it with bar:update")
  end
  local started = false
  local function next_item()
    if started then self:update(1) end
    started = true
    local values = table.pack(step())
    if values[1] == nil then
      self:close()
      return nil
    end
    return table.unpack(values, 1, values.n)
  end
  self:_draw(false)
  return next_item, nil, nil, self
end

---------------------------------------------------------------------------
-- SVG training curves

local SERIES_COLORS = {train = "#1f77b4", test = "#ff7f0e"}

local function xml_escape(s)
  return (tostring(s):gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                        ['"'] = "&quot;", ["'"] = "&apos;"}))
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- A 1, 2 or 5 times a power of ten near span / count.
local function nice_step(span, count)
  local raw = span / count
  local power = 10 ^ math.floor(math.log(raw, 10))
  for _, m in ipairs({1, 2, 5, 10}) do
    if m * power >= raw then return m * power end
  end
  return 10 * power
end

-- An axis for values lo..hi with about count tick intervals of 1, 2 or 5
-- times a power of ten. A value axis widens to whole ticks past a 5% margin;
-- the epoch axis keeps the data's range plus a margin (so end points don't
-- sit on the frame) and ticks on whole epochs when the epochs are integers.
local function axis(lo, hi, count, epoch_axis, integer, bounds)
  if hi - lo < 1e-12 then
    local pad = epoch_axis and 0.5 or (math.abs(lo) > 0 and math.abs(lo) * 0.1 or 1)
    lo, hi = lo - pad, hi + pad
  end
  local first, last, step
  if epoch_axis then
    step = nice_step(hi - lo, count)
    if integer then step = math.max(1, math.floor(step + 0.5)) end
    local margin = (hi - lo) * 0.04
    first, last = lo - margin, hi + margin
  else
    -- The margin stops at a bound the values can't cross (0 for a loss,
    -- 100% for an accuracy), so the axis doesn't show impossible values.
    local margin = (hi - lo) * 0.05
    local low, high = lo - margin, hi + margin
    if bounds and bounds[1] and lo >= bounds[1] then low = math.max(low, bounds[1]) end
    if bounds and bounds[2] and hi <= bounds[2] then high = math.min(high, bounds[2]) end
    step = nice_step(high - low, count)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
  end
  local ticks = {}
  local start = math.ceil(lo / step - 1e-9) * step
  if not epoch_axis then start = first end
  for k = 0, 1000 do
    local v = start + k * step
    if v > (epoch_axis and hi or last) + step * 1e-9 then break end
    ticks[#ticks + 1] = v
  end
  local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  return {lo = first, hi = last, ticks = ticks, decimals = decimals}
end

-- Draws one panel (a plot of several series against the epochs) into parts.
local function draw_panel(parts, box, title, ylabel, epochs, series_list, bounds)
  local left, top, width, height = box.x + 64, box.y + 44, box.w - 84, box.h - 94
  local ylo, yhi, xlo, xhi = math.huge, -math.huge, math.huge, -math.huge
  for _, e in ipairs(epochs) do xlo, xhi = math.min(xlo, e), math.max(xhi, e) end
  for _, s in ipairs(series_list) do
    for i = 1, #epochs do
      local v = s.values[i]
      if finite(v) then ylo, yhi = math.min(ylo, v), math.max(yhi, v) end
    end
  end
  if ylo == math.huge then ylo, yhi = 0, 1 end
  local integer_epochs = true
  for _, e in ipairs(epochs) do
    if math.type(e) ~= "integer" and e ~= math.floor(e) then integer_epochs = false end
  end
  local xa = axis(xlo, xhi, math.min(8, math.max(2, #epochs - 1)), true, integer_epochs)
  local ya = axis(ylo, yhi, 5, false, false, bounds)
  local function px(x) return left + (x - xa.lo) / (xa.hi - xa.lo) * width end
  local function py(y) return top + height - (y - ya.lo) / (ya.hi - ya.lo) * height end
  local function add(s) parts[#parts + 1] = s end

  add(string.format('<text x="%.1f" y="%.1f" font-size="15" font-weight="bold">%s</text>',
                    left, box.y + 30, xml_escape(title)))
  add(string.format('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" '
                    .. 'stroke="#444"/>', left, top, width, height))
  for _, v in ipairs(ya.ticks) do
    local y = py(v)
    add(string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>',
                      left, y, left + width, y))
    add(string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444"/>',
                      left - 5, y, left, y))
    add(string.format('<text x="%.1f" y="%.1f" text-anchor="end" font-size="11">%s</text>',
                      left - 8, y + 4, string.format("%." .. ya.decimals .. "f", v)))
  end
  for _, v in ipairs(xa.ticks) do
    local x = px(v)
    add(string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444"/>',
                      x, top + height, x, top + height + 5))
    add(string.format('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s</text>',
                      x, top + height + 18, string.format("%." .. xa.decimals .. "f", v)))
  end
  add(string.format('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12">epoch</text>',
                    left + width / 2, top + height + 38))
  add(string.format('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" '
                    .. 'transform="rotate(-90 %.1f %.1f)">%s</text>', box.x + 16,
                    top + height / 2, box.x + 16, top + height / 2, xml_escape(ylabel)))

  for k, s in ipairs(series_list) do
    -- One polyline per run of finite values, a marker with a tooltip per point.
    local run = {}
    local function flush()
      if #run >= 2 then
        add(string.format('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>',
                          s.color, table.concat(run, " ")))
      end
      run = {}
    end
    for i, e in ipairs(epochs) do
      local v = s.values[i]
      if finite(v) then
        run[#run + 1] = string.format("%.1f,%.1f", px(e), py(v))
      else
        flush()
      end
    end
    flush()
    for i, e in ipairs(epochs) do
      local v = s.values[i]
      if finite(v) then
        add(string.format('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s, epoch %s: %s'
                          .. '</title></circle>', px(e), py(v), s.color, xml_escape(s.label),
                          tostring(e), string.format("%.4g", v)))
      end
    end
    -- Legend: a row at the top right, above the plot.
    local lx, ly = left + width - 62 * (#series_list - k + 1), box.y + 26
    add(string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" '
                      .. 'stroke-width="2"/>', lx, ly, lx + 18, ly, s.color))
    add(string.format('<text x="%.1f" y="%.1f" font-size="11">%s</text>', lx + 23, ly + 4,
                      xml_escape(s.label)))
  end
end

-- The values of history[key] as an array aligned with the epochs, or nil.
local function history_series(history, key, n, scale)
  local values = history[key]
  if values == nil then return nil end
  if type(values) ~= "table" then
    raise(string.format("svg_curves: history.%s must be an array of numbers, got %s",
                        key, type(values)))
  end
  if #values > n then
    raise(string.format("svg_curves: history.%s has %d values for %d epochs", key, #values, n))
  end
  local out, any = {}, false
  for i = 1, n do
    local v = values[i]
    if lg.is_tensor(v) then v = v:item() end
    if v ~= nil and type(v) ~= "number" then
      raise(string.format("svg_curves: history.%s[%d] must be a number, got %s",
                          key, i, type(v)))
    end
    out[i] = v and v * scale
    any = any or v ~= nil
  end
  return any and out or nil
end

local SVG_OPTIONS = {title = true, panel_width = true, panel_height = true}

--- svg_curves(path, history, opts) writes a standalone SVG file (atomically:
--- a temporary file, then a rename) with the training curves: a loss panel
--- and an accuracy panel, train and test series, ticks, labels and a legend.
---   history = {epochs = {1, 2, ...}, train_loss = {...}, test_loss = {...},
---              train_accuracy = {...}, test_accuracy = {...}}
--- Every series is optional and aligned with epochs (value i belongs to
--- epochs[i]; nil or NaN leaves a gap); a panel without series is left out.
--- Accuracies that all lie in 0..1 are drawn as percentages.
--- opts: title (above both panels), panel_width (440), panel_height (330).
--- Returns path.
function utils.svg_curves(path, history, opts)
  if type(path) ~= "string" then
    raise("svg_curves: expected a file path string, got " .. type(path))
  end
  if type(history) ~= "table" or type(history.epochs) ~= "table" or #history.epochs == 0 then
    raise("svg_curves: expected history = {epochs = {1, 2, ...}, train_loss = {...}, ...}")
  end
  opts = utils.check_options("svg_curves", opts, SVG_OPTIONS)
  local epochs = history.epochs
  for i, e in ipairs(epochs) do
    if not finite(e) then
      raise(string.format("svg_curves: history.epochs[%d] must be a number, got %s",
                          i, tostring(e)))
    end
  end
  local n = #epochs
  local percent = true
  for _, key in ipairs({"train_accuracy", "test_accuracy"}) do
    for _, v in ipairs(history[key] or {}) do
      if type(v) == "number" and (v > 1 or v < 0) then percent = false end
    end
  end
  local panels = {}
  local function panel(title, ylabel, keys, scale, bounds)
    local list = {}
    for _, key in ipairs(keys) do
      local values = history_series(history, key, n, scale)
      if values then
        local label = key:match("^(%a+)_")
        list[#list + 1] = {label = label, color = SERIES_COLORS[label], values = values}
      end
    end
    if #list > 0 then
      panels[#panels + 1] = {title = title, ylabel = ylabel, series = list, bounds = bounds}
    end
  end
  panel("Loss", "loss", {"train_loss", "test_loss"}, 1, {0})
  panel("Accuracy", percent and "accuracy (%)" or "accuracy",
        {"train_accuracy", "test_accuracy"}, percent and 100 or 1, {0, percent and 100 or nil})
  if #panels == 0 then
    raise("svg_curves: history has no series (train_loss, test_loss, train_accuracy, "
          .. "test_accuracy)")
  end

  local pw, ph = opts.panel_width or 440, opts.panel_height or 330
  local title_height = opts.title and 30 or 0
  local total_width, total_height = pw * #panels, ph + title_height
  local parts = {
    '<?xml version="1.0" encoding="UTF-8"?>',
    string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
                  .. 'viewBox="0 0 %d %d" font-family="sans-serif">', total_width,
                  total_height, total_width, total_height),
    string.format('<rect width="%d" height="%d" fill="white"/>', total_width, total_height),
  }
  if opts.title then
    parts[#parts + 1] = string.format('<text x="%.1f" y="22" text-anchor="middle" '
                                      .. 'font-size="17" font-weight="bold">%s</text>',
                                      total_width / 2, xml_escape(opts.title))
  end
  for k, p in ipairs(panels) do
    draw_panel(parts, {x = (k - 1) * pw, y = title_height, w = pw, h = ph}, p.title,
               p.ylabel, epochs, p.series, p.bounds)
  end
  parts[#parts + 1] = "</svg>\n"

  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then raise("svg_curves: cannot write " .. tmp .. ": " .. tostring(err)) end
  local ok, write_err = f:write(table.concat(parts, "\n"))
  f:close()
  if ok then ok, write_err = os.rename(tmp, path) end
  if not ok then
    os.remove(tmp)
    raise("svg_curves: cannot write " .. path .. ": " .. tostring(write_err))
  end
  return path
end

return utils
