--- luagrad.progress: the progress bar of a training loop (rate, ETA and
-- running metrics; one redrawn line on a terminal, one line per finished
-- loop otherwise) and the duration and rate formats it prints. Reached as
-- lg.utils.progress.
-- @module utils.progress
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local progress = {}

--- format_duration(seconds) gives "M:SS" or "H:MM:SS" ("?" when unknown).
-- @usage lg.utils.format_duration(75) --> "1:15"
function progress.format_duration(seconds)
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
-- @usage lg.utils.format_rate(30, 2) --> "15.0it/s"
function progress.format_rate(count, seconds, unit)
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

-- -----------------------------------------------------------------------
-- progress

local Progress = {}
Progress.__index = Progress
Progress.__name = "Progress"

-- Through the binding (no io or os needed): under luagrad_open, text
-- goes to the host's writer (silent without one), no variable is set and
-- stdout is no terminal.
local function default_terminal()
  local term = lg._getenv("TERM")
  return term ~= nil and term ~= "dumb" and lg._stdout_is_terminal()
end

local write_stdout = lg._write

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
-- @usage local bar = lg.utils.progress(loader, {desc = "epoch 1"}); for x, y in bar() do ... end
function progress.progress(iterable, opts)
  opts = check.options("progress", opts, PROGRESS_OPTIONS)
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
    raise("progress: expected a loader, an array, a count or nil, got " .. check.typename(iterable))
  end
  if total ~= nil and (math.type(total) ~= "integer" or total < 0) then
    raise("progress: total must be a non-negative integer, got " .. tostring(total))
  end
  if opts.out ~= nil and type(opts.out) ~= "function" then
    raise("progress: out must be a function receiving text, got " .. check.typename(opts.out))
  end

  local mode = lg._getenv("LUAGRAD_PROGRESS")
  local tty = opts.tty
  local disabled = opts.disable or (opts.tty == nil and mode == "off")
  if tty == nil then
    if mode == "bar" then tty = true
    elseif mode == "lines" then tty = false
    elseif opts.out then tty = false
    else tty = default_terminal() end
  end
  if opts.clock ~= nil and type(opts.clock) ~= "function" then
    raise("progress: clock must be a function giving seconds, got " .. check.typename(opts.clock))
  end
  local clock = opts.clock or lg.wall_time
  return setmetatable({
    clock = clock,
    iterable = iterable, total = total, n = 0, desc = opts.desc,
    tty = tty, disabled = disabled, out = opts.out or write_stdout,
    width = opts.width or tonumber(lg._getenv("COLUMNS") or "") or 80,
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
    raise("progress: set_postfix expects a table of named numbers, got " .. check.typename(metrics))
  end
  for name, value in pairs(metrics) do
    if lg.is_tensor(value) then value = value:item() end
    if type(value) ~= "number" then
      raise(string.format("progress: metric '%s' must be a number, got %s",
                          tostring(name), check.typename(value)))
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
    raise("progress: update expects a count, got " .. check.typename(n))
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
  local times = progress.format_duration(elapsed)
  if not final and self.total then
    local eta = self.n > 0 and elapsed / self.n * (self.total - self.n) or nil
    times = times .. "<" .. progress.format_duration(eta)
  end
  local parts = {string.format("%s [%s, %s]", count, times,
                               progress.format_rate(self.n, elapsed, self.unit))}
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

return progress
