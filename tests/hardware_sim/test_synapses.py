"""The connectivity module against the spec-literal loop (tests/hardware_sim/spec_loop.py), which
walks every synapse of DESIGN §3 one by one: fan-in, fan-out, synapse counts, arrivals, the
unpooled weights and the core masks all follow from it on odd shapes (pools that drop a row,
strides, padding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, Projection
from tests.hardware_sim.spec_loop import _acc


def _projections() -> list[Projection]:
    rng = np.random.default_rng(3)
    out = []
    for kind in ("dense", "conv"):
        for pool in (1, 2):
            for stride, padding, kernel in ((1, 0, 1), (1, 1, 3), (2, 1, 3), (2, 0, 2)):
                if kind == "dense" and (stride, padding, kernel) != (1, 0, 1):
                    continue
                source = (2, 7, 5)  # odd sides: pooling by 2 drops a row and a column
                pooled = (2, 7 // pool, 5 // pool)
                if kind == "dense":
                    weight = rng.integers(-3, 4, (4, int(np.prod(pooled))))
                else:
                    weight = rng.integers(-3, 4, (3, 2, kernel, kernel))
                    if pool > 1 and padding:  # the unpooled form needs a tiling source here
                        source, pooled = (2, 6, 4), (2, 3, 2)
                out.append(Projection(INPUT, kind, weight, source, stride=stride, padding=padding, pool=pool))
    return out


PROJECTIONS = _projections()
IDS = [f"{p.kind}-pool{p.pool}-s{p.stride}-p{p.padding}-k{p.weight.shape[-1]}" for p in PROJECTIONS]


def _unit(proj: Projection) -> Projection:
    return Projection(proj.source, proj.kind, np.ones_like(proj.weight), proj.source_shape,
                      stride=proj.stride, padding=proj.padding, pool=proj.pool)


def _spec_acc(proj: Projection, src: np.ndarray) -> np.ndarray:
    return np.asarray(_acc(proj, src)[0], dtype=np.int64).reshape(-1)


@pytest.mark.parametrize("proj", PROJECTIONS, ids=IDS)
def test_fan_in_is_the_unit_projection_of_all_ones(proj):
    ones = np.ones(proj.source_shape, dtype=int)
    np.testing.assert_array_equal(synapses.fan_in(proj), _spec_acc(_unit(proj), ones))


@pytest.mark.parametrize("proj", PROJECTIONS, ids=IDS)
def test_fan_out_counts_what_each_source_neuron_reaches(proj):
    size = int(np.prod(proj.source_shape))
    expected = np.zeros(size, np.int64)
    for j in range(size):
        one_hot = np.zeros(size, dtype=int)
        one_hot[j] = 1
        expected[j] = _spec_acc(_unit(proj), one_hot.reshape(proj.source_shape)).sum()
    np.testing.assert_array_equal(synapses.fan_out(proj).reshape(-1), expected)
    nonzero = np.zeros(size, np.int64)  # NeuroBench: only synapses with a non-zero weight
    present = Projection(proj.source, proj.kind, (proj.weight != 0).astype(int), proj.source_shape,
                         stride=proj.stride, padding=proj.padding, pool=proj.pool)
    for j in range(size):
        one_hot = np.zeros(size, dtype=int)
        one_hot[j] = 1
        nonzero[j] = _spec_acc(present, one_hot.reshape(proj.source_shape)).sum()
    pooled = synapses.pooled_fan_out(proj, nonzero_weights=True)
    np.testing.assert_array_equal(synapses._unpool(pooled, proj).reshape(-1), nonzero)


@pytest.mark.parametrize("proj", PROJECTIONS, ids=IDS)
def test_synapse_list_and_count(proj):
    rows, cols, vals = synapses.synapse_list(proj)
    k2 = proj.pool ** 2
    assert len(rows) == synapses.synapse_count(proj) * k2  # one stored weight per pooled synapse
    rng = np.random.default_rng(0)
    src = rng.integers(0, 5, proj.source_shape)
    acc = np.zeros(int(np.prod(proj.output_shape)), np.int64)
    np.add.at(acc, rows, vals * src.reshape(-1)[cols])
    np.testing.assert_array_equal(acc, _spec_acc(proj, src))


@pytest.mark.parametrize("proj", PROJECTIONS, ids=IDS)
def test_arrivals_and_unpooled_weights_equal_the_spec(proj):
    rng = np.random.default_rng(1)
    src = rng.integers(0, 3, (4, *proj.source_shape)) * (rng.random((4, *proj.source_shape)) < 0.5)
    for b in range(4):
        np.testing.assert_array_equal(synapses.arrivals(proj, src != 0)[b].reshape(-1),
                                      _spec_acc(_unit(proj), (src[b] != 0).astype(int)))
    weight = torch.as_tensor(synapses.unpooled_weight(proj), dtype=torch.float64)
    x = torch.as_tensor(src, dtype=torch.float64)
    if proj.kind == "dense":
        acc = x.reshape(4, -1) @ weight.T
    else:
        assert synapses.conv_unpooled_exact(proj)
        stride, padding = synapses.unpooled_conv_geometry(proj)
        acc = F.conv2d(x, weight, stride=stride, padding=padding)
    for b in range(4):
        np.testing.assert_array_equal(acc[b].reshape(-1).numpy().astype(np.int64), _spec_acc(proj, src[b]))


@pytest.mark.parametrize("proj", PROJECTIONS, ids=IDS)
def test_source_mask_is_the_sources_of_a_target_range(proj):
    rows, cols, _ = synapses.synapse_list(proj)
    n = int(np.prod(proj.output_shape))
    for first, count in ((0, 1), (1, max(1, n // 3)), (n // 2, n - n // 2), (0, n)):
        expected = np.zeros(int(np.prod(proj.source_shape)), bool)
        expected[np.unique(cols[(rows >= first) & (rows < first + count)])] = True
        np.testing.assert_array_equal(synapses.source_mask(proj, first, count), expected)
