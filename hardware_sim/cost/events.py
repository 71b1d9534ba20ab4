"""Every costed event of a run: what each core did in each timestep (``count_events``), and
the engine's per-population counters recounted from recorded spikes (``count_activity``).

``count_events`` is the one counter of the hardware model (DESIGN §5): the energy model
(``energy.py``) prices its counts and the cycle model (``cycle.py``) times the same counts.
From a run of a QGraph (``engine.simulate``: ``spikes_per_step`` and
``synaptic_events_per_step``, per population, (T, *shape) summed over samples), its
``Mapping`` and, optionally, the run's integer inputs, it counts for step t and core c
(the neurons the mapping put on c), as run totals over all samples:

================  ===========================================================
counter           count in step t on core c
================  ===========================================================
synaptic_ops      1-bit spikes arriving at c's neurons × their synapses (Σ of
                  ``synaptic_events_per_step`` over c's neurons)
graded_input_ops  the same for non-zero graded input values (the populations
                  fed by the network input). A population fed by both splits
                  its arrivals: the spike-borne part is recounted from the
                  sources' ``spikes_per_step`` through the synapses (zero-delay
                  timing), the rest is graded; the split must sum to the run's
                  counters (else ``ValueError``)
updates_active    neurons of c that received synaptic input, spiked, or have a
                  non-zero bias (rule ``"input_or_spike"``). The run records
                  inputs and spikes per (step, neuron) summed over samples, so
                  the active samples of a (step, neuron) are bounded by
                  min(samples, inputs + spikes): exact for one sample, an upper
                  bound of the rule otherwise. (SANA-FE also keeps a neuron with
                  non-zero potential active; the run does not record
                  potentials, so the rule can undercount there.)
updates_inactive  the rest of c's neuron updates: samples × c's neurons − active
spikes            c's neurons that fired
messages_out      c's spikes × destination cores: one message per spike to every
                  core that holds one of its targets (``Mapping.destination_positions``:
                  exact for dense and conv projections; a hand-built Mapping
                  without fan-in sets falls back to every core of every target
                  population). Spikes of the output population leave the chip
                  and send no message
messages_in       the messages arriving at c; given the run's ``inputs``, also
                  every non-zero graded input value reaching c's neurons (it
                  has no sender on the mesh: no message out, no hops)
hops_east_west    per message c sends, |Δx| between its tile and the
hops_north_south  destination's, and |Δy| (dimension-order routing on the mesh)
join_ops          the partial sums of a split population's compartment groups
                  arriving at c's somas (one per message of the join, below)
================  ===========================================================

A population the mapper split into compartment groups (``split.py``) is counted on all its
cores: each group's cores take the synaptic ops of the group's synapses (the spikes of its
channels of the source, recounted through its sub-projection: ``synapses.arrivals``; they
must sum to the run's arrivals, else ``ValueError``) and one update per compartment per
sample and step (active when an input arrived, the rule above); every active compartment
sends its partial to its soma's core: one message (and its hops) from the group's core, one
message in and one join op at the soma's core. The somas' cores take the population's
updates, spikes and outgoing messages as an unsplit population's cores do. The run's own
counters check the somas' updates and, over all the population's cores, its spikes and
synaptic ops.

and per step the routes (Δx, Δy) its messages took, from which the cycle model takes
the longest. Messages, hops and routes are counted per (sending core, destination core)
from the projections' geometry (``mapping.spike_traffic``), never per spike, so the count
costs the same for ten samples or ten thousand (the run's per-step sums). The counts
cross-check with the run's own counters: spikes, synaptic ops and graded input ops summed
over a population's cores equal ``result.counts``, and its updates equal
``neuron_updates``.

Active updates (``EventCounts.updates``), the two modes the energy model offers:
``"input_or_spike"`` is the rule above; ``"all"`` counts every update active, an upper
bound (then ``updates_inactive`` is zero).

``count_activity``: backends that run elsewhere (Lava in its own environment, norse in
float) record spikes and report them in hardware_sim's terms with this one function, so
every backend's RESULT.json counts what ``engine.simulate`` counts while it runs
(zero-delay timing). numpy only: this module runs in the Lava environment, which has no
torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hardware_sim.cost import split
from hardware_sim.cost.mapping import Destinations, Mapping, PopulationPlacement, spike_traffic
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import (
    INPUT,
    IntPopulation,
    Projection,
    QGraph,
    neuron_count,
)
from hardware_sim.results import PopulationCounts

if TYPE_CHECKING:
    from hardware_sim.results import SimulationResult

COUNTERS = ("synaptic_ops", "graded_input_ops", "updates_active", "updates_inactive", "spikes",
            "messages_out", "messages_in", "hops_east_west", "hops_north_south", "join_ops")
"""What ``count_events`` counts per (step, core) (module docstring)."""

ACTIVE_UPDATES = ("all", "input_or_spike")
"""How neuron updates split into active and inactive (module docstring)."""


@dataclass
class EventCounts:
    """Every costed event of one run, per (step, core), run totals over all samples."""

    samples: int
    timesteps: int
    mapping: Mapping
    counts: dict[str, np.ndarray]
    """counter (``COUNTERS``) → (T, cores) int64; updates split by ``"input_or_spike"``."""
    routes: dict[tuple[int, int], np.ndarray]
    """(Δx, Δy) tile hops of a route → (T,) bool: a message of step t took it."""
    input_messages: bool = False
    """Whether ``messages_in`` counts the graded inputs (the run's inputs were given)."""

    @property
    def cores(self) -> int:
        return self.mapping.cores

    @property
    def core_population(self) -> list[str]:
        """The population each core holds."""
        owner = [""] * self.cores
        for placement in self.mapping.populations:
            for core in placement.all_cores:
                owner[core] = placement.name
        return owner

    def updates(self, active_updates: str = "input_or_spike") -> tuple[np.ndarray, np.ndarray]:
        """(active, inactive) neuron updates, each (T, cores), under ``active_updates``."""
        check_active_updates(active_updates)
        active, inactive = self.counts["updates_active"], self.counts["updates_inactive"]
        if active_updates == "all":
            return active + inactive, np.zeros_like(inactive)
        return active, inactive

    def population_totals(self, name: str, active_updates: str = "input_or_spike") -> dict[str, int]:
        """Every counter summed over the steps and over ``name``'s cores (its own sends,
        its own arrivals; a split population's groups included), with the updates split under
        ``active_updates``."""
        cores = list(self.mapping.placement(name).all_cores)
        return {k: int(v[:, cores].sum()) for k, v in self._counts(active_updates).items()}

    def totals(self, active_updates: str = "input_or_spike") -> dict[str, int]:
        """Every counter summed over the steps and all cores."""
        return {k: int(v.sum()) for k, v in self._counts(active_updates).items()}

    def _counts(self, active_updates: str) -> dict[str, np.ndarray]:
        active, inactive = self.updates(active_updates)
        return {**self.counts, "updates_active": active, "updates_inactive": inactive}

    def longest_route_ns(self, hop_ns: tuple[float, float]) -> np.ndarray:
        """(T,) the longest route a message of each step takes, each hop taking
        ``hop_ns`` = (east-west ns, north-south ns); 0 in a step without messages."""
        longest = np.zeros(self.timesteps)
        for (dx, dy), taken in self.routes.items():
            longest = np.maximum(longest, np.where(taken, dx * hop_ns[0] + dy * hop_ns[1], 0.0))
        return longest


def count_events(graph: QGraph, mapping: Mapping, result: SimulationResult, *,
                 inputs: np.ndarray | None = None) -> EventCounts:
    """Count every costed event of ``result`` (a run of ``graph``) per (step, core) of
    ``mapping`` (module docstring). ``inputs``: the run's integer inputs (N, T, *input_shape);
    when given, their non-zero values are messages into the cores they reach.

    The result must carry ``spikes_per_step`` and ``synaptic_events_per_step`` for every
    population, as ``simulate`` fills them. ``ValueError`` when the result is not a run of
    this graph or its per-step records do not sum to its counters."""
    samples, steps = result.samples, result.timesteps
    if samples < 1:
        raise ValueError("the run has no samples: nothing to count per inference")
    names = [p.name for p in graph.populations]
    if [c.name for c in result.counts] != names:
        raise ValueError(f"result counts {[c.name for c in result.counts]} do not match the "
                         f"graph's populations {names}")
    if [p.name for p in mapping.populations] != names:
        raise ValueError(f"the mapping's populations {[p.name for p in mapping.populations]} "
                         f"are not the graph's {names}")
    placed = sorted(c for p in mapping.populations for c in p.all_cores)
    if placed != list(range(mapping.cores)):
        raise ValueError("the mapping's populations share cores or leave gaps: the counter "
                         "needs every core to hold one population")
    counts = {k: np.zeros((steps, mapping.cores), np.int64) for k in COUNTERS}
    routes: dict[tuple[int, int], np.ndarray] = {}
    for pop, run_counts in zip(graph.populations, result.counts):
        placement = mapping.placement(pop.name)
        cores = list(placement.cores)
        spikes = _per_step(result, "spikes_per_step", pop.name)
        arrived = _per_step(result, "synaptic_events_per_step", pop.name)
        graded = _graded_part(pop, result, arrived)
        on_cores = placement.per_step_on_cores
        if placement.dendrites:
            _count_groups(pop, placement, mapping, result, arrived, counts, routes)
        else:
            counts["synaptic_ops"][:, cores] += on_cores(arrived - graded)
            counts["graded_input_ops"][:, cores] += on_cores(graded)
        active = np.minimum(samples, arrived + spikes)
        active = np.where(np.asarray(pop.bias).reshape(1, -1) != 0, samples, active)
        sizes = np.asarray(placement.neurons_per_core, np.int64)
        counts["updates_active"][:, cores] += on_cores(active)
        counts["updates_inactive"][:, cores] += samples * sizes[None] - on_cores(active)
        counts["spikes"][:, cores] += on_cores(spikes)
        traffic = spike_traffic(mapping, pop.name, spikes, _destinations(graph, mapping, pop.name))
        counts["messages_out"][:, cores] += traffic.messages_out
        counts["hops_east_west"][:, cores] += traffic.hops_east_west
        counts["hops_north_south"][:, cores] += traffic.hops_north_south
        for dest, received in traffic.messages_in.items():
            counts["messages_in"][:, dest] += received
        for route, taken in traffic.routes.items():
            routes[route] = routes[route] | taken if route in routes else taken
        _check_against_run(pop.name, counts, list(placement.all_cores), cores, run_counts)
    if inputs is not None:
        inputs = np.asarray(inputs)
        if inputs.shape[:2] != (samples, steps):
            raise ValueError(f"inputs of shape {inputs.shape} are not the run's "
                             f"({samples} samples, {steps} steps)")
        dest = _destinations(graph, mapping, INPUT)
        if dest is not None and len(dest.cores):
            channels, positions = dest.channels, dest.positions
            nonzero = np.zeros((steps, channels * positions), np.int64)
            for start in range(0, samples, 256):  # bounded temporaries
                nonzero += (inputs[start:start + 256] != 0).sum(axis=0).reshape(steps, -1)
            nonzero = nonzero.reshape(steps, channels, positions)
            for lo, hi, cores, masks in dest.blocks:
                per_position = nonzero[:, lo:hi].sum(axis=1)
                counts["messages_in"][:, cores] += per_position @ masks.T.astype(np.int64)
    return EventCounts(samples=samples, timesteps=steps, mapping=mapping, counts=counts,
                       routes=routes, input_messages=inputs is not None)


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
            sources = int(np.prod(proj.source_shape))
            # active sources per step, summed over samples: (T, sources)
            active = activity[proj.source].reshape(timesteps, n, sources).sum(axis=1, dtype=np.int64)
            active = _delayed(active, proj.delay)
            ops, through = _arriving(proj, active, targets)
            if proj.source == INPUT:
                count.input_macs += ops
            else:
                count.synaptic_ops += ops
            arriving += through
        count.spikes = 0 if pop.readout else int(spikes[pop.name].sum())
        count.neuron_updates = count.neurons * n * timesteps
        counts.append(count)
        per_step[pop.name] = spikes[pop.name].sum(axis=1).astype(np.int64)
        events[pop.name] = arriving.reshape(timesteps, *pop.shape)
    return counts, per_step, events


def check_active_updates(active_updates: str) -> None:
    """ValueError unless ``active_updates`` is one of ``ACTIVE_UPDATES``."""
    if active_updates not in ACTIVE_UPDATES:
        raise ValueError(f"active_updates must be one of {ACTIVE_UPDATES}, got {active_updates!r}")


def _per_step(result: SimulationResult, attr: str, name: str) -> np.ndarray:
    """(T, neurons) int64 of one population's per-step record."""
    per_step = getattr(result, attr)
    if name not in per_step:
        raise ValueError(f"the run has no {attr} for population {name!r}: run engine.simulate")
    arr = np.asarray(per_step[name], dtype=np.int64)
    return arr.reshape(arr.shape[0], -1)


def _graded_part(pop: IntPopulation, result: SimulationResult, arrived: np.ndarray) -> np.ndarray:
    """(T, neurons): the arrivals that are graded input values (module docstring)."""
    fed_by_input = [p.source == INPUT for p in pop.projections]
    if not any(fed_by_input):
        return np.zeros_like(arrived)
    if all(fed_by_input):
        return arrived
    spike_borne = np.zeros_like(arrived)
    for proj in pop.projections:
        if proj.source != INPUT:
            active = _per_step(result, "spikes_per_step", proj.source)
            spike_borne += _arriving(proj, _delayed(active, proj.delay), arrived.shape[1])[1]
    if (spike_borne > arrived).any():
        raise ValueError(f"population {pop.name!r} takes graded input and spikes: the spikes of "
                         "its sources, recounted in zero-delay timing, do not fit its arrivals "
                         "(a run in another timing?)")
    return arrived - spike_borne


def _check_against_run(name: str, counts: dict[str, np.ndarray], cores: list[int],
                       somas: list[int], run: PopulationCounts) -> None:
    """The counts on ``name``'s cores (its neurons' updates: on ``somas``) against the run's
    own counters of the population."""
    mine = {k: int(counts[k][:, cores].sum()) for k in COUNTERS}
    updates = int(counts["updates_active"][:, somas].sum() + counts["updates_inactive"][:, somas].sum())
    pairs = {"spikes": (mine["spikes"], run.spikes),
             "synaptic_ops": (mine["synaptic_ops"], run.synaptic_ops),
             "input_macs": (mine["graded_input_ops"], run.input_macs),
             "neuron_updates": (updates, run.neuron_updates)}
    for key, (counted, run_says) in pairs.items():
        if counted != run_says:
            raise ValueError(f"population {name!r}: the run's per-step records sum to "
                             f"{counted} {key}, its counters say {run_says}")


def _count_groups(pop: IntPopulation, placement: PopulationPlacement, mapping: Mapping,
                  result: SimulationResult, arrived: np.ndarray, counts: dict[str, np.ndarray],
                  routes: dict[tuple[int, int], np.ndarray]) -> None:
    """A split population's groups and their join (module docstring), added to ``counts`` and
    ``routes``; ``arrived``: the run's (T, neurons) arrivals, which the groups' must sum to."""
    samples = result.samples
    steps = arrived.shape[0]
    somas = np.asarray(placement.cores, np.int64)
    soma_of = placement.core_of_neuron()
    total = np.zeros_like(arrived)
    for group in placement.dendrites:
        proj = pop.projections[group.projection]
        sub = split.sub_projection(proj, *group.channels)
        channels, positions = synapses.source_layout(proj.source_shape)
        source = _per_step(result, "spikes_per_step", proj.source).reshape(steps, channels, positions)
        part = _delayed(source[:, group.channels[0]:group.channels[1]].reshape(steps, -1), proj.delay)
        reached = _arriving(sub, part, arrived.shape[1])[1]
        total += reached
        cores = np.asarray(group.cores, np.int64)
        active = np.minimum(samples, reached)
        sizes = np.asarray(group.neurons_per_core, np.int64)
        counts["synaptic_ops"][:, cores] += group.per_step_on_cores(reached)
        counts["updates_active"][:, cores] += group.per_step_on_cores(active)
        counts["updates_inactive"][:, cores] += samples * sizes[None] - group.per_step_on_cores(active)
        # the join: each active compartment's partial, from its group's core to its soma's
        pair = group.core_of_neuron() * len(somas) + soma_of
        pairs, which = np.unique(pair, return_inverse=True)
        sent = np.stack([np.bincount(which.reshape(-1), weights=active[t], minlength=len(pairs))
                         for t in range(steps)]).astype(np.int64)  # float64 sums: exact < 2^53
        src, dst = cores[pairs // len(somas)], somas[pairs % len(somas)]
        hops = np.abs(mapping.positions(src) - mapping.positions(dst))
        for key, per_pair in (("messages_out", sent), ("hops_east_west", sent * hops[:, 0]),
                              ("hops_north_south", sent * hops[:, 1])):
            np.add.at(counts[key].T, src, per_pair.T)
        np.add.at(counts["messages_in"].T, dst, sent.T)
        np.add.at(counts["join_ops"].T, dst, sent.T)
        kinds, route_of = np.unique(hops, axis=0, return_inverse=True)
        for i, (dx, dy) in enumerate(kinds.tolist()):
            taken = (sent[:, route_of.reshape(-1) == i] > 0).any(axis=1)
            routes[(dx, dy)] = routes[(dx, dy)] | taken if (dx, dy) in routes else taken
    if not np.array_equal(total, arrived):
        raise ValueError(f"population {pop.name!r}: its compartment groups' arrivals do not sum "
                         "to the run's (a run in another timing?)")


def _destinations(graph: QGraph, mapping: Mapping, source: str) -> Destinations | None:
    """The cores ``source``'s values go to, with the source positions (every channel alike)
    that reach each: ``Mapping.destination_positions``, or for a hand-built Mapping without
    fan-in sets every core of every population ``source`` projects to, reached by all its
    neurons."""
    if mapping.fan_in:
        return mapping.destination_positions(source)
    shape = graph.input_shape if source == INPUT else graph.population(source).shape
    channels, positions = synapses.source_layout(tuple(shape))
    cores = sorted({c for pop in graph.populations if any(p.source == source for p in pop.projections)
                    for c in mapping.placement(pop.name).cores})
    return Destinations.whole(np.asarray(cores, np.int64), np.ones((len(cores), positions), bool),
                              channels)


def _delayed(active: np.ndarray, delay: int) -> np.ndarray:
    """(T, sources) activity as it arrives ``delay`` steps later in the same sample."""
    if not delay:
        return active
    return np.concatenate([np.zeros_like(active[:delay]), active[:-delay]])[:active.shape[0]]


def _arriving(proj: Projection, active: np.ndarray, targets: int) -> tuple[int, np.ndarray]:
    """(events, (T, targets) events arriving at each target) of (T, sources) active sources
    through ``proj``'s synapses (``synapses.fan_out`` and ``synapses.arrivals``)."""
    ops = int((active @ synapses.fan_out(proj).reshape(-1)).sum())
    arriving = synapses.arrivals(proj, active.reshape(active.shape[0], *proj.source_shape))
    return ops, arriving.reshape(active.shape[0], targets)


__all__ = ["ACTIVE_UPDATES", "COUNTERS", "EventCounts", "check_active_updates", "count_activity",
           "count_events"]
