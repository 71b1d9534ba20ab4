"""Convolutions whose stride and padding differ between rows and columns (lava-dl's PilotNet
layer 4: stride (2, 1), padding (1, 0)), shared by the tests of every consumer of
``Projection.stride``/``padding`` (synapses, engine, NIR, netx, ONNX, Lava)."""

from __future__ import annotations

import numpy as np

from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph

GEOMETRIES = [  # (stride, padding, kernel (kH, kW), pool): every pair unequal somewhere
    ((2, 1), (1, 0), (3, 3), 1),  # PilotNet's layer 4
    ((1, 2), (0, 1), (3, 3), 1),  # its transpose
    ((1, 3), (2, 0), (3, 2), 1),  # a non-square kernel too
    ((2, 1), (1, 0), (3, 3), 2),  # after a 2×2 sum pool that tiles the padded rows only
    ((1, 2), (0, 0), (2, 3), 2),  # after a pool that drops a row and a column (no padding)
]


def projection(stride, padding, kernel, pool, rng: np.random.Generator,
               weights: tuple[int, int] = (-3, 4)) -> Projection:
    """A conv from a (2, H, W) source into 3 channels; odd sides (a pool drops a row and a
    column) except along a padded axis, which a pool must tile (``synapses.conv_unpooled_exact``,
    per axis)."""
    source = (2, 8 if pool > 1 and padding[0] else 9, 6 if pool > 1 and padding[1] else 7)
    weight = rng.integers(*weights, (3, 2, *kernel))
    return Projection(INPUT, "conv", weight, source, stride=stride, padding=padding, pool=pool)


def graph(seed: int = 0) -> QGraph:
    """input (2, 11, 12) graded → conv (3, 3) stride (2, 1) padding (1, 0) → pool 2 + conv (2, 3)
    stride (1, 2) padding (1, 0) → conv with e < 0, stride (2, 1) → dense readout: every
    per-axis path an executor has (Conv, pool folded into Conv, Sparse)."""
    rng = np.random.default_rng(seed)

    def population(name, proj, vth, readout=False):
        shape = proj.output_shape
        return IntPopulation(name=name, shape=shape, projections=[proj],
                             dv=rng.integers(100, 4000, shape), du=np.full(shape, 4095),
                             vth=rng.integers(*vth, shape), bias_exp=2,
                             bias_mant=np.broadcast_to(rng.integers(-20, 120, (shape[0], 1, 1))
                                                       if len(shape) == 3 else rng.integers(-20, 120, shape),
                                                       shape).copy(),
                             v_scale=1.0, readout=readout)

    c1 = Projection(INPUT, "conv", rng.integers(-128, 128, (4, 2, 3, 3)), (2, 11, 12),
                    stride=(2, 1), padding=(1, 0))
    p1 = population("c1", c1, (20, 80))
    c2 = Projection("c1", "conv", rng.integers(-128, 128, (5, 4, 2, 3)), p1.shape,
                    stride=(1, 2), padding=(1, 0), pool=2)
    p2 = population("c2", c2, (50, 200))
    c3 = Projection("c2", "conv", rng.integers(-128, 128, (3, 5, 2, 2)), p2.shape,
                    weight_exp=-1, stride=(2, 1), padding=(0, 1))
    p3 = population("c3", c3, (5, 40))
    ro = Projection("c3", "dense", rng.integers(-128, 128, (4, int(np.prod(p3.shape)))), p3.shape)
    p4 = population("readout", ro, (5, 40), readout=True)
    return QGraph(input_shape=(2, 11, 12), populations=[p1, p2, p3, p4], output="readout",
                  input_bits=4)


def inputs(graph_: QGraph, samples: int, timesteps: int, seed: int = 0) -> np.ndarray:
    """Graded inputs (N, T, *input_shape): a static image per sample plus noise."""
    rng = np.random.default_rng(seed + 1000)
    hi = (1 << graph_.input_bits) - 1
    image = rng.integers(0, hi + 1, (samples, 1, *graph_.input_shape))
    return np.clip(image + rng.integers(-2, 3, (samples, timesteps, *graph_.input_shape)), 0, hi)
