"""Run a NIR model in Lava: ``python -m deploy.lava.runner MODEL.nir INPUTS.npz --out RESULT.npz``.

Runs inside the Lava environment (``make lava-venv``; Python 3.10, no torch).
INPUTS.npz holds ``inputs``, integers (N, T, *input_shape). RESULT.npz holds

    output, predictions          the readout's final v (or spike counts) and its argmax
    spikes_<i>                   population i's spikes, (T, N, *shape) bool, zero-delay timing
    spikes_per_step_<i>          (T, *shape), summed over samples
    synaptic_events_per_step_<i> (T, *shape), non-zero inputs arriving per neuron
    record_<i>                   with --records: every Lava step, (N·T + max depth, *shape),
                                 spikes (bool) or a readout's v, untrimmed (PyTorch layout)
    summary                      JSON: population names, per-population counts, depths,
                                 projections (delay lines, masks, Lava process), timings

Counts follow hardware_sim.engine: spikes; synaptic_ops (1-bit spikes × fan-out) and
input_macs (graded inputs × fan-out) of what arrives within each sample; neuron updates
(neurons × N × T); u wraps and v clips as counted by the Lava neurons. Progress goes
to stderr as lines ``lava-progress DONE TOTAL`` (samples).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deploy.lava.compiler import compile_graph
from hardware_sim.cost.events import count_activity
from hardware_sim.ir.nir import read_nir

PROGRESS_PREFIX = "lava-progress"


def run_lava(model_path: str | Path, inputs: np.ndarray, select_tag: str = "fixed_pt",
             workdir: str | Path | None = None, chunk_steps: int | None = None,
             progress: bool = False, records: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    """Compile and run the model in Lava; returns (arrays, summary) as written to RESULT.npz.
    ``records``: add every population's per-Lava-step record (``record_<i>``)."""
    model = read_nir(model_path)
    graph = model.graph
    inputs = np.asarray(inputs)
    if not np.issubdtype(inputs.dtype, np.integer):
        raise ValueError("inputs must be integers (quantize them with QGraph.quantize_input)")

    def report(done: int, total: int) -> None:
        if progress:
            print(f"{PROGRESS_PREFIX} {done} {total}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        start = time.perf_counter()
        net = compile_graph(graph, inputs, tmp, select_tag=select_tag)
        build_seconds = time.perf_counter() - start
        run = net.run(on_progress=report, chunk_steps=chunk_steps)
    counts, per_step, events = count_activity(graph, inputs, run.spikes)
    for c in counts:
        c.u_wraps = run.u_wraps.get(c.name, 0)
        c.v_clips = run.v_clips.get(c.name, 0)
    n = inputs.shape[0]
    output = run.output
    arrays: dict[str, np.ndarray] = {
        "output": output,
        "predictions": output.reshape(n, -1).argmax(axis=1) if n else np.zeros(0, np.int64),
    }
    names = [p.name for p in graph.populations]
    for i, name in enumerate(names):
        arrays[f"spikes_{i}"] = run.spikes[name]
        arrays[f"spikes_per_step_{i}"] = per_step[name]
        arrays[f"synaptic_events_per_step_{i}"] = events[name]
        if records:
            arrays[f"record_{i}"] = run.records[name]
    summary = {
        "populations": names,
        "samples": int(n),
        "timesteps": int(inputs.shape[1]),
        "select_tag": select_tag,
        "depth": {k: int(v) for k, v in net.plan.depth.items()},
        "projections": [{**p.__dict__, "via": net.via[(p.target, p.index)]}
                        for p in net.plan.projections],
        "counts": [c.to_dict() for c in counts],
        "lava_steps": run.lava_steps,
        "seconds": {"build": build_seconds, "compile": run.compile_seconds, "run": run.run_seconds},
    }
    return arrays, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.lava.runner",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("model", help="NIR file")
    parser.add_argument("inputs", help=".npz with 'inputs', integers (N, T, *input_shape)")
    parser.add_argument("--out", required=True, help="RESULT.npz to write")
    parser.add_argument("--select-tag", default="fixed_pt", choices=["fixed_pt", "floating_pt"])
    parser.add_argument("--chunk-steps", type=int,
                        help="Lava steps per run() call (progress granularity)")
    parser.add_argument("--workdir", help="directory for the recorders' temporary files")
    parser.add_argument("--progress", action="store_true",
                        help=f"print '{PROGRESS_PREFIX} DONE TOTAL' lines on stderr")
    parser.add_argument("--records", action="store_true",
                        help="also write every population's record of every Lava step")
    args = parser.parse_args(argv)
    with np.load(args.inputs) as data:
        inputs = data["inputs"]
    arrays, summary = run_lava(args.model, inputs, args.select_tag, args.workdir, args.chunk_steps,
                               progress=args.progress, records=args.records)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".part.npz")
    np.savez(tmp, summary=np.array(json.dumps(summary)), **arrays)
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
