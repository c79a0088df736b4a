-- char_rnn.lua: a character-level LSTM language model. Teaches: nn.Embedding,
-- nn.LSTM and nn.Linear trained with optim.Adam and gradient clipping, then
-- sampling one character at a time with lg.multinomial. Trains on a text
-- the user passes (default the GNU GPL v3 that ships with Debian, else
-- this repository's README) on windows of --seq-len characters, printing
-- the loss and the steps per second as it goes, then samples text from the
-- model.
--
--   build/luagrad scripts/examples/char_rnn.lua [mytext.txt] --steps 500
--
-- Loaded with loadfile(...)(args...) it returns a table: losses (one per
-- step), steps_per_second, sample (the generated text) and step (a function
-- that runs one more training step; scripts/bench/char_rnn.lua times it
-- against the same model in PyTorch, scripts/bench/char_rnn.py).
local lg = require "luagrad"
local nn, F, optim = lg.nn, lg.F, lg.optim

local DEFAULTS = {
  text = "/usr/share/common-licenses/GPL-3", steps = 300, seq_len = 128,
  batch = 32, embed = 64, hidden = 256, lr = 2e-3, clip = 5, threads = 1,
  seed = 1, every = 20, sample = 300, temperature = 0.8, quiet = false,
}
local HELP = [[
usage: char_rnn.lua [TEXT] [--name value ...]
  TEXT               the training text, as --text
  --text PATH        training text (default the GPL-3, else README.md)
  --steps N          training steps (default 300)
  --seq-len N        characters per window, T (default 128)
  --batch N          windows per step (default 32)
  --embed N          character embedding size (default 64)
  --hidden N         LSTM hidden size (default 256)
  --lr X             Adam learning rate (default 2e-3)
  --clip X           gradient norm clipping (default 5)
  --threads N        threads for BLAS and kernels (default 1)
  --seed N           seed of initialisation, windows and sampling (default 1)
  --every N          print progress every N steps (default 20)
  --sample N         characters to sample at the end (default 300)
  --temperature X    sampling temperature (default 0.8)
  --quiet true       print nothing]]

-- [text path] then --name value pairs over DEFAULTS; a value takes its
-- default's type.
local function parse(argv)
  local o = {}
  for k, v in pairs(DEFAULTS) do o[k] = v end
  local first = 1
  if argv[1] ~= nil and not tostring(argv[1]):match("^%-%-") then
    o.text, first = argv[1], 2 -- char_rnn.lua mytext.txt --steps 500
  end
  for i = first, #argv, 2 do
    local key = tostring(argv[i]):match("^%-%-([%w-]+)$")
    if argv[i] == "--help" then print(HELP) os.exit(0) end
    key = key and key:gsub("-", "_")
    if not key or DEFAULTS[key] == nil or argv[i + 1] == nil then
      error("char_rnn: unknown or incomplete option '" .. tostring(argv[i]) .. "'\n" .. HELP, 0)
    end
    local kind, v = type(DEFAULTS[key]), argv[i + 1]
    if kind == "number" then v = tonumber(v) end
    if kind == "boolean" then v = v == "true" end
    if v == nil then error("char_rnn: --" .. key .. " expects a number", 0) end
    o[key] = v
  end
  return o
end

-- The bytes of the text as 1-based ids into its sorted alphabet.
local function load_text(path)
  local f = io.open(path, "rb")
  if not f then
    local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
    f = assert(io.open(root .. "/README.md", "rb"), "char_rnn: cannot read " .. path)
  end
  local text = f:read("a")
  f:close()
  local seen, chars = {}, {}
  for c in text:gmatch(".") do
    if not seen[c] then seen[c] = true chars[#chars + 1] = c end
  end
  table.sort(chars)
  local id = {}
  for i, c in ipairs(chars) do id[c] = i end
  local ids = {}
  for i = 1, #text do ids[i] = id[text:sub(i, i)] end
  return lg.tensor(ids, {dtype = "int64"}), chars
end

-- Embedding -> LSTM -> Linear over the vocabulary.
local CharRNN = nn.Module:extend("CharRNN")
function CharRNN:init(vocab, embed, hidden)
  self.embed = nn.Embedding(vocab, embed)
  self.lstm = nn.LSTM(embed, hidden)
  self.head = nn.Linear(hidden, vocab)
end
function CharRNN:forward(ids, state) -- ids (T, N) -> logits (T, N, vocab)
  local out, new_state = self.lstm(self.embed(ids), state)
  return self.head(out), new_state
end

-- Draws n characters from the model, primed with the first character.
local function sample(model, chars, n, temperature)
  local out, state = {chars[1]}, nil
  local id = lg.tensor({{1}}, {dtype = "int64"})
  lg.no_grad(function()
    model:eval()
    for _ = 2, n do
      local logits
      logits, state = model(id, state)
      local p = F.softmax(logits:view(-1) / temperature, 1)
      local pick = lg.multinomial(p, 1)[1] -- a 1-based character id
      out[#out + 1] = chars[pick]
      id = lg.tensor({{pick}}, {dtype = "int64"})
    end
    model:train()
  end)
  return table.concat(out)
end

local function main(...)
  local o = parse({...})
  lg.set_num_threads(o.threads)
  lg.manual_seed(o.seed)
  local data, chars = load_text(o.text)
  local T, N = o.seq_len, o.batch
  assert(data:size(1) > T + 1, "char_rnn: the text is shorter than one window")
  local model = CharRNN(#chars, o.embed, o.hidden)
  local opt = optim.Adam(model:parameters(), {lr = o.lr})
  local offsets = lg.arange(0, T):view(T, 1) -- window positions, (T, 1)
  local say = o.quiet and function() end or print

  -- one step on N random windows: inputs ids[t], targets ids[t + 1]
  local function step()
    local starts = lg.randint(1, data:size(1) - T, {1, N}) -- 1-based
    local where = (offsets + starts):view(-1)
    local x = data:index_select(1, where):view(T, N)
    local y = data:index_select(1, where + 1)
    local logits = model(x)
    local loss = F.cross_entropy(logits:view(T * N, #chars), y)
    opt:zero_grad()
    loss:backward()
    nn.utils.clip_grad_norm_(model:parameters(), o.clip)
    opt:step()
    return loss:item()
  end

  say(("char_rnn: %d characters, %d distinct; LSTM %d-%d-%d, T=%d, batch %d, %d thread(s)")
      :format(data:size(1), #chars, o.embed, o.hidden, #chars, T, N, o.threads))
  local losses, t0, mark = {}, lg.wall_time(), lg.wall_time()
  for s = 1, o.steps do
    losses[s] = step()
    if s % o.every == 0 or s == o.steps then
      local now = lg.wall_time()
      say(("step %5d  loss %.4f  %.2f steps/s"):format(s, losses[s],
          (s % o.every == 0 and o.every or s % o.every) / (now - mark)))
      mark = now
    end
  end
  local elapsed = lg.wall_time() - t0
  local rate = o.steps > 0 and o.steps / elapsed or 0
  local text = o.sample > 0 and sample(model, chars, o.sample, o.temperature) or ""
  say(("trained %d steps in %.1f s (%.2f steps/s)"):format(o.steps, elapsed, rate))
  if o.sample > 0 then say("--- sample ---\n" .. text .. "\n--------------") end
  return {losses = losses, steps_per_second = rate, sample = text, step = step}
end

return main(...)
