"""The integer neuron update (DESIGN §3) against a hand-worked four-step example.

Every expected number below was computed by hand from the spec, not by the code.
"""

import numpy as np

from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.neuron import THRESHOLD_MAX


def _graph() -> QGraph:
    # Population A: three neurons on three graded inputs (x0, x1, x2), e = 1.
    #   n0: W = 3 on x0,   dv = 1024 (β = 0.75), vth = 2 (v > 128 spikes), bias = 5 << 1 = 10
    #   n1: W = -2 on x0,  dv = 1024, vth = 2, bias = -3 << 1 = -6        (negative, rtz)
    #   n2: W = -127 on x1, dv = 0 (no leak), vth = 2, bias = 0            (saturates)
    a = IntPopulation(
        name="A", shape=(3,),
        projections=[Projection(INPUT, "dense", np.array([[3, 0, 0], [-2, 0, 0], [0, -127, 0]]),
                                (3,), weight_exp=1)],
        dv=np.array([1024, 1024, 0]), du=np.full(3, 4095), vth=np.array([2, 2, 2]),
        bias_mant=np.array([5, -3, 0]), bias_exp=1, v_scale=1.0,
    )
    # Population B: one neuron whose current wraps: acc = 127*255 + 3*128 = 32769, e = 2.
    b = IntPopulation(
        name="B", shape=(1,),
        projections=[Projection(INPUT, "dense", np.array([[0, 127, 3]]), (3,), weight_exp=2)],
        dv=np.array([4095]), du=np.array([4095]), vth=np.array([THRESHOLD_MAX]),
        bias_mant=np.array([0]), bias_exp=0, v_scale=1.0,
    )
    return QGraph(input_shape=(3,), populations=[a, b], output="A")


def _inputs() -> np.ndarray:
    x0 = [1, 0, 2, 0]
    return np.array([[[x, 255, 128] for x in x0]])  # (N=1, T=4, 3)


def test_hand_worked_trace():
    result = simulate(_graph(), _inputs(), record_spikes=True)
    spikes_a = result.spikes["A"][:, 0]  # (T, 3)
    # n0: t0 acc=3, a=6, u=6<<6=384, v=0+384+10=394 > 128 -> spike, v=0
    #     t1 v = 0 + 0 + 10 = 10 (no spike)
    #     t2 acc=6, u=768, v = rtz(10*3072, 12) = 7, 7+768+10 = 785 -> spike, v=0
    #     t3 v = 10
    np.testing.assert_array_equal(spikes_a[:, 0], [True, False, True, False])
    # n1 never spikes (negative); n2 never spikes (saturated negative)
    assert not spikes_a[:, 1:].any()
    assert result.count("A").spikes == 2
    assert not result.spikes["B"].any()


def test_negative_voltages_round_toward_zero_and_saturate():
    graph = _graph()
    x = _inputs()
    finals = []
    for steps in range(1, 5):
        # The voltage after `steps` steps is read from a readout copy of A.
        graph_ro = QGraph(input_shape=graph.input_shape, output="A",
                          populations=[IntPopulation(**{**graph.populations[0].__dict__, "readout": True})])
        finals.append(simulate(graph_ro, x[:, :steps]).output[0])
    finals = np.array(finals)
    # n1: t0 acc=-2, a=-4, u = -4<<6 = -256, v = -256 - 6 = -262
    #     t1 v = rtz(-262*3072, 12) = rtz(-196.5) = -196 -> -196 - 6 = -202
    #     t2 u = -8<<6 = -512, rtz(-202*3072, 12) = rtz(-151.5) = -151 -> -151 - 512 - 6 = -669
    #     t3 rtz(-669*3072, 12) = rtz(-501.75) = -501 -> -507
    #     (rounding toward -inf would give -197, -152, -502)
    np.testing.assert_array_equal(finals[:, 1], [-262, -202, -669, -507])
    # n2: u = (-32385 << 1) << 6 = -4145280 every step, no leak:
    #     -4145280, -8290560, -12435840 -> clip -8388607, -8388607 - 4145280 -> clip
    np.testing.assert_array_equal(finals[:, 2], [-4145280, -8290560, -8388607, -8388607])


def test_overflow_is_counted():
    result = simulate(_graph(), _inputs())
    a, b = result.count("A"), result.count("B")
    assert a.v_clips == 2  # n2 at t2 and t3
    assert a.u_wraps == 0
    # B: u = 32769 << 2 << 6 = 8388864 = 2^23 + 256 > 2^23 -> wraps to -8388352, every step (4).
    #    v: t0 -8388352; t1 rtz(-8388352*1, 12) = -2047, -2047 - 8388352 = -8390399 -> clip (t1..t3: 3)
    assert b.u_wraps == 4
    assert b.v_clips == 3


def test_wrapped_current_value():
    graph = _graph()
    graph_b = QGraph(input_shape=(3,), output="B",
                     populations=[IntPopulation(**{**graph.populations[1].__dict__, "readout": True})])
    v_after_one = simulate(graph_b, _inputs()[:, :1]).output[0, 0]
    assert v_after_one == 8388864 - (1 << 24)


def test_graded_inputs_count_as_macs():
    result = simulate(_graph(), _inputs())
    # Non-zero inputs over 4 steps: x0 twice, x1 and x2 four times each = 10; dense fan-out:
    # A has 3 targets per input (structural synapses, zeros included), B has 1.
    assert result.count("A").input_macs == 30
    assert result.count("B").input_macs == 10
    assert result.count("A").synaptic_ops == 0
    assert result.count("A").neuron_updates == 3 * 4
