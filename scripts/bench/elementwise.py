# (4) elementwise add, mul, exp, tanh (out of place) on 4 and on 1M float32
# elements, contiguous inputs.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch

torch.manual_seed(0)
for n in (4, 1048576):
    label = "4" if n == 4 else "1M"
    a, b = torch.randn(n), torch.randn(n)
    B.report("add_" + label, B.timeit(lambda: a + b))
    B.report("mul_" + label, B.timeit(lambda: a * b))
    B.report("exp_" + label, B.timeit(lambda: a.exp()))
    B.report("tanh_" + label, B.timeit(lambda: a.tanh()))
