# (9) nn.LSTM forward+backward: batch 32, input 64, hidden 128, over T=64
# and T=512 steps. gru.py runs this file with RNN_MODE = "GRU".
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch

mode = globals().get("RNN_MODE", "LSTM")
torch.manual_seed(0)
rnn = getattr(torch.nn, mode)(64, 128)
for steps in (64, 512):
    x = torch.randn(steps, 32, 64)

    def step():
        rnn.zero_grad()
        out, _ = rnn(x)
        out.sum().backward()

    B.report(mode.lower() + "_T%d" % steps, B.timeit(step, target_s=0.2, reps=7))
