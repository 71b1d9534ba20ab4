"""The options `dalif simulate` and `dalif energy` share for a model's own inputs and its
recorded state: --input/--labels/--input-bits (``hardware_sim.ir.inputs``) and --record
(``hardware_sim.record``). The commands call ``input_args`` and ``file_inputs`` and nothing
else of it, so their wiring stays a few lines."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any, NamedTuple


def input_args(p: argparse.ArgumentParser) -> None:
    """--input, --labels, --input-bits."""
    group = p.add_argument_group("inputs from a file (instead of --dataset)")
    group.add_argument("--input", metavar="X",
                       help="the model's integer inputs: .npy, .npz or .h5 holding (N, T, *input_shape) "
                            "or static (N, *input_shape) repeated over T; in an .npz/.h5 name them "
                            "input (and the labels labels)")
    group.add_argument("--labels", metavar="Y", help="labels (N,) for --input, .npy/.npz/.h5")
    group.add_argument("--input-bits", type=int, metavar="B",
                       help="bits of the input values, 0..2^B-1 (1 for spike inputs; default: the "
                            "model's)")


def record_args(p: argparse.ArgumentParser) -> None:
    """--record, --record-out."""
    group = p.add_argument_group("probes")
    group.add_argument("--record", metavar="u,v,s",
                       help="write every population's u, v and/or spikes s at every step of every "
                            "sample (loihi-sim, zero-delay timing) to --record-out")
    group.add_argument("--record-out", metavar="FILE",
                       help="HDF5 file for --record (default record.h5)")


class FileInputs(NamedTuple):
    """A model as it runs the file's inputs (its input bits set), the inputs, and labels."""

    model: Any
    inputs: Any  # hardware_sim.ir.inputs.InputArrays: encode_inputs passes them through
    labels: Any


def file_inputs(args: argparse.Namespace, model: Any, max_bytes: int) -> FileInputs | None:
    """--input read and checked against ``model`` (None without --input); --labels and
    --input-bits need --input."""
    from dalif.cli.common import UserError
    from hardware_sim.ir.inputs import read_inputs

    if args.input is None:
        if args.labels is not None or args.input_bits is not None:
            raise UserError("--labels and --input-bits go with --input")
        return None
    if getattr(args, "checkpoint", None):
        raise UserError("--checkpoint evaluates the float model on --dataset; leave it out with --input")
    bits = model.graph.input_bits if args.input_bits is None else args.input_bits
    graph = model.graph
    output = graph.output_population
    arrays = read_inputs(args.input, graph.input_shape, model.timesteps, bits, max_bytes=max_bytes,
                         labels_path=args.labels, classes=int(output.shape[0]) if len(output.shape) == 1
                         else None)
    limit = getattr(args, "limit", None)
    if limit is not None:
        if limit < 1:
            raise UserError("--limit must be at least 1")
        labels = None if arrays.labels is None else arrays.labels[:limit]
        arrays = replace(arrays, values=arrays.values[:limit], labels=labels)
    if bits != graph.input_bits:
        model = replace(model, graph=replace(graph, input_bits=bits))
    return FileInputs(model, arrays, arrays.labels)


def record_request(args: argparse.Namespace) -> tuple[str, ...]:
    """--record's fields (a subset of u, v, s), or () without it; sets the default --record-out
    (call it before ``guard_outputs`` checks the outputs)."""
    from dalif.cli.common import UserError
    from hardware_sim.record import RECORD_FIELDS

    if args.record is None:
        if args.record_out is not None:
            raise UserError("--record-out goes with --record")
        return ()
    fields = tuple(dict.fromkeys(f.strip() for f in args.record.split(",") if f.strip()))
    if not fields or set(fields) - set(RECORD_FIELDS):
        raise UserError(f"--record {args.record!r}: give a comma-separated subset of "
                        f"{','.join(RECORD_FIELDS)}")
    if args.backend != "loihi-sim" or getattr(args, "timing", "zero-delay") != "zero-delay":
        raise UserError("--record records the loihi-sim engine in the zero-delay timing")
    if args.record_out is None:
        args.record_out = "record.h5"
    return fields


def write_state_record(args: argparse.Namespace, fields: tuple[str, ...], model: Any, x: Any,
                       temporal: bool, max_bytes: int) -> None:
    """--record: the engine's run of the same inputs with a ``StateRecorder``, written to
    --record-out (the recorded run and the reported run are the same integers)."""
    from dalif.cli.common import UserError
    from deploy import encode_inputs
    from hardware_sim.engine import simulate
    from hardware_sim.record import StateRecorder, record_bytes, write_record

    inputs, _ = encode_inputs(model, x, temporal)
    n, timesteps = inputs.shape[:2]
    needed = record_bytes(model.graph, fields, n, timesteps)
    if needed > max_bytes:
        raise UserError(f"--record {','.join(fields)} of {n} samples x {timesteps} steps takes "
                        f"{needed} bytes, more than the budget of {max_bytes} (use --limit, fewer "
                        f"fields, or raise --max-bytes)")
    recorder = StateRecorder(model.graph, fields, n, timesteps)
    simulate(model.graph, inputs, device=args.device, record_state=recorder)
    write_record(args.record_out, recorder, model.graph)
    if not args.quiet:
        print(f"recorded {','.join(fields)} of {len(model.graph.populations)} populations, "
              f"{n} samples x {timesteps} steps -> {args.record_out}")
