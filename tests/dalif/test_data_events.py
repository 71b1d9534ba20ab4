"""Event binning: events_to_frames against bins counted one event at a time, by hand."""

import numpy as np
import pytest

from dalif.data import events_to_frames
from dalif.data.event_files import make_events


def _random_events(rng, n, t_max=1_000_000, sensor=128):
    t = np.sort(rng.integers(0, t_max, n))
    return make_events(rng.integers(0, sensor, n), rng.integers(0, sensor, n), t,
                       rng.integers(0, 2, n))


def _hand_binned(events, timesteps, out, binning, sensor=128):
    """One event at a time: which bin, which output pixel; add one."""
    frames = np.zeros((timesteps, 2, out, out), dtype=np.int64)
    n = len(events)
    order = sorted(range(n), key=lambda i: (int(events["t"][i]), i))
    rank = {i: r for r, i in enumerate(order)}
    t0, t1 = int(events["t"].min()), int(events["t"].max())
    for i in range(n):
        t = int(events["t"][i])
        if binning == "time":
            # bin k covers [t0 + k·D/T, t0 + (k+1)·D/T) with D = t1 − t0 + 1
            k = next(k for k in range(timesteps)
                     if (t - t0) * timesteps < (k + 1) * (t1 - t0 + 1))
        else:
            k = next(k for k in range(timesteps) if rank[i] * timesteps < (k + 1) * n)
        col = int(events["x"][i]) * out // sensor
        row = int(events["y"][i]) * out // sensor
        frames[k, int(events["p"][i]), row, col] += 1
    return frames


@pytest.mark.parametrize("binning", ["time", "count"])
@pytest.mark.parametrize("out", [128, 48, 32])
def test_frames_are_the_hand_binned_counts(binning, out):
    rng = np.random.default_rng(out)
    events = _random_events(rng, 3000)
    events = events[rng.permutation(len(events))]  # order in the file must not matter
    frames, clipped = events_to_frames(events, 7, size=(out, out), binning=binning)
    assert frames.shape == (7, 2, out, out) and frames.dtype == np.int64
    assert clipped == 0 and frames.sum() == 3000  # no event dropped
    assert np.array_equal(frames, _hand_binned(events, 7, out, binning))


def test_bins_split_time_and_counts_evenly():
    t = np.arange(100) * 10  # 0 … 990 µs, one event every 10 µs
    events = make_events(np.zeros(100), np.zeros(100), t, np.ones(100))
    by_time, _ = events_to_frames(events, 4, binning="time")
    assert by_time[:, 1, 0, 0].tolist() == [25, 25, 25, 25]
    burst = make_events(np.zeros(100), np.zeros(100), np.r_[np.zeros(90), np.arange(10) + 1000],
                        np.zeros(100))
    assert events_to_frames(burst, 4, binning="time")[0][:, 0, 0, 0].tolist() == [90, 0, 0, 10]
    assert events_to_frames(burst, 4, binning="count")[0][:, 0, 0, 0].tolist() == [25] * 4
    uneven = burst[:98]  # 98 events in 4 bins: ⌊i·4/98⌋ gives 25, 24, 25, 24
    assert events_to_frames(uneven, 4, binning="count")[0].sum(axis=(1, 2, 3)).tolist() \
        == [25, 24, 25, 24]


def test_downsampling_to_48_gathers_columns_three_three_two():
    x = np.arange(128)
    events = make_events(x, np.zeros(128), np.zeros(128), np.zeros(128))
    frames, _ = events_to_frames(events, 1, size=(48, 48))
    assert frames[0, 0, 0, :6].tolist() == [3, 3, 2, 3, 3, 2]
    assert frames.sum() == 128


def test_counts_above_the_input_range_are_clipped_and_counted():
    events = make_events(np.r_[np.zeros(300), np.ones(5)], np.zeros(305), np.zeros(305),
                         np.zeros(305))
    frames, clipped = events_to_frames(events, 1, max_count=255)
    assert frames[0, 0, 0, 0] == 255 and frames[0, 0, 0, 1] == 5 and clipped == 1
    frames, clipped = events_to_frames(events, 1, max_count=3)
    assert frames[0, 0, 0, :2].tolist() == [3, 3] and clipped == 2


def test_an_empty_sample_gives_empty_frames_and_bad_events_are_refused():
    empty = make_events([], [], [], [])
    frames, clipped = events_to_frames(empty, 3, size=(32, 32))
    assert frames.shape == (3, 2, 32, 32) and not frames.any() and clipped == 0
    outside = make_events([128], [0], [0], [0])
    with pytest.raises(ValueError, match="outside the 128×128 sensor"):
        events_to_frames(outside, 2)
    with pytest.raises(ValueError, match="binning"):
        events_to_frames(empty, 2, binning="space")
    with pytest.raises(ValueError, match="output size"):
        events_to_frames(empty, 2, size=(256, 256))
    huge_span = make_events([0, 0], [0, 0], [0, 1 << 62], [0, 0])
    with pytest.raises(ValueError, match="too long"):
        events_to_frames(huge_span, 16)
