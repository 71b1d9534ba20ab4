"""The ONNX step model is exact by construction: it equals the spec-literal loop of DESIGN §3
on random graphs driven to the bounds (graded 8-bit inputs at 255 against weights at ±128,
currents that wrap, voltages that clip), on any CPU.

Format version 1 ran its synapses through ``MatMulInteger``/``ConvInteger``; on CPUs without
VNNI, ONNX Runtime's uint8×int8 kernel saturates pairs of products to int16, so the same
graph gave different spikes on different machines. These graphs put exactly those operands
(255 next to 255, against 127 next to 127) into every synapse sum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deploy.onnx.backend import OnnxBackend, build_step_model, digit_bits
from deploy.registry import BackendError
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, DeployedModel, IntPopulation, Projection, QGraph
from tests.hardware_sim.spec_loop import assert_matches_spec


def test_digit_bits_at_the_float32_bound():
    """Hand-worked: 255 · 65793 = 2^24 − 1 fits 8-bit digits; 255 · 65794 does not, 127 · 65794 does."""
    assert digit_bits(8, np.array([[65793]])) == 8
    assert digit_bits(8, np.array([[65794]])) == 7
    assert digit_bits(8, np.array([[1, -2], [-65794, 0]])) == 7  # the largest Σ|w| of any target rules
    assert digit_bits(1, np.array([[(1 << 24) - 1]])) == 1
    with pytest.raises(BackendError, match="2\\^24"):
        digit_bits(1, np.array([[1 << 24]]))


def _extreme_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Weights at the int8 bounds, in same-sign runs (what saturates an int16 pair), or random."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return np.where(rng.random(shape) < 0.5, 127, -128)
    if kind == 1:
        return np.full(shape, rng.choice([127, -128]))
    return rng.integers(-128, 128, shape)


def _population(rng, name, projections, readout=False, du_full=True) -> IntPopulation:
    shape = projections[0].output_shape
    return IntPopulation(
        name=name, shape=shape, projections=projections,
        dv=rng.integers(0, 64, shape) if rng.random() < 0.5 else rng.integers(0, 4096, shape),
        du=np.full(shape, 4095) if du_full else rng.integers(0, 4096, shape),
        vth=rng.integers(1, 1 << 17, shape) if rng.random() < 0.5 else rng.integers(1, 200, shape),
        bias_mant=rng.integers(-4096, 4096, shape), bias_exp=int(rng.integers(0, 8)), v_scale=1.0,
        gain=rng.integers(0, 4096, shape) if rng.random() < 0.3 else None, readout=readout)


@st.composite
def graphs_at_the_bounds(draw) -> QGraph:
    """conv on the graded input (pooling, stride, padding) → dense join of the conv's spikes
    and the graded input (either possibly delayed) → readout."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels, side = draw(st.integers(1, 2)), draw(st.sampled_from([4, 6, 8]))
    input_shape = (channels, side, side)
    kernel = draw(st.sampled_from([1, 2, 3]))
    conv = Projection(INPUT, "conv", _extreme_weights(rng, (draw(st.integers(1, 3)), channels, kernel, kernel)),
                      input_shape, weight_exp=draw(st.integers(-3, 7)), stride=draw(st.integers(1, 2)),
                      padding=draw(st.integers(0, kernel // 2)), pool=draw(st.sampled_from([1, 2])))
    assume(min(conv.output_shape) > 0)  # the kernel fits the padded, pooled input
    c1 = _population(rng, "c1", [conv], du_full=draw(st.booleans()))
    width = draw(st.integers(1, 6))
    join = [Projection("c1", "dense", _extreme_weights(rng, (width, int(np.prod(c1.shape)))), c1.shape,
                       weight_exp=draw(st.integers(-2, 7)), delay=draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        join.append(Projection(INPUT, "dense", _extreme_weights(rng, (width, int(np.prod(input_shape)))),
                               input_shape, weight_exp=draw(st.integers(-3, 5)), delay=draw(st.integers(0, 2))))
    d2 = _population(rng, "d2", join, du_full=draw(st.booleans()))
    readout = _population(rng, "readout", [Projection("d2", "dense", _extreme_weights(rng, (3, width)), (width,),
                                                      weight_exp=draw(st.integers(0, 7)))], readout=True)
    return QGraph(input_shape=input_shape, populations=[c1, d2, readout], output="readout",
                  input_bits=draw(st.sampled_from([1, 4, 8, 8, 8])))


def assert_equals_spec_loop(graph: QGraph, x: np.ndarray) -> None:
    """ONNX against the spec-literal loop on every spike, readout voltage and synaptic event;
    its overflow counters against hardware_sim's."""
    result = OnnxBackend(record_spikes=True, batch_size=2).run(DeployedModel(graph, x.shape[1], {}, False), x)
    events, _ = assert_matches_spec(graph, x, result)
    for count in result.counts:
        assert count.synaptic_ops + count.input_macs == events[count.name], count.name
    reference = simulate(graph, x)
    assert [(c.u_wraps, c.v_clips) for c in result.counts] == [(c.u_wraps, c.v_clips) for c in reference.counts]


@settings(max_examples=200, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graph=graphs_at_the_bounds(), samples=st.integers(1, 2), timesteps=st.integers(2, 4),
       seed=st.integers(0, 2**16), saturated=st.booleans())
def test_onnx_equals_spec_loop_with_wraps_and_clips(graph, samples, timesteps, seed, saturated):
    """200 graphs counted, each of which wraps a current and clips a voltage."""
    hi = (1 << graph.input_bits) - 1
    rng = np.random.default_rng(seed)
    shape = (samples, timesteps, *graph.input_shape)
    x = np.full(shape, hi) if saturated else rng.integers(max(hi - 8, 0), hi + 1, shape)
    reference = simulate(graph, x)
    assume(sum(c.u_wraps for c in reference.counts) > 0 and sum(c.v_clips for c in reference.counts) > 0)
    assert_equals_spec_loop(graph, x)


@settings(max_examples=40, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graph=graphs_at_the_bounds(), samples=st.integers(1, 2), timesteps=st.integers(3, 6),
       seed=st.integers(0, 2**16))
def test_onnx_equals_spec_loop_with_subtract_reset(graph, samples, timesteps, seed):
    """int_step's subtract branch, built into the ONNX graph, against the spec loop; on 40 graphs
    whose spikes the reset mode changes (the zero reset's run differs, so a graph that ignored
    the mode would fail)."""
    graph = replace(graph, populations=[p if p.readout else replace(p, reset="subtract")
                                        for p in graph.populations])
    hi = (1 << graph.input_bits) - 1
    x = np.random.default_rng(seed).integers(0, hi + 1, (samples, timesteps, *graph.input_shape))
    zero = replace(graph, populations=[replace(p, reset="zero") for p in graph.populations])
    assume(simulate(graph, x).output.tolist() != simulate(zero, x).output.tolist())
    assert_equals_spec_loop(graph, x)


def test_wide_input_is_split_into_exact_digits():
    """255 · Σ|w| ≥ 2^24: the input goes in as narrower digits, and the sums stay exact."""
    rng = np.random.default_rng(7)
    input_shape = (2, 24, 24)  # 1152 inputs at |w| = 128: 255 · 147456 > 2^24
    fc = Projection(INPUT, "dense", np.where(rng.random((5, 1152)) < 0.9, -128, 127), input_shape, weight_exp=-6)
    hidden = _population(rng, "fc", [fc])
    out = _population(rng, "out", [Projection("fc", "dense", rng.integers(-128, 128, (3, 5)), (5,))], readout=True)
    graph = QGraph(input_shape=input_shape, populations=[hidden, out], output="out", input_bits=8)
    assert digit_bits(8, fc.weight) < 8
    model = build_step_model(graph, 3)
    assert sum(node.op_type == "MatMul" for node in model.graph.node) > 3  # digits + events + readout
    x = np.concatenate([np.full((1, 3, *input_shape), 255), rng.integers(0, 256, (1, 3, *input_shape))])
    assert_equals_spec_loop(graph, x)


def test_wrap_and_clip_boundaries_are_the_specs():
    """Hand-worked: a = 2^17 gives u = a << 6 = 2^23, which stays (the wrap is for u > 2^23) and
    v clips to 2^23 − 1; one weight step more, u = 2^23 + 2^18 wraps to 2^18 − 2^23; a = −2^17
    gives u = −2^23, which wraps (u ≤ −2^23) to 2^23."""
    weight = np.array([[32], [33], [-32]])  # one input at 1, weight_exp 12: a = 32 · 2^12 = 2^17
    fc = Projection(INPUT, "dense", weight, (1,), weight_exp=12)
    pop = IntPopulation("fc", (3,), [fc], dv=np.zeros(3), du=np.full(3, 4095), vth=np.full(3, 1),
                        bias_mant=np.zeros(3), bias_exp=0, v_scale=1.0, readout=True)
    graph = QGraph(input_shape=(1,), populations=[pop], output="fc", input_bits=1)
    result = OnnxBackend().run(DeployedModel(graph, 1, {}, False), np.ones((1, 1, 1), np.int64))
    assert result.output.tolist() == [[(1 << 23) - 1, (1 << 18) - (1 << 23), (1 << 23) - 1]]
    assert (result.counts[0].u_wraps, result.counts[0].v_clips) == (2, 2)
