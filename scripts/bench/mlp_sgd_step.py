# (3) one SGD training step of the 16-32-4 MLP, batch 1:
# zero_grad, forward, MSE loss, backward, step.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn
import torch.nn.functional as F

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
x, y = torch.randn(1, 16), torch.randn(1, 4)


def step():
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()


B.report("mlp_sgd_step", B.timeit(step))
