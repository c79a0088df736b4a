# sorting and einsum (issue 19): the PyTorch side of sort.lua.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch

torch.manual_seed(0)
x = torch.randn(1024, 1024)
B.report("sort_rows", B.timeit(lambda: torch.sort(x, 1)))
B.report("topk10_rows", B.timeit(lambda: torch.topk(x, 10, 1)))
q, k = torch.randn(8, 4, 128, 32), torch.randn(8, 4, 128, 32)
B.report("einsum_attention", B.timeit(lambda: torch.einsum("bhqd,bhkd->bhqk", q, k)))
a, b, c = torch.randn(64, 256), torch.randn(256, 256), torch.randn(256, 8)
B.report("einsum_chain3", B.timeit(lambda: torch.einsum("ab,bc,cd->ad", a, b, c)))
s, t = torch.randn(4, 4), torch.randn(4, 4)
B.report("einsum_tiny", B.timeit(lambda: torch.einsum("ij,jk->ik", s, t)))
