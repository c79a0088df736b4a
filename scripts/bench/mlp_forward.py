# (1) tiny MLP 16-32-4, forward, batch 1, no grad.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
x = torch.randn(1, 16)
with torch.no_grad():
    B.report("mlp_forward", B.timeit(lambda: model(x)))
