"""loihi-sim against Lava: the same model and inputs, wall time per sample, identical spikes.

    .venv/bin/python benchmarks/lava_vs_sim.py [--model MODEL.nir] [--limit N]

Without ``--model`` the demo conv net is built untrained (dalif.models.build_model,
digits shapes, T = 4, per-neuron decays) and exported; pass a trained one with
``--model`` (``dalif train --model convnet ...`` then ``dalif export``). Inputs are the
first N (default: all 360) digits test images, encoded as every backend gets them
(deploy.encode_inputs).

Timed: each backend's ``run`` as the CLI calls it. loihi-sim is warmed up once and
its best of ``--repeat`` runs is taken (one torch thread unless ``--threads``); Lava
runs once and is timed end to end (the runner's start, Lava's compile, the run) and
by Lava's stepping alone. The spikes of every population, the outputs and the counts
must be identical, or the script fails (exit code 1).
Writes benchmarks/results/lava_vs_sim.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "lava_vs_sim.json"


def untrained_convnet(path: Path) -> str:
    from dalif.models import ModelConfig, build_model
    from export import export_model, write_exported

    config = ModelConfig(model="convnet", input_shape=(1, 8, 8), num_classes=10, timesteps=4,
                         granularity="neuron", input_scale=1 / 16)
    write_exported(export_model(build_model(config)), path, {"note": "untrained, for benchmarking"})
    return ("untrained demo convnet (build_model(ModelConfig(model='convnet', "
            "input_shape=(1, 8, 8), num_classes=10, timesteps=4, granularity='neuron', "
            "input_scale=1/16)))")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="NIR file (default: the untrained demo conv net)")
    parser.add_argument("--limit", type=int, default=360,
                        help="digits test samples (default 360: all of them)")
    parser.add_argument("--repeat", type=int, default=7, help="loihi-sim runs, best taken")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for loihi-sim (default 1: on a shared 2-core machine "
                             "two threads oversubscribe and vary tenfold)")
    parser.add_argument("--out", default=str(RESULTS), help="JSON to write")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from dalif.data import load_dataset
    from deploy import encode_inputs, get_backend
    from hardware_sim.engine import simulate
    from hardware_sim.ir.nir import read_nir

    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model_path, described = args.model, str(args.model)
        else:
            model_path = str(Path(tmp) / "convnet.nir")
            described = untrained_convnet(Path(model_path))
        model = read_nir(model_path)
    x, _ = load_dataset("digits", "test")
    inputs, _ = encode_inputs(model, x.numpy()[:args.limit])
    n = inputs.shape[0]

    sim = get_backend("loihi-sim")
    sim.run(model, inputs[:8])  # warm-up
    sim_times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        sim_result = sim.run(model, inputs)
        sim_times.append(time.perf_counter() - start)
    sim_seconds = min(sim_times)

    lava = get_backend("lava")
    start = time.perf_counter()
    lava_result = lava.run(model, inputs)
    lava_seconds = time.perf_counter() - start
    lava_run_seconds = lava.last_summary["seconds"]["run"]

    reference = simulate(model.graph, inputs, record_spikes=True)
    mismatched = {name: int((lava_result.spikes[name] != reference.spikes[name]).sum())
                  for name in reference.spikes}
    identical = (not any(mismatched.values())
                 and np.array_equal(lava_result.output, reference.output)
                 and np.array_equal(sim_result.output, reference.output)
                 and [c.to_dict() for c in lava_result.counts]
                 == [c.to_dict() for c in sim_result.counts])
    spikes = sum(c.spikes for c in reference.counts)

    rows = [
        ("loihi-sim (batched torch, CPU)", sim_seconds),
        ("lava, end to end (runner start, compile, run)", lava_seconds),
        ("lava, stepping only", lava_run_seconds),
    ]
    print(f"model: {described}")
    print(f"{n} samples, T={model.timesteps}, {spikes} spikes, loihi-sim on "
          f"{torch.get_num_threads()} torch thread(s), "
          f"{'identical' if identical else 'DIFFERENT'} spikes, outputs and counts")
    print(f"{'backend':<48} {'s total':>9} {'ms/sample':>10} {'× loihi-sim':>12}")
    for label, seconds in rows:
        print(f"{label:<48} {seconds:>9.3f} {1e3 * seconds / n:>10.3f} "
              f"{seconds / sim_seconds:>12.1f}")

    given = sys.argv[1:] if argv is None else argv
    record = {
        "command": " ".join(["benchmarks/lava_vs_sim.py", *given]),
        "model": described,
        "samples": n,
        "timesteps": model.timesteps,
        "spikes": spikes,
        "identical": identical,
        "mismatched_spikes": mismatched,
        "seconds": {"loihi_sim": sim_seconds, "loihi_sim_runs": sim_times, "lava": lava_seconds,
                    "lava_stepping": lava_run_seconds,
                    "lava_summary": lava.last_summary["seconds"]},
        "ms_per_sample": {"loihi_sim": 1e3 * sim_seconds / n, "lava": 1e3 * lava_seconds / n,
                          "lava_stepping": 1e3 * lava_run_seconds / n},
        "speedup": {"end_to_end": lava_seconds / sim_seconds,
                    "stepping_only": lava_run_seconds / sim_seconds},
        "lava_steps": lava.last_summary["lava_steps"],
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "load_average_1min": os.getloadavg()[0]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
