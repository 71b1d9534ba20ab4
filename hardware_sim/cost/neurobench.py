"""NeuroBench metrics of a QGraph and a run, by NeuroBench's definitions
(NeuroBench/neurobench, ``neurobench/metrics``), computed on the integer graph:

- ``footprint_bytes`` (static ``Footprint``): Σ numel × element size of every parameter
  and buffer. Here: every weight as int8 (1 byte), and every per-neuron parameter in
  the smallest integer type that holds its hardware width (dv, du: 12 bit → 2 bytes;
  vth: 17 bit → 4; bias_mant: 13 bit → 2; gain: 12 bit → 2), plus one byte per
  population for bias_exp and one per projection for weight_exp.
- ``connection_sparsity`` (static ``ConnectionSparsity``): zero weights / all weights
  over the conv and dense layers (the weight tensors as stored: conv kernels once).
- ``activation_sparsity`` (workload ``ActivationSparsity``): zero activations / all
  activations over the spiking layers' outputs, every timestep and sample:
  1 − spikes / (neurons × T × samples). A readout population (non-spiking integrator)
  has no spike output and is left out, as NeuroBench hooks only spiking layers.
- ``synaptic_operations`` (workload ``SynapticOperations``, per sample, summed over T):
  ``Dense``: every (input, synapse) pair of every conv/dense layer, zero or not: a
  ones-layer on ones-input, so T × Σ ``Projection.synapses``; ``Effective_MACs`` /
  ``Effective_ACs``: only non-zero inputs through non-zero weights, counted as ACs
  when the layer's input is binary, MACs otherwise. NeuroBench checks the input
  tensor; here a projection's input is binary when it carries 1-bit spikes unpooled:
  the network input (graded values) and sum-pooled spikes (counts 0..k²) make MACs,
  as NeuroBench's hook on the conv after a pooling layer would see them. Biases are
  not synaptic operations (as in NeuroBench).

``neurobench_metrics`` gathers them. Effective ops need each sample's input to every
projection: the network input (``inputs``) and, for pooled projections, each sample's
spikes (``result.spikes``, recorded with ``simulate(record_spikes=True)``; when the run
has none it is re-simulated with recording). Unpooled spike inputs use the run's
per-step spike counts summed over samples (exact: the count is linear in the spikes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hardware_sim.ir.graph import INPUT, Projection, QGraph, neuron_count
from hardware_sim.ir.synapses import pooled_fan_out, sum_pool

if TYPE_CHECKING:
    from hardware_sim.results import SimulationResult

_PARAM_BYTES = {"dv": 2, "du": 2, "vth": 4, "bias_mant": 2, "gain": 2}


def footprint_bytes(graph: QGraph) -> int:
    """Bytes of all parameters (module docstring)."""
    total = 0
    for pop in graph.populations:
        total += sum(int(np.asarray(p.weight).size) + 1 for p in pop.projections)
        for name, size in _PARAM_BYTES.items():
            value = getattr(pop, name)
            if value is not None:
                total += int(np.asarray(value).size) * size
        total += 1  # bias_exp
    return total


def parameter_count(graph: QGraph) -> int:
    """Number of parameters (NeuroBench ``ParameterCount``): weights, per-neuron parameters,
    and one exponent per population and per projection."""
    total = 0
    for pop in graph.populations:
        total += sum(int(np.asarray(p.weight).size) + 1 for p in pop.projections) + 1
        total += sum(int(np.asarray(getattr(pop, n)).size) for n in _PARAM_BYTES
                     if getattr(pop, n) is not None)
    return total


def connection_sparsity(graph: QGraph) -> float:
    """Zero weights / all weights over every projection."""
    zeros = sum(int(np.count_nonzero(np.asarray(p.weight) == 0))
                for pop in graph.populations for p in pop.projections)
    weights = sum(int(np.asarray(p.weight).size) for pop in graph.populations for p in pop.projections)
    return zeros / weights if weights else 0.0


def activation_sparsity(graph: QGraph, result: SimulationResult) -> float:
    """1 − spikes / (neurons × T × samples) over the spiking (non-readout) populations."""
    spiking = [p for p in graph.populations if not p.readout]
    total = sum(neuron_count(p) for p in spiking) * result.timesteps * result.samples
    spikes = sum(result.count(p.name).spikes for p in spiking)
    return (total - spikes) / total if total else 0.0


def synaptic_operations(graph: QGraph, result: SimulationResult,
                        inputs: np.ndarray | None = None) -> dict:
    """NeuroBench's SynapticOperations per sample: Effective_MACs, Effective_ACs, Dense."""
    samples, steps = result.samples, result.timesteps
    macs = acs = 0
    dense = 0
    by_layer = []
    for pop in graph.populations:
        layer = {"name": pop.name, "effective_macs": 0.0, "effective_acs": 0.0, "dense": 0.0}
        for proj in pop.projections:
            fan = pooled_fan_out(proj, nonzero_weights=True).reshape(-1)
            layer["dense"] += steps * proj.synapses
            binary = proj.source != INPUT and proj.pool == 1
            if binary:
                per_step = np.asarray(result.spikes_per_step[proj.source], np.int64)
                ops = float((per_step.reshape(steps, -1) * fan).sum()) / samples
                layer["effective_acs"] += ops
                continue
            values = _source_values(graph, result, inputs, proj)  # (T, N, *source_shape)
            pooled = sum_pool(values, proj.pool)
            nonzero = (pooled != 0).reshape(steps * samples, -1)
            layer["effective_macs"] += float((nonzero.sum(axis=0) * fan).sum()) / samples
        macs += layer["effective_macs"]
        acs += layer["effective_acs"]
        dense += layer["dense"]
        by_layer.append(layer)
    return {"Effective_MACs": macs, "Effective_ACs": acs, "Dense": float(dense),
            "by_layer": by_layer}


def _source_values(graph: QGraph, result: SimulationResult, inputs: np.ndarray | None,
                   proj: Projection) -> np.ndarray:
    if proj.source == INPUT:
        if inputs is None:
            raise ValueError("synaptic operations of the input layer need the run's inputs")
        return np.swapaxes(np.asarray(inputs), 0, 1)  # (T, N, ...)
    if result.spikes is None or proj.source not in result.spikes:
        raise ValueError(f"population {proj.source!r} feeds a pooled projection: its effective "
                         "ops need each sample's spikes (simulate(record_spikes=True))")
    return np.asarray(result.spikes[proj.source])


def _needs_spikes(graph: QGraph) -> bool:
    return any(p.source != INPUT and p.pool > 1 for pop in graph.populations
               for p in pop.projections)


def neurobench_metrics(graph: QGraph, result: SimulationResult,
                       inputs: np.ndarray | None = None) -> dict:
    """Footprint, connection and activation sparsity and synaptic operations (NeuroBench).

    When a pooled projection needs each sample's spikes and ``result`` has none, the
    run is repeated with recording (``engine.simulate``, zero-delay timing).
    """
    if _needs_spikes(graph) and result.spikes is None:
        if inputs is None:
            raise ValueError("pooled projections need the run's inputs to re-simulate")
        from hardware_sim.engine import simulate  # torch, only when needed

        spikes = simulate(graph, inputs, record_spikes=True).spikes
        result = _with_spikes(result, spikes)
    return {
        "definitions": "NeuroBench (github.com/NeuroBench/neurobench, neurobench/metrics); "
                       "see hardware_sim/cost/neurobench.py for how each maps onto the integer graph",
        "footprint_bytes": footprint_bytes(graph),
        "parameter_count": parameter_count(graph),
        "connection_sparsity": connection_sparsity(graph),
        "activation_sparsity": activation_sparsity(graph, result),
        "synaptic_operations": synaptic_operations(graph, result, inputs),
    }


def _with_spikes(result: SimulationResult, spikes: dict) -> SimulationResult:
    from dataclasses import replace

    return replace(result, spikes=spikes)


__all__ = ["activation_sparsity", "connection_sparsity", "footprint_bytes", "neurobench_metrics",
           "parameter_count", "synaptic_operations"]
