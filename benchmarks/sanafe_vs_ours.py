"""hardware_sim's cycle/energy model against SANA-FE: same model, mapping, constants, inputs.

    .venv/bin/python benchmarks/sanafe_vs_ours.py --model CONV.nir --model MLP.nir [--samples N]
        [--chip loihi] [--arch profile|stock] [--neurons-per-core N]

Needs the optional ``sanafe`` package (pip install sanafe). Without ``--model`` the demo
conv net and MLP are built untrained (digits shapes, T = 4, per-neuron decays); pass
trained ones with ``--model`` (``dalif train ... && dalif export ...``). Inputs: the first
N (default 32) digits test images, encoded as every backend gets them.

Per model, per inference: energy and latency from our model (hardware_sim.cost.cycle on the
engine in pipelined timing, ``hardware_sim.engine.pipelined_reference``, with the
graded inputs' messages; core phases overlapped, the default, and serial) and from
SANA-FE (deploy/sanafe/backend.py; timing models detailed and simple), the spikes of
both, and wall times: ours = the two engine runs + the cycle model; SANA-FE = building
the network and loading the chip, and its simulation alone. ``--arch stock`` runs
SANA-FE's bundled loihi.yaml constants instead of the profile's (its barrier differs).
``--neurons-per-core N`` shrinks the profile's cores so that a layer spreads over many
cores and tiles: there SANA-FE's detailed timing adds arrival waiting and NoC congestion,
which our count-based model leaves out (hardware_sim/cost/cycle.py).
Writes benchmarks/results/sanafe_vs_ours.json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

from hardware_sim.chips import derive_chip
from hardware_sim.files import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "sanafe_vs_ours.json"


def untrained(kind: str, path: Path) -> str:
    from dalif.models import ModelConfig, build_model
    from export import export_model, write_exported

    config = ModelConfig(model=kind, input_shape=(1, 8, 8), num_classes=10, timesteps=4,
                         granularity="neuron", input_scale=1 / 16)
    write_exported(export_model(build_model(config)), path, {"note": "untrained, for benchmarking"})
    return f"untrained demo {kind} (digits shapes, T = 4, per-neuron decays)"


def compare(path: str, label: str, samples: int, chip, arch: str) -> dict:
    import numpy as np

    from dalif.data import load_dataset
    from deploy import encode_inputs
    from deploy.sanafe.backend import SanafeBackend
    from hardware_sim.cost.cycle import cycle_model
    from hardware_sim.cost.mapping import map_to_cores
    from hardware_sim.engine import pipelined_reference
    from hardware_sim.ir.nir import read_nir

    model = read_nir(path)
    graph = model.graph
    x, _ = load_dataset("digits", "test")
    inputs, _ = encode_inputs(model, x.numpy()[:samples])
    t0 = time.perf_counter()
    mapping = map_to_cores(graph, chip)
    ref = pipelined_reference(graph, inputs)
    ours = {ph: cycle_model(graph, ref, chip, mapping, core_phases=ph, inputs=inputs)
            for ph in ("serial", "overlapped")}
    ours_wall = time.perf_counter() - t0
    theirs = {}
    for timing in ("detailed", "simple"):
        t0 = time.perf_counter()
        result = SanafeBackend(chip=chip, arch=arch, timing_model=timing,
                               mapping=mapping).run(model, inputs)
        theirs[timing] = (result, time.perf_counter() - t0)
    sf, sf_wall = theirs["detailed"]
    rep = sf.sanafe

    def rel(a: float, b: float) -> float:
        return (a - b) / b if b else float("nan")

    spikes = {p.name: {"ours": int(ref.count(p.name).spikes),
                       "sanafe": int(sf.count(p.name).spikes)} for p in graph.populations}
    return {
        "model": label, "nir": str(path), "samples": int(len(inputs)),
        "timesteps": int(inputs.shape[1]), "chip": chip.name, "sanafe_arch": arch,
        "neurons_per_core": chip.neurons_per_core,
        "cores": mapping.cores, "tiles": mapping.tiles,
        "energy_j_per_inference": {"ours": ours["serial"].energy_j_per_inference,
                                   "sanafe": rep.energy_j_per_inference,
                                   "rel_diff": rel(ours["serial"].energy_j_per_inference,
                                                   rep.energy_j_per_inference)},
        "latency_s_per_inference": {
            "ours_serial": ours["serial"].latency_s,
            "ours_overlapped": ours["overlapped"].latency_s,
            "sanafe_detailed": rep.latency_s_per_inference,
            "sanafe_simple": theirs["simple"][0].sanafe.latency_s_per_inference,
            "rel_diff_overlapped_vs_detailed": rel(ours["overlapped"].latency_s,
                                                   rep.latency_s_per_inference),
            "rel_diff_serial_vs_detailed": rel(ours["serial"].latency_s,
                                               rep.latency_s_per_inference),
            "rel_diff_overlapped_vs_simple": rel(
                ours["overlapped"].latency_s - ours["overlapped"].network_ns.sum() * 1e-9,
                theirs["simple"][0].sanafe.latency_s_per_inference),
        },
        "sanafe_energy_parts_j_per_inference": rep.energy_j_by_part_per_inference,
        "ours_energy_by_event_j_per_inference": {
            k: v / ours["serial"].samples for k, v in ours["serial"].energy_j_by_event.items()},
        "spikes": spikes,
        "spikes_identical": all(np.array_equal(sf.spikes_per_step[k], ref.spikes_per_step[k])
                                for k in spikes),
        "outputs_identical": bool(np.array_equal(sf.output, ref.output)),
        "wall_s": {"ours_engine_and_cycle_model": ours_wall,
                   "sanafe_detailed_total": sf_wall,
                   "sanafe_build_and_load": rep.build_wall_s,
                   "sanafe_sim_only": rep.sim_wall_s},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", help="NIR file (repeatable)")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--chip", default="loihi")
    parser.add_argument("--arch", choices=("profile", "stock"), default="profile")
    parser.add_argument("--neurons-per-core", type=int, default=None,
                        help="shrink the profile's cores (a fragmented mapping)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.neurons_per_core is not None and args.neurons_per_core < 1:
        parser.error("--neurons-per-core must be at least 1")
    try:
        import sanafe  # noqa: F401
    except ImportError:
        print("sanafe is not installed: pip install sanafe", file=sys.stderr)
        return 2
    chip = derive_chip(args.chip, neurons_per_core=args.neurons_per_core)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = [(m, m) for m in args.model or []]
        if not models:
            for kind in ("convnet", "mlp"):
                path = Path(tmp) / f"{kind}.nir"
                models.append((str(path), untrained(kind, path)))
        for path, label in models:
            rows.append(compare(path, label, args.samples, chip, args.arch))
    head = (f"{'model':<28}{'E ours µJ':>10}{'E SANA-FE':>10}{'ΔE':>8}{'t ours µs':>11}"
            f"{'t SANA-FE':>11}{'Δt':>8}{'t serial µs':>12}{'wall ours':>10}{'wall SF':>9}"
            f"{'SF sim':>8}")
    print(head)
    for r in rows:
        e, t, w = r["energy_j_per_inference"], r["latency_s_per_inference"], r["wall_s"]
        name = Path(r["nir"]).name if r["model"] == r["nir"] else r["model"][:27]
        print(f"{name:<28}{e['ours'] * 1e6:>10.4f}{e['sanafe'] * 1e6:>10.4f}"
              f"{e['rel_diff'] * 100:>7.2f}%{t['ours_overlapped'] * 1e6:>11.2f}"
              f"{t['sanafe_detailed'] * 1e6:>11.2f}"
              f"{t['rel_diff_overlapped_vs_detailed'] * 100:>7.2f}%{t['ours_serial'] * 1e6:>12.2f}"
              f"{w['ours_engine_and_cycle_model']:>9.2f}s{w['sanafe_detailed_total']:>8.2f}s"
              f"{w['sanafe_sim_only']:>7.2f}s")
        print(f"{'':<28}spikes identical: {r['spikes_identical']}, outputs identical: "
              f"{r['outputs_identical']}, {r['cores']} cores on {r['tiles']} tiles, "
              f"{r['samples']} samples × T = {r['timesteps']}; without routes ours vs "
              f"SANA-FE simple timing: {t['rel_diff_overlapped_vs_simple'] * 100:+.2f}%")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, {
        "command": " ".join([".venv/bin/python", "benchmarks/sanafe_vs_ours.py",
                             *(argv or sys.argv[1:])]),
        "python": platform.python_version(), "platform": platform.platform(),
        "sanafe": _version("sanafe"), "results": rows})
    print(f"wrote {out}")
    return 0


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
