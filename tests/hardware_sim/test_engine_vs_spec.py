"""hardware_sim's batched engine against the spec-literal loop, on random small nets."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.synapses import synapse_list

from .spec_loop import assert_matches_spec


def random_graph(rng: np.random.Generator, du_full: bool = True, reset: str = "zero") -> QGraph:
    """conv (stride 1 or 2, per-neuron gain) → conv on pooled spikes → dense residual join
    (one path delayed) → readout; every spiking population resets by ``reset``."""
    def ints(lo, hi, shape):
        return rng.integers(lo, hi, shape)

    def pop(name, shape, projections, gain=False, readout=False):
        return IntPopulation(
            name=name, shape=shape, projections=projections,
            dv=ints(0, 4096, shape), du=np.full(shape, 4095) if du_full else ints(0, 4096, shape),
            vth=ints(1, 60, shape), bias_mant=ints(-200, 200, shape), bias_exp=int(rng.integers(0, 3)),
            v_scale=1.0, gain=ints(1000, 4096, shape) if gain else None, readout=readout,
            reset="zero" if readout else reset,
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
    events, spikes = assert_matches_spec(graph, x, result, hop_delay=hop_delay)
    total_spikes = sum(spikes.values())
    assert total_spikes == sum(c.spikes for c in result.counts)
    for count in result.counts:
        assert count.synaptic_ops + count.input_macs == events[count.name], count.name
        assert result.synaptic_events_per_step[count.name].sum() == events[count.name], count.name
    assert total_spikes > 20, "the random net must be active for the comparison to mean anything"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("timing, hop_delay", [("zero-delay", 0), ("pipelined", 1)])
def test_engine_equals_spec_loop_with_subtract_reset(seed, timing, hop_delay):
    """The reset by subtraction, engine against the spec loop; and it is not the zero reset
    (the same net resetting to zero spikes differently), so the comparison can tell them apart."""
    rng = np.random.default_rng(100 + seed)
    graph = random_graph(rng, du_full=seed % 2 == 0, reset="subtract")
    x = rng.integers(0, 16, (3, 5, 2, 6, 6))
    result = simulate(graph, x, timing=timing, record_spikes=True, batch_size=2)
    _, spikes = assert_matches_spec(graph, x, result, hop_delay=hop_delay)
    assert sum(spikes.values()) == sum(c.spikes for c in result.counts) > 20
    zero = QGraph(input_shape=graph.input_shape, output=graph.output, input_bits=graph.input_bits,
                  populations=[replace(p, reset="zero") for p in graph.populations])
    zero_result = simulate(zero, x, timing=timing, record_spikes=True, batch_size=2)
    assert any(not np.array_equal(zero_result.spikes[p.name], result.spikes[p.name])
               for p in graph.populations if not p.readout)


def test_projection_synapses_are_the_engine_synapses():
    """The synapse list (Lava's matrices, SANA-FE's connections) is the projection the engine
    runs, pooling and padding included."""
    from hardware_sim.engine import _PreparedProjection

    rng = np.random.default_rng(0)
    for proj in (Projection(INPUT, "conv", rng.integers(-4, 5, (3, 2, 3, 3)), (2, 8, 8),
                            stride=2, padding=1, pool=2),
                 Projection(INPUT, "dense", rng.integers(-4, 5, (5, 2 * 3 * 3)), (2, 6, 6), pool=2),
                 Projection(INPUT, "dense", rng.integers(-4, 5, (4, 7)), (7,))):
        x = rng.integers(0, 3, (1, *proj.source_shape))
        expect = _PreparedProjection(proj, 3, torch.device("cpu")).scaled(  # weight_exp 0: acc
            torch.as_tensor(x)).to(torch.int64).numpy().reshape(-1)
        dst, src, w = synapse_list(proj)
        got = np.zeros(expect.size, np.int64)
        np.add.at(got, dst, w * x.reshape(-1)[src])
        np.testing.assert_array_equal(got, expect)
        assert src.size == proj.synapses * proj.pool ** 2


# --- the narrow types at their bounds --------------------------------------------------------

def _dense_net(fan_in: int, *, weight: int = 127, exp: int = 0, du: int = 4095, dv: int = 0,
               input_bits: int = 8, vth: int = 1, steps_bias: int = 0) -> QGraph:
    """input (fan_in,) → dense "d" (3 neurons: all +weight, all −weight, alternating) → readout
    of d's v... through a second dense layer: the extremes of a, u and v are all reached."""
    signs = np.stack([np.full(fan_in, 1), np.full(fan_in, -1), (-1) ** np.arange(fan_in)])
    proj = Projection(INPUT, "dense", signs * weight, (fan_in,), weight_exp=exp)
    shape = (3,)
    d = IntPopulation("d", shape, [proj], dv=np.full(shape, dv), du=np.full(shape, du),
                      vth=np.full(shape, vth), bias_mant=np.full(shape, steps_bias), bias_exp=0,
                      v_scale=1.0)
    ro = IntPopulation("readout", (2,), [Projection("d", "dense", np.array([[1, 1, 1], [5, -7, 3]]),
                                                    shape)],
                       dv=np.zeros(2, int), du=np.full(2, 4095), vth=np.zeros(2, int),
                       bias_mant=np.zeros(2, int), bias_exp=0, v_scale=1.0, readout=True)
    return QGraph(input_shape=(fan_in,), populations=[d, ro], output="readout", input_bits=input_bits)


def _check_against_spec(graph: QGraph, x: np.ndarray) -> None:
    assert_matches_spec(graph, x, simulate(graph, x, record_spikes=True, batch_size=2, compile=False))


@pytest.mark.parametrize("fan_in, a_int", [(1036, torch.int32), (1037, torch.int64)])
def test_int32_synaptic_input_up_to_its_bound(fan_in, a_int):
    """255 · 127 · 1036 < 2^25 ≤ 255 · 127 · 1037: a << 6 fits int32 just below, not above; the
    input at its maximum reaches the bound exactly, and the spec loop agrees either way."""
    from hardware_sim.engine import _PreparedPopulation

    graph = _dense_net(fan_in)
    prepared = _PreparedPopulation(graph.populations[0], graph, torch.device("cpu"),
                                   steps_between_resets=4, narrow_state=True)
    assert prepared.a_int == a_int
    assert prepared.projections[0].dtype == torch.float64  # the bound is past 2^24
    x = np.full((3, 4, fan_in), 255)
    x[1] = np.random.default_rng(0).integers(0, 256, (4, fan_in))
    x[2, ::2] = 0
    _check_against_spec(graph, x)


@pytest.mark.parametrize("fan_in, dtype", [(518, torch.float32), (519, torch.float64)])
def test_float32_partial_sums_up_to_2_24(fan_in, dtype):
    """255 · 127 · 518 < 2^24 ≤ 255 · 127 · 519: float32 just below the bound, float64 above."""
    from hardware_sim.engine import _PreparedProjection

    graph = _dense_net(fan_in, exp=-3)
    prep = _PreparedProjection(graph.populations[0].projections[0], 255, torch.device("cpu"))
    assert prep.dtype == dtype
    x = np.full((2, 3, fan_in), 255)
    x[1, 1] = np.random.default_rng(1).integers(0, 256, fan_in)
    _check_against_spec(graph, x)


def test_int32_u_storage_at_its_bound():
    """du = 0 keeps u (×4095/4096 a step): a drive past 2^24 wraps once a step and u grows by
    about D − 2^24 a step. With T steps, u is stored in int32 exactly when
    2^23 + T·(D − 2^24) < 2^31 (``_u_bound``), and the run equals the spec loop next to that
    bound on both sides."""
    from hardware_sim.engine import _PreparedPopulation, _u_bound

    timesteps = 8
    for fan_in, narrow in ((137, True), (138, False)):
        # D = 255·127·fan_in·64: 2^23 + 8·(D − 2^24) is 2146 M for 137 inputs, 2162 M for 138
        graph = _dense_net(fan_in, du=0, dv=0, vth=100_000)
        pop = graph.populations[0]
        prepared = _PreparedPopulation(pop, graph, torch.device("cpu"),
                                       steps_between_resets=timesteps, narrow_state=True)
        bound = _u_bound(prepared.projections[0].a_bound << 6, timesteps)
        assert (bound < 2**31) == narrow
        assert prepared.u_dtype == (torch.int32 if narrow else torch.int64)
        x = np.full((2, timesteps, fan_in), 255)
        x[1, 3:] = 0
        result = simulate(graph, x, record_spikes=True)
        assert result.count("d").u_wraps > 0 and result.count("d").v_clips > 0
        _check_against_spec(graph, x)


def test_event_driven_dense_projection_equals_the_dense_one(monkeypatch):
    """The event-driven (sparse) form, chosen per batch from the last firing rate, gives the
    same run as the dense product (forced on every layer here)."""
    from hardware_sim import engine

    rng = np.random.default_rng(7)
    graph = random_graph(rng)
    x = rng.integers(0, 16, (9, 4, 2, 6, 6))
    dense = simulate(graph, x, record_spikes=True, batch_size=3)
    monkeypatch.setattr(engine, "_EVENT_DRIVEN_MIN_SYNAPSES", 1)
    monkeypatch.setattr(engine, "_EVENT_DRIVEN_BELOW", 1.1)
    event = simulate(graph, x, record_spikes=True, batch_size=3)
    for name in dense.spikes:
        np.testing.assert_array_equal(event.spikes[name], dense.spikes[name])
    np.testing.assert_array_equal(event.output, dense.output)
    assert [vars(c) for c in event.counts] == [vars(c) for c in dense.counts]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own internals
def test_compiled_update_equals_the_spec_loop():
    """The neuron update through torch.compile: the same spikes, outputs and counters."""
    from hardware_sim.engine import _compiler_works

    if not _compiler_works():
        pytest.skip("torch.compile cannot build kernels here (no C++ compiler?)")
    rng = np.random.default_rng(11)
    graph = random_graph(rng, du_full=False)
    x = rng.integers(0, 16, (3, 5, 2, 6, 6))
    eager = simulate(graph, x, record_spikes=True, compile=False)
    compiled = simulate(graph, x, record_spikes=True, compile=True)
    for name in eager.spikes:
        np.testing.assert_array_equal(compiled.spikes[name], eager.spikes[name])
    np.testing.assert_array_equal(compiled.output, eager.output)
    assert [vars(c) for c in compiled.counts] == [vars(c) for c in eager.counts]
    assert_matches_spec(graph, x, compiled)
