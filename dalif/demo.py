"""`make demo`: train → export → simulate → energy on the bundled digits data set.

Runs the same commands a user would type (through dalif.cli) into one directory
and prints the numbers that matter: float vs quantized accuracy and energy per
inference on Loihi vs the 45 nm ANN baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dalif.cli import main as dalif


def run(out: Path, epochs: int, quiet: bool) -> int:
    out.mkdir(parents=True, exist_ok=True)
    ckpt, model, result = out / "model.pt", out / "model.nir", out / "simulate.json"
    quiet_flag = ["--quiet"] if quiet else []
    steps = [
        ["train", "--model", "convnet", "--dataset", "digits", "--granularity", "neuron",
         "--timesteps", "4", "--epochs", str(epochs), "--seed", "0", "--out", str(ckpt), *quiet_flag],
        ["export", str(ckpt), "--out", str(model), "--json", str(out / "export.json")],
        ["simulate", str(model), "--backend", "loihi-sim", "--dataset", "digits", "--out", str(result),
         *quiet_flag],
        ["energy", str(model), "--dataset", "digits", "--chip", "loihi", "--out", str(out / "energy"),
         "--checkpoint", str(ckpt), *quiet_flag],
    ]
    started = time.perf_counter()
    for argv in steps:
        print(f"\n$ dalif {' '.join(argv)}", flush=True)
        code = dalif(argv)
        if code:
            return code
    report = json.loads((out / "energy" / "report.json").read_text())
    acc, totals, baseline = report["accuracy"], report["totals"], report["baseline_ann"]
    print("\n== DA-LIF demo: convnet, per-neuron decays, T = 4, digits ==")
    print(f"float accuracy      {acc['float']:.4f}")
    print(f"quantized accuracy  {acc['quantized']:.4f}  (loihi-sim, {report['samples']} test samples)")
    print(f"energy / inference  {totals['energy_j_per_inference'] * 1e6:.3f} µJ on {report['chip']['name']}"
          f"  vs  {baseline['energy_j_per_inference'] * 1e6:.3f} µJ for the 45 nm ANN baseline")
    print(f"outputs in {out}/ ({time.perf_counter() - started:.0f} s)")
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m dalif.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", type=Path)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    return run(args.out, args.epochs, args.quiet)


if __name__ == "__main__":
    sys.exit(cli())
