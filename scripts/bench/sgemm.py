# (6) sgemm (1024,1024) x (1024,1024) float32 through torch.mm (for reference;
# the target compares luagrad with sgemm_direct).
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch

torch.manual_seed(0)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
B.report("sgemm", B.timeit(lambda: torch.mm(a, b), target_s=0.02, reps=9, warmup=2))
