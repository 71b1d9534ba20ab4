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
    break_even.{firing_rate, current_firing_rate, fixed_energy_j, spike_energy_j, ann_energy_j, note},
    cycle (when given: hardware_sim.cost.cycle.CycleReport.to_dict(): latency, throughput, per step,
           per core), neurobench (when given: hardware_sim.cost.neurobench.neurobench_metrics),
    raster (when given: one sample's spikes as [step, global neuron index] pairs, and
            the layer boundaries),
    notes[], extras

Files: report.json, report.md, report.html (one self-contained page, plots embedded as
base64), energy_by_layer.png, activity.png, and, when the report has them,
core_load.png (per-core work per step, a heat map) and spike_raster.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable

import numpy as np

from hardware_sim.chips import EVENTS, ChipProfile
from hardware_sim.cost.energy import BaselineEnergy, EnergyReport
from hardware_sim.cost.mapping import Mapping
from hardware_sim.files import atomic_path

if TYPE_CHECKING:
    from hardware_sim.results import SimulationResult

REPORT_FORMAT = "dalif-energy-report/1"
REPORT_FILES = ("report.json", "report.md", "energy_by_layer.png", "activity.png")
"""The files every report has; ``report.html``, ``core_load.png`` and ``spike_raster.png``
come with them when the report holds what they show."""
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
    report["break_even"] = break_even_rate(totals, baseline, _total_rate(report))
    if cycle is not None:
        report["cycle"] = cycle
    if neurobench is not None:
        report["neurobench"] = neurobench
    if raster is not None:
        report["raster"] = _raster(raster, [layer["name"] for layer in layers])
    return json.loads(_to_json(report))


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
            "timesteps": int(next(iter(spikes.values())).shape[0]) if spikes else 0}  # plain Python types only, and proof that it serialises


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
    if "cycle" in report:
        paths["core_load.png"] = out / "core_load.png"
        _atomic_write(paths["core_load.png"], lambda f: _plot_core_load(report, f))
    if "raster" in report:
        paths["spike_raster.png"] = out / "spike_raster.png"
        _atomic_write(paths["spike_raster.png"], lambda f: _plot_raster(report, f))
    paths["report.html"] = out / "report.html"
    html = render_html(report, {k: v for k, v in paths.items() if k.endswith(".png")})
    _atomic_write(paths["report.html"], lambda f: f.write(html.encode()))
    return paths


def render_html(report: dict, pngs: dict[str, Path]) -> str:
    """One self-contained page: the markdown report as preformatted text and every plot
    embedded as a base64 PNG."""
    import base64
    import html

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>"
             f"{html.escape(report['model'].get('name', 'network'))} on "
             f"{html.escape(report['chip']['name'])}</title></head><body>"]
    for name, path in pngs.items():
        data = base64.b64encode(Path(path).read_bytes()).decode()
        parts.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(name)}</figcaption></figure>")
    parts.append(f"<pre>{html.escape(render_markdown(report))}</pre></body></html>")
    return "\n".join(parts)


def _plot_core_load(report: dict, f: IO[bytes]) -> None:
    from matplotlib.figure import Figure

    work = np.asarray(report["cycle"]["work_ns_per_step_core"], dtype=float)  # (T, cores)
    fig = Figure(figsize=(max(6.0, 0.35 * work.shape[1] + 3), 3.5), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(work, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="busy time (ns)")
    cores = report["cycle"]["per_core"]
    step = max(1, len(cores) // 16)  # at most ~16 labelled cores
    ax.set_xticks(range(0, len(cores), step),
                  [f"{c['core']}\n{c['population']}" for c in cores[::step]], fontsize=8)
    ax.set_yticks(range(work.shape[0]))
    ax.set_xlabel("core (population)")
    ax.set_ylabel("timestep")
    ax.set_title(f"Per-core busy time per step on {report['chip']['name']} (mean per inference)")
    fig.savefig(f, format="png", dpi=120)


def _plot_raster(report: dict, f: IO[bytes]) -> None:
    from matplotlib.figure import Figure

    raster = report["raster"]
    events = np.asarray(raster["events"], dtype=float).reshape(-1, 2)
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(events[:, 0], events[:, 1], s=2, marker="|", color="black")
    for name, start in raster["layer_start"].items():
        ax.axhline(start - 0.5, color="tab:red", lw=0.5)
        ax.text(raster["timesteps"] - 0.5, start, name, fontsize="small", va="bottom", ha="right")
    ax.set_xlim(-0.5, raster["timesteps"] - 0.5)
    ax.set_xticks(range(0, raster["timesteps"], max(1, raster["timesteps"] // 16)))
    ax.set_ylim(-0.5, raster["neurons"] - 0.5)
    ax.set_xlabel("timestep")
    ax.set_ylabel("neuron (layers stacked)")
    ax.set_title("Spike raster of one sample")
    fig.savefig(f, format="png", dpi=120)


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
    lines += _markdown_extra(report)
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in report["notes"]]
    lines += ["", "Plots: `energy_by_layer.png` (energy per layer by event), "
              "`activity.png` (spikes per layer)"
              + (", `core_load.png` (per-core work per step)" if "cycle" in report else "")
              + (", `spike_raster.png` (one sample)" if "raster" in report else "")
              + "; all of them in `report.html`.", ""]
    return "\n".join(lines)


def _markdown_extra(report: dict) -> list[str]:
    """Break-even, mapping use, cycle model and NeuroBench sections (those the report has)."""
    lines = ["", "## Break-even firing rate vs the 45 nm ANN", ""]
    be = report.get("break_even")
    if be:
        rate = be["firing_rate"]
        lines.append(f"- mean firing rate now {be['current_firing_rate']:.4f} spikes per neuron "
                     f"per step; break-even with {be['ann_label']} "
                     f"({_fmt_j(be['ann_energy_j'])}): "
                     f"{'none (the fixed part alone is above it)' if rate is None else f'{rate:.4f}'}")
        only = be.get("firing_rate_spike_driven_only")
        if only is not None:
            lines.append(f"- the spike-driven part alone equals the ANN at a rate of {only:.4f}")
        lines.append(f"- fixed part {_fmt_j(be['fixed_energy_j'])}, spike-driven part "
                     f"{_fmt_j(be['spike_energy_j'])} per inference; {be['note']}")
    mapping = report["mapping"]
    if mapping.get("core_usage"):
        lines += ["", "## Mapping", "",
                  f"{mapping['cores']} cores on {mapping['tiles']} tiles, {mapping['chips']} "
                  f"chip(s) of {mapping.get('cores_per_chip', '?')} cores.", "",
                  "| core | layer | neurons | synaptic memory (bits) | axons in | axons out "
                  "| tile (x, y) |", "|---:|---|---:|---:|---:|---:|---|"]
        for u in mapping["core_usage"]:
            lines.append(f"| {u['core']} | {u['population']} | {u['neurons']} | "
                         f"{u['synapse_bits']} | {u['axons_in']} | {u['axons_out']} | "
                         f"{tuple(u['position'])} |")
        lines += ["", "| limit | capacity per core | mean use | max use |", "|---|---:|---:|---:|"]
        for key, use in mapping.get("utilisation", {}).items():
            if use:
                lines.append(f"| {key} | {use['capacity_per_core']:g} | {use['mean']:.1%} | "
                             f"{use['max']:.1%} |")
        lines += [f"- {n}" for n in mapping.get("notes", [])]
    cycle = report.get("cycle")
    if cycle:
        lines += ["", "## Latency (cycle model)", "",
                  f"- latency per inference: **{cycle['latency_s'] * 1e6:.2f} µs**, throughput "
                  f"{cycle['throughput_inferences_per_s']:.4g} inferences/s",
                  f"- energy per inference (cycle model, active updates from input or spikes): "
                  f"{_fmt_j(cycle['energy_j_per_inference'])} (static "
                  f"{_fmt_j(cycle['static_energy_j_per_inference'])})", "",
                  "| step | time (ns) | busiest core | its work (ns) | network (ns) | barrier (ns) |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for row in cycle["per_step"]:
            lines.append(f"| {row['step']} | {row['time_ns']:.1f} | {row['busiest_core']} | "
                         f"{row['busiest_core_ns']:.1f} | {row['network_ns']:.1f} | "
                         f"{row['barrier_ns']:.1f} |")
        lines += ["", "| core | layer | work (ns / inference) | synaptic ops | spikes "
                  "| messages out | messages in |", "|---:|---|---:|---:|---:|---:|---:|"]
        for row in cycle["per_core"]:
            lines.append(f"| {row['core']} | {row['population']} | "
                         f"{row['work_ns_per_inference']:.1f} | "
                         f"{_fmt_n(row['synaptic_ops'] + row['graded_input_ops'])} | "
                         f"{_fmt_n(row['spikes'])} | {_fmt_n(row['messages_out'])} | "
                         f"{_fmt_n(row['messages_in'])} |")
        lines += [f"- {n}" for n in cycle.get("notes", [])]
    nb = report.get("neurobench")
    if nb:
        ops = nb["synaptic_operations"]
        lines += ["", "## NeuroBench metrics", "",
                  "| metric | value |", "|---|---:|",
                  f"| footprint (bytes) | {nb['footprint_bytes']} |",
                  f"| parameter count | {nb['parameter_count']} |",
                  f"| connection sparsity | {nb['connection_sparsity']:.4f} |",
                  f"| activation sparsity | {nb['activation_sparsity']:.4f} |",
                  f"| synaptic ops: effective MACs | {_fmt_n(ops['Effective_MACs'])} |",
                  f"| synaptic ops: effective ACs | {_fmt_n(ops['Effective_ACs'])} |",
                  f"| synaptic ops: dense | {_fmt_n(ops['Dense'])} |",
                  "", f"Definitions: {nb['definitions']}."]
    return lines


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
