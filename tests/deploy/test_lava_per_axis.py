"""The Lava backend on convolutions whose stride and padding differ per axis: Lava's Conv takes
them in its (W, H) order, the reverse of ours, and a Sparse matrix takes them from
``synapses``; both run spike for spike like hardware_sim (.venv-lava)."""

from __future__ import annotations

from deploy.lava.backend import LavaBackend
from hardware_sim.engine import simulate
from tests.hardware_sim import per_axis

from .test_lava_conformance import _assert_same_run, _model


def test_per_axis_strided_net_runs_spike_for_spike(tmp_path):
    graph = per_axis.graph()
    model = _model(graph, tmp_path)
    x = per_axis.inputs(graph, 6, 6)
    expected = simulate(model.graph, x, record_spikes=True)
    backend = LavaBackend()
    lava = backend.run(model, x)
    _assert_same_run(lava, expected, graph, min_spikes=1000)
    via = {(p["target"], p["source"]): p["via"] for p in backend.last_summary["projections"]}
    assert via[("c1", "input")] == via[("c2", "c1")] == "conv", via  # pool 2 folded in
    assert via[("c3", "c2")] == "sparse", via  # e < 0: a matrix from synapses.synapse_list

