# (9) functorch's halves of per_sample_grads.lua: vmap(grad) over
# functional_call of the 784-128-10 MLP, batch 64; the same per-example loop
# with grad; the ensemble of 10 MLPs (stack_module_state + vmap, forward);
# jacrev of a 64->64 two-layer tanh MLP.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn
import torch.nn.functional as F
try:
    from torch.func import grad, vmap, jacrev, functional_call, stack_module_state
except ImportError:  # torch 1.13: functorch and nn.utils.stateless
    from functorch import grad, vmap, jacrev
    from functorch import combine_state_for_ensemble
    from torch.nn.utils.stateless import functional_call
    stack_module_state = None

torch.manual_seed(0)


def mlp():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


model = mlp()
params = {k: v.detach() for k, v in model.named_parameters()}
x, t = torch.randn(64, 784), torch.randint(0, 10, (64,))


def loss_fn(p, xi, ti):
    return F.cross_entropy(functional_call(model, p, (xi.unsqueeze(0),)), ti.unsqueeze(0))


psg = vmap(grad(loss_fn), in_dims=(None, 0, 0))
B.report("per_sample_grads", B.timeit(lambda: psg(params, x, t)))
g = grad(loss_fn)
B.report("per_sample_grads_loop", B.timeit(lambda: [g(params, x[i], t[i]) for i in range(64)]))

models = [mlp() for _ in range(10)]
if stack_module_state is not None:
    sp, sb = stack_module_state(models)

    def call(p, b, v):
        return functional_call(models[0], (p, b), (v,))
    ens = vmap(call, in_dims=(0, 0, None))
    B.report("ensemble_forward", B.timeit(lambda: ens(sp, sb, x)))
else:
    fmodel, sp, sb = combine_state_for_ensemble(models)
    sp = tuple(p.detach() for p in sp)
    ens = vmap(fmodel, in_dims=(0, 0, None))
    B.report("ensemble_forward", B.timeit(lambda: ens(sp, sb, x)))

W1, W2 = torch.randn(64, 64) / 8, torch.randn(64, 64) / 8
jf = jacrev(lambda v: torch.tanh(W2 @ torch.tanh(W1 @ v)))
v = torch.randn(64)
B.report("jacrev", B.timeit(lambda: jf(v)))
