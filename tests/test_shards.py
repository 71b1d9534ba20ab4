"""Shards (hardware_sim.shards): explicit sample ranges, and the merge of their runs equals the
run of all samples at once, array for array, so energy priced after the merge is the same.
No Ray here: the Ray driver is tested in tests/test_shards_cli.py."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_sim.chips import derive_chip
from hardware_sim.cost.cycle import time_events
from hardware_sim.cost.energy import price_energy
from hardware_sim.cost.events import count_events
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.engine import simulate
from hardware_sim.shards import merge_results, shard_ranges, shard_recording
from tests.hardware_sim.test_engine_vs_spec import random_graph


@pytest.mark.parametrize("samples", [0, 1, 5, 16, 17])
@pytest.mark.parametrize("shards", [1, 2, 3, 8, 40])
def test_ranges_cover_every_sample_once(samples, shards):
    ranges = shard_ranges(samples, shards)
    covered = [i for start, stop in ranges for i in range(start, stop)]
    assert covered == list(range(samples))  # no padding, no duplicates, in order
    assert len(ranges) == min(shards, samples)
    sizes = [stop - start for start, stop in ranges]
    assert all(s >= 1 for s in sizes) and (not sizes or max(sizes) - min(sizes) <= 1)


def test_ranges_refuse_nonsense():
    with pytest.raises(ValueError):
        shard_ranges(5, 0)
    with pytest.raises(ValueError):
        shard_ranges(-1, 2)


def test_shard_recording_keeps_the_first_samples_where_they_are():
    recording = {"a": 3, "b": None, "c": 0}
    assert shard_recording(recording, 0, 2) == {"a": 2, "b": None, "c": 0}
    assert shard_recording(recording, 2, 5) == {"a": 1, "b": None, "c": 0}
    assert shard_recording(recording, 5, 9) == {"a": 0, "b": None, "c": 0}


@pytest.mark.parametrize("timing", ["zero-delay", "pipelined", "aligned"])
@pytest.mark.parametrize("shards", [2, 3, 7])
def test_merged_shards_equal_the_whole_run(timing, shards):
    rng = np.random.default_rng(shards)
    graph = random_graph(rng, du_full=shards % 2 == 0)
    x = rng.integers(0, 16, (7, 4, 2, 6, 6))
    recording = {"c1": None, "c2": 2, "d3": 4, "readout": 1}
    whole = simulate(graph, x, timing=timing, record_spikes=recording if timing != "aligned" else True)
    parts = []
    for start, stop in shard_ranges(len(x), shards):
        part = simulate(graph, x[start:stop], timing=timing, batch_size=2,
                        record_spikes=shard_recording(recording, start, stop)
                        if timing != "aligned" else True)
        part.input_clipped = stop - start  # summed too
        parts.append(part)
    merged = merge_results(parts)
    assert merged.samples == whole.samples and merged.timesteps == whole.timesteps
    assert merged.input_clipped == len(x)
    np.testing.assert_array_equal(merged.output, whole.output)
    np.testing.assert_array_equal(merged.predictions, whole.predictions)
    assert [vars(c) for c in merged.counts] == [vars(c) for c in whole.counts]
    for name in whole.spikes_per_step:
        np.testing.assert_array_equal(merged.spikes_per_step[name], whole.spikes_per_step[name])
        np.testing.assert_array_equal(merged.synaptic_events_per_step[name],
                                      whole.synaptic_events_per_step[name])
    assert set(merged.spikes) == set(whole.spikes)
    for name in whole.spikes:
        np.testing.assert_array_equal(merged.spikes[name], whole.spikes[name])


def test_energy_priced_after_the_merge_is_the_energy_of_the_whole_run():
    rng = np.random.default_rng(1)
    graph = random_graph(rng)
    x = rng.integers(0, 16, (9, 4, 2, 6, 6))
    chip = derive_chip("loihi", neurons_per_core=20, cores_per_tile=2, tiles_x=2, tiles_y=2)
    mapping = map_to_cores(graph, chip)
    whole = simulate(graph, x)
    merged = merge_results([simulate(graph, x[a:b]) for a, b in shard_ranges(len(x), 4)])
    ours, theirs = count_events(graph, mapping, whole), count_events(graph, mapping, merged)
    for key in ours.counts:
        np.testing.assert_array_equal(theirs.counts[key], ours.counts[key])
    assert price_energy(theirs, chip).energy_j_per_inference == \
        price_energy(ours, chip).energy_j_per_inference
    assert time_events(theirs, chip).latency_s == time_events(ours, chip).latency_s


def test_merge_refuses_runs_of_different_networks():
    rng = np.random.default_rng(2)
    a = random_graph(rng)
    x = rng.integers(0, 16, (2, 3, 2, 6, 6))
    with pytest.raises(ValueError, match="same timesteps"):
        merge_results([simulate(a, x), simulate(a, x[:, :2])])
    with pytest.raises(ValueError, match="nothing"):
        merge_results([])
