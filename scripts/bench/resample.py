# (14) padding and resampling forward + backward, batch 16, 16 channels,
# 32x32: reflect pad 2, bilinear x2 upsample, unfold 3x3 (padding 1) of
# the 32x32 input, and fold back; loss = sum of each result times a fixed
# random gradient. One key per op.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as B
import torch
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.randn(16, 16, 32, 32, requires_grad=True)
cases = [
    ("pad_reflect_fwd_bwd", lambda t: F.pad(t, (2, 2, 2, 2), mode="reflect")),
    ("upsample_bilinear_fwd_bwd",
     lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)),
    ("unfold_fold_fwd_bwd",
     lambda t: F.fold(F.unfold(t, 3, padding=1), (32, 32), 3, padding=1)),
]
for key, fn in cases:
    up = torch.randn_like(fn(x.detach()))

    def step(fn=fn, up=up):
        x.grad = None
        (fn(x) * up).sum().backward()
    B.report(key, B.timeit(step, target_s=0.1, reps=5, warmup=1))
