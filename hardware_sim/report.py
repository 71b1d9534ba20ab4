"""The energy report: one JSON-able dict, written as report.json, report.md and two plots.

``build_report`` gathers a run's energy, the ANN baseline, the mapping, the chip
profile (constants, cost model and every source) and the run's counters into
one dict; ``write_energy_report`` renders that dict alone, so a report.json
read back from disk renders the same files again.

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
    notes[], extras
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable

import numpy as np

from hardware_sim.chips import EVENTS, ChipProfile
from hardware_sim.energy import BaselineEnergy, EnergyReport
from hardware_sim.files import atomic_path
from hardware_sim.mapping import Mapping

if TYPE_CHECKING:
    from hardware_sim.results import SimulationResult

REPORT_FORMAT = "dalif-energy-report/1"
REPORT_FILES = ("report.json", "report.md", "energy_by_layer.png", "activity.png")


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
) -> dict:
    """Everything the report shows, as one JSON-able dict (keys: module docstring).

    ``accuracy`` may hold ``float`` and ``quantized`` (fractions in [0, 1]; missing
    ones are None) and anything else worth keeping; ``model`` describes the
    network (name, checkpoint, NIR file …); ``extras`` is stored as given.
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
    return json.loads(_to_json(report))  # plain Python types only, and proof that it serialises


def write_energy_report(out_dir: str | Path, report: dict) -> dict[str, Path]:
    """Write report.json, report.md, energy_by_layer.png and activity.png into ``out_dir``.

    Each file is written to a temporary file beside it and moved into place, so a
    reader never sees half a report. Returns file name → path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in REPORT_FILES}
    json_text = _to_json(report)
    _atomic_write(paths["report.json"], lambda f: f.write(json_text.encode()))
    markdown = render_markdown(report)
    _atomic_write(paths["report.md"], lambda f: f.write(markdown.encode()))
    _atomic_write(paths["energy_by_layer.png"], lambda f: _plot_energy_by_layer(report, f))
    _atomic_write(paths["activity.png"], lambda f: _plot_activity(report, f))
    return paths


def render_markdown(report: dict) -> str:
    """The human report: summary, comparison, per-layer tables, cost model, sources, notes."""
    chip, totals, layers = report["chip"], report["totals"], report["layers"]
    model_name = report["model"].get("name", "network")
    acc = report["accuracy"]
    lines = [
        f"# Energy report: {model_name} on {chip['name']}",
        "",
        f"- chip profile: **{chip['name']}**: {chip['description']}",
        f"- run: {report['samples']} samples × {report['timesteps']} timesteps",
        f"- mapping: {report['mapping']['cores']} cores, {report['mapping']['tiles']} tiles, "
        f"{report['mapping']['chips']} chip(s) ({chip['neurons_per_core']} neurons per core)",
        f"- accuracy: float {_fmt_acc(acc.get('float'))}, "
        f"quantized {_fmt_acc(acc.get('quantized'))}",
        f"- energy per inference: **{_fmt_j(totals['energy_j_per_inference'])}**",
        f"- overflow events: {totals['u_wraps']} u wraps, {totals['v_clips']} v clips, "
        f"{totals['input_clipped']} inputs clipped",
        "",
        "## Chip vs baselines (per inference)",
        "",
        "| | energy / inference | relative to chip |",
        "|---|---:|---:|",
    ]
    for row in report["comparison"]:
        rel = row["relative_to_chip"]
        lines.append(f"| {row['label']} | {_fmt_j(row['energy_j_per_inference'])} | "
                     f"{'n/a' if rel is None else f'{rel:.3g}'} |")
    lines += [
        "",
        f"ANN baseline: {report['baseline_ann']['description']}. "
        f"45 nm SNN: {report['baseline_snn_45nm']['description']}.",
        "",
        "## Per layer (per inference)",
        "",
        "| layer | neurons | cores | spikes | spike rate | synaptic ops | graded input ops "
        "| neuron updates (active) | messages | hops (E-W / N-S) | energy | share "
        "| u wraps | v clips |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total_j = totals["energy_j_per_inference"]
    total_row = {**totals, "name": "**total**", "spike_rate": _total_rate(report)}
    for row in [*layers, total_row]:
        p = row["per_inference"]
        share = p["energy_j"] / total_j if total_j > 0 else 0.0
        lines.append(
            f"| {row['name']} | {row['neurons']} | {row['cores']} | {_fmt_n(p['spikes'])} | "
            f"{row['spike_rate']:.4f} | {_fmt_n(p['synaptic_ops'])} | {_fmt_n(p['input_macs'])} | "
            f"{_fmt_n(p['neuron_updates'])} ({_fmt_n(p['neuron_updates_active'])}) | "
            f"{_fmt_n(p['messages'])} | "
            f"{_fmt_n(p['hops_east_west'])} / {_fmt_n(p['hops_north_south'])} | "
            f"{_fmt_j(p['energy_j'])} | {share:.1%} | {row['u_wraps']} | {row['v_clips']} |"
        )
    lines += [
        "",
        "Counts are per inference (run totals / samples); u wraps and v clips are run totals.",
        "",
        "## Energy by event (per inference)",
        "",
        "| layer | " + " | ".join(EVENTS) + " |",
        "|---|" + "---:|" * len(EVENTS),
    ]
    for row in [*layers, {"name": "**total**", "per_inference": totals["per_inference"]}]:
        by_op = row["per_inference"]["energy_j_by_op"]
        lines.append(f"| {row['name']} | " + " | ".join(_fmt_j(by_op[e]) for e in EVENTS) + " |")
    lines += [
        "",
        "## Cost model",
        "",
        "| event | energy per event | = sum of | note |",
        "|---|---:|---|---|",
    ]
    for event, entry in chip["cost_model"].items():
        parts = " + ".join(f"`energy_pj.{k}`" for k in entry["sum_of"]) or "(nothing)"
        lines.append(
            f"| {event} | {entry['energy_pj']:.4g} pJ | {parts} | {_cell(entry['note'])} |"
        )
    lines += ["", "## Constants and their sources", ""]
    for key, source in chip["sources"].items():
        lines.append(f"- `{key}` = {chip['constants'][key]:g}{_unit(key)}: {source}")
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in report["notes"]]
    lines += ["", "Plots: `energy_by_layer.png` (energy per layer by event), "
              "`activity.png` (spikes per layer).", ""]
    return "\n".join(lines)


def _plot_energy_by_layer(report: dict, f: IO[bytes]) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    names = [layer["name"] for layer in report["layers"]]
    by_op = {
        e: np.array([layer["per_inference"]["energy_j_by_op"][e] for layer in report["layers"]])
        for e in EVENTS
    }
    scale, unit = _energy_scale(max((sum(v[i] for v in by_op.values()) for i in range(len(names))),
                                    default=0.0))
    fig = Figure(figsize=(max(6.0, 0.8 * len(names) + 3), 4.5), layout="constrained")
    ax = fig.add_subplot()
    bottom = np.zeros(len(names))
    x = np.arange(len(names))
    for event, values in by_op.items():
        if values.any():
            ax.bar(x, values / scale, bottom=bottom, label=event)
            bottom += values / scale
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.set_title(f"Energy per layer on {report['chip']['name']}")
    if bottom.any():
        ax.legend(fontsize="small")
    fig.savefig(f, format="png", dpi=120)


def _plot_activity(report: dict, f: IO[bytes]) -> None:
    from matplotlib.figure import Figure

    names = [layer["name"] for layer in report["layers"]]
    x = np.arange(len(names))
    fig = Figure(figsize=(max(6.0, 0.8 * len(names) + 3), 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.bar(x, [layer["per_inference"]["spikes"] for layer in report["layers"]], color="tab:blue")
    top.set_ylabel("spikes per inference")
    top.set_title(f"Activity per layer ({report['samples']} samples × {report['timesteps']} steps)")
    bottom.bar(x, [layer["spike_rate"] for layer in report["layers"]], color="tab:orange")
    bottom.set_ylabel("spikes per neuron per step")
    bottom.set_xticks(x, names, rotation=30, ha="right")
    fig.savefig(f, format="png", dpi=120)


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def _to_json(obj: dict) -> str:
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


def _total_rate(report: dict) -> float:
    steps = report["samples"] * report["timesteps"] * report["totals"]["neurons"]
    return report["totals"]["spikes"] / steps if steps else 0.0


def _energy_scale(joules: float) -> tuple[float, str]:
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")):
        if joules >= scale:
            return scale, unit
    return 1e-12, "pJ"


def _fmt_j(joules: float) -> str:
    scale, unit = _energy_scale(abs(joules))
    return f"{joules / scale:.3g} {unit}"


def _fmt_n(n: float) -> str:
    return f"{n:,.0f}" if float(n).is_integer() or abs(n) >= 100 else f"{n:.3g}"


def _fmt_acc(value) -> str:
    return "n/a" if value is None else f"{value:.2%}" if isinstance(value, float) else str(value)


def _unit(key: str) -> str:
    return {"energy_pj": " pJ", "time_ns": " ns", "baseline_45nm": " pJ"}.get(key.split(".")[0], "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
