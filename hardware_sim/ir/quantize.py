"""Float model → fixed point (DESIGN §3): the one quantizer, for export and for foreign NIR files.

Scales. Per population, one float-per-integer voltage scale ``v_scale`` ties the
two models: V_float ≈ v_scale · v. A projection p with integer weights W_p and
exponent e_p adds acc·2^(e_p+6) to v, so its float weight is
W_float = W_p · v_scale · 2^(e_p+6) / in_scale_p (in_scale: the input's float
value per integer for the graded input layer, 1 for spikes).

Choices, in order:
1. the projection with the largest float drive sets the weight scale so that
   its largest |W| maps to 127 (the full int8 range);
2. its exponent e is the largest in Loihi's range [−8, 7] such that
   - no neuron can wrap u in one step: the worst-case |acc|·2^(e+6) < 2^23, and
   - every threshold fits 17 bits;
   larger e means finer voltage resolution, so the largest safe e is best;
3. other projections into the same population (residual joins) take the
   exponent that keeps their largest |W| within int8.
Everything that does not fit is clipped and counted in the quantization report.
"""

from __future__ import annotations

import math

import numpy as np

from hardware_sim.ir.graph import (
    INPUT,
    WEIGHT_MAX,
    WEIGHT_MIN,
    FloatGraph,
    FloatPopulation,
    GraphError,
    IntPopulation,
    Projection,
    QGraph,
)
from hardware_sim.ir.neuron import (
    ALIGN_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    DECAY_ONE,
    DU_NO_CURRENT_MEMORY,
    GAIN_MAX,
    THRESHOLD_MAX,
    WRAP_BOUND,
)

WEIGHT_EXP_RANGE = (-8, 7)
"""Loihi's weight exponent range (Davies et al. 2018; lava-dl netx uses the same)."""

_U_LIMIT = WRAP_BOUND


def quantize_graph(graph: FloatGraph, timesteps: int, input_bits: int = 8) -> QGraph:
    """Quantize a folded float graph; ``timesteps`` bounds a readout's accumulated voltage."""
    if timesteps < 1:
        raise ValueError("timesteps must be at least 1")
    max_input = (1 << input_bits) - 1
    report: dict[str, dict[str, int]] = {}
    populations = []
    for pop in graph.populations:
        counts = {"weights_clipped": 0, "dv_clipped": 0, "vth_clipped": 0,
                  "bias_clipped": 0, "gain_clipped": 0}
        populations.append(_quantize_population(pop, graph.input_scale, max_input, timesteps, counts))
        report[pop.name] = counts
    return QGraph(
        input_shape=graph.input_shape,
        populations=populations,
        output=graph.output,
        input_scale=graph.input_scale,
        input_bits=input_bits,
        quantization_report=report,
    )


def dequantized_weight(proj: Projection, v_scale: float, input_scale: float) -> np.ndarray:
    """The float weight an integer projection stands for (NIR's float parameters)."""
    in_scale = input_scale if proj.source == INPUT else 1.0
    return proj.weight.astype(np.float64) * v_scale * 2.0 ** (proj.weight_exp + 6) / in_scale


def _quantize_population(pop: FloatPopulation, input_scale: float, max_input: int,
                         timesteps: int, counts: dict[str, int]) -> IntPopulation:
    gain_float = np.ones(pop.shape) if pop.gain is None else pop.gain
    in_scales = [input_scale if p.source == INPUT else 1.0 for p in pop.projections]
    max_in = [max_input if p.source == INPUT else 1 for p in pop.projections]
    drives = [np.abs(p.weight).max(initial=0.0) * s for p, s in zip(pop.projections, in_scales)]
    lead = int(np.argmax(drives))
    if drives[lead] == 0:
        raise GraphError(f"population {pop.name!r}: all incoming weights are zero")
    lead_scale = drives[lead] / WEIGHT_MAX  # float drive per integer weight step
    lead_int = _round_clip(pop.projections[lead].weight * in_scales[lead] / lead_scale, counts)
    exponent = _choose_exponent(pop, _worst_case_drive(pop, in_scales, max_in), lead_scale, timesteps)
    v_scale = lead_scale / 2.0 ** (exponent + 6)

    projections = []
    for i, (p, s) in enumerate(zip(pop.projections, in_scales)):
        if i == lead:
            w_int, e = lead_int, exponent
        else:
            e = _exponent_for_range(drives[i], v_scale)
            w_int = _round_clip(p.weight * s / (v_scale * 2.0 ** (e + 6)), counts)
        projections.append(Projection(
            source=p.source, kind=p.kind, weight=w_int, source_shape=p.source_shape,
            weight_exp=e, stride=p.stride, padding=p.padding, pool=p.pool, delay=p.delay,
        ))

    dv = np.rint(DECAY_ONE * (1.0 - pop.beta))
    counts["dv_clipped"] += int(np.count_nonzero((dv < 0) | (dv > DECAY_ONE - 1)))
    dv = np.clip(dv, 0, DECAY_ONE - 1).astype(np.int64)

    if pop.readout:
        vth = np.full(pop.shape, THRESHOLD_MAX, dtype=np.int64)
    else:
        vth = np.rint(pop.threshold / ((1 << ALIGN_SHIFT) * v_scale))
        counts["vth_clipped"] += int(np.count_nonzero((vth < 0) | (vth > THRESHOLD_MAX)))
        vth = np.clip(vth, 0, THRESHOLD_MAX).astype(np.int64)

    bias_int = np.rint(pop.bias / v_scale)
    bias_exp = _bias_exponent(bias_int)
    mant = np.rint(bias_int / 2.0 ** bias_exp)
    counts["bias_clipped"] += int(np.count_nonzero((mant < -BIAS_MANT_MAX - 1) | (mant > BIAS_MANT_MAX)))
    mant = np.clip(mant, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64)

    gain = None
    if pop.gain is not None:
        g = np.rint(DECAY_ONE * gain_float)
        counts["gain_clipped"] += int(np.count_nonzero((g < 0) | (g > GAIN_MAX)))
        gain = np.clip(g, 0, GAIN_MAX).astype(np.int64)

    return IntPopulation(
        name=pop.name, shape=pop.shape, projections=projections, dv=dv,
        du=_current_decay(pop, counts), vth=vth,
        bias_mant=mant, bias_exp=bias_exp, v_scale=float(v_scale), gain=gain, readout=pop.readout,
    )


def _current_decay(pop: FloatPopulation, counts: dict[str, int]) -> np.ndarray:
    """du per neuron: 4095 (no current memory) unless the layer has a current decay β_I, then
    du = round(4096·(1 − β_I)) − 1, so that u keeps (4096 − (du + 1))/4096 = β_I per step."""
    if pop.current_decay is None:
        return np.full(pop.shape, DU_NO_CURRENT_MEMORY, dtype=np.int64)
    du = np.rint(DECAY_ONE * (1.0 - pop.current_decay)) - 1
    counts["du_clipped"] = int(np.count_nonzero((du < 0) | (du > DECAY_ONE - 1)))
    return np.clip(du, 0, DECAY_ONE - 1).astype(np.int64)


def _current_memory(pop: FloatPopulation, timesteps: int) -> float:
    """How many steps' drive u can hold at most: Σ_{k<T} β_I^k (1 without current memory)."""
    if pop.current_decay is None:
        return 1.0
    beta = float(np.max(pop.current_decay))
    return float(timesteps) if beta >= 1 else (1.0 - beta**timesteps) / (1.0 - beta)


def _round_clip(w: np.ndarray, counts: dict[str, int]) -> np.ndarray:
    q = np.rint(w)
    counts["weights_clipped"] += int(np.count_nonzero((q < WEIGHT_MIN) | (q > WEIGHT_MAX)))
    return np.clip(q, WEIGHT_MIN, WEIGHT_MAX).astype(np.int64)


def _worst_case_drive(pop: FloatPopulation, in_scales: list[float], max_in: list[int]) -> float:
    """The largest |Σ_p X_p| any neuron can see in one step, in float units.

    Per projection and neuron: all excitatory or all inhibitory inputs at their
    maximum; summed over projections as an upper bound.
    """
    total = 0.0
    for p, s, m in zip(pop.projections, in_scales, max_in):
        rows = p.weight.reshape(p.weight.shape[0], -1)
        pos = np.where(rows > 0, rows, 0).sum(axis=1)
        neg = np.where(rows < 0, -rows, 0).sum(axis=1)
        total += float(np.maximum(pos, neg).max(initial=0.0)) * s * m * p.pool * p.pool
    return total


def _choose_exponent(pop: FloatPopulation, worst_drive: float, lead_scale: float,
                     timesteps: int) -> int:
    lo, hi = WEIGHT_EXP_RANGE
    worst_acc = worst_drive / lead_scale * (timesteps if pop.readout else 1)
    worst_acc *= _current_memory(pop, timesteps)  # u sums past drive when it has current memory
    threshold_max = 0.0 if pop.readout else float(np.max(pop.threshold))
    bias_max = float(np.abs(pop.bias).max(initial=0.0))
    for e in range(hi, lo - 1, -1):
        v_scale = lead_scale / 2.0 ** (e + ALIGN_SHIFT)  # float voltage per integer step
        fits_u = worst_acc * 2 ** (e + ALIGN_SHIFT) < _U_LIMIT
        fits_vth = threshold_max / ((1 << ALIGN_SHIFT) * v_scale) <= THRESHOLD_MAX
        fits_bias = bias_max / v_scale <= BIAS_MANT_MAX << BIAS_EXP_MAX  # the largest bias
        if fits_u and fits_vth and fits_bias:
            return e
    return lo


def _exponent_for_range(drive: float, v_scale: float) -> int:
    """Smallest exponent at which this projection's largest |W| fits int8."""
    lo, hi = WEIGHT_EXP_RANGE
    if drive == 0:
        return lo
    e = math.ceil(math.log2(drive / (WEIGHT_MAX * v_scale))) - 6
    return int(min(max(e, lo), hi))


def _bias_exponent(bias_int: np.ndarray) -> int:
    biggest = float(np.abs(bias_int).max(initial=0.0))
    for exp in range(BIAS_EXP_MAX + 1):
        if biggest / 2**exp <= BIAS_MANT_MAX:
            return exp
    return BIAS_EXP_MAX
