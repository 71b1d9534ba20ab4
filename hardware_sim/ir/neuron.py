"""The integer neuron update of DESIGN §3, once: its constants and the pure step ``int_step``.

One step of a layer of fixed-point DA-LIF neurons (Lava 0.10's bit-accurate LIF,
every parameter per neuron), with a[t] the synaptic input after the weight exponent:

    drive  d[t] = a[t] << 6                      or  rtz((a[t] << 6)·g, 12)  with an input gain g
    current u[t] = rtz(u[t−1]·(4096 − (du + 1)), 12) + d[t]
            then wrap once: u > 2^23 → u − 2^24;  u ≤ −2^23 → u + 2^24
    voltage v[t] = clip(rtz(v[t−1]·(4096 − dv), 12) + u[t] + bias, −(2^23 − 1), 2^23 − 1)
    spike   s[t] = v[t] > (vth << 6)              strictly greater
    reset   v[t] = 0 where s[t]                   (u is not reset)

That is the reset to zero (Loihi 1, Lava's LIF). A population may instead reset by
subtraction (Loihi 2's programmable neurons; snnTorch's default ``Leaky``): the threshold,
in the same units (vth << 6), comes off the voltage on the step after the spike, after
the decay and before the clip, and the stored v keeps the value that crossed:

    voltage v[t] = clip(rtz(v[t−1]·(4096 − dv), 12) − (vth << 6)·s[t−1] + u[t] + bias, ±(2^23 − 1))
    spike   s[t] = v[t] > (vth << 6),  s[t−1] read back from the stored v[t−1] the same way
    reset   none at the spike (v[t] is kept)

which is snnTorch's mem[t] = β·mem[t−1] + x[t] − θ·S[t−1] (snntorch/_neurons/leaky.py,
``_base_sub``) in fixed point: the threshold comes off undecayed (subtracting at the spike
and then decaying would take only β·θ off). vth << 6 < 2^23, so the sum stays far inside
int64, and the clip to ±(2^23 − 1) (counted) follows the subtraction as it follows the bias:
a sum above 2^23 − 1 clips and the neuron spikes again next step. ``NeuronParams.subtract``
selects this form; a readout has no reset.

In both, rtz(x, n) = sign(x)·(|x| >> n), the right shift rounding toward zero, and
bias = bias_mant << bias_exp. A readout neuron has no threshold (vth = +∞): it never
spikes and keeps v. Every product fits int64: |u|, |v| ≤ 2^23 times a 12-bit factor.

``int_step`` is written once against Python's operators and a two-function ``IntOps``
namespace (``rtz``, ``where``), so the same lines run on numpy arrays (``NUMPY_OPS``,
here), torch tensors (hardware_sim.engine) and symbolic ONNX tensors
(deploy.onnx.backend). State goes in and comes out (norse style): nothing is hidden.

numpy and the standard library only: the Lava environment (no torch) imports this.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

# The fixed-point format of a neuron (DESIGN §3). The synapse's weight width lives
# with the Projection (hardware_sim.ir.graph).
DECAY_BITS = 12
"""du, dv: 12-bit unsigned; u keeps rtz(u·(4096 − (du + 1)), 12) per step, v rtz(v·(4096 − dv), 12)."""
DECAY_ONE = 1 << DECAY_BITS  # 4096: the decay denominator
GAIN_BITS = 12
"""The input gain g: 12-bit unsigned, applied as rtz(x·g, 12)."""
GAIN_ONE = 1 << GAIN_BITS  # 4096: the gain's denominator (a gain of GAIN_ONE would be unity)
ALIGN_SHIFT = 6
"""MSB alignment: the synaptic input and the threshold enter the 24-bit state shifted left by 6."""
STATE_BITS = 24
"""u and v are 24-bit registers."""
WRAP_BOUND = 1 << (STATE_BITS - 1)  # 2^23: u > 2^23 or u ≤ −2^23 wraps once
WRAP_MODULUS = 1 << STATE_BITS  # 2^24: what a wrap adds or subtracts
STATE_MAX = WRAP_BOUND - 1  # 2^23 − 1: v is clipped to ±STATE_MAX
THRESHOLD_BITS = 17
THRESHOLD_MAX = (1 << THRESHOLD_BITS) - 1
BIAS_MANT_BITS = 13
BIAS_MANT_MAX = (1 << (BIAS_MANT_BITS - 1)) - 1
BIAS_EXP_BITS = 3
BIAS_EXP_MAX = (1 << BIAS_EXP_BITS) - 1
GAIN_MAX = (1 << GAIN_BITS) - 1
DU_NO_CURRENT_MEMORY = DECAY_ONE - 1  # du = 4095: u[t] = a[t-1] << 6 (DA-LIF)


class IntOps(NamedTuple):
    """What ``int_step`` needs beyond Python's operators (+, −, ·, <<, comparisons, |).

    ``rtz(x, n)``: sign(x)·(|x| >> n), the right shift rounding toward zero.
    ``where(mask, x, y)``: x where mask, else y; x or y may be a Python int.
    """

    rtz: Callable[[Any, int], Any]
    where: Callable[[Any, Any, Any], Any]


def _numpy_rtz(x: Any, n: int) -> Any:
    return np.sign(x) * (np.abs(x) >> n)


NUMPY_OPS = IntOps(rtz=_numpy_rtz, where=np.where)
"""``int_step`` on int64 numpy arrays (Lava's own formulation of rtz)."""


class NeuronState(NamedTuple):
    """u and v of a layer after a step (v after the reset); zeros before the first."""

    u: Any
    v: Any


class NeuronParams(NamedTuple):
    """A layer's per-neuron constants in the form ``int_step`` uses them.

    u_keep = 4096 − (du + 1);  v_keep = 4096 − dv;  bias = bias_mant << bias_exp;
    vth_aligned = vth << 6, or None for a readout (no threshold: it never spikes, keeps v);
    gain = the input gain g (12-bit), or None for none; subtract = reset by subtraction
    (the module docstring) instead of to zero, one Python bool per layer so that the
    update's form, not its data, changes. Build it with ``from_fields`` and move it to an
    executor's array type with ``map``.
    """

    u_keep: Any
    v_keep: Any
    vth_aligned: Any
    bias: Any
    gain: Any = None
    subtract: bool = False

    @classmethod
    def from_fields(cls, *, du: Any, dv: Any, vth: Any, bias: Any, gain: Any = None,
                    readout: bool = False, subtract: bool = False) -> NeuronParams:
        """The constants, as int64 numpy arrays, of neurons with these fields (DESIGN §3)."""
        if readout and subtract:
            raise ValueError("a readout never spikes: it has no reset to subtract")

        def ints(x: Any) -> np.ndarray:
            return np.asarray(x, dtype=np.int64)

        return cls(u_keep=DECAY_ONE - (ints(du) + 1), v_keep=DECAY_ONE - ints(dv),
                   vth_aligned=None if readout else ints(vth) << ALIGN_SHIFT, bias=ints(bias),
                   gain=None if gain is None else ints(gain), subtract=bool(subtract))

    def map(self, convert: Callable[[str, np.ndarray], Any]) -> NeuronParams:
        """The same constants with every array passed through ``convert(field name, array)``."""
        return NeuronParams(**{name: convert(name, value) if isinstance(value, np.ndarray) else value
                               for name, value in self._asdict().items()})


class NeuronStep(NamedTuple):
    """What one ``int_step`` returns: the new state, the spikes, and where it overflowed.

    ``wrapped``: u left [−2^23 + 1, 2^23] and was wrapped; ``clipped``: v was clipped.
    Both are masks of the layer's shape, so a caller counts them (overflow is never silent).
    """

    u: Any
    v: Any
    spikes: Any
    wrapped: Any
    clipped: Any

    @property
    def state(self) -> NeuronState:
        return NeuronState(self.u, self.v)


def input_drive(a: Any, gain: Any = None, ops: IntOps = NUMPY_OPS) -> Any:
    """d = a << 6, or rtz((a << 6)·g, 12) with a per-neuron input gain g: what u adds."""
    drive = a << ALIGN_SHIFT
    if gain is None:
        return drive
    return ops.rtz(drive * gain, GAIN_BITS)


def int_step(a: Any, state: NeuronState, params: NeuronParams, ops: IntOps = NUMPY_OPS
             ) -> NeuronStep:
    """One update of a layer of integer DA-LIF neurons (the module docstring's equations).

    ``a`` is this step's synaptic input (weight exponent applied), ``state`` the layer's
    (u, v) after the previous step. Pure: the arrays in ``state`` are not modified.
    With ``params.subtract`` the returned v is the voltage that crossed, not reset: the
    next call subtracts the threshold where it exceeds it (the module docstring).
    """
    u = ops.rtz(state.u * params.u_keep, DECAY_BITS) + input_drive(a, params.gain, ops)
    wrap_hi, wrap_lo = u > WRAP_BOUND, u <= -WRAP_BOUND
    u = ops.where(wrap_hi, u - WRAP_MODULUS, ops.where(wrap_lo, u + WRAP_MODULUS, u))
    v = ops.rtz(state.v * params.v_keep, DECAY_BITS) + u + params.bias
    if params.subtract:  # the previous step's spikes, read back from the v that crossed
        v = v - ops.where(state.v > params.vth_aligned, params.vth_aligned, 0)
    clip_hi, clip_lo = v > STATE_MAX, v < -STATE_MAX
    v = ops.where(clip_hi, STATE_MAX, ops.where(clip_lo, -STATE_MAX, v))
    if params.vth_aligned is None:  # a readout: no threshold, so no spike and no reset
        spikes = v > math.inf
    else:
        spikes = v > params.vth_aligned
        if not params.subtract:
            v = ops.where(spikes, 0, v)
    return NeuronStep(u=u, v=v, spikes=spikes, wrapped=wrap_hi | wrap_lo, clipped=clip_hi | clip_lo)
