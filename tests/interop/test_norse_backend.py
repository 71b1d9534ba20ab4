"""Backend ``norse``: the NIR file's float semantics in norse agree with the bit-exact integer run."""

from __future__ import annotations

import nir
import numpy as np
import pytest

from deploy import BackendError, run_backend
from deploy.norse.backend import NorseBackend, build_module
from deploy.run import encode_inputs
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, FloatGraph, FloatPopulation, Projection
from hardware_sim.ir.nir import read_nir, write_nir
from hardware_sim.ir.quantize import quantize_graph


def spike_agreement(reference: np.ndarray, other: np.ndarray) -> float:
    """1 − (positions where exactly one run spiked) / (reference spikes): mismatches count
    against the spikes, not against all (mostly silent) neuron-steps."""
    return 1.0 - np.count_nonzero(reference != other) / max(1, np.count_nonzero(reference))


def test_norse_agrees_with_loihi_sim(trained, digits_test):
    x, _ = digits_test
    model = read_nir(trained.nir_path)
    inputs, _ = encode_inputs(model, x)
    reference = simulate(model.graph, inputs, record_spikes=True)
    result = NorseBackend(record_spikes=True).run(model, inputs)
    for pop in model.graph.populations:
        if pop.readout:
            continue
        ref = reference.spikes[pop.name]
        assert ref.sum() > 1000, f"{pop.name}: too quiet for the comparison to mean anything"
        agreement = spike_agreement(ref, result.spikes[pop.name])
        assert agreement >= 0.99, f"{trained.kind} {pop.name}: {agreement:.4%} of spikes agree"
    np.testing.assert_array_equal(result.predictions, reference.predictions)
    # the readout's float V is v_scale × the integer v, up to the few spikes that differ
    scale = model.graph.output_population.v_scale
    assert np.corrcoef(result.output.ravel(), reference.output.ravel() * scale)[0, 1] > 0.99
    # the first layer sees identical input: its input MACs and events are identical
    first = model.graph.populations[0].name
    assert result.count(first).input_macs == reference.count(first).input_macs
    np.testing.assert_array_equal(result.synaptic_events_per_step[first],
                                  reference.synaptic_events_per_step[first])


def test_norse_is_registered_and_runs_through_the_registry(trained, digits_test):
    x, _ = digits_test
    model = read_nir(trained.nir_path)
    result = run_backend("norse", model, x[:16])
    assert result.samples == 16 and result.predictions.shape == (16,)
    assert result.count(model.graph.populations[0].name).spikes > 0


def _residual_float_graph(rng: np.random.Generator) -> FloatGraph:
    """input → c1 (conv) → c2 (conv on pooled c1) → d3 (dense from c2 + dense skip from c1)
    → readout: a skip connection (two edges into one neuron node), and a per-neuron gain."""
    def lif(name, shape, projections, gain=None):
        # a conv's NIR bias is per channel, applied before the gain (as folding α produces it)
        bias = rng.normal(0.05, 0.05, shape[:1] + (1,) * (len(shape) - 1))
        return FloatPopulation(name, shape, projections, beta=rng.uniform(0.3, 0.95, shape),
                               threshold=np.full(shape, 1.0),
                               bias=np.broadcast_to(bias, shape) * (1 if gain is None else gain),
                               gain=gain)

    c1 = Projection(INPUT, "conv", rng.normal(0, 0.5, (4, 1, 3, 3)), (1, 8, 8), padding=1)
    p1 = lif("c1", (4, 8, 8), [c1], gain=rng.uniform(0.5, 0.99, (4, 8, 8)))
    c2 = Projection("c1", "conv", rng.normal(0.05, 0.4, (6, 4, 3, 3)), (4, 8, 8), padding=1, pool=2)
    p2 = lif("c2", (6, 4, 4), [c2])
    d3a = Projection("c2", "dense", rng.normal(0.02, 0.2, (12, 96)), (6, 4, 4))
    d3b = Projection("c1", "dense", rng.normal(0.02, 0.1, (12, 256)), (4, 8, 8))
    p3 = lif("d3", (12,), [d3a, d3b])
    ro = Projection("d3", "dense", rng.normal(0, 0.5, (5, 12)), (12,))
    p4 = FloatPopulation("readout", (5,), [ro], beta=np.ones(5), threshold=np.full(5, np.inf),
                         bias=np.zeros(5), readout=True)
    return FloatGraph(input_shape=(1, 8, 8), populations=[p1, p2, p3, p4], output="readout",
                      input_scale=1 / 16)


def test_norse_runs_a_skip_connection_right(tmp_path):
    """nirtorch's interpreter sums the two edges into d3 in the same step (norse's own importer
    does not, DESIGN §4): spikes agree with the integer engine as for a chain."""
    rng = np.random.default_rng(3)
    graph = quantize_graph(_residual_float_graph(rng), timesteps=6)
    path = tmp_path / "skip.nir"
    write_nir(graph, path, timesteps=6)
    model = read_nir(path)
    assert len([e for e in model.nir_graph.edges if e[1] == "d3"]) == 2
    inputs = rng.integers(0, 17, (64, 6, 1, 8, 8))
    reference = simulate(model.graph, inputs, record_spikes=True)
    result = NorseBackend(record_spikes=True).run(model, inputs)
    for name in ("c1", "c2", "d3"):
        assert reference.spikes[name].sum() > 100, name
        assert spike_agreement(reference.spikes[name], result.spikes[name]) >= 0.99, name


def test_norse_builds_from_a_graph_without_a_file():
    """A model not read from a file is written as NIR in memory first (the same float form)."""
    rng = np.random.default_rng(4)
    graph = quantize_graph(_residual_float_graph(rng), timesteps=3)
    from hardware_sim.ir.graph import DeployedModel

    model = DeployedModel(graph, 3, {}, foreign=False)
    result = NorseBackend().run(model, rng.integers(0, 17, (4, 3, 1, 8, 8)))
    assert result.output.shape == (4, 5)


def test_a_node_without_norse_mapping_is_an_error_naming_it():
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])),
               "fc": nir.Affine(weight=np.ones((3, 3), np.float32), bias=np.zeros(3, np.float32)),
               "leaky": nir.LI(tau=np.ones(3) * 2, r=np.ones(3), v_leak=np.zeros(3)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc"), ("fc", "leaky"), ("leaky", "output")])
    with pytest.raises(BackendError, match=r"node 'leaky': LI has no norse mapping"):
        build_module(graph)


def test_a_delay_node_runs_as_whole_steps():
    """NIR Delay(d): y[t] = x[t − d]; LIF with τ = 1, r = 1 passes the drive straight through."""
    import torch

    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])),
               "late": nir.Delay(delay=np.array([2.0, 2.0])),
               "fc": nir.Linear(weight=np.eye(2, dtype=np.float32)),
               "lif": nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2),
                              v_threshold=np.full(2, 0.5)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "late"), ("late", "fc"), ("fc", "lif"), ("lif", "output")])
    module = build_module(graph)
    state, out = None, []
    for t in range(5):
        x = torch.tensor([[1.0 if t == 0 else 0.0, 1.0 if t == 1 else 0.0]], dtype=torch.float64)
        y, state = module(x, state)
        out.append(y[0].tolist())
    assert out == [[0, 0], [0, 0], [1, 0], [0, 1], [0, 0]]
