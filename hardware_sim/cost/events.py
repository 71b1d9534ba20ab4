"""The engine's counters recounted from recorded spikes (zero-delay timing).

Backends that run elsewhere (Lava in its own environment, norse in float) record spikes
and report them in hardware_sim's terms with this one function, so every backend's
RESULT.json counts what ``engine.simulate`` counts while it runs. numpy only: it runs in
the Lava environment, which has no torch.
"""

from __future__ import annotations

import numpy as np

from hardware_sim.ir.graph import INPUT, QGraph, neuron_count, projection_synapses
from hardware_sim.results import PopulationCounts


def count_activity(graph: QGraph, inputs: np.ndarray, spikes: dict[str, np.ndarray]
                   ) -> tuple[list[PopulationCounts], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per population: spikes, synaptic ops (1-bit spikes arriving × fan-out) or input MACs
    (non-zero graded inputs × fan-out), neuron updates; per step, the spikes and the events
    arriving at each target neuron, summed over samples.

    ``inputs``: (N, T, *input_shape); ``spikes``: per population, (T, N, *shape) (zeros for a
    readout). Returns (counts, spikes_per_step, synaptic_events_per_step).
    """
    n, timesteps = inputs.shape[:2]
    activity = {INPUT: np.swapaxes(inputs, 0, 1) != 0}  # (T, N, *shape)
    activity.update(spikes)
    counts, per_step, events = [], {}, {}
    for pop in graph.populations:
        count = PopulationCounts(pop.name, neuron_count(pop))
        targets = neuron_count(pop)
        arriving = np.zeros((timesteps, targets), dtype=np.int64)
        for proj in pop.projections:
            rows, cols, _ = projection_synapses(proj)
            sources = int(np.prod(proj.source_shape))
            # active sources per step, summed over samples: (T, sources)
            active = activity[proj.source].reshape(timesteps, n, sources).sum(axis=1, dtype=np.int64)
            if proj.delay:  # what was sent d steps earlier in the same sample
                active = np.concatenate([np.zeros_like(active[:proj.delay]),
                                         active[:-proj.delay]])[:timesteps]
            fan_out = np.bincount(cols, minlength=sources)
            ops = int((active @ fan_out).sum())
            if proj.source == INPUT:
                count.input_macs += ops
            else:
                count.synaptic_ops += ops
            for t in range(timesteps):  # float64 weights are exact below 2^53 events
                arriving[t] += np.rint(np.bincount(rows, weights=active[t, cols],
                                                   minlength=targets)).astype(np.int64)
        count.spikes = 0 if pop.readout else int(spikes[pop.name].sum())
        count.neuron_updates = count.neurons * n * timesteps
        counts.append(count)
        per_step[pop.name] = spikes[pop.name].sum(axis=1).astype(np.int64)
        events[pop.name] = arriving.reshape(timesteps, *pop.shape)
    return counts, per_step, events
