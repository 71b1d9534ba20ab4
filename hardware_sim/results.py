"""What a run of any backend returns: outputs and per-population counters.

Plain numpy dataclasses (no torch), so that the Lava environment and the
cycle model share them with the integer engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PopulationCounts:
    """What one population did over a whole run (all samples, all timesteps).

    ``synaptic_ops`` counts 1-bit spikes arriving × their fan-out;
    ``input_macs`` counts graded (multi-bit) inputs × fan-out, which hardware
    executes as multiply-accumulates rather than accumulates.
    """

    name: str
    neurons: int
    spikes: int = 0
    synaptic_ops: int = 0
    input_macs: int = 0
    neuron_updates: int = 0
    u_wraps: int = 0
    v_clips: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SimulationResult:
    """Outputs and counters of one run.

    ``output``: the readout's final integer voltage (N, *shape) when the output
    population is a readout, else its spike counts; ``predictions`` its argmax.
    ``spikes``: per population recorded, (T, samples recorded, *shape) bool: every sample,
    or the first few (``engine.SpikeRecording``); None when nothing was recorded.
    ``spikes_per_step`` / ``synaptic_events_per_step``: per population,
    (T, *shape) summed over samples; the cycle model's per-core input. Every counter and
    per-step array is a sum over samples, so the runs of disjoint sample ranges add up to
    the run of their union (``hardware_sim.shards.merge_results``).
    """

    output: np.ndarray
    predictions: np.ndarray
    counts: list[PopulationCounts]
    samples: int
    timesteps: int
    input_clipped: int = 0
    spikes: dict[str, np.ndarray] | None = None
    spikes_per_step: dict[str, np.ndarray] = field(default_factory=dict)
    synaptic_events_per_step: dict[str, np.ndarray] = field(default_factory=dict)

    def count(self, name: str) -> PopulationCounts:
        return next(c for c in self.counts if c.name == name)

    @property
    def overflow_events(self) -> int:
        return self.input_clipped + sum(c.u_wraps + c.v_clips for c in self.counts)

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.predictions == np.asarray(labels))) if self.samples else float("nan")
