"""Shards of a data set (DESIGN §7, "Shards"): explicit sample-index ranges, and the merge of
the runs on them into the run on all.

A data set of N samples is cut into contiguous ranges [start, stop) that cover 0 … N − 1
once each: no padding, no duplicates, sizes differing by at most one. Each range runs on
its own (a worker, a machine) and returns a ``SimulationResult``; ``merge_results`` adds
the integer counters and the per-step arrays and concatenates the outputs, predictions and
recorded spikes in sample order, so the merged result equals, array for array, the run of
all samples at once. Energy and latency are priced after the merge, from the merged
counts. numpy only: no Ray here (the driver is ``deploy.loihi_sim.sharded``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Mapping

import numpy as np

from hardware_sim.results import PopulationCounts, SimulationResult

_COUNTERS = tuple(f.name for f in fields(PopulationCounts) if f.name not in ("name", "neurons"))
"""Every counter of a population: each adds over shards."""


def shard_ranges(samples: int, shards: int) -> list[tuple[int, int]]:
    """``samples`` split into at most ``shards`` contiguous ranges [start, stop), in order,
    none empty, sizes differing by at most one."""
    if samples < 0 or shards < 1:
        raise ValueError("shard_ranges needs samples ≥ 0 and shards ≥ 1")
    shards = min(shards, samples)
    if shards == 0:
        return []
    base, extra = divmod(samples, shards)
    bounds = np.cumsum([0] + [base + (i < extra) for i in range(shards)])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def shard_recording(recording: Mapping[str, int | None], start: int, stop: int
                    ) -> dict[str, int | None]:
    """What the shard [start, stop) records so that the merged recording is ``recording``
    (population → the first k samples, or None: all): the part of the first k it holds."""
    out: dict[str, int | None] = {}
    for name, k in recording.items():
        if k is None:
            out[name] = None
        else:
            out[name] = max(0, min(stop, k) - start)
    return out


def merge_results(parts: list[SimulationResult]) -> SimulationResult:
    """The run of the concatenated shards, from the runs of each (in sample order): counters
    and per-step arrays added, outputs, predictions and recorded spikes concatenated.
    ``ValueError`` if the parts are not runs of one network with the same T."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    layout = [(c.name, c.neurons) for c in first.counts]
    names = [name for name, _ in layout]
    for part in parts[1:]:
        if part.timesteps != first.timesteps or [(c.name, c.neurons) for c in part.counts] != layout:
            raise ValueError("the shards are not runs of one network with the same timesteps")
    counts = []
    for i, name in enumerate(names):
        total = PopulationCounts(name, first.counts[i].neurons)
        for key in _COUNTERS:
            setattr(total, key, sum(getattr(p.counts[i], key) for p in parts))
        counts.append(total)
    spikes = None
    if all(p.spikes is not None for p in parts):
        recorded = [n for n in names if all(n in p.spikes for p in parts)]
        spikes = {n: np.concatenate([p.spikes[n] for p in parts], axis=1) for n in recorded}
    return SimulationResult(
        output=np.concatenate([p.output for p in parts]),
        predictions=np.concatenate([p.predictions for p in parts]),
        counts=counts,
        samples=sum(p.samples for p in parts),
        timesteps=first.timesteps,
        input_clipped=sum(p.input_clipped for p in parts),
        spikes=spikes,
        spikes_per_step=_added(parts, "spikes_per_step"),
        synaptic_events_per_step=_added(parts, "synaptic_events_per_step"),
    )


def _added(parts: list[SimulationResult], attr: str) -> dict[str, np.ndarray]:
    keys = list(getattr(parts[0], attr))
    out = {}
    for key in keys:
        total = np.array(getattr(parts[0], attr)[key], dtype=np.int64, copy=True)
        for part in parts[1:]:
            total += np.asarray(getattr(part, attr)[key], dtype=np.int64)
        out[key] = total
    return out


__all__ = ["merge_results", "shard_ranges", "shard_recording"]
