-- checkpoint_spec.lua: a process killed (SIGKILL) in the middle of saving a
-- checkpoint never leaves a corrupt file at the target path. A writer
-- subprocess (the luagrad executable running a small script) saves a
-- ~8 MB module state over and over to one path, alternating module:save
-- and lg.io.save, every tensor of save i filled with the value i. It is
-- killed at random moments, several times; after each kill the path is
-- either absent (killed before the first save finished) or a complete
-- file that loads, whose tensors all hold the value of one single save.
--
-- Temporary files: a save writes "<path>.tmp-<pid>-<n>" and renames it
-- over the path, so a kill can leave that temporary behind. Nothing
-- removes it later (the next save uses a new name and does not sweep), so
-- they accumulate, at most one per killed save; this spec checks that
-- bound and that no temporary is ever left by a save that finished.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local root = H.root
local exe = os.getenv("LUAGRAD_EXE") or (root .. "/build/luagrad")

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function alive(pid)
  local stat = read("/proc/" .. pid .. "/stat")
  if stat == "" then return false end
  return not stat:match("^%d+ %b() Z") -- a zombie nobody reaped is dead
end

local function sleep(seconds) os.execute(("sleep %.3f"):format(seconds)) end

local writer_source = [[
local lg = require "luagrad"
local nn = lg.nn
local path = arg[1]
lg.manual_seed(1)
local model = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 512),
                            nn.LayerNorm(512))
local i = 0
while true do
  i = i + 1
  lg.no_grad(function()
    for _, p in ipairs(model:parameters()) do p:fill_(i) end
  end)
  if i % 2 == 1 then
    model:save(path, {iteration = tostring(i)})
  else
    lg.io.save(path, model:state_dict(), {iteration = tostring(i)})
  end
  io.stdout:write("saved ", i, "\n")
  io.stdout:flush()
end
]]

-- The file at path: nil when absent; else its iteration, after checking
-- that it loads and that every tensor holds that one iteration's value.
local function check_checkpoint(path)
  if not exists(path) then return nil end
  local ok, tensors, metadata = pcall(lg.io.load, path)
  assert.is_true(ok, "the checkpoint does not load: " .. tostring(tensors))
  local iteration = tonumber(metadata.iteration)
  assert.is_not_nil(iteration, "the checkpoint lost its metadata")
  local names = {}
  for name in pairs(tensors) do names[#names + 1] = name end
  assert.are.equal(6, #names, "expected the 6 tensors of the model")
  local shapes = {["1.weight"] = {1024, 512}, ["1.bias"] = {1024},
                  ["3.weight"] = {512, 1024}, ["3.bias"] = {512},
                  ["4.weight"] = {512}, ["4.bias"] = {512}}
  for name, t in pairs(tensors) do
    assert.are.same(shapes[name], t.shape, name)
    assert.are.equal(iteration, t:min():item(), name .. " mixes two saves")
    assert.are.equal(iteration, t:max():item(), name .. " mixes two saves")
  end
  return iteration
end

describe("checkpoints under SIGKILL", function()
  it("leave the target absent or complete, never corrupt", function()
    local dir = sh("mktemp -d /tmp/lg_checkpoint_XXXXXX"):gsub("%s+$", "")
    assert.is_true(#dir > 0)
    local script, path = dir .. "/writer.lua", dir .. "/model.safetensors"
    local f = assert(io.open(script, "w"))
    f:write(writer_source)
    f:close()
    math.randomseed(20261126)
    local kills, complete, stray_max = 8, 0, 0
    local mid_write_kills = 0
    for trial = 1, kills do
      local log = dir .. "/writer" .. trial .. ".log"
      local pid = sh(("%q %q %q > %q 2>&1 & echo $!"):format(exe, script, path, log))
        :match("%d+")
      assert.is_not_nil(pid, "could not start the writer")
      if trial > 1 then
        -- wait for one save of this writer, so the kill hits an overwrite
        for _ = 1, 600 do
          if read(log):find("saved 1\n", 1, true) or not alive(pid) then break end
          sleep(0.01)
        end
      end
      sleep(math.random() * (trial == 1 and 0.05 or 0.3))
      os.execute("kill -9 " .. pid .. " 2>/dev/null")
      for _ = 1, 500 do
        if not alive(pid) then break end
        sleep(0.01)
      end
      assert.is_false(alive(pid), "the writer survived SIGKILL")
      local text = read(log)
      assert.is_nil(text:find("rror"), "the writer failed: " .. text)
      local saves = 0
      for n in text:gmatch("saved (%d+)") do saves = tonumber(n) end
      local iteration = check_checkpoint(path)
      if iteration then
        complete = complete + 1
        -- the file is the last finished save, or the one being written
        -- when the kill came (renamed, but not yet reported)
        if trial > 1 then
          assert.is_true(iteration == saves or iteration == saves + 1,
            ("trial %d: file of save %d, writer reported %d"):format(trial, iteration, saves))
        end
      else
        assert.are.equal(0, saves, "the file vanished after a finished save")
      end
      local strays = 0
      for name in sh(("ls -A %q"):format(dir)):gmatch("[^\n]+") do
        if name:find("^model%.safetensors%.tmp%-") then
          strays = strays + 1
          if name:find("%-" .. pid .. "%-") then mid_write_kills = mid_write_kills + 1 end
        end
      end
      assert.is_true(strays <= trial, ("%d temporaries after %d kills"):format(strays, trial))
      stray_max = strays
    end
    assert.is_true(complete >= kills - 1, "most kills came after a finished save")
    -- a clean save from here replaces the file, leaves no temporary of its
    -- own and sweeps those the killed writers left (their processes ended)
    lg.io.save(path, {x = lg.ones(2)})
    assert.are.same({2}, lg.io.load(path).x.shape)
    local after = 0
    for name in sh(("ls -A %q"):format(dir)):gmatch("[^\n]+") do
      if name:find("%.tmp%-") then after = after + 1 end
    end
    assert.are.equal(0, after)
    print(("\ncheckpoint: %d kills, %d mid-write (temporary left), at most %d stray "
      .. "temporaries at once, none after a clean save"):format(kills,
      mid_write_kills, stray_max))
    os.execute(("rm -rf %q"):format(dir))
  end)
end)
