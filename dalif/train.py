"""Training and evaluation of spiking networks with surrogate gradients (BPTT)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from dalif.models import ModelConfig, SpikingNet, build_model


@contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic kernels for the duration of training, restoring the caller's choice."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def train(
    config: ModelConfig,
    x_train: Tensor,
    y_train: Tensor,
    epochs: int,
    batch_size: int = 64,
    lr: float = 5e-3,
    seed: int = 0,
    progress: bool = True,
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
) -> tuple[SpikingNet, list[dict]]:
    """Build the model of ``config`` and train it; return it (in eval mode) and its history.

    Adam with a cosine learning-rate schedule (stepped per batch, down to 0 at the end),
    cross-entropy on the T-averaged logits. Weights come from ``config.seed``; the
    batch order from ``seed``; so two calls with the same arguments give identical
    state dicts.

    Returns:
        The trained model and one dict per epoch: ``epoch``, ``loss`` (mean over the
        epoch's samples), ``train_acc`` (on the batches as trained, train-mode BN),
        ``val_acc`` (None without validation data) and ``lr`` at the epoch's end.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if len(x_train) != len(y_train):
        raise ValueError(f"{len(x_train)} training images but {len(y_train)} labels")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")

    with _deterministic():
        torch.manual_seed(seed)
        model = build_model(config)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        steps_per_epoch = math.ceil(len(x_train) / batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=epochs * steps_per_epoch
        )
        shuffle = torch.Generator().manual_seed(seed)
        history: list[dict] = []
        bar = tqdm(range(epochs), desc="train", unit="epoch", disable=not progress)
        for epoch in bar:
            model.train()
            loss_sum, correct = 0.0, 0
            for batch in torch.randperm(len(x_train), generator=shuffle).split(batch_size):
                logits = model(x_train[batch])
                loss = F.cross_entropy(logits, y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.item() * len(batch)
                correct += int((logits.argmax(1) == y_train[batch]).sum())
            record = {
                "epoch": epoch + 1,
                "loss": loss_sum / len(x_train),
                "train_acc": correct / len(x_train),
                "val_acc": None if x_val is None else evaluate(model, x_val, y_val),
                "lr": scheduler.get_last_lr()[0],
            }
            history.append(record)
            bar.set_postfix(
                {k: f"{v:.4f}" for k, v in record.items() if k != "epoch" and v is not None}
            )
    model.eval()
    return model, history


def evaluate(model: SpikingNet, x: Tensor, y: Tensor, batch_size: int = 256) -> float:
    """Accuracy of ``model`` on (x, y) in [0, 1]: eval mode, no gradients.

    The model's train/eval mode is restored afterwards, so evaluating mid-training
    does not switch batch norm to running statistics behind the trainer's back.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty set")
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size])
            correct += int((logits.argmax(1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / len(x)
