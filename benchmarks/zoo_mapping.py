"""The model zoo at full width on each chip profile: cores, chips and the binding limit, or why a
network does not fit (random weights: the mapping depends on the shapes and weight widths only).

    .venv/bin/python benchmarks/zoo_mapping.py [--chips loihi,loihi2] [--out benchmarks/results/zoo_mapping.json]

Prints a table and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

INPUTS = {"resnet19": ((3, 32, 32), 10, 1 / 255), "resnet20": ((3, 32, 32), 10, 1 / 255),
          "vgg11": ((3, 32, 32), 10, 1 / 255), "dvsnet": ((2, 128, 128), 11, 1.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--chips", default="loihi,loihi2", help="chip profiles, comma-separated")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "zoo_mapping.json"))
    args = parser.parse_args()

    import torch

    from dalif.config import ModelConfig
    from dalif.models import build_model
    from export import export_model
    from hardware_sim.chips import load_chip
    from hardware_sim.cost.mapping import MappingError, map_to_cores
    from hardware_sim.files import write_json

    rows = []
    for arch, (shape, classes, scale) in INPUTS.items():
        torch.manual_seed(0)
        config = ModelConfig(model=arch, input_shape=shape, num_classes=classes, granularity="channel",
                             input_scale=scale, timesteps=4)
        graph = export_model(build_model(config).eval()).graph
        for chip_name in args.chips.split(","):
            start = time.perf_counter()
            try:
                mapping = map_to_cores(graph, load_chip(chip_name))
                row = {"model": arch, "chip": chip_name, "cores": mapping.cores, "chips": mapping.chips,
                       "limited_by": sorted({mapping.binding_limit(p.name) for p in mapping.populations})}
            except MappingError as err:
                row = {"model": arch, "chip": chip_name, "refused": str(err)}
            row["mapping_s"] = time.perf_counter() - start
            rows.append(row)
            fit = (f"{row['cores']:>6} cores {row['chips']:>4} chips  limited by "
                   f"{', '.join(row['limited_by'])}" if "cores" in row else f"does not fit: {row['refused']}")
            print(f"{arch:<9} {chip_name:<7} {fit}  ({row['mapping_s']:.2f} s)", flush=True)
    write_json(Path(args.out), {"command": "benchmarks/zoo_mapping.py", "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
