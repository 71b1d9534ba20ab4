"""The engine on every device, under a memory budget, with its float kernels kept exact
(DESIGN §7): CUDA against the CPU where CUDA exists, the settings checked and restored, the
batch chosen from a budget with the same results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hardware_sim.engine import (
    DeviceError,
    estimate_memory,
    exact_settings,
    inexact_settings,
    resolve_device,
    simulate,
)
from tests.hardware_sim.test_engine_vs_spec import random_graph

CUDA = torch.cuda.is_available()


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.output, b.output)
    assert [vars(c) for c in a.counts] == [vars(c) for c in b.counts]
    for name in a.spikes_per_step:
        np.testing.assert_array_equal(a.spikes_per_step[name], b.spikes_per_step[name])
        np.testing.assert_array_equal(a.synaptic_events_per_step[name],
                                      b.synaptic_events_per_step[name])
    if a.spikes is not None:
        for name in a.spikes:
            np.testing.assert_array_equal(a.spikes[name], b.spikes[name])


@pytest.mark.skipif(not CUDA, reason="no CUDA device here (torch.cuda.is_available() is False): "
                                     "the GPU path runs only where one exists")
@pytest.mark.parametrize("timing", ["zero-delay", "pipelined", "aligned"])
def test_cuda_equals_cpu_on_every_spike_and_counter(timing):
    for seed in range(4):
        rng = np.random.default_rng(seed)
        graph = random_graph(rng, du_full=seed % 2 == 0)
        x = rng.integers(0, 16, (7, 5, 2, 6, 6))
        cpu = simulate(graph, x, timing=timing, record_spikes=True, batch_size=3)
        gpu = simulate(graph, x, timing=timing, record_spikes=True, batch_size=3, device="cuda")
        _same(cpu, gpu)


@pytest.mark.skipif(not CUDA, reason="no CUDA device here: the CUDA settings cannot be read")
def test_cuda_settings_are_made_exact_and_restored():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.enabled,
              torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.benchmark = True
    try:
        with exact_settings("cuda") as settings:
            assert settings["cudnn.enabled"] is False and settings["cuda.matmul.tf32"] is False
            assert inexact_settings("cuda") == {}
        assert torch.backends.cudnn.benchmark is True
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.enabled,
         torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark) = before


def test_cpu_settings_are_checked_made_exact_and_restored():
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")  # would allow bf16 products on some CPUs
    try:
        assert "float32_matmul_precision" in inexact_settings("cpu")
        with exact_settings("cpu") as settings:
            assert settings["float32_matmul_precision"] == "highest"
            assert inexact_settings("cpu") == {}
        assert torch.get_float32_matmul_precision() == "medium"
        rng = np.random.default_rng(5)
        graph = random_graph(rng)
        x = rng.integers(0, 16, (4, 3, 2, 6, 6))
        run = simulate(graph, x)
        torch.set_float32_matmul_precision("highest")
        _same(run, simulate(graph, x))
    finally:
        torch.set_float32_matmul_precision(saved)


def test_an_absent_device_is_one_clear_error():
    if not CUDA:
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(DeviceError, match="runs on 'cpu' or 'cuda"):
        resolve_device("meta")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("gpu0")


def test_the_budget_chooses_the_batch_and_changes_nothing():
    rng = np.random.default_rng(2)
    graph = random_graph(rng, du_full=False)
    x = rng.integers(0, 16, (11, 4, 2, 6, 6))
    estimate = estimate_memory(graph, 4)
    assert estimate.per_sample > 0 and estimate.fixed > 0
    assert estimate.bytes_for(10) - estimate.bytes_for(9) == estimate.per_sample
    budget = estimate.bytes_for(3) + estimate.per_sample // 2  # room for 3 samples, not 4
    assert estimate.batch_size(budget, at_most=256) == 3
    batches: list[int] = []
    limited = simulate(graph, x, record_spikes=True, max_memory_bytes=budget,
                       on_batch=batches.append)
    assert batches == [3, 3, 3, 2]
    _same(simulate(graph, x, record_spikes=True), limited)
    with pytest.raises(MemoryError, match="one sample needs"):
        simulate(graph, x, max_memory_bytes=estimate.fixed)


def test_estimate_counts_state_spikes_and_temporaries():
    """Per sample: u and v (int32; no u when every du is 4095), the spikes in flight, the largest
    step; the estimate grows with the neurons and the delays."""
    rng = np.random.default_rng(4)
    full = estimate_memory(random_graph(rng, du_full=True), 4)
    rng = np.random.default_rng(4)
    kept = estimate_memory(random_graph(rng, du_full=False), 4)
    assert kept.parts["state"] > full.parts["state"]  # u stored only where du < 4095
    assert full.parts["spikes_in_flight"] > 0 and full.parts["largest_step_temporaries"] > 0
    pipelined = estimate_memory(random_graph(np.random.default_rng(4)), 4, timing="pipelined")
    assert pipelined.parts["spikes_in_flight"] > full.parts["spikes_in_flight"]  # one more lag


def test_recording_the_first_samples_only():
    rng = np.random.default_rng(9)
    graph = random_graph(rng)
    x = rng.integers(0, 16, (7, 4, 2, 6, 6))
    everything = simulate(graph, x, record_spikes=True, batch_size=3)
    some = simulate(graph, x, record_spikes={"c1": None, "c2": 4, "d3": 0}, batch_size=3)
    assert set(some.spikes) == {"c1", "c2", "d3"}
    np.testing.assert_array_equal(some.spikes["c1"], everything.spikes["c1"])
    np.testing.assert_array_equal(some.spikes["c2"], everything.spikes["c2"][:, :4])
    assert some.spikes["d3"].shape == (4, 0, 7)
    first = simulate(graph, x, record_spikes=1, batch_size=3)
    for name in everything.spikes:
        np.testing.assert_array_equal(first.spikes[name], everything.spikes[name][:, :1])
    with pytest.raises(ValueError, match="unknown populations"):
        simulate(graph, x, record_spikes={"nope": 1})
