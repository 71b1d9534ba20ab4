"""Training and evaluation of spiking networks with surrogate gradients (BPTT).

One loop (:func:`fit`) for every architecture, on one process or several:

- losses: cross-entropy on the readout averaged over T ("ce"), or TET ("tet"):
  (1 − λ)·mean_t CE(O[t], y) + λ·MSE(O, φ) (Deng et al., ICLR 2022);
- AdamW or SGD (momentum, Nesterov off) with decoupled / L2 weight decay, a linear
  warm-up over the first epochs and a cosine schedule stepped per batch down to 0;
- evaluation on the validation data after every epoch; the checkpoint written after every
  epoch (resumable: it holds the optimizer's and the shuffler's state) and the best one
  (highest validation accuracy) beside it;
- ``device="cuda"`` with mixed precision (float16 autocast and a gradient scaler) where
  a GPU is present, a clear refusal where it is not;
- data parallelism under ``torchrun`` (PyTorch DDP; gloo on CPU, NCCL on CUDA): every
  process draws the same permutation, takes an equal share ``batch[rank::world]`` of
  each global batch, and DDP averages the gradients, so the update is that of the global
  batch (BN statistics are each process's own, as in DDP; the running statistics are
  process 0's, broadcast after every epoch);
- fine-tuning from a trained model (``start_from``), and quantization-aware training
  (``TrainConfig.qat``): the forward pass is ``dalif.qat``'s, the exported integer network's
  values with the float model's gradients, batch norm frozen at its running statistics, and
  the validation accuracy is the integer network's (what loihi-sim measures).

Reproducible: weights come from ``config.seed``, the batch order from ``options.seed``;
deterministic kernels are on during training, so two runs with the same arguments give
identical state dicts, and a run resumed from its checkpoint ends where the whole run ends.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import fields, replace

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from dalif.checkpoint import read_checkpoint, save_checkpoint
from dalif.config import ModelConfig, TrainConfig
from dalif.data.augment import augment_batch
from dalif.models.net import SpikingNet, build_model
from dalif.qat import QATNet, qat_accuracy


class TrainingError(ValueError):
    """A training run that cannot start or cannot go on (one-line message)."""


@contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels for the duration of training, restoring the caller's choice.

    On CUDA some kernels (average pooling's backward) have no deterministic version: there
    torch warns instead of failing, and cuBLAS gets the workspace setting it needs."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def train(
    config: ModelConfig,
    x_train: Tensor,
    y_train: Tensor,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 5e-3,
    seed: int = 0,
    progress: bool = True,
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
    **options,
) -> tuple[SpikingNet, list[dict]]:
    """Build the model of ``config`` and train it; return it (in eval mode) and its history.

    ``options`` are the other fields of :class:`dalif.config.TrainConfig` (optimizer, loss,
    warmup_epochs, device, ...) and :func:`fit`'s keywords (checkpoint, best_checkpoint,
    resume, metrics). The defaults are AdamW without weight decay (Adam), no warm-up, the
    cosine schedule and cross-entropy on the T-averaged logits.

    Returns:
        The trained model and one dict per epoch: ``epoch``, ``loss`` (mean over the
        epoch's samples), ``train_acc`` (on the batches as trained, train-mode BN),
        ``val_acc`` (None without validation data) and ``lr`` at the epoch's end.
    """
    run_keys = ("checkpoint", "best_checkpoint", "resume", "metrics", "start_from")
    run = {k: options.pop(k) for k in run_keys if k in options}
    known = {f.name for f in fields(TrainConfig)}
    for key in options:
        if key not in known:
            raise TypeError(f"train() got an unexpected keyword argument {key!r}")
    try:
        train_config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, **options)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    return fit(config, train_config, x_train, y_train, x_val, y_val, progress=progress, **run)


def fit(
    config: ModelConfig | None,
    options: TrainConfig,
    x_train: Tensor,
    y_train: Tensor,
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
    *,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    best_checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    metrics: dict | None = None,
    start_from: SpikingNet | None = None,
) -> tuple[SpikingNet, list[dict]]:
    """Train the model of ``config`` with ``options``; see :func:`train` for what it returns.

    Args:
        checkpoint: written after every epoch (on process 0): the model, the history and
            the training state to resume from; its metrics add ``epochs`` (done),
            ``history`` and ``test_accuracy`` (the validation accuracy) to ``metrics``.
        best_checkpoint: written whenever the validation accuracy improves.
        resume: a checkpoint written by this function: training goes on after its last
            epoch, with its model configuration and training options (``config`` None, or
            equal; ``options`` equal but for device and mixed precision).
        start_from: a trained model of ``config`` whose weights a new run starts from (a
            fine-tune, such as QAT's: fresh optimizer and schedule); not with ``resume``.

    Raises:
        TrainingError: bad data, a CUDA device that is absent, a resume that does not fit,
            or a loss that became NaN or infinite (the run is stopped before anything is
            saved from it).
    """
    if len(x_train) != len(y_train):
        raise TrainingError(f"{len(x_train)} training images but {len(y_train)} labels")
    if len(x_train) == 0:
        raise TrainingError("no training samples")
    if (x_val is None) != (y_val is None):
        raise TrainingError("give both x_val and y_val, or neither")
    if best_checkpoint is not None and x_val is None:
        raise TrainingError("the best checkpoint is chosen on validation data: give x_val, y_val")
    stored = None
    if resume is not None:
        stored = read_checkpoint(resume)
        if stored.training is None:
            raise TrainingError(f"{resume}: holds no training state to resume from")
        config, options = _resumed(config, options, stored.config, stored.training["options"], resume)
    if config is None:
        raise TrainingError("no model configuration (give config, or resume)")
    if start_from is not None and (resume is not None or start_from.config != config):
        raise TrainingError("start_from: a model of the run's own configuration, and no resume")
    device = _device(options.device)
    amp = device.type == "cuda" and options.amp is not False
    rank, world = _process_group()
    if options.batch_size < world:
        raise TrainingError(f"--batch-size {options.batch_size} is smaller than the {world} "
                            f"processes sharing each batch")
    if options.qat and world > 1:
        raise TrainingError("--qat trains in one process (not under torchrun)")

    with _deterministic(device):
        torch.manual_seed(options.seed)
        model = build_model(config)
        if start_from is not None:
            model.load_state_dict(start_from.state_dict())
        optimizer = _optimizer(model, options)
        shuffle = torch.Generator().manual_seed(options.seed)
        start, step, history, best = 0, 0, [], None
        if stored is not None:
            training = stored.training
            model.load_state_dict(stored.model.state_dict())
            try:
                optimizer.load_state_dict(training["optimizer"])
            except (ValueError, KeyError, TypeError) as exc:
                raise TrainingError(f"{resume}: the optimizer state does not fit: {exc}") from None
            shuffle.set_state(training["shuffle_state"])
            start, step = training["epoch"], training["step"]
            if start >= options.epochs:
                raise TrainingError(f"{resume}: the run is complete ({start} of {options.epochs} "
                                    f"epochs); nothing to resume")
            history, best = list(training["history"]), training["best_val_acc"]
        model.to(device)
        _optimizer_to(optimizer, device)
        net: torch.nn.Module = model
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        if options.qat:
            net = QATNet(model)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)

        def autocast():  # float16 autocast on CUDA; BN and the neurons stay in float32
            return torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext()

        steps_per_epoch = math.ceil(len(x_train) / options.batch_size)
        schedule = _Schedule(options, steps_per_epoch)
        quiet = not progress or rank != 0
        bar = tqdm(range(start, options.epochs), desc="train", unit="epoch", disable=quiet,
                   initial=start, total=options.epochs)
        for epoch in bar:
            model.train(not options.qat)  # QAT keeps the running BN statistics export folds
            totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, samples
            batches = torch.randperm(len(x_train), generator=shuffle).split(options.batch_size)
            for batch in tqdm(batches, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                              disable=quiet):
                if len(batch) < world:
                    step += 1  # too small to share: skipped by every process alike
                    continue
                local = batch[rank::world]
                for group in optimizer.param_groups:
                    group["lr"] = schedule.lr(step)
                x = x_train[local]
                if options.augment or options.cutout:  # drawn from the shuffle's generator: resumable
                    x = augment_batch(x, shuffle, crop_padding=4 if options.augment else 0,
                                      flip=options.augment, cutout_size=options.cutout or None)
                x = x.to(device, non_blocking=True)
                y = y_train[local].to(device, non_blocking=True)
                with autocast():
                    readout = net(x, per_step=True)
                    loss = _loss(readout.float(), y, options)
                _check_finite(loss, epoch, step, options, world, device)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                step += 1
                logits = readout.detach().float().mean(0)
                totals += torch.tensor([loss.item() * len(local),
                                        int((logits.argmax(1) == y).sum()), len(local)],
                                       dtype=torch.float64)
            if world > 1:
                totals = _all_reduce(totals, device)
                for buffer in model.buffers():  # every process keeps process 0's statistics
                    torch.distributed.broadcast(buffer, 0)
            _check_weights(model, epoch, options)
            if x_val is None:
                val_acc = None
            elif options.qat:  # the integer network's accuracy: what loihi-sim will measure
                val_acc = qat_accuracy(model, x_val, y_val)
            else:
                val_acc = _evaluate_shared(model, x_val, y_val, rank, world)
            record = {
                "epoch": epoch + 1,
                "loss": float(totals[0] / totals[2]),
                "train_acc": float(totals[1] / totals[2]),
                "val_acc": val_acc,
                "lr": schedule.lr(step),
            }
            history.append(record)
            bar.set_postfix(
                {k: f"{v:.4f}" for k, v in record.items() if k != "epoch" and v is not None}
            )
            improved = val_acc is not None and (best is None or val_acc > best)
            best = val_acc if improved else best
            if rank == 0 and (checkpoint is not None or (improved and best_checkpoint is not None)):
                training = {"options": options.to_dict(), "epoch": epoch + 1, "step": step,
                            "optimizer": optimizer.state_dict(),
                            "shuffle_state": shuffle.get_state(), "history": history,
                            "best_val_acc": best}
                saved = {**(metrics or {}), "epochs": epoch + 1, "history": history,
                         "test_accuracy": val_acc}
                cpu_model = _on_cpu(model, device)
                if checkpoint is not None:
                    save_checkpoint(checkpoint, cpu_model, config, saved, _on_cpu_state(training))
                if improved and best_checkpoint is not None:
                    save_checkpoint(best_checkpoint, cpu_model, config,
                                    {**saved, "best_epoch": epoch + 1})
            if world > 1:
                torch.distributed.barrier()
    model.eval()
    return model, history


def _resumed(config: ModelConfig | None, options: TrainConfig, stored_config: ModelConfig,
             stored_options: TrainConfig, path) -> tuple[ModelConfig, TrainConfig]:
    if config is not None and config != stored_config:
        field = next(f.name for f in fields(ModelConfig)
                     if getattr(config, f.name) != getattr(stored_config, f.name))
        raise TrainingError(f"{path}: resuming a {stored_config.model} whose config.{field} is "
                            f"{getattr(stored_config, field)!r}, not {getattr(config, field)!r}")
    comparable = replace(options, device=stored_options.device, amp=stored_options.amp)
    if comparable != stored_options:
        field = next(f.name for f in fields(TrainConfig)
                     if getattr(comparable, f.name) != getattr(stored_options, f.name))
        raise TrainingError(f"{path}: the run being resumed has {field} = "
                            f"{getattr(stored_options, field)!r}, not {getattr(options, field)!r}")
    return stored_config, options


def _device(name: str) -> torch.device:
    if name == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA support"
            raise TrainingError(f"--device cuda: no CUDA device is available (torch "
                                f"{torch.__version__}, {build}); train with --device cpu")
        local = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device("cuda", local % torch.cuda.device_count())
    if name != "cpu":
        raise TrainingError(f"--device: unknown device {name!r}")
    return torch.device("cpu")


def init_distributed(device: str) -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (WORLD_SIZE > 1 in the environment):
    gloo on CPU, NCCL on CUDA. Returns (rank, world size); (0, 1) without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        if device == "cuda":
            _device("cuda")  # refuse before joining
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _process_group() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _optimizer(model: SpikingNet, options: TrainConfig) -> torch.optim.Optimizer:
    if options.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=options.lr, momentum=options.momentum,
                               weight_decay=options.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)


def _optimizer_to(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, Tensor) and key != "step":
                state[key] = value.to(device)


class _Schedule:
    """lr after ``step`` steps: linear warm-up to ``lr`` over the warm-up steps, then half a
    cosine down to 0 at the last step. Without warm-up, lr·(1 + cos(π·step/steps))/2."""

    def __init__(self, options: TrainConfig, steps_per_epoch: int) -> None:
        self.lr0 = options.lr
        self.total = options.epochs * steps_per_epoch
        self.warmup = options.warmup_epochs * steps_per_epoch

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.lr0 * (step + 1) / self.warmup
        span = self.total - self.warmup
        return self.lr0 * 0.5 * (1.0 + math.cos(math.pi * min(step - self.warmup, span) / span))


def _loss(readout: Tensor, y: Tensor, options: TrainConfig) -> Tensor:
    """``readout`` (T, B, classes) against labels ``y`` (B,)."""
    if options.loss == "ce":
        return F.cross_entropy(readout.mean(0), y)
    steps = readout.shape[0]
    per_step = F.cross_entropy(readout.flatten(0, 1), y.repeat(steps))  # mean over t and b
    if options.tet_lambda == 0:
        return per_step
    regular = F.mse_loss(readout, torch.full_like(readout, options.tet_target))
    return (1.0 - options.tet_lambda) * per_step + options.tet_lambda * regular


def _all_reduce(tensor: Tensor, device: torch.device, op=None) -> Tensor:
    """Sum (or ``op``) over the processes, on the device the backend needs (NCCL: CUDA)."""
    moved = tensor.to(device)
    torch.distributed.all_reduce(moved, op=op or torch.distributed.ReduceOp.SUM)
    return moved.cpu()


def _check_finite(loss: Tensor, epoch: int, step: int, options: TrainConfig, world: int,
                  device: torch.device) -> None:
    finite = torch.isfinite(loss.detach()).to(torch.int32).cpu()
    if world > 1:  # every process stops together
        finite = _all_reduce(finite, device, torch.distributed.ReduceOp.MIN)
    if not bool(finite):
        raise TrainingError(f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}, "
                            f"step {step + 1} (--lr {options.lr:g}); nothing was saved from it; "
                            f"try a smaller --lr")


def _check_weights(model: SpikingNet, epoch: int, options: TrainConfig) -> None:
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise TrainingError(f"training diverged: {name} holds NaN or Inf after epoch "
                                f"{epoch + 1} (--lr {options.lr:g}); nothing was saved from it; "
                                f"try a smaller --lr")


def _on_cpu(model: SpikingNet, device: torch.device) -> SpikingNet:
    if device.type == "cpu":
        return model
    copy = build_model(model.config, model.spec)
    copy.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    return copy


def _on_cpu_state(training: dict) -> dict:
    optimizer = training["optimizer"]
    state = {index: {k: v.cpu() if isinstance(v, Tensor) else v for k, v in entry.items()}
             for index, entry in optimizer["state"].items()}
    return {**training, "optimizer": {**optimizer, "state": state}}


def _evaluate_shared(model: SpikingNet, x: Tensor, y: Tensor, rank: int, world: int) -> float:
    if world == 1:
        return evaluate(model, x, y)
    share = torch.arange(rank, len(x), world)
    correct = _correct(model, x[share], y[share]) if len(share) else 0
    counts = _all_reduce(torch.tensor([correct], dtype=torch.float64),
                         next(model.parameters()).device)
    return float(counts[0]) / len(x)


def evaluate(model: SpikingNet, x: Tensor, y: Tensor, batch_size: int = 256) -> float:
    """Accuracy of ``model`` on (x, y) in [0, 1]: eval mode, no gradients.

    The model's train/eval mode is restored afterwards, so evaluating mid-training
    does not switch batch norm to running statistics behind the trainer's back.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty set")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return _correct(model, x, y, batch_size) / len(x)


def _correct(model: SpikingNet, x: Tensor, y: Tensor, batch_size: int = 256) -> int:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size].to(device))
            correct += int((logits.argmax(1).cpu() == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct
