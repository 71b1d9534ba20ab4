"""`dalif energy`: the energy, latency and activity report of a NIR model on a chip profile."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from dalif.cli.common import (
    UserError,
    check_checkpoint_matches,
    check_strict,
    guard_outputs,
    phase,
    temporal,
)
from dalif.cli.engine import engine_options, run_engine
from dalif.cli.simulate import load_run, model_args


def add_parser(sub: Any) -> None:
    from hardware_sim.chips import available_chips

    p = sub.add_parser("energy", help="energy and activity report of a NIR model on a chip profile")
    p.add_argument("model", help="NIR file")
    p.add_argument("--chip", default="loihi",
                   help=f"chip profile: one of {', '.join(available_chips())}, or a JSON file of your own")
    p.add_argument("--out", required=True, help="directory for report.json, report.md and plots")
    p.add_argument("--checkpoint", help="the float checkpoint, to report its accuracy beside the quantized one")
    p.add_argument("--name", help="the model's name in the report (default: the architecture the "
                                  "NIR file records, else the file's name)")
    model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One engine run serves the accuracy, the counted events (priced in energy, timed by the
    cycle model), the NeuroBench metrics and the raster; sharded over Ray workers, the runs
    are merged (sums of integers) before anything is priced."""
    from hardware_sim.chips import ChipFeatureError, load_chip, require_features
    from hardware_sim.cost.cycle import time_events
    from hardware_sim.cost.energy import ann_baseline, price_energy
    from hardware_sim.cost.events import count_events
    from hardware_sim.cost.neurobench import neurobench_metrics
    from hardware_sim.report import build_report, console_lines, write_energy_report

    guard_outputs(args, inputs=("model", "checkpoint", "chip", "input", "labels"), report_dir="out")
    check_checkpoint_matches(args)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a directory")
    chip = load_chip(args.chip)
    options = engine_options(args)
    float_model = _load_float_model(args.checkpoint) if args.checkpoint else None
    model, x, y = load_run(args)
    try:  # a neuron the chip cannot run: refused before anything is mapped or simulated
        require_features(chip, model.graph)
    except ChipFeatureError as err:
        raise UserError(f"{args.model}: {err}") from None
    with phase(f"mapping onto {chip.name}", args.quiet):  # before simulating: refuse early
        mapping = _map_or_refuse(args.model, model.graph, chip)
    float_accuracy = None
    if float_model is not None:
        with phase("float model on the same samples", args.quiet):
            float_accuracy = _float_accuracy(float_model, x, y)
    inputs, result = _run_recorded(args, model, x, options)
    with phase("cost model: events, energy, latency", args.quiet):
        events = count_events(model.graph, mapping, result)
        energy = price_energy(events, chip)
        cycle = time_events(events, chip) if chip.has_cycle_model else None
    report = build_report(
        energy, ann_baseline(model.graph, chip), mapping, chip, result,
        accuracy={"float": float_accuracy, "quantized": None if y is None else result.accuracy(y)},
        model={"name": args.name, "nir": str(args.model), "checkpoint": args.checkpoint,
               "dataset": args.dataset, "info": model.info, "foreign_nir": model.reading},
        cycle=cycle.to_dict() if cycle else None,
        neurobench=neurobench_metrics(model.graph, result, inputs),
        raster=result.spikes,  # the report shows the first sample
        provenance=_provenance(args, chip.path, len(x)),
        graph=model.graph,
    )
    with phase("writing the report and its plots", args.quiet):
        paths = write_energy_report(out_dir, report)
    print("\n".join(console_lines(report, str(paths["report.html"].parent))))
    print(f"wrote {out_dir}/: {', '.join(sorted(Path(path).name for path in paths.values()))}")
    return report


def _map_or_refuse(path: str, graph: Any, chip: Any) -> Any:
    """The network's mapping onto ``chip`` (fan-in split where a core cannot hold it), or a
    UserError naming the limit broken and what to try, before anything is simulated."""
    from hardware_sim.chips import available_chips
    from hardware_sim.cost.mapping import MappingError, map_to_cores

    try:
        return map_to_cores(graph, chip)
    except MappingError as err:
        others = [c for c in available_chips() if c != chip.name]
        raise UserError(f"{path} does not fit {chip.name}: {err}; try --chip "
                        f"{' or --chip '.join(others)}, or a profile of your own with larger "
                        "per-core limits (--chip FILE.json)") from None


def _provenance(args: argparse.Namespace, chip_path: str | None, samples: int) -> dict[str, Any]:
    """The report's provenance: the command as typed (``args.argv`` where ``dalif.cli.main``
    records it, else this process's command line) and every file the run read, by sha256."""
    from hardware_sim.report import collect_provenance

    argv = getattr(args, "argv", None)
    command = ["dalif", *argv] if argv is not None else list(sys.argv)
    given = getattr(args, "input", None)
    files = {"nir": args.model, "checkpoint": args.checkpoint, "chip_profile": chip_path,
             "input": given, "labels": getattr(args, "labels", None)}
    return collect_provenance(command, files, dataset=None if given else args.dataset,
                              split="--input file" if given else "test", samples=samples,
                              limit=args.limit)


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
    from dalif.cli.common import load_checkpoint_file

    return load_checkpoint_file(checkpoint, "--checkpoint")[0]


def _float_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The float model's accuracy on the same samples, through dalif's own evaluation."""
    import torch

    from dalif.train import evaluate

    return evaluate(model, torch.as_tensor(x), torch.as_tensor(y))
