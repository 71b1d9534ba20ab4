"""Data-parallel training (DDP, gloo on CPU): two processes end with identical weights, equal to
a one-process computation of the same update, and ``torchrun`` drives the command line."""

import math
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from dalif.config import ModelConfig, TrainConfig
from dalif.models import build_model

CONFIG = ModelConfig(model="resnet20", width=0.25, depth=1 / 3, timesteps=2, granularity="channel")
OPTIONS = TrainConfig(epochs=2, batch_size=16, lr=0.01, seed=3)
SAMPLES = 48


def _data():
    from dalif.data import load_dataset

    x, y = load_dataset("digits", "train")
    return x[:SAMPLES], y[:SAMPLES]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from dalif.train import fit

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        x, y = _data()
        model, history = fit(CONFIG, OPTIONS, x, y, progress=False)
        torch.save({"state": model.state_dict(), "history": history}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _one_process_equivalent(world: int):
    """The same update written out in one process, without DDP: each global batch split as
    batch[r::world], each share's loss and gradient on its own (its own BN statistics), the
    gradients averaged, the running statistics those of share 0 (DDP broadcasts process 0's
    buffers), AdamW on the cosine schedule by hand."""
    x, y = _data()
    torch.manual_seed(OPTIONS.seed)
    model = build_model(CONFIG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=OPTIONS.lr, weight_decay=0.0)
    shuffle = torch.Generator().manual_seed(OPTIONS.seed)
    steps = OPTIONS.epochs * math.ceil(SAMPLES / OPTIONS.batch_size)
    step = 0
    previous, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # as in the workers: the same kernels, the same sums
    try:
        for _ in range(OPTIONS.epochs):
            model.train()
            for batch in torch.randperm(SAMPLES, generator=shuffle).split(OPTIONS.batch_size):
                for group in optimizer.param_groups:
                    group["lr"] = OPTIONS.lr * 0.5 * (1 + math.cos(math.pi * step / steps))
                grads, buffers = None, None
                for rank in range(world):
                    share = batch[rank::world]
                    model.zero_grad(set_to_none=True)
                    F.cross_entropy(model(x[share]), y[share]).backward()
                    scaled = [p.grad / world for p in model.parameters()]
                    grads = scaled if grads is None else [a + b for a, b in zip(grads, scaled)]
                    if rank == 0:
                        buffers = [b.clone() for b in model.buffers()]
                with torch.no_grad():
                    for b, kept in zip(model.buffers(), buffers):
                        b.copy_(kept)
                for p, g in zip(model.parameters(), grads):
                    p.grad = g
                optimizer.step()
                step += 1
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(threads)
    return model.state_dict()


def test_two_gloo_processes_train_like_one_process_with_split_batches(tmp_path):
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    first, second = ranks[0]["state"], ranks[1]["state"]
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert ranks[0]["history"] == ranks[1]["history"]
    expected = _one_process_equivalent(2)
    fresh = build_model(CONFIG).state_dict()
    assert any(not torch.equal(first[k], fresh[k]) for k in first)  # it did train
    for key in first:  # bit for bit: averaging two gradients by halves is exact
        assert torch.equal(first[key], expected[key]), key


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is absent")
def test_torchrun_drives_dalif_train(tmp_path):
    out = tmp_path / "m.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "dalif.cli", "train", "--model", "mlp", "--hidden", "32", "--dataset", "digits",
         "--epochs", "1", "--limit-train", "64", "--batch-size", "16", "--timesteps", "2",
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("trained mlp") == 1 and "2 processes" in proc.stdout
    from dalif.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(out)
    assert checkpoint.metrics["epochs"] == 1 and checkpoint.training["epoch"] == 1
