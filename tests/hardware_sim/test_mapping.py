"""Core placement against mappings worked out by hand."""

from __future__ import annotations

import json

import numpy as np

from hardware_sim.chips import derive_chip
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph


def chain(*sizes):
    """input(1) → dense populations of the given sizes, in a chain (weights all zero)."""
    pops, source, n_in = [], INPUT, 1
    for i, n in enumerate(sizes):
        z = np.zeros(n, np.int64)
        proj = Projection(source, "dense", np.zeros((n, n_in), np.int8), (n_in,))
        pops.append(IntPopulation(f"p{i}", (n,), [proj], dv=z, du=z + 4095, vth=z, bias_mant=z,
                                  bias_exp=0, v_scale=1.0))
        source, n_in = f"p{i}", n
    return QGraph(input_shape=(1,), populations=pops, output=pops[-1].name)


def small_chip(neurons_per_core, cores_per_tile, tiles_x, tiles_y, limits=None):
    """Loihi's profile with another geometry; per-core limits only those given (bits, axons)."""
    return derive_chip("loihi", neurons_per_core=neurons_per_core, cores_per_tile=cores_per_tile,
                       tiles_x=tiles_x, tiles_y=tiles_y, limits=limits or {})


def test_loihi_mapping_of_1500_1024_10_neurons_by_neuron_count():
    mapping = map_to_cores(chain(1500, 1024, 10), small_chip(1024, 4, 8, 4))
    # ceil(1500/1024) = 2 cores (1024 + 476), then 1 core of 1024, then 1 core of 10.
    assert [(p.name, p.neurons, p.cores, p.neurons_per_core) for p in mapping.populations] == [
        ("p0", 1500, (0, 1), (1024, 476)),
        ("p1", 1024, (2,), (1024,)),
        ("p2", 10, (3,), (10,)),
    ]
    assert (mapping.cores, mapping.tiles, mapping.chips) == (4, 1, 1)
    assert [mapping.tile_of(c) for c in range(4)] == [0, 0, 0, 0]  # 4 cores per tile
    assert {mapping.position(c) for c in range(4)} == {(0, 0)}
    assert mapping.to_dict()["populations"][0]["tiles"] == [0]


def test_mapping_across_tiles_and_chips():
    # 2 neurons per core, 2 cores per tile, a 2 x 2 mesh of tiles: 8 cores per chip.
    chip = small_chip(neurons_per_core=2, cores_per_tile=2, tiles_x=2, tiles_y=2)
    mapping = map_to_cores(chain(5, 3, 9), chip)
    # 5 → cores 0,1,2 (2,2,1); 3 → cores 3,4 (2,1); 9 → cores 5..9 (2,2,2,2,1): 10 cores.
    assert [(p.cores, p.neurons_per_core) for p in mapping.populations] == [
        ((0, 1, 2), (2, 2, 1)),
        ((3, 4), (2, 1)),
        ((5, 6, 7, 8, 9), (2, 2, 2, 2, 1)),
    ]
    assert (mapping.cores, mapping.tiles, mapping.chips, mapping.cores_per_chip) == (10, 5, 2, 8)
    # tile = core // 2; chip = core // 8; tiles row-major on a 2-wide mesh; chip 1 continues east.
    expected = {  # core: (tile, chip, position)
        0: (0, 0, (0, 0)), 1: (0, 0, (0, 0)), 2: (1, 0, (1, 0)), 3: (1, 0, (1, 0)),
        4: (2, 0, (0, 1)), 5: (2, 0, (0, 1)), 6: (3, 0, (1, 1)), 7: (3, 0, (1, 1)),
        8: (4, 1, (2, 0)), 9: (4, 1, (2, 0)),
    }
    for core, (tile, chip_index, position) in expected.items():
        assert (mapping.tile_of(core), mapping.chip_of(core), mapping.position(core)) == \
            (tile, chip_index, position)
    d = mapping.to_dict()
    assert d["populations"][2]["tiles"] == [2, 3, 4] and d["populations"][2]["chips"] == [0, 1]
    assert json.loads(json.dumps(d)) == d


def test_per_neuron_values_sum_per_core():
    chip = small_chip(neurons_per_core=4, cores_per_tile=1, tiles_x=4, tiles_y=1)
    placement = map_to_cores(chain(10), chip).placement("p0")
    assert placement.neurons_per_core == (4, 4, 2)
    assert placement.neurons_on_cores(np.arange(10)).tolist() == [0 + 1 + 2 + 3, 4 + 5 + 6 + 7,
                                                                   8 + 9]
    assert placement.neurons_on_cores(np.ones((2, 5), np.int64)).tolist() == [4, 4, 2]
