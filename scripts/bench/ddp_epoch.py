# scripts/bench/ddp_epoch.py [mlp|cnn] [NPROCS]: the PyTorch side of
# ddp_epoch.lua: the same Fashion-MNIST epoch (global batch 128 split over the
# processes, Adam lr 1e-3, one thread per process) through
# torch.nn.parallel.DistributedDataParallel on the gloo backend with a
# DistributedSampler, NPROCS processes (default 2) started here by
# torch.multiprocessing. Times what ddp_epoch.lua times: after 3 warm-up
# batches, epoch 2 from its start, whole for the MLP, its first
# BENCH_DDP_BATCHES (default 60) for the CNN, scaled to the epoch. Prints
# "BENCH ddp_epoch_<model>_np<N> <us>".
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time

import common as B
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn


def build(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


def worker(rank, world, kind, port):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    images, labels = B.fashion_mnist_train()
    dataset = torch.utils.data.TensorDataset(images, labels)
    sampler = torch.utils.data.distributed.DistributedSampler(dataset, world, rank, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=128 // world, sampler=sampler)
    model = nn.parallel.DistributedDataParallel(build(kind))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = min(int(os.environ.get("BENCH_DDP_BATCHES") or (len(loader) if kind == "mlp" else 60)),
                  len(loader))

    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(model(x.float() / 255), y).backward()
        opt.step()

    sampler.set_epoch(0)  # warm-up batches
    warm = iter(loader)
    for _ in range(3):
        step(*next(warm))
    dist.barrier()
    t0 = time.perf_counter()
    sampler.set_epoch(1)  # timed from the epoch's start
    it = iter(loader)
    for _ in range(batches):
        step(*next(it))
    seconds = time.perf_counter() - t0
    if rank == 0:
        print("BENCH ddp_epoch_%s_np%d %.0f" % (kind, world, seconds / batches * len(loader) * 1e6), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    world = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    mp.spawn(worker, args=(world, kind, 29500 + os.getpid() % 1000), nprocs=world)
