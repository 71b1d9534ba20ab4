"""Connectivity of a projection: which source neuron reaches which target, through pooling,
stride and padding. The one home of that rule; every user (the engine's event counts, the
mapper, NeuroBench, the ONNX, netx and Lava compilers) asks here.

A projection (``graph.Projection``) reads its source through sum pooling with kernel =
stride = k, then a dense matrix or a (stride s, padding p) convolution, s and p per axis
(rows, columns): every rule below is one axis's rule applied to each. Seen from the
*unpooled* source, the pooled synapse of a cell is k² synapses, one per source neuron of
the cell, all with the cell's weight; a source row or column that the pooling drops
(h mod k) has no synapses. For a convolution that is again a convolution, with every tap
repeated k×k, stride s·k and padding p·k, exact wherever no padded tap can reach a dropped
row or column (``conv_unpooled_exact``).

Counts are computed per axis from the geometry (tap ranges), never per neuron, so they cost
O(neurons), not O(synapses):

    taps_in(o)   kernel taps of output position o that land inside the input (fan-in per axis)
    taps_out(j)  (output position, tap) pairs that read input position j   (fan-out per axis)

Which sources reach a run of targets (the mapper's cores) is a mask over source *positions*,
the same for every channel (``source_layout``, ``reached_positions``), computed for many runs
at once from the kernel's strided tap blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hardware_sim.ir.graph import Projection


def _axis_taps(size: int, out: int, kernel: int, stride: int, padding: int) -> tuple[np.ndarray, np.ndarray]:
    """(taps_in per output position (out,), taps_out per input position (size,)) along one axis."""
    positions = np.arange(out)[:, None] * stride - padding + np.arange(kernel)[None, :]  # (out, kernel)
    inside = (positions >= 0) & (positions < size)
    taps_in = inside.sum(axis=1).astype(np.int64)
    taps_out = np.bincount(positions[inside], minlength=size).astype(np.int64)
    return taps_in, taps_out


def _conv_axes(proj: Projection) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per-axis (taps_in, taps_out) of a conv on its pooled source: rows, then columns."""
    _, h, w = proj.pooled_shape
    _, oh, ow = proj.output_shape
    _, _, kh, kw = proj.weight.shape
    (sh, sw), (ph, pw) = proj.stride, proj.padding
    return _axis_taps(h, oh, kh, sh, ph), _axis_taps(w, ow, kw, sw, pw)


def _unpool(pooled: np.ndarray, proj: Projection, fill: int | bool = 0) -> np.ndarray:
    """A per-pooled-cell array (C, h//k, w//k) spread over the cell's source neurons (C, h, w);
    rows and columns the pooling drops get ``fill``."""
    k = proj.pool
    if k == 1:
        return pooled
    c, h, w = proj.source_shape
    ph, pw = pooled.shape[-2:]
    full = np.full(pooled.shape[:-3] + (c, h, w), fill, dtype=pooled.dtype)
    full[..., :ph * k, :pw * k] = pooled.repeat(k, axis=-2).repeat(k, axis=-1)
    return full


def sum_pool(x: np.ndarray, k: int) -> np.ndarray:
    """Sum pooling with kernel = stride = k over the last two axes (a remainder row or column
    is dropped), as a projection reads its source."""
    if k == 1:
        return x
    *lead, h, w = x.shape
    h2, w2 = h // k, w // k
    return x[..., :h2 * k, :w2 * k].reshape(*lead, h2, k, w2, k).sum(axis=(-3, -1))


def fan_in(proj: Projection) -> np.ndarray:
    """Source neurons reaching each target neuron, flat in target order (a pooled cell's k²
    neurons each count: they are k² synapses on the hardware)."""
    k2 = proj.pool * proj.pool
    if proj.kind == "dense":
        return np.full(int(proj.weight.shape[0]), proj.pooled_size * k2, np.int64)
    (rows_in, _), (cols_in, _) = _conv_axes(proj)
    c_out, c_in = proj.weight.shape[:2]
    per_position = np.outer(rows_in, cols_in).reshape(-1) * c_in * k2
    return np.tile(per_position, c_out)


def pooled_fan_out(proj: Projection, nonzero_weights: bool = False) -> np.ndarray:
    """Synapses leaving each pooled source value (shape ``pooled_shape``): every synapse, or
    with ``nonzero_weights`` only those whose weight is not zero (NeuroBench's effective ops)."""
    weight = np.asarray(proj.weight)
    present = weight != 0 if nonzero_weights else np.ones(weight.shape, bool)
    if proj.kind == "dense":
        return present.sum(axis=0).reshape(proj.pooled_shape).astype(np.int64)
    (_, rows_out), (_, cols_out) = _conv_axes(proj)
    if not nonzero_weights:
        c_out = weight.shape[0]
        return (c_out * np.multiply.outer(rows_out, cols_out))[None].repeat(proj.pooled_shape[0], axis=0)
    _, h, w = proj.pooled_shape
    _, oh, ow = proj.output_shape
    _, _, kh, kw = weight.shape
    per_tap = present.sum(axis=0)  # (c_in, kh, kw): output channels meeting each tap
    (sh, sw), (ph, pw) = proj.stride, proj.padding
    fan = np.zeros(proj.pooled_shape, np.int64)
    for i in range(kh):  # O(kernel) vector passes: the taps differ per weight
        ys = np.arange(oh) * sh - ph + i
        ys = ys[(ys >= 0) & (ys < h)]
        for j in range(kw):
            xs = np.arange(ow) * sw - pw + j
            xs = xs[(xs >= 0) & (xs < w)]
            fan[:, ys[:, None], xs[None, :]] += per_tap[:, i, j][:, None, None]
    return fan


def fan_out(proj: Projection) -> np.ndarray:
    """Synapses leaving each source neuron (shape ``source_shape``): its pooled cell's fan-out,
    none for a neuron the pooling drops."""
    return _unpool(pooled_fan_out(proj), proj)


def synapse_count(proj: Projection) -> int:
    """Synapses the projection stores on the hardware, counted on the pooled source (a pooled
    synapse is one stored weight): dense weights, or conv taps that land inside the input."""
    if proj.kind == "dense":
        return int(np.asarray(proj.weight).size)
    (rows_in, _), (cols_in, _) = _conv_axes(proj)
    c_out, c_in = proj.weight.shape[:2]
    return int(c_out * c_in * int(rows_in.sum()) * int(cols_in.sum()))


def unpooled_weight(proj: Projection, weight: np.ndarray | None = None) -> np.ndarray:
    """``weight`` (default: the projection's) acting on the unpooled source, pooling folded in:
    a dense column repeated over its cell's source neurons (dropped neurons get zero), a conv
    kernel with every tap repeated k×k (run it with ``unpooled_conv_geometry``)."""
    w = np.asarray(proj.weight if weight is None else weight)
    k = proj.pool
    if k == 1:
        return w
    if proj.kind == "dense":
        c, ph, pw = proj.pooled_shape
        return _unpool(w.reshape(w.shape[0], c, ph, pw), proj).reshape(w.shape[0], -1)
    return w.repeat(k, axis=2).repeat(k, axis=3)


def unpooled_conv_geometry(proj: Projection) -> tuple[tuple[int, int], tuple[int, int]]:
    """(stride, padding) of a conv's ``unpooled_weight`` on the unpooled source, each a
    (rows, columns) pair: s·k, p·k."""
    k = proj.pool
    (sh, sw), (ph, pw) = proj.stride, proj.padding
    return (sh * k, sw * k), (ph * k, pw * k)


def conv_unpooled_exact(proj: Projection) -> bool:
    """Whether the unpooled conv equals pool-then-conv: no padded tap of the stretched kernel
    can reach the rows or columns the pooling drops (per axis: none dropped, or no padding)."""
    _, h, w = proj.source_shape
    (ph, pw), k = proj.padding, proj.pool
    return (ph == 0 or h % k == 0) and (pw == 0 or w % k == 0)


def source_layout(source_shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, positions) of a source seen as channels × spatial positions: (C, H·W) for a
    (C, H, W) source, (N, 1) for a flat one. A source neuron's flat (PyTorch) index is
    channel · positions + position. Which sources reach a target never depends on the
    channel (a conv reads every input channel at the positions its kernel covers, a dense
    layer reads all), so connectivity to a set of targets is a mask over positions."""
    if len(source_shape) == 3:
        c, h, w = source_shape
        return int(c), int(h) * int(w)
    return int(np.prod(source_shape)), 1


def reached_positions(proj: Projection, firsts, counts) -> np.ndarray:
    """For each run of target neurons [first, first + count) (flat, target order), the source
    positions (``source_layout``; every channel of a position alike) whose neurons reach a
    target of the run: (runs, positions) bool. Computed from the geometry for all runs at once:
    a run covers a cyclic interval of output positions (whatever its channels), which the
    kernel's taps map, each as one strided block, onto the pooled input; a pooled cell then
    stands for its k×k source neurons (none for rows and columns the pooling drops). Costs
    O(runs × (output + input positions) × kernel taps), not O(synapses)."""
    firsts = np.asarray(firsts, dtype=np.int64).reshape(-1)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    runs = firsts.size
    _, positions = source_layout(proj.source_shape)
    if proj.kind == "dense":
        if proj.pool == 1:
            return np.ones((runs, positions), bool)
        pooled = np.ones((runs, *proj.pooled_shape[1:]), bool)
        return _unpool_positions(pooled, proj)
    _, oh, ow = proj.output_shape
    out_positions = oh * ow
    q = np.arange(out_positions)
    covered = ((q[None, :] - (firsts % out_positions)[:, None]) % out_positions) < counts[:, None]
    covered = covered.reshape(runs, oh, ow)
    _, h, w = proj.pooled_shape
    kh, kw = proj.weight.shape[2:]
    hit = np.zeros((runs, h, w), bool)
    (sh, sw), (ph, pw) = proj.stride, proj.padding
    rows = [_tap_block(i, h, oh, sh, ph) for i in range(kh)]
    cols = [_tap_block(j, w, ow, sw, pw) for j in range(kw)]
    for row in rows:
        if row is None:
            continue
        for col in cols:
            if col is None:
                continue
            hit[:, row[0], col[0]] |= covered[:, row[1], col[1]]
    return _unpool_positions(hit, proj)


def _tap_block(tap: int, size: int, out: int, stride: int, padding: int) -> tuple[slice, slice] | None:
    """The input positions tap ``tap`` reads along one axis (a strided slice) and the output
    positions it reads them for (a contiguous slice), or None if it reads none."""
    lo = max(0, -((tap - padding) // stride))  # first output o with o·s − p + tap ≥ 0
    hi = min(out - 1, (size - 1 + padding - tap) // stride)  # last with o·s − p + tap < size
    if lo > hi:
        return None
    first = lo * stride - padding + tap
    return slice(first, first + (hi - lo) * stride + 1, stride), slice(lo, hi + 1)


def _unpool_positions(pooled: np.ndarray, proj: Projection) -> np.ndarray:
    """(runs, h//k, w//k) pooled cells → (runs, H·W) source positions; dropped ones False."""
    runs = pooled.shape[0]
    k = proj.pool
    if k == 1:
        return pooled.reshape(runs, -1)
    _, h, w = proj.source_shape
    ph, pw = pooled.shape[1:]
    full = np.zeros((runs, h, w), bool)
    full[:, :ph * k, :pw * k] = pooled.repeat(k, axis=1).repeat(k, axis=2)
    return full.reshape(runs, -1)


def positions_to_neurons(mask: np.ndarray, source_shape: tuple[int, ...]) -> np.ndarray:
    """A position mask (..., positions) as a mask over the source's flat neurons (..., neurons):
    every channel of a position alike."""
    channels, positions = source_layout(source_shape)
    mask = np.asarray(mask, bool)
    lead = mask.shape[:-1]
    return np.ascontiguousarray(np.broadcast_to(mask[..., None, :], (*lead, channels, positions))
                                ).reshape(*lead, channels * positions)


def source_mask(proj: Projection, first: int, count: int) -> np.ndarray:
    """Bool mask over the source's flat neurons that reach target neurons [first, first+count)."""
    return positions_to_neurons(reached_positions(proj, [first], [count])[0], proj.source_shape)


def synapse_list(proj: Projection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every synapse through pooling and flatten, as (rows, cols, weights): row = target neuron,
    col = source neuron, both PyTorch flat indices. A pooled synapse appears once per source
    neuron of its cell, so acc = M · s exactly (DESIGN §3)."""
    src = proj.source_shape
    k = proj.pool
    src_index = np.arange(int(np.prod(src))).reshape(src)
    if k > 1:  # pooled cell → the k·k source neurons in it: (C, h, w, k, k)
        c, h, w = proj.pooled_shape
        cells = src_index[:, :h * k, :w * k].reshape(c, h, k, w, k).transpose(0, 1, 3, 2, 4)
    else:
        cells = src_index[..., None, None]
    weight = np.asarray(proj.weight, dtype=np.int64)
    if proj.kind == "dense":
        n_out, n_pooled = weight.shape
        members = cells.reshape(n_pooled, k * k)  # pooled index (flattened) → its sources
        rows = np.repeat(np.arange(n_out), n_pooled * k * k)
        cols = np.tile(members.reshape(-1), n_out)
        vals = np.repeat(weight, k * k, axis=1).reshape(-1)
        return rows, cols, vals
    c_out, c_in, kh, kw = weight.shape
    _, ph, pw = proj.pooled_shape
    _, oh, ow = proj.output_shape
    out_index = np.arange(c_out * oh * ow).reshape(c_out, oh, ow)
    (sh, sw), (pad_h, pad_w) = proj.stride, proj.padding
    rows, cols, vals = [], [], []
    for i in range(kh):
        ys = np.arange(oh) * sh - pad_h + i
        y_ok = (ys >= 0) & (ys < ph)
        for j in range(kw):
            xs = np.arange(ow) * sw - pad_w + j
            x_ok = (xs >= 0) & (xs < pw)
            if not (y_ok.any() and x_ok.any()):
                continue
            oy, ox = np.nonzero(y_ok)[0], np.nonzero(x_ok)[0]
            # (c_out, c_in, |oy|, |ox|, k, k)
            target = np.broadcast_to(out_index[:, None][:, :, oy][:, :, :, ox][..., None, None],
                                     (c_out, c_in, oy.size, ox.size, k, k))
            source = np.broadcast_to(cells[:, ys[oy]][:, :, xs[ox]][None],
                                     (c_out, c_in, oy.size, ox.size, k, k))
            w = np.broadcast_to(weight[:, :, i, j][:, :, None, None, None, None], target.shape)
            rows.append(target.reshape(-1))
            cols.append(source.reshape(-1))
            vals.append(w.reshape(-1))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def arrivals(proj: Projection, active: np.ndarray) -> np.ndarray:
    """Events arriving at each target, (B, *output_shape), from (B, *source_shape) counts of
    non-zero source values (a bool array, or counts summed over samples): the projection
    with unit weights, computed as a box count since it does not depend on the weights:
    one row sum for dense, one channel-summed box filter for a conv, broadcast over the
    targets."""
    nz = sum_pool(np.asarray(active).astype(np.int64), proj.pool)
    batch = nz.shape[0]
    if proj.kind == "dense":
        total = nz.reshape(batch, -1).sum(axis=1)
        return np.repeat(total[:, None], proj.weight.shape[0], axis=1)
    summed = nz.sum(axis=1)  # (B, h, w): every input channel meets every output channel
    _, h, w = proj.pooled_shape
    c_out, oh, ow = proj.output_shape
    _, _, kh, kw = proj.weight.shape
    (sh, sw), (ph, pw) = proj.stride, proj.padding
    padded = np.zeros((batch, h + 2 * ph, w + 2 * pw), np.int64)
    padded[:, ph:ph + h, pw:pw + w] = summed
    box = np.zeros((batch, oh, ow), np.int64)
    for i in range(kh):
        for j in range(kw):
            box += padded[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
    return np.repeat(box[:, None], c_out, axis=1)
