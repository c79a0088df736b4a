# (5) sum, mean and softmax over the rows of a 1024x1024 float32 matrix
# (reducing the last dim: one result per row).
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch

torch.manual_seed(0)
x = torch.randn(1024, 1024)
B.report("sum_rows", B.timeit(lambda: x.sum(1)))
B.report("mean_rows", B.timeit(lambda: x.mean(1)))
B.report("softmax_rows", B.timeit(lambda: torch.softmax(x, 1)))
