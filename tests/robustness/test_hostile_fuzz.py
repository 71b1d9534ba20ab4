"""Hypothesis over what a hostile file or a careless user can vary: HDF5 layouts of a dataset the
reader uses (storage kind, links, filters, fill values, dtypes, declared sizes), integer and
float metadata in any stored dtype, chip profile numbers of any magnitude, and the command
line's numeric arguments. Each property says exactly what must be refused (and with what),
and that everything else loads or fails with the reader's own one-line error, within a time
limit. Profiles (derandomized, few examples in CI): tests/robustness/conftest.py.

Declared sizes are either just over a 1 MiB budget or about 1 TiB, so that a regression that
reads them costs little or fails at once (MemoryError) rather than swapping.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dalif.cli import main
from hardware_sim.chips import CHIPS_DIR, ChipProfileError, parse_chip
from hardware_sim.ir.nir import NIRFormatError, ReadLimits, read_nir

from .test_hostile_nir import digits_graph

BUDGET = 1 << 20
LIMITS = ReadLimits(max_bytes=BUDGET)
TIB = 1 << 40
SECONDS = 10


@contextmanager
def time_limit(seconds: int = SECONDS):
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def foreign_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "f.nir"
    nir.write(str(path), digits_graph())
    return path


@pytest.fixture(scope="module")
def exported_file(tmp_path_factory, valid_checkpoint) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "e.nir"
    assert main(["export", str(valid_checkpoint), "--out", str(path)]) == 0
    return path


# ---------------------------------------------------------------------------------------------
# HDF5 layouts of node fc1's weight (3, 64)

HOSTILE_STORAGE = {"external": "external file", "virtual": "virtual dataset", "soft": "soft link",
                   "external_link": "external link", "alias": "reached by 2 links", "lzf": "filter 32000"}
DTYPES = ["f2", "f4", "f8", "i1", "i8", "u8", "bool", "c8", "S4", "compound"]


@st.composite
def layouts(draw) -> dict:
    storage = draw(st.sampled_from(["contiguous", "chunked", "gzip", "shuffle_gzip", "fletcher_gzip", "compact",
                                    *HOSTILE_STORAGE]))
    dtype = draw(st.sampled_from(DTYPES))
    size = draw(st.sampled_from(["exact", "other", "over_budget", "tebibyte"]))
    if storage == "compact" and size in ("over_budget", "tebibyte"):
        size = "exact"  # compact data lives in the header (64 KiB at most)
    written = draw(st.booleans())  # data written, or the fill value only
    fill = draw(st.sampled_from([0.0, float("nan"), 1e300, -7.0]))
    return {"storage": storage, "dtype": dtype, "size": size, "written": written, "fill": fill}


def _numpy_dtype(name: str) -> np.dtype:
    if name == "compound":
        return np.dtype([("a", "f4"), ("b", "i4")])
    return np.dtype(bool if name == "bool" else name)


def build_layout(path: Path, layout: dict) -> None:
    dtype = _numpy_dtype(layout["dtype"])
    shape = {"exact": (3, 64), "other": (5, 7), "over_budget": (BUDGET // dtype.itemsize + 1,),
             "tebibyte": (TIB // dtype.itemsize,)}[layout["size"]]
    with h5py.File(path, "r+") as f:
        group = f["node/nodes/fc1"]
        del group["weight"]
        storage = layout["storage"]
        if storage == "soft":
            group["weight"] = h5py.SoftLink("/node/nodes/fc2/weight")
            return
        if storage == "alias":
            group["weight"] = f["node/nodes/fc2/weight"]
            return
        if storage == "external_link":
            group["weight"] = h5py.ExternalLink(str(path.with_name("other.h5")), "/w")
            return
        if storage == "virtual":
            with h5py.File(path.with_name("src.h5"), "w") as src:
                src.create_dataset("w", data=np.ones((3, 64), np.float32))
            vl = h5py.VirtualLayout(shape=(3, 64), dtype="f4")
            vl[...] = h5py.VirtualSource(str(path.with_name("src.h5")), "w", shape=(3, 64))
            group.create_virtual_dataset("weight", vl, fillvalue=0)
            return
        kwargs: dict = {}
        if storage == "external":
            path.with_name("raw.bin").write_bytes(b"\x01" * 64)
            kwargs["external"] = [(str(path.with_name("raw.bin")), 0, h5py.h5f.UNLIMITED)]
        elif storage == "compact":
            kwargs["dcpl"] = _compact()
        elif storage != "contiguous":
            kwargs["chunks"] = tuple(min(d, 4096) for d in shape)
            kwargs.update({"gzip": {"compression": "gzip"}, "shuffle_gzip": {"compression": "gzip", "shuffle": True},
                           "fletcher_gzip": {"compression": "gzip", "fletcher32": True},
                           "lzf": {"compression": "lzf"}, "chunked": {}}[storage])
        if dtype.kind == "f":
            kwargs["fillvalue"] = layout["fill"]
        ds = group.create_dataset("weight", shape=shape, dtype=dtype, **kwargs)
        if layout["written"] and math.prod(shape) <= 4096 and storage != "external":
            ds[...] = np.ones(shape, dtype) if dtype.fields is None else np.zeros(shape, dtype)


def _compact() -> h5py.h5p.PropDCID:
    """A dataset creation list asking for compact storage (the data inside the header)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    return dcpl


def expected_refusals(layout: dict) -> list[str]:
    """Every reason this layout must be refused for (a refusal must name one of them); empty
    where the file may load, or fail for a reason of its own (a shape, a NaN)."""
    reasons = []
    if layout["storage"] in HOSTILE_STORAGE:
        reasons.append(HOSTILE_STORAGE[layout["storage"]])
    if layout["storage"] in ("soft", "alias", "external_link", "virtual"):
        return reasons  # the dataset's own dtype and size are never looked at
    if layout["dtype"] == "c8":
        reasons.append("complex")
    if layout["dtype"] == "compound":
        reasons.append("neither numeric nor a string")
    if layout["size"] in ("over_budget", "tebibyte"):
        reasons.append("budget")
    return reasons


@given(layout=layouts())
def test_any_layout_of_a_used_dataset_loads_or_is_refused_from_its_header(foreign_file, layout):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.nir"
        path.write_bytes(foreign_file.read_bytes())
        build_layout(path, layout)
        reasons = expected_refusals(layout)
        with time_limit():
            try:
                model = read_nir(path, timesteps=2, limits=LIMITS)
            except NIRFormatError as exc:
                message = str(exc)
                assert "\n" not in message and str(path) in message
                assert not reasons or any(r in message for r in reasons), (layout, message)
                return
        assert not reasons, f"{layout} loaded; expected a refusal naming one of {reasons}"
        assert layout["size"] == "exact" and np.all(np.isfinite(model.graph.populations[0].projections[0].weight))


# ---------------------------------------------------------------------------------------------
# Metadata values in any stored dtype

FIELDS = {  # field path under node/metadata/dalif → the range it must hold, or "positive"
    "timesteps": (1, 100_000), "input_bits": (1, 16), "format_version": (1, 1),
    "populations/fc1/bias_exp": (0, 7), "populations/fc1/readout": (0, 1),
    "populations/fc1/projections/0/weight_exp": (-8, 7), "populations/fc1/projections/0/delay": (0, 4096),
    "input_scale": "positive", "populations/fc1/v_scale": "positive",
}
NUMPY_TYPES = [np.int8, np.int16, np.int64, np.uint8, np.uint32, np.uint64, np.float16, np.float32, np.float64,
               np.bool_]


@st.composite
def metadata_values(draw):
    field = draw(st.sampled_from(sorted(FIELDS)))
    kind = draw(st.sampled_from(NUMPY_TYPES + ["text"]))
    if kind == "text":
        return field, draw(st.sampled_from(["many", "2", ""]))
    info = np.iinfo(kind) if np.issubdtype(kind, np.integer) else None
    if kind is np.bool_:
        value = draw(st.booleans())
    elif info is not None:
        value = draw(st.one_of(st.integers(int(info.min), int(info.max)),
                               st.sampled_from([int(info.min), int(info.max), 0, 1, 2, 7, 8, 17])))
    else:
        value = draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=np.dtype(kind).itemsize * 8),
                               st.sampled_from([0.5, 2.5, 1.0, 1e-300, 1e300, -1.0])))
    with np.errstate(over="ignore"):
        return field, kind(value)


@given(change=metadata_values())
def test_metadata_values_load_exactly_or_are_refused(exported_file, change):
    field, value = change
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.nir"
        path.write_bytes(exported_file.read_bytes())
        with h5py.File(path, "r+") as f:
            name = f"node/metadata/dalif/{field}"
            del f[name]
            f[name] = value
        with time_limit():
            try:
                model = read_nir(path)
            except NIRFormatError as exc:
                assert "\n" not in str(exc)
                return
        loaded = _loaded(model, field)
        assert not isinstance(value, str), f"{field} = {value!r} loaded as {loaded!r}"
        wanted = FIELDS[field]
        number = float(value)
        if wanted == "positive":
            assert math.isfinite(number) and number > 0 and loaded == number
        else:
            assert wanted[0] <= number <= wanted[1] and number == int(number), (field, value)
            assert loaded == int(value), f"{field} stored {value!r} loaded as {loaded!r} (truncated?)"


def _loaded(model, field: str):
    pop = model.graph.populations[0]
    return {"timesteps": model.timesteps, "input_bits": model.graph.input_bits, "format_version": 1,
            "populations/fc1/bias_exp": pop.bias_exp, "populations/fc1/readout": int(pop.readout),
            "populations/fc1/projections/0/weight_exp": pop.projections[0].weight_exp,
            "populations/fc1/projections/0/delay": pop.projections[0].delay,
            "input_scale": model.graph.input_scale, "populations/fc1/v_scale": pop.v_scale}[field]


# ---------------------------------------------------------------------------------------------
# Chip profile numbers of any magnitude

LOIHI = json.loads((CHIPS_DIR / "loihi.json").read_text())
NUMBER_KEYS = [("energy_pj", "synapse"), ("time_ns", next(iter(LOIHI["time_ns"]))), ("neurons_per_core",),
               ("mesh", "tiles_x"), ("limits", next(iter(LOIHI["limits"]))), ("barrier_sync_ns", "tiles_1")]
ANY_NUMBER = st.one_of(st.integers(min_value=-(10**500), max_value=10**500), st.floats(allow_nan=True),
                       st.sampled_from([1e308, 1e15, 1e15 + 1, 2**31 - 1, 2**31, 0, 1, -0.0]),
                       st.text(max_size=5), st.booleans(), st.none(), st.lists(st.integers(), max_size=2))


@given(key=st.sampled_from(NUMBER_KEYS), value=ANY_NUMBER)
def test_chip_numbers_are_in_range_or_refused(key, value):
    data = copy.deepcopy(LOIHI)
    entry = data
    for k in key:
        entry = entry[k]
    entry["value"] = value
    try:
        chip = parse_chip(data)
    except ChipProfileError as exc:
        assert "\n" not in str(exc)
        return
    constants = chip.constants()
    assert all(math.isfinite(v) and 0 <= v <= 1e15 for v in constants.values())
    assert isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1e15


# ---------------------------------------------------------------------------------------------
# The command line's numbers

ARG_NUMBER = st.one_of(st.integers(min_value=-5, max_value=10**15),
                       st.sampled_from([0, 1, 2, 64, 65, 10**12]))
SCALE = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                  st.sampled_from([0.0, -1.0, 1e-300, 1e-320, 1 / 255, 1e300]))


@given(timesteps=ARG_NUMBER, scale=SCALE, max_timesteps=st.integers(-1, 64),
       max_bytes=st.sampled_from([0, 1, 4000, 20_000, 1 << 30]))
def test_numeric_arguments_run_or_end_in_one_line(foreign_file, timesteps, scale, max_timesteps, max_bytes):
    argv = ["simulate", str(foreign_file), "--quiet", "--limit", "1", f"--timesteps={timesteps}",
            f"--input-scale={scale!r}", f"--max-timesteps={max_timesteps}", f"--max-bytes={max_bytes}"]
    with time_limit(), _stderr_lines() as err:
        code = main(argv)
    valid = (1 <= max_timesteps and 1 <= max_bytes and 1 <= timesteps <= max_timesteps
             and math.isfinite(scale) and scale > 0 and math.isfinite(1 / scale)
             and timesteps * 69 * 8 <= max_bytes)
    if code == 0:
        assert valid, argv
    else:
        assert code == 2 and len(err) == 1 and err[0].startswith("dalif: error: "), (argv, err)
        if valid:  # only the file's own declared bytes may exceed a valid budget
            assert "budget" in err[0], (argv, err)


@contextmanager
def _stderr_lines():
    import contextlib
    import io

    buffer = io.StringIO()
    lines: list[str] = []
    with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(io.StringIO()):
        yield lines
    lines.extend(buffer.getvalue().strip().splitlines())
