# (10) One training step of the char_rnn model in PyTorch: the same
# embedding 64 -> LSTM 256 -> linear head, T=128, batch 32, Adam with
# gradient clipping, on the same text as scripts/examples/char_rnn.lua.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
from torch import nn
import torch.nn.functional as F

path = "/usr/share/common-licenses/GPL-3"
if not os.path.exists(path):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../README.md")
text = open(path, "rb").read()
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
data = torch.tensor([index[c] for c in text], dtype=torch.int64)
T, N = 128, 32


class CharRNN(nn.Module):
    def __init__(self, vocab, embed, hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        out, _ = self.lstm(self.embed(ids))
        return self.head(out)


torch.manual_seed(1)
model = CharRNN(len(chars), 64, 256)
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
offsets = torch.arange(T).view(T, 1)


def step():
    starts = torch.randint(0, len(data) - T - 1, (1, N))
    where = (offsets + starts).view(-1)
    x = data[where].view(T, N)
    y = data[where + 1]
    loss = F.cross_entropy(model(x).view(T * N, len(chars)), y)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 5)
    opt.step()
    return loss.item()


B.report("char_rnn_step", B.timeit(step, target_s=0.5, reps=5, warmup=2))
