"""The energy report as Markdown: ``render_markdown`` (report.md, and the text of report.html).

It reads only the report dict (``report.build``), so a report.json read back from disk
renders the same text again.
"""

from __future__ import annotations

from hardware_sim.chips import EVENTS
from hardware_sim.report import format as fmt
from hardware_sim.report.build import total_firing_rate
from hardware_sim.report.format import EVENT_LABELS, fmt_acc, fmt_j, fmt_n, fmt_rate, fmt_s
from hardware_sim.report.plots import FIGURES


def render_markdown(report: dict) -> str:
    """The human report: summary, assumptions, comparison, per-layer tables, cost model,
    sources, notes, provenance and BibTeX."""
    chip, totals, layers = report["chip"], report["totals"], report["layers"]
    acc, energy, timing = report["accuracy"], report["energy"], report["timing"]
    estimate = " (ESTIMATE)" if report["estimates"]["any"] else ""
    lines = [
        f"# Energy report: {report['model']['name']} on {chip['name']}{estimate}",
        "",
        f"- chip profile: **{chip['name']}**{estimate}: {chip['description']}",
        f"- run: {report['samples']} samples × {report['timesteps']} timesteps",
        f"- mapping: {report['mapping']['cores']} cores, {report['mapping']['tiles']} tiles, "
        f"{report['mapping']['chips']} chip(s) ({chip['neurons_per_core']} neurons per core)",
        f"- accuracy: float {fmt_acc(acc.get('float'))}, "
        f"quantized {fmt_acc(acc.get('quantized'))}",
        f"- energy per inference: **{fmt_j(energy['total_j_per_inference'])}** "
        + (f"({fmt_j(energy['dynamic_j_per_inference'])} dynamic + "
           f"{fmt_j(energy['static_j_per_inference'])} static)"
           if energy["static_j_per_inference"] else "(dynamic only)"),
        f"- latency per inference: **{fmt_s(timing['latency_s'])}**, "
        f"{fmt_rate(timing['throughput_inferences_per_s'])} ({timing['simulated']} timing)"
        + (f"; pipelined on hardware (T + D = {timing['pipelined_steps']} steps, estimate): "
           f"{fmt_s(timing['pipelined_latency_s'])}"
           if timing["pipelined_latency_s"] is not None else ""),
        f"- overflow events: {totals['u_wraps']} u wraps, {totals['v_clips']} v clips, "
        f"{totals['input_clipped']} inputs clipped",
        "",
        "## Assumptions",
        "",
        *[f"- {a['topic'][:1].upper()}{a['topic'][1:]}: {a['text']}" for a in report["assumptions"]],
        "",
        "## Chip vs baselines (per inference)",
        "",
        "| | energy / inference | relative to chip |",
        "|---|---:|---:|",
    ]
    for row in report["comparison"]:
        rel = row["relative_to_chip"]
        lines.append(f"| {row['label']} | {fmt_j(row['energy_j_per_inference'])} | "
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
    total_row = {**totals, "name": "**total**", "spike_rate": total_firing_rate(report)}
    for row in [*layers, total_row]:
        p = row["per_inference"]
        share = p["energy_j"] / total_j if total_j > 0 else 0.0
        lines.append(
            f"| {row['name']} | {row['neurons']} | {row['cores']} | {fmt_n(p['spikes'])} | "
            f"{row['spike_rate']:.4f} | {fmt_n(p['synaptic_ops'])} | {fmt_n(p['input_macs'])} | "
            f"{fmt_n(p['neuron_updates'])} ({fmt_n(p['neuron_updates_active'])}) | "
            f"{fmt_n(p['messages'])} | "
            f"{fmt_n(p['hops_east_west'])} / {fmt_n(p['hops_north_south'])} | "
            f"{fmt_j(p['energy_j'])} | {share:.1%} | {row['u_wraps']} | {row['v_clips']} |"
        )
    lines += [
        "",
        "Counts are per inference (run totals / samples); u wraps and v clips are run totals.",
        "",
        "## Energy by event (per inference)",
        "",
        "| layer | " + " | ".join(EVENT_LABELS[e] for e in EVENTS) + " |",
        "|---|" + "---:|" * len(EVENTS),
    ]
    for row in [*layers, {"name": "**total**", "per_inference": totals["per_inference"]}]:
        by_op = row["per_inference"]["energy_j_by_op"]
        lines.append(f"| {row['name']} | " + " | ".join(fmt_j(by_op[e]) for e in EVENTS) + " |")
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
            f"| {EVENT_LABELS[event]} | {entry['energy_pj']:.4g} pJ | {parts} | "
            f"{_cell(entry['note'])} |"
        )
    lines += ["", "## Constants and their sources", ""]
    for key, source in chip["sources"].items():
        record = chip["source_records"][key]
        cite = f" [{record['cite']}, {record['where']}]" if record["cite"] else ""
        mark = " **ESTIMATE**" if record["estimate"] else ""
        lines.append(f"- `{key}` = {chip['constants'][key]:g}{_unit(key)}{mark}: {source}{cite}")
    lines += _markdown_extra(report)
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in report["notes"]]
    lines += ["", "Figures (each as PNG, SVG and PDF): "
              + ", ".join(f"`{spec.stem}`" for spec in FIGURES if spec.present(report))
              + "; all of them in `report.html`."]
    lines += _markdown_provenance(report)
    return "\n".join(lines) + "\n"


def _markdown_provenance(report: dict) -> list[str]:
    """The BibTeX block, then provenance (date, command, versions, input hashes) last: all
    that precedes "## Provenance" depends on the inputs only, not on when or how the report
    was made (a byte comparison of two runs' reports cuts there)."""
    lines = ["", "## How to cite", "",
             "The toolchain and the sources of the chip profile's constants:", "",
             "```bibtex", report["bibtex"].rstrip("\n"), "```", "", "## Provenance", ""]
    p = report.get("provenance")
    if not p:
        return lines + ["Built without provenance (not through `dalif energy`)."]
    versions = ", ".join(f"{k} {v or '(not installed)'}" for k, v in p["versions"].items())
    data = p["data"]
    return lines + [
        f"- created (UTC): {p['created']}",
        f"- command: `{p['command']}`",
        f"- toolchain: {p['toolchain']['name']} {p['toolchain']['version']}; Python "
        f"{p['python']} on {p['platform']}",
        f"- dependencies: {versions}",
        f"- data: {data['dataset']}, {data['split']} split, {data['samples']} samples",
        f"- timing: {report['timing']['simulated']}",
        "",
        "| input | file | bytes | sha256 |",
        "|---|---|---:|---|",
        *[f"| {role} | {f['path']} | {f['bytes']} | `{f['sha256']}` |"
          for role, f in p["files"].items()],
    ]


def _markdown_extra(report: dict) -> list[str]:
    """Break-even, mapping use, cycle model and NeuroBench sections (those the report has)."""
    lines = ["", "## Break-even firing rate vs the 45 nm ANN", ""]
    be = report.get("break_even")
    if be:
        rate = be["firing_rate"]
        lines.append(f"- mean firing rate now {be['current_firing_rate']:.4f} spikes per neuron "
                     f"per step; break-even with {be['ann_label']} "
                     f"({fmt_j(be['ann_energy_j'])}): "
                     f"{'none (the fixed part alone is above it)' if rate is None else f'{rate:.4f}'}")

        only = be.get("firing_rate_spike_driven_only")
        if only is not None:
            lines.append(f"- the spike-driven part alone equals the ANN at a rate of {only:.4f}")
        lines.append(f"- fixed part {fmt_j(be['fixed_energy_j'])}, spike-driven part "
                     f"{fmt_j(be['spike_energy_j'])} per inference; {be['note']}")
    mapping, shown = report["mapping"], fmt.shown_cores(report)
    if mapping.get("core_usage"):
        lines += ["", "## Mapping", "",
                  f"{mapping['cores']} cores on {mapping['tiles']} tiles, {mapping['chips']} "
                  f"chip(s) of {mapping.get('cores_per_chip', '?')} cores.", "",
                  "| layer | neurons | cores | chips | limited by |", "|---|---:|---:|---:|---|"]
        for p in mapping["populations"]:
            lines.append(f"| {p['name']} | {p['neurons']} | {len(p['cores'])} | {len(p['chips'])} | "
                         f"{(p.get('limited_by') or '?').replace('_', ' ')} |")
        lines += ["", f"Cores: {fmt.cores_caption(report, shown)}.", "",
                  "| core | layer | neurons | synaptic memory (bits) | axons in | axons out "
                  "| tile (x, y) |", "|---:|---|---:|---:|---:|---:|---|"]
        for u in fmt.core_rows(mapping["core_usage"], shown):
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
                  f"- static energy per inference (static power × latency): "
                  f"{fmt_j(cycle['static_energy_j_per_inference'])}; the dynamic energy is "
                  "the one above", "",
                  "| step | time (ns) | busiest core | its work (ns) | network (ns) | barrier (ns) |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for row in cycle["per_step"]:
            lines.append(f"| {row['step']} | {row['time_ns']:.1f} | {row['busiest_core']} | "
                         f"{row['busiest_core_ns']:.1f} | {row['network_ns']:.1f} | "
                         f"{row['barrier_ns']:.1f} |")
        lines += ["", "| core | layer | work (ns / inference) | synaptic ops | spikes "
                  "| messages out | messages in |", "|---:|---|---:|---:|---:|---:|---:|"]
        for row in fmt.core_rows(cycle["per_core"], shown):
            lines.append(f"| {row['core']} | {row['population']} | "
                         f"{row['work_ns_per_inference']:.1f} | "
                         f"{fmt_n(row['synaptic_ops'] + row['graded_input_ops'])} | "
                         f"{fmt_n(row['spikes'])} | {fmt_n(row['messages_out'])} | "
                         f"{fmt_n(row['messages_in'])} |")
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
                  f"| synaptic ops: effective MACs | {fmt_n(ops['Effective_MACs'])} |",
                  f"| synaptic ops: effective ACs | {fmt_n(ops['Effective_ACs'])} |",
                  f"| synaptic ops: dense | {fmt_n(ops['Dense'])} |",
                  "", f"Definitions: {nb['definitions']}."]
    return lines


def _unit(key: str) -> str:
    return {"energy_pj": " pJ", "time_ns": " ns", "baseline_45nm": " pJ"}.get(key.split(".")[0], "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
