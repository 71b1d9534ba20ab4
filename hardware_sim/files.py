"""Output files that never destroy: a file appears whole or not at all, never on top of an
input or a device, and a command's files appear together.

- ``check_outputs`` validates every output path before any work: the directory exists and
  is writable, nothing is a directory, device, FIFO or socket where a file will go, no output
  resolves (through symlinks, or as the same inode) to an input of the command or to
  another output of it.
- ``atomic_path`` writes a temporary file beside the target and renames it into place
  (``os.replace`` is atomic on POSIX within one file system). A write error (disk full,
  ``EFBIG`` under ``ulimit -f``, permission) becomes one ``FileError`` line, and the temporary
  file is removed on any exception, on Ctrl-C and on SIGTERM/SIGHUP (a handler, installed only
  while a temporary file exists, removes them and then lets the signal take its default
  course). Only SIGKILL (nothing can run) leaves a hidden ``.NAME.*.tmp``, never the name.
- ``output_set`` makes the files written inside it one set: each is written to its temporary
  file, and only when all succeeded are they renamed into place, with SIGINT, SIGTERM and
  SIGHUP blocked for the renames; an error or interrupt before that leaves every old file.
- ``atomic_directory`` does the same for a directory of files read back while writing them
  (a report whose HTML embeds its plots): they are written into a hidden staging directory,
  then moved into place as one set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

_CLEANUP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_COMMIT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                        if hasattr(signal, name))


class FileError(ValueError):
    """An input or output path this toolchain must not read or write, or a write that failed;
    one line naming the path."""


# ---------------------------------------------------------------------------------------------
# Checking paths before any work


def regular_input(path: str | os.PathLike, what: str = "") -> int:
    """The size of ``path`` if it is a regular file (symlinks followed), else a FileError:
    a FIFO or a device would block a reader or never end."""
    label = f"{what} {path}" if what else str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileError(f"{label}: no such file") from None
    except OSError as exc:
        raise FileError(f"{label}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise FileError(f"{label}: no such file (it is a directory)")
    if not stat.S_ISREG(st.st_mode):
        raise FileError(f"{label}: is a {_kind(st.st_mode)}, not a regular file; refusing to read it")
    return st.st_size


def npy_header(stream: IO[bytes]) -> tuple[tuple[int, ...], bool, Any]:
    """(shape, fortran order, dtype) from a .npy file's header, the stream left at its data:
    what a reader checks against its budget and the file's size before loading any of it.
    ValueError for a file that is not .npy (or of a version numpy does not write)."""
    import numpy as np

    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version in ((2, 0), (3, 0)):
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f"unsupported .npy version {version}")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a regular file's bytes, read in 1 MiB blocks."""
    regular_input(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_outputs(files: Mapping[str, str | os.PathLike | None],
                  inputs: Iterable[str | os.PathLike | None] = (),
                  directories: Mapping[str, tuple[str | os.PathLike | None, Iterable[str]]] | None = None
                  ) -> None:
    """Refuse, before any work, outputs that would destroy something or cannot be written.

    ``files``: label (``"--out"``) → output file path (None: not asked for).
    ``directories``: label → (directory, the names of the files the command writes in it).
    ``inputs``: every file the command reads (None entries and missing files are skipped).

    Refused: an output that resolves (symlinks followed, or the same inode) to an input or to
    another output; an existing directory, device, FIFO or socket where a file will go; a
    directory output that exists as something else; a missing or unwritable directory.
    """
    directories = directories or {}
    input_paths = [Path(p) for p in inputs if p is not None]
    claimed: dict[str, str] = {}  # resolved output → label

    def claim(label: str, target: Path) -> None:
        resolved = os.path.realpath(target)
        for source in input_paths:
            if resolved == os.path.realpath(source) or _same_file(target, source):
                raise FileError(f"{label} {target}: is the input {source}; refusing to overwrite an input")
        if resolved in claimed:
            raise FileError(f"{claimed[resolved]} and {label} name the same file {target}; give "
                            f"each output its own file")
        claimed[resolved] = label
        try:
            st = os.stat(target)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise FileError(f"{label} {target}: cannot be checked ({exc.strerror})") from None
        if stat.S_ISDIR(st.st_mode):
            raise FileError(f"{label} {target}: is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"{label} {target}: is a {_kind(st.st_mode)}, not a regular file; refusing "
                            f"to replace it")

    for label, path in files.items():
        if path is None:
            continue
        target = Path(path)
        claim(label, target)
        _writable_directory(Path(os.path.realpath(target)).parent, create=False)
    for label, (path, names) in directories.items():
        if path is None:
            continue
        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise FileError(f"{label} {directory}: exists and is not a directory")
        _writable_directory(Path(os.path.realpath(directory)), create=True)
        for name in names:
            claim(label, directory / name)


def _writable_directory(directory: Path, create: bool) -> None:
    """``directory`` must be a writable directory; with ``create``, its nearest existing
    ancestor must be (the command makes the rest)."""
    existing = directory
    if create:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    if not existing.exists():
        raise FileError(f"{directory}: output directory does not exist")
    if not existing.is_dir():
        raise FileError(f"{existing}: is not a directory, so nothing can be written under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FileError(f"{existing}: output directory is not writable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


# ---------------------------------------------------------------------------------------------
# Temporary files, and removing them when a signal ends the process

_live_temps: set[str] = set()
_saved_handlers: dict[int, Any] = {}
_open_sets: list[list[tuple[str, str]]] = []


def _track(tmp: str) -> None:
    if not _live_temps:
        _install_handlers()
    _live_temps.add(tmp)


def _untrack(tmp: str) -> None:
    _live_temps.discard(tmp)
    if not _live_temps:
        _restore_handlers()


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _CLEANUP_SIGNALS:
        previous = signal.getsignal(signum)
        if previous in (signal.SIG_IGN, None) or previous is _on_signal:
            continue
        signal.signal(signum, _on_signal)
        _saved_handlers[signum] = previous


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in list(_saved_handlers.items()):
        signal.signal(signum, previous)
        del _saved_handlers[signum]


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM/SIGHUP while temporary files exist: remove them, then let the signal do what it
    would have done (the default: end the process, with the signal as its status)."""
    for tmp in list(_live_temps):
        _remove(tmp)
    _live_temps.clear()
    previous = _saved_handlers.get(signum, signal.SIG_DFL)
    _restore_handlers()
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


# ---------------------------------------------------------------------------------------------
# Writing


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on success it replaces ``path`` (or, inside
    ``output_set``, joins the set), on error or interrupt it is removed. A symlink at ``path``
    is written through (its target is replaced). Write errors become one-line FileErrors."""
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = "a directory" if stat.S_ISDIR(st.st_mode) else f"a {_kind(st.st_mode)}"
        raise FileError(f"{path}: is {what}, not a regular file; refusing to replace it")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise FileError(f"{path}: cannot create a file in {target.parent} ({exc.strerror or exc})") from None
    _track(tmp)
    try:
        os.close(fd)
        try:
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
            if _open_sets:
                _open_sets[-1].append((tmp, str(target)))
                return  # the set renames it, or removes it
            os.replace(tmp, target)
        except OSError as exc:
            raise FileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _remove(tmp)
        raise
    finally:
        if not (_open_sets and any(tmp == t for t, _ in _open_sets[-1])):
            _untrack(tmp)


@contextmanager
def output_set() -> Iterator[None]:
    """Every ``atomic_path`` write inside the block becomes visible together, at its end: the
    renames run with SIGINT/SIGTERM/SIGHUP blocked. An exception (or Ctrl-C) inside the block
    removes every temporary file and leaves every old file as it was."""
    pending: list[tuple[str, str]] = []
    _open_sets.append(pending)
    try:
        yield
    except BaseException:
        _open_sets.pop()
        for tmp, _ in pending:
            _remove(tmp)
            _untrack(tmp)
        raise
    _open_sets.pop()
    try:
        with _signals_blocked():
            for tmp, target in pending:
                os.replace(tmp, target)
    except OSError as exc:
        raise FileError(f"cannot move the outputs into place ({exc.strerror or exc})") from None
    finally:
        for tmp, _ in pending:
            if os.path.exists(tmp):
                _remove(tmp)
            _untrack(tmp)


@contextmanager
def atomic_directory(path: str | os.PathLike, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a hidden staging directory beside ``path``; on success its files move into
    ``path`` (made if missing) as one set, with SIGINT/SIGTERM/SIGHUP blocked, and the names
    in ``replaces`` that the new set lacks are removed from ``path`` (stale files of an older
    set). On error or interrupt the staging directory is removed and ``path`` is untouched.
    Other files in ``path`` are never touched."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_dir():
        raise FileError(f"{path}: exists and is not a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise FileError(f"{path}: cannot create a directory beside it ({exc.strerror or exc})") from None
    _track(staging)
    try:
        yield Path(staging)
        names = sorted(os.listdir(staging))
        try:
            with _signals_blocked():
                if not target.exists():
                    os.chmod(staging, 0o777 & ~_umask())
                    os.rename(staging, target)
                    return
                for name in names:
                    os.chmod(os.path.join(staging, name), 0o666 & ~_umask())
                    os.replace(os.path.join(staging, name), target / name)
                for name in set(replaces) - set(names):
                    if (target / name).is_file():
                        os.unlink(target / name)
        except OSError as exc:
            raise FileError(f"{path}: cannot move the new files into place ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(staging):
            _remove(staging)
        _untrack(staging)


@contextmanager
def _signals_blocked() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _COMMIT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
