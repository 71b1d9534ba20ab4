"""Event streams → T frames of integer counts, exact and bounded.

An event stream is a numpy structured array with fields ``x``, ``y``, ``t`` (µs) and
``p`` (polarity, 0 = OFF, 1 = ON): tonic's layout (``tonic.io.events_struct``), so
the output of any tonic reader or transform can be binned here too.

Frames are (T, 2, H, W) counts: ``frames[k, p, y, x]`` is the number of events of
polarity p at pixel (x, y) in bin k (the layout of ``tonic.transforms.ToFrame``).

Binning (every event lands in exactly one bin; none is dropped):
- ``"time"``: T windows of equal duration spanning the sample. With t0, t1 the first
  and last timestamps and D = t1 − t0 + 1, an event at t goes to bin
  ⌊(t − t0) · T / D⌋. Windows hold however many events fall in them.
- ``"count"``: T windows of equal event count. Events ordered by time (stably), the
  i-th of N goes to bin ⌊i · T / N⌋, so bins hold ⌊N/T⌋ or ⌈N/T⌉ events.
tonic's ``ToFrame(n_time_bins=T)`` differs: its windows are ⌊(t1 − t0)/T⌋ µs long,
so the events after t0 + T·⌊(t1 − t0)/T⌋ (always including the last one) are
dropped, and its frames are int16, which wraps silently past 32767; its
``n_event_bins`` drops the N mod T last events. Hence this module bins itself.

Spatial downsampling (optional): pixel (x, y) of a W×H sensor goes to
(⌊x · w / W⌋, ⌊y · h / H⌋) of the w×h output, and counts add up — what
``tonic.transforms.Downsample(spatial_factor=w / W)`` does for factors that are exact
binary fractions (128 → 64, 32, 48: factors 1/2, 1/4, 3/8). For 128 → 48 the output
pixels gather 3, 3, 2, 3, 3, 2 … input columns (rows).

Integers for the hardware: the hardware takes graded inputs of ``input_bits`` bits,
0 … 2^input_bits − 1. A count is that integer itself (``input_scale`` 1), so counts
above ``max_count`` = 2^input_bits − 1 are clipped to it, and the number of clipped
values is returned (and warned about by the loaders): never silent. The exporter's
default is 8 bits, so ``max_count`` 255.
"""

from __future__ import annotations

import numpy as np

BINNINGS = ("time", "count")
POLARITIES = 2


def events_to_frames(events: np.ndarray, timesteps: int, sensor: tuple[int, int] = (128, 128),
                     size: tuple[int, int] | None = None, binning: str = "time",
                     max_count: int = 255) -> tuple[np.ndarray, int]:
    """Bin one sample's events into counts (T, 2, h, w) int64, clipped to ``max_count``.

    Args:
        events: structured array with fields x, y, t, p (module docstring).
        timesteps: T, the number of frames.
        sensor: (H, W) of the sensor; every event must lie inside it.
        size: (h, w) of the output, or None for the sensor's size.
        binning: "time" or "count" (module docstring).
        max_count: largest count kept (2^input_bits − 1).

    Returns:
        The frames and the number of frame values that were clipped.

    Raises:
        ValueError: bad arguments, or an event outside the sensor or with p not 0/1.
    """
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {list(BINNINGS)}, got {binning!r}")
    if timesteps < 1 or max_count < 1:
        raise ValueError(f"timesteps and max_count must be >= 1, got {timesteps}, {max_count}")
    height, width = sensor
    out_h, out_w = sensor if size is None else size
    if not (0 < out_h <= height and 0 < out_w <= width):
        raise ValueError(f"output size {(out_h, out_w)} must lie within the sensor's {sensor}")
    x = np.asarray(events["x"], dtype=np.int64)
    y = np.asarray(events["y"], dtype=np.int64)
    t = np.asarray(events["t"], dtype=np.int64)
    p = np.asarray(events["p"], dtype=np.int64)
    n = len(t)
    if n and (x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height):
        raise ValueError(f"events lie outside the {width}×{height} sensor "
                         f"(x {x.min()}..{x.max()}, y {y.min()}..{y.max()})")
    if n and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"polarity must be 0 or 1, found {p.min()}..{p.max()}")
    frames = np.zeros((timesteps, POLARITIES, out_h, out_w), dtype=np.int64)
    if n == 0:
        return frames, 0
    if binning == "time":
        t0 = int(t.min())
        span = int(t.max()) - t0 + 1
        if span > (1 << 62) // timesteps:
            raise ValueError(f"timestamps span {span} µs, too long to bin exactly in int64")
        k = (t - t0) * timesteps // span
    else:
        k = np.empty(n, dtype=np.int64)
        k[np.argsort(t, kind="stable")] = np.arange(n, dtype=np.int64) * timesteps // n
    x_out = x * out_w // width
    y_out = y * out_h // height
    flat = ((k * POLARITIES + p) * out_h + y_out) * out_w + x_out
    frames += np.bincount(flat, minlength=frames.size).reshape(frames.shape)
    clipped = int(np.count_nonzero(frames > max_count))
    np.minimum(frames, max_count, out=frames)
    return frames, clipped
