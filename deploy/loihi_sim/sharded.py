"""The Ray driver of ``loihi-sim``: a data set's samples as explicit ranges
(``hardware_sim.shards.shard_ranges``), one Ray task per range, each running
``hardware_sim.engine.simulate`` on its samples and returning its ``SimulationResult``
(integer counters, per-step arrays, outputs, predictions, the spikes it was asked to
record); the driver merges them in sample order (``hardware_sim.shards.merge_results``).
Energy and latency are priced by the caller after the merge.

Ray is optional (``pip install 'dalif-toolchain[ray]'``). Without an address a local
cluster of ``workers`` CPUs is started and shut down again; an address (``auto``,
``ray://host:10001``, or ``host:6379``) joins an existing cluster, whose nodes need this
package installed. A cluster already initialised in this process is used as it is.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import numpy as np

from hardware_sim.ir.graph import QGraph
from hardware_sim.results import SimulationResult
from hardware_sim.shards import merge_results, shard_ranges, shard_recording


class RayUnavailable(RuntimeError):
    """Ray is not installed here; the message says how to install it."""


def _ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable("sharding over workers needs Ray: pip install "
                             "'dalif-toolchain[ray]' (or pip install ray)") from None
    return ray


def _simulate_range(graph: QGraph, inputs: np.ndarray, start: int, stop: int,
                    options: dict[str, Any]) -> SimulationResult:
    """One shard: the engine on samples [start, stop) (runs in a Ray worker)."""
    from hardware_sim.engine import simulate

    return simulate(graph, inputs[start:stop], **options)


def run_sharded(graph: QGraph, inputs: np.ndarray, *, workers: int, address: str | None = None,
                record_spikes: bool | int | Mapping[str, int | None] = False,
                on_progress: Callable[[int], None] | None = None,
                **simulate_options: Any) -> SimulationResult:
    """``engine.simulate(graph, inputs, ...)`` over ``workers`` Ray tasks, merged: equal to the
    run in one process, array for array. ``simulate_options``: device, batch_size,
    max_memory_bytes, timing ... (per worker)."""
    from hardware_sim.engine import _recording

    ray = _ray()
    started = False
    if not ray.is_initialized():
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **quiet)
        started = not address
    try:
        ranges = shard_ranges(len(inputs), workers)
        recording = _recording(graph, record_spikes)
        task = ray.remote(num_cpus=1)(_simulate_range)
        graph_ref, inputs_ref = ray.put(graph), ray.put(np.asarray(inputs))
        pending = {task.remote(graph_ref, inputs_ref, start, stop,
                               {**simulate_options,
                                "record_spikes": shard_recording(recording, start, stop)}): i
                   for i, (start, stop) in enumerate(ranges)}
        parts: list[SimulationResult | None] = [None] * len(ranges)
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            i = pending[done[0]]
            parts[i] = ray.get(done[0])
            if on_progress is not None:
                on_progress(ranges[i][1] - ranges[i][0])
    finally:
        if started:
            ray.shutdown()
    if not parts:
        from hardware_sim.engine import simulate

        return simulate(graph, inputs, record_spikes=record_spikes, **simulate_options)
    return merge_results([p for p in parts if p is not None])


__all__ = ["RayUnavailable", "run_sharded"]
