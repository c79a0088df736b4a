# (8) one epoch of Fashion-MNIST training (60000 images, batch 128, Adam
# lr 1e-3, cross-entropy): the MLP 784-256-10, and the CNN (the conv stack
# of (7) with ReLUs, 2x2 max pool, linear 64*14*14 -> 10).
# Same data (Debian's IDX files read with gzip + numpy) and the same loader
# work as epoch.lua: a shuffled permutation, index_select of the batch rows,
# uint8 -> float / 255. Extrapolated from `batches` batches as epoch.lua is.
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time

import common as B
import torch
from torch import nn
import torch.nn.functional as F

BATCH = 128

images, labels = B.fashion_mnist_train()
n_samples = images.shape[0]
batches_per_epoch = (n_samples + BATCH - 1) // BATCH


def batch_stream():
    generator = torch.Generator().manual_seed(0)
    while True:
        order = torch.randperm(n_samples, generator=generator)
        for start in range(0, n_samples, BATCH):
            idx = order[start:start + BATCH]
            yield images.index_select(0, idx), labels.index_select(0, idx)


def bench(key, model, batches, reps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    stream = batch_stream()

    def train_batches(n):
        for _ in range(n):
            x, y = next(stream)
            opt.zero_grad()
            loss = F.cross_entropy(model(x.float() / 255), y)
            loss.backward()
            opt.step()

    train_batches(2)  # warm-up
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        train_batches(batches)
        samples.append((time.perf_counter() - t0) / batches)
    B.report(key, B.median(samples) * batches_per_epoch)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


if __name__ == "__main__":  # epoch_compile.py imports bench and mlp
    n_mlp = int(os.environ.get("BENCH_EPOCH_BATCHES", "40"))
    n_cnn = int(os.environ.get("BENCH_EPOCH_BATCHES", "4"))
    reps = int(os.environ.get("BENCH_EPOCH_REPS", "3"))

    torch.manual_seed(0)
    bench("epoch_mlp", mlp(), n_mlp, reps)
    torch.manual_seed(0)
    bench("epoch_cnn", nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                                     nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 14 * 14, 10)),
          n_cnn, reps)
