"""scripts/bench/common.py: timing helpers for the PyTorch halves of the
benchmarks; the same protocol as common.lua (BENCH <key> <microseconds>)."""
import gzip
import os
import sys
import time

import numpy as np

import torch

# argv[1]: the thread count (scripts whose first argument is something else,
# e.g. ddp_epoch.py's model name, get 1 and set their own)
threads = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1
scale = float(os.environ.get("BENCH_SCALE", "1"))
# BENCH_CLOCK=cpu: process CPU time instead of the wall clock (common.lua)
clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
torch.set_num_threads(threads)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 == 1 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def timeit(fn, target_s=0.05, reps=7, warmup=3):
    """Median seconds per call of fn(); see common.lua's M.time."""
    target = target_s * scale
    for _ in range(warmup):
        fn()
    n = 1
    while True:
        t0 = clock()
        for _ in range(n):
            fn()
        dt = clock() - t0
        if dt >= target / 4 or n >= 10**7:
            n = max(1, int(n * target / max(dt, 1e-9) + 0.999))
            break
        n *= 4
    samples = []
    for _ in range(reps):
        t0 = clock()
        for _ in range(n):
            fn()
        samples.append((clock() - t0) / n)
    return median(samples)


def report(key, seconds):
    print("BENCH %s %.6f" % (key, seconds * 1e6), flush=True)


FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"


def load_idx(path):
    """An IDX file (gzipped) as a numpy array of its dims (the ubyte files)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist_train():
    """Debian's Fashion-MNIST training split: uint8 images N x 1 x 28 x 28 and
    int64 labels 0..9, as the Lua side's lg.data.fashion_mnist reads them."""
    root = FASHION_MNIST_ROOT
    images = torch.from_numpy(load_idx(root + "/train-images-idx3-ubyte.gz").copy()).reshape(-1, 1, 28, 28)
    labels = torch.from_numpy(load_idx(root + "/train-labels-idx1-ubyte.gz").astype(np.int64))
    return images, labels
