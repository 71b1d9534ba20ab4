"""Random byte corruptions (bit flips, truncations, overwrites) of a valid NIR file and of a
valid checkpoint: the reader either loads the file or raises its own error class, never
another exception, and never hangs."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dalif.checkpoint import CheckpointError, load_checkpoint
from hardware_sim.ir.nir import NIRFormatError, read_nir

SECONDS_PER_READ = 20


@st.composite
def corruptions(draw) -> list[tuple]:
    """Up to four edits, positions as fractions of the file length."""
    edit = st.one_of(
        st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
        st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
        st.tuples(st.just("overwrite"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=16)),
    )
    return draw(st.lists(edit, min_size=1, max_size=4))


def corrupt(data: bytes, edits: list[tuple]) -> bytes:
    buf = bytearray(data)
    for kind, where, *arg in edits:
        if not buf:
            break
        pos = int(where * len(buf))
        if kind == "flip":
            buf[pos] ^= 1 << arg[0]
        elif kind == "truncate":
            del buf[pos:]
        else:
            buf[pos:pos + len(arg[0])] = arg[0]
    return bytes(buf)


@contextmanager
def time_limit(seconds: int):
    def expire(signum, frame):
        raise TimeoutError(f"reader still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_corrupted(original: Path, edits: list[tuple], reader, error: type[Exception]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / original.name
        path.write_bytes(corrupt(original.read_bytes(), edits))
        with time_limit(SECONDS_PER_READ):
            try:
                reader(path)
            except error as exc:
                assert "\n" not in str(exc).strip(), str(exc)


@given(edits=corruptions())
def test_corrupted_nir_loads_or_is_a_format_error(valid_nir, edits):
    read_corrupted(valid_nir, edits, lambda p: read_nir(p, timesteps=2), NIRFormatError)


@given(edits=corruptions())
def test_corrupted_checkpoint_loads_or_is_a_checkpoint_error(valid_checkpoint, edits):
    read_corrupted(valid_checkpoint, edits, load_checkpoint, CheckpointError)


@pytest.mark.parametrize("edits", [[("truncate", 0.5)], [("overwrite", 0.3, b"\xff" * 16)],
                                   [("flip", 0.01, 3), ("flip", 0.6, 5)]],
                         ids=["truncate", "overwrite", "flips"])
def test_corrupted_nir_through_the_cli_ends_within_a_timeout(valid_nir, tmp_path, edits):
    path = tmp_path / "corrupt.nir"
    path.write_bytes(corrupt(valid_nir.read_bytes(), edits))
    proc = subprocess.run([sys.executable, "-m", "dalif.cli", "simulate", str(path), "--quiet",
                           "--timesteps", "2", "--limit", "1"],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 2), proc.stderr
