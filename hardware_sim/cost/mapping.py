"""Placing a network's populations on the cores, tiles and chips of a chip profile.

Partition. Population p (in graph order) takes cores of its own, numbered on from
the previous population's last core. Its neurons fill them in flat (C, H, W) / (N,)
order: a core takes the next run of neurons, as long as the run stays within every
per-core limit of the profile (a limit the profile leaves out is not checked):

- ``neurons_per_core``;
- ``limits.synaptic_memory_bits_per_core``: Σ over the run's neurons of
  fan-in × the projection's weight precision. The fan-in counts source neurons
  (a sum-pooled input of kernel k reaches a target through k² synapses); the
  weight precision is the fewest signed bits that hold the projection's weights
  (1 to 8: Loihi stores 1- to 8-bit weights). Shared conv kernels are expanded:
  every (source neuron, target neuron) pair is one stored synapse;
- ``limits.axons_in_per_core``: the distinct source neurons (the network input
  included) that reach any neuron of the run.

Then ``limits.axons_out_per_core`` is checked on the placed cores: a core needs one
output axon per (neuron, destination core) pair, the destination cores of a neuron
being the cores that hold one of its targets (exact for dense and conv projections).

Everything is computed per population from the projections' geometry
(``synapses.reached_positions``: which source positions, every channel alike, reach a run
of targets), for all of a population's cores at once, never per neuron: the cost grows with
neurons and cores, not with synapses.

A run that cannot hold even one neuron (one neuron's fan-in alone exceeds the memory
or the axons of a core), a core over its output axons, or more chips than
``max_chips``: ``MappingError``, naming the population and the limit broken.

Placement. Core c sits on tile c // cores_per_tile and chip c // cores_per_chip; a
chip's tiles fill its tiles_x × tiles_y mesh in row-major order (x = east, y = south),
and further chips continue the mesh to the east (chip k's tile (x, y) is at global
(k·tiles_x + x, y)). A network that does not fit one chip is mapped across chips,
and ``notes`` says so. Small populations do not share cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hardware_sim.chips import ChipProfile
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, Projection, QGraph, neuron_count


class MappingError(ValueError):
    """A network that does not fit the chip; the message names the population and the limit."""


@dataclass(frozen=True)
class PopulationPlacement:
    """One population's cores (global core numbers) and how many neurons each holds."""

    name: str
    neurons: int
    cores: tuple[int, ...]
    neurons_per_core: tuple[int, ...]

    def neurons_on_cores(self, per_neuron: np.ndarray) -> np.ndarray:
        """Sum a per-neuron quantity (any shape, flattened in C order) over each core."""
        flat = np.asarray(per_neuron).reshape(-1)
        if flat.size != self.neurons:
            raise ValueError(
                f"population {self.name!r}: expected {self.neurons} values, got {flat.size}"
            )
        bounds = np.cumsum((0, *self.neurons_per_core))
        return np.add.reduceat(flat, bounds[:-1]) if flat.size else np.zeros(0, flat.dtype)

    def per_step_on_cores(self, per_step: np.ndarray) -> np.ndarray:
        """(T, *shape) per-neuron values → (T, cores): summed over each core's neurons."""
        arr = np.asarray(per_step)
        flat = arr.reshape(arr.shape[0], -1)
        if flat.shape[1] != self.neurons:
            raise ValueError(f"population {self.name!r}: expected (T, {self.neurons}) values, "
                             f"got {arr.shape}")
        bounds = np.cumsum((0, *self.neurons_per_core))
        return np.add.reduceat(flat, bounds[:-1], axis=1)

    @property
    def first_neurons(self) -> tuple[int, ...]:
        """Flat index of the first neuron on each core."""
        return tuple(int(x) for x in np.cumsum((0, *self.neurons_per_core))[:-1])


@dataclass(frozen=True)
class FanIn:
    """Which neurons of ``source`` reach each core of a target population through one
    projection: ``positions[i, p]`` says whether the source's neurons at position p (every
    channel of it: ``synapses.source_layout``) reach a target on the population's i-th core."""

    source: str
    channels: int
    """Source neurons per position (C of a (C, H, W) source, N of an (N,) one)."""
    positions: np.ndarray
    """(cores of the target population, source positions) bool."""

    def neuron_mask(self, index: int) -> np.ndarray:
        """The mask over the source's flat neurons for the population's ``index``-th core."""
        return np.ascontiguousarray(np.broadcast_to(
            self.positions[index], (self.channels, self.positions.shape[1]))).reshape(-1)


@dataclass(frozen=True)
class Destinations:
    """The cores a source's values go to: ``cores`` (D,), and per core the source positions
    (every channel alike) whose neurons reach a target on it, ``positions`` (D, positions)
    bool; projections from the source into one core merged."""

    cores: np.ndarray
    positions: np.ndarray
    channels: int

    def counts(self) -> np.ndarray:
        """Per flat source neuron, the number of destination cores."""
        per_position = self.positions.sum(axis=0, dtype=np.int64) if len(self.cores) else \
            np.zeros(self.positions.shape[1], np.int64)
        return np.tile(per_position, self.channels)


@dataclass(frozen=True)
class CoreUsage:
    """What one core holds and how much of each limit it uses."""

    core: int
    population: str
    first_neuron: int
    neurons: int
    synapse_bits: int
    axons_in: int
    axons_out: int = 0


@dataclass(frozen=True)
class Mapping:
    """Where every population lives; see the module docstring for the placement rules."""

    chip: str
    neurons_per_core: int
    cores_per_tile: int
    tiles_x: int
    tiles_y: int
    populations: tuple[PopulationPlacement, ...]
    core_usage: tuple[CoreUsage, ...] = ()
    limits: dict[str, float] = field(default_factory=dict)
    fan_in: dict[str, list[FanIn]] = field(default_factory=dict, repr=False)
    """target population → one ``FanIn`` per projection (which source neurons reach each of
    its cores); empty for a hand-built Mapping."""

    @property
    def cores(self) -> int:
        """Cores used in all."""
        return sum(len(p.cores) for p in self.populations)

    @property
    def cores_per_chip(self) -> int:
        return self.tiles_x * self.tiles_y * self.cores_per_tile

    @property
    def tiles(self) -> int:
        """Tiles used in all."""
        return math.ceil(self.cores / self.cores_per_tile)

    @property
    def chips(self) -> int:
        """Chips used: ceil(cores / cores_per_chip)."""
        return math.ceil(self.cores / self.cores_per_chip)

    def placement(self, name: str) -> PopulationPlacement:
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(name)

    def tile_of(self, core: int) -> int:
        return core // self.cores_per_tile

    def chip_of(self, core: int) -> int:
        return core // self.cores_per_chip

    def position(self, core: int) -> tuple[int, int]:
        """(x, y) of the core's tile on the global mesh (x grows east, y south)."""
        tiles_per_chip = self.tiles_x * self.tiles_y
        chip, tile = divmod(self.tile_of(core), tiles_per_chip)
        y, x = divmod(tile, self.tiles_x)
        return chip * self.tiles_x + x, y

    def hops(self, src: int, dst: int) -> tuple[int, int]:
        """(east-west, north-south) tile hops from core ``src`` to core ``dst`` (XY routing)."""
        (x0, y0), (x1, y1) = self.position(src), self.position(dst)
        return abs(x1 - x0), abs(y1 - y0)

    def destinations(self, source: str) -> list[tuple[int, np.ndarray]]:
        """The cores ``source``'s spikes go to: [(core, bool mask over the source's flat
        neurons that reach a target on that core)], one entry per core (projections
        from the same source into one core merged; ``source`` may be ``INPUT``). Empty
        when the mapping has no fan-in sets (a hand-built Mapping): then see
        ``events.count_events``' fallback. ``destination_positions`` is the compact form."""
        dest = self.destination_positions(source)
        if dest is None:
            return []
        return [(int(core), np.ascontiguousarray(np.broadcast_to(
                    mask, (dest.channels, mask.size))).reshape(-1))
                for core, mask in zip(dest.cores, dest.positions)]

    def destination_positions(self, source: str) -> Destinations | None:
        """``destinations`` as position masks (``Destinations``), sorted by core; None when
        ``source`` reaches no core (or the mapping has no fan-in sets)."""
        cores: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        channels = None
        for target, entries in self.fan_in.items():
            placed = np.asarray(self.placement(target).cores, dtype=np.int64)
            merged = None
            for entry in entries:
                if entry.source != source:
                    continue
                channels = entry.channels
                merged = entry.positions.copy() if merged is None else merged | entry.positions
            if merged is not None:
                cores.append(placed)
                masks.append(merged)
        if channels is None:
            return None
        all_cores = np.concatenate(cores)
        order = np.argsort(all_cores, kind="stable")
        return Destinations(cores=all_cores[order], positions=np.concatenate(masks)[order],
                            channels=channels)

    @property
    def notes(self) -> list[str]:
        notes = []
        if self.chips > 1:
            notes.append(f"The network needs {self.cores} cores, more than one chip's "
                         f"{self.cores_per_chip}: it is mapped across {self.chips} chips, the mesh "
                         "continued eastward; chip-to-chip links are costed as on-chip hops (a "
                         "lower bound).")
        missing = [k for k in ("synaptic_memory_bits_per_core", "axons_in_per_core",
                               "axons_out_per_core") if k not in self.limits]
        if missing:
            notes.append(f"The chip profile gives no {', '.join(missing)}: not checked.")
        return notes

    def utilisation(self) -> dict:
        """Mean and max use of each per-core limit over the used cores (fractions)."""
        caps = {"neurons": float(self.neurons_per_core), **{
            k: self.limits.get(f"{k}_per_core") for k in ("axons_in", "axons_out")},
            "synaptic_memory": self.limits.get("synaptic_memory_bits_per_core")}
        used = {"neurons": [u.neurons for u in self.core_usage],
                "synaptic_memory": [u.synapse_bits for u in self.core_usage],
                "axons_in": [u.axons_in for u in self.core_usage],
                "axons_out": [u.axons_out for u in self.core_usage]}
        out = {}
        for key, values in used.items():
            cap = caps[key]
            if not values or not cap:
                out[key] = None
                continue
            frac = np.asarray(values, dtype=np.float64) / cap
            out[key] = {"mean": float(frac.mean()), "max": float(frac.max()),
                        "capacity_per_core": cap, "used": int(np.sum(values))}
        return out

    def binding_limit(self, name: str) -> str | None:
        """The per-core limit a population's cores use most of (its mean fraction over them):
        why the population takes the cores it takes. None without usage records."""
        caps = {"neurons": float(self.neurons_per_core),
                "synaptic_memory": self.limits.get("synaptic_memory_bits_per_core"),
                "axons_in": self.limits.get("axons_in_per_core"),
                "axons_out": self.limits.get("axons_out_per_core")}
        usage = [u for u in self.core_usage if u.population == name]
        if not usage:
            return None
        used = {"neurons": [u.neurons for u in usage], "synaptic_memory": [u.synapse_bits for u in usage],
                "axons_in": [u.axons_in for u in usage], "axons_out": [u.axons_out for u in usage]}
        fractions = {k: float(np.mean(used[k])) / cap for k, cap in caps.items() if cap}
        return max(fractions, key=fractions.get)

    def to_dict(self) -> dict:
        return {
            "chip": self.chip,
            "neurons_per_core": self.neurons_per_core,
            "cores": self.cores,
            "tiles": self.tiles,
            "chips": self.chips,
            "cores_per_chip": self.cores_per_chip,
            "limits": dict(self.limits),
            "utilisation": self.utilisation(),
            "populations": [
                {
                    "name": p.name,
                    "neurons": p.neurons,
                    "cores": list(p.cores),
                    "neurons_per_core": list(p.neurons_per_core),
                    "tiles": sorted({self.tile_of(c) for c in p.cores}),
                    "chips": sorted({self.chip_of(c) for c in p.cores}),
                    "limited_by": self.binding_limit(p.name),
                }
                for p in self.populations
            ],
            "core_usage": [
                {"core": u.core, "population": u.population, "first_neuron": u.first_neuron,
                 "neurons": u.neurons, "synapse_bits": u.synapse_bits, "axons_in": u.axons_in,
                 "axons_out": u.axons_out, "position": list(self.position(u.core))}
                for u in self.core_usage
            ],
            "notes": self.notes,
        }


def weight_bits(proj: Projection) -> int:
    """Fewest signed bits that hold every weight of ``proj`` (at least 1, Loihi: up to 8)."""
    w = np.asarray(proj.weight, dtype=np.int64)
    if w.size == 0:
        return 1
    lo, hi = int(w.min()), int(w.max())
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def map_to_cores(graph: QGraph, chip: ChipProfile, *, max_chips: int | None = None) -> Mapping:
    """Partition every population of ``graph`` onto cores of ``chip`` and place them
    (module docstring). Raises ``MappingError`` naming the limit a network breaks."""
    limits = dict(chip.limits)
    mem_cap = limits.get("synaptic_memory_bits_per_core", math.inf)
    axons_in_cap = limits.get("axons_in_per_core", math.inf)
    placements, usage = [], []
    fan_in: dict[str, list[FanIn]] = {}
    next_core = 0
    sums = [_cumulative_bits(pop) for pop in graph.populations]
    for pop, (cum, axons_one) in zip(graph.populations, sums):  # fail before any partitioning
        _check_single_neurons(pop.name, cum, axons_one, mem_cap, axons_in_cap)
    for pop, (cum, _) in zip(graph.populations, sums):
        n = neuron_count(pop)
        runs = _partition(pop.name, pop.projections, n, cum, chip.neurons_per_core, mem_cap,
                          axons_in_cap)
        firsts = np.array([first for first, _ in runs], np.int64)
        counts = np.array([count for _, count in runs], np.int64)
        cores = tuple(range(next_core, next_core + len(runs)))
        placements.append(PopulationPlacement(
            name=pop.name, neurons=n, cores=cores, neurons_per_core=tuple(int(c) for c in counts)))
        entries = [FanIn(proj.source, synapses.source_layout(proj.source_shape)[0],
                         _reached(proj, firsts, counts)) for proj in pop.projections]
        fan_in[pop.name] = entries
        axons_in = sum(e.channels * e.positions.sum(axis=1, dtype=np.int64) for e in entries)
        for i, (core, (first, count)) in enumerate(zip(cores, runs)):
            usage.append(CoreUsage(
                core=core, population=pop.name, first_neuron=first, neurons=count,
                synapse_bits=int(cum[first + count] - cum[first]),
                axons_in=int(axons_in[i]) if entries else 0,
            ))
        next_core += len(runs)
    mapping = Mapping(
        chip=chip.name, neurons_per_core=chip.neurons_per_core, cores_per_tile=chip.cores_per_tile,
        tiles_x=chip.tiles_x, tiles_y=chip.tiles_y, populations=tuple(placements),
        core_usage=tuple(usage), limits=limits, fan_in=fan_in,
    )
    usage = _with_axons_out(mapping, list(usage))
    mapping = Mapping(**{**mapping.__dict__, "core_usage": tuple(usage)})
    axons_out_cap = limits.get("axons_out_per_core", math.inf)
    for u in usage:
        if u.axons_out > axons_out_cap:
            raise MappingError(
                f"population {u.population!r}: core {u.core} needs {u.axons_out} output axons "
                f"(neuron, destination core pairs), a core has {int(axons_out_cap)} "
                "(limit axons_out_per_core; the mapper does not re-partition for it)")
    if max_chips is not None and mapping.chips > max_chips:
        raise MappingError(f"the network needs {mapping.cores} cores = {mapping.chips} chips of "
                           f"{mapping.cores_per_chip} cores, more than max_chips = {max_chips}")
    return mapping


def _cumulative_bits(pop) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative synaptic-memory bits over the flat neurons, with a leading 0; the source
    neurons reaching each neuron alone, its input axons)."""
    n = neuron_count(pop)
    bits = np.zeros(n, np.int64)
    axons = np.zeros(n, np.int64)
    for proj in pop.projections:
        fan = synapses.fan_in(proj)
        bits += fan * weight_bits(proj)
        axons += fan
    return np.concatenate(([0], np.cumsum(bits))), axons


def _check_single_neurons(name: str, cum: np.ndarray, axons_one: np.ndarray, mem_cap: float,
                          axons_in_cap: float) -> None:
    """The error ``_partition`` would meet at the first neuron that fits no core on its own
    (every such neuron starts a run; memory is checked first), before any run is built."""
    over_mem = np.flatnonzero(np.diff(cum) > mem_cap)
    over_axons = np.flatnonzero(axons_one > axons_in_cap) if math.isfinite(axons_in_cap) else []
    first_mem = over_mem[0] if len(over_mem) else None
    first_axons = over_axons[0] if len(over_axons) else None
    if first_mem is not None and (first_axons is None or first_mem <= first_axons):
        raise MappingError(
            f"population {name!r}: neuron {first_mem} needs {int(cum[first_mem + 1] - cum[first_mem])} "
            "bits of synaptic memory (fan-in × weight bits), a core holds "
            f"{int(mem_cap)} (limit synaptic_memory_bits_per_core)")
    if first_axons is not None:
        raise MappingError(
            f"population {name!r}: neuron {first_axons} is reached by {int(axons_one[first_axons])} "
            f"source neurons, a core has {int(axons_in_cap)} input axons "
            "(limit axons_in_per_core)")


def _longest_fit(axons, cap: float, most: int, guess: int) -> int:
    """The largest count in [1, most) with axons(count) ≤ cap, given axons(1) ≤ cap < axons(most)
    and axons non-decreasing: a galloping search from ``guess`` (the previous core's count,
    usually the answer or next to it), then bisection."""
    lo, hi = 1, most  # axons(lo) fits, axons(hi) does not
    g = min(max(guess, lo), hi - 1)
    step = 1
    if axons(g) <= cap:
        lo = g
        while lo + step < hi and axons(lo + step) <= cap:
            lo, step = lo + step, step * 2
        hi = min(hi, lo + step)
    else:
        hi = g
        while hi - step > lo and axons(hi - step) > cap:
            hi, step = hi - step, step * 2
        lo = max(lo, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if axons(mid) <= cap else (lo, mid)
    return lo


_RUNS_AT_ONCE = 256  # runs whose position masks are computed together (bounds the temporaries)


def _reached(proj: Projection, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``synapses.reached_positions`` for many runs, in chunks."""
    if firsts.size <= _RUNS_AT_ONCE:
        return synapses.reached_positions(proj, firsts, counts)
    return np.concatenate([synapses.reached_positions(proj, firsts[i:i + _RUNS_AT_ONCE],
                                                      counts[i:i + _RUNS_AT_ONCE])
                           for i in range(0, firsts.size, _RUNS_AT_ONCE)])


def _partition(name: str, projections: list[Projection], n: int, cum: np.ndarray,
               neurons_per_core: int, mem_cap: float, axons_in_cap: float
               ) -> list[tuple[int, int]]:
    """The runs (first neuron, count) of a population's cores, each the longest that keeps
    within the neurons, synaptic-memory and input-axon limits (module docstring)."""
    runs: list[tuple[int, int]] = []
    start = 0
    while start < n:
        most = min(neurons_per_core, n - start)
        # memory: the longest run whose bits fit
        fit = int(np.searchsorted(cum, cum[start] + mem_cap, side="right")) - 1 - start
        most = min(most, fit)
        if most < 1:
            raise MappingError(
                f"population {name!r}: neuron {start} needs {int(cum[start + 1] - cum[start])} "
                "bits of synaptic memory (fan-in × weight bits), a core holds "
                f"{int(mem_cap)} (limit synaptic_memory_bits_per_core)")
        if math.isfinite(axons_in_cap):
            def axons(count: int, start: int = start) -> int:
                return sum(synapses.source_layout(p.source_shape)[0]
                           * int(synapses.reached_positions(p, [start], [count]).sum())
                           for p in projections)
            if axons(1) > axons_in_cap:
                raise MappingError(
                    f"population {name!r}: neuron {start} is reached by {axons(1)} source "
                    f"neurons, a core has {int(axons_in_cap)} input axons "
                    "(limit axons_in_per_core)")
            if axons(most) > axons_in_cap:
                most = _longest_fit(axons, axons_in_cap, most, runs[-1][1] if runs else most)
        runs.append((start, most))
        start += most
    return runs


def destination_counts(mapping: Mapping, source: str) -> np.ndarray:
    """Per flat neuron of ``source``, the number of cores its spikes go to."""
    dest = mapping.destination_positions(source)
    n = mapping.placement(source).neurons
    return dest.counts() if dest is not None else np.zeros(n, np.int64)


@dataclass
class SpikeTraffic:
    """The messages one population's spikes cause, per step (XY routing on the mesh).

    ``messages_out``, ``hops_east_west``, ``hops_north_south``: (T, source cores), by
    sending core; ``messages_in``: destination core → (T,) messages it receives;
    ``routes``: (Δx, Δy) tile hops of a route between a sending and a receiving core → (T,)
    bool, the steps in which a message took it.
    """

    messages_out: np.ndarray
    hops_east_west: np.ndarray
    hops_north_south: np.ndarray
    messages_in: dict[int, np.ndarray]
    routes: dict[tuple[int, int], np.ndarray]


def spike_traffic(mapping: Mapping, source: str, spikes_per_step: np.ndarray,
                  destinations: Destinations | None = None) -> SpikeTraffic:
    """Messages, hops and routes of ``source``'s spikes, (T, *shape) per step.

    A spike of neuron j sends one message to every core that holds one of its targets
    (``destinations``, by default ``Mapping.destination_positions``); a message from core c
    to core k crosses |Δx| east-west and |Δy| north-south tile boundaries.

    Counted per (step, sending core, destination core) from the geometry, not per spike:
    the sending cores' spikes summed per source position (over their channels), times the
    destination cores' position masks: exact products of integers below 2^53 in float64,
    a block of sending cores at a time, over the positions they hold and the destinations
    whose masks meet them.
    """
    placement = mapping.placement(source)
    spikes = np.asarray(spikes_per_step, dtype=np.int64)
    spikes = spikes.reshape(spikes.shape[0], -1)
    steps, n_src = spikes.shape[0], len(placement.cores)
    out = SpikeTraffic(np.zeros((steps, n_src), np.int64), np.zeros((steps, n_src), np.int64),
                       np.zeros((steps, n_src), np.int64), {}, {})
    if destinations is None:
        destinations = mapping.destination_positions(source)
    if destinations is None or not len(destinations.cores):
        return out
    masks = destinations.positions
    positions = masks.shape[1]
    if spikes.shape[1] != destinations.channels * positions:
        raise ValueError(f"population {source!r}: {spikes.shape[1]} neurons per step, the "
                         f"destinations hold {destinations.channels} × {positions}")
    # per (step, sending core, position): spikes summed over the core's neurons there
    owner = np.repeat(np.arange(n_src), placement.neurons_per_core)
    cell = owner * positions + np.arange(spikes.shape[1]) % positions
    per_cell = np.zeros((steps, n_src * positions), np.float64)
    for t in np.flatnonzero(spikes.any(axis=1)):  # float64: exact below 2^53
        per_cell[t] = np.bincount(cell, weights=spikes[t], minlength=n_src * positions)
    per_cell = per_cell.reshape(steps, n_src, positions)
    # the positions each sending core holds, and those each destination's mask meets
    firsts = np.asarray(placement.first_neurons, np.int64)
    sizes = np.asarray(placement.neurons_per_core, np.int64)
    whole = (sizes >= positions) | (firsts % positions + sizes > positions)
    src_lo = np.where(whole, 0, firsts % positions)
    src_hi = np.where(whole, positions - 1, (firsts + sizes - 1) % positions)
    mask_t = np.ascontiguousarray(masks.T, dtype=np.float64)  # (positions, destinations)
    src_xy = np.array([mapping.position(c) for c in placement.cores], np.int64).reshape(-1, 2)
    dst_xy = np.array([mapping.position(int(c)) for c in destinations.cores], np.int64).reshape(-1, 2)
    routes, route_of = _route_table(src_xy, dst_xy)
    taken = np.zeros((len(routes), steps), bool)
    received = np.zeros((steps, len(destinations.cores)), np.float64)
    dx_all = np.abs(src_xy[:, None, 0] - dst_xy[None, :, 0]).astype(np.float64)  # (src, dst)
    dy_all = np.abs(src_xy[:, None, 1] - dst_xy[None, :, 1]).astype(np.float64)
    any_pos = masks.any(axis=1)
    dst_lo = np.where(any_pos, masks.argmax(axis=1), positions)
    dst_hi = np.where(any_pos, positions - 1 - masks[:, ::-1].argmax(axis=1), -1)
    live = np.flatnonzero(per_cell.any(axis=(0, 2)))  # sending cores that spiked at all
    live = live[np.lexsort((src_hi[live], src_lo[live]))]  # blocks of cores over few positions
    for i in range(0, live.size, _CORES_AT_ONCE):
        cores = live[i:i + _CORES_AT_ONCE]
        lo, hi = int(src_lo[cores].min()), int(src_hi[cores].max())
        sel = np.flatnonzero((dst_lo <= hi) & (dst_hi >= lo))  # destinations these can reach
        if not sel.size:
            continue
        block = mask_t[lo:hi + 1][:, sel]
        rows = per_cell[:, cores, lo:hi + 1].reshape(steps * cores.size, -1)
        count = (rows @ block).reshape(steps, cores.size, sel.size)  # exact integers
        out.messages_out[:, cores] = count.sum(axis=2)
        out.hops_east_west[:, cores] = (count * dx_all[np.ix_(cores, sel)]).sum(axis=2)
        out.hops_north_south[:, cores] = (count * dy_all[np.ix_(cores, sel)]).sum(axis=2)
        received[:, sel] += count.sum(axis=1)
        t_idx, c_idx, k_idx = np.nonzero(count)
        taken[route_of(cores[c_idx], sel[k_idx]), t_idx] = True
    for k, core in enumerate(destinations.cores.tolist()):
        out.messages_in[core] = received[:, k].astype(np.int64)
    # every route between a sending and a receiving core is listed, taken or not
    for route, sent in zip(routes, taken):
        out.routes[route] = sent
    return out


_CORES_AT_ONCE = 32  # sending cores multiplied at once (sorted by position: a narrow block)


def _route_table(src_xy: np.ndarray, dst_xy: np.ndarray):
    """Every (|Δx|, |Δy|) between a sending and a receiving core (over the distinct tile
    positions, few), and a function (sending core, destination indices) → route index."""
    src_pos, src_inv = np.unique(src_xy, axis=0, return_inverse=True)
    dst_pos, dst_inv = np.unique(dst_xy, axis=0, return_inverse=True)
    dx = np.abs(src_pos[:, None, 0] - dst_pos[None, :, 0])
    dy = np.abs(src_pos[:, None, 1] - dst_pos[None, :, 1])
    pairs = np.stack([dx.reshape(-1), dy.reshape(-1)], axis=1)
    routes, which = np.unique(pairs, axis=0, return_inverse=True)
    which = which.reshape(len(src_pos), len(dst_pos))
    src_inv, dst_inv = src_inv.reshape(-1), dst_inv.reshape(-1)

    def route_of(cores: np.ndarray, dests: np.ndarray) -> np.ndarray:
        return which[src_inv[cores], dst_inv[dests]]

    return [tuple(r) for r in routes.tolist()], route_of


def _with_axons_out(mapping: Mapping, usage: list[CoreUsage]) -> list[CoreUsage]:
    out = []
    per_population = {}
    for placement in mapping.populations:
        counts = destination_counts(mapping, placement.name)
        bounds = np.cumsum((0, *placement.neurons_per_core))
        per_population[placement.name] = np.add.reduceat(counts, bounds[:-1]) if counts.size \
            else np.zeros(len(placement.cores), np.int64)
    index = {p.name: 0 for p in mapping.populations}
    for u in usage:
        i = index[u.population]
        index[u.population] += 1
        out.append(CoreUsage(**{**u.__dict__, "axons_out": int(per_population[u.population][i])}))
    return out


__all__ = ["INPUT", "CoreUsage", "Destinations", "FanIn", "Mapping", "MappingError",
           "PopulationPlacement", "SpikeTraffic", "destination_counts", "map_to_cores",
           "spike_traffic", "weight_bits"]
