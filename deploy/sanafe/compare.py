"""SANA-FE beside hardware_sim on the same inputs, in the same timing.

SANA-FE runs the naive pipelined timing (one step of delay per hop, every layer from zero
state; DESIGN §3): a layer l hops deep receives input on T − l of the T steps, so at small
T its accuracy is not the zero-delay reference's and must not be read as such. The fair
yardstick is hardware_sim's own "pipelined" run (``hardware_sim.engine.pipelined_reference``,
synaptic work counted per sending step as SANA-FE counts it), priced by our cycle and
energy model on the same mapping and chip profile. ``pipelined_comparison`` puts the two
side by side: predictions, spikes and synaptic ops per layer, energy and latency.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hardware_sim.chips import ChipProfile
from hardware_sim.cost.mapping import Mapping
from hardware_sim.ir.graph import QGraph
from hardware_sim.results import SimulationResult

TIMING_NOTE = ("SANA-FE runs the naive pipelined timing: one step of synaptic delay per hop and "
               "every layer from zero state, without Loihi's per-layer reset offsets or balancing "
               "delays, so a layer l hops deep gets input on only T - l of the T steps. Its "
               "accuracy is that of this timing (hardware_sim's `--timing pipelined`), not of "
               "the zero-delay reference the other backends reproduce.")


def _relative(ours: float, theirs: float) -> float | None:
    return (ours - theirs) / theirs if theirs else None


def pipelined_comparison(graph: QGraph, inputs: np.ndarray, sanafe_result: SimulationResult,
                         chip: ChipProfile, mapping: Mapping,
                         labels: np.ndarray | None = None) -> dict[str, Any]:
    """hardware_sim's pipelined run of ``inputs`` against SANA-FE's run of them
    (``sanafe_result``, from ``SanafeBackend`` with this ``mapping`` and ``chip``): a JSON-able
    dict of both simulators' accuracy (with ``labels``), prediction agreement, per-layer
    spikes and synaptic ops (and SANA-FE minus ours), energy and latency per inference
    (``rel_diff``: hardware_sim relative to SANA-FE)."""
    from hardware_sim.cost.cycle import cycle_model
    from hardware_sim.engine import pipelined_reference

    ours = pipelined_reference(graph, inputs)
    cost = cycle_model(graph, ours, chip, mapping, inputs=inputs)
    report = sanafe_result.sanafe  # type: ignore[attr-defined]
    layers = []
    for pop in graph.populations:
        mine, theirs = ours.count(pop.name), sanafe_result.count(pop.name)
        layers.append({"name": pop.name, **{
            field: {"sanafe": int(getattr(theirs, field)), "hardware_sim": int(getattr(mine, field)),
                    "difference": int(getattr(theirs, field)) - int(getattr(mine, field))}
            for field in ("spikes", "synaptic_ops")}})
    comparison: dict[str, Any] = {
        "timing": "pipelined",
        "note": TIMING_NOTE,
        "chip": chip.name,
        "cores": mapping.cores,
        "prediction_agreement": float(np.mean(ours.predictions == sanafe_result.predictions))
        if ours.samples else None,
        "layers": layers,
        "energy_j_per_inference": {
            "sanafe": report.energy_j_per_inference, "hardware_sim": cost.energy_j_per_inference,
            "rel_diff": _relative(cost.energy_j_per_inference, report.energy_j_per_inference)},
        "latency_s_per_inference": {
            "sanafe": report.latency_s_per_inference, "hardware_sim": cost.latency_s,
            "rel_diff": _relative(cost.latency_s, report.latency_s_per_inference),
            "sanafe_timing_model": report.timing_model,
            "hardware_sim_core_phases": "overlapped"},
    }
    if labels is not None:
        comparison["accuracy"] = {"sanafe": sanafe_result.accuracy(labels),
                                  "hardware_sim": ours.accuracy(labels)}
    return comparison


__all__ = ["TIMING_NOTE", "pipelined_comparison"]
