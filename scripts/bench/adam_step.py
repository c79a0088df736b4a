# (12) one Adam step (and one AdamW step) on the parameters of the
# Fashion-MNIST MLP 784-256-10 (203,530 float32 parameters), gradients
# already in .grad (PyTorch's default single-tensor implementation).
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
for p in model.parameters():
    p.grad = torch.randn_like(p)
for kind in ("Adam", "AdamW"):
    opt = getattr(torch.optim, kind)(model.parameters(), lr=1e-3)
    B.report(kind.lower() + "_step", B.timeit(opt.step))
