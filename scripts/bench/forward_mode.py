# (11) forward mode (issue 15), the PyTorch / functorch side of
# forward_mode.lua: functorch.jvp of the 16-32-4 MLP over functional_call,
# the plain forward, the double-vjp form; jacfwd and jacrev R^16 -> R^512;
# hessian of a scalar MLP loss in 64 parameters.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn
try:
    from torch.func import jvp, vjp, jacfwd, jacrev, hessian, functional_call
except ImportError:  # torch 1.13: functorch and nn.utils.stateless
    from functorch import jvp, vjp, jacfwd, jacrev, hessian
    from torch.nn.utils.stateless import functional_call

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
params = {k: v.detach() for k, v in model.named_parameters()}
tangents = {k: torch.randn(v.shape) for k, v in params.items()}
x = torch.randn(1, 16)


def f(p):
    return functional_call(model, p, (x,))


def double_vjp(p, t):
    out, g = vjp(f, p)
    u = torch.zeros_like(out)
    return vjp(lambda u: g(u)[0], u)[1](t)[0]


with torch.no_grad():
    B.report("jvp_mlp_forward", B.timeit(lambda: f(params)))
B.report("jvp_mlp", B.timeit(lambda: jvp(f, (params,), (tangents,))))
B.report("jvp_mlp_double_vjp", B.timeit(lambda: double_vjp(params, tangents)))

W, b = torch.randn(512, 16) * 0.25, torch.randn(512)


def wide(v):
    return torch.tanh(W @ v + b)


v = torch.randn(16)
B.report("jacfwd_16_512", B.timeit(lambda: jacfwd(wide)(v), reps=5))
B.report("jacrev_16_512", B.timeit(lambda: jacrev(wide)(v), reps=5))

xin = torch.randn(6)


def loss(theta):
    w1, w2 = theta[:48].view(8, 6), theta[48:64].view(2, 8)
    return (w2 @ torch.tanh(w1 @ xin)).square().sum()


theta = torch.randn(64) * 0.3
B.report("hessian_64", B.timeit(lambda: hessian(loss)(theta), reps=5))
