"""`dalif simulate`: run a NIR model on a backend; accuracy and activity as RESULT.json."""

from __future__ import annotations

import argparse
from typing import Any

from dalif.cli.common import (
    UserError,
    check_strict,
    common_args,
    data_args,
    guard_outputs,
    limit_args,
    load_model,
    load_split,
    output_file,
    progress,
    read_limits,
    temporal,
)
from dalif.cli.engine import engine_args, engine_options, run_engine


def add_parser(sub: Any) -> None:
    from deploy import describe_backends

    backends = describe_backends()
    p = sub.add_parser("simulate", help="run a NIR model on a backend and measure accuracy and activity",
                       epilog="backends: " + "; ".join(f"{k}: {v}" for k, v in backends.items()))
    p.add_argument("model", help="NIR file (from `dalif export`, or a foreign NIR graph)")
    p.add_argument("--backend", default="loihi-sim", choices=list(backends))
    data_args(p)
    p.add_argument("--limit", type=int, help="use only the first N test samples")
    p.add_argument("--timesteps", type=int, help="T for a foreign NIR file (ours carry it)")
    p.add_argument("--input-scale", type=float,
                   help="float value of one integer input step for a foreign NIR file (default 1/255)")
    p.add_argument("--out", help="RESULT.json to write")
    p.add_argument("--strict", action="store_true", help="fail on any clipped, wrapped or saturated value")
    engine_args(p)
    limit_args(p)
    common_args(p)
    p.set_defaults(func=run)


def _simulate(args: argparse.Namespace, backend: str):
    from deploy import run_backend

    options = engine_options(args)
    model = load_model(args.model, args.timesteps, args.input_scale, read_limits(args))
    x, y = load_split(args.dataset, "test", args.data_dir, args.limit)
    if backend == "loihi-sim":
        _, result = run_engine(model, x, options, quiet=args.quiet, temporal=temporal(args.dataset))
    else:
        if args.device != "cpu" or args.workers != 1 or args.ray_address:
            raise UserError("--device, --workers and --ray-address apply to the loihi-sim backend")
        with progress(len(y), backend, args.quiet) as bar:
            result = run_backend(backend, model, x, on_progress=bar.update,
                                 temporal=temporal(args.dataset))
    check_strict(args, model, result)
    return model, result, y


def run(args: argparse.Namespace) -> dict[str, Any]:
    from deploy import summarize
    from hardware_sim.files import write_json

    guard_outputs(args, inputs=("model",), files=("out",))
    out = output_file(args.out) if args.out else None
    model, result, y = _simulate(args, args.backend)
    summary = {"model": str(args.model), "dataset": args.dataset, **summarize(result, y, args.backend)}
    overflow = sum(summary["overflow"].values())
    if out:
        write_json(out, summary)
    print(f"{args.backend}: accuracy {summary['accuracy']:.4f} on {result.samples} samples, "
          f"T={result.timesteps}")
    for layer in summary["layers"]:
        print(f"  {layer['name']:<10} spikes {layer['spikes']:>10}  synaptic ops {layer['synaptic_ops']:>12}"
              f"  input MACs {layer['input_macs']:>10}")
    if overflow:
        print(f"  overflow events: {summary['overflow']}")
    return summary
