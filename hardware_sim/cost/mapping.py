"""Placing a network's populations on the cores, tiles and chips of a chip profile.

Partition. Population p (in graph order) takes cores of its own, numbered on from the
previous population's last core. Its neurons fill them in flat (C, H, W) / (N,) order: a
core takes the next run of neurons, as long as the run stays within every per-core limit
of the profile (a limit the profile leaves out is not checked):

- ``neurons_per_core`` (compartments, for a split population's groups);
- ``limits.synaptic_memory_bits_per_core``: Σ over the run's neurons of fan-in × the
  projection's weight precision. The fan-in counts source neurons (a sum-pooled input of
  kernel k reaches a target through k² synapses); the weight precision is the fewest signed
  bits that hold the projection's weights (1 to 8: Loihi stores 1- to 8-bit weights).
  Shared conv kernels are expanded (every (source, target) pair is one stored synapse),
  unless the profile's ``features.shared_conv_weights`` is 1 (Loihi 2's convolutional
  connectivity): then a core stores, per conv projection, one kernel slice per output
  channel its run touches, (channels touched) × C_in × kH × kW × weight bits;
- ``limits.axons_in_per_core``: the distinct source neurons (the network input included)
  that reach any neuron of the run;
- ``limits.axons_out_per_core``: Σ over the run's neurons of their destination cores (one
  output axon per (neuron, destination core) pair; the destination cores of a neuron are
  the cores that hold one of its targets, exact for dense and conv projections). The
  populations are partitioned last to first, so a population's destinations are known
  when its own runs are cut: output axons re-partition the source like the other limits.

Fan-in split (``split.py`` states the join's arithmetic). A population whose single neuron
needs more input axons or synaptic memory than a core has, or whose runs are cut short by
the input axons, is split into compartment groups joined into the soma (``split``:
``"auto"``, the default, splits where no unsplit mapping exists or where the split one takes
fewer cores; ``"needed"`` only where no unsplit mapping exists; ``"never"``). The groups are
channel ranges of its projections, chosen among a few budgets of inputs per group (the input
axons of a core, halved up to seven times) as the one with the fewest cores, estimated on
the population's first neurons; a split whose join is not bit-exact (``split.join_check``)
is taken only where no unsplit mapping and no exact split exist. Each group's compartments
take runs of cores of their own (the limits above, for the group's synapses alone; one output
axon per compartment, to its soma's core); the somas take the population's last cores: per
core, compartments ≤ ``neurons_per_core``, one input axon and one synapse of
``JOIN_WEIGHT_BITS`` per (soma, group), and the population's output axons. A population fed
by the network input is not split (``split.splittable``).

Runs follow the flat (C, H, W) order, so a core holds positions of one or two output
channels: a source neuron then reaches about one core per output channel of its consumer,
and Loihi's 4096 output axons cut the source's cores to a few dozen neurons where the
consumer is wide (ResNet-19's stem). A position-major order (a tile of positions × all
channels per core, as Loihi's compilers tile convolutions) would need fewer: not modelled.

Everything is computed per population from the projections' geometry
(``synapses.reached_positions``: which source positions, every channel alike, reach a run
of targets), for all of a population's cores at once, never per neuron: the cost grows with
neurons and cores, not with synapses.

A neuron that fits no core even split (one channel's taps exceed the axons, a soma's or a
population's destinations exceed the output axons), or more chips than ``max_chips``:
``MappingError``, naming the population and the limit broken.

Placement. Core c sits on tile c // cores_per_tile and chip c // cores_per_chip; a chip's
tiles fill its tiles_x × tiles_y mesh in row-major order (x = east, y = south). A network
that does not fit one chip is mapped across chips (``notes`` says so), laid out as a
near-square grid of chips, K = ⌈√chips⌉ to a row, continuing the mesh: chip k's tile (x, y)
is at global ((k mod K)·tiles_x + x, (k div K)·tiles_y + y) (two chips side by side, east;
a thousand chips 32 × 32, not a line a thousand chips long). Small populations do not
share cores.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from hardware_sim.chips import ChipProfile
from hardware_sim.cost import split as fan_split
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph, neuron_count

SPLIT_POLICIES = ("auto", "needed", "never")
"""When the mapper splits a population's fan-in (module docstring)."""

JOIN_WEIGHT_BITS = 2
"""A join synapse (a group's partial into its soma) holds the weight +1: two signed bits."""

_BUDGET_HALVINGS = 8  # inputs-per-group budgets tried: the axon limit, halved up to 7 times
_PREFIX_CORES = 8  # candidates are compared on the first max(8 cores, 2 channels) of neurons


class MappingError(ValueError):
    """A network that does not fit the chip; the message names the population and the limit."""


@dataclass(frozen=True)
class CoreRuns:
    """Runs of a population's neurons (or of one compartment group of them) on cores: the
    i-th of ``cores`` holds ``neurons_per_core[i]`` consecutive flat neurons."""

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

    def core_of_neuron(self) -> np.ndarray:
        """Per flat neuron, the index (into ``cores``) of the core that holds it."""
        return np.repeat(np.arange(len(self.cores)), self.neurons_per_core)


@dataclass(frozen=True)
class DendriteGroup(CoreRuns):
    """One compartment group of a split population (``split.Group``): every neuron's
    compartment for source channels [lo, hi) of projection ``projection``."""

    projection: int = 0
    channels: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class PopulationPlacement(CoreRuns):
    """One population: its (soma) cores and neurons per core; for a split population its
    compartment groups (``dendrites``, on cores of their own) and whether the join is
    bit-exact (``join_notes``: why not, ``split.join_check``)."""

    dendrites: tuple[DendriteGroup, ...] = ()
    join_notes: tuple[str, ...] = ()

    @cached_property
    def all_cores(self) -> tuple[int, ...]:
        """Every core the population uses: its groups' and its somas'."""
        return tuple(sorted((*self.cores, *(c for d in self.dendrites for c in d.cores))))

    @property
    def compartments(self) -> int:
        """Neurons (somas) plus one compartment per neuron per group."""
        return self.neurons * (1 + len(self.dendrites))

    @property
    def groups(self) -> tuple[fan_split.Group, ...]:
        return tuple(fan_split.Group(d.projection, *d.channels) for d in self.dendrites)


@dataclass(frozen=True)
class FanIn:
    """Which neurons of ``source`` reach each of ``cores`` through one projection (or one
    group of it): ``positions[i, p]`` says whether the source's neurons at position p, in
    channels [channel_lo, channel_lo + channels), reach a target on ``cores[i]``."""

    source: str
    channels: int
    """Source channels the projection (or group) reads: C of a (C, H, W) source, N of an (N,)."""
    positions: np.ndarray
    """(cores, source positions) bool."""
    cores: np.ndarray
    """(cores,) the global core numbers of the rows."""
    channel_lo: int = 0
    source_channels: int | None = None
    """All channels of the source (None: ``channels``)."""

    def neuron_mask(self, index: int) -> np.ndarray:
        """The mask over the source's flat neurons for the ``index``-th core."""
        total = self.source_channels or self.channels
        mask = np.zeros((total, self.positions.shape[1]), bool)
        mask[self.channel_lo:self.channel_lo + self.channels] = self.positions[index]
        return mask.reshape(-1)


@dataclass(frozen=True)
class Destinations:
    """The cores a source's values go to, in blocks (lo, hi, cores, masks): the cores (D,)
    that source channels [lo, hi) reach, at the source positions of masks (D, positions) bool
    (every channel of the range alike; all channels unless the cores hold a compartment
    group); projections from the source into one core merged. A split population's groups
    keep one block each, sharing their masks where their runs are the same (no copies)."""

    channels: int
    positions: int
    """Source positions per channel."""
    blocks: tuple[tuple[int, int, np.ndarray, np.ndarray], ...]

    @classmethod
    def whole(cls, cores: np.ndarray, masks: np.ndarray, channels: int) -> Destinations:
        """One block of cores reached by every channel."""
        return cls(channels, masks.shape[1], ((0, channels, np.asarray(cores, np.int64), masks),))

    @property
    def cores(self) -> np.ndarray:
        """Every destination core, block after block."""
        return np.concatenate([b[2] for b in self.blocks]) if self.blocks else np.zeros(0, np.int64)

    def counts(self) -> np.ndarray:
        """Per flat source neuron, the number of destination cores."""
        per = np.zeros((self.channels, self.positions), np.int64)
        for lo, hi, _, masks in self.blocks:
            per[lo:hi] += masks.sum(axis=0, dtype=np.int64)
        return per.reshape(-1)


@dataclass(frozen=True)
class CoreUsage:
    """What one core holds and how much of each limit it uses; ``group``: the compartment
    group of a split population it holds (None: neurons, or a split population's somas)."""

    core: int
    population: str
    first_neuron: int
    neurons: int
    synapse_bits: int
    axons_in: int
    axons_out: int = 0
    group: int | None = None


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
    """target population → one ``FanIn`` per projection, or per compartment group of a split
    population (which source neurons reach each of its cores); empty for a hand-built Mapping."""
    shared_conv_weights: bool = False
    """Whether conv kernels were stored once per core (module docstring)."""

    @cached_property
    def cores(self) -> int:
        """Cores used in all."""
        return sum(len(p.all_cores) for p in self.populations)

    @property
    def compartments(self) -> int:
        """Compartments used in all: neurons, plus the groups' compartments of split populations."""
        return sum(p.compartments for p in self.populations)

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

    @cached_property
    def chips_per_row(self) -> int:
        """Chips to a row of the grid of chips: ⌈√chips⌉ (module docstring)."""
        return max(1, math.isqrt(self.chips - 1) + 1) if self.chips > 1 else 1

    def position(self, core: int) -> tuple[int, int]:
        """(x, y) of the core's tile on the global mesh (x grows east, y south)."""
        x, y = self.positions(np.array([core]))[0]
        return int(x), int(y)

    def positions(self, cores: np.ndarray) -> np.ndarray:
        """``position`` of many cores at once: (cores, 2) int64."""
        tiles_per_chip = self.tiles_x * self.tiles_y
        chip, tile = np.divmod(np.asarray(cores, np.int64) // self.cores_per_tile, tiles_per_chip)
        y, x = np.divmod(tile, self.tiles_x)
        row, column = np.divmod(chip, self.chips_per_row)
        return np.stack([column * self.tiles_x + x, row * self.tiles_y + y], axis=-1).reshape(-1, 2)

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
        out = []
        for lo, hi, cores, masks in dest.blocks:
            for core, row in zip(cores.tolist(), masks):
                mask = np.zeros((dest.channels, dest.positions), bool)
                mask[lo:hi] = row
                out.append((core, mask.reshape(-1)))
        return sorted(out, key=lambda item: item[0])

    def destination_positions(self, source: str) -> Destinations | None:
        """``destinations`` as position masks (``Destinations``); None when ``source``
        reaches no core (or the mapping has no fan-in sets)."""
        blocks: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        channels = positions = None
        for entries in self.fan_in.values():
            merged: dict[tuple[int, int, int], list] = {}
            for entry in entries:
                if entry.source != source:
                    continue
                channels = entry.source_channels or entry.channels
                positions = entry.positions.shape[1]
                key = (entry.channel_lo, entry.channels, id(entry.cores))
                if key in merged:  # two projections from the source into the same cores
                    merged[key][3] = merged[key][3] | entry.positions
                else:
                    merged[key] = [entry.channel_lo, entry.channel_lo + entry.channels,
                                   entry.cores, entry.positions]
            blocks += [tuple(v) for v in merged.values()]
        if channels is None:
            return None
        return Destinations(channels, positions, tuple(blocks))

    @property
    def notes(self) -> list[str]:
        notes = []
        if self.chips > 1:
            notes.append(f"The network needs {self.cores} cores, more than one chip's "
                         f"{self.cores_per_chip}: it is mapped across {self.chips} chips, "
                         f"{self.chips_per_row} to a row of a grid that continues the mesh; "
                         "chip-to-chip links are costed as on-chip hops (a lower bound).")
        missing = [k for k in ("synaptic_memory_bits_per_core", "axons_in_per_core",
                               "axons_out_per_core") if k not in self.limits]
        if missing:
            notes.append(f"The chip profile gives no {', '.join(missing)}: not checked.")
        if self.shared_conv_weights:
            notes.append("Conv kernels are stored once per core (the chip's shared "
                         "convolutional weights): synaptic memory counts kernel slices, not "
                         "synapses.")
        split = [p for p in self.populations if p.dendrites]
        if split:
            notes.append(
                f"{len(split)} population(s) split their fan-in into compartment groups joined "
                "into the soma (" + ", ".join(f"{p.name}: {len(p.dendrites)} groups"
                                              for p in split) + "); each join adds one "
                "compartment per neuron per group, its updates, one message per active "
                "compartment per step (with its hops) and one join op at the soma, all costed; "
                "the join lags one step (one more layer of pipeline depth).")
        inexact = [p.name for p in split if p.join_notes]
        if inexact:
            notes.append("Not bit-exact after the split (hardware_sim.cost.split): "
                         + "; ".join(f"{p.name}: {' / '.join(p.join_notes)}"
                                     for p in split if p.join_notes))
        return notes

    def _caps(self) -> dict[str, float | None]:
        return {"neurons": float(self.neurons_per_core),
                "synaptic_memory": self.limits.get("synaptic_memory_bits_per_core"),
                "axons_in": self.limits.get("axons_in_per_core"),
                "axons_out": self.limits.get("axons_out_per_core")}

    @staticmethod
    def _used(usage) -> dict[str, list[int]]:
        return {"neurons": [u.neurons for u in usage],
                "synaptic_memory": [u.synapse_bits for u in usage],
                "axons_in": [u.axons_in for u in usage], "axons_out": [u.axons_out for u in usage]}

    def utilisation(self) -> dict:
        """Mean and max use of each per-core limit over the used cores (fractions)."""
        caps, used = self._caps(), self._used(self.core_usage)
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
        """The per-core limit a population's cores use most of (its mean fraction over them,
        somas and groups together): why the population takes the cores it takes. None
        without usage records."""
        usage = self._usage_by_population.get(name)
        if not usage:
            return None
        used = self._used(usage)
        fractions = {k: float(np.mean(used[k])) / cap for k, cap in self._caps().items() if cap}
        return max(fractions, key=fractions.get)

    @cached_property
    def _usage_by_population(self) -> dict[str, list[CoreUsage]]:
        out: dict[str, list[CoreUsage]] = {}
        for u in self.core_usage:
            out.setdefault(u.population, []).append(u)
        return out

    def _population_dict(self, p: PopulationPlacement) -> dict:
        usage = self._usage_by_population.get(p.name, [])
        bits = np.asarray([u.synapse_bits for u in usage], np.int64)
        out = {
            "name": p.name,
            "neurons": p.neurons,
            "compartments": p.compartments,
            "cores": list(p.all_cores),
            "soma_cores": list(p.cores),
            "neurons_per_core": list(p.neurons_per_core),
            "tiles": sorted({self.tile_of(c) for c in p.all_cores}),
            "chips": sorted({self.chip_of(c) for c in p.all_cores}),
            "limited_by": self.binding_limit(p.name),
            "synapse_bits_per_core": {"mean": float(bits.mean()) if bits.size else 0.0,
                                      "max": int(bits.max(initial=0))},
            "split": None,
        }
        if p.dendrites:
            out["split"] = {
                "groups": [{"projection": d.projection, "channels": list(d.channels),
                            "cores": list(d.cores)} for d in p.dendrites],
                "dendrite_cores": sum(len(d.cores) for d in p.dendrites),
                "bit_exact": not p.join_notes,
                "not_exact_because": list(p.join_notes),
            }
        return out

    def to_dict(self) -> dict:
        positions = self.positions(np.array([u.core for u in self.core_usage], np.int64)).tolist()
        return {
            "chip": self.chip,
            "neurons_per_core": self.neurons_per_core,
            "cores": self.cores,
            "compartments": self.compartments,
            "tiles": self.tiles,
            "chips": self.chips,
            "cores_per_chip": self.cores_per_chip,
            "limits": dict(self.limits),
            "shared_conv_weights": self.shared_conv_weights,
            "utilisation": self.utilisation(),
            "populations": [self._population_dict(p) for p in self.populations],
            "core_usage": [
                {"core": u.core, "population": u.population, "first_neuron": u.first_neuron,
                 "neurons": u.neurons, "synapse_bits": u.synapse_bits, "axons_in": u.axons_in,
                 "axons_out": u.axons_out, "group": u.group, "position": position}
                for u, position in zip(self.core_usage, positions)
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


def map_to_cores(graph: QGraph, chip: ChipProfile, *, max_chips: int | None = None,
                 split: str = "auto") -> Mapping:
    """Partition every population of ``graph`` onto cores of ``chip`` and place them, splitting
    fan-in into compartment groups where ``split`` says (module docstring). Raises
    ``MappingError`` naming the limit a network breaks."""
    if split not in SPLIT_POLICIES:
        raise ValueError(f"split must be one of {SPLIT_POLICIES}, got {split!r}")
    caps = _Caps.of(chip)
    plans: dict[str, _Plan] = {}
    for pop in reversed(graph.populations):  # consumers first: their runs set our output axons
        demand = _out_demand(pop.name, pop.shape, plans)
        plans[pop.name] = _plan(pop, caps, demand, split)
    placements, usage = [], []
    fan_in: dict[str, list[FanIn]] = {}
    next_core = 0
    for pop in graph.populations:
        plan, n = plans[pop.name], neuron_count(pop)
        entries, dendrites = [], []
        for index, part in enumerate(plan.parts):
            cores = np.arange(next_core, next_core + len(part.counts), dtype=np.int64)
            next_core += len(part.counts)
            entries += [FanIn(r.source, r.channels, r.positions, cores, r.channel_lo,
                              r.source_channels) for r in part.reach]
            group = index if part.group is not None else None
            if part.group is not None:
                dendrites.append(DendriteGroup(
                    pop.name, n, tuple(cores.tolist()), tuple(part.counts.tolist()),
                    projection=part.group.projection, channels=(part.group.lo, part.group.hi)))
            usage += [CoreUsage(core=int(c), population=pop.name, first_neuron=int(f),
                                neurons=int(k), synapse_bits=int(b), axons_in=int(a), group=group)
                      for c, f, k, b, a in zip(cores, part.firsts, part.counts, part.bits,
                                               part.axons_in)]
        soma = plan.parts[-1]
        placements.append(PopulationPlacement(
            pop.name, n, tuple(range(next_core - len(soma.counts), next_core)),
            tuple(soma.counts.tolist()), dendrites=tuple(dendrites),
            join_notes=tuple(plan.join_notes)))
        fan_in[pop.name] = entries
    mapping = Mapping(
        chip=chip.name, neurons_per_core=chip.neurons_per_core, cores_per_tile=chip.cores_per_tile,
        tiles_x=chip.tiles_x, tiles_y=chip.tiles_y, populations=tuple(placements),
        core_usage=tuple(usage), limits=dict(chip.limits), fan_in=fan_in,
        shared_conv_weights=caps.shared_conv,
    )
    usage = _with_axons_out(mapping, usage)
    mapping = dataclasses.replace(mapping, core_usage=tuple(usage))
    for u in usage:  # a recurrent projection's destinations were not known when its source was cut
        if u.axons_out > caps.axons_out:
            raise MappingError(
                f"population {u.population!r}: core {u.core} needs {u.axons_out} output axons "
                f"(neuron, destination core pairs), a core has {int(caps.axons_out)} "
                "(limit axons_out_per_core)")
    if max_chips is not None and mapping.chips > max_chips:
        raise MappingError(f"the network needs {mapping.cores} cores = {mapping.chips} chips of "
                           f"{mapping.cores_per_chip} cores, more than max_chips = {max_chips}")
    return mapping


# --- what a run of compartments needs of a core -------------------------------------------------

@dataclass(frozen=True)
class _Caps:
    """A chip's per-core limits (infinite where the profile gives none)."""

    neurons: int
    memory: float
    axons_in: float
    axons_out: float
    shared_conv: bool

    @classmethod
    def of(cls, chip: ChipProfile) -> _Caps:
        limits = chip.limits
        return cls(chip.neurons_per_core, limits.get("synaptic_memory_bits_per_core", math.inf),
                   limits.get("axons_in_per_core", math.inf),
                   limits.get("axons_out_per_core", math.inf),
                   bool(chip.features.get("shared_conv_weights", 0)))


class _Inputs:
    """What a run of one compartment set needs of a core: an unsplit population (its
    projections), one compartment group (its sub-projection) or a split population's somas
    (``joins`` join inputs each)."""

    def __init__(self, projections: list[Projection], n: int, shared_conv: bool, joins: int = 0):
        self.projections = projections
        self.joins = joins
        bits = np.full(n, joins * JOIN_WEIGHT_BITS, np.int64)
        self.axons_one = np.full(n, joins, np.int64)
        """Input axons of each neuron alone."""
        self.kernels: list[tuple[int, int]] = []
        """Shared conv kernels: (output positions per channel, bits per output channel)."""
        for proj in projections:
            fan = synapses.fan_in(proj)
            self.axons_one += fan
            if shared_conv and proj.kind == "conv":
                _, oh, ow = proj.output_shape
                self.kernels.append((oh * ow, int(np.prod(proj.weight.shape[1:])) * weight_bits(proj)))
            else:
                bits += fan * weight_bits(proj)
        self.cum_bits = np.concatenate(([0], np.cumsum(bits)))
        self.positions = synapses.source_layout(tuple(projections[0].output_shape))[1] \
            if projections else 1
        """Output positions per channel (all of a population's projections have its shape)."""
        self._reached: dict[tuple[int, int], int] = {}
        self.memory_one = bits + sum(per_channel for _, per_channel in self.kernels)
        """Synaptic memory of each neuron alone."""

    def memory(self, firsts, counts) -> np.ndarray:
        """Synaptic memory bits of runs [first, first + count)."""
        firsts, counts = np.asarray(firsts, np.int64), np.asarray(counts, np.int64)
        bits = self.cum_bits[firsts + counts] - self.cum_bits[firsts]
        for positions, per_channel in self.kernels:
            bits = bits + ((firsts + counts - 1) // positions - firsts // positions + 1) * per_channel
        return bits

    def axons(self, start: int, count: int) -> int:
        """Input axons of the run [start, start + count): the sources reached depend only on
        where the run starts within an output channel and how many positions it covers
        (``synapses.reached_positions``), so they are computed once per such pair."""
        key = (start % self.positions, min(count, self.positions))
        if key not in self._reached:
            self._reached[key] = sum(
                synapses.source_layout(p.source_shape)[0]
                * int(synapses.reached_positions(p, [start], [count]).sum())
                for p in self.projections)
        return self.joins * count + self._reached[key]

    def reach(self, firsts: np.ndarray, counts: np.ndarray, groups: list[fan_split.Group] | None,
              sources: list[Projection]) -> list[_Reach]:
        """Per projection, the source positions that reach each run."""
        out = []
        for i, proj in enumerate(self.projections):
            group = groups[i] if groups else None
            full = synapses.source_layout(sources[i].source_shape)[0]
            out.append(_Reach(proj.source, synapses.source_layout(proj.source_shape)[0],
                              _reached(proj, firsts, counts), group.lo if group else 0, full))
        return out


@dataclass(frozen=True)
class _Reach:
    source: str
    channels: int
    positions: np.ndarray
    channel_lo: int
    source_channels: int


@dataclass
class _Part:
    """One compartment set's runs on cores and what each uses (a ``_Plan`` part)."""

    firsts: np.ndarray
    counts: np.ndarray
    bits: np.ndarray
    axons_in: np.ndarray
    reach: list[_Reach]
    group: fan_split.Group | None = None


@dataclass
class _Plan:
    """A population's parts: its groups' (if split), then its somas' (or its neurons')."""

    parts: list[_Part]
    join_notes: list[str]


class _NoFit(Exception):
    """One compartment alone exceeds a core's limit."""


def _single_fit(name: str, inputs: _Inputs, caps: _Caps, demand: np.ndarray | None) -> None:
    """``_NoFit`` (with the message a user reads) if some compartment fits no core alone."""
    over_mem = np.flatnonzero(inputs.memory_one > caps.memory)
    if over_mem.size:
        i = int(over_mem[0])
        raise _NoFit(f"population {name!r}: neuron {i} needs {int(inputs.memory_one[i])} bits of "
                     f"synaptic memory (fan-in × weight bits), a core holds {int(caps.memory)} "
                     "(limit synaptic_memory_bits_per_core)")
    over_axons = np.flatnonzero(inputs.axons_one > caps.axons_in)
    if over_axons.size:
        i = int(over_axons[0])
        raise _NoFit(f"population {name!r}: neuron {i} is reached by {int(inputs.axons_one[i])} "
                     f"source neurons, a core has {int(caps.axons_in)} input axons "
                     "(limit axons_in_per_core)")
    if demand is not None:
        over_out = np.flatnonzero(demand > caps.axons_out)
        if over_out.size:
            i = int(over_out[0])
            raise _NoFit(f"population {name!r}: neuron {i} sends to {int(demand[i])} "
                         f"destination cores, a core has {int(caps.axons_out)} output axons "
                         "(limit axons_out_per_core)")


def _partition(inputs: _Inputs, n: int, caps: _Caps, out_cum: np.ndarray | None,
               stop: int | None = None) -> tuple[list[tuple[int, int]], bool]:
    """The runs (first neuron, count) of a compartment set's cores, each the longest that keeps
    within every limit (module docstring), up to neuron ``stop`` (default: all); and whether
    the input axons cut any run short. Every compartment must fit a core alone (``_single_fit``)."""
    runs: list[tuple[int, int]] = []
    cut_by_axons = False
    start, stop = 0, n if stop is None else min(n, stop)
    while start < stop:
        most = min(caps.neurons, n - start)
        if not inputs.kernels and math.isfinite(caps.memory):  # additive: the longest that fits
            most = min(most, _fit(inputs.cum_bits, start, caps.memory))
        elif most > 1 and inputs.memory([start], [most])[0] > caps.memory:
            most = _longest_fit(lambda c, s=start: int(inputs.memory([s], [c])[0]), caps.memory,
                                most, runs[-1][1] if runs else most)
        if out_cum is not None:
            most = min(most, _fit(out_cum, start, caps.axons_out))
        if math.isfinite(caps.axons_in) and most > 1 and inputs.axons(start, most) > caps.axons_in:
            most = _longest_fit(lambda c, s=start: inputs.axons(s, c), caps.axons_in, most,
                                runs[-1][1] if runs else most)
            cut_by_axons = True
        runs.append((start, most))
        start += most
    return runs, cut_by_axons


def _fit(cum: np.ndarray, start: int, cap: float) -> int:
    """The longest run from ``start`` whose additive cost (``cum``: cumulative, leading 0)
    stays within ``cap`` (an integer search: a float bound would convert all of ``cum``)."""
    return int(np.searchsorted(cum, int(cum[start]) + int(cap), side="right")) - 1 - start


def _longest_fit(cost: Callable[[int], int], cap: float, most: int, guess: int) -> int:
    """The largest count in [1, most) with cost(count) ≤ cap, given cost(1) ≤ cap < cost(most)
    and cost non-decreasing: a galloping search from ``guess`` (the previous core's count,
    usually the answer or next to it), then bisection."""
    lo, hi = 1, most  # cost(lo) fits, cost(hi) does not
    g = min(max(guess, lo), hi - 1)
    step = 1
    if cost(g) <= cap:
        lo = g
        while lo + step < hi and cost(lo + step) <= cap:
            lo, step = lo + step, step * 2
        hi = min(hi, lo + step)
    else:
        hi = g
        while hi - step > lo and cost(hi - step) > cap:
            hi, step = hi - step, step * 2
        lo = max(lo, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(mid) <= cap else (lo, mid)
    return lo


_RUNS_AT_ONCE = 256  # runs whose position masks are computed together (bounds the temporaries)


def _reached(proj: Projection, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``synapses.reached_positions`` for many runs: computed once per distinct (start within
    an output channel, positions covered), all it depends on, in chunks."""
    per_channel = synapses.source_layout(tuple(proj.output_shape))[1]
    keys = np.stack([firsts % per_channel, np.minimum(counts, per_channel)], axis=1)
    unique, which = np.unique(keys, axis=0, return_inverse=True)
    reached = np.concatenate([synapses.reached_positions(proj, unique[i:i + _RUNS_AT_ONCE, 0],
                                                         unique[i:i + _RUNS_AT_ONCE, 1])
                              for i in range(0, len(unique), _RUNS_AT_ONCE)])
    return reached[which.reshape(-1)]


# --- a population's plan: unsplit, or groups + somas --------------------------------------------

def _out_demand(name: str, shape: tuple[int, ...], plans: dict[str, _Plan]) -> np.ndarray:
    """Per flat neuron of ``name``, the cores of the already planned consumers it reaches
    (projections from it into one compartment set merged)."""
    channels, positions = synapses.source_layout(shape)
    demand = np.zeros((channels, positions), np.int64)
    for plan in plans.values():
        for part in plan.parts:
            merged: dict[tuple[int, int], np.ndarray] = {}
            for r in part.reach:
                if r.source == name:
                    key = (r.channel_lo, r.channels)
                    merged[key] = merged[key] | r.positions if key in merged else r.positions
            for (lo, width), reached in merged.items():
                demand[lo:lo + width] += reached.sum(axis=0, dtype=np.int64)
    return demand.reshape(-1)


def _plan(pop: IntPopulation, caps: _Caps, demand: np.ndarray, policy: str) -> _Plan:
    """Unsplit, or split into the channel groups that take the fewest cores (module docstring)."""
    n = neuron_count(pop)
    out_cum = np.concatenate(([0], np.cumsum(demand))) if math.isfinite(caps.axons_out) else None
    whole = _Inputs(pop.projections, n, caps.shared_conv)
    try:
        _single_fit(pop.name, whole, caps, demand if out_cum is not None else None)
        problem = None
    except _NoFit as err:
        problem = str(err)
        if "axons_out" in problem:  # a neuron's own destinations: no split helps
            raise MappingError(problem) from None
    why_not = fan_split.splittable(pop)
    candidates = [] if policy == "never" or why_not or (problem is None and policy == "needed") \
        else _candidate_groups(pop, caps)
    if not candidates:
        if problem:
            reason = f"; its fan-in is not split: {why_not}" if why_not and policy != "never" else ""
            raise MappingError(problem + reason)
        return _full_plan(pop, None, caps, out_cum)
    prefix = max(_PREFIX_CORES * caps.neurons, 2 * synapses.source_layout(pop.shape)[1])
    options: list[tuple[float, int, tuple[fan_split.Group, ...] | None]] = []
    if problem is None:
        runs, cut = _partition(whole, n, caps, out_cum, stop=prefix)
        if not cut:  # neurons, memory or output axons bind: groups only add somas
            return _full_plan(pop, None, caps, out_cum)
        options.append((len(runs) * n / _covered(runs), 1, None))
    exact = [g for g in candidates if not fan_split.join_check(pop, g)]
    if exact or problem is None:  # a bit-exact join (or none) wins over fewer cores
        candidates = exact
    for groups in candidates:
        try:
            options.append((_estimate(pop, groups, caps, out_cum, prefix), len(groups), groups))
        except _NoFit:
            continue
    if not options:
        raise MappingError(f"{problem}; split into compartment groups, one source channel's "
                           "synapses alone still exceed a core")
    best = min(options, key=lambda o: (o[0], o[1]))[2]
    return _full_plan(pop, best, caps, out_cum)


def _covered(runs: list[tuple[int, int]]) -> int:
    return runs[-1][0] + runs[-1][1]


def _candidate_groups(pop: IntPopulation, caps: _Caps) -> list[tuple[fan_split.Group, ...]]:
    """Channel groupings under budgets of inputs per group: the input axons of a core (or,
    without that limit, the memory of a core over 8-bit weights), halved up to 7 times."""
    base = caps.axons_in if math.isfinite(caps.axons_in) else caps.memory // 8
    if not math.isfinite(base) or base < 1:
        return []
    out: list[tuple[fan_split.Group, ...]] = []
    for i in range(_BUDGET_HALVINGS):
        budget = int(base) >> i
        if budget < 1:
            break
        groups = fan_split.channel_groups(pop, budget)
        if len(groups) > 1 and groups not in out:
            out.append(groups)
    return out


def _group_inputs(pop: IntPopulation, groups: tuple[fan_split.Group, ...], caps: _Caps
                  ) -> list[tuple[fan_split.Group, _Inputs, tuple]]:
    """Per group: its sub-projection's ``_Inputs`` and a key under which groups of the same
    geometry, width and weight bits share their runs and reach (and one ``_Inputs``: its
    per-neuron arrays are as large as the population)."""
    n = neuron_count(pop)
    out, made = [], {}
    for g in groups:
        sub = fan_split.sub_projection(pop.projections[g.projection], g.lo, g.hi)
        key = (g.projection, g.hi - g.lo, weight_bits(sub))
        if key not in made:
            made[key] = _Inputs([sub], n, caps.shared_conv)
        out.append((g, made[key], key))
    return out


def _soma_inputs(pop: IntPopulation, groups: tuple[fan_split.Group, ...], caps: _Caps) -> _Inputs:
    return _Inputs([], neuron_count(pop), caps.shared_conv, joins=len(groups))


def _estimate(pop: IntPopulation, groups: tuple[fan_split.Group, ...], caps: _Caps,
              out_cum: np.ndarray | None, prefix: int) -> float:
    """Cores the split takes, from its first ``prefix`` neurons scaled to all of them."""
    n = neuron_count(pop)
    ones = np.ones(n, np.int64)
    total, seen = 0.0, {}
    for _, inputs, key in _group_inputs(pop, groups, caps):
        if key not in seen:
            _single_fit(pop.name, inputs, caps, ones)
            runs, _ = _partition(inputs, n, caps, None, stop=prefix)
            seen[key] = len(runs) * n / _covered(runs)
        total += seen[key]
    soma = _soma_inputs(pop, groups, caps)
    _single_fit(pop.name, soma, caps, None)
    runs, _ = _partition(soma, n, caps, out_cum, stop=prefix)
    return total + len(runs) * n / _covered(runs)


def _full_plan(pop: IntPopulation, groups: tuple[fan_split.Group, ...] | None, caps: _Caps,
               out_cum: np.ndarray | None) -> _Plan:
    n = neuron_count(pop)
    if groups is None:
        whole = _Inputs(pop.projections, n, caps.shared_conv)
        return _Plan([_part(whole, n, caps, out_cum, None, pop.projections)], [])
    parts, seen = [], {}
    for g, inputs, key in _group_inputs(pop, groups, caps):
        if key not in seen:
            seen[key] = _part(inputs, n, caps, None, [g], [pop.projections[g.projection]])
        shared = seen[key]
        reach = [_Reach(r.source, r.channels, r.positions, g.lo, r.source_channels)
                 for r in shared.reach]
        parts.append(_Part(shared.firsts, shared.counts, shared.bits, shared.axons_in, reach, g))
    parts.append(_part(_soma_inputs(pop, groups, caps), n, caps, out_cum, None, []))
    return _Plan(parts, fan_split.join_check(pop, groups))


def _part(inputs: _Inputs, n: int, caps: _Caps, out_cum: np.ndarray | None,
          groups: list[fan_split.Group] | None, sources: list[Projection]) -> _Part:
    runs, _ = _partition(inputs, n, caps, out_cum)
    firsts = np.array([f for f, _ in runs], np.int64)
    counts = np.array([c for _, c in runs], np.int64)
    reach = inputs.reach(firsts, counts, groups, sources)
    axons = inputs.joins * counts + sum((r.channels * r.positions.sum(axis=1, dtype=np.int64)
                                         for r in reach), np.zeros(len(runs), np.int64))
    return _Part(firsts, counts, inputs.memory(firsts, counts), axons, reach)


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
    (``destinations``, by default ``Mapping.destination_positions``; a core holding a
    compartment group is reached by its channels only); a message from core c to core k
    crosses |Δx| east-west and |Δy| north-south tile boundaries.

    Counted per (step, sending core, destination core) from the geometry, not per spike:
    the sending cores' spikes summed per source position (over their channels), times the
    destination cores' position masks: exact products of integers below 2^53 in float64,
    a block of sending cores at a time, over the positions they hold and the destinations
    whose masks meet them. Memory: the per-position sums are kept only over the positions
    each core holds (about the source's neurons × T), hops and routes per block.
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
    positions = destinations.positions
    if spikes.shape[1] != destinations.channels * positions:
        raise ValueError(f"population {source!r}: {spikes.shape[1]} neurons per step, the "
                         f"destinations hold {destinations.channels} × {positions}")
    dest_cores = destinations.cores
    src_xy = mapping.positions(np.asarray(placement.cores, np.int64))
    dst_xy = mapping.positions(dest_cores)
    routes = _Routes(src_xy, dst_xy)
    taken = np.zeros((len(routes.pairs), steps), bool)
    received = np.zeros((steps, len(dest_cores)), np.float64)
    windows = _Windows(placement, positions)
    start = 0
    for lo, hi, cores, masks in destinations.blocks:  # compartment groups take channel ranges
        rows = np.arange(start, start + len(cores))
        start += len(cores)
        part = spikes
        if (lo, hi) != (0, destinations.channels):
            part = np.zeros_like(spikes).reshape(steps, destinations.channels, positions)
            part[:, lo:hi] = spikes.reshape(steps, destinations.channels, positions)[:, lo:hi]
            part = part.reshape(steps, -1)
        _add_traffic(windows.sums(part), windows, rows, masks, src_xy, dst_xy, routes, taken,
                     received, out)
    for k, core in enumerate(dest_cores.tolist()):
        arrived = received[:, k].astype(np.int64)
        out.messages_in[core] = out.messages_in[core] + arrived if core in out.messages_in \
            else arrived
    # every route between a sending and a receiving core is listed, taken or not
    for route, sent in zip(routes.pairs, taken):
        out.routes[route] = sent
    return out


class _Windows:
    """The source positions each sending core holds (a run of neurons covers a cyclic
    interval of positions, whatever its channels): [lo, hi], or all of them when it wraps."""

    def __init__(self, placement: CoreRuns, positions: int):
        firsts = np.asarray(placement.first_neurons, np.int64)
        sizes = np.asarray(placement.neurons_per_core, np.int64)
        whole = (sizes >= positions) | (firsts % positions + sizes > positions)
        self.lo = np.where(whole, 0, firsts % positions)
        self.hi = np.where(whole, positions - 1, (firsts + sizes - 1) % positions)
        width = self.hi - self.lo + 1
        self.offset = np.concatenate(([0], np.cumsum(width)))
        owner = placement.core_of_neuron()
        self.cell = self.offset[owner] + np.arange(owner.size) % positions - self.lo[owner]
        """Per flat neuron, its (core, position) cell in the compact per-core windows."""

    def sums(self, spikes: np.ndarray) -> np.ndarray:
        """(T, cells): spikes summed per (sending core, position held), float64 (exact)."""
        out = np.zeros((spikes.shape[0], int(self.offset[-1])), np.float64)
        for t in np.flatnonzero(spikes.any(axis=1)):
            out[t] = np.bincount(self.cell, weights=spikes[t], minlength=out.shape[1])
        return out


class _Routes:
    """Every (|Δx|, |Δy|) between a sending and a receiving core, found on a bitmap of the
    possible pairs (the mesh is a few tiles high), and the index of each."""

    def __init__(self, src_xy: np.ndarray, dst_xy: np.ndarray):
        src, dst = np.unique(src_xy, axis=0), np.unique(dst_xy, axis=0)
        self.height = int(max(src[:, 1].max(), dst[:, 1].max())) + 1
        width = int(max(src[:, 0].max(), dst[:, 0].max())) + 1
        seen = np.zeros(width * self.height, bool)
        for i in range(0, len(src), 256):  # bounded temporaries
            block = src[i:i + 256]
            seen[self.code(np.abs(block[:, None, 0] - dst[None, :, 0]),
                           np.abs(block[:, None, 1] - dst[None, :, 1])).reshape(-1)] = True
        codes = np.flatnonzero(seen)
        self.pairs = [(int(c // self.height), int(c % self.height)) for c in codes]
        self.index = np.full(seen.size, -1, np.int64)
        self.index[codes] = np.arange(codes.size)

    def code(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        return dx * self.height + dy


def _add_traffic(cells: np.ndarray, windows: _Windows, rows: np.ndarray, masks: np.ndarray,
                 src_xy: np.ndarray, dst_xy: np.ndarray, routes: _Routes, taken: np.ndarray,
                 received: np.ndarray, out: SpikeTraffic) -> None:
    """Add the traffic of the per-window spike sums ``cells`` into the destinations ``rows``
    (indices into ``dst_xy``), whose position masks are ``masks`` (``spike_traffic``)."""
    steps, positions = cells.shape[0], masks.shape[1]
    mask_t = np.ascontiguousarray(masks.T, dtype=np.float64)  # (positions, destinations)
    any_pos = masks.any(axis=1)
    dst_lo = np.where(any_pos, masks.argmax(axis=1), positions)
    dst_hi = np.where(any_pos, positions - 1 - masks[:, ::-1].argmax(axis=1), -1)
    per_core = np.add.reduceat(cells, windows.offset[:-1], axis=1) if cells.shape[1] else cells
    live = np.flatnonzero(per_core.any(axis=0))  # sending cores that spiked at all
    live = live[np.lexsort((windows.hi[live], windows.lo[live]))]  # blocks over few positions
    for i in range(0, live.size, _CORES_AT_ONCE):
        cores = live[i:i + _CORES_AT_ONCE]
        lo, hi = int(windows.lo[cores].min()), int(windows.hi[cores].max())
        sel = np.flatnonzero((dst_lo <= hi) & (dst_hi >= lo))  # destinations these can reach
        if not sel.size:
            continue
        block = np.zeros((steps, cores.size, hi - lo + 1))
        for k, c in enumerate(cores.tolist()):
            a, b = int(windows.lo[c]) - lo, int(windows.hi[c]) - lo + 1
            block[:, k, a:b] = cells[:, windows.offset[c]:windows.offset[c + 1]]
        count = (block.reshape(steps * cores.size, -1) @ mask_t[lo:hi + 1][:, sel]
                 ).reshape(steps, cores.size, sel.size)  # exact integers
        dests = rows[sel]
        dx = np.abs(src_xy[cores, None, 0] - dst_xy[None, dests, 0])
        dy = np.abs(src_xy[cores, None, 1] - dst_xy[None, dests, 1])
        out.messages_out[:, cores] += count.sum(axis=2).astype(np.int64)
        out.hops_east_west[:, cores] += (count * dx).sum(axis=2).astype(np.int64)
        out.hops_north_south[:, cores] += (count * dy).sum(axis=2).astype(np.int64)
        received[:, dests] += count.sum(axis=1)
        t_idx, c_idx, k_idx = np.nonzero(count)
        taken[routes.index[routes.code(dx[c_idx, k_idx], dy[c_idx, k_idx])], t_idx] = True


_CORES_AT_ONCE = 32  # sending cores multiplied at once (sorted by position: a narrow block)


def _with_axons_out(mapping: Mapping, usage: list[CoreUsage]) -> list[CoreUsage]:
    """Output axons per core: (neuron, destination core) pairs of the somas (or unsplit
    neurons); one per compartment of a group (to its soma's core)."""
    per_core: dict[int, int] = {}
    for placement in mapping.populations:
        counts = destination_counts(mapping, placement.name)
        if counts.size:
            per_core.update(zip(placement.cores, placement.neurons_on_cores(counts).tolist()))
        for group in placement.dendrites:
            per_core.update(zip(group.cores, group.neurons_per_core))
    return [CoreUsage(**{**u.__dict__, "axons_out": int(per_core.get(u.core, 0))}) for u in usage]


__all__ = ["INPUT", "JOIN_WEIGHT_BITS", "SPLIT_POLICIES", "CoreRuns", "CoreUsage", "DendriteGroup",
           "Destinations", "FanIn", "Mapping", "MappingError", "PopulationPlacement",
           "SpikeTraffic", "destination_counts", "map_to_cores", "spike_traffic", "weight_bits"]
