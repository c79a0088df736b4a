--- luagrad.io: saving and loading tensors: safetensors files (tensors and
-- state dicts, interchangeable with PyTorch's) and NumPy .npy files.
--
-- The reading and writing is C (runtime/io/safetensors.c, npy.c and idx.c): it checks every
-- length, offset and shape of a file and writes atomically, through a
-- temporary file beside the target that is renamed into place, so a save
-- that fails leaves the target untouched. This file checks arguments and
-- shapes the Lua-side results.
-- @module io
local lg = require "luagrad"
local check = require "luagrad.check"
local raise = check.raise

local io_ = {}

local function check_path(fname, path)
  if type(path) ~= "string" or path == "" then
    raise(("%s: expected a path (a non-empty string) as argument 1, got %s")
      :format(fname, check.typename(path) == "string" and "an empty string" or check.typename(path)))
  end
end

-- name -> tensor from a table of tensors or a module (its state dict).
local function tensors_of(fname, value)
  if type(value) == "table" and not lg.is_tensor(value)
      and type(value.state_dict) == "function" then
    value = value:state_dict()
  end
  if type(value) ~= "table" or lg.is_tensor(value) then
    raise(("%s: expected a table of tensors (name -> tensor) or a module as "
      .. "argument 2, got %s"):format(fname, lg.is_tensor(value) and "a tensor"
      or check.typename(value)))
  end
  for name, t in pairs(value) do
    if type(name) ~= "string" then
      raise(("%s: expected string names for the tensors, got the %s key %s")
        :format(fname, check.typename(name), tostring(name)))
    end
    if not lg.is_tensor(t) then
      raise(("%s: expected a tensor for '%s', got %s"):format(fname, name, check.typename(t)))
    end
  end
  return value
end

-- {format = "pt"} merged with the caller's metadata (the caller's wins).
local function metadata_of(fname, metadata)
  local merged = {format = "pt"}
  if metadata == nil then return merged end
  if type(metadata) ~= "table" then
    raise(("%s: expected a table of strings as metadata (argument 3), got %s")
      :format(fname, check.typename(metadata)))
  end
  for k, v in pairs(metadata) do
    if type(k) ~= "string" or type(v) ~= "string" then
      raise(("%s: metadata must map strings to strings, got %s -> %s")
        :format(fname, check.typename(k), check.typename(v)))
    end
    merged[k] = v
  end
  return merged
end

--- Saves tensors (a table name -> tensor, or a module's state dict) as a
--- safetensors file with `{"format": "pt"}` metadata plus `metadata`.
-- @usage lg.io.save("model.safetensors", model:state_dict())
function io_.save(path, tensors, metadata)
  check_path("io.save", path)
  local t = tensors_of("io.save", tensors)
  local meta = metadata_of("io.save", metadata)
  lg._safetensors_save(path, t, meta)
end

--- Loads a safetensors file: a table name -> tensor, and the metadata table.
-- @usage local tensors, metadata = lg.io.load("model.safetensors")
function io_.load(path)
  check_path("io.load", path)
  local tensors, metadata = lg._safetensors_load(path)
  return tensors, metadata
end

--- Saves one tensor as a .npy file (what numpy.save writes).
-- @usage lg.io.save_npy("data.npy", t)
function io_.save_npy(path, tensor)
  check_path("io.save_npy", path)
  if not lg.is_tensor(tensor) then
    raise(("io.save_npy: expected a tensor as argument 2, got %s"):format(check.typename(tensor)))
  end
  lg._npy_save(path, tensor)
end

--- Loads a .npy file (format versions 1 to 3, C order, little-endian).
-- @usage local t = lg.io.load_npy("data.npy")
function io_.load_npy(path)
  check_path("io.load_npy", path)
  return lg._npy_load(path)
end

return io_
