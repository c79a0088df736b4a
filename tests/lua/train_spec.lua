-- train_spec.lua: the main job in small: scripts/train_fashion_mnist.lua on
-- a subset of Debian's Fashion-MNIST reaches a loss and accuracy threshold,
-- the same seed gives the same accuracy, and resuming from a checkpoint
-- continues exactly like an uninterrupted run.
local lg = require "luagrad"
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
local script = root .. "/scripts/train_fashion_mnist.lua"
local dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local tmp = os.tmpname()
os.remove(tmp)
local function run(args)
  return assert(loadfile(script))(table.unpack(args))
end
local function common(extra)
  local args = {"--limit", "3000", "--epochs", "2", "--batch-size", "64",
                "--threads", "1", "--curves", tmp .. ".svg"}
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return args
end

local describe_if = exists(dataset) and describe or pending

describe_if("training on Fashion-MNIST (3000 images)", function()
  teardown(function()
    os.remove(tmp .. ".svg")
    os.remove(tmp .. ".ckpt")
  end)

  it("learns: test accuracy above 70% after two epochs, curves written", function()
    local accuracy = run(common())
    assert.is_true(accuracy > 0.70, ("accuracy %.4f"):format(accuracy))
    local f = assert(io.open(tmp .. ".svg"))
    local svg = f:read("a")
    f:close()
    assert.truthy(svg:find("<svg", 1, true))
    assert.truthy(svg:find("Accuracy", 1, true))
  end)

  it("gives the same accuracy for the same seed", function()
    local a = run(common({"--seed", "3"}))
    local b = run(common({"--seed", "3"}))
    assert.are.equal(a, b)
  end)

  it("resumes from a checkpoint exactly where it stopped", function()
    local straight = run(common({"--seed", "5"}))
    os.remove(tmp .. ".ckpt")
    run(common({"--seed", "5", "--checkpoint", tmp .. ".ckpt", "--stop-after", "1"}))
    assert.is_true(exists(tmp .. ".ckpt"))
    local resumed = run(common({"--seed", "5", "--checkpoint", tmp .. ".ckpt"}))
    assert.are.equal(straight, resumed)
  end)
end)
