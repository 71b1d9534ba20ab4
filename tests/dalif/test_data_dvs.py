"""DVS128 Gesture and CIFAR10-DVS from event files written in each on-disk format.

Formats written here, byte for byte as the data sets store them:

- tonic's DVS128 Gesture: ``ibmGestureTrain/userNN_<lighting>/<label>.npy``, an (N, 4)
  array of x, y, p, t in milliseconds (``np.save``).
- IBM's DVS128 Gesture: ``userNN_<lighting>.aedat`` in AEDAT 3.1 — ASCII header lines
  starting ``#`` (``#!AER-DAT3.1`` first, ``#!END-HEADER`` last, CRLF), then packets: a
  28-byte little-endian header (eventType, eventSource int16; eventSize, eventTSOffset,
  eventTSOverflow, eventCapacity, eventNumber, eventValid int32) and eventCapacity
  events of eventSize bytes; a polarity event (type 1) is uint32 data (bit 0 valid,
  bit 1 polarity, bits 2–16 y, bits 17–31 x) and uint32 timestamp (µs). Beside it
  ``userNN_<lighting>_labels.csv`` (class,startTime_usec,endTime_usec) and the lists
  ``trials_to_train.txt`` / ``trials_to_test.txt``.
- CIFAR10-DVS, original: ``<class>/cifar10_<class>_<i>.aedat`` in AEDAT 2.0 — ``#``
  header lines (``#!AER-DAT2.0`` first), then big-endian (uint32 address, uint32
  timestamp µs) pairs; tonic reads address bits 8–14 as x, 1–7 as y, bit 0 as p.
- CIFAR10-DVS, tonic's release: ``<class>/*.aedat4`` in AEDAT 4.0 — ``#!AER-DAT4.0\\r\\n``,
  a uint32 length and the IOHeader flatbuffer (compression, file data position, the
  XML description of the streams), then packets: uint32 stream id, uint32 length, a
  size-prefixed flatbuffer EventPacket (identifier "EVTS", a vector of 16-byte Event
  structs t int64, x int16, y int16, on bool), optionally followed by a file data table.

The expected frames are binned by hand from the events as written.
"""

import struct

import numpy as np
import pytest
import torch

from dalif.data import (
    DATASETS,
    DatasetError,
    DatasetWarning,
    event_files,
    load_dataset,
    load_event_dataset,
)
from dalif.data.dvs import CIFAR10_DVS_CLASSES
from dalif.data.event_files import read_event_file


def _needs_tonic(aedat4=False):
    pytest.importorskip("tonic")
    if aedat4:
        pytest.importorskip("aedat")


def _hand_frames(x, y, t, p, timesteps, out=128):
    """Time bins of equal length over [t_first, t_last]; one event at a time."""
    frames = np.zeros((timesteps, 2, out, out), dtype=np.float32)
    if len(t) == 0:
        return frames
    t0, span = min(t), max(t) - min(t) + 1
    for xi, yi, ti, pi in zip(x, y, t, p):
        k = (ti - t0) * timesteps // span
        frames[k, pi, yi * out // 128, xi * out // 128] += 1
    return frames


def _random_columns(rng, n, t_start=0, t_step=5000):
    t = t_start + np.cumsum(rng.integers(0, t_step, n))
    return (rng.integers(0, 128, n).tolist(), rng.integers(0, 128, n).tolist(), t.tolist(),
            rng.integers(0, 2, n).tolist())


# ---------------------------------------------------------------- tonic's DVS128 Gesture (.npy)

def _write_gesture_npy(path, x, y, p, t_ms, dtype=np.int64):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.stack([x, y, p, t_ms], axis=1).astype(dtype))


def test_tonic_gesture_layout(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for split, users in (("Train", ["user01_fluorescent", "user02_led"]), ("Test", ["user24_lab"])):
        for user in users:
            for label in (0, 3, 10):
                x, y, t, p = _random_columns(rng, 200, t_step=20)
                dtype = np.float64 if label == 3 else np.int64
                _write_gesture_npy(tmp_path / "DVSGesture" / f"ibmGesture{split}" / user /
                                   f"{label}.npy", x, y, p, t, dtype)
                written.setdefault(split, []).append((label, x, y, [v * 1000 for v in t], p))
    for split in ("Train", "Test"):
        frames, labels = load_event_dataset("dvs_gesture", split.lower(), str(tmp_path),
                                            timesteps=5, size=32)
        assert frames.shape == (len(written[split]), 5, 2, 32, 32)
        assert frames.dtype == torch.float32 and labels.dtype == torch.int64
        for i, (label, x, y, t, p) in enumerate(written[split]):
            assert labels[i] == label
            assert np.array_equal(frames[i].numpy(), _hand_frames(x, y, t, p, 5, 32))


def test_our_npy_reading_matches_tonics_dataset_class(tmp_path):
    _needs_tonic()
    from tonic.datasets import DVSGesture

    # tonic looks in save_to/<class name>/ibmGestureTrain: keep the name, never download
    LocalDVSGesture = type("DVSGesture", (DVSGesture,), {"_check_exists": lambda self: True})

    rng = np.random.default_rng(1)
    x, y, t, p = _random_columns(rng, 300, t_step=30)
    path = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user05_natural" / "7.npy"
    _write_gesture_npy(path, x, y, p, t)
    theirs, label = LocalDVSGesture(str(tmp_path), train=True)[0]
    ours = read_event_file(str(path))
    assert label == 7
    for field in ("x", "y", "t", "p"):
        assert np.array_equal(ours[field], theirs[field])


def test_the_registered_gesture_sets(tmp_path):
    x, y, t, p = _random_columns(np.random.default_rng(2), 500)
    _write_gesture_npy(tmp_path / "ibmGestureTest" / "user24_led" / "4.npy", x, y, p, t)
    t_us = [v * 1000 for v in t]
    for name, side in (("dvs_gesture", 128), ("dvs_gesture_32", 32)):
        info = DATASETS[name]
        frames, labels = load_dataset(name, "test", str(tmp_path))
        assert info.temporal and frames.shape == (1, info.timesteps, *info.input_shape)
        assert info.input_shape == (2, side, side) and info.input_scale == 1
        assert info.num_classes == 11 and labels.tolist() == [4]
        assert np.array_equal(frames[0].numpy(), _hand_frames(x, y, t_us, p, 16, side))


# ------------------------------------------------------------------ IBM's DVS128 Gesture (3.1)

AEDAT31_HEADER = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
                  b"#Start-Time: 2017-01-01 12:00:00 (TZ+0000)\r\n#!END-HEADER\r\n")


def _aedat31_packet(event_type, records, ts_overflow=0, capacity=None, number=None):
    capacity = len(records) if capacity is None else capacity
    number = len(records) if number is None else number
    head = struct.pack("<hhiiiiii", event_type, 1, 8, 4, ts_overflow, capacity, number, number)
    body = b"".join(struct.pack("<II", data, ts) for data, ts in records)
    return head + body + bytes(8 * (capacity - len(records)))


def _polarity(x, y, p, valid=1):
    return (x << 17) | (y << 2) | (p << 1) | valid


def _write_ibm_trial(root, name, segments, rng):
    """A recording holding ``segments`` [(class, start, end)], with events inside and
    between them; returns every valid polarity event as (x, y, t, p)."""
    events, packets = [], []
    for _, start, end in segments:
        x, y, t, p = _random_columns(rng, 120, t_start=start, t_step=max(1, (end - start) // 130))
        t = [min(v, end - 1) for v in t]
        events += list(zip(x, y, t, p)) + [(1, 2, start - 1, 0), (3, 4, end, 1)]  # just outside
    events.sort(key=lambda e: e[2])
    half = len(events) // 2
    packets.append(_aedat31_packet(1, [(_polarity(x, y, p), t) for x, y, t, p in events[:half]]))
    packets.append(_aedat31_packet(0, [(0x12345678, 5), (0x1, 6)]))  # special events: skipped
    invalid = [(_polarity(3, 4, 1, valid=0), events[half][2])]  # valid bit clear: dropped
    packets.append(_aedat31_packet(1, [(_polarity(x, y, p), t) for x, y, t, p in events[half:]]
                                   + invalid, capacity=len(events) - half + 3))
    (root / f"{name}.aedat").write_bytes(AEDAT31_HEADER + b"".join(packets))
    rows = "".join(f"{c},{s},{e}\r\n" for c, s, e in segments)
    (root / f"{name}_labels.csv").write_text("class,startTime_usec,endTime_usec\r\n" + rows)
    return events


def test_ibm_gesture_layout(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "DvsGesture"
    root.mkdir()
    train_a = _write_ibm_trial(root, "user01_fluorescent", [(1, 100_000, 400_000),
                                                            (11, 500_000, 900_000)], rng)
    train_b = _write_ibm_trial(root, "user02_lab", [(5, 2_000_000, 2_600_000)], rng)
    test = _write_ibm_trial(root, "user24_led", [(8, 10_000, 50_000)], rng)
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_lab.aedat\n\n")
    (root / "trials_to_test.txt").write_text("user24_led.aedat\n")
    frames, labels = load_event_dataset("dvs_gesture", "train", str(tmp_path), timesteps=4)
    assert labels.tolist() == [0, 10, 4]
    segments = [(train_a, 100_000, 400_000), (train_a, 500_000, 900_000),
                (train_b, 2_000_000, 2_600_000)]
    for i, (events, start, end) in enumerate(segments):
        inside = [e for e in events if start <= e[2] < end]
        assert np.array_equal(frames[i].numpy(), _hand_frames(*zip(*inside), 4))
    frames, labels = load_event_dataset("dvs_gesture", "test", str(root), timesteps=2, size=64)
    assert labels.tolist() == [7]
    inside = [e for e in test if 10_000 <= e[2] < 50_000]
    assert len(inside) == len(test) - 2
    assert np.array_equal(frames[0].numpy(), _hand_frames(*zip(*inside), 2, 64))


def test_our_aedat31_reading_matches_tonics_on_a_plain_file(tmp_path):
    _needs_tonic()
    from tonic.io import get_aer_events_from_file, read_aedat_header_from_file

    x, y, t, p = _random_columns(np.random.default_rng(4), 400)
    records = [(_polarity(*e), ts) for *e, ts in zip(x, y, p, t)]
    path = tmp_path / "plain.aedat"
    path.write_bytes(AEDAT31_HEADER + _aedat31_packet(1, records[:150], ts_overflow=1)
                     + _aedat31_packet(1, records[150:], ts_overflow=1))
    version, start, _ = read_aedat_header_from_file(str(path))
    raw = get_aer_events_from_file(str(path), version, start)  # what tonic's read_dvs_ibm reads
    ours = read_event_file(str(path))
    assert version == 3.1
    assert ours["x"].tolist() == ((raw["address"] >> 17) & 0x1FFF).tolist() == x
    assert ours["y"].tolist() == ((raw["address"] >> 2) & 0x1FFF).tolist() == y
    assert ours["p"].astype(int).tolist() == ((raw["address"] >> 1) & 1).tolist() == p
    assert ours["t"].tolist() == [v | 1 << 31 for v in raw["timeStamp"].tolist()]


# ------------------------------------------------------------------------------- CIFAR10-DVS

def _write_aedat2(path, x, y, t, p):
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
    pairs = np.empty((len(t), 2), dtype=">u4")
    pairs[:, 0] = [(xi << 8) | (yi << 1) | pi for xi, yi, pi in zip(x, y, p)]
    pairs[:, 1] = t
    path.write_bytes(header + pairs.tobytes())


_DESCRIPTION = (
    '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
    '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
    '<attr key="compression" type="string">NONE</attr>'
    '<attr key="originalModuleName" type="string">converter</attr>'
    '<attr key="originalOutputName" type="string">events</attr>'
    '<attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>'
    '<attr key="typeIdentifier" type="string">EVTS</attr>'
    '<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
    '<attr key="sizeX" type="int">128</attr><attr key="sizeY" type="int">128</attr>'
    '<attr key="source" type="string">DVS128</attr></node></node></node></dv>')


def _aedat4_ioheader(data_table=-1):
    import flatbuffers

    b = flatbuffers.Builder(0)
    description = b.CreateString(_DESCRIPTION)
    b.StartObject(3)
    b.PrependInt32Slot(0, 0, 0)  # compression: None
    b.PrependInt64Slot(1, data_table, -1)
    b.PrependUOffsetTRelativeSlot(2, description, 0)
    b.Finish(b.EndObject(), file_identifier=b"IOHE")
    return bytes(b.Output())


def _aedat4_event_packet(x, y, t, p):
    import flatbuffers

    b = flatbuffers.Builder(0)
    b.StartVector(16, len(t), 8)
    for xi, yi, ti, pi in reversed(list(zip(x, y, t, p))):
        b.Prep(8, 16)  # struct Event { t: int64; x: int16; y: int16; on: bool } (16 bytes)
        b.Pad(3)
        b.PrependBool(bool(pi))
        b.PrependInt16(yi)
        b.PrependInt16(xi)
        b.PrependInt64(ti)
    elements = b.EndVector()
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, elements, 0)
    b.FinishSizePrefixed(b.EndObject(), file_identifier=b"EVTS")
    return bytes(b.Output())


def _write_aedat4(path, x, y, t, p, packets=2, data_table=False):
    bounds = np.linspace(0, len(t), packets + 1).astype(int)
    body = b"".join(struct.pack("<II", 0, len(pkt)) + pkt for pkt in (
        _aedat4_event_packet(x[a:b], y[a:b], t[a:b], p[a:b]) for a, b in zip(bounds, bounds[1:])))
    start = len(b"#!AER-DAT4.0\r\n")
    header = _aedat4_ioheader()
    if data_table:  # junk after the data: only readable as a table, never as a packet
        header = _aedat4_ioheader(start + 4 + len(_aedat4_ioheader(0)) + len(body))
    path.write_bytes(b"#!AER-DAT4.0\r\n" + struct.pack("<I", len(header)) + header + body
                     + (struct.pack("<II", 0, 1 << 30) if data_table else b""))


def _write_cifar10_dvs(root, per_class, writer, suffix, rng):
    written = {}
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            x, y, t, p = _random_columns(rng, 80 + i)
            writer(root / name / f"cifar10_{name}_{i}.{suffix}", x, y, t, p)
            written[(name, i)] = (label, x, y, t, p)
    return written


@pytest.mark.parametrize("suffix", ["aedat", "aedat4"])
def test_cifar10_dvs_layouts(tmp_path, suffix):
    _needs_tonic(aedat4=suffix == "aedat4")
    writer = _write_aedat2 if suffix == "aedat" else _write_aedat4
    written = _write_cifar10_dvs(tmp_path / "CIFAR10DVS", 11, writer, suffix,
                                 np.random.default_rng(5))
    # sorted names: _0, _1, _10, _2 … _9; the first 9 of 11 (90 %) train, _8 and _9 test
    order = sorted(range(11), key=lambda i: f"cifar10_x_{i}.{suffix}")
    for split, chosen in (("train", order[:9]), ("test", order[9:])):
        frames, labels = load_event_dataset("cifar10_dvs", split, str(tmp_path), timesteps=3,
                                            size=48)
        assert frames.shape == (10 * len(chosen), 3, 2, 48, 48)
        i = 0
        for name in CIFAR10_DVS_CLASSES:
            for j in chosen:
                label, x, y, t, p = written[(name, j)]
                assert labels[i] == label
                assert np.array_equal(frames[i].numpy(), _hand_frames(x, y, t, p, 3, 48))
                i += 1
    assert order[9:] == [8, 9]


def test_aedat4_reading_stops_at_the_file_data_table(tmp_path):
    _needs_tonic(aedat4=True)
    x, y, t, p = _random_columns(np.random.default_rng(6), 50)
    _write_aedat4(tmp_path / "a.aedat4", x, y, t, p, packets=3, data_table=True)
    events = read_event_file(str(tmp_path / "a.aedat4"))
    assert events["x"].tolist() == x and events["y"].tolist() == y
    assert events["t"].tolist() == t and events["p"].astype(int).tolist() == p


def test_the_registered_cifar10_dvs_sets(tmp_path):
    _needs_tonic()
    written = _write_cifar10_dvs(tmp_path, 1, _write_aedat2, "aedat", np.random.default_rng(7))
    for name, side in (("cifar10_dvs", 128), ("cifar10_dvs_48", 48)):
        info = DATASETS[name]
        frames, labels = load_dataset(name, "test", str(tmp_path))
        assert frames.shape == (10, 10, 2, side, side) and info.timesteps == 10
        assert info.input_shape == (2, side, side) and labels.tolist() == list(range(10))
        _, x, y, t, p = written[("frog", 0)]
        assert np.array_equal(frames[6].numpy(), _hand_frames(x, y, t, p, 10, side))
        assert torch.equal(frames, frames.round())  # integers: input_scale 1


def test_counts_beyond_the_input_bits_are_clipped_with_a_warning(tmp_path):
    n = 40
    _write_gesture_npy(tmp_path / "ibmGestureTest" / "user24_led" / "0.npy",
                       [5] * n, [6] * n, [1] * n, list(range(n)))
    with pytest.warns(DatasetWarning, match="1 frame values above 15 clipped"):
        frames, _ = load_event_dataset("dvs_gesture", "test", str(tmp_path), timesteps=1,
                                       input_bits=4)
    assert frames[0, 0, 1, 6, 5] == 15 and frames.sum() == 15


# ------------------------------------------------------------------------ missing and hostile

def _one_line_error(pattern, call, *args, **kwargs):
    with pytest.raises(DatasetError, match=pattern) as info:
        call(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_files_name_what_is_expected_and_where(tmp_path):
    message = _one_line_error("dvs_gesture", load_dataset, "dvs_gesture", "train", str(tmp_path))
    assert str(tmp_path) in message and "ibmGestureTrain" in message
    assert "trials_to_train.txt" in message
    message = _one_line_error("cifar10_dvs", load_dataset, "cifar10_dvs", "test", str(tmp_path))
    assert "airplane, automobile" in message and "CIFAR10DVS" in message
    (tmp_path / "trials_to_test.txt").write_text("user24_led.aedat\n")
    message = _one_line_error("lacks", load_dataset, "dvs_gesture", "test", str(tmp_path))
    assert "user24_led.aedat, user24_led_labels.csv" in message
    (tmp_path / "trials_to_test.txt").write_text("../etc/passwd.aedat\n")
    _one_line_error("not an .aedat file name", load_dataset, "dvs_gesture", "test",
                    str(tmp_path))


def test_truncated_event_files_are_refused(tmp_path):
    x, y, t, p = _random_columns(np.random.default_rng(8), 30)
    _write_gesture_npy(tmp_path / "g.npy", x, y, p, t)
    _write_aedat2(tmp_path / "c.aedat", x, y, t, p)
    (tmp_path / "i.aedat").write_bytes(
        AEDAT31_HEADER + _aedat31_packet(1, [(_polarity(1, 2, 1), 5)] * 30))
    for name, pattern in (("g.npy", "file holds"), ("c.aedat", "not whole 8-byte events"),
                          ("i.aedat", "declares 240 bytes, 239 remain")):
        raw = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(raw[:-1])
        _one_line_error(pattern, read_event_file, str(tmp_path / name))
    (tmp_path / "h.aedat").write_bytes(AEDAT31_HEADER + b"\x01\x00")
    _one_line_error("truncated AEDAT 3.1 packet header", read_event_file, str(tmp_path / "h.aedat"))


def test_oversize_declarations_are_refused_before_reading(tmp_path, monkeypatch):
    # an AEDAT 3.1 packet declaring 2^31 events of 8 bytes in a 70-byte file
    head = _aedat31_packet(1, [])[:16] + struct.pack("<iii", 0x7FFFFFFF, 0, 0)  # capacity 2^31 − 1
    (tmp_path / "big.aedat").write_bytes(AEDAT31_HEADER + head + b"\0" * 64)
    _one_line_error(r"declares 17179869176 bytes", read_event_file, str(tmp_path / "big.aedat"))
    # an .npy header declaring 2^40 events
    _write_gesture_npy(tmp_path / "big.npy", [1], [1], [1], [1])
    raw = (tmp_path / "big.npy").read_bytes().replace(b"(1, 4)", b"(1099511627776, 4)")
    (tmp_path / "big.npy").write_bytes(raw)
    _one_line_error("more than the limit", read_event_file, str(tmp_path / "big.npy"))
    # every format stops at MAX_EVENTS
    monkeypatch.setattr(event_files, "MAX_EVENTS", 10)
    x, y, t, p = _random_columns(np.random.default_rng(9), 11)
    _write_gesture_npy(tmp_path / "g.npy", x, y, p, t)
    _write_aedat2(tmp_path / "c.aedat", x, y, t, p)
    (tmp_path / "i.aedat").write_bytes(AEDAT31_HEADER + _aedat31_packet(
        1, [(_polarity(a, b, c), d) for a, b, d, c in zip(x, y, t, p)]))
    for name in ("g.npy", "c.aedat", "i.aedat"):
        _one_line_error("11 events, more than the limit of 10", read_event_file,
                        str(tmp_path / name))


def test_malformed_aedat4_framing_is_refused_before_the_decoder_sees_it(tmp_path):
    x, y, t, p = _random_columns(np.random.default_rng(10), 20)
    _write_aedat4(tmp_path / "ok.aedat4", x, y, t, p)
    raw = (tmp_path / "ok.aedat4").read_bytes()
    magic = len(b"#!AER-DAT4.0\r\n")
    (header_length,) = struct.unpack_from("<I", raw, magic)
    cases = {
        "header past the end": raw[:magic] + struct.pack("<I", 1 << 30) + raw[magic + 4:],
        "truncated packet": raw[:-5],
        "packet length": raw + struct.pack("<II", 0, 1000) + b"\0" * 10,
        "root offset": raw[:magic + 4] + struct.pack("<I", 1 << 20) + raw[magic + 8:],
        "header tail": raw[:magic + 4 + header_length - 1],
    }
    patterns = {"header past the end": "IOHeader of 1073741824 bytes",
                "truncated packet": "declares .* remain", "packet length": "declares 1000 bytes",
                "root offset": "malformed AEDAT 4 IOHeader", "header tail": "truncated|IOHeader"}
    for case, content in cases.items():
        (tmp_path / "bad.aedat4").write_bytes(content)
        _one_line_error(patterns[case], read_event_file, str(tmp_path / "bad.aedat4"))


def test_events_outside_the_sensor_and_bad_values_are_refused(tmp_path):
    _write_gesture_npy(tmp_path / "x.npy", [128], [0], [0], [0])
    _one_line_error("outside the 128×128 sensor", read_event_file, str(tmp_path / "x.npy"))
    _write_gesture_npy(tmp_path / "p.npy", [1], [0], [2], [0])
    _one_line_error("polarity", read_event_file, str(tmp_path / "p.npy"))
    _write_gesture_npy(tmp_path / "f.npy", [1.5], [0], [0], [0], dtype=np.float32)
    _one_line_error("non-integer", read_event_file, str(tmp_path / "f.npy"))
    np.save(tmp_path / "o.npy", np.array([[1, 2, 3, 4]], dtype=object), allow_pickle=True)
    _one_line_error("N×4 numeric array", read_event_file, str(tmp_path / "o.npy"))
    (tmp_path / "v.aedat").write_bytes(b"#!AER-DAT1.0\r\n")
    _one_line_error("version 1.0", read_event_file, str(tmp_path / "v.aedat"))
    (tmp_path / "n.aedat").write_bytes(b"not an event file")
    _one_line_error("not an AEDAT file", read_event_file, str(tmp_path / "n.aedat"))


def test_without_tonic_the_aedat_readers_say_what_to_install(tmp_path, monkeypatch):
    import sys

    x, y, t, p = _random_columns(np.random.default_rng(11), 5)
    _write_aedat2(tmp_path / "c.aedat", x, y, t, p)
    _write_aedat4(tmp_path / "c.aedat4", x, y, t, p)
    monkeypatch.setitem(sys.modules, "tonic.io", None)  # import fails as if not installed
    _one_line_error(r"needs tonic \(pip install tonic\)", read_event_file,
                    str(tmp_path / "c.aedat"))
    _one_line_error("needs tonic and aedat", read_event_file, str(tmp_path / "c.aedat4"))
