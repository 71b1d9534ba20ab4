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
    fan_in: dict[str, list[tuple[str, list[np.ndarray]]]] = field(default_factory=dict, repr=False)
    """target population → [(source, [per target core: bool mask over the source's flat
    neurons that reach it])], one entry per projection."""

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
        ``events.count_events``' fallback."""
        merged: dict[int, np.ndarray] = {}
        for target, entries in self.fan_in.items():
            cores = self.placement(target).cores
            for src, masks in entries:
                if src != source:
                    continue
                for core, mask in zip(cores, masks):
                    merged[core] = merged[core] | mask if core in merged else mask.copy()
        return sorted(merged.items())

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
    fan_in: dict[str, list[tuple[str, list[np.ndarray]]]] = {}
    next_core = 0
    for pop in graph.populations:
        n = neuron_count(pop)
        bits = np.zeros(n, np.int64)
        for proj in pop.projections:
            bits += synapses.fan_in(proj) * weight_bits(proj)
        cum = np.concatenate(([0], np.cumsum(bits)))
        runs: list[tuple[int, int]] = []
        start = 0
        while start < n:
            most = min(chip.neurons_per_core, n - start)
            # memory: the longest run whose bits fit
            fit = int(np.searchsorted(cum, cum[start] + mem_cap, side="right")) - 1 - start
            most = min(most, fit)
            if most < 1:
                raise MappingError(
                    f"population {pop.name!r}: neuron {start} needs {int(bits[start])} bits of "
                    f"synaptic memory (fan-in × weight bits), a core holds {int(mem_cap)} "
                    "(limit synaptic_memory_bits_per_core)")
            if math.isfinite(axons_in_cap):
                def axons(count: int) -> int:
                    return sum(int(synapses.source_mask(p, start, count).sum()) for p in pop.projections)
                if axons(1) > axons_in_cap:
                    raise MappingError(
                        f"population {pop.name!r}: neuron {start} is reached by {axons(1)} source "
                        f"neurons, a core has {int(axons_in_cap)} input axons "
                        "(limit axons_in_per_core)")
                if axons(most) > axons_in_cap:
                    lo, hi = 1, most  # axons(lo) fits, axons(hi) does not
                    while hi - lo > 1:
                        mid = (lo + hi) // 2
                        lo, hi = (mid, hi) if axons(mid) <= axons_in_cap else (lo, mid)
                    most = lo
            runs.append((start, most))
            start += most
        cores = tuple(range(next_core, next_core + len(runs)))
        placements.append(PopulationPlacement(
            name=pop.name, neurons=n, cores=cores,
            neurons_per_core=tuple(count for _, count in runs)))
        fan_in[pop.name] = [
            (proj.source, [synapses.source_mask(proj, first, count) for first, count in runs])
            for proj in pop.projections
        ]
        for i, (core, (first, count)) in enumerate(zip(cores, runs)):
            usage.append(CoreUsage(
                core=core, population=pop.name, first_neuron=first, neurons=count,
                synapse_bits=int(cum[first + count] - cum[first]),
                axons_in=sum(int(masks[i].sum()) for _, masks in fan_in[pop.name]),
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


def destination_counts(mapping: Mapping, source: str) -> np.ndarray:
    """Per flat neuron of ``source``, the number of cores its spikes go to."""
    dests = mapping.destinations(source)
    n = mapping.placement(source).neurons
    return np.sum([mask for _, mask in dests], axis=0).astype(np.int64) if dests \
        else np.zeros(n, np.int64)


@dataclass
class SpikeTraffic:
    """The messages one population's spikes cause, per step (XY routing on the mesh).

    ``messages_out``, ``hops_east_west``, ``hops_north_south``: (T, source cores), by
    sending core; ``messages_in``: destination core → (T,) messages it receives;
    ``routes``: (Δx, Δy) tile hops of a route → (T,) bool, the steps in which a message
    took it.
    """

    messages_out: np.ndarray
    hops_east_west: np.ndarray
    hops_north_south: np.ndarray
    messages_in: dict[int, np.ndarray]
    routes: dict[tuple[int, int], np.ndarray]


def spike_traffic(mapping: Mapping, source: str, spikes_per_step: np.ndarray,
                  destinations: list[tuple[int, np.ndarray]] | None = None) -> SpikeTraffic:
    """Messages, hops and routes of ``source``'s spikes, (T, *shape) per step.

    A spike of neuron j sends one message to every core that holds one of its targets
    (``destinations``: [(core, bool mask over the source's flat neurons that reach it)],
    by default ``Mapping.destinations``); a message from core c to core k crosses |Δx|
    east-west and |Δy| north-south tile boundaries.
    """
    placement = mapping.placement(source)
    spikes = np.asarray(spikes_per_step, dtype=np.int64)
    spikes = spikes.reshape(spikes.shape[0], -1)
    steps, n_cores = spikes.shape[0], len(placement.cores)
    out = SpikeTraffic(np.zeros((steps, n_cores), np.int64), np.zeros((steps, n_cores), np.int64),
                       np.zeros((steps, n_cores), np.int64), {}, {})
    if destinations is None:
        destinations = mapping.destinations(source)
    for dest, mask in destinations:
        masked = placement.per_step_on_cores(spikes * mask)  # (T, source cores)
        hops = np.array([mapping.hops(c, dest) for c in placement.cores], np.int64)  # (cores, 2)
        out.messages_out += masked
        out.messages_in[dest] = out.messages_in.get(dest, 0) + masked.sum(axis=1)
        out.hops_east_west += masked * hops[:, 0]
        out.hops_north_south += masked * hops[:, 1]
        unique, which = np.unique(hops, axis=0, return_inverse=True)
        for r, (dx, dy) in enumerate(unique.tolist()):
            sent = (masked[:, which.reshape(-1) == r] > 0).any(axis=1)  # (T,)
            route = (dx, dy)
            out.routes[route] = out.routes[route] | sent if route in out.routes else sent
    return out


def _with_axons_out(mapping: Mapping, usage: list[CoreUsage]) -> list[CoreUsage]:
    out = []
    for u in usage:
        counts = destination_counts(mapping, u.population)
        axons_out = int(counts[u.first_neuron:u.first_neuron + u.neurons].sum())
        out.append(CoreUsage(**{**u.__dict__, "axons_out": axons_out}))
    return out


__all__ = ["INPUT", "CoreUsage", "Mapping", "MappingError", "PopulationPlacement", "SpikeTraffic",
           "destination_counts", "spike_traffic", "map_to_cores", "weight_bits"]
