"""What the model zoo costs at full width on each chip profile: cores, chips, compartments,
synaptic memory per core, the limit that sets each layer's cores, and the energy and latency
of one inference (T = 4) on inputs of the data set's shape.

    .venv/bin/python benchmarks/zoo_mapping.py [--chips loihi,loihi2] [--samples 2]
        [--models resnet19,resnet20,vgg11,dvsnet] [--out benchmarks/results/zoo_mapping.json]

The nets are untrained (seed 0) with batch-norm statistics and affine parameters as training
leaves them (a train-mode pass over random images, then BN scales in [0.5, 2] and shifts in
[0.1, 0.5], so every layer fires), exported (fold + quantize) as ``dalif export`` does. The
mapping depends on the shapes and weight widths only; the energy and latency on the activity
of these random inputs (random 8-bit images; for dvsnet, random event frames at 5 % density),
so they are indicative of the cost of the structure, not of a trained net's accuracy.
Events are counted and priced with the hardware_sim cost model (``count_events``,
``price_energy``, ``time_events``), the neuron updates split by the ``input_or_spike`` rule.
Prints a table and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INPUTS = {"resnet19": ((3, 32, 32), 10, 1 / 255), "resnet20": ((3, 32, 32), 10, 1 / 255),
          "vgg11": ((3, 32, 32), 10, 1 / 255), "dvsnet": ((2, 128, 128), 11, 1.0)}
TIMESTEPS = 4


def exported(arch: str):
    """The zoo net ``arch`` with trained-like batch norm, exported: (ExportedModel, float inputs)."""
    import torch

    from dalif.config import ModelConfig
    from dalif.models import build_model
    from export import export_model

    shape, classes, scale = INPUTS[arch]
    config = ModelConfig(model=arch, input_shape=shape, num_classes=classes, granularity="channel",
                         input_scale=scale, timesteps=TIMESTEPS, seed=0)
    torch.manual_seed(0)
    model = build_model(config)
    gen = torch.Generator().manual_seed(0)
    model.train()
    with torch.no_grad():
        model(random_inputs(arch, 8, gen))
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.weight.uniform_(0.5, 2.0, generator=gen)
                module.bias.uniform_(0.1, 0.5, generator=gen)
    model.eval()
    return export_model(model)


def random_inputs(arch: str, samples: int, gen):
    """Float inputs as the data set gives them: images in [0, 1] (N, C, H, W), or event
    frames (N, T, 2, 128, 128) of 0/1 at 5 % density."""
    import torch

    shape = INPUTS[arch][0]
    if arch == "dvsnet":
        return (torch.rand((samples, TIMESTEPS, *shape), generator=gen) < 0.05).float()
    return torch.randint(0, 256, (samples, *shape), generator=gen).float() / 255


def cost(graph, result, chip_name: str) -> dict:
    """Map, count, price and time one run on one chip (the row of the table)."""
    from hardware_sim.chips import load_chip
    from hardware_sim.cost.cycle import time_events
    from hardware_sim.cost.energy import price_energy
    from hardware_sim.cost.events import count_events
    from hardware_sim.cost.mapping import MappingError, map_to_cores

    chip = load_chip(chip_name)
    start = time.perf_counter()
    try:
        mapping = map_to_cores(graph, chip)
    except MappingError as err:
        return {"chip": chip_name, "refused": str(err), "mapping_s": time.perf_counter() - start}
    mapping_s = time.perf_counter() - start
    start = time.perf_counter()
    events = count_events(graph, mapping, result)
    energy = price_energy(events, chip, active_updates="input_or_spike")
    cycle = time_events(events, chip)
    bits = np.asarray([u.synapse_bits for u in mapping.core_usage], np.float64)
    cap = chip.limits.get("synaptic_memory_bits_per_core")
    limited_by = {p.name: mapping.binding_limit(p.name) for p in mapping.populations}
    return {
        "chip": chip_name, "cores": mapping.cores, "chips": mapping.chips,
        "neurons": sum(p.neurons for p in mapping.populations),
        "compartments": mapping.compartments,
        "split_populations": {p.name: len(p.dendrites) for p in mapping.populations if p.dendrites},
        "not_bit_exact": [p.name for p in mapping.populations if p.join_notes],
        "synapse_kib_per_core": {"mean": bits.mean() / 8192, "max": bits.max() / 8192,
                                 "capacity": cap / 8192 if cap else None},
        "limited_by": limited_by,
        "limited_by_count": dict(Counter(limited_by.values())),
        "energy_uj_per_inference": energy.energy_j_per_inference * 1e6,
        "energy_uj_per_inference_by_event": {
            k: v * 1e6 for k, v in energy.totals()["per_inference"]["energy_j_by_op"].items()},
        "latency_us_per_inference": cycle.latency_s * 1e6,
        "mapping_s": mapping_s, "cost_model_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--chips", default="loihi,loihi2", help="chip profiles, comma-separated")
    parser.add_argument("--models", default=",".join(INPUTS), help="zoo nets, comma-separated")
    parser.add_argument("--samples", type=int, default=2, help="random inputs simulated per net")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "zoo_mapping.json"))
    args = parser.parse_args(argv)

    import torch

    from deploy import encode_inputs
    from hardware_sim.engine import simulate
    from hardware_sim.files import write_json
    from hardware_sim.ir.graph import DeployedModel

    rows = []
    for arch in args.models.split(","):
        start = time.perf_counter()
        model = exported(arch)
        export_s = time.perf_counter() - start
        deployed = DeployedModel(model.graph, model.timesteps, {}, foreign=False)
        x = random_inputs(arch, args.samples, torch.Generator().manual_seed(1)).numpy()
        inputs, _ = encode_inputs(deployed, x, temporal=arch == "dvsnet")
        start = time.perf_counter()
        result = simulate(model.graph, inputs)
        sim_s = time.perf_counter() - start
        rate = sum(c.spikes for c in result.counts) / sum(c.neuron_updates for c in result.counts)
        for chip_name in args.chips.split(","):
            row = {"model": arch, "samples": args.samples, "timesteps": TIMESTEPS,
                   "firing_rate": rate, "export_s": export_s, "simulate_s": sim_s,
                   **cost(model.graph, result, chip_name)}
            rows.append(row)
            print(line(row), flush=True)
    record = {"command": " ".join([".venv/bin/python", "benchmarks/zoo_mapping.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "rows": rows}
    write_json(Path(args.out), record)
    print(f"peak RSS {record['peak_rss_mb']:.0f} MB; wrote {args.out}")
    return 0


def line(row: dict) -> str:
    if "refused" in row:
        return f"{row['model']:<9} {row['chip']:<7} does not fit: {row['refused']}"
    mem = row["synapse_kib_per_core"]
    limits = ", ".join(f"{k} {v}" for k, v in sorted(row["limited_by_count"].items()))
    return (f"{row['model']:<9} {row['chip']:<7} {row['cores']:>7} cores {row['chips']:>4} chips "
            f"{row['compartments']:>9} compartments, synaptic memory {mem['mean']:.0f} KiB/core "
            f"(max {mem['max']:.0f}), layers limited by {limits}; "
            f"{row['energy_uj_per_inference']:.4g} µJ, {row['latency_us_per_inference']:.4g} µs per "
            f"inference; mapped in {row['mapping_s']:.1f} s, costed in {row['cost_model_s']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
