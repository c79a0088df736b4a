-- Every public function that takes an options table rejects a misspelt key
-- with one message: `fname: unknown option "xyzzy" (expected a, b, ...)`,
-- the accepted names sorted (README: "Conventions"). One case per function.
local lg = require "luagrad"
local nn, F, func, optim = lg.nn, lg.nn.functional, lg.func, lg.optim

local BAD = {xyzzy = 1}

local function t(...) return lg.ones(...) end
local function grad_leaf() return lg.ones(2, {requires_grad = true}) end
local function f(x) return (x * x):sum() end

-- {fname as the message names it, call with BAD somewhere in its options}
local cases = {
  -- creation
  {"tensor", function() lg.tensor({1, 2}, BAD) end},
  {"zeros", function() lg.zeros(2, BAD) end},
  {"ones", function() lg.ones(2, 3, BAD) end},
  {"empty", function() lg.empty({2}, BAD) end},
  {"full", function() lg.full({2}, 1, BAD) end},
  {"arange", function() lg.arange(3, BAD) end},
  {"linspace", function() lg.linspace(0, 1, 3, BAD) end},
  {"eye", function() lg.eye(2, BAD) end},
  {"rand", function() lg.rand(2, BAD) end},
  {"randn", function() lg.randn(2, BAD) end},
  {"randint", function() lg.randint(0, 3, {2}, BAD) end},
  {"randperm", function() lg.randperm(3, BAD) end},
  {"zeros_like", function() lg.zeros_like(t(2), BAD) end},
  {"ones_like", function() lg.ones_like(t(2), BAD) end},
  {"empty_like", function() lg.empty_like(t(2), BAD) end},
  {"full_like", function() lg.full_like(t(2), 3, BAD) end},
  {"rand_like", function() lg.rand_like(t(2), BAD) end},
  {"randn_like", function() lg.randn_like(t(2), BAD) end},
  {"randint_like", function() lg.randint_like(t(2), 5, BAD) end},
  {"to", function() t(2):to(BAD) end},
  -- reductions (keepdim; var and std also unbiased, correction)
  {"sum", function() t(2, 3):sum(1, BAD) end},
  {"mean", function() t(2, 3):mean(BAD) end},
  {"prod", function() t(2, 3):prod(2, BAD) end},
  {"amax", function() t(2, 3):amax(1, BAD) end},
  {"amin", function() t(2, 3):amin(1, BAD) end},
  {"logsumexp", function() t(2, 3):logsumexp(1, BAD) end},
  {"all", function() t(2, 3):bool():all(1, BAD) end},
  {"any", function() t(2, 3):bool():any(1, BAD) end},
  {"max", function() t(2, 3):max(1, BAD) end},
  {"min", function() t(2, 3):min(BAD) end},
  {"argmax", function() t(2, 3):argmax(1, BAD) end},
  {"argmin", function() t(2, 3):argmin(1, BAD) end},
  {"var", function() t(2, 3):var(1, BAD) end},
  {"std", function() t(2, 3):std(BAD) end},
  {"norm", function() t(2, 3):norm(2, 1, BAD) end},
  -- out= and the other option tables of ops
  {"exp", function() lg.exp(t(2), BAD) end},
  {"add", function() lg.add(t(2), t(2), BAD) end},
  {"clamp", function() t(2):clamp(BAD) end},
  {"matmul", function() lg.matmul(t(2, 2), t(2, 2), BAD) end},
  {"mm", function() lg.mm(t(2, 2), t(2, 2), BAD) end},
  {"addmm", function() lg.addmm(t(2, 2), t(2, 2), t(2, 2), BAD) end},
  {"isnan", function() lg.isnan(t(2), BAD) end},
  {"nan_to_num", function() t(2):nan_to_num(BAD) end},
  {"nan_to_num_", function() t(2):nan_to_num_(BAD) end},
  {"isclose", function() lg.isclose(t(2), t(2), BAD) end},
  {"allclose", function() t(2):allclose(t(2), BAD) end},
  -- sampling
  {"multinomial", function() lg.multinomial(t(3), 2, BAD) end},
  {"bernoulli", function() lg.bernoulli(t(2), BAD) end},
  {"normal", function() lg.normal(0, 1, 2, BAD) end},
  {"uniform_", function() t(2):uniform_(BAD) end},
  {"normal_", function() t(2):normal_(BAD) end},
  -- autograd
  {"backward", function() (grad_leaf() * 2):sum():backward(BAD) end},
  {"grad", function() local x = grad_leaf(); lg.autograd.grad((x * 2):sum(), x, BAD) end},
  {"backward", function() lg.autograd.backward((grad_leaf() * 2):sum(), nil, BAD) end},
  {"Function", function()
    lg.autograd.Function{forward = function(_, x) return x end, backward = function(_, g) return g end, xyzzy = 1}
  end},
  {"gradcheck", function() lg.autograd.gradcheck(f, {grad_leaf():double()}, BAD) end},
  {"gradgradcheck", function() lg.autograd.gradgradcheck(f, {grad_leaf():double()}, BAD) end},
  -- func
  {"grad", function() func.grad(f, BAD) end},
  {"grad_and_value", function() func.grad_and_value(f, BAD) end},
  {"vjp", function() func.vjp({f, xyzzy = 1}, t(2)) end},
  {"jvp", function() func.jvp(f, {t(2)}, {t(2)}, BAD) end},
  {"jacrev", function() func.jacrev(f, BAD) end},
  {"jacfwd", function() func.jacfwd(f, BAD) end},
  {"hessian", function() func.hessian(f, BAD) end},
  {"functional_call", function() func.functional_call(nn.Linear(2, 2), {}, t(2), nil, BAD) end},
  -- nn.functional
  {"conv1d", function() F.conv1d(t(1, 1, 5), t(1, 1, 3), BAD) end},
  {"conv2d", function() F.conv2d(t(1, 1, 5, 5), t(1, 1, 3, 3), BAD) end},
  {"conv_transpose2d", function() F.conv_transpose2d(t(1, 1, 3, 3), t(1, 1, 2, 2), BAD) end},
  {"max_pool2d", function() F.max_pool2d(t(1, 1, 4, 4), 2, BAD) end},
  {"avg_pool2d", function() F.avg_pool2d(t(1, 1, 4, 4), 2, BAD) end},
  {"batch_norm", function() F.batch_norm(t(2, 3), lg.zeros(3), t(3), BAD) end},
  {"layer_norm", function() F.layer_norm(t(2, 3), {3}, BAD) end},
  {"group_norm", function() F.group_norm(t(2, 4), 2, BAD) end},
  {"embedding", function() F.embedding(lg.tensor({1, 2}), t(3, 2), BAD) end},
  {"dropout", function() F.dropout(t(2), BAD) end},
  {"softplus", function() F.softplus(t(2), BAD) end},
  {"leaky_relu", function() F.leaky_relu(t(2), BAD) end},
  {"gelu", function() F.gelu(t(2), BAD) end},
  {"softmax", function() F.softmax(t(2), BAD) end},
  {"log_softmax", function() F.log_softmax(t(2), BAD) end},
  {"mse_loss", function() F.mse_loss(t(2), t(2), BAD) end},
  {"l1_loss", function() F.l1_loss(t(2), t(2), BAD) end},
  {"smooth_l1_loss", function() F.smooth_l1_loss(t(2), t(2), BAD) end},
  {"huber_loss", function() F.huber_loss(t(2), t(2), BAD) end},
  {"cross_entropy", function() F.cross_entropy(t(2, 3), lg.tensor({1, 2}), BAD) end},
  {"nll_loss", function() F.nll_loss(t(2, 3), lg.tensor({1, 2}), BAD) end},
  {"binary_cross_entropy", function() F.binary_cross_entropy(t(2) * 0.5, t(2), BAD) end},
  {"binary_cross_entropy_with_logits",
   function() F.binary_cross_entropy_with_logits(t(2), t(2), BAD) end},
  {"kl_div", function() F.kl_div(t(2), t(2), BAD) end},
  -- layers
  {"Linear", function() nn.Linear(2, 3, BAD) end},
  {"Conv1d", function() nn.Conv1d(1, 1, 3, BAD) end},
  {"Conv2d", function() nn.Conv2d(1, 1, 3, BAD) end},
  {"ConvTranspose2d", function() nn.ConvTranspose2d(1, 1, 3, BAD) end},
  {"MaxPool2d", function() nn.MaxPool2d(2, BAD) end},
  {"AvgPool2d", function() nn.AvgPool2d(2, BAD) end},
  {"BatchNorm1d", function() nn.BatchNorm1d(3, BAD) end},
  {"BatchNorm2d", function() nn.BatchNorm2d(3, BAD) end},
  {"LayerNorm", function() nn.LayerNorm(3, BAD) end},
  {"GroupNorm", function() nn.GroupNorm(1, 3, BAD) end},
  {"Embedding", function() nn.Embedding(5, 3, BAD) end},
  {"Dropout", function() nn.Dropout(BAD) end},
  {"LeakyReLU", function() nn.LeakyReLU(BAD) end},
  {"GELU", function() nn.GELU(BAD) end},
  {"Softmax", function() nn.Softmax(BAD) end},
  {"LogSoftmax", function() nn.LogSoftmax(BAD) end},
  {"Flatten", function() nn.Flatten(BAD) end},
  {"MultiheadAttention", function() nn.MultiheadAttention(4, 2, BAD) end},
  {"MultiheadAttention.forward",
   function() local m = nn.MultiheadAttention(4, 2); m(t(2, 1, 4), t(2, 1, 4), t(2, 1, 4), BAD) end},
  {"TransformerEncoderLayer", function() nn.TransformerEncoderLayer(4, 2, BAD) end},
  {"TransformerEncoderLayer.forward",
   function() local m = nn.TransformerEncoderLayer(4, 2); m(t(2, 1, 4), BAD) end},
  {"RNN", function() nn.RNN(2, 3, BAD) end},
  {"LSTM", function() nn.LSTM(2, 3, BAD) end},
  {"GRU", function() nn.GRU(2, 3, BAD) end},
  {"MSELoss", function() nn.MSELoss(BAD) end},
  {"L1Loss", function() nn.L1Loss(BAD) end},
  {"SmoothL1Loss", function() nn.SmoothL1Loss(BAD) end},
  {"HuberLoss", function() nn.HuberLoss(BAD) end},
  {"KLDivLoss", function() nn.KLDivLoss(BAD) end},
  {"CrossEntropyLoss", function() nn.CrossEntropyLoss(BAD) end},
  {"NLLLoss", function() nn.NLLLoss(BAD) end},
  {"BCELoss", function() nn.BCELoss(BAD) end},
  {"BCEWithLogitsLoss", function() nn.BCEWithLogitsLoss(BAD) end},
  -- module methods
  {"parameters", function() nn.Linear(2, 2):parameters(BAD) end},
  {"named_parameters", function() nn.Linear(2, 2):named_parameters(BAD) end},
  {"named_parameters", function() nn.Linear(2, 2):named_parameters_list(BAD) end},
  {"buffers", function() nn.Linear(2, 2):buffers(BAD) end},
  {"named_buffers", function() nn.Linear(2, 2):named_buffers(BAD) end},
  {"named_buffers", function() nn.Linear(2, 2):named_buffers_list(BAD) end},
  {"named_modules", function() nn.Linear(2, 2):named_modules(BAD) end},
  {"num_parameters", function() nn.Linear(2, 2):num_parameters(BAD) end},
  {"state_dict", function() nn.Linear(2, 2):state_dict(BAD) end},
  {"state_dict", function() nn.Linear(2, 2):state_dict_list(BAD) end},
  {"load_state_dict", function() local m = nn.Linear(2, 2); m:load_state_dict(m:state_dict(), BAD) end},
  -- nn.init and nn.utils
  {"uniform_", function() nn.init.uniform_(t(2), BAD) end},
  {"normal_", function() nn.init.normal_(t(2), BAD) end},
  {"xavier_uniform_", function() nn.init.xavier_uniform_(t(2, 2), BAD) end},
  {"xavier_normal_", function() nn.init.xavier_normal_(t(2, 2), BAD) end},
  {"kaiming_uniform_", function() nn.init.kaiming_uniform_(t(2, 2), BAD) end},
  {"kaiming_normal_", function() nn.init.kaiming_normal_(t(2, 2), BAD) end},
  {"orthogonal_", function() nn.init.orthogonal_(t(2, 2), BAD) end},
  {"clip_grad_norm_", function() nn.utils.clip_grad_norm_({grad_leaf()}, 1, 2, BAD) end},
  {"register_parametrization", function()
    nn.utils.parametrize.register_parametrization(nn.Linear(2, 2), "weight", function(w) return w end, BAD)
  end},
  {"remove_parametrizations", function()
    local m = nn.Linear(2, 2)
    nn.utils.parametrize.register_parametrization(m, "weight", function(w) return w end)
    nn.utils.parametrize.remove_parametrizations(m, "weight", BAD)
  end},
  -- optim
  {"SGD", function() optim.SGD({grad_leaf()}, BAD) end},
  {"Adam", function() optim.Adam({grad_leaf()}, BAD) end},
  {"AdamW", function() optim.AdamW({grad_leaf()}, BAD) end},
  {"RMSprop", function() optim.RMSprop({grad_leaf()}, BAD) end},
  {"Adagrad", function() optim.Adagrad({grad_leaf()}, BAD) end},
  {"fn.sgd", function() optim.fn.sgd(BAD) end},
  {"fn.adam", function() optim.fn.adam(BAD) end},
  {"fn.adamw", function() optim.fn.adamw(BAD) end},
  {"fn.rmsprop", function() optim.fn.rmsprop(BAD) end},
  {"fn.adagrad", function() optim.fn.adagrad(BAD) end},
  {"OneCycleLR", function()
    optim.lr_scheduler.OneCycleLR(optim.SGD({grad_leaf()}, {lr = 0.1}), 0.1, 10, BAD)
  end},
  -- data and utils
  {"DataLoader", function() lg.data.DataLoader(lg.data.TensorDataset(t(4, 2)), BAD) end},
  {"fashion_mnist", function() lg.data.fashion_mnist(BAD) end},
  {"progress", function() lg.utils.progress(3, BAD) end},
  {"svg_curves", function() lg.utils.svg_curves(os.tmpname(), {epochs = {1}}, BAD) end},
}

describe("options", function()
  it("a misspelt key is an error naming the function and the accepted names", function()
    for i, case in ipairs(cases) do
      local name, call = case[1], case[2]
      local ok, err = pcall(call)
      assert.is_false(ok, ("case %d (%s) raised no error"):format(i, name))
      local pattern = "^[^\n]-" .. name:gsub("%p", "%%%0") .. ': unknown option "xyzzy" %(expected [%w_, ]+%)$'
      assert.is_truthy(tostring(err):match(pattern),
                       ("case %d (%s): %s"):format(i, name, tostring(err)))
    end
  end)

  it("lists the accepted names sorted, in C and in Lua alike", function()
    assert.has_error(function() lg.zeros(2, {dtpye = "int64"}) end,
                     'zeros: unknown option "dtpye" (expected dtype, requires_grad)')
    assert.error_matches(function() t(2):var({unbaised = true}) end,
                         'var: unknown option "unbaised" %(expected correction, keepdim, unbiased%)$')
    assert.error_matches(function() func.grad(f, {argnum = 1}) end,
                         'grad: unknown option "argnum" %(expected argnums, has_aux%)$')
    assert.error_matches(function() optim.SGD({grad_leaf()}, {lrr = 1}) end,
                         'SGD: unknown option "lrr" %(expected dampening, lr, maximize, momentum, nesterov, weight_decay%)$')
  end)

  it("names a key that is not a string as it is", function()
    assert.has_error(function() lg.zeros(2, {"int64"}) end,
                     "zeros: unknown option 1 (expected dtype, requires_grad)")
  end)

  it("still honours the options it knows", function()
    local z = lg.zeros(2, {dtype = "int64", requires_grad = false})
    assert.are.equal("int64", z.dtype)
    assert.are.same({2, 1}, t(2, 3):sum(2, {keepdim = true}).shape)
    local x = grad_leaf()
    local g = lg.autograd.grad((x * 3):sum(), x, {create_graph = false})[1]
    assert.are.same({3, 3}, g:tolist())
  end)
end)
