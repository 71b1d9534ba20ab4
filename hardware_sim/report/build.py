"""The energy report as one JSON-able dict: ``build_report``.

``build_report`` gathers a run's energy, the ANN baseline, the mapping, the chip
profile (constants, cost model and every source) and the run's counters into one
dict; ``write_energy_report`` (``report.write``) renders that dict alone, so a
report.json read back from disk renders the same files again.

Keys of the dict (run totals unless the key says per inference):

    format, model.{name, nir, checkpoint, dataset, info}, accuracy.{float, quantized},
    timesteps, samples,
    provenance (when given: report.provenance.collect_provenance: date, command, versions,
                sha256 of the input files, data set and sample count),
    chip.{name, description, mesh, constants, cost_model, sources, source_records},
    energy.{dynamic_j_per_inference, static_j_per_inference, total_j_per_inference},
    timing (report.assumptions.timing_section: the simulated timing, its latency, and the
            pipelined estimate beside it),
    estimates.{any, constants[]} (the chip's constants its sources mark as estimates),
    assumptions[].{topic, text}, references[].{key, title, bibtex, cited_by[]}, bibtex,
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
from hardware_sim.report.assumptions import stated_assumptions, timing_section
from hardware_sim.report.references import DALIF_KEY, bibtex_block, cited_references

if TYPE_CHECKING:
    from hardware_sim.ir.graph import QGraph
    from hardware_sim.results import SimulationResult

REPORT_FORMAT = "dalif-energy-report/3"
"""/2: ``cycle`` no longer carries an energy of its own (one energy figure per report).
/3: provenance, energy (dynamic/static split), timing, estimates, assumptions, references,
bibtex and chip.source_records; comparison rows price the chip's total energy."""
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
    provenance: dict | None = None,
    graph: QGraph | None = None,
) -> dict:
    """Everything the report shows, as one JSON-able dict (keys: module docstring).

    ``accuracy`` may hold ``float`` and ``quantized`` (fractions in [0, 1]; missing
    ones are None) and anything else worth keeping; ``model`` describes the
    network (name, checkpoint, NIR file …; ``model_name`` fills a missing name); ``extras``
    is stored as given; ``raster``: per population, (T, N, *shape) spikes, of which the
    first sample is shown; ``provenance``: ``report.provenance.collect_provenance``;
    ``graph``: the network, for its depth (the pipelined latency estimate).
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
    static_j = cycle["static_energy_j_per_inference"] if cycle else 0.0
    chip_j = energy.energy_j_per_inference + static_j
    comparison = [{"label": f"{chip.name} (this model)", "energy_j_per_inference": chip_j}]
    for base in (baseline, energy.snn_45nm):
        comparison += [{"label": r.label, "energy_j_per_inference": r.energy_j_per_inference}
                       for r in base.rows]
    for row in comparison:
        row["relative_to_chip"] = row["energy_j_per_inference"] / chip_j if chip_j > 0 else None
    chip_dict = chip.to_dict()
    chip_dict["source_records"] = chip.source_records()
    config = ((model or {}).get("info") or {}).get("config") or {}
    references = cited_references(
        chip_dict["source_records"],
        also={DALIF_KEY: ["model (DA-LIF neuron)"]} if config.get("neuron") == "dalif" else None)
    report = {
        "format": REPORT_FORMAT,
        "model": {**(model or {}), "name": model_name(model or {})},
        "accuracy": {"float": None, "quantized": None, **(accuracy or {})},
        "timesteps": result.timesteps,
        "samples": result.samples,
        "provenance": provenance,
        "chip": chip_dict,
        "energy": {"dynamic_j_per_inference": energy.energy_j_per_inference,
                   "static_j_per_inference": static_j, "total_j_per_inference": chip_j},
        "timing": timing_section(cycle, _depth(graph), result.timesteps),
        "estimates": _estimates(chip),
        "mapping": mapping.to_dict(),
        "active_updates": energy.active_updates,
        "layers": layers,
        "totals": totals,
        "baseline_ann": baseline.to_dict(),
        "baseline_snn_45nm": energy.snn_45nm.to_dict(),
        "comparison": comparison,
        "notes": energy_dict["notes"],
        "extras": dict(extras or {}),
        "references": references,
        "bibtex": bibtex_block(references),
    }
    report["break_even"] = break_even_rate(totals, baseline, total_firing_rate(report))
    if cycle is not None:
        report["cycle"] = cycle
    if neurobench is not None:
        report["neurobench"] = neurobench
    if raster is not None:
        report["raster"] = _raster(raster, [layer["name"] for layer in layers])
    report["assumptions"] = stated_assumptions(report)
    return json.loads(to_json(report))  # plain Python types only, and proof that it serialises


def model_name(model: dict) -> str:
    """The model's name: as given (``dalif energy --name``), else the architecture its
    checkpoint was trained as (the NIR file's ``info.config.model``), else the NIR file's stem."""
    config = (model.get("info") or {}).get("config") or {}
    for name in (model.get("name"), config.get("model"),
                 Path(model["nir"]).stem if model.get("nir") else None):
        if isinstance(name, str) and name.strip():
            return name
    return "unnamed model"


def _depth(graph: QGraph | None) -> dict[str, int] | None:
    """Each population's depth in hops from the input (None without a graph)."""
    if graph is None:
        return None
    from hardware_sim.ir.graph import INPUT
    from hardware_sim.ir.pipeline import plan_network

    depth = plan_network(graph, 1, 1).depth
    depth.pop(INPUT, None)
    return depth


def _estimates(chip: ChipProfile) -> dict:
    """The constants of the profile that its sources mark as estimates."""
    marked = sorted(k for k, r in chip.source_records().items() if r["estimate"])
    return {"any": bool(marked), "constants": marked}


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
