"""`dalif import`: a lava-dl netx network (.net) as our NIR file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dalif.cli.common import (
    UserError,
    output_file,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("import", help="turn a lava-dl netx network (.net, CUBA layers) into a NIR file")
    p.add_argument("model", help="netx HDF5 file (input, conv, flatten, dense layers; CUBA neurons)")
    p.add_argument("--out", required=True, help="NIR file to write (.nir)")
    p.add_argument("--timesteps", type=int, help="T, for a file that does not carry it (ours do)")
    p.add_argument("--input-bits", type=int, help="bits of the graded input (default 8, or the file's)")
    p.add_argument("--input-scale", type=float,
                   help="float value of one integer input step (default 1/255, or the file's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """A lava-dl netx network (.net) → our NIR file, for loihi-sim, energy and the other backends."""
    from hardware_sim.ir.netx import read_netx
    from hardware_sim.ir.nir import write_nir

    out = output_file(args.out)
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
