-- train_fashion_mnist.lua: trains a classifier (an MLP or a small CNN) on
-- Fashion-MNIST from Debian's dataset-fashion-mnist package, showing
-- progress, reporting test accuracy, writing the training curves as SVG, and
-- checkpointing each epoch (resuming when the checkpoint exists). With
-- --distributed, started by mpirun, every process trains on its shard of
-- each epoch through DistributedDataParallel; rank 1 alone prints, draws the
-- curves and writes checkpoints, and the reported figures are all-reduced.
--
--   build/luagrad scripts/train_fashion_mnist.lua --model cnn --epochs 5
--   mpirun -np 2 build/luagrad scripts/train_fashion_mnist.lua --distributed
local lg = require "luagrad"
local nn, F, optim = lg.nn, lg.F, lg.optim
local data, utils, io_ = lg.data, lg.utils, lg.io

local usage = [[
usage: train_fashion_mnist.lua [options]
  --model mlp|cnn       the network (default mlp)
  --epochs N            epochs to train (default 5)
  --batch-size N        training batch size (default 128; --distributed: over
                        all processes together, each taking its share)
  --lr X                Adam learning rate, annealed to 0 on a cosine (default 1e-3)
  --threads N           threads for BLAS and kernels (default 2)
  --seed N              seed for initialisation and shuffling (default 1)
  --checkpoint PATH     save after every epoch; resume from PATH if it exists
  --stop-after N        stop after epoch N (continue later with --checkpoint)
  --curves PATH         training curves as SVG (default fashion_mnist_<model>.svg)
  --limit N             use only the first N training and test samples
  --root DIR            dataset directory (default Debian's)
  --distributed         data-parallel over the processes mpirun started
  --help                this text]]

local function parse_args(argv)
  local opts = {model = "mlp", epochs = 5, batch_size = 128, lr = 1e-3,
                threads = 2, seed = 1}
  local numeric = {epochs = true, batch_size = true, lr = true, threads = true,
                   seed = true, limit = true, stop_after = true}
  local i = 1
  while i <= #argv do
    local flag = argv[i]
    if flag == "--help" or flag == "-h" then print(usage) os.exit(0) end
    if flag == "--distributed" then
      opts.distributed, flag = true, argv[i + 1]
      i = i + 1
      if flag == nil then break end
    end
    local key = flag:match("^%-%-([%w-]+)$")
    local value = argv[i + 1]
    if not key or value == nil then
      io.stderr:write("train_fashion_mnist: bad argument '", flag, "'\n", usage, "\n")
      os.exit(2)
    end
    key = key:gsub("-", "_")
    if numeric[key] then
      local n = tonumber(value)
      if not n then
        io.stderr:write(("train_fashion_mnist: --%s expects a number, got '%s'\n")
          :format(flag:sub(3), value))
        os.exit(2)
      end
      value = n
    end
    opts[key] = value
    i = i + 2
  end
  if opts.model ~= "mlp" and opts.model ~= "cnn" then
    io.stderr:write("train_fashion_mnist: --model must be mlp or cnn, got '",
                    tostring(opts.model), "'\n")
    os.exit(2)
  end
  opts.epochs, opts.batch_size = math.tointeger(opts.epochs), math.tointeger(opts.batch_size)
  opts.curves = opts.curves or ("fashion_mnist_" .. opts.model .. ".svg")
  return opts
end

local function build_model(kind)
  if kind == "mlp" then
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
  end
  return nn.Sequential(
    nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),   -- 32 x 14 x 14
    nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),  -- 64 x 7 x 7
    nn.Flatten(), nn.Linear(64 * 7 * 7, 10))
end

-- Pixels as float32 in [0, 1], standardised with the training set's mean
-- and standard deviation.
local MEAN, STD = 0.2860, 0.3530
local function prepare(images)
  return (images:float() / 255 - MEAN) / STD
end

local function subset(dataset, limit)
  if not limit or limit >= #dataset then return dataset end
  local tensors = {}
  for k, t in ipairs(dataset.tensors) do tensors[k] = t:narrow(1, 1, limit) end
  return data.TensorDataset(table.unpack(tensors))
end

-- Sums over all processes of a few numbers (a world of one: themselves).
local function all_sum(world, ...)
  if not world then return ... end
  local t = lg.tensor({...}, {dtype = "float64"})
  lg.distributed.all_reduce(t)
  return table.unpack(t:tolist())
end

-- This process's contiguous share of a dataset (all of it without a world).
local function share(dataset, world)
  if not world then return dataset end
  local n = #dataset
  local first = (world.rank - 1) * n // world.size
  local count = world.rank * n // world.size - first
  local tensors = {}
  for k, t in ipairs(dataset.tensors) do tensors[k] = t:narrow(1, first + 1, count) end
  return data.TensorDataset(table.unpack(tensors))
end

-- Loss and accuracy of the model on a dataset, without recording gradients;
-- distributed, each process evaluates its share and the sums are reduced.
local function evaluate(model, dataset, world)
  model:eval()
  local _ <close> = lg.no_grad()
  local loader = data.DataLoader(share(dataset, world), {batch_size = 1000})
  local total_loss, correct, n = 0, 0, 0
  for x, y in loader() do
    local logits = model(prepare(x))
    local count = y:size(1)
    total_loss = total_loss + F.cross_entropy(logits, y, {reduction = "sum"}):item()
    correct = correct + logits:argmax(2):eq(y):sum():item()
    n = n + count
  end
  model:train()
  total_loss, correct, n = all_sum(world, total_loss, correct, n)
  return total_loss / n, correct / n
end

-- A checkpoint is one safetensors file: the model under "model.", the
-- optimizer's tensors under "optim.", and everything else (epoch, history,
-- optimizer numbers) as Lua literals in the metadata.
local function serialize(value)
  if type(value) == "table" then
    local parts = {}
    for k, v in pairs(value) do
      local key = type(k) == "string" and ("[%q]"):format(k) or ("[%s]"):format(k)
      parts[#parts + 1] = key .. "=" .. serialize(v)
    end
    table.sort(parts)
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "number" then
    return math.type(value) == "integer" and tostring(value) or ("%.17g"):format(value)
  end
  return ("%q"):format(value)
end

-- Splits a nested table into tensors (by dotted path) and a plain remainder.
local function split_tensors(value, prefix, tensors)
  if lg.is_tensor(value) then
    tensors[prefix] = value
    return {__tensor = prefix}
  elseif type(value) == "table" then
    local rest = {}
    for k, v in pairs(value) do rest[k] = split_tensors(v, prefix .. "." .. tostring(k), tensors) end
    return rest
  end
  return value
end

local function join_tensors(value, tensors)
  if type(value) ~= "table" then return value end
  if value.__tensor then return tensors[value.__tensor] end
  local out = {}
  for k, v in pairs(value) do out[k] = join_tensors(v, tensors) end
  return out
end

local function save_checkpoint(path, model, opt, schedule, state)
  local tensors = {}
  for name, t in pairs(model:state_dict()) do tensors["model." .. name] = t end
  local optimizer = split_tensors(opt:state_dict(), "optim", tensors)
  io_.save(path, tensors, {luagrad_state = serialize({optimizer = optimizer,
    schedule = schedule:state_dict(), run = state})})
end

local function load_checkpoint(path, model, opt, schedule)
  local tensors, metadata = io_.load(path)
  local model_sd = {}
  for name, t in pairs(tensors) do
    local short = name:match("^model%.(.+)$")
    if short then model_sd[short] = t end
  end
  model:load_state_dict(model_sd)
  local saved = load("return " .. metadata.luagrad_state, "checkpoint", "t", {})()
  opt:load_state_dict(join_tensors(saved.optimizer, tensors))
  schedule:load_state_dict(saved.schedule)
  return saved.run
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function main(argv)
  local opts = parse_args(argv)
  lg.set_num_threads(opts.threads)
  lg.manual_seed(opts.seed)
  local world, lead = nil, true -- lead: the process that prints and writes
  if opts.distributed then
    local rank, size = lg.distributed.init()
    world, lead = {rank = rank, size = size}, rank == 1
  end
  local print = lead and print or function() end
  local train_set = subset(data.fashion_mnist({split = "train", root = opts.root}), opts.limit)
  local test_set = subset(data.fashion_mnist({split = "test", root = opts.root}), opts.limit)
  local net = build_model(opts.model)
  local model = world and lg.distributed.DistributedDataParallel(net) or net
  local opt = optim.Adam(model:parameters(), {lr = opts.lr})
  local per_process = world and math.max(1, opts.batch_size // world.size) or opts.batch_size
  local loader = data.DataLoader(train_set, {batch_size = per_process, shuffle = true,
                                             seed = opts.seed, distributed = world ~= nil})
  -- the learning rate follows a cosine from lr down to 0 over the whole run
  local schedule = optim.lr_scheduler.CosineAnnealingLR(opt, opts.epochs * #loader)
  print(("luagrad %s: %s with %d parameters, %d training and %d test images, "
    .. "batch %d, Adam lr %g, %d thread(s)%s"):format(lg._VERSION, opts.model,
    net:num_parameters(), #train_set, #test_set, opts.batch_size, opts.lr, opts.threads,
    world and (", %d processes x batch %d"):format(world.size, per_process) or ""))

  local run = {epoch = 0, history = {epochs = {}, train_loss = {}, test_loss = {},
                                     train_accuracy = {}, test_accuracy = {}}}
  if opts.checkpoint and file_exists(opts.checkpoint) then
    run = load_checkpoint(opts.checkpoint, net, opt, schedule)
    print(("resumed from %s after epoch %d"):format(opts.checkpoint, run.epoch))
  end
  local history = run.history
  local started = lg.wall_time()
  local last = math.min(opts.epochs, opts.stop_after or opts.epochs)
  for epoch = run.epoch + 1, last do
    loader:set_epoch(epoch)
    local bar = utils.progress(loader, {desc = ("epoch %d/%d"):format(epoch, opts.epochs),
                                        disable = not lead})
    local correct, seen = 0, 0
    for x, y in bar() do
      opt:zero_grad()
      local logits = model(prepare(x))
      local loss = F.cross_entropy(logits, y)
      loss:backward()
      opt:step()
      schedule:step()
      lg.no_grad(function()
        correct = correct + logits:argmax(2):eq(y):sum():item()
      end)
      seen = seen + y:size(1)
      bar:set_postfix{loss = loss:item()}
    end
    local test_loss, test_accuracy = evaluate(net, test_set, world)
    local averages = bar:averages()
    if world then -- every process ran as many batches (the shards are padded)
      local loss_sum
      loss_sum, correct, seen = all_sum(world, averages.loss, correct, seen)
      averages.loss = loss_sum / world.size
    end
    history.epochs[epoch] = epoch
    history.train_loss[epoch] = averages.loss
    history.train_accuracy[epoch] = correct / seen
    history.test_loss[epoch] = test_loss
    history.test_accuracy[epoch] = test_accuracy
    print(("epoch %d: train loss %.4f, train accuracy %.2f%%, test loss %.4f, "
      .. "test accuracy %.2f%%"):format(epoch, averages.loss, 100 * correct / seen,
      test_loss, 100 * test_accuracy))
    run.epoch = epoch
    if lead then
      utils.svg_curves(opts.curves, history, {title = "Fashion-MNIST " .. opts.model})
      if opts.checkpoint then save_checkpoint(opts.checkpoint, net, opt, schedule, run) end
    end
  end
  local final = history.test_accuracy[last]
  if final then
    print(("test accuracy after %d epochs: %.2f%% (%.1f s); curves in %s"):format(
      last, 100 * final, lg.wall_time() - started, opts.curves))
  end
  return final
end

return main({...}) -- the script's arguments, as lua passes them to a chunk
