"""Random small valid QGraphs (dense, conv, pooling, residual joins, gains, delays) and inputs:
hardware_sim's engine never crashes and equals the spec-literal loop spike for spike."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from tests.hardware_sim.spec_loop import assert_matches_spec


@st.composite
def small_graphs(draw) -> QGraph:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels, side = draw(st.integers(1, 2)), draw(st.sampled_from([4, 6]))
    input_shape = (channels, side, side)

    def pop(name, projections, readout=False):
        shape = projections[0].output_shape
        return IntPopulation(
            name=name, shape=shape, projections=projections,
            dv=rng.integers(0, 4096, shape),
            du=np.full(shape, 4095) if draw(st.booleans()) else rng.integers(0, 4096, shape),
            vth=rng.integers(1, 80, shape), bias_mant=rng.integers(-100, 100, shape),
            bias_exp=draw(st.integers(0, 2)), v_scale=1.0,
            gain=rng.integers(0, 4096, shape) if draw(st.booleans()) else None, readout=readout)

    def weight(shape):
        return rng.integers(-128, 128, shape)

    kernel = draw(st.sampled_from([1, 3]))
    pool = draw(st.sampled_from([1, 2]))
    conv = Projection(INPUT, "conv", weight((draw(st.integers(1, 3)), channels, kernel, kernel)), input_shape,
                      weight_exp=draw(st.integers(-2, 3)), stride=draw(st.integers(1, 2)),
                      padding=kernel // 2, pool=pool, delay=draw(st.integers(0, 2)))
    c1 = pop("c1", [conv])
    width = draw(st.integers(1, 6))
    sources = [("c1", c1.shape)] + ([(INPUT, input_shape)] if draw(st.booleans()) else [])
    d2 = pop("d2", [Projection(src, "dense", weight((width, int(np.prod(shape)))), shape,
                               weight_exp=draw(st.integers(-2, 3)), delay=draw(st.integers(0, 2)))
                    for src, shape in sources])
    readout_sources = [("d2", d2.shape)] + ([("c1", c1.shape)] if draw(st.booleans()) else [])
    outputs = draw(st.integers(1, 4))
    readout = pop("readout", [Projection(src, "dense", weight((outputs, int(np.prod(shape)))), shape,
                                         weight_exp=draw(st.integers(-1, 2)), delay=draw(st.integers(0, 1)))
                              for src, shape in readout_sources], readout=True)
    return QGraph(input_shape=input_shape, populations=[c1, d2, readout], output="readout",
                  input_bits=draw(st.integers(1, 4)))


@given(graph=small_graphs(), samples=st.integers(1, 3), timesteps=st.integers(1, 4),
       hop_delay=st.integers(0, 1), batch_size=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_engine_equals_spec_loop_on_random_graphs(graph, samples, timesteps, hop_delay, batch_size, seed):
    x = np.random.default_rng(seed).integers(0, 1 << graph.input_bits, (samples, timesteps, *graph.input_shape))
    timing = ("zero-delay", "pipelined")[hop_delay]  # the spec loop's hop_delay 0 / 1
    result = simulate(graph, x, timing=timing, record_spikes=True, batch_size=batch_size)
    assert_matches_spec(graph, x, result, hop_delay=hop_delay)


@given(fan_in=st.sampled_from([136, 137, 138, 517, 518, 519, 1035, 1036, 1037]),
       exp=st.integers(-2, 1), du=st.sampled_from([0, 1, 4095]), dv=st.sampled_from([0, 7, 4095]),
       timesteps=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_engine_equals_spec_loop_at_the_narrow_type_bounds(fan_in, exp, du, dv, timesteps, seed):
    """Dense layers whose bounds sit at the float32 (2^24), int32 drive (2^25) and int32 u
    (2^31) limits, inputs at or near the maximum: every spike and readout value as the spec."""
    from tests.hardware_sim.test_engine_vs_spec import _dense_net

    graph = _dense_net(fan_in, exp=exp, du=du, dv=dv, vth=int(np.random.default_rng(seed).integers(1, 1 << 17)))
    rng = np.random.default_rng(seed)
    x = np.where(rng.random((2, timesteps, fan_in)) < 0.9, 255, rng.integers(0, 256, (2, timesteps, fan_in)))
    result = simulate(graph, x, record_spikes=True, batch_size=1)
    assert_matches_spec(graph, x, result)
