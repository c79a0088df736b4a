-- luagrad.nn.functional_spatial: the padding and resampling functions of
-- nn.functional (pad, interpolate, unfold, fold), installed into F by
-- functional.lua.
--
-- Each is composed from differentiable tensor ops that carry backward, jvp
-- and batching rules (cat, narrow, index_select, scatter_add, mul), so
-- gradients of gradients, forward mode and vmap work through them with no
-- rule of their own. The index tensors are built once per call from arange
-- arithmetic, never element by element in Lua. Dims follow PyTorch's
-- layouts: (N,C,L), (N,C,H,W), (N,C,D,H,W); pad lists start at the last dim.
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

return function(F)
  local tuple, optional_args = F._tuple, F._optional_args

  local function check_input(x, fname)
    if not lg.is_tensor(x) then
      raise(string.format("%s: expected a tensor as input, got %s", fname, check.typename(x)))
    end
  end

  local function int64(t) return t:to("int64") end

  -------------------------------------------------------------------------
  -- pad

  -- The 0-based source position of each output position along a dim of
  -- size n padded by left and right (either may be negative: a crop), as a
  -- 1-based int64 index tensor for index_select.
  local SOURCE = {
    reflect = function(s, n)
      s = s:abs()
      return lg.where(s:ge(n), (2 * (n - 1)) - s, s)
    end,
    replicate = function(s, n) return s:clamp(0, n - 1) end,
    circular = function(s, n) return s % n end,
  }

  local function pad_index(mode, n, left, right)
    local s = lg.arange(-left, n + right, {dtype = "int64"})
    return SOURCE[mode](s, n) + 1
  end

  -- PyTorch's limits of each non-constant mode, per padded dim of size n.
  local function check_mode_sizes(mode, x, pad, fname)
    local k = #pad // 2
    if k > 3 or (x:dim() ~= k + 1 and x:dim() ~= k + 2) then
      raise(string.format("%s: mode '%s' pads the last 1 to 3 dims of a batched or unbatched input (a pad list of 2k values for a (k+1)- or (k+2)-D input), got %d values for a %d-D input",
                          fname, mode, #pad, x:dim()))
    end
    for i = 1, k do
      local n = x:size(x:dim() - i + 1)
      local l, r = pad[2 * i - 1], pad[2 * i]
      if mode == "reflect" and (l >= n or r >= n) then
        raise(string.format("%s: reflect padding (%d, %d) must be less than the size %d of dim %d",
                            fname, l, r, n, x:dim() - i + 1))
      elseif mode == "circular" and (l > n or r > n) then
        raise(string.format("%s: circular padding (%d, %d) must be at most the size %d of dim %d",
                            fname, l, r, n, x:dim() - i + 1))
      elseif n + l + r < 1 or (mode ~= "replicate" and n < 1) then
        raise(string.format("%s: padding (%d, %d) leaves no element of dim %d (size %d)",
                            fname, l, r, x:dim() - i + 1, n))
      end
    end
  end

  local function check_pad_list(x, pad, fname)
    if type(pad) ~= "table" or lg.is_tensor(pad) or #pad % 2 ~= 0 or #pad == 0 then
      raise(string.format("%s: expected pad as a table of an even number of integers (last dim first), got %s",
                          fname, type(pad) == "table" and ("a table of " .. #pad .. " values") or check.typename(pad)))
    end
    for i = 1, #pad do
      if math.type(pad[i]) ~= "integer" then
        raise(string.format("%s: expected integer pad values, got %s at position %d", fname,
                            tostring(pad[i]), i))
      end
    end
    if #pad // 2 > x:dim() then
      raise(string.format("%s: a pad list of %d values pads %d dims, but the input has %d",
                          fname, #pad, #pad // 2, x:dim()))
    end
  end

  -- Constant padding of one dim: crop (narrow) for negative amounts, then
  -- cat blocks of the fill value.
  local function pad_constant_dim(x, d, left, right, value, fname)
    local n = x:size(d)
    if n + left + right < 0 then
      raise(string.format("%s: padding (%d, %d) of dim %d (size %d) gives a negative size",
                          fname, left, right, d, n))
    end
    if left < 0 or right < 0 then
      local start, len = math.max(-left, 0), n + math.min(left, 0) + math.min(right, 0)
      x = x:narrow(d, start + 1, math.max(len, 0))
      left, right = math.max(left, 0), math.max(right, 0)
    end
    if left == 0 and right == 0 then return x end
    local parts = {}
    local function block(size)
      local shape = x.shape
      shape[d] = size
      parts[#parts + 1] = lg.full(shape, value, {dtype = x.dtype})
    end
    if left > 0 then block(left) end
    parts[#parts + 1] = x
    if right > 0 then block(right) end
    return lg.cat(parts, d)
  end

  local pad_args = optional_args("pad", {"mode", "value"}, {mode = "constant"})

  --- Pads a tensor as PyTorch's `F.pad`.
  -- The pad list names the last dim first: `{left, right}` pads the last
  -- dim, `{left, right, top, bottom}` the last two, and so on. "constant"
  -- pads any number of dims (negative amounts crop); "reflect" (mirror
  -- without repeating the edge, each amount < the dim's size), "replicate"
  -- (repeat the edge) and "circular" (wrap around, each amount <= the
  -- size) pad the last 1 to 3 dims of a (k+1)- or (k+2)-D input.
  -- @param x the input tensor
  -- @param pad a table of 2k integers, last dim first
  -- @param mode "constant" (default), "reflect", "replicate" or "circular";
  --   positionally or as `{mode = ..., value = ...}`
  -- @param value the fill of "constant" mode (default 0)
  -- @return the padded tensor
  -- @usage F.pad(x, {1, 1, 2, 0}, {mode = "reflect"})
  function F.pad(x, pad, ...)
    check_input(x, "pad")
    local o = pad_args(...)
    check_pad_list(x, pad, "pad")
    local mode = o.mode
    if mode == "constant" then
      local value = o.value or 0
      if type(value) ~= "number" and type(value) ~= "boolean" then
        raise("pad: expected a number as value, got " .. check.typename(value))
      end
      for i = 1, #pad // 2 do
        x = pad_constant_dim(x, x:dim() - i + 1, pad[2 * i - 1], pad[2 * i], value, "pad")
      end
      return x
    end
    if not SOURCE[mode] then
      raise(string.format("pad: expected mode 'constant', 'reflect', 'replicate' or 'circular', got %s",
                          type(mode) == "string" and ("'" .. mode .. "'") or check.typename(mode)))
    end
    if o.value ~= nil and o.value ~= 0 then
      raise(string.format("pad: a fill value is only for mode 'constant', got value %s with mode '%s'",
                          tostring(o.value), mode))
    end
    check_mode_sizes(mode, x, pad, "pad")
    for i = 1, #pad // 2 do
      local d = x:dim() - i + 1
      local l, r = pad[2 * i - 1], pad[2 * i]
      if mode == "circular" and (l < 0 or r < 0) then
        -- PyTorch crops first and wraps around what is left
        x = pad_constant_dim(x, d, math.min(l, 0), math.min(r, 0), 0, "pad")
        l, r = math.max(l, 0), math.max(r, 0)
      end
      if l ~= 0 or r ~= 0 then x = x:index_select(d, pad_index(mode, x:size(d), l, r)) end
    end
    return x
  end

  -------------------------------------------------------------------------
  -- interpolate

  local SPATIAL = {linear = 1, bilinear = 2, trilinear = 3}
  local NEAREST = {nearest = true, ["nearest-exact"] = true}

  -- The output sizes and the scale used for coordinates (in/out, or the
  -- reciprocal of a given scale_factor as PyTorch) of each spatial dim.
  local function interp_sizes(x, o, k, fname)
    if (o.size == nil) == (o.scale_factor == nil) then
      raise(fname .. ": expected exactly one of size and scale_factor")
    end
    local sizes, scales = {}, {}
    if o.size ~= nil then
      sizes = tuple(o.size, k, fname, "size")
      for i = 1, k do scales[i] = x:size(2 + i) / sizes[i] end
    else
      local factors
      if type(o.scale_factor) == "number" then
        factors = {}
        for i = 1, k do factors[i] = o.scale_factor end
      elseif type(o.scale_factor) == "table" and #o.scale_factor == k then
        factors = o.scale_factor
      else
        raise(string.format("%s: expected scale_factor as a number or a table of %d numbers, got %s",
                            fname, k, check.typename(o.scale_factor)))
      end
      for i = 1, k do
        if type(factors[i]) ~= "number" or factors[i] <= 0 then
          raise(fname .. ": expected positive scale factors, got " .. tostring(factors[i]))
        end
        sizes[i] = math.floor(x:size(2 + i) * factors[i])
        scales[i] = o.recompute_scale_factor and x:size(2 + i) / sizes[i] or 1 / factors[i]
      end
    end
    for i = 1, k do
      if math.type(sizes[i]) ~= "integer" and sizes[i] ~= math.floor(sizes[i]) or sizes[i] < 1 then
        raise(string.format("%s: expected output sizes >= 1, got %s for spatial dim %d", fname,
                            tostring(sizes[i]), i))
      end
      sizes[i] = math.tointeger(sizes[i])
    end
    return sizes, scales
  end

  -- Nearest neighbour along dim d: src = floor(dst * scale) ("nearest",
  -- PyTorch's legacy rule) or floor((dst + 0.5) * scale) ("nearest-exact").
  local function nearest_dim(x, d, out, scale, exact)
    local dst = lg.arange(out, {dtype = "float64"})
    if exact then dst = dst + 0.5 end
    local src = int64((dst * scale):floor()):clamp(0, x:size(d) - 1)
    return x:index_select(d, src + 1)
  end

  -- The linear interpolation of dim d (size n) at out positions: for
  -- each output its two nearest sources (1-based, lo and hi) and the
  -- weight of hi (float64, (out)).
  local function linear_taps(n, out, scale, align_corners)
    local dst = lg.arange(out, {dtype = "float64"})
    local src
    if align_corners then
      src = dst * (out > 1 and (n - 1) / (out - 1) or 0)
    else
      src = ((dst + 0.5) * scale - 0.5):clamp(0)
    end
    local lo = int64(src:floor()):clamp(0, n - 1)
    local hi = (lo + 1):clamp(0, n - 1)
    return lo + 1, hi + 1, src - lo:to("float64")
  end

  -- Interpolation matrices up to this many entries apply as one matmul
  -- (dense: gemm through BLAS, its backward two more); larger ones gather
  -- the two sources with index_select. A field, so tests reach both.
  F._interpolate_dense_limit = 1 << 20

  -- Linear interpolation along dim d between the two nearest sources.
  local function linear_dim(x, d, out, scale, align_corners)
    local n = x:size(d)
    local lo, hi, w = linear_taps(n, out, scale, align_corners)
    if n * out <= F._interpolate_dense_limit then
      -- A (out, n): row j holds 1 - w_j at lo_j and w_j at hi_j
      local cols = lg.arange(1, n + 1, {dtype = "int64"}):unsqueeze(1)
      local wt = w:unsqueeze(2)
      local a = (lo:unsqueeze(2):eq(cols):to("float64") * (1 - wt)
                 + hi:unsqueeze(2):eq(cols):to("float64") * wt):to(x.dtype)
      -- dim d moved last and the rest flattened: one (rows, n) @ (n, out)
      -- gemm for the whole batch
      local moved = x:transpose(d, -1)
      local shape = moved.shape
      shape[#shape] = out
      return moved:reshape(-1, n):matmul(a:t()):reshape(shape):transpose(d, -1)
    end
    local shape = {}
    for i = 1, x:dim() do shape[i] = 1 end
    shape[d] = out
    local w_hi = w:to(x.dtype):reshape(shape)
    local a, b = x:index_select(d, lo), x:index_select(d, hi)
    return a + (b - a) * w_hi
  end

  local interp_args = optional_args("interpolate",
    {"size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"},
    {mode = "nearest", antialias = false})

  --- Resizes the spatial dims of a batch as PyTorch's `F.interpolate`.
  -- "nearest" (PyTorch's floor rule) and "nearest-exact" take a 3-, 4- or
  -- 5-D input; "linear" a 3-D (N,C,L), "bilinear" a 4-D (N,C,H,W) and
  -- "trilinear" a 5-D input. With align_corners the corner pixels' centres
  -- line up; without it (the default) their edges do, and a given
  -- scale_factor maps coordinates as PyTorch does (unless
  -- recompute_scale_factor).
  -- @param x the input (N,C,spatial...)
  -- @param opts `{size | scale_factor, mode = "nearest", align_corners,
  --   recompute_scale_factor}`, or those positionally in PyTorch's order
  -- @return the resized tensor (N,C,size...)
  -- @usage F.interpolate(x, {scale_factor = 2, mode = "bilinear"})
  function F.interpolate(x, ...)
    check_input(x, "interpolate")
    local o = interp_args(...)
    local mode = o.mode
    if not NEAREST[mode] and not SPATIAL[mode] then
      raise(string.format("interpolate: expected mode 'nearest', 'nearest-exact', 'linear', 'bilinear' or 'trilinear', got %s",
                          tostring(mode)))
    end
    if o.antialias then raise("interpolate: antialias is not supported") end
    local k = x:dim() - 2
    if k < 1 or k > 3 or (SPATIAL[mode] and SPATIAL[mode] ~= k) then
      raise(string.format("interpolate: mode '%s' expects a %s input, got %d-D", mode,
                          SPATIAL[mode] and (SPATIAL[mode] + 2 .. "-D") or "3-, 4- or 5-D", x:dim()))
    end
    if NEAREST[mode] and o.align_corners ~= nil then
      raise("interpolate: align_corners is only for the interpolating modes linear, bilinear and trilinear")
    end
    local sizes, scales = interp_sizes(x, o, k, "interpolate")
    for i = 1, k do
      local d = 2 + i
      if NEAREST[mode] then
        x = nearest_dim(x, d, sizes[i], scales[i], mode == "nearest-exact")
      else
        x = linear_dim(x, d, sizes[i], scales[i], o.align_corners == true)
      end
    end
    return x
  end

  -------------------------------------------------------------------------
  -- unfold and fold (im2col, col2im)

  local window_args = optional_args("unfold", {"dilation", "padding", "stride"},
                                    {dilation = 1, padding = 0, stride = 1})
  local fold_args = optional_args("fold", {"dilation", "padding", "stride"},
                                  {dilation = 1, padding = 0, stride = 1})

  -- The window geometry of unfold/fold over a padded (Hp, Wp) plane: the
  -- 1-based flat index (kh*kw*L) of every (kernel offset, block) pair in
  -- the (Hp*Wp) plane, and the number of blocks along each dim.
  local function window_index(fname, hp, wp, kernel, dilation, stride)
    local blocks = {}
    for i, n in ipairs({hp, wp}) do
      if kernel[i] < 1 or dilation[i] < 1 or stride[i] < 1 then
        raise(string.format("%s: expected kernel_size, dilation and stride >= 1, got %d, %d, %d",
                            fname, kernel[i], dilation[i], stride[i]))
      end
      blocks[i] = (n - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
      if blocks[i] < 1 then
        raise(string.format("%s: the kernel (%d with dilation %d) does not fit the padded size %d of spatial dim %d",
                            fname, kernel[i], dilation[i], n, i))
      end
    end
    local function axis(i, shape_k, shape_b)
      local k = lg.arange(kernel[i], {dtype = "int64"}):reshape(shape_k) * dilation[i]
      local b = lg.arange(blocks[i], {dtype = "int64"}):reshape(shape_b) * stride[i]
      return k + b
    end
    local rows = axis(1, {kernel[1], 1, 1, 1}, {1, 1, blocks[1], 1})
    local cols = axis(2, {1, kernel[2], 1, 1}, {1, 1, 1, blocks[2]})
    return (rows * wp + cols):reshape(-1) + 1, blocks
  end

  -- x with a batch dim (and whether it was added): a dims-D input or a
  -- (dims-1)-D unbatched one.
  local function with_batch(x, dims, fname, layout)
    check_input(x, fname)
    if x:dim() == dims then return x, false end
    if x:dim() == dims - 1 then return x:unsqueeze(1), true end
    raise(string.format("%s: expected a %d-D %s or %d-D unbatched input, got %d-D", fname, dims,
                        layout, dims - 1, x:dim()))
  end

  local function geometry(fname, o, kernel_size)
    return tuple(kernel_size, 2, fname, "kernel_size"), tuple(o.dilation, 2, fname, "dilation"),
           tuple(o.padding, 2, fname, "padding"), tuple(o.stride, 2, fname, "stride")
  end

  --- Extracts sliding blocks (im2col) as PyTorch's `F.unfold`.
  -- @param x the input (N,C,H,W) or unbatched (C,H,W)
  -- @param kernel_size an integer or {kh, kw}
  -- @param opts `{dilation = 1, padding = 0, stride = 1}` (or positionally)
  -- @return (N, C*kh*kw, L): column l holds the block at the l-th window
  --   position (row-major), its rows ordered (c, i, j)
  -- @usage F.unfold(x, 3, {padding = 1})
  function F.unfold(x, kernel_size, ...)
    local o = window_args(...)
    local unbatched
    x, unbatched = with_batch(x, 4, "unfold", "(N,C,H,W)")
    local kernel, dilation, padding, stride = geometry("unfold", o, kernel_size)
    if padding[1] ~= 0 or padding[2] ~= 0 then
      x = F.pad(x, {padding[2], padding[2], padding[1], padding[1]})
    end
    local n, c, hp, wp = x:size(1), x:size(2), x:size(3), x:size(4)
    local index, blocks = window_index("unfold", hp, wp, kernel, dilation, stride)
    local cols = x:reshape(n, c, hp * wp):index_select(3, index)
      :reshape(n, c * kernel[1] * kernel[2], blocks[1] * blocks[2])
    if unbatched then cols = cols:squeeze(1) end
    return cols
  end

  --- Sums sliding blocks back into an image (col2im) as PyTorch's `F.fold`,
  -- the adjoint of unfold (overlapping entries add up).
  -- @param x the blocks (N, C*kh*kw, L) or unbatched (C*kh*kw, L)
  -- @param output_size an integer or {H, W}
  -- @param kernel_size an integer or {kh, kw}
  -- @param opts `{dilation = 1, padding = 0, stride = 1}` (or positionally)
  -- @return (N,C,H,W)
  -- @usage F.fold(F.unfold(x, 2, {stride = 2}), {4, 4}, 2, {stride = 2})
  function F.fold(x, output_size, kernel_size, ...)
    local o = fold_args(...)
    local unbatched
    x, unbatched = with_batch(x, 3, "fold", "(N, C*kh*kw, L)")
    local size = tuple(output_size, 2, "fold", "output_size")
    local kernel, dilation, padding, stride = geometry("fold", o, kernel_size)
    local hp, wp = size[1] + 2 * padding[1], size[2] + 2 * padding[2]
    local index, blocks = window_index("fold", hp, wp, kernel, dilation, stride)
    local n, rows, count = x:size(1), x:size(2), blocks[1] * blocks[2]
    local area = kernel[1] * kernel[2]
    if rows % area ~= 0 then
      raise(string.format("fold: expected size(2) = %d divisible by the kernel area %d",
                          rows, area))
    end
    if x:size(3) ~= count then
      raise(string.format("fold: expected %d blocks (size(3)) for output_size {%d,%d}, got %d",
                          count, size[1], size[2], x:size(3)))
    end
    local c = rows // area
    local src = x:reshape(n, c, area * count)
    local out = lg.zeros({n, c, hp * wp}, {dtype = x.dtype})
      :scatter_add(3, index:reshape(1, 1, -1):expand(n, c, area * count), src)
      :reshape(n, c, hp, wp)
    if padding[1] ~= 0 or padding[2] ~= 0 then
      out = out:narrow(3, padding[1] + 1, size[1]):narrow(4, padding[2] + 1, size[2])
    end
    if unbatched then out = out:squeeze(1) end
    return out
  end
end
