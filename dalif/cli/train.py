"""`dalif train`: train a DA-LIF network on a data set and save a checkpoint.

Under ``torchrun --nproc_per_node N -m dalif.cli train ...`` the N processes train one
model data-parallel (each an equal share of every batch); process 0 writes the files.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dalif.cli.common import (
    UserError,
    common_args,
    data_args,
    guard_outputs,
    load_split,
)

_TRAINING_FLAGS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay",
                   "warmup_epochs", "loss", "tet_lambda", "tet_target", "seed", "augment", "cutout",
                   "qat")
_MODEL_FLAGS = ("model", "timesteps", "neuron", "granularity", "decay_fn", "threshold", "width",
                "depth", "channels", "hidden", "surrogate", "steepness", "lif_beta")


def add_parser(sub: Any) -> None:
    from dalif import config

    model, training = config.ModelConfig(), config.TrainConfig()
    sizes = "; ".join(f"{name}: {','.join(map(str, arch.channels))}"
                      for name, arch in config.ARCHITECTURES.items() if name != "mlp")
    hidden = "; ".join(f"{name}: {','.join(map(str, arch.hidden)) or 'none'}"
                       for name, arch in config.ARCHITECTURES.items() if name != "convnet")
    p = sub.add_parser(
        "train", help="train a DA-LIF network and save a checkpoint",
        description="Train a DA-LIF network (architectures: " + "; ".join(
            f"{name}: {arch.summary}" for name, arch in config.ARCHITECTURES.items()) + ").")
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=config.MODELS, default=None,
                   help=f"architecture (default {model.model})")
    data_args(p)
    g.add_argument("--timesteps", type=int, default=None,
                   help=f"T, simulation steps per sample (default {model.timesteps}, or the "
                        f"data set's T for event data)")
    g.add_argument("--width", type=float, default=None,
                   help=f"multiplies every channel count and hidden size (default {model.width:g})")
    g.add_argument("--depth", type=float, default=None,
                   help=f"multiplies the blocks per ResNet stage and convs per VGG stage "
                        f"(default {model.depth:g})")
    g.add_argument("--channels", default=None,
                   help=f"comma-separated channels per stage at full width (defaults: {sizes})")
    g.add_argument("--hidden", default=None,
                   help=f"comma-separated hidden FC sizes at full width, 'none' for none "
                        f"(defaults: {hidden})")
    g.add_argument("--threshold", type=float, default=None,
                   help=f"θ, the firing threshold (default {model.threshold:g})")
    g.add_argument("--neuron", choices=config.NEURON_KINDS, default=None,
                   help=f"dalif: learnable α and β; lif: the plain LIF baseline (α = 1, β fixed) "
                        f"(default {model.neuron})")
    g.add_argument("--granularity", choices=config.GRANULARITIES, default=None,
                   help=f"one decay pair per layer, per channel or per neuron "
                        f"(default {model.granularity})")
    g.add_argument("--decay-fn", choices=config.DECAY_FNS, default=None,
                   help=f"f in α = f(a), β = f(b) (default {model.decay_fn})")
    g.add_argument("--lif-beta", type=float, default=None,
                   help=f"β of the plain LIF baseline (default {model.lif_beta:g})")
    g.add_argument("--surrogate", choices=config.SURROGATE_NAMES, default=None,
                   help=f"surrogate derivative of the spike (default {model.surrogate})")
    g.add_argument("--steepness", type=float, default=None,
                   help=f"steepness of the surrogate (default {model.steepness:g})")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=None, help=f"(default {training.epochs})")
    t.add_argument("--batch-size", type=int, default=None,
                   help=f"global batch, shared by the processes under torchrun "
                        f"(default {training.batch_size})")
    t.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {training.lr:g})")
    t.add_argument("--optimizer", choices=config.OPTIMIZERS, default=None,
                   help=f"(default {training.optimizer})")
    t.add_argument("--momentum", type=float, default=None, help=f"SGD's (default {training.momentum:g})")
    t.add_argument("--weight-decay", type=float, default=None, help=f"(default {training.weight_decay:g})")
    t.add_argument("--warmup-epochs", type=int, default=None,
                   help=f"linear warm-up before the cosine schedule (default {training.warmup_epochs})")
    t.add_argument("--loss", choices=config.LOSSES, default=None,
                   help=f"ce: cross-entropy on the T-mean readout; tet: TET (default {training.loss})")
    t.add_argument("--tet-lambda", type=float, default=None, help=f"TET's λ (default {training.tet_lambda:g})")
    t.add_argument("--tet-target", type=float, default=None, help=f"TET's φ (default {training.tet_target:g})")
    t.add_argument("--seed", type=int, default=None,
                   help=f"seeds the weights and the batch order (default {model.seed})")
    t.add_argument("--device", choices=config.DEVICES, default="cpu",
                   help="cuda: train on the GPU, with mixed precision unless --no-amp (default cpu)")
    t.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    t.add_argument("--augment", action="store_const", const=True, default=None,
                   help="random crop (4-pixel padding) and horizontal flip of every training batch, "
                        "seeded (the CIFAR recipe; off by default)")
    t.add_argument("--cutout", type=int, default=None, metavar="PIXELS",
                   help=f"also cut out a random square of this side (default {training.cutout}: off)")
    t.add_argument("--limit-train", type=int, default=None, metavar="N",
                   help="train on the first N training samples only")
    t.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue the run this checkpoint (written by `dalif train`) records, with "
                        "its model and training options")
    t.add_argument("--from", dest="start_from", metavar="CHECKPOINT",
                   help="fine-tune: start from this checkpoint's model and weights (a new run: "
                        "fresh optimizer and schedule)")
    t.add_argument("--qat", action="store_const", const=True, default=None,
                   help="quantization-aware training: the exported integer network (what `dalif "
                        "export` writes) in the forward pass; CPU, batch norm frozen (use with --from)")
    p.add_argument("--out", required=True,
                   help="checkpoint file to write (.pt), after every epoch (resumable)")
    p.add_argument("--best", metavar="PATH", help="also keep the best epoch's checkpoint here")
    common_args(p)
    p.set_defaults(func=run)


def _sizes(text: str | None, flag: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"{flag}: expected comma-separated integers such as 64,128, got {text!r}") \
            from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from dalif.checkpoint import read_checkpoint
    from dalif.config import TrainConfig
    from dalif.data import DATASETS
    from dalif.train import TrainingError, fit, init_distributed

    # --out may be the --resume checkpoint itself: the run goes on in place
    guard_outputs(args, inputs=("start_from",), files=("out", "best"))
    out = Path(args.out)
    best = Path(args.best) if args.best else None
    if args.limit_train is not None and args.limit_train < 1:
        raise UserError("--limit-train must be at least 1")
    if args.epochs is not None and args.epochs < 1 or args.timesteps is not None and args.timesteps < 1:
        raise UserError("--epochs and --timesteps must be at least 1")
    info = DATASETS[args.dataset]
    options = {name: getattr(args, name) for name in _TRAINING_FLAGS if getattr(args, name) is not None}
    stored = start_from = None
    if args.resume and args.start_from:
        raise UserError("--from starts a new run from a checkpoint's weights, --resume goes on "
                        "with one: give one of them")
    if args.resume:
        stored = read_checkpoint(args.resume)
        if stored.training is None:
            raise UserError(f"{args.resume}: holds no training state to resume from")
        given = [f"--{n.replace('_', '-')}" for n in _MODEL_FLAGS if getattr(args, n) is not None]
        if given:
            raise UserError(f"--resume continues the run's own model; do not give {', '.join(given)}")
        config = stored.config
        options = {**stored.training["options"].to_dict(), **options}
    elif args.start_from:
        given = [f"--{n.replace('_', '-')}" for n in _MODEL_FLAGS if getattr(args, n) is not None]
        if given:
            raise UserError(f"--from fine-tunes the checkpoint's own model; do not give {', '.join(given)}")
        start_from = read_checkpoint(args.start_from).model
        config = start_from.config
    else:
        config = _model_config(args, info)
    try:
        train_config = TrainConfig(**{**options, "device": args.device,
                                      "amp": False if args.no_amp else None})
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if tuple(config.input_shape) != tuple(info.input_shape):
        raise UserError(f"the model takes inputs {tuple(config.input_shape)}; {args.dataset} "
                        f"gives {tuple(info.input_shape)}")
    if info.temporal and config.timesteps != info.timesteps:
        raise UserError(f"{args.dataset} holds sequences of {info.timesteps} steps; the model runs "
                        f"T = {config.timesteps}")
    x_train, y_train = load_split(args.dataset, "train", args.data_dir, args.limit_train)
    x_test, y_test = load_split(args.dataset, "test", args.data_dir, None)
    try:
        rank, world = init_distributed(args.device)
        model, history = fit(
            config, train_config, torch.as_tensor(x_train), torch.as_tensor(y_train),
            torch.as_tensor(x_test), torch.as_tensor(y_test), progress=not args.quiet,
            checkpoint=out, best_checkpoint=best, resume=args.resume,
            metrics={"dataset": args.dataset}, start_from=start_from,
        )
    except TrainingError as exc:
        raise UserError(str(exc)) from None
    accuracy = history[-1]["val_acc"] if history else stored.metrics.get("test_accuracy")
    metrics = {"dataset": args.dataset, "test_accuracy": accuracy, "epochs": len(history),
               "history": history}
    if rank == 0:
        best_note = ""
        if best is not None:
            top = max(history, key=lambda r: r["val_acc"])
            best_note = f"; best {top['val_acc']:.4f} at epoch {top['epoch']} -> {best}"
        processes = f", {world} processes" if world > 1 else ""
        print(f"trained {config.model} ({config.neuron}, {config.granularity} decays, "
              f"T={config.timesteps}{processes}): test accuracy {accuracy:.4f} on {len(y_test)} "
              f"{args.dataset} samples -> {out}{best_note}")
    del model
    if world > 1:
        torch.distributed.destroy_process_group()
    return metrics


def _model_config(args: argparse.Namespace, info: Any):
    from dalif.config import ModelConfig

    fields: dict[str, Any] = {
        "input_shape": tuple(info.input_shape), "num_classes": info.num_classes,
        "input_scale": info.input_scale,
        "timesteps": args.timesteps if args.timesteps is not None else (info.timesteps or 4),
        "channels": _sizes(args.channels, "--channels"), "hidden": _sizes(args.hidden, "--hidden"),
    }
    for name in ("model", "neuron", "granularity", "decay_fn", "threshold", "width", "depth",
                 "surrogate", "steepness", "lif_beta", "seed"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    try:
        return ModelConfig(**fields)
    except ValueError as exc:
        message = str(exc)
        field, _, reason = message.partition(": ")
        flag = "--" + field.removeprefix("config.").replace("_", "-")
        raise UserError(f"{flag}: {reason}" if field.startswith("config.") else message) from None
