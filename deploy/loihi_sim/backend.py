"""Backend ``loihi-sim``: hardware_sim's bit-exact integer engine (zero-delay timing unless
asked for another), in this process or sharded over Ray workers (``deploy.loihi_sim.sharded``)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from hardware_sim.ir.graph import DeployedModel
from hardware_sim.results import SimulationResult


class LoihiSimBackend:
    """``device``: "cpu" or "cuda[:N]" (``hardware_sim.engine.resolve_device``).
    ``max_memory_bytes``: the engine's working-set budget per process (it picks the batch).
    ``workers`` > 1 or a ``ray_address``: the samples are split into ``workers`` explicit
    ranges run as Ray tasks (a local cluster when no address is given) and merged
    (``hardware_sim.shards``); the result is identical to a run in this process.
    ``record_spikes``: what to record of each sample's spikes (``engine.SpikeRecording``).
    ``timing``: "zero-delay" (the reference), "aligned" or "pipelined" (``hardware_sim.engine``);
    "pipelined" runs ``pipelined_reference`` (synaptic work counted per sending step, as
    SANA-FE counts it), in this process only."""

    name = "loihi-sim"

    def __init__(self, device: str = "cpu", batch_size: int = 256,
                 max_memory_bytes: int | None = None, workers: int = 1,
                 ray_address: str | None = None, record_spikes=False, timing: str = "zero-delay"):
        from hardware_sim.engine import TIMINGS, resolve_device

        resolve_device(device)  # fail now, in one line, if the device is absent
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if timing not in TIMINGS:
            raise ValueError(f"timing must be one of {TIMINGS}, not {timing!r}")
        if timing == "pipelined" and (workers > 1 or ray_address):
            raise ValueError("the pipelined timing runs in this process only (workers = 1)")
        self.timing = timing
        self.device = device
        self.batch_size = batch_size
        self.max_memory_bytes = max_memory_bytes
        self.workers = workers
        self.ray_address = ray_address
        self.record_spikes = record_spikes

    def run(self, model: DeployedModel, inputs: np.ndarray,
            on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        if self.workers > 1 or self.ray_address:
            from deploy.loihi_sim.sharded import run_sharded

            return run_sharded(model.graph, inputs, workers=self.workers, address=self.ray_address,
                               record_spikes=self.record_spikes, device=self.device,
                               batch_size=self.batch_size, max_memory_bytes=self.max_memory_bytes,
                               timing=self.timing, on_progress=on_progress)
        from hardware_sim.engine import pipelined_reference, simulate

        options = {"batch_size": self.batch_size, "device": self.device,
                   "record_spikes": self.record_spikes, "on_batch": on_progress,
                   "max_memory_bytes": self.max_memory_bytes}
        if self.timing == "pipelined":
            return pipelined_reference(model.graph, inputs, **options)
        return simulate(model.graph, inputs, timing=self.timing, **options)
