"""``int_step`` (hardware_sim.ir.neuron), the one home of DESIGN §3's neuron update.

A hand-worked four-step example on numpy (every expected number below was worked by
hand from the spec, not printed by the code), and the torch adapter of the engine
against the numpy one on random integers near the 24-bit bounds.
"""

import numpy as np
import pytest
import torch

from hardware_sim.engine import TORCH_OPS
from hardware_sim.ir.neuron import (
    STATE_MAX,
    THRESHOLD_MAX,
    WRAP_BOUND,
    NeuronParams,
    NeuronState,
    int_step,
)

# Layer A: four spiking neurons, no gain.
#   n0: du = 4095 (u_keep 0: u = a << 6), dv = 0 (v_keep 4096: no leak), vth = 2 (v > 128)
#   n1: du = 4095, dv = 1024 (v_keep 3072, β = 0.75), vth = 2, bias = -6
#   n2: du = 4094 (u_keep 1), dv = 4095 (v_keep 1), vth = THRESHOLD_MAX (v > 8388544)
#   n3: du = 4095, dv = 4095, vth = THRESHOLD_MAX
_A = dict(du=[4095, 4095, 4094, 4095], dv=[0, 1024, 4095, 4095],
          vth=[2, 2, THRESHOLD_MAX, THRESHOLD_MAX], bias=[0, -6, 0, 0])
_A_INPUT = [[1, -4, 131072, -131071],
            [1, 0, 64, -131072],
            [1, 0, 131072, 0],
            [0, 0, 0, 0]]
# n0, the strict >:  u = 64 each step while a = 1.
#   t0 v = 64;  t1 v = 64 + 64 = 128, not > 128: no spike;  t2 v = 192 > 128: spike, v = 0;
#   t3 a = 0: u = 0, v = 0.
# n1, rounding toward zero of a negative v:  t0 u = -4 << 6 = -256, v = -256 - 6 = -262.
#   t1 rtz(-262·3072, 12) = rtz(-196.5) = -196 → v = -196 + 0 - 6 = -202
#   t2 rtz(-202·3072, 12) = rtz(-151.5) = -151 → -157
#   t3 rtz(-157·3072, 12) = rtz(-117.75) = -117 → -123   (toward −∞: -197, -152, -118)
# n2, the wrap at 2^23 + 1 but not at 2^23, and the clip:
#   t0 u = 131072 << 6 = 8388608 = 2^23: not > 2^23, no wrap.  v = 8388608 > 2^23 - 1:
#      clipped to 8388607 > 8388544: spike, v = 0.
#   t1 u = rtz(8388608·1, 12) + (64 << 6) = 2048 + 4096 = 6144;  v = 0 + 6144 = 6144.
#   t2 u = rtz(6144, 12) + 8388608 = 1 + 8388608 = 2^23 + 1 > 2^23: wraps to
#      8388609 - 16777216 = -8388607;  v = rtz(6144, 12) - 8388607 = 1 - 8388607 = -8388606.
#   t3 u = rtz(-8388607, 12) = rtz(-2047.9998) = -2047;  v = rtz(-8388606, 12) - 2047 = -4094.
# n3, the wrap at exactly -2^23 but not above it:
#   t0 u = -131071 << 6 = -8388544 > -2^23: no wrap;  v = -8388544 (not below -(2^23 - 1)).
#   t1 u = -131072 << 6 = -8388608 = -2^23 ≤ -2^23: wraps to +8388608;
#      v = rtz(-8388544, 12) + 8388608 = -2047 + 8388608 = 8386561, not > 8388544.
#   t2 u = 0;  v = rtz(8386561, 12) = rtz(2047.5) = 2047.   t3 v = rtz(2047, 12) = 0.
_A_U = [[64, -256, 8388608, -8388544],
        [64, 0, 6144, 8388608],
        [64, 0, -8388607, 0],
        [0, 0, -2047, 0]]
_A_V = [[64, -262, 0, -8388544],
        [128, -202, 6144, 8386561],
        [0, -157, -8388606, 2047],
        [0, -123, -4094, 0]]
_A_SPIKES = [[0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
_A_WRAPPED = [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]]
_A_CLIPPED = [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]

# Layer B: a readout (no spikes, v kept) with an input gain, du = 4095, dv = 0 (no leak),
# vth = 0 (a spiking neuron would fire on any v > 0; a readout ignores it).
#   m0: g = 3000: drive = rtz((a << 6)·3000, 12) = rtz(46.875·a)
#       t0 a = 3: rtz(140.625) = 140;  t1 a = -3: rtz(-140.625) = -140 (toward −∞: -141);
#       t2 a = -1: rtz(-46.875) = -46;  t3 a = 0: 0.   v = 140, 0, -46, -46.
#   m1: g = 4095: a = ∓100000 → (a << 6)·4095/4096 = ∓6398437.5 → ∓6398437
#       t0 v = -6398437;  t1 v = -12796874 < -(2^23 - 1): clipped to -8388607;
#       t2 u = 0, v = -8388607 (equal to the bound: not clipped);  t3 v = -8388607 + 6398437.
_B = dict(du=[4095, 4095], dv=[0, 0], vth=[0, 0], bias=[0, 0], gain=[3000, 4095], readout=True)
_B_INPUT = [[3, -100000], [-3, -100000], [-1, 0], [0, 100000]]
_B_U = [[140, -6398437], [-140, -6398437], [-46, 0], [0, 6398437]]
_B_V = [[140, -6398437], [0, -8388607], [-46, -8388607], [-46, -1990170]]
_B_CLIPPED = [[0, 0], [0, 1], [0, 0], [0, 0]]


def _run(fields: dict, inputs: list) -> dict[str, np.ndarray]:
    params = NeuronParams.from_fields(**fields)
    n = len(inputs[0])
    state = NeuronState(np.zeros(n, np.int64), np.zeros(n, np.int64))
    trace: dict[str, list] = {"u": [], "v": [], "spikes": [], "wrapped": [], "clipped": []}
    for a in inputs:
        step = int_step(np.array(a, np.int64), state, params)
        state = step.state
        for key in trace:
            trace[key].append(getattr(step, key))
    return {key: np.array(values) for key, values in trace.items()}


def test_hand_worked_four_steps_spiking_layer():
    trace = _run(_A, _A_INPUT)
    np.testing.assert_array_equal(trace["u"], _A_U)
    np.testing.assert_array_equal(trace["v"], _A_V)
    np.testing.assert_array_equal(trace["spikes"], np.array(_A_SPIKES, bool))
    np.testing.assert_array_equal(trace["wrapped"], np.array(_A_WRAPPED, bool))
    np.testing.assert_array_equal(trace["clipped"], np.array(_A_CLIPPED, bool))


def test_hand_worked_four_steps_readout_with_gain():
    trace = _run(_B, _B_INPUT)
    np.testing.assert_array_equal(trace["u"], _B_U)
    np.testing.assert_array_equal(trace["v"], _B_V)
    assert trace["spikes"].dtype == bool and not trace["spikes"].any()
    assert not trace["wrapped"].any()
    np.testing.assert_array_equal(trace["clipped"], np.array(_B_CLIPPED, bool))


# Layer C: reset by subtraction (snnTorch's mem[t] = β·mem[t−1] + x[t] − θ·S[t−1]), du = 4095.
#   c0: dv = 1024 (v_keep 3072, β = 0.75), vth = 2 (v > 128);  a = 3, 0, 1
#       t0 u = 192, v = 192 > 128: spike, v kept at 192.
#       t1 v = rtz(192·3072, 12) − 128 = 144 − 128 = 16 (the threshold undecayed: subtracting
#          at the spike and then decaying would give rtz(64·0.75) = 48; the zero reset 0).
#       t2 v = rtz(16·3072, 12) + 64 = 12 + 64 = 76: no spike.
#   c1: dv = 0 (no leak), vth = 1 (v > 64);  a = 5, 0, 0: one input, three spikes
#       t0 v = 320: spike;  t1 v = 320 − 64 = 256: spike;  t2 v = 256 − 64 = 192: spike.
#   c2: dv = 0, vth = THRESHOLD_MAX (v > 8388544);  a = 131072, 131072, -131071: the subtraction
#       comes before the clip
#       t0 u = 2^23 (no wrap), v = 8388608 clipped to 8388607: spike, kept.
#       t1 v = 8388607 − 8388544 + 8388608 = 8388671, clipped to 8388607: spike.
#       t2 u = -131071 << 6 = -8388544;  v = 8388607 − 8388544 − 8388544 = -8388481: no clip.
_C = dict(du=[4095, 4095, 4095], dv=[1024, 0, 0], vth=[2, 1, THRESHOLD_MAX], bias=[0, 0, 0],
          subtract=True)
_C_INPUT = [[3, 5, 131072], [0, 0, 131072], [1, 0, -131071]]
_C_U = [[192, 320, 8388608], [0, 0, 8388608], [64, 0, -8388544]]
_C_V = [[192, 320, 8388607], [16, 256, 8388607], [76, 192, -8388481]]
_C_SPIKES = [[1, 1, 1], [0, 1, 1], [0, 1, 0]]
_C_CLIPPED = [[0, 0, 1], [0, 0, 1], [0, 0, 0]]


def test_hand_worked_three_steps_subtract_reset():
    trace = _run(_C, _C_INPUT)
    np.testing.assert_array_equal(trace["u"], _C_U)
    np.testing.assert_array_equal(trace["v"], _C_V)
    np.testing.assert_array_equal(trace["spikes"], np.array(_C_SPIKES, bool))
    assert not trace["wrapped"].any()
    np.testing.assert_array_equal(trace["clipped"], np.array(_C_CLIPPED, bool))


def test_a_readout_cannot_subtract():
    with pytest.raises(ValueError, match="readout"):
        NeuronParams.from_fields(**{**_B, "subtract": True})


def test_state_in_is_not_modified():
    params = NeuronParams.from_fields(**_A)
    u, v = np.array([5, -5, 7, 9]), np.array([300, -300, 1, 2])
    int_step(np.array([1, 2, 3, 4]), NeuronState(u, v), params)
    np.testing.assert_array_equal(u, [5, -5, 7, 9])
    np.testing.assert_array_equal(v, [300, -300, 1, 2])


def _random_layer(rng: np.random.Generator, n: int, gain: bool, readout: bool) -> NeuronParams:
    return NeuronParams.from_fields(
        du=rng.integers(0, 4096, n), dv=rng.integers(0, 4096, n),
        vth=rng.integers(0, THRESHOLD_MAX + 1, n),
        bias=rng.integers(-4096, 4096, n) << rng.integers(0, 8, n),
        gain=rng.integers(0, 4096, n) if gain else None, readout=readout)


def _near_bounds(rng: np.random.Generator, n: int, bound: int) -> np.ndarray:
    """Integers within 70 of 0, ±bound, or anywhere in [-bound, bound]."""
    centre = rng.choice([0, bound, -bound], n)
    near = centre + rng.integers(-70, 71, n)
    return np.where(rng.random(n) < 0.5, near, rng.integers(-bound, bound + 1, n)).clip(-bound, bound)


def test_numpy_and_torch_adapters_agree_near_the_bounds():
    rng = np.random.default_rng(20240611)
    n = 4000
    for gain in (False, True):
        for readout in (False, True):
            params_np = _random_layer(rng, n, gain, readout)
            params_t = params_np.map(lambda _, arr: torch.as_tensor(arr))
            u = _near_bounds(rng, n, WRAP_BOUND - 1) + 1  # u lives in (-2^23, 2^23]
            v = _near_bounds(rng, n, STATE_MAX)
            state_np = NeuronState(u, v)
            state_t = NeuronState(torch.as_tensor(u), torch.as_tensor(v))
            for _ in range(5):
                # a << 6 reaches past ±2^23 on its own: every wrap and clip path is taken
                a = _near_bounds(rng, n, WRAP_BOUND >> 6) + rng.integers(-2, 3, n)
                ours = int_step(a, state_np, params_np)
                theirs = int_step(torch.as_tensor(a), state_t, params_t, TORCH_OPS)
                for key in ours._fields:
                    np.testing.assert_array_equal(getattr(theirs, key).numpy(), getattr(ours, key),
                                                  err_msg=f"{key} (gain={gain}, readout={readout})")
                assert ours.wrapped.any() and ours.clipped.any()
                state_np, state_t = ours.state, theirs.state
