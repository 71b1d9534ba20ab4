"""`dalif energy`: the energy, latency and activity report of a NIR model on a chip profile."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from dalif.cli.common import (
    UserError,
    check_checkpoint_matches,
    check_strict,
    common_args,
    data_args,
    guard_outputs,
    limit_args,
    load_model,
    load_split,
    read_limits,
    temporal,
)
from dalif.cli.engine import engine_args, engine_options, run_engine


def add_parser(sub: Any) -> None:
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
    engine_args(p)
    common_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One engine run serves the accuracy, the counted events (priced in energy, timed by the
    cycle model), the NeuroBench metrics and the raster; sharded over Ray workers, the runs
    are merged (sums of integers) before anything is priced."""
    from hardware_sim.chips import load_chip
    from hardware_sim.cost.cycle import time_events
    from hardware_sim.cost.energy import ann_baseline, price_energy
    from hardware_sim.cost.events import count_events
    from hardware_sim.cost.mapping import MappingError, map_to_cores
    from hardware_sim.cost.neurobench import neurobench_metrics
    from hardware_sim.report import build_report, write_energy_report

    guard_outputs(args, inputs=("model", "checkpoint", "chip"), report_dir="out")
    check_checkpoint_matches(args)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a directory")
    chip = load_chip(args.chip)
    options = engine_options(args)
    float_model = _load_float_model(args.checkpoint) if args.checkpoint else None
    model = load_model(args.model, args.timesteps, args.input_scale, read_limits(args))
    x, y = load_split(args.dataset, "test", args.data_dir, args.limit)
    float_accuracy = _float_accuracy(float_model, x, y) if float_model is not None else None
    inputs, result = _run_recorded(args, model, x, options)
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


def _run_recorded(args: argparse.Namespace, model: Any, x: np.ndarray,
                  options: dict[str, Any]) -> tuple[np.ndarray, Any]:
    """The loihi-sim engine (zero-delay timing) on ``x``: (the run's integer inputs, its result).
    Recorded, bounded: the first sample of every population (the report's raster) and every
    sample only of the populations that NeuroBench's effective ops need per sample (the
    sources of sum-pooled projections, ``record_for_neurobench``); everything else the
    report needs is a counter or a per-step sum."""
    recording = {p.name: 1 for p in model.graph.populations}
    recording.update({name: None for name in record_for_neurobench(model.graph)})
    inputs, result = run_engine(model, x, options, quiet=args.quiet, record_spikes=recording,
                                temporal=temporal(args.dataset))
    check_strict(args, model, result)
    return inputs, result


def record_for_neurobench(graph: Any) -> list[str]:
    """The populations whose every sample's spikes ``neurobench_metrics`` reads: sources of
    sum-pooled projections (it counts the non-zero pooled values per sample)."""
    from hardware_sim.ir.graph import INPUT

    return sorted({p.source for pop in graph.populations for p in pop.projections
                   if p.source != INPUT and p.pool > 1})


def _load_float_model(checkpoint: str) -> Any:
    from dalif.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint)[0]


def _float_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The float model's accuracy on the same samples, through dalif's own evaluation."""
    import torch

    from dalif.train import evaluate

    return evaluate(model, torch.as_tensor(x), torch.as_tensor(y))
