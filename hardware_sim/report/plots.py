"""The energy report's plots, each drawn from the report dict (``report.build``) into a
PNG file object. matplotlib is imported inside each function, through ``Figure`` (no
pyplot: no global backend or figure state), so importing the report imports no matplotlib.

- ``plot_energy_by_layer``: energy per inference of every layer, stacked by event;
- ``plot_activity``: spikes per inference and spike rate per layer;
- ``plot_core_load``: per-core work per step (a heat map; the report's ``cycle``);
- ``plot_raster``: one sample's spikes, layers stacked (the report's ``raster``).
"""

from __future__ import annotations

from typing import IO

import numpy as np

from hardware_sim.chips import EVENTS
from hardware_sim.report.markdown import energy_scale


def plot_energy_by_layer(report: dict, f: IO[bytes]) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    names = [layer["name"] for layer in report["layers"]]
    by_op = {
        e: np.array([layer["per_inference"]["energy_j_by_op"][e] for layer in report["layers"]])
        for e in EVENTS
    }
    scale, unit = energy_scale(max((sum(v[i] for v in by_op.values()) for i in range(len(names))),
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


def plot_activity(report: dict, f: IO[bytes]) -> None:
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


def plot_core_load(report: dict, f: IO[bytes]) -> None:
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


def plot_raster(report: dict, f: IO[bytes]) -> None:
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
