# (13) the PyTorch side of epoch_compile.lua: the eager Fashion-MNIST epoch
# of the MLP 784-256-10 (Adam lr 1e-3, batch 128), timed by epoch.py's own
# loader and loop, reported under epoch_mlp_compiled.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch

import epoch as E

torch.manual_seed(0)
E.bench("epoch_mlp_compiled", E.mlp(), int(os.environ.get("BENCH_EPOCH_BATCHES", "40")), 3)
