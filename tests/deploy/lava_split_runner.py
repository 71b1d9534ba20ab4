"""Run a QGraph with some populations' fan-in split into compartment groups, in Lava (run in
.venv-lava).

    python tests/deploy/lava_split_runner.py MODEL.nir SPLITS.json INPUTS.npz OUT.npz

MODEL.nir is the unsplit net; SPLITS.json maps a population to its groups, [[projection,
lo, hi], ...] (``hardware_sim.cost.split.Group``). ``split.split_graph`` turns every group
into a Lava Dense/Conv of its own, all feeding the soma's input port (Lava sums the ports'
values before the neuron update: the join built from Dense layers), then deploy.lava's
compiler runs it. (The split is applied here, not written to the NIR file: our NIR reader
takes one projection per source into a population.) Writes per population the spikes
(T, N, *shape), in the zero-delay timing, and the output.
"""

from __future__ import annotations

import json
import sys
import tempfile

import numpy as np

from deploy.lava.compiler import compile_graph
from hardware_sim.cost import split
from hardware_sim.ir.nir import read_nir


def main(model: str, splits_path: str, inputs_path: str, out: str) -> int:
    graph = read_nir(model).graph
    with open(splits_path) as f:
        splits = {name: tuple(split.Group(*g) for g in groups) for name, groups in json.load(f).items()}
    graph = split.split_graph(graph, splits)
    with np.load(inputs_path) as data:
        inputs = data["inputs"]
    with tempfile.TemporaryDirectory() as tmp:
        run = compile_graph(graph, inputs, tmp).run()
    np.savez(out, output=run.output, **{pop.name: run.spikes[pop.name] for pop in graph.populations})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
