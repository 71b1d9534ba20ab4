"""Small random QGraphs for the Lava backend's tests: active, per-neuron parameters, every
kind of projection the compiler has to realise (numpy only)."""

from __future__ import annotations

import numpy as np

from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def ints(self, lo: int, hi: int, shape) -> np.ndarray:
        return self.rng.integers(lo, hi, shape)

    def weights(self, shape, lo: int = -128, hi: int = 128) -> np.ndarray:
        return self.ints(lo, hi, shape)

    def population(self, name, shape, projections, *, du_full=True, gain=False, readout=False,
                   vth=(5, 40), bias=(-60, 200), bias_exp=2, decays=(100, 4000),
                   per_neuron=True) -> IntPopulation:
        shape = tuple(shape)

        def values(lo, hi):
            if per_neuron:
                return self.ints(lo, hi, shape)
            return np.full(shape, int(self.rng.integers(lo, hi)))

        gains = self.ints(1500, 4096, shape) if gain else None
        return IntPopulation(
            name=name, shape=shape, projections=projections,
            dv=values(*decays), du=np.full(shape, 4095) if du_full else values(0, 4096),
            vth=values(*vth), bias_exp=bias_exp, bias_mant=self.bias(bias, shape, du_full, gains),
            v_scale=1.0, gain=gains, readout=readout,
        )


    def bias(self, bounds: tuple[int, int], shape: tuple[int, ...], du_full: bool,
             gain: np.ndarray | None) -> np.ndarray:
        """What NIR's float form can carry (hardware_sim.ir.nir): no bias with current
        memory (du < 4095), one bias per conv channel (before the input gain)."""
        if not du_full:
            return np.zeros(shape, np.int64)
        if len(shape) != 3:
            return self.ints(*bounds, shape)
        per_channel = np.broadcast_to(self.ints(*bounds, (shape[0], 1, 1)), shape)
        if gain is None:
            return per_channel.copy()
        return np.rint(per_channel * gain / 4096).astype(np.int64)


def mlp(seed: int = 0) -> QGraph:
    """input (20,) graded → 32 (per-neuron gain, current memory) → 16 → readout 5."""
    b = _Builder(seed)
    d1 = Projection(INPUT, "dense", b.weights((32, 20)), (20,), weight_exp=-2)
    p1 = b.population("h1", (32,), [d1], gain=True, du_full=False)
    d2 = Projection("h1", "dense", b.weights((16, 32)), (32,), weight_exp=0)
    p2 = b.population("h2", (16,), [d2], vth=(60, 200))
    d3 = Projection("h2", "dense", b.weights((5, 16)), (16,), weight_exp=0)
    p3 = b.population("readout", (5,), [d3], readout=True, bias=(-500, 500))
    return QGraph(input_shape=(20,), populations=[p1, p2, p3], output="readout", input_bits=4)


def convnet(seed: int = 0) -> QGraph:
    """input (2, 6, 6) → conv (stride 1, e ≥ 0: Lava Conv, graded input) → sum-pool 2 + conv
    (pool folded into a Lava Conv) → conv with e < 0 (Sparse) → flatten → readout."""
    b = _Builder(seed)
    c1 = Projection(INPUT, "conv", b.weights((4, 2, 3, 3)), (2, 6, 6), weight_exp=0, padding=1)
    p1 = b.population("c1", c1.output_shape, [c1], gain=True, vth=(20, 80))
    c2 = Projection("c1", "conv", b.weights((6, 4, 3, 3)), p1.shape, weight_exp=0,
                    padding=1, pool=2)
    p2 = b.population("c2", c2.output_shape, [c2], vth=(100, 400))
    c3 = Projection("c2", "conv", b.weights((5, 6, 2, 2)), p2.shape, weight_exp=-1,
                    stride=1)
    p3 = b.population("c3", c3.output_shape, [c3], vth=(5, 40))
    ro = Projection("c3", "dense", b.weights((5, int(np.prod(p3.shape)))), p3.shape, weight_exp=0)
    p4 = b.population("readout", (5,), [ro], readout=True)
    return QGraph(input_shape=(2, 6, 6), populations=[p1, p2, p3, p4], output="readout",
                  input_bits=4)


def residual(seed: int = 0) -> QGraph:
    """input (1, 6, 6) → c1 (stride 2) → c2 → c3 = conv(c2) + conv(c1) (a residual join of two
    Convs into one port, the shortcut balanced by a delay line); d4 = dense(c3) +
    dense(c1, NIR delay 1) + dense(pooled input, graded, delay 2) → readout. The input's
    pool 2 on a 5×5 input does not tile it (a Sparse matrix)."""
    b = _Builder(seed)
    c1 = Projection(INPUT, "conv", b.weights((3, 1, 3, 3)), (1, 5, 5), weight_exp=-1, padding=1,
                    stride=2)
    p1 = b.population("c1", c1.output_shape, [c1], vth=(5, 30))
    c2 = Projection("c1", "conv", b.weights((3, 3, 3, 3)), p1.shape, weight_exp=0,
                    padding=1)
    p2 = b.population("c2", c2.output_shape, [c2], gain=True, vth=(30, 150))
    c3a = Projection("c2", "conv", b.weights((3, 3, 3, 3)), p2.shape, weight_exp=0,
                     padding=1)
    c3b = Projection("c1", "conv", b.weights((3, 3, 1, 1)), p1.shape, weight_exp=0)
    p3 = b.population("c3", c3a.output_shape, [c3a, c3b], vth=(30, 150))
    n3, n1 = int(np.prod(p3.shape)), int(np.prod(p1.shape))
    d4a = Projection("c3", "dense", b.weights((8, n3)), p3.shape, weight_exp=0)
    d4b = Projection("c1", "dense", b.weights((8, n1)), p1.shape, weight_exp=0, delay=1)
    d4c = Projection(INPUT, "dense", b.weights((8, 4)), (1, 5, 5), weight_exp=-2,
                     pool=2, delay=2)
    p4 = b.population("d4", (8,), [d4a, d4b, d4c], du_full=False, vth=(100, 400))
    ro = Projection("d4", "dense", b.weights((4, 8)), (8,), weight_exp=0)
    p5 = b.population("readout", (4,), [ro], readout=True)
    return QGraph(input_shape=(1, 5, 5), populations=[p1, p2, p3, p4, p5], output="readout",
                  input_bits=4)


def junctions(seed: int = 0) -> QGraph:
    """Dense joins of paths of unequal length with delays, and biases strong enough that
    layers fire before their first input arrives: input (12,) → h1 → h2;
    h3 = dense(h2) + dense(h1, delay 2) + dense(input, delay 1);
    readout = dense(h3) + dense(h1, delay 3)."""
    b = _Builder(seed)
    d1 = Projection(INPUT, "dense", b.weights((16, 12)), (12,), weight_exp=-1)
    p1 = b.population("h1", (16,), [d1], bias=(100, 400))
    d2 = Projection("h1", "dense", b.weights((12, 16)), (16,), weight_exp=0)
    p2 = b.population("h2", (12,), [d2], bias=(0, 300))
    d3a = Projection("h2", "dense", b.weights((10, 12)), (12,), weight_exp=0)
    d3b = Projection("h1", "dense", b.weights((10, 16)), (16,), weight_exp=0, delay=2)
    d3c = Projection(INPUT, "dense", b.weights((10, 12)), (12,), weight_exp=-2, delay=1)
    p3 = b.population("h3", (10,), [d3a, d3b, d3c], bias=(0, 300))
    roa = Projection("h3", "dense", b.weights((4, 10)), (10,), weight_exp=0)
    rob = Projection("h1", "dense", b.weights((4, 16)), (16,), weight_exp=0, delay=3)
    p4 = b.population("readout", (4,), [roa, rob], readout=True)
    return QGraph(input_shape=(12,), populations=[p1, p2, p3, p4], output="readout",
                  input_bits=4)


def overflow_mlp(seed: int = 0) -> QGraph:
    """A dense net whose hidden layer wraps u (large weights, e = 7) and whose readout clips v."""
    b = _Builder(seed)
    d1 = Projection(INPUT, "dense", b.weights((12, 10)), (10,), weight_exp=7)
    p1 = b.population("wraps", (12,), [d1], vth=(2000, 60000))
    d2 = Projection("wraps", "dense", b.weights((3, 12), 100, 128), (12,), weight_exp=7)
    p2 = b.population("readout", (3,), [d2], readout=True, decays=(0, 1), bias=(4000, 4095),
                      bias_exp=7)
    return QGraph(input_shape=(10,), populations=[p1, p2], output="readout", input_bits=4)


def one_decay_per_layer(seed: int = 0) -> QGraph:
    """What Lava's own LIF can hold: du, dv, vth one value per layer (bias per neuron);
    the last layer spikes (Lava's LIF has no readout mode)."""
    b = _Builder(seed)
    d1 = Projection(INPUT, "dense", b.weights((24, 16)), (16,), weight_exp=-1)
    p1 = b.population("h1", (24,), [d1], per_neuron=False, du_full=False)
    d2 = Projection("h1", "dense", b.weights((12, 24)), (24,), weight_exp=0)
    p2 = b.population("h2", (12,), [d2], per_neuron=False, vth=(60, 200))
    d3 = Projection("h2", "dense", b.weights((6, 12)), (12,), weight_exp=0)
    p3 = b.population("out", (6,), [d3], per_neuron=False, vth=(40, 150))
    return QGraph(input_shape=(16,), populations=[p1, p2, p3], output="out", input_bits=4)


def resnet(seed: int = 1) -> tuple[QGraph, np.ndarray]:
    """The model zoo's ResNet-20 at width 0.25, one block per stage, on (1, 8, 8) inputs,
    exported: stem (4, 8, 8) → s1b1 (identity shortcut, a 1×1 conv of 127·I) → s2b1 (8, 4, 4)
    and s3b1 (16, 2, 2) with 1×1 stride-2 conv shortcuts → global pooling → readout 10.
    Random weights, BN statistics from a batch and a positive BN β (as
    tests/export/conftest.py does) so that every layer fires. Returns the QGraph and the
    float inputs (64, 1, 8, 8) the statistics came from (``trained_like``). Imports torch (main
    env only)."""
    from export import export_model
    from tests.export.conftest import trained_like

    model, x = trained_like("resnet20", "neuron", seed=seed, bias=(0.2, 1.0), width=0.25, depth=1 / 3)
    return export_model(model).graph, x.numpy()


def model_inputs(graph: QGraph, x: np.ndarray, timesteps: int, seed: int = 0) -> np.ndarray:
    """An exported model's float inputs ``x`` (N, *input_shape) as its graded integer input
    spikes (N, T, ...), the static image each step plus noise of ±2 (clipped)."""
    ints, _ = graph.quantize_input(x)
    rng = np.random.default_rng(seed + 2000)
    noise = rng.integers(-2, 3, (len(ints), timesteps, *graph.input_shape))
    return np.clip(ints[:, None] + noise, 0, (1 << graph.input_bits) - 1)


def inputs_for(graph: QGraph, samples: int, timesteps: int, seed: int = 0) -> np.ndarray:
    """Random graded inputs (N, T, *input_shape), a static image per sample plus noise."""
    rng = np.random.default_rng(seed + 1000)
    hi = (1 << graph.input_bits) - 1
    image = rng.integers(0, hi + 1, (samples, 1, *graph.input_shape))
    noise = rng.integers(-2, 3, (samples, timesteps, *graph.input_shape))
    return np.clip(image + noise, 0, hi)
