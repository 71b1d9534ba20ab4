"""Core placement against mappings worked out by hand, and the vectorised geometry against a
literal per-neuron definition of the same mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hardware_sim.chips import derive_chip, load_chip
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph, neuron_count


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


# --- the vectorised geometry against a literal per-neuron definition -------------------------

def literal_sources(proj: Projection, target: int) -> set[int]:
    """The flat source neurons that reach target neuron ``target``, walked tap by tap (the
    definition; the package computes it per population from the geometry)."""
    src = np.arange(int(np.prod(proj.source_shape))).reshape(proj.source_shape)
    k = proj.pool
    if proj.kind == "dense":
        if k == 1:
            return set(src.reshape(-1).tolist())
        c, h, w = proj.pooled_shape
        return set(src[:, :h * k, :w * k].reshape(-1).tolist())
    c_out, oh, ow = proj.output_shape
    _, c_in, kh, kw = proj.weight.shape
    _, h, w = proj.pooled_shape
    _, oy, ox = np.unravel_index(target, (c_out, oh, ow))
    (sh, sw), (ph, pw) = proj.stride, proj.padding
    out = set()
    for ci in range(c_in):
        for i in range(kh):
            for j in range(kw):
                y, x = oy * sh - ph + i, ox * sw - pw + j
                if 0 <= y < h and 0 <= x < w:
                    out |= set(src[ci, y * k:(y + 1) * k, x * k:(x + 1) * k].reshape(-1).tolist())
    return out


def literal_mapping(graph: QGraph, neurons_per_core: int, axons_cap: float = np.inf):
    """Per population, runs grown one neuron at a time (neurons and input axons: the distinct
    sources of the run, per projection); per core the sources reaching it and the
    destination cores of each source neuron."""
    from hardware_sim.cost.mapping import weight_bits

    sources = {pop.name: [[literal_sources(p, t) for t in range(int(np.prod(pop.shape)))]
                          for p in pop.projections] for pop in graph.populations}
    runs, core = {}, 0
    for pop in graph.populations:
        n, per_proj, start, out = int(np.prod(pop.shape)), sources[pop.name], 0, []
        while start < n:
            count = 1
            while start + count < n and count < neurons_per_core:
                axons = sum(len(set().union(*s[start:start + count + 1])) for s in per_proj)
                if axons > axons_cap:
                    break
                count += 1
            out.append((core, start, count))
            core, start = core + 1, start + count
        runs[pop.name] = out
    usage = []
    for pop in graph.populations:
        for c, start, count in runs[pop.name]:
            bits = sum(len(s[j]) * weight_bits(p) for p, s in zip(pop.projections, sources[pop.name])
                       for j in range(start, start + count))
            axons = sum(len(set().union(*s[start:start + count])) for s in sources[pop.name])
            usage.append([c, pop.name, start, count, bits, axons, 0])
    for src_pop in graph.populations:  # axons out: (neuron, destination core) pairs
        reach = {}
        for pop in graph.populations:
            for p, s in zip(pop.projections, sources[pop.name]):
                if p.source != src_pop.name:
                    continue
                for c, start, count in runs[pop.name]:
                    for j in set().union(*s[start:start + count]):
                        reach.setdefault(j, set()).add(c)
        for row in usage:
            if row[1] == src_pop.name:
                row[6] = sum(len(reach.get(j, ())) for j in range(row[2], row[2] + row[3]))
    return [tuple(r) for r in usage], sources, runs


def _random_conv_net(rng: np.random.Generator, with_dense: bool = True) -> QGraph:
    """input → conv A (pooled, strided, padded) → conv B (with a 1×1 shortcut join, sometimes)
    → dense C (sum-pooled, sometimes), weights of a few bits."""
    z = lambda shape: np.zeros(shape, np.int64)  # noqa: E731
    pool = int(rng.integers(1, 3))
    side = int(rng.integers(5, 9))
    k, stride = int(rng.choice([1, 2, 3])), int(rng.integers(1, 3))
    pad = int(rng.integers(0, k))
    c1 = Projection(INPUT, "conv", rng.integers(-3, 4, (2, 2, k, k)), (2, side, side),
                    stride=stride, padding=pad, pool=pool)
    shape = c1.output_shape
    a = IntPopulation("A", shape, [c1], dv=z(shape), du=z(shape) + 4095, vth=z(shape),
                      bias_mant=z(shape), bias_exp=0, v_scale=1.0)
    k2 = int(rng.choice([1, 3]))
    c2 = Projection("A", "conv", rng.integers(-8, 8, (3, 2, k2, k2)), shape, padding=k2 // 2)
    join = Projection("A", "conv", rng.integers(-8, 8, (3, 2, 1, 1)), shape)  # a 1×1 shortcut
    out_shape = c2.output_shape
    b = IntPopulation("B", out_shape, [c2] + ([join] if rng.random() < 0.5 else []),
                      dv=z(out_shape), du=z(out_shape) + 4095, vth=z(out_shape),
                      bias_mant=z(out_shape), bias_exp=0, v_scale=1.0)
    dense_pool = 2 if min(out_shape[1:]) >= 2 and rng.random() < 0.5 else 1
    fc = Projection("B", "dense", rng.integers(-2, 2, (4, int(np.prod(out_shape[:1])) * (
        out_shape[1] // dense_pool) * (out_shape[2] // dense_pool))), out_shape, pool=dense_pool)
    c = IntPopulation("C", (4,), [fc], dv=z(4), du=z(4) + 4095, vth=z(4), bias_mant=z(4),
                      bias_exp=0, v_scale=1.0)
    return QGraph(input_shape=(2, side, side), populations=[a, b, c] if with_dense else [a, b],
                  output="C" if with_dense else "B")


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_mapping_equals_the_per_neuron_definition(seed):
    """Runs, synaptic memory, input and output axons and every destination mask, from the
    geometry (``synapses.reached_positions``), equal the literal per-neuron definition."""
    from hardware_sim.ir import synapses

    rng = np.random.default_rng(seed)
    graph = _random_conv_net(rng, with_dense=seed % 2 == 0)  # odd: an axon limit that binds
    npc = int(rng.integers(1, 64))
    widest = max(int(sum(synapses.fan_in(p) for p in pop.projections).max())
                 for pop in graph.populations)  # input axons of the widest neuron alone
    cap = float(widest + rng.integers(0, 10)) if seed % 2 else np.inf
    limits = {} if np.isinf(cap) else {"axons_in_per_core": cap}
    expected, sources, runs = literal_mapping(graph, npc, cap)
    if np.isfinite(cap):  # the limit shapes the runs somewhere
        assert any(count < npc and start + count < int(np.prod(graph.population(name).shape))
                   for name, rs in runs.items() for _, start, count in rs)
    mapping = map_to_cores(graph, small_chip(npc, 2, 3, 2, limits), split="never")
    got = [(u.core, u.population, u.first_neuron, u.neurons, u.synapse_bits, u.axons_in,
            u.axons_out) for u in mapping.core_usage]
    assert got == expected
    for pop in graph.populations:  # per projection, per core: the sources that reach it
        for proj, per_target in zip(pop.projections, sources[pop.name]):
            firsts = [start for _, start, _ in runs[pop.name]]
            counts = [count for _, _, count in runs[pop.name]]
            positions = synapses.reached_positions(proj, firsts, counts)
            for mask, start, count in zip(positions, firsts, counts):
                literal = np.zeros(int(np.prod(proj.source_shape)), bool)
                literal[sorted(set().union(*per_target[start:start + count]))] = True
                np.testing.assert_array_equal(
                    synapses.positions_to_neurons(mask, proj.source_shape), literal)
                np.testing.assert_array_equal(synapses.source_mask(proj, start, count), literal)


def test_resnet_sized_mapping_is_quick():
    """A 128-channel 32×32 conv layer pair (≈ 0.3 M neurons, ≈ 0.3 G synapses) maps in well
    under the time the per-neuron masks took (minutes); a generous bound for a shared CPU."""
    import time

    rng = np.random.default_rng(0)
    shape = (128, 32, 32)
    z = np.zeros(shape, np.int64)

    def pop(name, source, source_shape):
        proj = Projection(source, "conv", rng.integers(-128, 128, (128, source_shape[0], 3, 3)),
                          source_shape, padding=1)
        return IntPopulation(name, shape, [proj], dv=z, du=z + 4095, vth=z, bias_mant=z,
                             bias_exp=0, v_scale=1.0)

    graph = QGraph(input_shape=(3, 32, 32), populations=[
        pop("a", INPUT, (3, 32, 32)), pop("b", "a", shape), pop("c", "b", shape)], output="c")
    start = time.perf_counter()
    mapping = map_to_cores(graph, derive_chip("loihi2"))
    assert time.perf_counter() - start < 20
    assert sum(u.neurons for u in mapping.core_usage) == 3 * 128 * 32 * 32


def test_each_population_names_the_limit_that_sets_its_cores():
    """Hand-worked (zero weights store 1 bit each): p0's neurons have fan-in 1 (1 bit), so 8
    fit a core by count; p1's have fan-in 100 (100 bits), so only 2 fit 250 bits of synaptic
    memory. p0: 13 cores, 96 % of the neuron slots, 3 % of the memory → "neurons"; p1:
    5 cores, 25 % of the slots, 80 % of the memory → "synaptic_memory"."""
    chip = small_chip(neurons_per_core=8, cores_per_tile=4, tiles_x=8, tiles_y=4,
                      limits={"synaptic_memory_bits_per_core": 250})
    mapping = map_to_cores(chain(100, 10), chip)
    assert mapping.placement("p0").neurons_per_core == (8,) * 12 + (4,)
    assert mapping.placement("p1").neurons_per_core == (2,) * 5
    assert mapping.binding_limit("p0") == "neurons"
    assert mapping.binding_limit("p1") == "synaptic_memory"
    assert [p["limited_by"] for p in mapping.to_dict()["populations"]] == ["neurons", "synaptic_memory"]


def test_dalif_energy_refuses_what_does_not_fit_before_simulating(tmp_path, monkeypatch, capsys):
    """A population fed by the input (not splittable) whose 64 inputs exceed a chip's 8 input
    axons: `dalif energy` says so in one line, naming the limit and what to try, exit code 2,
    and never starts the simulation."""
    from dalif.cli import energy as energy_cli
    from dalif.cli import main
    from hardware_sim.chips import CHIPS_DIR
    from hardware_sim.ir.nir import write_nir

    z = np.zeros(10, np.int64)
    pop = IntPopulation("fc", (10,), [Projection(INPUT, "dense", np.ones((10, 64), np.int64), (64,))],
                        dv=z, du=z + 4095, vth=z + 50, bias_mant=z, bias_exp=0, v_scale=1.0)
    model = tmp_path / "fc.nir"
    write_nir(QGraph(input_shape=(64,), populations=[pop], output="fc", input_scale=1 / 16), model, 4)
    profile = json.loads((CHIPS_DIR / "loihi.json").read_text())
    profile["limits"]["axons_in_per_core"] = {"value": 8, "source": "test: a tiny core"}
    chip = tmp_path / "tiny.json"
    chip.write_text(json.dumps(profile))

    def simulated(*args, **kwargs):
        raise AssertionError("the simulation started before the mapping was checked")

    monkeypatch.setattr(energy_cli, "_run_recorded", simulated)
    code = main(["energy", str(model), "--chip", str(chip), "--out", str(tmp_path / "e"),
                 "--limit", "3", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "does not fit" in err[0] and "axons_in_per_core" in err[0] and "--chip loihi2" in err[0]
    assert "fed by the network input" in err[0]
    assert not (tmp_path / "e").exists()


def test_output_axons_repartition_the_source():
    """Hand-worked: input → A (4) → B (4), dense, 2 neurons per core. B takes 2 cores, so each
    A neuron sends to 2 cores; with 3 output axons per core, A's cores hold one neuron each
    (2 ≤ 3; two would need 4), where before the source was refused."""
    graph = QGraph(input_shape=(1,), populations=[
        IntPopulation("A", (4,), [Projection(INPUT, "dense", np.ones((4, 1), np.int64), (1,))],
                      dv=np.zeros(4, int), du=np.full(4, 4095), vth=np.ones(4, int),
                      bias_mant=np.zeros(4, int), bias_exp=0, v_scale=1.0),
        IntPopulation("B", (4,), [Projection("A", "dense", np.ones((4, 4), np.int64), (4,))],
                      dv=np.zeros(4, int), du=np.full(4, 4095), vth=np.ones(4, int),
                      bias_mant=np.zeros(4, int), bias_exp=0, v_scale=1.0)], output="B")
    mapping = map_to_cores(graph, small_chip(2, 4, 2, 2, {"axons_out_per_core": 3}))
    assert mapping.placement("A").neurons_per_core == (1, 1, 1, 1)
    assert mapping.placement("B").neurons_per_core == (2, 2)
    assert [u.axons_out for u in mapping.core_usage] == [2, 2, 2, 2, 0, 0]
    assert mapping.binding_limit("A") == "axons_out"
    unlimited = map_to_cores(graph, small_chip(2, 4, 2, 2))
    assert unlimited.placement("A").neurons_per_core == (2, 2)


def test_shared_conv_kernels_count_once_per_core():
    """Hand-worked: B = conv 3×3 of A (2 channels) into 4 channels of 4 × 4, 8-bit weights.
    Shared kernels: a core stores 2·3·3·8 = 144 bits per output channel it touches, so with
    300 bits a core spans at most 2 channels: runs of 32 neurons (16 positions per channel).
    Expanded synapses: a neuron stores its fan-in × 8 bits (18 × 8 = 144 inside, 64 in a
    corner), so 300 bits hold 2 to 4 neurons; the profile's feature decides which."""
    rng = np.random.default_rng(0)
    z3, z4 = np.zeros((2, 4, 4), np.int64), np.zeros((4, 4, 4), np.int64)
    a = IntPopulation("A", (2, 4, 4), [Projection(INPUT, "conv", np.ones((2, 1, 1, 1), np.int64),
                                                  (1, 4, 4))],
                      dv=z3, du=z3 + 4095, vth=z3, bias_mant=z3, bias_exp=0, v_scale=1.0)
    weight = rng.integers(-128, 128, (4, 2, 3, 3))
    weight[0, 0, 0, 0] = -128
    b = IntPopulation("B", (4, 4, 4), [Projection("A", "conv", weight, (2, 4, 4), padding=1)],
                      dv=z4, du=z4 + 4095, vth=z4, bias_mant=z4, bias_exp=0, v_scale=1.0)
    graph = QGraph(input_shape=(1, 4, 4), populations=[a, b], output="B")

    def chip(shared):
        return derive_chip("loihi", neurons_per_core=64, limits={
            "synaptic_memory_bits_per_core": 300}, features={"shared_conv_weights": shared})

    shared = map_to_cores(graph, chip(1), split="never")
    assert shared.placement("B").neurons_per_core == (32, 32)
    assert [u.synapse_bits for u in shared.core_usage if u.population == "B"] == [288, 288]
    assert shared.shared_conv_weights and any("kernel" in n for n in shared.notes)
    expanded = map_to_cores(graph, chip(0), split="never")
    assert max(expanded.placement("B").neurons_per_core) <= 300 // (2 * 4 * 8)  # corners: 64 bits
    assert all(u.synapse_bits <= 300 for u in expanded.core_usage)
    assert sum(u.synapse_bits for u in expanded.core_usage if u.population == "B") == \
        8 * int(synapses_fan_in_total(b))


def synapses_fan_in_total(pop) -> int:
    from hardware_sim.ir import synapses

    return int(sum(synapses.fan_in(p).sum() for p in pop.projections))


def resnet19_graph() -> QGraph:
    """The CIFAR ResNet-19 of the paper at full width (3×3 stem of 128 channels, stages of
    128/256/512 channels with 3/3/2 basic blocks, 1×1 projection shortcuts, global sum pool,
    FC 256, FC 10), random int8 weights: the mapping depends on shapes and weight widths."""
    rng = np.random.default_rng(0)
    pops = []

    def add(name, projections, readout=False):
        shape = projections[0].output_shape
        z = np.zeros(shape, np.int64)
        pops.append(IntPopulation(name, shape, projections, dv=z, du=z + 4095, vth=z + 100,
                                  bias_mant=z, bias_exp=0, v_scale=1.0, readout=readout))
        return pops[-1]

    def conv(src, c_out, k, stride=1):
        return Projection(src.name if src else INPUT, "conv",
                          rng.integers(-128, 128, (c_out, (src.shape if src else (3, 32, 32))[0], k, k)),
                          src.shape if src else (3, 32, 32), stride=stride, padding=k // 2)

    x = add("stem", [conv(None, 128, 3)])
    for s, (c, n) in enumerate(zip((128, 256, 512), (3, 3, 2))):
        for i in range(n):
            stride = 2 if i == 0 and s else 1
            a = add(f"s{s}b{i}a", [conv(x, c, 3, stride)])
            x = add(f"s{s}b{i}", [conv(a, c, 3), conv(x, c, 1, stride)])
    fc = add("fc", [Projection(x.name, "dense", rng.integers(-128, 128, (256, 512)), x.shape, pool=8)])
    add("out", [Projection(fc.name, "dense", rng.integers(-128, 128, (10, 256)), (256,))], readout=True)
    return QGraph(input_shape=(3, 32, 32), populations=pops, output="out")


@pytest.mark.parametrize("chip_name", ["loihi", "loihi2"])
def test_full_width_resnet19_maps_within_every_limit_in_under_a_minute(chip_name):
    """Full width ResNet-19 (fan-in up to 3·3·512 + 256 = 4864 > Loihi's 4096 input axons,
    a stem whose neurons reach hundreds of cores) maps on both stock profiles, every core
    within every limit of the profile, in well under a minute."""
    import time

    graph = resnet19_graph()
    chip = load_chip(chip_name)
    start = time.perf_counter()
    mapping = map_to_cores(graph, chip)
    assert time.perf_counter() - start < 60
    caps = {"neurons": chip.neurons_per_core, **chip.limits}
    for u in mapping.core_usage:
        assert u.neurons <= caps["neurons"]
        assert u.synapse_bits <= caps.get("synaptic_memory_bits_per_core", np.inf)
        assert u.axons_in <= caps.get("axons_in_per_core", np.inf)
        assert u.axons_out <= caps.get("axons_out_per_core", np.inf)
    split = {p.name for p in mapping.populations if p.dendrites}
    if chip_name == "loihi":
        assert {"s2b0", "s2b1", "s2b1a", "fc"} <= split  # fan-in 4608 and more: must split
    else:
        assert not split and mapping.shared_conv_weights
    assert sum(u.neurons for u in mapping.core_usage if u.group is None) == \
        sum(neuron_count(p) for p in graph.populations)


def test_many_chips_form_a_near_square_grid():
    """10 cores of 2 per chip (1 core per tile, 2 × 1 tiles) = 5 chips, ⌈√5⌉ = 3 to a row:
    chip k at column k mod 3, row k div 3; core c is tile c of chip c // 2."""
    chip = small_chip(neurons_per_core=1, cores_per_tile=1, tiles_x=2, tiles_y=1)
    mapping = map_to_cores(chain(10), chip)
    assert (mapping.chips, mapping.chips_per_row) == (5, 3)
    expected = [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (0, 1), (1, 1), (2, 1), (3, 1)]
    assert [mapping.position(c) for c in range(10)] == expected
    assert mapping.positions(np.arange(10)).tolist() == [list(p) for p in expected]
    assert mapping.hops(0, 9) == (3, 1)
