# (7) conv2d forward + backward, batch 64: 28x28 input, 1 -> 32 -> 64
# channels, 3x3 kernels, padding 1, no activation; loss = sum of the output.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn

torch.manual_seed(0)
conv1 = nn.Conv2d(1, 32, 3, padding=1)
conv2 = nn.Conv2d(32, 64, 3, padding=1)
params = list(conv1.parameters()) + list(conv2.parameters())
x = torch.randn(64, 1, 28, 28)


def step():
    for p in params:
        p.grad = None
    conv2(conv1(x)).sum().backward()


B.report("conv2d_fwd_bwd", B.timeit(step, target_s=0.1, reps=5, warmup=1))


def forward():
    with torch.no_grad():
        return conv2(conv1(x))


B.report("conv2d_fwd", B.timeit(forward, target_s=0.1, reps=5, warmup=1))
