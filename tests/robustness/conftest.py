"""Shared inputs of the robustness suite, and its hypothesis profiles.

Profiles: ``ci`` (default; few examples, derandomized so every run tries the same
inputs) and ``long`` (many examples, random), picked by the environment:

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/robustness
"""

from __future__ import annotations

import os

import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from hardware_sim.ir.nir import write_nir
from tests.hardware_sim.test_engine_vs_spec import random_graph

settings.register_profile("ci", max_examples=25, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def valid_nir(tmp_path_factory):
    """A file written by this toolchain: conv with gain, pooling, a delayed residual, a readout."""
    path = tmp_path_factory.mktemp("valid") / "model.nir"
    graph = random_graph(np.random.default_rng(0))
    for pop in graph.populations:  # NIR's Conv2d bias is per channel (before the input gain)
        if len(pop.shape) == 3:
            per_channel = pop.bias_mant[:, :1, :1] if pop.gain is None else 0
            pop.bias_mant = np.broadcast_to(per_channel, pop.shape).copy()
    write_nir(graph, path, timesteps=3, info={"note": "robustness"})
    return path


@pytest.fixture(scope="session")
def valid_checkpoint(tmp_path_factory):
    import torch  # noqa: F401  (keeps the import cost inside the fixture)

    from dalif.checkpoint import save_checkpoint
    from dalif.models import ModelConfig, build_model

    config = ModelConfig(model="mlp", input_shape=(1, 8, 8), num_classes=10, timesteps=2,
                         granularity="layer", input_scale=1 / 16, seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, build_model(config), config, {"test_accuracy": 0.5, "dataset": "digits"})
    return path


def foreign_graph(**overrides) -> nir.NIRGraph:
    """A small foreign (metadata-free) graph, input 4 → LIF 3 → LIF 2 → output; keyword
    arguments replace nodes (None removes one); ``edges=`` replaces the edges."""
    nodes = {
        "input": nir.Input(input_type=np.array([4])),
        "fc1": nir.Affine(weight=np.full((3, 4), 0.5, np.float32), bias=np.zeros(3, np.float32)),
        "lif1": nir.LIF(tau=np.full(3, 2.0), r=np.full(3, 2.0), v_leak=np.zeros(3),
                        v_threshold=np.ones(3), v_reset=np.zeros(3)),
        "fc2": nir.Affine(weight=np.full((2, 3), 0.5, np.float32), bias=np.zeros(2, np.float32)),
        "lif2": nir.LIF(tau=np.full(2, 2.0), r=np.full(2, 2.0), v_leak=np.zeros(2),
                        v_threshold=np.ones(2), v_reset=np.zeros(2)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = overrides.pop("edges", [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
                                    ("lif2", "output")])
    for name, node in overrides.items():
        if node is None:
            nodes.pop(name)
        else:
            nodes[name] = node
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)  # nir.read checks types
