"""Placing a network's populations on the cores, tiles and chips of a chip profile.

The first, deliberately simple placement:

- population p (in graph order) takes ceil(neurons_p / neurons_per_core) cores of
  its own, numbered on from the previous population's last core;
- its neurons fill those cores in flat (C, H, W) / (N,) index order: neuron i sits
  on the population's core i // neurons_per_core (every core full but the last);
- core c sits on tile c // cores_per_tile and chip c // cores_per_chip; a chip's
  tiles fill its tiles_x × tiles_y mesh in row-major order (x = east, y = south),
  and further chips continue the mesh to the east (chip k's tile (x, y) is at
  global (k·tiles_x + x, y)).

Limits a later change adds: synaptic memory per core, fan-in/fan-out tables,
cores shared by small populations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hardware_sim.chips import ChipProfile
from hardware_sim.graph import QGraph, neuron_count


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


@dataclass(frozen=True)
class Mapping:
    """Where every population lives; see the module docstring for the placement rules."""

    chip: str
    neurons_per_core: int
    cores_per_tile: int
    tiles_x: int
    tiles_y: int
    populations: tuple[PopulationPlacement, ...]

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

    def to_dict(self) -> dict:
        return {
            "chip": self.chip,
            "neurons_per_core": self.neurons_per_core,
            "cores": self.cores,
            "tiles": self.tiles,
            "chips": self.chips,
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
        }


def map_to_cores(graph: QGraph, chip: ChipProfile) -> Mapping:
    """Place every population of ``graph`` on its own cores of ``chip`` (module docstring)."""
    placements = []
    next_core = 0
    for pop in graph.populations:
        n = neuron_count(pop)
        n_cores = math.ceil(n / chip.neurons_per_core)
        full = chip.neurons_per_core
        per_core = [full] * (n_cores - 1) + [n - full * (n_cores - 1)]
        placements.append(PopulationPlacement(
            name=pop.name, neurons=n,
            cores=tuple(range(next_core, next_core + n_cores)),
            neurons_per_core=tuple(per_core),
        ))
        next_core += n_cores
    return Mapping(
        chip=chip.name, neurons_per_core=chip.neurons_per_core, cores_per_tile=chip.cores_per_tile,
        tiles_x=chip.tiles_x, tiles_y=chip.tiles_y, populations=tuple(placements),
    )
