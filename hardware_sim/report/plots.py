"""The energy report's figures, each drawn from the report dict (``report.build``) alone.

Every function returns a matplotlib ``Figure`` built without pyplot (no global backend or
figure state; matplotlib is imported inside, so importing the report imports none of it);
``report.write`` saves each as PNG, SVG and PDF. Axes carry units and readers' names
(``report.format``), never the model's code names.

- ``plot_energy_by_layer``: energy per inference of every layer, stacked by event;
- ``plot_activity``: spike rate and spikes per inference of every layer;
- ``plot_core_load``: each core's busy time per timestep (the report's ``cycle``);
- ``plot_raster``: one sample's spikes, one cell per neuron and step (the report's ``raster``);
- ``plot_sensitivity``: energy per inference against the mean firing rate, with the 45 nm
  baselines and the break-even rate (the report's ``break_even``).

``FIGURES`` lists them with the condition under which a report has each and its caption.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np

from hardware_sim.chips import EVENTS
from hardware_sim.report.format import CORE_ROWS, EVENT_LABELS, energy_scale, time_scale

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_WIDTH = 7.5  # inches: the page's column at 100 dpi
_RASTER_ROWS = 64


def _figure(height: float, width: float = _WIDTH) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_energy_by_layer(report: dict) -> Figure:
    """Energy per inference of every layer, stacked by event (events that cost nothing left out)."""
    layers = report["layers"]
    names = [layer["name"] for layer in layers]
    by_op = {e: np.array([layer["per_inference"]["energy_j_by_op"][e] for layer in layers])
             for e in EVENTS}
    scale, unit = energy_scale(max((sum(v[i] for v in by_op.values()) for i in range(len(names))),
                                   default=0.0))
    fig = _figure(4.2)
    ax = fig.add_subplot()
    bottom = np.zeros(len(names))
    x = np.arange(len(names))
    colors = dict(zip(EVENTS, ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#d62728",
                               "#9467bd", "#c5b0d5")))
    for event, values in by_op.items():
        if values.any():
            ax.bar(x, values / scale, bottom=bottom, label=EVENT_LABELS[event], color=colors[event])
            bottom += values / scale
    ax.set_xticks(x, names, rotation=30 if len(names) > 6 else 0, ha="right" if len(names) > 6
                  else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.set_title(f"Energy per layer and event on {report['chip']['name']}")
    if bottom.any():
        ax.legend(fontsize="small", title="event", title_fontsize="small", frameon=False,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_activity(report: dict) -> Figure:
    """Spike rate (spikes per neuron per step) and spikes per inference of every layer."""
    layers = report["layers"]
    names = [layer["name"] for layer in layers]
    x = np.arange(len(names))
    fig = _figure(4.6)
    rate_ax, count_ax = fig.subplots(1, 2)
    rate_ax.bar(x, [layer["spike_rate"] for layer in layers], color="#1f77b4")
    rate_ax.set_ylabel("spikes per neuron per timestep")
    rate_ax.set_title("Firing rate")
    count_ax.bar(x, [layer["per_inference"]["spikes"] for layer in layers], color="#ff7f0e")
    count_ax.set_ylabel("spikes per inference")
    count_ax.set_title("Spikes")
    for ax in (rate_ax, count_ax):
        ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0,
                      ha="right" if len(names) > 4 else "center")
        ax.set_xlabel("layer")
    fig.suptitle(f"Activity per layer (mean of {report['samples']} samples, "
                 f"T = {report['timesteps']})")
    return fig


def plot_core_load(report: dict) -> Figure:
    """Each core's busy time in every timestep: a heat map, cores by row, time by column. Past
    ``CORE_ROWS`` cores a row is a layer instead, showing its busiest core in each step (the
    one the step waits for), so that a map of thousands of cores still reads (and fits)."""
    cycle = report["cycle"]
    work = np.asarray(cycle["work_ns_per_step_core"], dtype=float).T  # (cores, T)
    scale, unit = time_scale(float(work.max(initial=0.0)) * 1e-9)
    cores = cycle["per_core"]
    if len(cores) <= CORE_ROWS:
        labels = [f"core {c['core']} ({c['population']})" for c in cores]
        what = "core"
    else:
        layers = list(dict.fromkeys(c["population"] for c in cores))
        row_of = {name: i for i, name in enumerate(layers)}
        rows = np.array([row_of[c["population"]] for c in cores])
        busiest = np.zeros((len(layers), work.shape[1]))
        np.maximum.at(busiest, rows, work)
        counts = np.bincount(rows, minlength=len(layers))
        labels = [f"{name} ({n:,} cores)" for name, n in zip(layers, counts)]
        work, what = busiest, "layer (its busiest core)"
    fig = _figure(max(2.6, 0.28 * len(labels) + 1.6))
    ax = fig.add_subplot()
    image = ax.imshow(work * 1e-9 / scale, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label=f"busy time per step ({unit})")
    steps = work.shape[1]
    ax.set_xticks(range(0, steps, max(1, steps // 16)))
    ax.set_xlabel("timestep")
    every = max(1, len(labels) // 24)  # at most ~24 labelled rows
    ax.set_yticks(range(0, len(labels), every), labels[::every], fontsize="small")
    ax.set_ylabel(what)
    ax.set_title(f"Per-core load over time on {report['chip']['name']} (mean per inference)")
    return fig


def plot_raster(report: dict) -> Figure:
    """One sample's spikes: one cell per (step, neuron), so that a run of a few timesteps reads
    as well as a long one. A layer shows at most ``_RASTER_ROWS`` of its neurons, evenly spaced
    (a cell must stay visible), with a gap between layers and its name on the axis."""
    raster = report["raster"]
    steps, neurons = max(raster["timesteps"], 1), raster["neurons"]
    fired = np.zeros((max(neurons, 1), steps), dtype=bool)
    events = np.asarray(raster["events"], dtype=np.int64).reshape(-1, 2)
    fired[events[:, 1], events[:, 0]] = True
    starts = sorted(raster["layer_start"].items(), key=lambda item: item[1])
    ends = [start for _, start in starts[1:]] + [neurons]
    blocks, ticks, labels, shown_all = [], [], [], True
    for (name, start), end in zip(starts, ends):
        rows = np.unique(np.linspace(start, end - 1, min(end - start, _RASTER_ROWS)).astype(int))
        shown_all &= len(rows) == end - start
        top = sum(len(b) for b in blocks)
        ticks.append(top + (len(rows) - 1) / 2)
        labels.append(f"{name}\n{len(rows)} of {end - start}" if len(rows) < end - start
                      else f"{name}\n{end - start} neurons")
        blocks.append(np.where(fired[rows], 1.0, 0.0))
        blocks.append(np.full((2, steps), np.nan))  # gap
    grid = np.concatenate(blocks[:-1]) if blocks else np.zeros((1, steps))
    fig = _figure(min(7.0, max(3.0, 0.02 * len(grid) + 1.5)))
    ax = fig.add_subplot()
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#eef2f6", "#111111"]).with_extremes(bad="white")
    ax.imshow(grid, aspect="auto", cmap=cmap, interpolation="nearest", vmin=0, vmax=1,
              extent=(-0.5, steps - 0.5, len(grid) - 0.5, -0.5))
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set_xticks(range(0, steps, max(1, steps // 16)))
    ax.set_xlabel("timestep")
    ax.set_title(f"Spikes of one sample ({len(events):,} spikes; black: spike"
                 + ("" if shown_all else f"; at most {_RASTER_ROWS} neurons per layer shown")
                 + ")", fontsize="medium")
    return fig


def plot_sensitivity(report: dict) -> Figure:
    """E(r) = E_fixed + E_spikes · r / r_now against the mean firing rate r (log energy axis),
    the 45 nm ANN baselines as horizontal lines, this run's rate and the break-even rate
    (where E(r) meets the fp32 ANN) as vertical lines."""
    be = report["break_even"]
    now, fixed, spikes = be["current_firing_rate"], be["fixed_energy_j"], be["spike_energy_j"]
    top = min(1.0, max(2 * now, 1.5 * (be["firing_rate"] or 0.0), 0.05))
    rates = np.linspace(0.0, top, 200)
    energy = fixed + spikes * rates / now if now > 0 else np.full_like(rates, fixed)
    rows = report["baseline_ann"]["rows"]  # fp32, int8
    values = [*energy[energy > 0], *(r["energy_j_per_inference"] for r in rows)]
    scale, unit = energy_scale(float(max(values, default=1.0)))
    fig = _figure(4.2)
    ax = fig.add_subplot()
    ax.plot(rates, energy / scale, color="#1f77b4", lw=2,
            label=f"{report['chip']['name']}: fixed + spike-driven")
    for row, style in zip(rows, ("--", ":")):
        ax.axhline(row["energy_j_per_inference"] / scale, color="#555555", ls=style,
                   label=f"{row['label']}, arithmetic only")
    ax.axvline(now, color="#2ca02c", lw=1.2, label=f"this run: r = {now:.3g}")
    if be["firing_rate"] is not None:
        ax.axvline(be["firing_rate"], color="#d62728", lw=1.2, ls="-.",
                   label=f"break-even with {be['ann_label']}: r = {be['firing_rate']:.3g}")
        verdict = f"break-even at r = {be['firing_rate']:.3g}"
    else:
        verdict = "no break-even: the fixed part alone is above the fp32 ANN"
    if values and min(values) > 0:
        ax.set_yscale("log")
    ax.set_xlim(0.0, top)
    ax.set_xlabel("mean firing rate r (spikes per neuron per timestep)")
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.set_title(f"Energy against firing rate\n{verdict}", fontsize="medium")
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


class FigureSpec(NamedTuple):
    """One figure of the report: its file stem, whether the report has it, how to draw it
    and what it shows."""

    stem: str
    present: Callable[[dict], bool]
    draw: Callable[[dict], Figure]
    caption: str


FIGURES = (
    FigureSpec("energy_by_layer", lambda r: True, plot_energy_by_layer,
               "Energy per inference of every layer, by event."),
    FigureSpec("energy_sensitivity", lambda r: "break_even" in r, plot_sensitivity,
               "Energy per inference against the mean firing rate (spike-driven energy scaled "
               "linearly, the rest fixed), with the 45 nm ANN baselines and the break-even rate."),
    FigureSpec("core_load", lambda r: "cycle" in r, plot_core_load,
               "Busy time of every core in every timestep (cycle model, mean per inference)."),
    FigureSpec("activity", lambda r: True, plot_activity,
               "Firing rate and spikes per inference of every layer."),
    FigureSpec("spike_raster", lambda r: "raster" in r, plot_raster,
               "Spikes of the first sample, layers stacked."),
)
FORMATS = ("png", "svg", "pdf")
