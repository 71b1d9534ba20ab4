"""Readers for the event files of DVS128 Gesture and CIFAR10-DVS, with sizes checked first.

Each returns one file's events as a structured array in tonic's layout
(``tonic.io.events_struct``: x int16, y int16, t int64 µs, p bool) on the 128×128
DVS128 sensor. Every size a file declares (header lengths, packet lengths, event
counts) is checked against the bytes really there and against :data:`MAX_EVENTS`
before anything is read, and an event outside the sensor is an error, so a small
hostile file cannot make a reader allocate more than its own size allows. Formats:

- ``.npy``, tonic's DVS128 Gesture (``tonic.datasets.DVSGesture``): an (N, 4) numeric
  array, columns x, y, p, t in ms; tonic multiplies t by 1000, so do we. Read with
  numpy's own header parser, never with pickle.
- AEDAT 2.0 (``#!AER-DAT2.0`` text header, lines starting ``#``), the original
  CIFAR10-DVS files: big-endian (address uint32, timestamp uint32 µs) pairs, read
  with tonic's ``get_aer_events_from_file`` and decoded as tonic's ``read_dvs_128``
  does: x = address >> 8 & 0x7F, y = address >> 1 & 0x7F, p = address & 1.
- AEDAT 3.1 (``#!AER-DAT3.1`` header ending ``#!END-HEADER``), the original IBM DVS128
  Gesture recordings: packets of a 28-byte little-endian header (eventType int16,
  eventSource int16, eventSize, eventTSOffset, eventTSOverflow, eventCapacity,
  eventNumber, eventValid int32) then eventCapacity × eventSize bytes. Polarity
  packets (type 1, 8-byte events: uint32 data, uint32 timestamp) are decoded as tonic's
  ``read_dvs_ibm`` does: x = data >> 17 & 0x1FFF, y = data >> 2 & 0x1FFF,
  p = data >> 1 & 1, t = timestamp | eventTSOverflow << 31. Unlike tonic (which
  reads eventCapacity events of every packet as polarity events, and cannot read these
  files in 1.7.0: its ``read_dvs_ibm`` fails unpacking the header), we follow the
  format: the first eventNumber events of polarity packets only, those with their
  valid bit (bit 0) set; other packet types are skipped.
- AEDAT 4.0 (``#!AER-DAT4.0``), tonic's CIFAR10-DVS (``tonic.datasets.CIFAR10DVS``):
  read with tonic's ``read_aedat4`` (the ``aedat`` package). First we check the
  framing ourselves: the IOHeader flatbuffer (which ``aedat`` reads unchecked) and
  every packet length against the file. Packets compressed with LZ4 or Zstd are
  bounded only by those codecs' ratios; uncompressed ones by the file size.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from dalif.data.registry import DatasetError
from hardware_sim.files import npy_header

SENSOR = (128, 128)
"""(H, W) of the DVS128 sensor of both data sets."""
MAX_EVENTS = 1 << 26
"""Most events one file may hold (67 M; the data sets' largest files hold a few M)."""
MAX_HEADER_BYTES = 1 << 20

EVENTS_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])

_AEDAT3_PACKET = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"),
                           ("ts_offset", "<i4"), ("ts_overflow", "<i4"), ("capacity", "<i4"),
                           ("number", "<i4"), ("valid", "<i4")])
_AEDAT3_POLARITY = np.dtype([("data", "<u4"), ("ts", "<u4")])
_AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"


def make_events(x, y, t, p) -> np.ndarray:
    """A structured event array (:data:`EVENTS_DTYPE`) from four columns."""
    events = np.empty(len(t), dtype=EVENTS_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


def read_event_file(path: str) -> np.ndarray:
    """Events of one ``.npy`` / ``.aedat`` / ``.aedat4`` file (module docstring)."""
    try:
        if path.endswith(".npy"):
            events = _read_gesture_npy(path)
        else:
            with open(path, "rb") as f:
                first = f.read(len(_AEDAT4_MAGIC))
            if first == _AEDAT4_MAGIC:
                events = _read_aedat4(path)
            else:
                events = _read_aedat23(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    if len(events) and (events["x"].min() < 0 or events["x"].max() >= SENSOR[1]
                        or events["y"].min() < 0 or events["y"].max() >= SENSOR[0]):
        raise DatasetError(f"{path}: events outside the {SENSOR[1]}×{SENSOR[0]} sensor")
    return events


def _check_count(path: str, count: int) -> None:
    if count > MAX_EVENTS:
        raise DatasetError(f"{path}: declares {count} events, more than the limit of {MAX_EVENTS}")


def _read_gesture_npy(path: str) -> np.ndarray:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        try:
            shape, fortran, dtype = npy_header(f)
        except ValueError as exc:
            raise DatasetError(f"{path}: not a readable .npy file ({exc})") from exc
        if dtype.hasobject or dtype.kind not in "iuf" or len(shape) != 2 or shape[1] != 4:
            raise DatasetError(f"{path}: expected an N×4 numeric array (x, y, p, t ms), "
                               f"found {dtype} {shape}")
        _check_count(path, shape[0])
        held = size - f.tell()
        if held != shape[0] * 4 * dtype.itemsize:
            raise DatasetError(f"{path}: header promises {shape} {dtype} "
                               f"({shape[0] * 4 * dtype.itemsize} bytes), file holds {held}")
        flat = np.fromfile(f, dtype=dtype, count=shape[0] * 4)
    table = flat.reshape(shape, order="F" if fortran else "C")
    if dtype.kind == "f" and not np.array_equal(table, np.floor(table)):
        raise DatasetError(f"{path}: event columns hold non-integer values")
    x, y, p, t_ms = (table[:, i].astype(np.int64) for i in range(4))
    if len(p) and (p.min() < 0 or p.max() > 1 or t_ms.min() < 0 or t_ms.max() >= 1 << 40):
        raise DatasetError(f"{path}: polarity not 0/1 or time out of range")
    return make_events(x, y, t_ms * 1000, p)


def _text_header(f, path: str) -> tuple[float, int]:
    """AEDAT 2/3 ``#`` header lines: (version, offset of the data)."""
    first = f.readline(256)
    if not first.startswith(b"#!AER-DAT"):
        raise DatasetError(f"{path}: not an AEDAT file (no #!AER-DAT header line)")
    try:
        version = float(first[len(b"#!AER-DAT"):].strip().decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable AEDAT version line {first[:32]!r}") from exc
    while True:
        if f.tell() > MAX_HEADER_BYTES:
            raise DatasetError(f"{path}: AEDAT header longer than {MAX_HEADER_BYTES} bytes")
        start = f.tell()
        if f.read(1) != b"#":
            return version, start
        line = f.readline(MAX_HEADER_BYTES)
        if line.startswith(b"!END-HEADER"):
            return version, f.tell()


def _read_aedat23(path: str) -> np.ndarray:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        version, data_start = _text_header(f, path)
    if 2 <= version < 3:
        return _read_aedat2(path, size, data_start)
    if 3 <= version < 4:
        return _read_aedat3(path, size, data_start)
    raise DatasetError(f"{path}: AEDAT version {version} is not one of 2.0, 3.1, 4.0")


def _read_aedat2(path: str, size: int, data_start: int) -> np.ndarray:
    held = size - data_start
    if held % 8:
        raise DatasetError(f"{path}: AEDAT 2.0 data of {held} bytes is not whole 8-byte "
                           "events (truncated?)")
    _check_count(path, held // 8)
    try:
        from tonic.io import get_aer_events_from_file
    except ImportError as exc:
        raise DatasetError(f"{path}: reading AEDAT 2.0 needs tonic (pip install tonic)") from exc
    raw = get_aer_events_from_file(path, 2.0, data_start)
    address = raw["address"].astype(np.int64)
    return make_events((address >> 8) & 0x7F, (address >> 1) & 0x7F,
                       raw["timeStamp"].astype(np.int64), address & 1)


def _read_aedat3(path: str, size: int, data_start: int) -> np.ndarray:
    packets: list[np.ndarray] = []
    total = 0
    with open(path, "rb") as f:
        f.seek(data_start)
        pos = data_start
        while pos < size:
            if size - pos < _AEDAT3_PACKET.itemsize:
                raise DatasetError(f"{path}: truncated AEDAT 3.1 packet header at byte {pos}")
            head = np.frombuffer(f.read(_AEDAT3_PACKET.itemsize), dtype=_AEDAT3_PACKET)[0]
            event_size, capacity, number = int(head["size"]), int(head["capacity"]), \
                int(head["number"])
            payload = capacity * event_size
            if event_size < 1 or capacity < 0 or not 0 <= number <= capacity \
                    or head["ts_overflow"] < 0:
                raise DatasetError(f"{path}: malformed AEDAT 3.1 packet header at byte {pos}")
            pos += _AEDAT3_PACKET.itemsize
            if payload > size - pos:
                raise DatasetError(f"{path}: AEDAT 3.1 packet at byte {pos} declares {payload} "
                                   f"bytes, {size - pos} remain (truncated?)")
            if head["type"] == 1:
                if event_size != _AEDAT3_POLARITY.itemsize:
                    raise DatasetError(f"{path}: polarity events of {event_size} bytes, not 8")
                total += number
                _check_count(path, total)
                raw = np.frombuffer(f.read(payload), dtype=_AEDAT3_POLARITY, count=number)
                raw = raw[(raw["data"] & 1) == 1]
                data = raw["data"].astype(np.int64)
                t = raw["ts"].astype(np.int64) | (int(head["ts_overflow"]) << 31)
                packets.append(make_events((data >> 17) & 0x1FFF, (data >> 2) & 0x1FFF, t,
                                           (data >> 1) & 1))
            else:
                f.seek(payload, os.SEEK_CUR)
            pos += payload
    return np.concatenate(packets) if packets else np.empty(0, dtype=EVENTS_DTYPE)


def _read_aedat4(path: str) -> np.ndarray:
    _check_aedat4_framing(path)
    try:
        import aedat  # noqa: F401  (tonic's read_aedat4 imports it; say so if it is absent)
        from tonic.io import read_aedat4
    except ImportError as exc:
        raise DatasetError(f"{path}: reading AEDAT 4 needs tonic and aedat "
                           "(pip install tonic aedat)") from exc
    try:
        raw = read_aedat4(path)
    except Exception as exc:  # the Rust decoder's errors, tonic's "no events" …
        raise DatasetError(f"{path}: unreadable AEDAT 4 file ({exc})") from exc
    _check_count(path, len(raw))
    names = raw.dtype.names  # t, x, y, on (aedat 2.x)
    return make_events(raw[names[1]].astype(np.int64), raw[names[2]].astype(np.int64),
                       raw[names[0]].astype(np.int64), raw[names[3]])


def _check_aedat4_framing(path: str) -> None:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(len(_AEDAT4_MAGIC))
        raw = f.read(4)
        if len(raw) < 4:
            raise DatasetError(f"{path}: truncated AEDAT 4 header")
        (length,) = struct.unpack("<I", raw)
        pos = len(_AEDAT4_MAGIC) + 4
        if length > min(MAX_HEADER_BYTES, size - pos):
            raise DatasetError(f"{path}: AEDAT 4 IOHeader of {length} bytes, "
                               f"{size - pos} remain (truncated?)")
        compression, data_table = _ioheader_fields(f.read(length), path)
        pos += length
        end = size if data_table < 0 else data_table
        if not pos <= end <= size:
            raise DatasetError(f"{path}: AEDAT 4 data table at byte {data_table} lies outside "
                               f"the file's {size} bytes")
        if compression == 0 and (end - pos) // 16 > MAX_EVENTS:
            raise DatasetError(f"{path}: {end - pos} bytes of events, more than the limit of "
                               f"{MAX_EVENTS} events")
        while pos < end:
            raw = f.read(8)
            if end - pos < 8 or len(raw) < 8:
                raise DatasetError(f"{path}: truncated AEDAT 4 packet header at byte {pos}")
            _, length = struct.unpack("<II", raw)
            pos += 8
            if length > end - pos:
                raise DatasetError(f"{path}: AEDAT 4 packet at byte {pos} declares {length} "
                                   f"bytes, {end - pos} remain (truncated?)")
            f.seek(length, os.SEEK_CUR)
            pos += length


def _ioheader_fields(buf: bytes, path: str) -> tuple[int, int]:
    """(compression, file data position) of an AEDAT 4 IOHeader flatbuffer, every offset
    bounds-checked (table Ioheader {compression: int32 = 0; file_data_position: int64 = -1;
    description: string}, aedat's ``flatbuffers/ioheader.fbs``)."""
    def u(fmt: str, at: int):
        if not 0 <= at <= len(buf) - struct.calcsize(fmt):
            raise DatasetError(f"{path}: malformed AEDAT 4 IOHeader (offset {at} outside "
                               f"its {len(buf)} bytes)")
        return struct.unpack_from(fmt, buf, at)[0]

    table = u("<I", 0)
    vtable = table - u("<i", table)
    vtable_size = u("<H", vtable)
    fields = [u("<H", vtable + 4 + 2 * i) if 4 + 2 * i < vtable_size else 0 for i in range(3)]
    compression = u("<i", table + fields[0]) if fields[0] else 0
    data_table = u("<q", table + fields[1]) if fields[1] else -1
    if not fields[2]:
        raise DatasetError(f"{path}: AEDAT 4 IOHeader has no description")
    text = table + fields[2] + u("<I", table + fields[2])
    text_length = u("<I", text)
    if text + 4 + text_length > len(buf):
        raise DatasetError(f"{path}: malformed AEDAT 4 IOHeader (description past its end)")
    if not 0 <= compression <= 4:
        raise DatasetError(f"{path}: AEDAT 4 compression {compression} is unknown")
    return compression, data_table
