"""`dalif export`: fold, quantize and write a checkpoint as NIR (and ONNX, netx)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from dalif.cli.common import (
    UserError,
    checkpoint_sha256,
    guard_outputs,
    load_checkpoint_file,
)


def add_parser(sub: Any) -> None:
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every output checked first (none may be the checkpoint, or another output); the files are
    written as one set (``hardware_sim.files.output_set``): all of them, or none."""
    from export import export_model, write_exported
    from hardware_sim.files import output_set, write_json

    guard_outputs(args, inputs=("checkpoint",), files=("out", "json", "onnx", "netx"))
    out = Path(args.out)
    onnx_out = Path(args.onnx) if getattr(args, "onnx", None) else None
    netx_out = Path(args.netx) if getattr(args, "netx", None) else None
    digest = checkpoint_sha256(args.checkpoint)
    model, config, metrics = load_checkpoint_file(args.checkpoint)
    exported = export_model(model)
    netx_changes = None
    if netx_out is not None:  # one export, one integer model: every file holds what netx holds
        exported.graph, netx_changes = _netx_model(exported.graph)
    info = {"checkpoint": str(Path(args.checkpoint).name), "checkpoint_sha256": digest,
            "config": config.to_dict(), "float_accuracy": metrics.get("test_accuracy"),
            "dataset": metrics.get("dataset")}
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
    with output_set():
        write_exported(exported, out, info)
        if netx_changes is not None:
            from hardware_sim.ir.netx import write_netx

            write_netx(exported.graph, netx_out, exported.timesteps, info)
            summary["netx"] = {"path": str(netx_out), "changes": netx_changes}
        if onnx_out is not None:
            from deploy.onnx import write_onnx

            write_onnx(exported.graph, onnx_out, exported.timesteps, info)
            summary["onnx"] = str(onnx_out)
        if args.json:
            write_json(args.json, summary)
    if netx_changes is not None:
        changed = {name: {k: v for k, v in c.items() if v} for name, c in netx_changes.items()}
        print(f"  netx (lava-dl) -> {netx_out}; to fit netx's fixed bias exponent and unshifted "
              f"synapses, every file of this export holds the adapted model: changes "
              f"{ {k: v for k, v in changed.items() if v} or 'none'}")
    for layer in summary["layers"]:
        clipped = sum(layer["clipped"].values())
        print(f"  {layer['name']:<10} shape {tuple(layer['shape'])!s:<14} e={layer['weight_exp']} "
              f"dv {layer['dv_min']}..{layer['dv_max']} ({layer['distinct_dv']} distinct) "
              f"clipped {clipped}")
    print(f"exported {args.checkpoint} -> {out} ({exported.clipped_values} values clipped)")
    if onnx_out is not None:
        print(f"  and its one-step update -> {onnx_out} (ONNX, exact on every CPU)")
    print("wrote " + ", ".join(str(path) for path in (out, netx_out, onnx_out, args.json) if path))
    return summary


def _netx_model(graph: Any) -> tuple[Any, dict[str, dict[str, int]]]:
    """The netx-representable form of an exported graph (hardware_sim/ir/netx.py); NetxError if none."""
    from hardware_sim.ir.netx import netx_graph

    return netx_graph(graph)
