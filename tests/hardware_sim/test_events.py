"""count_events, the one counter behind energy and latency, against events counted by hand
on a tiny mapped net (every number below is worked out in the comments, not taken from a
run of the code)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware_sim.chips import derive_chip
from hardware_sim.cost.cycle import time_events
from hardware_sim.cost.energy import price_energy
from hardware_sim.cost.events import count_events
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph

S, T = 2, 3  # samples, timesteps


def _pop(name, projections, n, bias=0):
    """vth = 0, du = 4095, dv = 0: a neuron spikes in exactly the steps in which its input
    current is positive (a small negative bias never outweighs one input) and is reset."""
    z = np.zeros(n, np.int64)
    return IntPopulation(name, (n,), projections, dv=z, du=z + 4095, vth=z, bias_mant=z + bias,
                         bias_exp=0, v_scale=1.0)


def hand_net():
    """input(2) → A(3) → B(2) → C(1), and input → C: C mixes graded input and spikes.

    A's weights [[1, 0], [0, 1], [1, 1]]: A0 fires on input 0, A1 on input 1, A2 on either;
    every input value still reaches every A neuron (dense: one synapse each, zero weight or
    not). B and C have all-ones weights; C has a bias (-1), so it is active in every step.
    """
    return QGraph(input_shape=(2,), populations=[
        _pop("A", [Projection(INPUT, "dense", np.array([[1, 0], [0, 1], [1, 1]]), (2,))], 3),
        _pop("B", [Projection("A", "dense", np.ones((2, 3), np.int64), (3,))], 2),
        _pop("C", [Projection(INPUT, "dense", np.ones((1, 2), np.int64), (2,)),
                   Projection("B", "dense", np.ones((1, 2), np.int64), (2,))], 1, bias=-1),
    ], output="C")


def hand_inputs():
    x = np.zeros((S, T, 2), np.int64)
    x[0, 0] = [1, 0]  # sample 0: input 0 in step 0, input 1 in step 2
    x[0, 2] = [0, 1]
    x[1, 0] = [1, 1]  # sample 1: both inputs in step 0, then nothing
    return x


def hand_chip():
    # 2 neurons per core, 1 core per tile, 2 x 2 tiles:
    #   core 0 = A0, A1 at (0, 0); core 1 = A2 at (1, 0); core 2 = B at (0, 1); core 3 = C at (1, 1)
    return derive_chip("loihi", neurons_per_core=2, cores_per_tile=1, tiles_x=2, tiles_y=2,
                       limits={})


@pytest.fixture(scope="module")
def counted():
    graph, inputs, chip = hand_net(), hand_inputs(), hand_chip()
    mapping = map_to_cores(graph, chip)
    result = simulate(graph, inputs)
    return graph, inputs, chip, mapping, result


def test_the_hand_net_fires_as_worked_out(counted):
    graph, _, _, mapping, result = counted
    assert [mapping.placement(p).cores for p in "ABC"] == [(0, 1), (2,), (3,)]
    assert [mapping.position(c) for c in range(4)] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    # per step, summed over samples
    np.testing.assert_array_equal(result.spikes_per_step["A"], [[2, 1, 2], [0, 0, 0], [0, 1, 1]])
    np.testing.assert_array_equal(result.spikes_per_step["B"], [[2, 2], [0, 0], [1, 1]])
    np.testing.assert_array_equal(result.spikes_per_step["C"], [[2], [0], [1]])


def test_every_event_per_step_and_core_by_hand(counted):
    graph, inputs, _, mapping, result = counted
    events = count_events(graph, mapping, result)
    c = events.counts
    # Graded input ops: non-zero inputs per step over both samples: 1 + 2, 0, 1 + 0 = [3, 0, 1];
    # each reaches every A neuron (core 0: 2 neurons, core 1: 1) and C.
    # Synaptic ops: B neurons each get every A spike [5, 0, 2]; C gets B's spikes [4, 0, 2].
    np.testing.assert_array_equal(c["graded_input_ops"], [[6, 3, 0, 3], [0, 0, 0, 0], [2, 1, 0, 1]])
    np.testing.assert_array_equal(c["synaptic_ops"], [[0, 0, 10, 4], [0, 0, 0, 0], [0, 0, 4, 2]])
    np.testing.assert_array_equal(c["spikes"], [[3, 2, 4, 2], [0, 0, 0, 0], [1, 1, 2, 1]])
    # Active: min(samples, arrivals + spikes) per neuron, all samples where there is a bias.
    #   A step 0: min(2, 3 + ·) = 2 each; step 2: A0 min(2, 1 + 0) = 1, A1 and A2 min(2, 1 + 1) = 2
    #   (A1 really was active in one sample only: the rule's upper bound for several samples)
    #   B step 0: min(2, 5 + 2) = 2 each, step 2: min(2, 2 + 1) = 2 each; C: bias, 2 every step
    np.testing.assert_array_equal(c["updates_active"], [[4, 2, 4, 2], [0, 0, 0, 2], [3, 2, 4, 2]])
    np.testing.assert_array_equal(c["updates_inactive"], [[0, 0, 0, 0], [4, 2, 4, 0], [1, 0, 0, 0]])
    # Messages: A's spikes go to B's core 2, B's to C's core 3; C's leave the chip.
    np.testing.assert_array_equal(c["messages_out"], [[3, 2, 4, 0], [0, 0, 0, 0], [1, 1, 2, 0]])
    np.testing.assert_array_equal(c["messages_in"], [[0, 0, 5, 4], [0, 0, 0, 0], [0, 0, 2, 2]])
    # Hops: core 0 → 2 is (0, 1), core 1 → 2 is (1, 1), core 2 → 3 is (1, 0).
    np.testing.assert_array_equal(c["hops_east_west"], [[0, 2, 4, 0], [0, 0, 0, 0], [0, 1, 2, 0]])
    np.testing.assert_array_equal(c["hops_north_south"], [[3, 2, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]])
    # Routes taken: all three in steps 0 and 2, none in step 1; the longest with east-west
    # hops of 10 ns and north-south of 1 ns is (1, 1) = 11 ns, with 1 and 10 ns (1, 1) again.
    assert {r: t.tolist() for r, t in events.routes.items()} == {
        (0, 1): [True, False, True], (1, 1): [True, False, True], (1, 0): [True, False, True]}
    assert events.longest_route_ns((10.0, 1.0)).tolist() == [11.0, 0.0, 11.0]
    assert events.longest_route_ns((1.0, 10.0)).tolist() == [11.0, 0.0, 11.0]
    # C mixes both: 4 graded input ops and 6 synaptic ops, as the run's own counters say
    totals = events.population_totals("C")
    assert (totals["graded_input_ops"], totals["synaptic_ops"]) == (4, 6)
    assert (result.count("C").input_macs, result.count("C").synaptic_ops) == (4, 6)


def test_the_run_inputs_are_messages_in_and_every_update_active(counted):
    graph, inputs, _, mapping, result = counted
    with_inputs = count_events(graph, mapping, result, inputs=inputs)
    extra = with_inputs.counts["messages_in"] - count_events(graph, mapping, result).counts["messages_in"]
    # the non-zero inputs [3, 0, 1] reach A's cores 0 and 1 and C's core 3, not B's core 2
    np.testing.assert_array_equal(extra, [[3, 3, 0, 3], [0, 0, 0, 0], [1, 1, 0, 1]])
    assert not (with_inputs.counts["messages_out"] - count_events(graph, mapping, result)
                .counts["messages_out"]).any()
    active, inactive = with_inputs.updates("all")
    np.testing.assert_array_equal(active, [[4, 2, 4, 2]] * T)  # samples × neurons on each core
    assert not inactive.any()
    with pytest.raises(ValueError, match="active_updates"):
        with_inputs.updates("some")


def test_energy_and_time_take_the_same_counts(counted):
    graph, _, chip, mapping, result = counted
    events = count_events(graph, mapping, result)
    energy = price_energy(events, chip, active_updates="input_or_spike")
    a = energy.layer("A")
    # A by hand (above): graded 6 + 0 + 2 + 3 + 0 + 1 = 12, active 4 + 2 + 3 + 2 = 11 of 18,
    # spikes 7, messages 7, hops 3 east-west and 7 north-south
    assert (a.input_macs, a.synaptic_ops, a.neuron_updates_active, a.neuron_updates_inactive,
            a.spikes, a.messages, a.hops_east_west, a.hops_north_south) == (12, 0, 11, 7, 7, 7, 3, 7)
    pj = {e: chip.event_energy_pj(e) for e in ("graded_input_op", "neuron_update_active",
                                               "neuron_update_inactive", "spike", "message",
                                               "hop_east_west", "hop_north_south")}
    assert a.energy_j == pytest.approx(1e-12 * (
        12 * pj["graded_input_op"] + 11 * pj["neuron_update_active"]
        + 7 * pj["neuron_update_inactive"] + 7 * pj["spike"] + 7 * pj["message"]
        + 3 * pj["hop_east_west"] + 7 * pj["hop_north_south"]), rel=1e-12)
    cycle = time_events(events, chip)
    assert cycle.counts is events.counts
    hop_ns = (chip.event_time_ns("hop_east_west"), chip.event_time_ns("hop_north_south"))
    assert cycle.network_ns.tolist() == [sum(hop_ns), 0.0, sum(hop_ns)]  # route (1, 1)
    assert "energy_j_per_inference" not in cycle.to_dict()  # one energy figure: the energy model's


def test_a_mapping_without_fan_in_sets_sends_to_every_target_core(counted):
    graph, inputs, _, mapping, result = counted
    bare = dataclasses.replace(mapping, fan_in={})
    assert bare.destinations("A") == []
    # dense projections reach every core of their targets: the same counts as the fan-in sets
    exact = count_events(graph, mapping, result, inputs=inputs)
    fallback = count_events(graph, bare, result, inputs=inputs)
    for name, values in exact.counts.items():
        np.testing.assert_array_equal(fallback.counts[name], values, err_msg=name)


def test_records_that_do_not_sum_to_the_run_counters_are_refused(counted):
    graph, _, _, mapping, result = counted
    tampered = dataclasses.replace(result, spikes_per_step={
        **result.spikes_per_step, "B": result.spikes_per_step["B"] * 2})
    with pytest.raises(ValueError, match="population 'B'.*spikes"):
        count_events(graph, mapping, tampered)
    with pytest.raises(ValueError, match="do not match"):
        count_events(graph, mapping, dataclasses.replace(result, counts=result.counts[:2]))


# --- spike traffic from the geometry against a per-neuron count ------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_traffic_equals_a_per_neuron_count(seed):
    """Messages out and in, hops and routes per step, counted spike by spike and destination
    by destination (each source neuron's destination cores from the literal definition of
    its targets), equal ``spike_traffic``'s count from the geometry."""
    from hardware_sim.cost.mapping import spike_traffic
    from tests.hardware_sim.test_mapping import _random_conv_net, literal_sources

    rng = np.random.default_rng(seed)
    graph = _random_conv_net(rng)
    chip = derive_chip("loihi", neurons_per_core=int(rng.integers(2, 40)),
                       cores_per_tile=int(rng.integers(1, 3)), tiles_x=3, tiles_y=2, limits={})
    mapping = map_to_cores(graph, chip)
    x = rng.integers(0, 4, (3, 4, *graph.input_shape))
    result = simulate(graph, x)
    for src in ("A", "B"):
        spikes = result.spikes_per_step[src].reshape(4, -1)
        placement = mapping.placement(src)
        owner = np.repeat(placement.cores, placement.neurons_per_core)
        dests: dict[int, set[int]] = {}
        for pop in graph.populations:
            target_owner = np.repeat(mapping.placement(pop.name).cores,
                                     mapping.placement(pop.name).neurons_per_core)
            for proj in pop.projections:
                if proj.source == src:
                    for t in range(int(np.prod(pop.shape))):
                        for j in literal_sources(proj, t):
                            dests.setdefault(j, set()).add(int(target_owner[t]))
        n_src = len(placement.cores)
        out = np.zeros((4, n_src), np.int64)
        ew, ns = np.zeros_like(out), np.zeros_like(out)
        received: dict[int, np.ndarray] = {}
        routes: dict[tuple[int, int], np.ndarray] = {}
        for j, cores in dests.items():
            c = int(owner[j])
            for d in cores:
                dx, dy = mapping.hops(c, d)
                out[:, c - placement.cores[0]] += spikes[:, j]
                ew[:, c - placement.cores[0]] += spikes[:, j] * dx
                ns[:, c - placement.cores[0]] += spikes[:, j] * dy
                received[d] = received.get(d, 0) + spikes[:, j]
        for c in placement.cores:  # every route between a sending and a receiving core
            for d in sorted({d for cores in dests.values() for d in cores}):
                sent = np.zeros(4, bool)
                for j in np.flatnonzero(owner == c):
                    if d in dests.get(int(j), ()):
                        sent |= spikes[:, j] > 0
                route = mapping.hops(c, d)
                routes[route] = routes.get(route, np.zeros(4, bool)) | sent
        traffic = spike_traffic(mapping, src, result.spikes_per_step[src])
        np.testing.assert_array_equal(traffic.messages_out, out)
        np.testing.assert_array_equal(traffic.hops_east_west, ew)
        np.testing.assert_array_equal(traffic.hops_north_south, ns)
        assert set(traffic.messages_in) == set(received)
        for d, got in traffic.messages_in.items():
            np.testing.assert_array_equal(got, received[d])
        assert set(traffic.routes) == set(routes)
        for route, taken in traffic.routes.items():
            np.testing.assert_array_equal(taken, routes[route], err_msg=str(route))
