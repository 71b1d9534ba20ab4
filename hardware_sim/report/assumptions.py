"""What a report's numbers assume, said in the report and on the console.

- ``timing_section``: which timing the latency is for (the engine's zero-delay run: T steps
  per inference) and, beside it, an estimate for the pipelined hardware timing (DESIGN §3,
  "Alignment": every hop delays one step, so one inference takes T + D steps);
- ``stated_assumptions``: what the baselines count, which timing, which constants are
  estimates, static power, and why NeuroBench's effective ACs differ from the chip's
  synaptic ops;
- ``console_lines``: the headline numbers with those caveats, for the command line.
"""

from __future__ import annotations

import numpy as np

from hardware_sim.report.format import fmt_j, fmt_rate, fmt_s

ZERO_DELAY = "zero-delay"


def timing_section(cycle: dict | None, depth: dict[str, int] | None, timesteps: int) -> dict:
    """The report's ``timing``: the simulated timing, its latency, and the pipelined estimate.

    Pipelined (aligned) hardware timing: population P computes the reference's step τ at
    hardware step τ + L(P) (L: its depth, ``hardware_sim.ir.pipeline``), so one inference
    spans T + D steps (D = max L). Estimate: each core does at hardware step h the work the
    cycle model gives it at step h − L; every step costs the busiest core's work, the longest
    message route of the run and the barrier. Latency: the T + D steps of one inference.
    Throughput: samples back to back, one every T steps; a core at step h serves step
    (h − L) mod T of some sample, so one period of T steps yields one inference. Neuron
    updates of a layer waiting for its first input (pipeline fill) are not counted.
    """
    section = {
        "simulated": ZERO_DELAY,
        "timesteps": timesteps,
        "description": "the engine's reference timing: every layer computes step t from its "
                       "sources' step t, so one inference takes T steps (the cycle model's sum "
                       "of their step times)",
        "latency_s": cycle["latency_s"] if cycle else None,
        "throughput_inferences_per_s": cycle["throughput_inferences_per_s"] if cycle else None,
        "depth": None,
        "pipelined_steps": None,
        "pipelined_latency_s": None,
        "pipelined_throughput_inferences_per_s": None,
        "pipelined_note": "",
    }
    if depth is None:
        section["pipelined_note"] = "no pipelined estimate: the network's depth is unknown"
        return section
    max_depth = max(depth.values())
    section.update(depth=max_depth, pipelined_steps=timesteps + max_depth)
    if not cycle:
        section["pipelined_note"] = "no pipelined estimate: the chip profile has no cycle model"
        return section
    work = np.asarray(cycle["work_ns_per_step_core"], dtype=float).reshape(timesteps, -1)
    lag = np.array([depth[c["population"]] for c in cycle["per_core"]], dtype=int)
    overhead = max((r["network_ns"] for r in cycle["per_step"]), default=0.0) + \
        max((r["barrier_ns"] for r in cycle["per_step"]), default=0.0)
    cores = np.arange(work.shape[1])

    def step_ns(h: int, periodic: bool) -> float:
        tau = h - lag
        if periodic:
            return float(work[tau % timesteps, cores].max()) + overhead
        inside = (tau >= 0) & (tau < timesteps)
        return float(work[tau[inside], cores[inside]].max(initial=0.0)) + overhead

    latency_ns = sum(step_ns(h, False) for h in range(timesteps + max_depth))
    period_ns = sum(step_ns(h, True) for h in range(timesteps))
    section.update(
        pipelined_latency_s=latency_ns * 1e-9,
        pipelined_throughput_inferences_per_s=1e9 / period_ns if period_ns > 0 else None,
        pipelined_note=(
            f"estimate: every hop delays one step on hardware (DESIGN §3), so one inference "
            f"takes T + D = {timesteps} + {max_depth} steps; each core's work of the cycle model "
            "is shifted by its layer's depth, every step pays the busiest core, the longest "
            "message route and the barrier; throughput with samples back to back, one every T "
            "steps; neuron updates during pipeline fill not counted"),
    )
    return section


def stated_assumptions(report: dict) -> list[dict]:
    """[{topic, text}]: what a reader must know to use the report's numbers."""
    chip, timing = report["chip"], report["timing"]
    synapse_pj = chip["cost_model"]["synaptic_op"]["energy_pj"]
    items = [{
        "topic": "baselines",
        "text": (f"The 45 nm ANN and SNN baselines count arithmetic only (Horowitz, ISSCC 2014: "
                 f"{chip['constants']['baseline_45nm.fp32_mac']:g} pJ per fp32 MAC, "
                 f"{chip['constants']['baseline_45nm.int8_mac']:g} pJ per int8 MAC), no memory "
                 f"access; the chip's {synapse_pj:.4g} pJ per synaptic op includes reading the "
                 "weight from synaptic memory. The baselines are therefore lower bounds, and "
                 "the comparison favours them."),
    }, {
        "topic": "timing",
        "text": (f"Latency and throughput are for the {timing['simulated']} timing, "
                 f"{timing['description']}. "
                 + (f"The pipelined latency beside it is an {timing['pipelined_note']}."
                    if timing["pipelined_latency_s"] is not None
                    else timing["pipelined_note"].capitalize() + ".")),
    }]
    estimates = report["estimates"]
    if estimates["constants"]:
        sections: dict[str, int] = {}
        for key in estimates["constants"]:
            section = key.split(".")[0]
            sections[section] = sections.get(section, 0) + 1
        items.append({
            "topic": "estimates",
            "text": (f"ESTIMATE: {len(estimates['constants'])} of the chip profile's constants are "
                     f"not published figures for {chip['name']} ("
                     + ", ".join(f"{n} of {section}" for section, n in sections.items())
                     + "; each is marked in the table of constants): its energy and latency are "
                       "estimates, indicative only."),
        })
    static = report["energy"]["static_j_per_inference"]
    items.append({
        "topic": "static power",
        "text": ("Energy per inference is dynamic + static (static power × zero-delay latency)."
                 if static else "Energy per inference is dynamic only: the chip profile gives "
                                "no static power."),
    })
    nb = report.get("neurobench")
    if nb:
        ops = nb["synaptic_operations"]
        items.append({
            "topic": "NeuroBench effective ops",
            "text": (f"NeuroBench's effective ACs ({ops['Effective_ACs']:,.0f}) and MACs "
                     f"({ops['Effective_MACs']:,.0f}) follow its definition: a layer's operations "
                     "are ACs only when its input tensor is binary, so a layer fed by the graded "
                     "input or by sum-pooled spikes (counts 0..k²) counts MACs. The chip never "
                     "multiplies: it delivers each 1-bit spike to every synapse of its (pooled) "
                     f"fan-out, the {report['totals']['per_inference']['synaptic_ops']:,.0f} "
                     "synaptic ops per inference of the energy table. Both counts are right by "
                     "their own definitions."),
        })
    return items


def _mapping_line(mapping: dict) -> str:
    """Chips, cores, compartments and what bounds the layers: the size of the answer."""
    limits: dict[str, int] = {}
    for pop in mapping["populations"]:
        key = (pop.get("limited_by") or "nothing").replace("_", " ")
        limits[key] = limits.get(key, 0) + 1
    bound = ", ".join(f"{key} {n}" for key, n in sorted(limits.items(), key=lambda kv: -kv[1]))
    compartments = mapping.get("compartments")
    return (f"mapped on {mapping['chips']:,} chip(s), {mapping['cores']:,} cores"
            + (f", {compartments:,} compartments" if compartments is not None else "")
            + f"; layers limited by {bound} (per layer in report.json mapping.populations)")


def console_lines(report: dict, out_dir: str) -> list[str]:
    """The headline numbers for the console, each with the caveat it needs."""
    chip, energy, timing = report["chip"]["name"], report["energy"], report["timing"]
    mark = " (ESTIMATE: constants not published for this chip)" if report["estimates"]["any"] \
        else ""
    lines = [
        f"energy on {chip}{mark}: {fmt_j(energy['total_j_per_inference'])} per inference "
        + (f"({fmt_j(energy['dynamic_j_per_inference'])} dynamic + "
           f"{fmt_j(energy['static_j_per_inference'])} static) " if energy["static_j_per_inference"]
           else "(dynamic only) ")
        + f"vs {fmt_j(report['baseline_ann']['energy_j_per_inference'])} for the 45 nm ANN "
          f"(fp32, arithmetic only)",
        _mapping_line(report["mapping"]),
    ]
    if timing["latency_s"] is not None:
        lines.append(
            f"latency {fmt_s(timing['latency_s'])} per inference, "
            f"{fmt_rate(timing['throughput_inferences_per_s'])} ({timing['simulated']} timing, "
            f"T = {timing['timesteps']} steps{mark and ', ESTIMATE'})")
    if timing["pipelined_latency_s"] is not None:
        lines.append(
            f"pipelined on hardware (T + D = {timing['pipelined_steps']} steps, estimate): "
            f"{fmt_s(timing['pipelined_latency_s'])} per inference, "
            f"{fmt_rate(timing['pipelined_throughput_inferences_per_s'])} back to back")
    lines += [f"note: {a['text']}" for a in report["assumptions"] if a["topic"] == "baselines"]
    lines.append(f"report in {out_dir} (report.html; assumptions and sources stated there)")
    return lines
