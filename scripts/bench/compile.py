# (12) the PyTorch side of compile.lua: the MLP 16-32-4 forward at batch 1
# through torch.jit (scripted, frozen, optimize_for_inference), the MLP's
# eager SGD step (zero_grad, forward, MSE, backward, step), and the chain
# ((x * 2 + 1).tanh() * y).sum() on 1M floats, eager.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
x1 = torch.randn(1, 16)
with torch.no_grad():
    jit = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    B.report("compile_mlp_forward", B.timeit(lambda: jit(x1)))

train = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.SGD(train.parameters(), lr=1e-3)
xs, ys = torch.randn(1, 16), torch.randn(1, 4)
def step():
    opt.zero_grad()
    loss = nn.functional.mse_loss(train(xs), ys)
    loss.backward()
    opt.step()
B.report("compile_train_step", B.timeit(step))

x, y = torch.randn(1000000), torch.randn(1000000)
with torch.no_grad():
    B.report("compile_chain_1M", B.timeit(lambda: ((x * 2 + 1).tanh() * y).sum()))
