-- policy.lua: the example host's policy, a small MLP (obs -> actions) run
-- every frame with no allocation, trained now and then with SGD.
--
-- The host loads this file as a chunk and calls it with a config table and
-- the tensors it wrapped over its own buffers: obs (1, n_obs), act (1, n_act)
-- and a training batch (batch_obs (B, n_obs), batch_target (B, n_act)). It
-- returns the agent: act(), train(), state_dict(), load_state_dict(sd).
-- Edit this file while the host runs: it is reloaded, keeping the weights.
local lg = require "luagrad"
local nn, F = lg.nn, lg.F

local cfg, io = ...

local Policy = nn.Module:extend("Policy")
function Policy:init(n_obs, hidden, n_act)
  self.fc1 = nn.Linear(n_obs, hidden)
  self.fc2 = nn.Linear(hidden, n_act)
end
function Policy:forward(x)
  return lg.tanh(self.fc2(lg.relu(self.fc1(x))))
end

local net = Policy(cfg.n_obs, cfg.hidden, cfg.n_act)
local opt = lg.optim.SGD(net:parameters(), {lr = cfg.lr, momentum = 0.9})

-- The inference path allocates nothing once warm: the weights are read
-- through detached views made once (SGD updates the parameters in place, so
-- the views follow), the hidden activation is a preallocated tensor, the
-- option tables are made here, and every op writes into its out tensor.
local obs, act = io.obs, io.act
local hidden = lg.empty(1, cfg.hidden)
local into_hidden, into_act = {out = hidden}, {out = act}
local w1t, b1, w2t, b2
local function bind_weights()
  w1t, b1 = net.fc1.weight:detach():t(), net.fc1.bias:detach()
  w2t, b2 = net.fc2.weight:detach():t(), net.fc2.bias:detach()
end
bind_weights()

local addmm, relu, tanh = lg.addmm, lg.relu, lg.tanh
local agent = {}

--- act(): act = tanh(relu(obs W1^T + b1) W2^T + b2), written into the
--- host's action buffer.
function agent.act()
  addmm(b1, obs, w1t, into_hidden)
  relu(hidden, into_hidden)
  addmm(b2, hidden, w2t, into_act)
  tanh(act, into_act)
end

--- policy(obs): the same forward as a function of the observation,
--- compiled (func.compile): the host takes the plan of its first guard and
--- runs it from C every frame with lg_plan_run, without entering Lua. The
--- weights are the detached views above, read at every run, so training's
--- in-place updates are seen; reuse_outputs makes a run allocate nothing.
agent.policy = lg.func.compile(function(x)
  return tanh(addmm(b2, relu(addmm(b1, x, w1t)), w2t))
end, {reuse_outputs = true})

--- train(): one SGD step on the host's batch (mse to the expert actions);
--- returns the loss. Allocates as training does; the host runs it between
--- frames.
function agent.train()
  opt:zero_grad()
  local loss = F.mse_loss(net(io.batch_obs), io.batch_target)
  loss:backward()
  opt:step()
  return loss:item()
end

function agent.state_dict() return net:state_dict() end

--- load_state_dict(sd): copies weights in place (the views stay valid).
function agent.load_state_dict(sd)
  net:load_state_dict(sd)
  bind_weights()
end

return agent
