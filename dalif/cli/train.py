"""`dalif train`: train a DA-LIF network on a data set and save a checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from dalif.cli.common import (
    UserError,
    common_args,
    data_args,
    load_split,
    output_file,
)


def add_parser(sub: Any) -> None:
    from dalif import config

    defaults = config.ModelConfig()
    p = sub.add_parser("train", help="train a DA-LIF network and save a checkpoint")
    p.add_argument("--model", choices=config.MODELS, default=defaults.model)
    data_args(p)
    p.add_argument("--timesteps", type=int, default=defaults.timesteps, help="T, simulation steps per sample")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--neuron", choices=config.NEURON_KINDS, default=defaults.neuron,
                   help="dalif: learnable α and β; lif: the plain LIF baseline (α = 1, β fixed)")
    p.add_argument("--granularity", choices=config.GRANULARITIES, default=defaults.granularity,
                   help="one decay pair per layer, per channel or per neuron")
    p.add_argument("--decay-fn", choices=config.DECAY_FNS, default=defaults.decay_fn)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    common_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from dalif.checkpoint import save_checkpoint
    from dalif.config import ModelConfig
    from dalif.data import DATASETS
    from dalif.train import evaluate, train

    out = output_file(args.out)
    if args.epochs < 1 or args.timesteps < 1:
        raise UserError("--epochs and --timesteps must be at least 1")
    x_train, y_train = load_split(args.dataset, "train", args.data_dir, None)
    x_test, y_test = load_split(args.dataset, "test", args.data_dir, None)
    info = DATASETS[args.dataset]
    config = ModelConfig(
        model=args.model, input_shape=tuple(info.input_shape), num_classes=info.num_classes,
        timesteps=args.timesteps, neuron=args.neuron, decay_fn=args.decay_fn,
        granularity=args.granularity, input_scale=info.input_scale, seed=args.seed,
    )
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, history = train(
        config, torch.as_tensor(x_train), torch.as_tensor(y_train), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=not args.quiet,
        x_val=torch.as_tensor(x_test), y_val=torch.as_tensor(y_test),
    )
    accuracy = evaluate(model, torch.as_tensor(x_test), torch.as_tensor(y_test))
    metrics = {"dataset": args.dataset, "test_accuracy": accuracy, "epochs": args.epochs,
               "history": history}
    save_checkpoint(out, model, config, metrics)
    print(f"trained {args.model} ({args.neuron}, {args.granularity} decays, T={args.timesteps}): "
          f"test accuracy {accuracy:.4f} on {len(y_test)} {args.dataset} samples -> {out}")
    return metrics
