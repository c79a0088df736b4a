"""scripts/bench/common.py: timing helpers for the PyTorch halves of the
benchmarks; the same protocol as common.lua (BENCH <key> <microseconds>)."""
import os
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
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
