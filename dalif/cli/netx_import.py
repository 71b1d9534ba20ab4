"""`dalif import`: a lava-dl netx network (.net) as our NIR file."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from dalif.cli.common import (
    UserError,
    guard_outputs,
    limit_args,
    raise_if_wrong_kind,
    read_limits,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("import", help="turn a lava-dl netx network (.net, CUBA layers) into a NIR file")
    p.add_argument("model", help="netx HDF5 file (input, conv, flatten, dense layers; CUBA neurons)")
    p.add_argument("--out", required=True, help="NIR file to write (.nir)")
    p.add_argument("--timesteps", type=int,
                   help="T, for a file that does not carry it (ours do; slayer's as /simulation/tSample)")
    p.add_argument("--layers", type=int, metavar="K",
                   help="import only the file's first K layers (netx's num_layers; the input layer counts)")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="the input's shape, for a file without an input layer that starts with a "
                        "strided conv")
    p.add_argument("--input-bits", type=int, help="bits of the graded input (default 8, or the file's)")
    p.add_argument("--input-scale", type=float,
                   help="float value of one integer input step (default 1/255, or the file's)")
    limit_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """A lava-dl netx network (.net) → our NIR file, for loihi-sim, energy and the other backends."""
    from hardware_sim.ir.netx import INPUT_LAYER, NetxError, read_netx
    from hardware_sim.ir.nir import write_nir
    from hardware_sim.ir.nir.format import INPUT_BITS_RANGE

    guard_outputs(args, inputs=("model",), files=("out",))
    out = Path(args.out)
    limits = read_limits(args)
    if args.timesteps is not None and not 1 <= args.timesteps <= limits.max_timesteps:
        raise UserError(f"--timesteps must lie in 1..{limits.max_timesteps} (raise the limit: --max-timesteps)")
    lo_bits, hi_bits = INPUT_BITS_RANGE
    if args.input_bits is not None and not lo_bits <= args.input_bits <= hi_bits:
        raise UserError(f"--input-bits must lie in {lo_bits}..{hi_bits}")
    if args.input_scale is not None and not (math.isfinite(args.input_scale) and args.input_scale > 0
                                             and math.isfinite(1 / args.input_scale)):
        raise UserError(f"--input-scale must be a positive finite number, got {args.input_scale!r}")
    kwargs: dict[str, Any] = {"timesteps": args.timesteps, "limits": limits, "layers": args.layers,
                              "input_shape": _shape(args.input_shape)}
    if args.input_bits is not None:
        kwargs["input_bits"] = args.input_bits
    if args.input_scale is not None:
        kwargs["input_scale"] = args.input_scale
    try:
        graph, timesteps = read_netx(args.model, **kwargs)
    except NetxError:
        raise_if_wrong_kind(args.model, "netx")
        raise
    encoding = ("graded input, the bias of the image-as-bias input layer"
                if graph.populations[0].name == INPUT_LAYER else "graded input into the first synapse")
    write_nir(graph, out, timesteps, {"imported_from": "lava-dl netx", "source": Path(args.model).name,
                                      "input_encoding": encoding})
    if args.layers is not None and args.layers < 1:
        raise UserError("--layers must be at least 1")
    for pop in graph.populations:
        p = pop.projections[0]
        print(f"  {pop.name:<10} {p.kind:<5} shape {pop.shape!s:<14} e={p.weight_exp} "
              f"dv={int(pop.dv.flat[0])} du={int(pop.du.flat[0])} "
              f"{'readout' if pop.readout else f'vth={int(pop.vth.flat[0])}'}")
    print(f"imported {args.model} -> {out} (T={timesteps}, {graph.input_bits}-bit {encoding})")
    return {"nir": str(out), "timesteps": timesteps}


def _shape(text: str | None) -> tuple[int, ...] | None:
    """--input-shape "3,32,32" → (3, 32, 32)."""
    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise UserError(f"--input-shape {text!r}: give 1 to 3 positive integers, e.g. 3,32,32")
    return shape
