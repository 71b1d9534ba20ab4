"""Fan-in splitting (hardware_sim.cost.split): the mapper splits a population whose fan-in
exceeds a core, the split runs spike for spike as the unsplit population (random nets and a
full-width ResNet-19 stage), the join's rounding with a negative weight exponent is shown on
a hand-worked case, and the join's events are counted as a literal per-neuron walk counts them."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_sim.chips import derive_chip, load_chip
from hardware_sim.cost import split
from hardware_sim.cost.energy import price_energy
from hardware_sim.cost.events import count_events
from hardware_sim.cost.mapping import MappingError, map_to_cores
from hardware_sim.engine import simulate
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph, neuron_count

# --- nets -----------------------------------------------------------------------------------------


def population(rng, name, shape, projections, vth, readout=False):
    """Per-neuron decays and thresholds; biases per channel for a conv layer (what NIR carries)."""
    shape = tuple(shape)
    bias = rng.integers(-20, 40, shape[:1] + (1,) * (len(shape) - 1))
    return IntPopulation(name=name, shape=shape, projections=projections,
                         dv=rng.integers(100, 3000, shape), du=np.full(shape, 4095),
                         vth=rng.integers(*vth, shape), bias_mant=np.broadcast_to(bias, shape).copy(),
                         bias_exp=1, v_scale=1.0, readout=readout)


def wide_net(seed: int) -> QGraph:
    """input (2, 6, 6) → A (C channels, fed by the input: not splittable) → B = conv 3×3 of A
    (+ a 1×1 shortcut from A, sometimes; fan-in 9·C + C) → C = dense of B (fan-in |B|, a
    pooled source sometimes) → readout. Weights of e ≥ 0: the join is exact."""
    rng = np.random.default_rng(seed)
    channels = int(rng.integers(5, 9))
    a_proj = Projection(INPUT, "conv", rng.integers(-60, 60, (channels, 2, 3, 3)), (2, 6, 6),
                        padding=1)
    a = population(rng, "A", a_proj.output_shape, [a_proj], (20, 200))
    b_projs = [Projection("A", "conv", rng.integers(-40, 60, (4, channels, 3, 3)), a.shape,
                          padding=1, weight_exp=int(rng.integers(0, 2)))]
    if seed % 2:
        b_projs.append(Projection("A", "conv", rng.integers(-40, 60, (4, channels, 1, 1)), a.shape))
    b = population(rng, "B", b_projs[0].output_shape, b_projs, (40, 300))
    pool = 2 if seed % 3 == 0 else 1
    fc = Projection("B", "dense", rng.integers(-30, 50, (12, 4 * (6 // pool) ** 2)), b.shape,
                    pool=pool)
    c = population(rng, "C", (12,), [fc], (20, 300))
    ro = Projection("C", "dense", rng.integers(-100, 100, (3, 12)), (12,))
    r = population(rng, "readout", (3,), [ro], (1, 2), readout=True)
    return QGraph(input_shape=(2, 6, 6), populations=[a, b, c, r], output="readout")


def small_chip(axons_in: int, neurons_per_core: int = 16):
    return derive_chip("loihi", neurons_per_core=neurons_per_core, cores_per_tile=2, tiles_x=4,
                       tiles_y=2, limits={"axons_in_per_core": axons_in,
                                          "synaptic_memory_bits_per_core": 1 << 20,
                                          "axons_out_per_core": 4096})


def inputs(graph: QGraph, samples: int, timesteps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 7)
    return rng.integers(0, 256, (samples, timesteps, *graph.input_shape))


def splits_of(mapping) -> dict[str, tuple[split.Group, ...]]:
    return {p.name: p.groups for p in mapping.populations if p.dendrites}


def assert_same_spikes(a, b, graph: QGraph, min_spikes: int) -> None:
    for pop in graph.populations:
        if not pop.readout:
            np.testing.assert_array_equal(a.spikes[pop.name], b.spikes[pop.name], err_msg=pop.name)
    np.testing.assert_array_equal(a.output, b.output)
    assert sum(c.spikes for c in a.counts) >= min_spikes, "the net must be active to mean anything"


# --- the mapper splits what does not fit --------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_a_split_population_spikes_as_the_unsplit_one(seed):
    graph = wide_net(seed)
    b_fan_in = int(sum(synapses.fan_in(p) for p in graph.population("B").projections).max())
    cap = b_fan_in - 1 - seed  # one neuron of B alone needs more input axons than a core has
    with pytest.raises(MappingError, match="axons_in_per_core"):
        map_to_cores(graph, small_chip(cap), split="never")
    mapping = map_to_cores(graph, small_chip(cap))
    splits = splits_of(mapping)
    assert "B" in splits and "C" in splits and "A" not in splits  # A: fed by the input
    for u in mapping.core_usage:
        assert u.axons_in <= cap
    assert all(not mapping.placement(name).join_notes for name in splits)  # e ≥ 0: exact
    x = inputs(graph, 6, 5, seed)
    unsplit = simulate(graph, x, record_spikes=True)
    joined = simulate(split.split_graph(graph, splits), x, record_spikes=True)
    assert_same_spikes(joined, unsplit, graph, min_spikes=100)
    for name in splits:  # the split really took several groups, every channel once
        per_projection = {}
        for g in splits[name]:
            per_projection.setdefault(g.projection, []).append((g.lo, g.hi))
        for index, ranges in per_projection.items():
            channels = synapses.source_layout(graph.population(name).projections[index].source_shape)[0]
            assert sorted(ranges)[0][0] == 0 and sorted(ranges)[-1][1] == channels
            assert all(a[1] == b[0] for a, b in zip(sorted(ranges), sorted(ranges)[1:]))
        assert len(splits[name]) > 1


def test_a_negative_exponent_rounds_per_group_and_is_reported():
    """Hand-worked: four source neurons (one channel each) spike together into one neuron
    through weights (1, 0, 1, 0), weight exponent −1. Unsplit: acc = 2, a = 2 >> 1 = 1,
    v = 1 << 6 = 64 > vth << 6 = 0: it spikes. Split into channels [0, 2) and [2, 4) (a core
    has 2 input axons): a = (1 >> 1) + (1 >> 1) = 0, v = 0: it does not. The mapper reports
    the join as not bit-exact and ``join_check`` names the projection."""
    z = np.zeros((4, 1, 1), np.int64)
    src = IntPopulation("S", (4, 1, 1), [Projection(INPUT, "conv", np.full((4, 1, 1, 1), 100),
                                                    (1, 1, 1))],
                        dv=z, du=z + 4095, vth=z, bias_mant=z, bias_exp=0, v_scale=1.0)
    one = np.zeros(1, np.int64)
    tgt = IntPopulation("T", (1,), [Projection("S", "dense", np.array([[1, 0, 1, 0]]), (4, 1, 1),
                                               weight_exp=-1)],
                        dv=one, du=one + 4095, vth=one, bias_mant=one, bias_exp=0, v_scale=1.0)
    graph = QGraph(input_shape=(1, 1, 1), populations=[src, tgt], output="T")
    mapping = map_to_cores(graph, derive_chip("loihi", neurons_per_core=4, limits={
        "axons_in_per_core": 2}))
    groups = mapping.placement("T").groups
    assert groups == (split.Group(0, 0, 2), split.Group(0, 2, 4))
    assert mapping.placement("T").join_notes and any("Not bit-exact" in n for n in mapping.notes)
    x = np.ones((1, 2, 1, 1, 1), np.int64)  # every source spikes at both steps
    unsplit = simulate(graph, x, record_spikes=True)
    joined = simulate(split.split_graph(graph, {"T": groups}), x, record_spikes=True)
    assert unsplit.spikes["T"][:, 0, 0].tolist() == [1, 1]
    assert joined.spikes["T"][:, 0, 0].tolist() == [0, 0]
    reasons = split.join_check(tgt, groups)
    assert len(reasons) == 1 and "exponent -1" in reasons[0]


def test_an_optional_split_is_taken_only_if_its_join_is_exact():
    """B's neurons fit a core alone, but its input axons cut its runs short: with e ≥ 0 the
    mapper splits B (fewer cores); with e = −1 a split of a projection into channel groups
    would round per group, so it keeps B unsplit (more cores, exact); a split along
    projections alone (each whole, its own floor as unsplit) stays allowed."""
    for seed, allowed in ((0, 0), (1, 2)):
        graph = wide_net(seed)
        b = graph.population("B")
        chip = small_chip(int(sum(synapses.fan_in(p) for p in b.projections).max()) + 4, 64)
        split_cores = map_to_cores(graph, chip)
        assert len(split_cores.placement("B").dendrites) > 2
        for proj in b.projections:
            proj.weight_exp = -1
        exact = map_to_cores(graph, chip)
        placement = exact.placement("B")
        assert len(placement.dendrites) == allowed and not placement.join_notes
        assert all(g.hi - g.lo == synapses.source_layout(b.projections[g.projection].source_shape)[0]
                   for g in placement.groups)
        assert exact.cores > split_cores.cores


def test_a_partial_that_can_leave_24_bits_is_reported():
    """Σ|W| over a group's taps × 64 ≥ 2^23 (1-bit inputs): the dendrite could wrap."""
    rng = np.random.default_rng(0)
    w = np.full((2, 1100), 127, np.int64)  # 1100 · 127 · 64 = 8,940,800 ≥ 2^23
    pop = IntPopulation("T", (2,), [Projection("S", "dense", w, (1100,))],
                        dv=np.zeros(2, np.int64), du=np.full(2, 4095), vth=rng.integers(1, 5, 2),
                        bias_mant=np.zeros(2, np.int64), bias_exp=0, v_scale=1.0)
    assert split.join_check(pop, (split.Group(0, 0, 550), split.Group(0, 550, 1100))) == []
    reasons = split.join_check(pop, (split.Group(0, 0, 1100),))
    assert len(reasons) == 1 and "2^23" in reasons[0]


# --- the join's events, against a literal per-neuron walk --------------------------------------


def test_the_join_is_counted_per_active_compartment():
    """Per group: synaptic ops on its cores = Σ spikes × synapses of its channels (walked
    synapse by synapse with ``synapses.synapse_list``); per (step, neuron, group) one message
    from the group's core to the soma's when an input arrived (≤ the samples), with its hops;
    one join op at the soma's core; compartments = neurons × (groups + 1)."""
    graph = wide_net(3)
    cap = int(sum(synapses.fan_in(p) for p in graph.population("B").projections).max()) - 5
    mapping = map_to_cores(graph, small_chip(cap))
    x = inputs(graph, 4, 4, 3)
    result = simulate(graph, x, record_spikes=True)
    events = count_events(graph, mapping, result)
    samples = result.samples
    for name in splits_of(mapping):
        pop, placement = graph.population(name), mapping.placement(name)
        n = neuron_count(pop)
        assert placement.compartments == n * (1 + len(placement.dendrites))
        ops = np.zeros(mapping.cores, np.int64)
        messages_out = np.zeros(mapping.cores, np.int64)
        messages_in = np.zeros(mapping.cores, np.int64)
        hops = np.zeros((mapping.cores, 2), np.int64)
        soma_core = np.repeat(placement.cores, placement.neurons_per_core)
        for group in placement.dendrites:
            proj = pop.projections[group.projection]
            rows, cols, _ = synapses.synapse_list(proj)
            channels, positions = synapses.source_layout(proj.source_shape)
            mine = (cols // positions >= group.channels[0]) & (cols // positions < group.channels[1])
            spikes = result.spikes[proj.source].reshape(result.timesteps, samples, -1)
            core = np.repeat(group.cores, group.neurons_per_core)
            for t in range(result.timesteps):
                arrived = np.zeros((samples, n), np.int64)
                for s in range(samples):
                    np.add.at(arrived[s], rows[mine], spikes[t, s, cols[mine]])
                np.add.at(ops, core, arrived.sum(axis=0))
                np.add.at(messages_out, core, np.minimum(samples, arrived.sum(axis=0)))
                np.add.at(messages_in, soma_core, np.minimum(samples, arrived.sum(axis=0)))
                for j in np.flatnonzero(arrived.sum(axis=0)):
                    hops[core[j]] += np.minimum(samples, arrived[:, j].sum()) * \
                        np.asarray(mapping.hops(int(core[j]), int(soma_core[j])))
        groups_cores = [c for d in placement.dendrites for c in d.cores]
        np.testing.assert_array_equal(events.counts["synaptic_ops"].sum(axis=0)[groups_cores],
                                      ops[groups_cores])
        np.testing.assert_array_equal(events.counts["messages_out"].sum(axis=0)[groups_cores],
                                      messages_out[groups_cores])
        np.testing.assert_array_equal(events.counts["join_ops"].sum(axis=0)[list(placement.cores)],
                                      messages_in[list(placement.cores)])
        np.testing.assert_array_equal(events.counts["hops_east_west"].sum(axis=0)[groups_cores],
                                      hops[groups_cores, 0])
        np.testing.assert_array_equal(events.counts["hops_north_south"].sum(axis=0)[groups_cores],
                                      hops[groups_cores, 1])
        updates = events.counts["updates_active"] + events.counts["updates_inactive"]
        assert int(updates[:, groups_cores].sum()) == samples * result.timesteps * n * len(
            placement.dendrites)
    energy = price_energy(events, small_chip(cap))
    layer = energy.layer("B")
    assert layer.join_ops > 0 and layer.compartments > layer.neurons
    assert layer.events["synaptic_op"] == layer.synaptic_ops + layer.join_ops


# --- a full-width ResNet-19 stage ----------------------------------------------------------------


def resnet19_stage3(seed: int = 0) -> QGraph:
    """ResNet-19's third stage at full width (two basic blocks of 512 channels on 8 × 8, the
    first strided with a 1×1 projection shortcut), fed by a 256-channel 16 × 16 population
    that stands for stage 2's output. Its 3×3 convolutions take 3·3·512 = 4608 inputs per
    neuron, more than Loihi's 4096 input axons."""
    rng = np.random.default_rng(seed)

    def conv(source, shape, c_out, k, stride=1):
        return Projection(source, "conv", rng.integers(-8, 9, (c_out, shape[0], k, k)), shape,
                          stride=stride, padding=k // 2)

    s2 = population(rng, "s2", (256, 16, 16), [conv(INPUT, (8, 16, 16), 256, 1)], (4, 12))
    b1a = population(rng, "s3b1a", (512, 8, 8), [conv("s2", s2.shape, 512, 3, 2)], (100, 160))
    b1 = population(rng, "s3b1", (512, 8, 8), [conv("s3b1a", b1a.shape, 512, 3),
                                                 conv("s2", s2.shape, 512, 1, 2)], (100, 160))
    b2a = population(rng, "s3b2a", (512, 8, 8), [conv("s3b1", b1.shape, 512, 3)], (100, 160))
    b2 = population(rng, "s3b2", (512, 8, 8), [conv("s3b2a", b2a.shape, 512, 3),
                                                 conv("s3b1", b1.shape, 512, 1)], (100, 160))
    return QGraph(input_shape=(8, 16, 16), populations=[s2, b1a, b1, b2a, b2], output="s3b2")


def stage_splits(graph: QGraph) -> dict[str, tuple[split.Group, ...]]:
    """The coarsest split under Loihi's 4096 input axons (``split.channel_groups``) of every
    population whose neurons exceed it; the mapper's own choice is checked to be a split too."""
    cap = int(load_chip("loihi").limits["axons_in_per_core"])
    return {pop.name: split.channel_groups(pop, cap) for pop in graph.populations
            if int(sum(synapses.fan_in(p) for p in pop.projections).max()) > cap}


def test_a_resnet19_stage_splits_on_loihi_and_spikes_as_unsplit():
    graph = resnet19_stage3()
    mapping = map_to_cores(graph, load_chip("loihi"))
    splits = stage_splits(graph)
    assert sorted(splits) == ["s3b1", "s3b2", "s3b2a"]
    for name in splits:
        placement = mapping.placement(name)
        assert placement.dendrites and not placement.join_notes
        assert not split.join_check(graph.population(name), splits[name])
    assert max(u.axons_in for u in mapping.core_usage) <= 4096
    x = np.random.default_rng(1).integers(0, 2, (1, 3, *graph.input_shape))
    unsplit = simulate(graph, x, record_spikes=True)
    joined = simulate(split.split_graph(graph, splits), x, record_spikes=True)
    for pop in graph.populations:
        rate = unsplit.spikes[pop.name].mean()
        assert 0.01 < rate < 0.9, (pop.name, rate)  # every layer active, none saturated
    assert_same_spikes(joined, unsplit, graph, min_spikes=1000)
