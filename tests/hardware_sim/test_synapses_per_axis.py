"""Connectivity of convolutions whose stride and padding differ per axis (``synapses``), against
a case worked by hand and against torch's conv2d with tuple stride and padding (its counts as
the unit-weight conv and its gradient, its connectivity as its Jacobian); the engine against
the spec-literal loop of DESIGN §3 on a net of such convolutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hardware_sim import engine
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, GraphError, Projection

from . import per_axis
from .spec_loop import assert_matches_spec

IDS = [f"s{s}-p{p}-k{k}-pool{q}" for s, p, k, q in per_axis.GEOMETRIES]


def test_hand_worked_pilotnet_geometry():
    """Source (2, 5, 4), kernel 3×3, stride (2, 1), padding (1, 0), 3 output channels.

    Rows (5 in, stride 2, pad 1): output rows read input rows {-1,0,1}, {1,2,3}, {3,4,5}:
    taps inside (2, 3, 2); input rows 0..4 are read by 1, 2, 1, 2, 1 (output row, tap) pairs.
    Columns (4 in, stride 1, pad 0): output columns read {0,1,2}, {1,2,3}: taps (3, 3); input
    columns are read 1, 2, 2, 1 times. Output (3, 3, 2). The transposed geometry (stride
    (1, 2), padding (0, 1)) has the same output shape but taps (3, 3, 3) per row and (2, 3) per
    column (4 in, stride 2, pad 1: {-1,0,1}, {1,2,3}): a mixed-up axis shows."""
    proj = Projection(INPUT, "conv", np.ones((3, 2, 3, 3), int), (2, 5, 4), stride=(2, 1),
                      padding=(1, 0))
    assert (proj.stride, proj.padding, proj.output_shape) == ((2, 1), (1, 0), (3, 3, 2))
    per_target = np.array([[2 * 3, 2 * 3], [3 * 3, 3 * 3], [2 * 3, 2 * 3]]) * 2  # × 2 input channels
    np.testing.assert_array_equal(synapses.fan_in(proj), np.tile(per_target.reshape(-1), 3))
    per_source = np.outer([1, 2, 1, 2, 1], [1, 2, 2, 1]) * 3  # × 3 output channels
    np.testing.assert_array_equal(synapses.fan_out(proj), np.broadcast_to(per_source, (2, 5, 4)))
    assert synapses.synapse_count(proj) == 3 * 2 * (2 + 3 + 2) * (3 + 3) == 252
    # one spike at input (channel 0, row 1, column 0) reaches output rows 0, 1 and column 0:
    # 2 positions × 3 channels = 6 arrivals, as fan-out says (2 · 1 · 3)
    active = np.zeros((1, 2, 5, 4), bool)
    active[0, 0, 1, 0] = True
    arrivals = synapses.arrivals(proj, active)[0]
    expected = np.zeros((3, 3, 2), int)
    expected[:, :2, 0] = 1
    np.testing.assert_array_equal(arrivals, expected)
    swapped = Projection(INPUT, "conv", np.ones((3, 2, 3, 3), int), (2, 5, 4), stride=(1, 2),
                         padding=(0, 1))
    assert swapped.output_shape == proj.output_shape
    assert synapses.synapse_count(swapped) == 3 * 2 * (3 + 3 + 3) * (2 + 3) == 270


def test_an_int_means_both_axes_and_bad_pairs_are_refused():
    weight = np.ones((1, 1, 3, 3), int)
    proj = Projection(INPUT, "conv", weight, (1, 6, 6), stride=2, padding=1)
    assert (proj.stride, proj.padding) == ((2, 2), (1, 1))
    assert Projection(INPUT, "conv", weight, (1, 6, 6), stride=np.array([2, 1])).stride == (2, 1)
    for bad in ({"stride": (0, 1)}, {"padding": (1, -1)}, {"stride": (1, 2, 3)}, {"stride": 1.5}):
        with pytest.raises(GraphError):
            Projection(INPUT, "conv", weight, (1, 6, 6), **bad)


def _torch_unit_conv(proj: Projection, weight: np.ndarray | None = None):
    """x (C, H, W) float64 ↦ torch's conv2d (tuple stride and padding) of the k×k sum pool of x
    (avg_pool2d × k², which drops a remainder row or column), with ``weight`` (default ones)."""
    w = torch.as_tensor(np.ones(proj.weight.shape) if weight is None else weight, dtype=torch.float64)
    k = proj.pool

    def conv(x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x[None], k) * k * k if k > 1 else x[None]
        return F.conv2d(pooled, w, stride=proj.stride, padding=proj.padding)[0]
    return conv


@pytest.mark.parametrize("geometry", per_axis.GEOMETRIES, ids=IDS)
def test_counts_are_torchs_tuple_strided_conv(geometry):
    rng = np.random.default_rng(3)
    proj = per_axis.projection(*geometry, rng)
    weight = proj.weight * (rng.random(proj.weight.shape) < 0.6)  # zeros for NeuroBench's count
    proj = Projection(INPUT, "conv", weight, proj.source_shape, stride=proj.stride,
                      padding=proj.padding, pool=proj.pool)
    conv = _torch_unit_conv(proj)
    assert tuple(conv(torch.zeros(proj.source_shape, dtype=torch.float64)).shape) == proj.output_shape
    ones = torch.ones(proj.source_shape, dtype=torch.float64, requires_grad=True)
    out = conv(ones)
    np.testing.assert_array_equal(synapses.fan_in(proj), out.detach().numpy().reshape(-1))
    out.sum().backward()  # d Σ out / d x = the synapses leaving each source neuron
    np.testing.assert_array_equal(synapses.fan_out(proj), ones.grad.numpy())
    assert synapses.synapse_count(proj) * proj.pool ** 2 == int(out.sum())
    x = torch.ones(proj.source_shape, dtype=torch.float64, requires_grad=True)
    _torch_unit_conv(proj, (weight != 0).astype(float))(x).sum().backward()
    np.testing.assert_array_equal(  # NeuroBench's: only synapses whose weight is not zero
        synapses._unpool(synapses.pooled_fan_out(proj, nonzero_weights=True), proj), x.grad.numpy())


@pytest.mark.parametrize("geometry", per_axis.GEOMETRIES, ids=IDS)
def test_accumulation_events_and_unpooled_form_are_torchs(geometry):
    rng = np.random.default_rng(4)
    proj = per_axis.projection(*geometry, rng)
    src = rng.integers(0, 4, (3, *proj.source_shape)) * (rng.random((3, *proj.source_shape)) < 0.5)
    rows, cols, vals = synapses.synapse_list(proj)
    unpooled = torch.as_tensor(synapses.unpooled_weight(proj), dtype=torch.float64)
    stride, padding = synapses.unpooled_conv_geometry(proj)
    assert synapses.conv_unpooled_exact(proj)
    for b in range(3):
        x = torch.as_tensor(src[b], dtype=torch.float64)
        want = _torch_unit_conv(proj, proj.weight)(x).numpy().astype(np.int64)
        acc = np.zeros(int(np.prod(proj.output_shape)), np.int64)
        np.add.at(acc, rows, vals * src[b].reshape(-1)[cols])
        np.testing.assert_array_equal(acc.reshape(proj.output_shape), want)
        got = F.conv2d(x[None], unpooled, stride=stride, padding=padding)[0]
        np.testing.assert_array_equal(got.numpy().astype(np.int64), want)
        events = _torch_unit_conv(proj)(torch.as_tensor(src[b] != 0, dtype=torch.float64))
        np.testing.assert_array_equal(synapses.arrivals(proj, src != 0)[b], events.numpy())


@pytest.mark.parametrize("geometry", per_axis.GEOMETRIES, ids=IDS)
def test_source_masks_are_torchs_jacobian(geometry):
    """The sources that reach a run of targets (the mapper's cores) are the non-zero columns
    of torch's Jacobian rows for those targets."""
    proj = per_axis.projection(*geometry, np.random.default_rng(5))
    conv = _torch_unit_conv(proj)
    x = torch.zeros(proj.source_shape, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: conv(v).reshape(-1), x).reshape(
        int(np.prod(proj.output_shape)), -1).numpy()
    targets = jac.shape[0]
    for first, count in [(0, 1), (0, targets), (targets // 3, targets // 2), (targets - 2, 2)]:
        np.testing.assert_array_equal(synapses.source_mask(proj, first, count),
                                      jac[first:first + count].any(axis=0), err_msg=(first, count))


def test_engine_equals_the_spec_loop_on_per_axis_convs():
    graph = per_axis.graph()
    x = per_axis.inputs(graph, 3, 6)
    result = engine.simulate(graph, x, record_spikes=True)
    events, spikes = assert_matches_spec(graph, x, result)
    assert all(spikes[p.name] > 20 for p in graph.populations if not p.readout), spikes
    for count in result.counts:
        assert count.synaptic_ops + count.input_macs == events[count.name], count.name
