--- luagrad.plot: training curves (loss and accuracy per epoch, train and
-- test) drawn as a standalone SVG file. Reached as lg.utils.svg_curves.
-- @module utils.plot
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local plot = {}

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
                        key, check.typename(values)))
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
                          key, i, check.typename(v)))
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
-- @usage lg.utils.svg_curves("curves.svg", {epochs = {1, 2}, train_loss = {0.9, 0.5}, test_loss = {1.0, 0.6}})
function plot.svg_curves(path, history, opts)
  if type(path) ~= "string" then
    raise("svg_curves: expected a file path string, got " .. check.typename(path))
  end
  if type(history) ~= "table" or type(history.epochs) ~= "table" or #history.epochs == 0 then
    raise("svg_curves: expected history = {epochs = {1, 2, ...}, train_loss = {...}, ...}")
  end
  opts = check.options("svg_curves", opts, SVG_OPTIONS)
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

  -- atomic, and through the host's file policy (no io needed)
  lg._write_file(path, table.concat(parts, "\n"), "svg_curves")
  return path
end

return plot
