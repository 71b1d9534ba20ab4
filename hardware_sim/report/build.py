"""The energy report as one JSON-able dict: ``build_report``.

``build_report`` gathers a run's energy, the ANN baseline, the mapping, the chip
profile (constants, cost model and every source) and the run's counters into one
dict; ``write_energy_report`` (``report.write``) renders that dict alone, so a
report.json read back from disk renders the same files again.

Keys of the dict (run totals unless the key says per inference):

    format, model, accuracy.{float, quantized}, timesteps, samples,
    chip.{name, description, mesh, constants, cost_model, sources},
    mapping.{cores, tiles, chips, populations[]},
    layers[].{name, neurons, cores, spikes, synaptic_ops, input_macs, neuron_updates,
              neuron_updates_active, neuron_updates_inactive, messages, hops_east_west,
              hops_north_south, u_wraps, v_clips, spike_rate, energy_j,
              energy_j_per_inference, energy_j_by_op, per_inference{...}},
    totals.{the same counts, input_clipped, energy_j, energy_j_per_inference,
            energy_j_by_op, per_inference{...}},
    baseline_ann.{energy_j_per_inference (fp32), rows[]},
    baseline_snn_45nm.{energy_j_per_inference (fp32), rows[]},
    comparison[].{label, energy_j_per_inference, relative_to_chip},
    break_even.{firing_rate, current_firing_rate, fixed_energy_j, spike_energy_j, ann_energy_j, note},
    cycle (when given: hardware_sim.cost.cycle.CycleReport.to_dict(): latency, throughput,
           static energy, per step, per core; its dynamic energy is the one above),
    neurobench (when given: hardware_sim.cost.neurobench.neurobench_metrics),
    raster (when given: one sample's spikes as [step, global neuron index] pairs, and
            the layer boundaries),
    notes[], extras
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hardware_sim.chips import ChipProfile
from hardware_sim.cost.energy import BaselineEnergy, EnergyReport
from hardware_sim.cost.mapping import Mapping

if TYPE_CHECKING:
    from hardware_sim.results import SimulationResult

REPORT_FORMAT = "dalif-energy-report/2"
"""/2: ``cycle`` no longer carries an energy of its own (one energy figure per report)."""
SPIKE_DRIVEN_EVENTS = ("synaptic_op", "spike", "message", "hop_east_west", "hop_north_south")


def build_report(
    energy: EnergyReport,
    baseline: BaselineEnergy,
    mapping: Mapping,
    chip: ChipProfile,
    result: SimulationResult,
    *,
    accuracy: dict | None = None,
    model: dict | None = None,
    extras: dict | None = None,
    cycle: dict | None = None,
    neurobench: dict | None = None,
    raster: dict[str, np.ndarray] | None = None,
) -> dict:
    """Everything the report shows, as one JSON-able dict (keys: module docstring).

    ``accuracy`` may hold ``float`` and ``quantized`` (fractions in [0, 1]; missing
    ones are None) and anything else worth keeping; ``model`` describes the
    network (name, checkpoint, NIR file …); ``extras`` is stored as given;
    ``raster``: per population, (T, N, *shape) spikes, of which the first sample is shown.
    """
    if energy.chip != chip.name or mapping.chip != chip.name:
        raise ValueError(
            f"energy ({energy.chip}), mapping ({mapping.chip}) and chip ({chip.name}) differ"
        )
    energy_dict = energy.to_dict()
    counts = {c.name: c for c in result.counts}
    steps = result.samples * result.timesteps
    layers = []
    for layer in energy_dict["layers"]:
        c = counts[layer["name"]]
        layer.update(
            u_wraps=c.u_wraps,
            v_clips=c.v_clips,
            spike_rate=c.spikes / (c.neurons * steps) if steps else 0.0,
        )
        layers.append(layer)
    totals = energy_dict["totals"]
    totals.update(
        u_wraps=sum(c.u_wraps for c in result.counts),
        v_clips=sum(c.v_clips for c in result.counts),
        input_clipped=result.input_clipped,
    )
    chip_j = energy.energy_j_per_inference
    comparison = [{"label": f"{chip.name} (this model)", "energy_j_per_inference": chip_j}]
    for base in (baseline, energy.snn_45nm):
        comparison += [{"label": r.label, "energy_j_per_inference": r.energy_j_per_inference}
                       for r in base.rows]
    for row in comparison:
        row["relative_to_chip"] = row["energy_j_per_inference"] / chip_j if chip_j > 0 else None
    report = {
        "format": REPORT_FORMAT,
        "model": dict(model or {}),
        "accuracy": {"float": None, "quantized": None, **(accuracy or {})},
        "timesteps": result.timesteps,
        "samples": result.samples,
        "chip": chip.to_dict(),
        "mapping": mapping.to_dict(),
        "active_updates": energy.active_updates,
        "layers": layers,
        "totals": totals,
        "baseline_ann": baseline.to_dict(),
        "baseline_snn_45nm": energy.snn_45nm.to_dict(),
        "comparison": comparison,
        "notes": energy_dict["notes"],
        "extras": dict(extras or {}),
    }
    report["break_even"] = break_even_rate(totals, baseline, total_firing_rate(report))
    if cycle is not None:
        report["cycle"] = cycle
    if neurobench is not None:
        report["neurobench"] = neurobench
    if raster is not None:
        report["raster"] = _raster(raster, [layer["name"] for layer in layers])
    return json.loads(to_json(report))  # plain Python types only, and proof that it serialises


def break_even_rate(totals: dict, baseline: BaselineEnergy, firing_rate: float) -> dict:
    """The mean firing rate at which the chip's energy per inference equals the ANN's (fp32).

    The spike-driven energy (``SPIKE_DRIVEN_EVENTS``: synaptic ops, spikes, messages, hops)
    is taken to scale linearly with the mean firing rate r, the rest (neuron updates,
    graded input ops) to stay fixed:  E(r) = E_fixed + E_spikes · r / r_now, so
    r* = r_now · (E_ANN − E_fixed) / E_spikes. None when E_fixed alone exceeds E_ANN.
    """
    by_op = totals["per_inference"]["energy_j_by_op"]
    spikes = float(sum(by_op[e] for e in SPIKE_DRIVEN_EVENTS))
    fixed = float(sum(v for e, v in by_op.items() if e not in SPIKE_DRIVEN_EVENTS))
    ann = baseline.energy_j_per_inference
    rate = None
    if spikes > 0 and firing_rate > 0 and ann > fixed:
        rate = firing_rate * (ann - fixed) / spikes
    return {
        "firing_rate": rate, "current_firing_rate": firing_rate, "fixed_energy_j": fixed,
        "spike_energy_j": spikes, "ann_energy_j": ann, "ann_label": baseline.rows[0].label,
        "firing_rate_spike_driven_only": firing_rate * ann / spikes if spikes > 0 else None,
        "note": "E(r) = E_fixed + E_spikes · r / r_now (synaptic ops, spikes, messages and hops "
                "scale with the mean firing rate r; neuron updates and graded input ops do not); "
                "firing_rate is r where E(r) equals the ANN baseline, None if the fixed part "
                "alone is above it",
    }


def total_firing_rate(report: dict) -> float:
    """Spikes per neuron per step over the whole network and run."""
    steps = report["samples"] * report["timesteps"] * report["totals"]["neurons"]
    return report["totals"]["spikes"] / steps if steps else 0.0


def to_json(obj: dict) -> str:
    """The report as JSON text: numpy scalars and arrays as plain numbers and lists."""
    def default(x):
        if isinstance(x, np.integer):
            return int(x)
        if isinstance(x, np.floating):
            return float(x)
        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, Path):
            return str(x)
        raise TypeError(f"{type(x).__name__} is not JSON serialisable")

    return json.dumps(obj, indent=2, allow_nan=False, default=default)


def _raster(spikes: dict[str, np.ndarray], names: list[str]) -> dict:
    """One sample's spikes: [step, global neuron index] pairs and where each layer starts."""
    events, starts, offset = [], {}, 0
    for name in names:
        s = np.asarray(spikes[name])
        s = s.reshape(s.shape[0], s.shape[1], -1)[:, 0]  # (T, neurons) of the first sample
        starts[name] = offset
        t, n = np.nonzero(s)
        events += [[int(a), int(b) + offset] for a, b in zip(t, n)]
        offset += s.shape[1]
    return {"events": events, "layer_start": starts, "neurons": offset,
            "timesteps": int(next(iter(spikes.values())).shape[0]) if spikes else 0}
