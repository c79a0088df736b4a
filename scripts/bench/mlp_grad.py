# (2) functorch grad over functional_call of the 16-32-4 MLP's MSE loss, batch 1.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn
import torch.nn.functional as F
try:
    from torch.func import grad, functional_call
except ImportError:  # torch 1.13: functorch and nn.utils.stateless
    from functorch import grad
    from torch.nn.utils.stateless import functional_call

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
params = {k: v.detach() for k, v in model.named_parameters()}
x, y = torch.randn(1, 16), torch.randn(1, 4)


def loss_fn(p, inp, target):
    return F.mse_loss(functional_call(model, p, (inp,)), target)


grad_fn = grad(loss_fn)
B.report("mlp_grad", B.timeit(lambda: grad_fn(params, x, y)))
