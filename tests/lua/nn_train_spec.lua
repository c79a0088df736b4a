-- nn_train_spec.lua: a small MLP and a small CNN trained a few steps with
-- plain SGD (p <- p - lr * grad) on synthetic data lower their loss, and
-- the same seed gives the same losses.
local H = dofile((os.getenv("LUAGRAD_SOURCE_DIR") or ".") .. "/tests/lua/helpers.lua")
local lg = H.lg
local nn = require "luagrad.nn"
local F = lg.F

-- Runs steps of SGD on model with loss_fn(model) and returns the losses.
local function train(model, loss_fn, steps, lr)
  local losses = {}
  for step = 1, steps do
    model:zero_grad()
    local loss = loss_fn(model)
    loss:backward()
    losses[step] = loss:item()
    lg.no_grad(function()
      for _, p in ipairs(model:parameters()) do p:sub_(p.grad * lr) end
    end)
  end
  return losses
end

local function mlp_run(seed)
  lg.manual_seed(seed)
  local x = lg.randn(64, 4)
  -- labels from a fixed linear rule: class 1..3
  local scores = x:matmul(lg.tensor({{1, -1, 0}, {0.5, 1, -1}, {-1, 0, 1}, {0, 0.5, 0.5}},
                                    {dtype = "float32"}))
  local _, y = scores:max(2)
  local model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
  return train(model, function(m) return F.cross_entropy(m(x), y) end, 30, 0.5)
end

local function cnn_run(seed)
  lg.manual_seed(seed)
  -- images whose class says whether the bright blob is in the top or bottom half
  local x = lg.randn(16, 1, 8, 8) * 0.3
  local y = lg.zeros(16, {dtype = "int64"})
  for i = 1, 16 do
    local cls = i % 2 + 1
    y[i] = cls
    local row = cls == 1 and 2 or 6
    x[{i, 1, {row, row + 1}, {3, 6}}] = 2
  end
  local Net = nn.Module:extend("SmallCNN")
  function Net:init()
    self.conv = nn.Conv2d(1, 4, 3, {padding = 1})
    self.bn = nn.BatchNorm2d(4)
    self.pool = nn.MaxPool2d(2)
    self.fc = nn.Linear(4 * 4 * 4, 2)
  end
  function Net:forward(input)
    local h = self.pool(F.relu(self.bn(self.conv(input))))
    return self.fc(h:flatten(2))
  end
  local model = Net()
  return train(model, function(m) return F.cross_entropy(m(x), y) end, 15, 0.1), model
end

describe("training with SGD", function()
  it("lowers an MLP's cross-entropy", function()
    local losses = mlp_run(11)
    assert.is_true(losses[#losses] < 0.6 * losses[1],
                   string.format("loss %.4f -> %.4f", losses[1], losses[#losses]))
    for i = 2, 5 do assert.is_true(losses[i] < losses[1]) end
  end)

  it("lowers a CNN's cross-entropy and moves BatchNorm's statistics", function()
    local losses, model = cnn_run(12)
    assert.is_true(losses[#losses] < 0.5 * losses[1],
                   string.format("loss %.4f -> %.4f", losses[1], losses[#losses]))
    assert.are.equal(15, model.bn.num_batches_tracked:item())
    assert.is_true(model.bn.running_mean:abs():sum():item() > 0)
    model:eval()
    local out = model(lg.zeros(2, 1, 8, 8))
    assert.are.same({2, 2}, H.shape(out))
  end)

  it("is deterministic under lg.manual_seed", function()
    assert.are.same(mlp_run(3), mlp_run(3))
    assert.are.same((cnn_run(4)), (cnn_run(4)))
  end)
end)
