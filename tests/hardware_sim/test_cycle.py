"""Mapping under per-core limits, the cycle model and NeuroBench metrics, against hand work
and against the functional run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hardware_sim.chips import derive_chip, load_chip
from hardware_sim.cost.cycle import cycle_model, cycle_model_per_sample
from hardware_sim.cost.energy import estimate_energy
from hardware_sim.cost.mapping import MappingError, destination_counts, map_to_cores, weight_bits
from hardware_sim.cost.neurobench import neurobench_metrics
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph

LOIHI_NS = dict(synapse=3.8, access=6.0, update=3.7, spike_out=30.0, axon_out=5.1, axon_in=16.0,
                hop_ew=4.1, hop_ns=6.5)
LOIHI_PJ = dict(synapse=35.5, access=51.2, update=21.6, spike_out=69.3, axon_out=111.0,
                hop_ew=3.0, hop_ns=4.2)


def chip_with(neurons_per_core, cores_per_tile, tiles_x, tiles_y, limits=None, power=None,
              base="loihi"):
    return derive_chip(base, neurons_per_core=neurons_per_core, cores_per_tile=cores_per_tile,
                       tiles_x=tiles_x, tiles_y=tiles_y, limits=limits or {}, power=power or None)


def pop(name, shape, projections, vth=0, bias=0, readout=False):
    z = np.zeros(shape, np.int64)
    return IntPopulation(name, shape, projections, dv=z, du=z + 4095, vth=z + vth,
                         bias_mant=z + bias, bias_exp=0, v_scale=1.0, readout=readout)


def dense(source, n_in, n_out, weight=None):
    w = np.ones((n_out, n_in), np.int64) if weight is None else np.asarray(weight)
    return Projection(source, "dense", w, (n_in,))


# --- mapping under limits, by hand -----------------------------------------------------------

def test_memory_limit_partitions_a_dense_layer():
    # weights in [-2, 1]: 2-bit signed; fan-in 4 -> 8 bits per neuron; 20 bits per core -> 2 neurons
    w = np.array([[-2, 1, 0, 1]] * 6)
    graph = QGraph(input_shape=(4,), populations=[pop("A", (6,), [dense(INPUT, 4, 6, w)])],
                   output="A")
    assert weight_bits(graph.populations[0].projections[0]) == 2
    chip = chip_with(4, 4, 2, 1, limits={"synaptic_memory_bits_per_core": 20})
    mapping = map_to_cores(graph, chip)
    assert mapping.placement("A").neurons_per_core == (2, 2, 2)
    assert [u.synapse_bits for u in mapping.core_usage] == [16, 16, 16]
    assert [u.axons_in for u in mapping.core_usage] == [4, 4, 4]
    util = mapping.utilisation()
    assert util["synaptic_memory"]["max"] == pytest.approx(16 / 20)
    assert util["neurons"]["mean"] == pytest.approx(2 / 4)
    with pytest.raises(MappingError, match="synaptic_memory_bits_per_core"):
        map_to_cores(graph, chip_with(4, 4, 2, 1, limits={"synaptic_memory_bits_per_core": 7}))


def conv_graph():
    """input (1, 4, 4) -> conv 3x3 pad 1 -> A (2, 4, 4)."""
    proj = Projection(INPUT, "conv", np.ones((2, 1, 3, 3), np.int64), (1, 4, 4), padding=1)
    return QGraph(input_shape=(1, 4, 4), populations=[pop("A", (2, 4, 4), [proj])], output="A")


def test_axons_in_limit_on_a_conv_layer():
    # 8 neurons per core: core 0 holds rows 0-1 of channel 0, reached by input rows 0-2: 12 axons.
    mapping = map_to_cores(conv_graph(), chip_with(8, 4, 2, 1, limits={"axons_in_per_core": 12}))
    assert mapping.placement("A").neurons_per_core == (8, 8, 8, 8)
    assert [u.axons_in for u in mapping.core_usage] == [12, 12, 12, 12]
    # 11 axons: positions 0..5 reach rows 0-1 (8) + row 2 cols 0-2 (3) = 11; a 7th needs 12.
    mapping = map_to_cores(conv_graph(), chip_with(8, 4, 2, 1, limits={"axons_in_per_core": 11}))
    assert mapping.placement("A").neurons_per_core[0] == 6
    with pytest.raises(MappingError, match="axons_in_per_core"):
        map_to_cores(conv_graph(), chip_with(8, 4, 2, 1, limits={"axons_in_per_core": 3}))


def test_axons_out_limit_and_multi_chip():
    # input(1) -> A(4) -> B(4); 1 neuron per core: each A neuron reaches B's 4 cores.
    graph = QGraph(input_shape=(1,), populations=[
        pop("A", (4,), [dense(INPUT, 1, 4)]), pop("B", (4,), [dense("A", 4, 4)])], output="B")
    chip = chip_with(1, 1, 2, 2, limits={"axons_out_per_core": 4})
    mapping = map_to_cores(graph, chip)
    assert [u.axons_out for u in mapping.core_usage] == [4] * 4 + [0] * 4
    assert (mapping.cores, mapping.chips) == (8, 2)
    assert any("2 chips" in n for n in mapping.notes)
    assert mapping.to_dict()["chips"] == 2
    with pytest.raises(MappingError, match="axons_out_per_core"):
        map_to_cores(graph, chip_with(1, 1, 2, 2, limits={"axons_out_per_core": 3}))
    with pytest.raises(MappingError, match="max_chips"):
        map_to_cores(graph, chip, max_chips=1)


# --- cycle model, by hand ---------------------------------------------------------------------

def hop_graph():
    """input(1) -> P(2) -> Q(2), all-ones weights, vth 0: every neuron spikes every step."""
    return QGraph(input_shape=(1,), populations=[
        pop("P", (2,), [dense(INPUT, 1, 2)]), pop("Q", (2,), [dense("P", 2, 2)])], output="Q")


def test_hops_time_and_energy_of_a_hand_sized_net():
    # 1 neuron per core, 1 core per tile, 2 x 2 mesh: P on tiles (0,0), (1,0); Q on (0,1), (1,1).
    chip = chip_with(1, 1, 2, 2)
    graph, samples, steps = hop_graph(), 2, 3
    mapping = map_to_cores(graph, chip)
    assert [mapping.position(c) for c in range(4)] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert mapping.hops(0, 3) == (1, 1) and mapping.hops(1, 2) == (1, 1)
    result = simulate(graph, np.ones((samples, steps, 1), np.int64))
    report = cycle_model(graph, result, chip, mapping, core_phases="serial")
    per = {k: v[0] / samples for k, v in report.counts.items()}  # step 0, per inference
    # core 0 sends to cores 2 (dx 0, dy 1) and 3 (dx 1, dy 1); core 1 to 2 (1, 1) and 3 (0, 1)
    assert per["messages_out"].tolist() == [2, 2, 0, 0]
    assert per["messages_in"].tolist() == [0, 0, 2, 2]
    assert per["hops_east_west"].tolist() == [1, 1, 0, 0]
    assert per["hops_north_south"].tolist() == [2, 2, 0, 0]
    assert per["graded_input_ops"].tolist() == [1, 1, 0, 0]
    assert per["synaptic_ops"].tolist() == [0, 0, 2, 2]
    assert per["updates_active"].tolist() == [1, 1, 1, 1]
    active = LOIHI_NS["access"] + LOIHI_NS["update"]
    work_p = LOIHI_NS["synapse"] + active + LOIHI_NS["spike_out"] + 2 * LOIHI_NS["axon_out"]
    work_q = 2 * LOIHI_NS["synapse"] + active + LOIHI_NS["spike_out"] + 2 * LOIHI_NS["axon_in"]
    assert report.work_ns[0].tolist() == pytest.approx([work_p, work_p, work_q, work_q])
    # overlapped (the default): max(neuron phase, synaptic phase) per core
    neuron_p = active + LOIHI_NS["spike_out"] + 2 * LOIHI_NS["axon_out"]
    neuron_q = active + LOIHI_NS["spike_out"]
    synaptic_p, synaptic_q = LOIHI_NS["synapse"], 2 * LOIHI_NS["synapse"] + 2 * LOIHI_NS["axon_in"]
    overlapped = cycle_model(graph, result, chip, mapping)
    assert overlapped.work_ns[0].tolist() == pytest.approx(
        [max(neuron_p, synaptic_p)] * 2 + [max(neuron_q, synaptic_q)] * 2)
    network = LOIHI_NS["hop_ew"] + LOIHI_NS["hop_ns"]
    barrier = 113 + (4 - 1) * (465 - 113) / (32 - 1)  # 4 tiles in use
    assert report.step_ns == pytest.approx([work_q + network + barrier] * steps)
    assert report.latency_s == pytest.approx(steps * (work_q + network + barrier) * 1e-9)
    assert report.throughput_per_s == pytest.approx(1 / report.latency_s)
    active_pj = LOIHI_PJ["access"] + LOIHI_PJ["update"]
    per_step_pj = (2 * LOIHI_PJ["synapse"] + 4 * LOIHI_PJ["synapse"] + 4 * active_pj
                   + 4 * LOIHI_PJ["spike_out"] + 4 * LOIHI_PJ["axon_out"]
                   + 2 * LOIHI_PJ["hop_ew"] + 4 * LOIHI_PJ["hop_ns"])
    assert report.energy_j_per_inference == pytest.approx(steps * per_step_pj * 1e-12)
    # static power adds power x latency
    hot = chip_with(1, 1, 2, 2, power={"static_w": 0.5})
    hot_report = cycle_model(graph, result, hot, map_to_cores(graph, hot), core_phases="serial")
    assert hot_report.energy_j_per_inference == pytest.approx(
        report.energy_j_per_inference + 0.5 * report.latency_s)
    assert json.loads(json.dumps(report.to_dict()))["cores"] == 4


def random_conv_graph(seed=0):
    """input (1,6,6) -> conv A (3,6,6) -> sum-pool 2 -> conv B (4,3,3) -> dense C (5)."""
    rng = np.random.default_rng(seed)
    a = Projection(INPUT, "conv", rng.integers(-3, 4, (3, 1, 3, 3)), (1, 6, 6), padding=1)
    b = Projection("A", "conv", rng.integers(-2, 4, (4, 3, 3, 3)), (3, 6, 6), padding=1, pool=2)
    c = Projection("B", "dense", rng.integers(-3, 4, (5, 36)), (4, 3, 3))
    return QGraph(input_shape=(1, 6, 6), populations=[
        pop("A", (3, 6, 6), [a], vth=1, bias=rng.integers(0, 2)), pop("B", (4, 3, 3), [b], vth=1),
        pop("C", (5,), [c], vth=1)], output="C"), rng


def test_cycle_counters_equal_the_functional_run_and_the_energy_model():
    graph, rng = random_conv_graph()
    inputs = rng.integers(0, 4, (5, 4, 1, 6, 6))
    result = simulate(graph, inputs)
    chip = chip_with(16, 2, 3, 2)  # A: 7 cores, B: 3, C: 1 -> 11 cores on 6 tiles
    mapping = map_to_cores(graph, chip)
    report = cycle_model(graph, result, chip, mapping)
    totals = report.totals()
    assert totals["spikes"] == sum(c.spikes for c in result.counts) > 0
    assert totals["synaptic_ops"] == sum(c.synaptic_ops for c in result.counts) > 0
    assert totals["graded_input_ops"] == sum(c.input_macs for c in result.counts) > 0
    assert totals["messages_out"] == totals["messages_in"]
    energy = estimate_energy(graph, result, chip, mapping, active_updates="input_or_spike")
    assert report.energy_j_per_inference == pytest.approx(energy.energy_j_per_inference, rel=1e-12)
    assert totals["messages_out"] == sum(layer.messages for layer in energy.layers)
    # per-sample exact mode agrees with the averaged one for a single sample
    one = simulate(graph, inputs[:1])
    exact = cycle_model_per_sample(graph, inputs[:1], chip, mapping)
    assert exact.latency_s[0] == pytest.approx(cycle_model(graph, one, chip, mapping).latency_s)


def test_conv_destinations_are_the_cores_that_hold_a_target():
    graph, _ = random_conv_graph()
    chip = chip_with(16, 2, 3, 2)
    mapping = map_to_cores(graph, chip)
    proj = graph.population("B").projections[0]
    placement = mapping.placement("B")
    owner = np.repeat(np.arange(len(placement.cores)), placement.neurons_per_core)
    brute = []
    for j in range(3 * 6 * 6):  # which B cores does A's neuron j reach (through pool and conv)?
        x = torch.zeros((1, 3, 6, 6), dtype=torch.float64)
        x.view(-1)[j] = 1
        pooled = F.avg_pool2d(x, 2, 2) * 4
        y = F.conv2d(pooled, torch.ones(proj.weight.shape, dtype=torch.float64), padding=1)
        brute.append(len(set(owner[(y.view(-1) != 0).numpy()])))
    assert destination_counts(mapping, "A").tolist() == brute


def test_profiles_carry_a_cycle_model_and_loihi2_marks_its_estimates():
    loihi2 = load_chip("loihi2")
    assert loihi2.cores_per_chip == 128 and loihi2.neurons_per_core == 8192
    assert loihi2.limits["synaptic_memory_bits_per_core"] == 192 * 1024 * 8
    assert "Hala Point" in loihi2.sources()["power.max_w"]
    assert all("ESTIMATE" in loihi2.sources()[f"energy_pj.{k}"] for k in loihi2.energy_pj)
    assert set(loihi2.sources()) == set(loihi2.constants())
    for name in ("loihi", "loihi-davies2018", "loihi2"):
        chip = load_chip(name)
        assert chip.has_cycle_model and chip.barrier_ns(1) == 113.0 and chip.barrier_ns(32) == 465.0
    assert load_chip("loihi").event_time_ns("message_in") == 16.0
    assert load_chip("loihi-davies2018").event_time_ns("neuron_update_active") == 8.4


# --- NeuroBench ---------------------------------------------------------------------------------

def test_neurobench_metrics_by_hand():
    # input(2) -> A(3) [weights with 2 zeros] -> B(2) readout; all-ones input, vth 0.
    wa = np.array([[1, 0], [1, 1], [0, 1]])
    graph = QGraph(input_shape=(2,), populations=[
        pop("A", (3,), [dense(INPUT, 2, 3, wa)]),
        pop("B", (2,), [dense("A", 3, 2, np.array([[1, 1, 0], [1, 1, 1]]))], readout=True)],
        output="B")
    samples, steps = 2, 3
    inputs = np.zeros((samples, steps, 2), np.int64)
    inputs[:, :, 0] = 5  # input 0 always 5, input 1 always 0: A0 and A1 spike, A2 never
    result = simulate(graph, inputs)
    nb = neurobench_metrics(graph, result, inputs)
    assert nb["connection_sparsity"] == pytest.approx(3 / 12)
    # weights 6 + 6 bytes, 2 weight_exp bytes; per neuron dv, du, bias_mant 2 B + vth 4 B = 10 B
    # over 5 neurons; 2 bias_exp bytes
    assert nb["footprint_bytes"] == 12 + 2 + 10 * 5 + 2
    assert nb["activation_sparsity"] == pytest.approx(1 - 2 / 3)  # B (readout) left out
    ops = nb["synaptic_operations"]
    # MACs: input 0 (non-zero) meets 2 non-zero weights, per step; ACs: A0 meets 2, A1 meets 2
    assert ops["Effective_MACs"] == steps * 2
    assert ops["Effective_ACs"] == steps * (2 + 2)
    assert ops["Dense"] == steps * (6 + 6)
