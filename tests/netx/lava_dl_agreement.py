"""How far hardware_sim agrees with lava-dl on netx files that are not shipped here (the
agreement column of docs/netx.md's table of lava-dl's files):

    PYTHONPATH=. .venv/bin/python tests/netx/lava_dl_agreement.py FILE.net [...]

Each file is imported with ``read_netx`` and run by lava-dl's own loader in Lava
(.venv-netx, through ``conftest.run_lava_dl`` / ``run_lava_dl_traces``) and by
``engine.simulate`` on the same inputs: a file with an image-as-bias input layer on one
random image (u and v of every layer, every step), a file with graded input on N samples
of random 1-bit spikes (every layer's spikes, and a readout's v). Prints one line per layer.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from hardware_sim.engine import direct_encode, simulate
from hardware_sim.ir.netx import INPUT_LAYER, read_netx
from hardware_sim.record import StateRecorder
from tests.netx.conftest import run_lava_dl, run_lava_dl_traces


def image_as_bias(path: Path, timesteps: int, rng: np.random.Generator) -> None:
    graph, _ = read_netx(path, timesteps=timesteps, input_bits=8)
    image = rng.integers(64, 141, graph.input_shape)  # netx's bootstrap transform: 76·x + 64
    lava = run_lava_dl_traces(path, image.T, timesteps, Path(tempfile.mkdtemp()))
    recorder = StateRecorder(graph, ("u", "v"), 1, timesteps)
    simulate(graph, direct_encode(image[None], timesteps), record_state=recorder)
    for i, pop in enumerate(graph.populations):
        for field in ("u", "v"):
            theirs = lava[f"{field}_{i}"][i:i + timesteps]
            if theirs.ndim == 4:
                theirs = np.moveaxis(theirs, [1, 2, 3], [3, 2, 1])
            ours = recorder.arrays[field][pop.name][0]
            differ = int(np.count_nonzero(ours != theirs))
            print(f"{path.name} {pop.name} {field}: " + (f"equal at {timesteps} steps" if not differ
                                                        else f"{differ} of {ours.size} values differ"))


def graded(path: Path, timesteps: int, samples: int, density: float, rng: np.random.Generator) -> None:
    graph, _ = read_netx(path, timesteps=timesteps, input_bits=1)
    x = (rng.random((samples, timesteps, *graph.input_shape)) < density).astype(np.int64)
    ours = simulate(graph, x, record_spikes=True)
    got = run_lava_dl(path, x, 1, first_layer_dense=graph.populations[0].projections[0].kind == "dense",
                      tmp_path=Path(tempfile.mkdtemp()))
    for i, pop in enumerate(graph.populations):
        same = np.array_equal(got[f"spikes_{i}"], ours.spikes[pop.name])
        print(f"{path.name} {pop.name} spikes: {'equal' if same else 'DIFFER'} "
              f"({int(ours.spikes[pop.name].sum())} spikes in {samples} x {timesteps} steps)")
    if graph.populations[-1].readout:
        print(f"{path.name} readout v: "
              f"{'equal' if np.array_equal(got['v_last'][:, -1], ours.output) else 'DIFFER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--timesteps", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--density", type=float, default=0.2, help="input spike density")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for path in args.files:
        graph, _ = read_netx(path, timesteps=args.timesteps)
        if graph.populations[0].name == INPUT_LAYER:
            image_as_bias(path, args.timesteps, rng)
        else:
            graded(path, args.timesteps, args.samples, args.density, rng)


if __name__ == "__main__":
    main()
