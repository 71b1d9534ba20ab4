"""Neuron nodes both ways: a population's integer parameters as a NIR neuron node (LIF, CubaLIF,
I) for writing, and a foreign neuron node's float parameters (LIF, CubaLIF, IF, I, LI) as a float
population for reading.

Forward Euler throughout (DESIGN §4): written at dt = 1, τ = 1/(1 − β), r = g/(1 − β); read with
τ in timesteps as ``conventions.Reading`` gives it.
"""

from __future__ import annotations

from dataclasses import replace

import nir
import numpy as np

from hardware_sim.ir.graph import FloatPopulation, GraphError, IntPopulation, Projection
from hardware_sim.ir.neuron import ALIGN_SHIFT, DECAY_ONE, DU_NO_CURRENT_MEMORY, GAIN_MAX, GAIN_ONE
from hardware_sim.ir.nir.checks import full
from hardware_sim.ir.nir.conventions import Reading
from hardware_sim.ir.nir.format import NIRFormatError

NEURON_NODES = (nir.LIF, nir.CubaLIF, nir.IF, nir.I, nir.LI)
"""The NIR node types that are a population of neurons."""

TAU_NO_LEAK = float(1 << 14)
"""τ written for a neuron without leak (dv = 0): NIR's LIF has no finite form of β = 1,
and 4096/τ = 0.25 quantizes back to dv = 0 exactly."""


def neuron_node(pop: IntPopulation, gain: np.ndarray) -> nir.NIRNode:
    if pop.readout:
        return nir.I(r=np.ones(pop.shape))
    with np.errstate(divide="ignore"):
        tau = np.where(pop.dv > 0, DECAY_ONE / pop.dv, TAU_NO_LEAK)
    if np.any(pop.du != DU_NO_CURRENT_MEMORY):
        # Current memory: a CubaLIF with τ_syn = 4096/(du + 1) and w_in = τ_syn, so that
        # the reader's gain r·w_in/(τ_mem·τ_syn) is g again (see cuba_population).
        if np.any((pop.bias_mant != 0) & (pop.du != DU_NO_CURRENT_MEMORY)):
            raise GraphError(f"population {pop.name!r}: a bias with current memory (du < 4095) has "
                             f"no NIR float form (NIR's bias passes through the current)")
        tau_syn = DECAY_ONE / (pop.du + 1.0)
        return nir.CubaLIF(
            tau_syn=tau_syn, tau_mem=tau, r=gain * tau, v_leak=np.zeros(pop.shape),
            v_threshold=pop.vth * float(1 << ALIGN_SHIFT) * pop.v_scale, v_reset=np.zeros(pop.shape), w_in=tau_syn,
        )
    return nir.LIF(
        tau=tau, r=gain * tau, v_leak=np.zeros(pop.shape),
        v_threshold=pop.vth * float(1 << ALIGN_SHIFT) * pop.v_scale, v_reset=np.zeros(pop.shape),
    )


def float_population(name: str, node: nir.NIRNode, shape: tuple[int, ...],
                     projections: list[tuple[Projection, str, nir.NIRNode]],
                     reading: Reading, implicit_readout: bool = False) -> FloatPopulation:
    """A neuron node (or, with ``implicit_readout``, a weight node feeding the Output directly)
    and the projections into it as a float population: decays, threshold, bias, the input gain
    folded into the weights where it can be. ``reading`` gives τ in timesteps (τ_s) and the
    producer's CubaLIF convention (``conventions``).

    Per step (forward Euler): V[t] = (1 − 1/τ_s)·V[t−1] + v_leak/τ_s + (r/τ_s)·(W s + b), so
    v_leak is a bias of v_leak/τ_s; an ``I`` integrates r·(W s + b) without leak, an ``LI``
    is a leaky readout (never spikes; its final V is the output)."""
    bias = np.zeros(shape)
    for proj, _, wnode in projections:
        b = np.asarray(getattr(wnode, "bias", 0.0), dtype=np.float64)
        bias = bias + (b.reshape(-1, *([1] * (len(shape) - 1))) if proj.kind == "conv" else b)
    plain = [p for p, _, _ in projections]
    if implicit_readout or isinstance(node, nir.I):
        r = np.ones(shape) if implicit_readout else full(name, node.r, shape, "r")
        folded, residual = fold_gain(name, shape, plain, r)
        return FloatPopulation(name, shape, folded, beta=np.ones(shape),
                               threshold=np.full(shape, np.inf), bias=bias * r,
                               gain=residual, readout=True)
    if isinstance(node, nir.LI):
        tau = reading.tau_steps(name, full(name, node.tau, shape, "tau"))
        gain = full(name, node.r, shape, "r") / tau  # rockpool's ExpSynTorch: β·(V + x), r/τ_s = β
        folded, residual = fold_gain(name, shape, plain, gain)
        return FloatPopulation(name, shape, folded, beta=kept_per_step(tau, reading),
                               threshold=np.full(shape, np.inf),
                               bias=bias * gain + full(name, node.v_leak, shape, "v_leak") / tau,
                               gain=residual, readout=True)
    threshold = full(name, node.v_threshold, shape, "v_threshold")
    if np.any(~(threshold > 0)):
        raise NIRFormatError(f"node {name!r}: v_threshold must be positive")
    if node.v_reset is not None and np.any(full(name, node.v_reset, shape, "v_reset") != 0):
        raise NIRFormatError(f"node {name!r}: v_reset must be 0 (the hardware resets v to 0)")
    if isinstance(node, nir.CubaLIF):
        return cuba_population(name, node, shape, plain, threshold, bias, reading)
    leak = np.zeros(shape)
    if isinstance(node, nir.IF):
        beta, gain = np.ones(shape), full(name, node.r, shape, "r")
    else:
        tau = reading.tau_steps(name, full(name, node.tau, shape, "tau"))
        beta = kept_per_step(tau, reading)
        gain = full(name, node.r, shape, "r") / tau
        leak = full(name, node.v_leak, shape, "v_leak") / tau
        if reading.decay == "exponential":  # rockpool's LIFNeuronTorch: V[t] = β·V[t−1] + x[t]
            gain, leak = gain / beta, leak / beta
    folded, residual = fold_gain(name, shape, plain, gain)
    return FloatPopulation(name, shape, folded, beta=beta, threshold=threshold,
                           bias=bias * gain + leak, gain=residual)


def cuba_population(name: str, node: nir.CubaLIF, shape: tuple[int, ...],
                     projections: list[Projection], threshold: np.ndarray,
                     bias: np.ndarray, reading: Reading) -> FloatPopulation:
    """A NIR CubaLIF as a population with current memory (DESIGN §3's u, du < 4095).

    NIR's equations, forward Euler over one step (τ in steps, ``reading``), the voltage seeing
    this step's current (as snnTorch's Synaptic and norse's LIFCell run them), x = W s + b:

        I[t] = (1 − 1/τ_syn)·I[t−1] + (w_in/τ_syn)·x[t]
        V[t] = (1 − 1/τ_mem)·V[t−1] + v_leak/τ_mem + (r/τ_mem)·I[t]

    (norse's LIFCell adds w_in·x to I unscaled: ``reading.cuba_input == "unscaled"`` drops the
    1/τ_syn). In V's units, u = (r/τ_mem)·I obeys u[t] = β_I·u[t−1] + g·x[t] with
    β_I = 1 − 1/τ_syn and g = r·w_in/(τ_mem·τ_syn), which is Lava's
    u[t] = rtz(u·(4096 − (du+1)), 12) + a with (du + 1)/4096 = 1/τ_syn: du = round(4096/τ_syn) − 1
    (τ_syn = 1 gives 4095, no current memory), dv = round(4096/τ_mem).

    rockpool's LIFTorch (``reading.decay == "exponential"``) steps I[t] = β_I·(I[t−1] + x[t]),
    V[t] = β·V[t−1] + I[t] (rockpool/nn/modules/torch/lif_torch.py) with β = exp(−1/τ_mem),
    β_I = exp(−1/τ_syn), and writes r = τ_mem·β (τ in steps): so u = I, β_I as above and
    g = β_I·w_in·r/(τ_mem·β), which is β_I for rockpool's files. The gain g folds into the
    weights (dense rows, conv channels; the rest as the 12-bit input gain); v_leak is a bias
    of v_leak/τ_mem. A weight bias b reaches V through the decaying current, which Loihi's
    bias (added to v) cannot reproduce: a dense layer's bias becomes the weights of a
    projection from an always-on neuron (``bias_source_population``) into the current, which is
    exact; a convolution's is refused.
    """
    tau_mem = reading.tau_steps(name, full(name, node.tau_mem, shape, "tau_mem"), "tau_mem")
    tau_syn = reading.tau_steps(name, full(name, node.tau_syn, shape, "tau_syn"), "tau_syn")
    gain = full(name, node.r, shape, "r") * full(name, node.w_in, shape, "w_in") / tau_mem
    beta, current_decay = kept_per_step(tau_mem, reading), kept_per_step(tau_syn, reading)
    if reading.decay == "exponential":  # rockpool's LIFTorch (docstring)
        gain = gain * current_decay / beta
    elif reading.cuba_input == "nir":
        gain = gain / tau_syn
    if np.any((bias != 0) & (current_decay > 0)):
        if len(shape) != 1:
            raise NIRFormatError(f"node {name!r}: a bias into a convolutional CubaLIF with tau_syn > 1 "
                                 f"step reaches v through the decaying current, and the hardware adds "
                                 f"its bias to v: re-export with the convolution's bias off "
                                 f"(bias=False) or use a LIF, whose bias maps exactly")
        # Exact: the bias enters the current as the weights of an always-on neuron (one spike
        # every step, BIAS_SOURCE), so it decays through u as NIR's equations say.
        projections = [*projections, Projection(BIAS_SOURCE, "dense", bias[:, None], (1,))]
        bias = np.zeros(shape)
    folded, residual = fold_gain(name, shape, projections, gain)
    leak = full(name, node.v_leak, shape, "v_leak") / tau_mem
    return FloatPopulation(name, shape, folded, beta=beta, threshold=threshold,
                           bias=bias * gain + leak, gain=residual,
                           current_decay=current_decay if np.any(current_decay > 0) else None)


BIAS_SOURCE = "bias_source"
"""The population that fires at every step, through which a CubaLIF's bias enters its current."""


def bias_source_population() -> FloatPopulation:
    """One neuron that fires at every step from the first: no leak, threshold 0.5, bias 1, and a
    self-connection (delay 1) because a population needs an input; v = 1 + u > 0.5 always."""
    return FloatPopulation(BIAS_SOURCE, (1,), [Projection(BIAS_SOURCE, "dense", np.ones((1, 1)), (1,),
                                                           delay=1)],
                           beta=np.ones(1), threshold=np.full(1, 0.5), bias=np.ones(1))


def kept_per_step(tau: np.ndarray, reading: Reading) -> np.ndarray:
    """The fraction of a state a step keeps, τ in steps: forward Euler's 1 − 1/τ, or rockpool's
    exact exp(−1/τ) (``Reading.decay``); either quantizes to a 12-bit decay."""
    if reading.decay == "exponential":
        return np.exp(-1.0 / tau)
    return 1.0 - 1.0 / tau


def fold_gain(name: str, shape: tuple[int, ...], projections: list[Projection],
               gain: np.ndarray) -> tuple[list[Projection], np.ndarray | None]:
    """A per-neuron input gain moved into the weights where the synapses allow it: the rows of
    dense weights, a conv's output channels; what varies within a channel stays as a gain
    relative to 4096/4095 × the channel's largest (as export/fold.py does for α)."""
    if np.allclose(gain, 1):
        return projections, None
    if len(shape) == 1:
        return [replace(p, weight=p.weight * gain[:, None]) for p in projections], None
    per_channel = gain.reshape(shape[0], -1)
    reference = per_channel.max(axis=1)
    if np.any(~(per_channel > 0)):
        raise NIRFormatError(f"node {name!r}: the input gain (r/tau, or r·w_in/(tau_mem·tau_syn)) "
                             f"must be positive")
    residual = None
    if not np.all(per_channel == per_channel[:, :1]):
        reference = reference * GAIN_ONE / GAIN_MAX
        residual = gain / reference.reshape(-1, 1, 1)
    return [replace(p, weight=p.weight * reference.reshape(-1, 1, 1, 1)) for p in projections], residual
