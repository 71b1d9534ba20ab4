"""count_activity (what Lava and norse report) against the engine's own counters.

The engine counts while it runs (torch convolutions of the live spikes); count_activity
recounts from recorded spikes through the synapse list. Same graph, same spikes: every
counter, per-step spike count and per-neuron arriving-event count must be equal.
"""

import numpy as np
import pytest

from hardware_sim.cost.events import count_activity
from hardware_sim.engine import simulate

from .test_engine_vs_spec import random_graph


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recount_equals_the_engine_counters(seed):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng)  # strided conv, pooling, a delayed residual join, a readout
    inputs = rng.integers(0, 4, (5, 6, *graph.input_shape))
    result = simulate(graph, inputs, record_spikes=True)
    assert sum(c.spikes for c in result.counts) > 0 and sum(c.synaptic_ops for c in result.counts) > 0
    counts, per_step, events = count_activity(graph, inputs, result.spikes)
    for mine, engine in zip(counts, result.counts):
        assert (mine.name, mine.spikes, mine.synaptic_ops, mine.input_macs, mine.neuron_updates) == \
            (engine.name, engine.spikes, engine.synaptic_ops, engine.input_macs, engine.neuron_updates)
    for pop in graph.populations:
        np.testing.assert_array_equal(per_step[pop.name], result.spikes_per_step[pop.name])
        np.testing.assert_array_equal(events[pop.name], result.synaptic_events_per_step[pop.name])
