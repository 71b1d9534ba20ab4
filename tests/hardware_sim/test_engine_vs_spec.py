"""hardware_sim's batched engine against the spec-literal loop, on random small nets."""

import numpy as np
import pytest

from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.synapses import synapse_list

from .spec_loop import run_sample


def random_graph(rng: np.random.Generator, du_full: bool = True) -> QGraph:
    """conv (stride 1 or 2, per-neuron gain) → conv on pooled spikes → dense residual join
    (one path delayed) → readout."""
    def ints(lo, hi, shape):
        return rng.integers(lo, hi, shape)

    def pop(name, shape, projections, gain=False, readout=False):
        return IntPopulation(
            name=name, shape=shape, projections=projections,
            dv=ints(0, 4096, shape), du=np.full(shape, 4095) if du_full else ints(0, 4096, shape),
            vth=ints(1, 60, shape), bias_mant=ints(-200, 200, shape), bias_exp=int(rng.integers(0, 3)),
            v_scale=1.0, gain=ints(1000, 4096, shape) if gain else None, readout=readout,
        )

    stride = int(rng.integers(1, 3))
    c1 = Projection(INPUT, "conv", ints(-128, 128, (3, 2, 3, 3)), (2, 6, 6), weight_exp=int(rng.integers(-2, 2)),
                    stride=stride, padding=1)
    p1 = pop("c1", c1.output_shape, [c1], gain=True)
    c2 = Projection("c1", "conv", ints(-128, 128, (4, 3, 3, 3)), p1.shape, weight_exp=int(rng.integers(0, 4)),
                    padding=1, pool=1 if stride == 2 else 2)
    p2 = pop("c2", c2.output_shape, [c2])
    n2 = int(np.prod(p2.shape))
    d3a = Projection("c2", "dense", ints(-128, 128, (7, n2)), p2.shape, weight_exp=2)
    d3b = Projection("c1", "dense", ints(-128, 128, (7, int(np.prod(p1.shape)))), p1.shape, weight_exp=1, delay=1)
    p3 = pop("d3", (7,), [d3a, d3b])
    ro = Projection("d3", "dense", ints(-128, 128, (4, 7)), (7,), weight_exp=0)
    p4 = pop("readout", (4,), [ro], readout=True)
    return QGraph(input_shape=(2, 6, 6), populations=[p1, p2, p3, p4], output="readout", input_bits=4)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("timing, hop_delay", [("zero-delay", 0), ("pipelined", 1)])
def test_engine_equals_spec_loop(seed, timing, hop_delay):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, du_full=seed % 2 == 0)
    x = rng.integers(0, 16, (3, 5, 2, 6, 6))  # N=3 samples, T=5
    result = simulate(graph, x, timing=timing, record_spikes=True, batch_size=2)
    total_spikes = 0
    events = {p.name: 0 for p in graph.populations}
    for n in range(x.shape[0]):
        trace, sample_events = run_sample(graph, x[n], hop_delay=hop_delay)
        for name, ops in sample_events.items():
            events[name] += ops
        for pop in graph.populations:
            if pop.readout:
                np.testing.assert_array_equal(result.output[n], trace[pop.name][-1])
            else:
                expected = np.stack(trace[pop.name])
                np.testing.assert_array_equal(result.spikes[pop.name][:, n], expected, err_msg=pop.name)
                total_spikes += int(expected.sum())
    assert total_spikes == sum(c.spikes for c in result.counts)
    for count in result.counts:
        assert count.synaptic_ops + count.input_macs == events[count.name], count.name
        assert result.synaptic_events_per_step[count.name].sum() == events[count.name], count.name
    assert total_spikes > 20, "the random net must be active for the comparison to mean anything"


def test_projection_synapses_are_the_engine_synapses():
    """The synapse list (Lava's matrices, SANA-FE's connections) is the projection the engine
    runs, pooling and padding included."""
    import torch

    from hardware_sim.engine import _PreparedProjection

    rng = np.random.default_rng(0)
    for proj in (Projection(INPUT, "conv", rng.integers(-4, 5, (3, 2, 3, 3)), (2, 8, 8),
                            stride=2, padding=1, pool=2),
                 Projection(INPUT, "dense", rng.integers(-4, 5, (5, 2 * 3 * 3)), (2, 6, 6), pool=2),
                 Projection(INPUT, "dense", rng.integers(-4, 5, (4, 7)), (7,))):
        x = rng.integers(0, 3, (1, *proj.source_shape))
        expect = _PreparedProjection(proj, 3, torch.device("cpu")).synaptic_input(
            torch.as_tensor(x)).numpy().reshape(-1)
        dst, src, w = synapse_list(proj)
        got = np.zeros(expect.size, np.int64)
        np.add.at(got, dst, w * x.reshape(-1)[src])
        np.testing.assert_array_equal(got, expect)
        assert src.size == proj.synapses * proj.pool ** 2
