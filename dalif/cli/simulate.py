"""`dalif simulate`: run a NIR model on a backend; accuracy and activity as RESULT.json."""

from __future__ import annotations

import argparse
from typing import Any

from dalif.cli.common import (
    UserError,
    check_strict,
    common_args,
    data_args,
    foreign_args,
    guard_outputs,
    limit_args,
    load_model,
    load_split,
    output_file,
    phase,
    progress,
    read_limits,
    temporal,
)
from dalif.cli.engine import TIMINGS, engine_args, engine_options, run_engine
from dalif.cli.input_files import (
    file_inputs,
    input_args,
    record_args,
    record_request,
    write_state_record,
)

BACKEND_TIMING = {"lava": "aligned, read in each layer's window (equals zero-delay)",
                  "onnx": "zero-delay", "norse": "zero-delay", "sanafe": "pipelined"}
"""The timing each backend other than loihi-sim (``--timing``) executes (hardware_sim.engine)."""


def add_parser(sub: Any) -> None:
    from deploy import describe_backends

    backends = describe_backends()
    p = sub.add_parser("simulate", help="run a NIR model on a backend and measure accuracy and activity",
                       epilog="backends: " + "; ".join(f"{k}: {v}" for k, v in backends.items()))
    p.add_argument("model", help="NIR file (from `dalif export`, or a foreign NIR graph)")
    p.add_argument("--backend", default="loihi-sim", choices=list(backends),
                   help="the executor that runs the NIR file (listed below)")
    p.add_argument("--timing", default="zero-delay", choices=TIMINGS,
                   help="loihi-sim: zero-delay (the reference every backend is compared with), "
                        "aligned (Loihi's and Lava's pipeline: one step per hop, per-layer resets "
                        "and balancing delays; equals zero-delay after each layer's shift) or "
                        "pipelined (SANA-FE's naive pipeline: one step per hop from zero state, so "
                        "a layer l hops deep gets input on T - l of the T steps)")
    p.add_argument("--out", help="RESULT.json to write")
    model_args(p)
    record_args(p)
    p.set_defaults(func=run)


def model_args(p: argparse.ArgumentParser) -> None:
    """What loading a model and its samples takes (``load_run``): data set or input files, the
    foreign file's reading, the engine's and the reader's limits; shared with `dalif compare`."""
    data_args(p)
    p.add_argument("--limit", type=int, help="use only the first N test samples")
    p.add_argument("--timesteps", type=int, help="T for a foreign NIR file (ours carry it)")
    p.add_argument("--input-scale", type=float,
                   help="float value of one integer input step for a foreign NIR file (default 1/255)")
    p.add_argument("--strict", action="store_true", help="fail on any clipped, wrapped or saturated value")
    engine_args(p)
    input_args(p)
    foreign_args(p)
    limit_args(p)
    common_args(p)


def load_run(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The model as ``model_args`` say to read it, and its samples: the input files given, or the
    data set's test split."""
    limits = read_limits(args)
    model = load_model(args.model, args.timesteps, args.input_scale, limits,
                       dt=args.dt, reset=args.reset, input_bits=args.input_bits)
    given = file_inputs(args, model, limits.max_bytes)
    return given if given else (model, *load_split(args.dataset, "test", args.data_dir, args.limit))


def check_backend_options(args: argparse.Namespace, backend: str) -> None:
    """The loihi-sim engine's options are refused for the other backends, in one line."""
    if backend == "loihi-sim":
        if args.timing != "zero-delay" and (args.workers != 1 or args.ray_address):
            raise UserError(f"--timing {args.timing} runs in one process: --workers and "
                            f"--ray-address shard the zero-delay run only")
        return
    if args.device != "cpu" or args.workers != 1 or args.ray_address:
        raise UserError("--device, --workers and --ray-address apply to --backend loihi-sim")
    if args.timing != "zero-delay":
        raise UserError(f"--timing applies to --backend loihi-sim; {backend} runs "
                        f"{BACKEND_TIMING[backend]}")


def execute(args: argparse.Namespace, backend: str, model: Any, x: Any, y: Any,
            options: dict[str, Any]) -> dict[str, Any]:
    """Run one backend on the loaded model and samples: the RESULT.json it writes (what
    `dalif compare` tabulates too). For sanafe, also hardware_sim's run in SANA-FE's timing and
    both simulators' energy and latency (``deploy.sanafe.compare``)."""
    from deploy import encode_inputs, run_backend, summarize

    is_temporal = temporal(args.dataset)
    if backend == "loihi-sim":
        _, result = run_engine(model, x, options, quiet=args.quiet, temporal=is_temporal,
                               timing=args.timing)
        timing = args.timing
    elif backend == "sanafe":
        return _execute_sanafe(args, model, x, y, encode_inputs(model, x, is_temporal))
    else:
        with progress(len(x), backend, args.quiet) as bar:
            result = run_backend(backend, model, x, on_progress=bar.update, temporal=is_temporal)
        timing = BACKEND_TIMING[backend]
    check_strict(args, model, result)
    return {"model": str(args.model), "dataset": args.dataset, "timing": timing,
            **summarize(result, y, backend)}


def _execute_sanafe(args: argparse.Namespace, model: Any, x: Any, y: Any,
                    encoded: tuple[Any, int]) -> dict[str, Any]:
    from deploy import get_backend, summarize
    from deploy.sanafe.compare import pipelined_comparison
    from hardware_sim.chips import load_chip
    from hardware_sim.cost.mapping import MappingError, map_to_cores

    inputs, clipped = encoded
    chip = load_chip("loihi")
    try:
        mapping = map_to_cores(model.graph, chip)
    except MappingError as err:
        raise UserError(f"{args.model} does not fit {chip.name}, the chip SANA-FE models: "
                        f"{err}") from None
    with progress(len(inputs), "sanafe", args.quiet) as bar:
        result = get_backend("sanafe", chip=chip, mapping=mapping).run(model, inputs, bar.update)
    result.input_clipped = clipped
    check_strict(args, model, result)
    with phase("hardware_sim in SANA-FE's timing, and its cost model", args.quiet):
        comparison = pipelined_comparison(model.graph, inputs, result, chip, mapping, y)
    return {"model": str(args.model), "dataset": args.dataset, "timing": "pipelined",
            **summarize(result, y, "sanafe"), "sanafe": result.sanafe.to_dict(),
            "hardware_sim_pipelined": comparison}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from hardware_sim.files import write_json

    record = record_request(args)
    guard_outputs(args, inputs=("model", "input", "labels"), files=("out", "record_out"))
    out = output_file(args.out) if args.out else None
    check_backend_options(args, args.backend)
    options = engine_options(args)
    model, x, y = load_run(args)
    summary = execute(args, args.backend, model, x, y, options)
    if model.reading is not None:
        summary["foreign_nir"] = model.reading
    if record:
        write_state_record(args, record, model, x, temporal(args.dataset), read_limits(args).max_bytes)
    if out:
        write_json(out, summary)
    print_summary(summary)
    if out:
        print(f"wrote {out}")
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """RESULT.json's figures as a few lines; for sanafe, its timing stated first."""
    backend = summary["backend"]
    comparison = summary.get("hardware_sim_pipelined")
    if comparison:
        print(f"sanafe: {comparison['note']}")
    accuracy = "n/a (no labels)" if summary["accuracy"] is None else f"{summary['accuracy']:.4f}"
    print(f"{backend}: accuracy {accuracy} on {summary['samples']} samples, "
          f"T={summary['timesteps']}, {summary['timing']} timing")
    for layer in summary["layers"]:
        print(f"  {layer['name']:<10} spikes {layer['spikes']:>10}  synaptic ops {layer['synaptic_ops']:>12}"
              f"  input MACs {layer['input_macs']:>10}")
    if sum(summary["overflow"].values()):
        print(f"  overflow events: {summary['overflow']}")
    if comparison:
        energy, latency = comparison["energy_j_per_inference"], comparison["latency_s_per_inference"]
        accuracy = comparison.get("accuracy")
        print(f"hardware_sim on the same inputs in the same (pipelined) timing: accuracy "
              f"{'n/a (no labels)' if accuracy is None else format(accuracy['hardware_sim'], '.4f')}"
              f", predictions agree on "
              f"{comparison['prediction_agreement']:.2%}; spikes SANA-FE - ours per layer: "
              + ", ".join(f"{layer['name']} {layer['spikes']['difference']:+d}"
                          for layer in comparison["layers"]))
        print(f"  per inference on {comparison['chip']}: energy SANA-FE "
              f"{energy['sanafe'] * 1e6:.4f} µJ, ours {energy['hardware_sim'] * 1e6:.4f} µJ"
              f"{_percent(energy['rel_diff'])}; latency SANA-FE {latency['sanafe'] * 1e6:.2f} µs "
              f"({latency['sanafe_timing_model']} timing), ours {latency['hardware_sim'] * 1e6:.2f} µs"
              f"{_percent(latency['rel_diff'])}")


def _percent(rel: float | None) -> str:
    return f" ({rel:+.2%})" if rel is not None else ""
