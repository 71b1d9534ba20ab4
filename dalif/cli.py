"""The ``dalif`` command: train → export → simulate → energy.

The only module that imports all four packages (DESIGN §1): it parses
arguments, loads data, calls the packages and writes their outputs. A user
mistake ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input: reported as one line, exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """Every error class that means 'bad input', from all four packages."""
    from dalif.checkpoint import CheckpointError
    from dalif.data import DatasetError
    from deploy.registry import BackendError
    from deploy.run import InputShapeError
    from export.fold import ExportError
    from hardware_sim.chips import ChipProfileError
    from hardware_sim.ir.graph import GraphError
    from hardware_sim.ir.netx import NetxError
    from hardware_sim.ir.nir import NIRFormatError

    return (UserError, CheckpointError, DatasetError, BackendError, ExportError, ChipProfileError,
            GraphError, NIRFormatError, NetxError, InputShapeError)


def _progress(total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", disable=quiet, leave=False, file=sys.stderr)


def _output_file(path: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise UserError(f"{out}: is a directory; give a file name")
    if not out.parent.exists():
        raise UserError(f"{out.parent}: output directory does not exist")
    return out


def _load_split(name: str, split: str, data_dir: str | None, limit: int | None
                ) -> tuple[np.ndarray, np.ndarray]:
    from dalif.data import load_dataset

    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1")
    x, y = load_dataset(name, split, data_dir)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x.numpy(), y.numpy()


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from dalif.checkpoint import save_checkpoint
    from dalif.config import ModelConfig
    from dalif.data import DATASETS
    from dalif.train import evaluate, train

    out = _output_file(args.out)
    if args.epochs < 1 or args.timesteps < 1:
        raise UserError("--epochs and --timesteps must be at least 1")
    x_train, y_train = _load_split(args.dataset, "train", args.data_dir, None)
    x_test, y_test = _load_split(args.dataset, "test", args.data_dir, None)
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


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    from dalif.checkpoint import load_checkpoint
    from export import export_model, write_exported
    from hardware_sim.files import write_json

    out = _output_file(args.out)
    onnx_out = _output_file(args.onnx) if getattr(args, "onnx", None) else None
    netx_out = _output_file(args.netx) if getattr(args, "netx", None) else None
    model, config, metrics = load_checkpoint(args.checkpoint)
    exported = export_model(model)
    netx_changes = None
    if netx_out is not None:  # one export, one integer model: every file holds what netx holds
        exported.graph, netx_changes = _netx_model(exported.graph)
    info = {"checkpoint": str(Path(args.checkpoint).name), "config": config.to_dict(),
            "float_accuracy": metrics.get("test_accuracy"), "dataset": metrics.get("dataset")}
    summary = {
        "nir": str(out),
        "timesteps": exported.timesteps,
        "input_scale": exported.graph.input_scale,
        "layers": [
            {"name": p.name, "shape": list(p.shape), "weight_exp": [q.weight_exp for q in p.projections],
             "dv_min": int(p.dv.min()), "dv_max": int(p.dv.max()), "distinct_dv": int(np.unique(p.dv).size),
             "vth_max": int(p.vth.max()), "bias_exp": p.bias_exp, "input_gain": p.gain is not None,
             "clipped": exported.graph.quantization_report[p.name]}
            for p in exported.graph.populations
        ],
        "clipped_values": exported.clipped_values,
    }
    if args.strict and exported.clipped_values:
        raise UserError(f"--strict: {exported.clipped_values} values were clipped while quantizing "
                        f"(see {args.json or 'the summary'})")
    write_exported(exported, out, info)
    if netx_changes is not None:
        from hardware_sim.ir.netx import write_netx

        write_netx(exported.graph, netx_out, exported.timesteps, info)
        summary["netx"] = {"path": str(netx_out), "changes": netx_changes}
        changed = {name: {k: v for k, v in c.items() if v} for name, c in netx_changes.items()}
        print(f"  netx (lava-dl) -> {netx_out}; to fit netx's fixed bias exponent and unshifted "
              f"synapses, every file of this export holds the adapted model: changes "
              f"{ {k: v for k, v in changed.items() if v} or 'none'}")
    if onnx_out is not None:
        from deploy.onnx import write_onnx

        write_onnx(exported.graph, onnx_out, exported.timesteps, info)
        summary["onnx"] = str(onnx_out)
    if args.json:
        write_json(_output_file(args.json), summary)
    for layer in summary["layers"]:
        clipped = sum(layer["clipped"].values())
        print(f"  {layer['name']:<10} shape {tuple(layer['shape'])!s:<14} e={layer['weight_exp']} "
              f"dv {layer['dv_min']}..{layer['dv_max']} ({layer['distinct_dv']} distinct) "
              f"clipped {clipped}")
    print(f"exported {args.checkpoint} -> {out} ({exported.clipped_values} values clipped)")
    if onnx_out is not None:
        print(f"  and its one-step update -> {onnx_out} (ONNX, exact on every CPU)")
    return summary


def _netx_model(graph: Any) -> tuple[Any, dict[str, dict[str, int]]]:
    """The netx-representable form of an exported graph (hardware_sim/ir/netx.py); NetxError if none."""
    from hardware_sim.ir.netx import netx_graph

    return netx_graph(graph)


def cmd_import(args: argparse.Namespace) -> dict[str, Any]:
    """A lava-dl netx network (.net) → our NIR file, for loihi-sim, energy and the other backends."""
    from hardware_sim.ir.netx import read_netx
    from hardware_sim.ir.nir import write_nir

    out = _output_file(args.out)
    if args.input_bits is not None and not 1 <= args.input_bits <= 16:
        raise UserError("--input-bits must lie in 1..16")
    if not Path(args.model).is_file():
        raise UserError(f"{args.model}: no such file")
    kwargs: dict[str, Any] = {"timesteps": args.timesteps}
    if args.input_bits is not None:
        kwargs["input_bits"] = args.input_bits
    if args.input_scale is not None:
        kwargs["input_scale"] = args.input_scale
    graph, timesteps = read_netx(args.model, **kwargs)
    write_nir(graph, out, timesteps, {"imported_from": "lava-dl netx", "source": Path(args.model).name})
    for pop in graph.populations:
        p = pop.projections[0]
        print(f"  {pop.name:<10} {p.kind:<5} shape {pop.shape!s:<14} e={p.weight_exp} "
              f"dv={int(pop.dv.flat[0])} du={int(pop.du.flat[0])} "
              f"{'readout' if pop.readout else f'vth={int(pop.vth.flat[0])}'}")
    print(f"imported {args.model} -> {out} (T={timesteps}, {graph.input_bits}-bit graded input)")
    return {"nir": str(out), "timesteps": timesteps}


def _load_model(path: str, timesteps: int | None, input_scale: float | None,
                limits: Any = None):
    from hardware_sim.ir.nir import DEFAULT_LIMITS, FOREIGN_INPUT_SCALE, read_nir

    return read_nir(path, timesteps=timesteps,
                    input_scale=FOREIGN_INPUT_SCALE if input_scale is None else input_scale,
                    limits=DEFAULT_LIMITS if limits is None else limits)


def _read_limits(args: argparse.Namespace) -> Any:
    """The --max-neurons/--max-synapses/--max-delay options as ReadLimits (defaults where
    not given)."""
    from hardware_sim.ir.nir import DEFAULT_LIMITS, ReadLimits

    given = {}
    for field, lowest in (("max_neurons", 1), ("max_synapses", 1), ("max_delay", 0)):
        value = getattr(args, field, None)
        if value is not None and value < lowest:
            raise UserError(f"--{field.replace('_', '-')} must be at least {lowest}")
        given[field] = getattr(DEFAULT_LIMITS, field) if value is None else value
    return ReadLimits(**given)


def _simulate(args: argparse.Namespace, backend: str):
    from deploy import run_backend

    model = _load_model(args.model, args.timesteps, args.input_scale, _read_limits(args))
    x, y = _load_split(args.dataset, "test", args.data_dir, args.limit)
    with _progress(len(y), backend, args.quiet) as bar:
        result = run_backend(backend, model, x, on_progress=bar.update)
    _check_strict(args, model, result)
    return model, result, y


def _check_strict(args: argparse.Namespace, model: Any, result: Any) -> None:
    """--strict: a UserError when quantizing clipped a value or the run overflowed."""
    if args.strict:
        clipped = sum(sum(c.values()) for c in model.graph.quantization_report.values())
        if clipped or result.overflow_events:
            raise UserError(f"--strict: {clipped} values clipped while quantizing, "
                            f"{result.overflow_events} overflow events in the run (clipped inputs, "
                            f"wrapped currents, saturated voltages)")


def cmd_simulate(args: argparse.Namespace) -> dict[str, Any]:
    from deploy import summarize
    from hardware_sim.files import write_json

    out = _output_file(args.out) if args.out else None
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


def cmd_energy(args: argparse.Namespace) -> dict[str, Any]:
    """One engine run (every spike recorded) serves the accuracy, the counted events (priced
    in energy, timed by the cycle model), the NeuroBench metrics and the raster."""
    from hardware_sim.chips import load_chip
    from hardware_sim.cost.cycle import time_events
    from hardware_sim.cost.energy import ann_baseline, price_energy
    from hardware_sim.cost.events import count_events
    from hardware_sim.cost.mapping import MappingError, map_to_cores
    from hardware_sim.cost.neurobench import neurobench_metrics
    from hardware_sim.report import build_report, write_energy_report

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a directory")
    chip = load_chip(args.chip)
    float_model = _load_float_model(args.checkpoint) if args.checkpoint else None
    model = _load_model(args.model, args.timesteps, args.input_scale, _read_limits(args))
    x, y = _load_split(args.dataset, "test", args.data_dir, args.limit)
    float_accuracy = _float_accuracy(float_model, x, y) if float_model is not None else None
    inputs, result = _run_recorded(args, model, x)
    try:
        mapping = map_to_cores(model.graph, chip)
    except MappingError as err:
        raise UserError(f"{args.model} does not fit {chip.name}: {err}") from None
    events = count_events(model.graph, mapping, result)
    energy = price_energy(events, chip)
    cycle = time_events(events, chip) if chip.has_cycle_model else None
    report = build_report(
        energy, ann_baseline(model.graph, chip), mapping, chip, result,
        accuracy={"float": float_accuracy, "quantized": result.accuracy(y)},
        model={"nir": str(args.model), "checkpoint": args.checkpoint, "dataset": args.dataset,
               "info": model.info},
        cycle=cycle.to_dict() if cycle else None,
        neurobench=neurobench_metrics(model.graph, result, inputs),
        raster=result.spikes,  # the report shows the first sample
    )
    paths = write_energy_report(out_dir, report)
    totals, baseline = report["totals"], report["baseline_ann"]
    print(f"energy on {chip.name}: {totals['energy_j_per_inference'] * 1e6:.3f} µJ per inference "
          f"(45 nm ANN baseline {baseline['energy_j_per_inference'] * 1e6:.3f} µJ), "
          f"{mapping.cores} cores; report in {paths['report.md'].parent}")
    if cycle:
        print(f"latency {cycle.latency_s * 1e6:.2f} µs per inference, "
              f"{cycle.throughput_per_s:.4g} inferences/s (cycle model)")
    return report


def _run_recorded(args: argparse.Namespace, model: Any, x: np.ndarray) -> tuple[np.ndarray, Any]:
    """The loihi-sim engine (zero-delay timing) on ``x``, every spike recorded: (the run's
    integer inputs, its result)."""
    from deploy import encode_inputs
    from hardware_sim.engine import simulate

    inputs, clipped = encode_inputs(model, x)
    with _progress(len(x), "loihi-sim", args.quiet) as bar:
        result = simulate(model.graph, inputs, record_spikes=True, on_batch=bar.update)
    result.input_clipped = clipped
    _check_strict(args, model, result)
    return inputs, result


def _load_float_model(checkpoint: str) -> Any:
    from dalif.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint)[0]


def _float_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The float model's accuracy on the same samples, through dalif's own evaluation."""
    import torch

    from dalif.train import evaluate

    return evaluate(model, torch.as_tensor(x), torch.as_tensor(y))


def build_parser() -> argparse.ArgumentParser:
    from dalif import config
    from dalif.data import DATASETS
    from deploy import describe_backends

    defaults = config.ModelConfig()

    parser = argparse.ArgumentParser(
        prog="dalif", description="Train, export, simulate and cost DA-LIF spiking networks on "
                                  "Loihi-style neuromorphic hardware.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", default="digits", choices=sorted(DATASETS),
                       help="data set (digits is bundled with scikit-learn; default: digits)")
        p.add_argument("--data-dir", help="directory holding the data set's files (mnist)")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    def limit_args(p: argparse.ArgumentParser) -> None:
        from hardware_sim.ir.nir import DEFAULT_LIMITS

        p.add_argument("--max-neurons", type=int,
                       help=f"refuse NIR files declaring more neurons (default {DEFAULT_LIMITS.max_neurons})")
        p.add_argument("--max-synapses", type=int,
                       help=f"refuse NIR files declaring more synapses (default {DEFAULT_LIMITS.max_synapses})")
        p.add_argument("--max-delay", type=int,
                       help=f"refuse NIR files with a longer delay in steps (default {DEFAULT_LIMITS.max_delay})")

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
    common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="fold, quantize and write a checkpoint as a NIR file")
    p.add_argument("checkpoint", help="checkpoint written by `dalif train`")
    p.add_argument("--out", required=True, help="NIR file to write (.nir)")
    p.add_argument("--json", help="also write a JSON summary of the quantization here")
    p.add_argument("--strict", action="store_true", help="fail if any value had to be clipped")
    p.add_argument("--onnx", metavar="MODEL.onnx",
                   help="also write the quantized network's one-timestep update as ONNX "
                        "(state in, state out; the graph `simulate --backend onnx` runs)")
    p.add_argument("--netx", metavar="MODEL.net",
                   help="also write lava-dl's netx HDF5 (one decay per layer only; see docs/netx.md)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="turn a lava-dl netx network (.net, CUBA layers) into a NIR file")
    p.add_argument("model", help="netx HDF5 file (input, conv, flatten, dense layers; CUBA neurons)")
    p.add_argument("--out", required=True, help="NIR file to write (.nir)")
    p.add_argument("--timesteps", type=int, help="T, for a file that does not carry it (ours do)")
    p.add_argument("--input-bits", type=int, help="bits of the graded input (default 8, or the file's)")
    p.add_argument("--input-scale", type=float,
                   help="float value of one integer input step (default 1/255, or the file's)")
    p.set_defaults(func=cmd_import)

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
    limit_args(p)
    common(p)
    p.set_defaults(func=cmd_simulate)

    from hardware_sim.chips import available_chips

    p = sub.add_parser("energy", help="energy and activity report of a NIR model on a chip profile")
    p.add_argument("model", help="NIR file")
    data_args(p)
    p.add_argument("--chip", default="loihi",
                   help=f"chip profile: one of {', '.join(available_chips())}, or a JSON file of your own")
    p.add_argument("--out", required=True, help="directory for report.json, report.md and plots")
    p.add_argument("--checkpoint", help="the float checkpoint, to report its accuracy beside the quantized one")
    p.add_argument("--limit", type=int, help="use only the first N test samples")
    p.add_argument("--timesteps", type=int, help="T for a foreign NIR file (ours carry it)")
    p.add_argument("--input-scale", type=float, help="input step for a foreign NIR file (default 1/255)")
    limit_args(p)
    p.add_argument("--strict", action="store_true", help="fail on any clipped, wrapped or saturated value")
    common(p)
    p.set_defaults(func=cmd_energy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], Any] = args.func
    try:
        func(args)
    except _user_errors() as exc:
        print(f"dalif: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dalif: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
