"""Hostile files built with h5py, and a runner that puts the CLI under a memory cap.

The builders edit a valid file in place (``edit_hdf5``): they write what ``nir.write`` and our
writers never write (external storage, links, virtual datasets, fill-value-only giants,
deflate bombs, complex dtypes) and what an attacker would.

``run_capped`` runs many command lines in ONE fresh interpreter whose address space is capped
with RLIMIT_AS (default 4 GB, as ``ulimit -v 4000000``), so that a regression that reads a
declared size fails there, quickly, instead of swapping the test machine; each command line
gets a 10 s alarm. It returns, per command line, the exit code of ``dalif.cli.main`` (or the
exception that escaped it), stderr, the seconds it took and the interpreter's peak RSS so far.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Callable

import h5py
import nir
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
CAP_BYTES = 4_000_000 * 1024
"""``ulimit -v 4000000``: 4 GB of address space."""
SECONDS_PER_CASE = 10
GIB = 1 << 30

DRIVER = r"""
import contextlib, io, json, resource, signal, sys, time

from dalif.cli import main

limit = int(sys.argv[1])
cases = json.load(sys.stdin)


def expire(signum, frame):
    raise TimeoutError(f"still running after {limit} s")


signal.signal(signal.SIGALRM, expire)
results = []
for argv in cases:
    err, out = io.StringIO(), io.StringIO()
    start = time.monotonic()
    signal.alarm(limit)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:
        code = f"escaped: {type(exc).__name__}: {exc}"[:400]
    finally:
        signal.alarm(0)
    results.append({"argv": argv, "code": code, "stderr": err.getvalue(),
                    "seconds": time.monotonic() - start,
                    "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
sys.__stdout__.write(json.dumps(results))
"""


def _cap(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def run_capped(cases: list[list[str]], cap: int = CAP_BYTES, timeout: int = 600) -> list[dict]:
    """Run ``dalif`` command lines (argv lists) in one capped interpreter; see module docstring."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(SECONDS_PER_CASE)],
                          input=json.dumps(cases), capture_output=True, text=True, cwd=REPO_ROOT,
                          env=env, timeout=timeout, preexec_fn=_cap(cap))
    assert proc.returncode == 0, f"the capped driver died ({proc.returncode}): {proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def run_cli_capped(argv: list[str], cap: int = CAP_BYTES, timeout: int = 120,
                   extra_limits: Callable[[], None] | None = None,
                   one_thread: bool = True) -> subprocess.CompletedProcess:
    """One real ``python -m dalif.cli`` process under the cap (and ``extra_limits``, e.g. a file
    size limit), as a user's shell would run it; ``one_thread=False`` keeps the environment's
    thread settings (each thread reserves address space of its own)."""
    def limits() -> None:
        _cap(cap)()
        if extra_limits is not None:
            extra_limits()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "dalif.cli", *argv], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=timeout, preexec_fn=limits)


def assert_one_line_exit_2(result: dict, fragments: list[str]) -> None:
    """A capped driver's result: exit 2, one ``dalif: error:`` line carrying every fragment,
    within the time limit."""
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == 2, f"{result['argv']}: {result['code']!r} {result['stderr'][-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("dalif: error: "), result["stderr"]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result["seconds"] < SECONDS_PER_CASE, result


# ---------------------------------------------------------------------------------------------
# Builders


def edit_hdf5(path: Path, edit: Callable[[h5py.File], None]) -> Path:
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def build_case(case_dir: Path, base: Path, edit: Callable[[Path], Callable[[h5py.File], None]] | None,
               name: str) -> Path:
    """A copy of the valid file ``base`` in its own directory as ``name``, with ``edit(case_dir)``
    applied to it (None: unchanged)."""
    case_dir.mkdir()
    path = case_dir / name
    path.write_bytes(base.read_bytes())
    if edit is not None:
        edit_hdf5(path, edit(case_dir))
    return path


def replace(f: h5py.File, name: str, make: Callable[[h5py.Group, str], None]) -> None:
    """Delete dataset ``name`` and let ``make(group, key)`` put something else there."""
    group_name, key = name.rsplit("/", 1)
    group = f.require_group(group_name)
    if key in group:
        del group[key]
    make(group, key)


def fill_only(nbytes: int, dtype: str = "f4", chunked: bool = False,
              compression: str | None = None) -> Callable[[h5py.Group, str], None]:
    """A dataset declaring ``nbytes`` of which nothing is stored: every value is the fill value."""
    count = nbytes // np.dtype(dtype).itemsize

    def make(group: h5py.Group, key: str) -> None:
        kwargs = {"chunks": (1 << 20,), "compression": compression} if chunked or compression else {}
        group.create_dataset(key, shape=(count,), dtype=dtype, fillvalue=0, **kwargs)
    return make


def external(source: str, shape: tuple[int, ...] = (3, 4), dtype: str = "f4"
             ) -> Callable[[h5py.Group, str], None]:
    """Raw storage in another file (a text file, /dev/zero, a FIFO)."""
    def make(group: h5py.Group, key: str) -> None:
        group.create_dataset(key, shape=shape, dtype=dtype,
                             external=[(source, 0, h5py.h5f.UNLIMITED)])
    return make


def virtual(source_file: Path, shape: tuple[int, ...] = (3, 4)) -> Callable[[h5py.Group, str], None]:
    def make(group: h5py.Group, key: str) -> None:
        with h5py.File(source_file, "w") as src:
            src.create_dataset("x", data=np.ones(shape, np.float32))
        layout = h5py.VirtualLayout(shape=shape, dtype="f4")
        layout[...] = h5py.VirtualSource(str(source_file), "x", shape=shape)
        group.create_virtual_dataset(key, layout, fillvalue=0)
    return make


def link(target) -> Callable[[h5py.Group, str], None]:
    """A soft link (a path), an external link (h5py.ExternalLink) or a hard link (an object)."""
    def make(group: h5py.Group, key: str) -> None:
        group[key] = target(group.file) if callable(target) else target
    return make


def data(value, **kwargs) -> Callable[[h5py.Group, str], None]:
    def make(group: h5py.Group, key: str) -> None:
        group.create_dataset(key, data=value, **kwargs)
    return make


def deflate_bomb(shape: tuple[int, ...] = (3, 4), inflated: int = 512 << 20
                 ) -> Callable[[h5py.Group, str], None]:
    """A gzip-compressed dataset of ``shape`` whose one chunk inflates to ``inflated`` bytes
    (HDF5 grows its buffer to hold all of it)."""
    def make(group: h5py.Group, key: str) -> None:
        compressor = zlib.compressobj(9)
        block = bytes(1 << 20)
        stream = b"".join(compressor.compress(block) for _ in range(inflated >> 20)) + compressor.flush()
        ds = group.create_dataset(key, shape=shape, dtype="f4", chunks=shape, compression="gzip")
        ds.id.write_direct_chunk((0,) * len(shape), stream, filter_mask=0)
    return make


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def foreign_nir(path: Path, graph: nir.NIRGraph) -> Path:
    nir.write(str(path), graph)
    return path
