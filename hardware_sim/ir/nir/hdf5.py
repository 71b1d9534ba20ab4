"""HDF5 read under a budget (DESIGN §7, "Budgets before bytes"): what a file declares (links,
storage kinds, dtypes, shapes, chunks, filters) is checked before a byte of its data is read,
and only the datasets a reader asks for are read. The NIR and netx readers share it.

In the order ``BudgetedHDF5`` checks them:

1. the path is a regular file (``os.stat``, symlinks followed): a FIFO or device would block
   the reader or never end; only then is it opened, read-only;
2. the tree under the reader's roots is walked link by link, reading no data: only hard links
   inside the file are followed, every object is reached by exactly one of them (no aliases,
   no cycles), at most ``MAX_OBJECTS`` objects ``MAX_DEPTH`` deep. Refused: soft links,
   external links (another file) and user-defined links;
3. every dataset met is inspected from its header: a virtual dataset (data mapped from other
   files) or external raw storage (bytes HDF5 would read from another file, a FIFO,
   ``/dev/zero``) is refused; so are dtypes other than booleans, integers, real floats and
   strings (complex, compound, opaque, references, variable-length sequences), a null
   dataspace, filters other than deflate, shuffle and fletcher32 (a plugin filter loads code),
   compressed variable-length strings, and more than ``MAX_CHUNKS`` chunks. Its declared size is
   shape × item size, plus one chunk's buffer when chunked (what HDF5 allocates to read it);
4. before a reader's datasets are read, their declared sizes are summed against the budget
   (``plan``); strings, whose bytes live in the file's heap, are read a few rows at a time and
   their actual bytes charged as they come;
5. a compressed dataset's chunks are each inflated here first, into at most their declared
   size, before HDF5 reads them: a chunk that inflates past it (a zip bomb: HDF5 would grow
   its buffer without bound) or does not fill it is refused.

Errors are ``UnsafeHDF5`` with one line naming the object in the file; readers prefix the path.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

from hardware_sim.files import FileError, regular_input

MAX_OBJECTS = 200_000
"""Groups and datasets a reader walks at most (a NIR file holds about ten per layer)."""
MAX_DEPTH = 32
MAX_CHUNKS = 100_000
"""Chunks of the datasets read, all together: each compressed one is inflated here first, so a
file of tiny chunks would be slow (h5py makes chunks of up to 1 MiB: about 1000 per GiB)."""
_FILTERS = {h5py.h5z.FILTER_DEFLATE: "deflate", h5py.h5z.FILTER_SHUFFLE: "shuffle",
            h5py.h5z.FILTER_FLETCHER32: "fletcher32"}
_STRING_ROW_BYTES = 64
"""What one variable-length string costs in memory besides its characters (pointer, object)."""


class UnsafeHDF5(ValueError):
    """A file the budgeted reader refuses; one line naming the object in the file."""


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as its header declares it."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int
    """Bytes reading it allocates: shape × item size (strings: a per-row cost; their characters
    are charged as read), plus one chunk when chunked."""
    vlen_string: bool
    filters: tuple[int, ...]
    chunks: tuple[int, ...] | None


class BudgetedHDF5:
    """An HDF5 file opened for budgeted reading: ``roots`` (top-level names) are walked and
    inspected at once; ``plan`` then ``read`` the datasets wanted.

    ``groups`` maps every group path met (``"node/nodes"``) to its member names, and
    ``datasets`` every dataset path to its ``DatasetInfo``.
    """

    def __init__(self, path: str | os.PathLike, max_bytes: int, roots: Sequence[str],
                 what: str = "HDF5"):
        try:
            self.file_size = regular_input(path)
        except FileError as exc:
            raise UnsafeHDF5(str(exc).removeprefix(f"{path}: ")) from None
        try:
            self.file = h5py.File(path, "r")
        except Exception as exc:  # h5py raises OSError, but also others, for a bad file
            raise UnsafeHDF5(f"not a readable {what} file ({type(exc).__name__}: {one_line(exc)})") from None
        self.max_bytes = int(max_bytes)
        self.used = 0
        self.chunks = 0
        self.objects = 0
        self.groups: dict[str, list[str]] = {}
        self.datasets: dict[str, DatasetInfo] = {}
        self._planned: set[str] = set()
        try:
            for root in roots:
                if self.file.id.links.exists(root.encode()):
                    self._visit(self.file, root, root, 1)
        except UnsafeHDF5:
            self.close()
            raise
        except Exception as exc:  # a corrupt header met while walking
            self.close()
            raise UnsafeHDF5(f"not a readable {what} file ({type(exc).__name__}: {one_line(exc)})") from None

    def __enter__(self) -> BudgetedHDF5:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.file.close()

    def has(self, path: str) -> bool:
        """Whether the walk met a group or dataset at ``path``."""
        return path in self.groups or path in self.datasets

    # -- walking: headers only ----------------------------------------------------------------

    def _visit(self, parent: h5py.Group, name: str, path: str, depth: int) -> None:
        if not name or name in (".", "..") or "/" in name:
            raise UnsafeHDF5(f"{path}: a link name HDF5 paths cannot hold")
        # The link's own record only: h5py's `in` and `get` would open an external link's file
        # (a FIFO there blocks for ever) to see whether its target exists.
        key = name.encode("utf-8", "surrogateescape")
        try:
            kind = parent.id.links.get_info(key).type
        except Exception:
            raise UnsafeHDF5(f"{path}: an unreadable link") from None
        if kind == h5py.h5l.TYPE_SOFT:
            target = _text(parent.id.links.get_val(key))
            raise UnsafeHDF5(f"{path}: a soft link (to {target!r}) is not followed")
        if kind == h5py.h5l.TYPE_EXTERNAL:
            target = _text(parent.id.links.get_val(key)[0])
            raise UnsafeHDF5(f"{path}: an external link (to {target!r}) is not followed")
        if kind != h5py.h5l.TYPE_HARD:
            raise UnsafeHDF5(f"{path}: a user-defined link is not followed")
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise UnsafeHDF5(f"{path}: the file holds more than {MAX_OBJECTS} objects")
        obj = parent[name]
        references = h5py.h5o.get_info(obj.id).rc
        if references != 1:
            raise UnsafeHDF5(f"{path}: an object reached by {references} links (an alias or a cycle) "
                             f"is not read")
        if isinstance(obj, h5py.Group):
            if depth > MAX_DEPTH:
                raise UnsafeHDF5(f"{path}: groups nested more than {MAX_DEPTH} deep")
            if len(obj) > MAX_OBJECTS - self.objects:
                raise UnsafeHDF5(f"{path}: the file holds more than {MAX_OBJECTS} objects")
            members = list(obj.keys())
            self.groups[path] = members
            for member in members:
                self._visit(obj, member, f"{path}/{member}", depth + 1)
        elif isinstance(obj, h5py.Dataset):
            self.datasets[path] = self._inspect(obj, path)
        # a committed datatype holds no data: nothing to read

    def _inspect(self, ds: h5py.Dataset, path: str) -> DatasetInfo:
        plist = ds.id.get_create_plist()
        layout = plist.get_layout()
        if layout == h5py.h5d.VIRTUAL or ds.is_virtual:
            raise UnsafeHDF5(f"{path}: a virtual dataset (data mapped from other files) is not read")
        if plist.get_external_count():
            source = plist.get_external(0)[0]
            raise UnsafeHDF5(f"{path}: raw storage in an external file ({_text(source)!r}) is not read")
        if layout not in (h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED, h5py.h5d.COMPACT):
            raise UnsafeHDF5(f"{path}: unknown storage layout {layout}")
        dtype = ds.dtype
        string = h5py.check_string_dtype(dtype)
        if dtype.kind == "c":
            raise UnsafeHDF5(f"{path}: complex values ({dtype}) are refused: the imaginary part has "
                             f"no meaning here")
        if string is None and (dtype.kind not in "biuf" or dtype.subdtype is not None or dtype.fields):
            raise UnsafeHDF5(f"{path}: dtype {dtype} is neither numeric nor a string")
        if ds.shape is None:
            raise UnsafeHDF5(f"{path}: a null dataspace holds no value")
        shape = tuple(int(d) for d in ds.shape)
        count = math.prod(shape)
        vlen = string is not None and string.length is None
        nbytes = count * (_STRING_ROW_BYTES if vlen else dtype.itemsize)
        filters: tuple[int, ...] = ()
        chunks = None
        if layout == h5py.h5d.CHUNKED:
            chunks = tuple(int(c) for c in ds.chunks)
            if any(c < 1 for c in chunks):
                raise UnsafeHDF5(f"{path}: chunk shape {chunks} is not positive")
            nbytes += math.prod(chunks) * ds.id.get_type().get_size()
            filters = tuple(int(plist.get_filter(i)[0]) for i in range(plist.get_nfilters()))
            for code in filters:
                if code not in _FILTERS:
                    raise UnsafeHDF5(f"{path}: filter {code} is not read (deflate, shuffle and fletcher32 "
                                     f"only)")
            if filters and vlen:
                raise UnsafeHDF5(f"{path}: compressed variable-length strings are not read")
        return DatasetInfo(path, shape, dtype, nbytes, vlen, filters, chunks)

    # -- reading: after the plan --------------------------------------------------------------

    def plan(self, paths: Iterable[str]) -> None:
        """Charge the declared sizes of ``paths`` against the budget, all before any is read."""
        new = sorted({p for p in paths if p not in self._planned})
        for p in new:
            if p not in self.datasets:
                raise UnsafeHDF5(f"{p}: not a dataset")
        declared = sum(self.datasets[p].nbytes for p in new)
        chunks = sum(_chunk_count(self.datasets[p]) for p in new)
        if self.used + declared > self.max_bytes:
            largest = max(new, key=lambda p: self.datasets[p].nbytes)
            raise UnsafeHDF5(
                f"the file declares {self.used + declared} bytes of data to read ({largest}: "
                f"{self.datasets[largest].nbytes}), more than the budget of {self.max_bytes} bytes "
                f"(raise it: --max-bytes)")
        if self.chunks + chunks > MAX_CHUNKS:
            raise UnsafeHDF5(f"the datasets to read are split into more than {MAX_CHUNKS} chunks")
        self.used += declared
        self.chunks += chunks
        self._planned.update(new)

    def read(self, path: str) -> Any:
        """A planned (or, if small enough, now planned) dataset's value: a numpy array or scalar;
        a scalar string as ``str``; string arrays as arrays of bytes."""
        self.plan([path])
        info = self.datasets[path]
        ds = self.file[path]
        try:
            if info.vlen_string:
                return self._read_strings(ds, info)
            if any(code == h5py.h5z.FILTER_DEFLATE for code in info.filters):
                self._check_chunks(ds, info)
            value = ds[()]
        except UnsafeHDF5:
            raise
        except Exception as exc:
            raise UnsafeHDF5(f"{path}: unreadable data ({type(exc).__name__}: {one_line(exc)})") from None
        if isinstance(value, bytes):
            return _text(value)
        return value

    def read_attribute(self, group: str, name: str) -> Any:
        """A scalar attribute of ``group``: a number or a string (strings charged as read)."""
        obj = self.file[group] if group else self.file
        if name not in obj.attrs:
            raise KeyError(name)
        attr = h5py.h5a.open(obj.id, name.encode())
        where = f"{group}@{name}"
        dtype = attr.dtype
        if attr.shape not in ((), (1,)):
            raise UnsafeHDF5(f"{where}: an attribute of shape {attr.shape}, expected one value")
        if dtype.kind == "c":
            raise UnsafeHDF5(f"{where}: complex values ({dtype}) are refused")
        if h5py.check_string_dtype(dtype) is None and dtype.kind not in "biuf":
            raise UnsafeHDF5(f"{where}: dtype {dtype} is neither numeric nor a string")
        try:
            value = obj.attrs[name]
        except Exception as exc:
            raise UnsafeHDF5(f"{where}: unreadable ({type(exc).__name__}: {one_line(exc)})") from None
        if isinstance(value, np.ndarray):
            value = value.reshape(-1)[0]
        if isinstance(value, (bytes, str)):
            self._charge(len(value), where)
            return _text(value)
        return value

    def _charge(self, nbytes: int, where: str) -> None:
        self.used += nbytes
        if self.used > self.max_bytes:
            raise UnsafeHDF5(f"{where}: the file's data passes the budget of {self.max_bytes} bytes "
                             f"(raise it: --max-bytes)")

    def _read_strings(self, ds: h5py.Dataset, info: DatasetInfo) -> Any:
        """Variable-length strings, a few rows at a time: each string's bytes live once in the
        file's heap but many rows may name the same one, so they are charged as they come."""
        if info.shape == ():
            value = ds[()]
            self._charge(len(value), info.name)
            return _text(value)
        rows = info.shape[0]
        per_row = max(1, math.prod(info.shape[1:]))
        remaining = max(0, self.max_bytes - self.used)
        step = max(1, remaining // (2 * max(1, self.file_size) * per_row))
        parts = []
        for start in range(0, rows, step):
            part = ds[start:start + step]
            self._charge(sum(len(s) for s in part.reshape(-1)), info.name)
            parts.append(part)
        return np.concatenate(parts) if parts else ds[()]

    def _check_chunks(self, ds: h5py.Dataset, info: DatasetInfo) -> None:
        """Inflate every stored chunk here, into at most its declared size, before HDF5 reads
        them (HDF5's deflate filter grows its buffer until the stream ends)."""
        dsid = ds.id
        nominal = math.prod(info.chunks or ()) * dsid.get_type().get_size()
        for index in range(dsid.get_num_chunks()):
            chunk = dsid.get_chunk_info(index)
            if chunk.size > self.file_size:
                raise UnsafeHDF5(f"{info.name}: a chunk of {chunk.size} bytes in a file of {self.file_size}")
            mask, data = dsid.read_direct_chunk(chunk.chunk_offset)
            for position in reversed(range(len(info.filters))):
                if mask & (1 << position):
                    continue  # this filter was skipped for this chunk
                code = info.filters[position]
                if code == h5py.h5z.FILTER_FLETCHER32:
                    data = data[:-4]
                elif code == h5py.h5z.FILTER_DEFLATE:
                    inflater = zlib.decompressobj()
                    try:
                        data = inflater.decompress(data, nominal + 1)
                    except zlib.error as exc:
                        raise UnsafeHDF5(f"{info.name}: a corrupt deflate chunk ({exc})") from None
                    if len(data) > nominal:
                        raise UnsafeHDF5(f"{info.name}: a deflate chunk inflates past its declared "
                                         f"{nominal} bytes (a decompression bomb)")
                    if not inflater.eof:
                        raise UnsafeHDF5(f"{info.name}: a truncated deflate chunk")
            if len(data) != nominal:
                raise UnsafeHDF5(f"{info.name}: a chunk holds {len(data)} bytes, its declared size is "
                                 f"{nominal}")


def _chunk_count(info: DatasetInfo) -> int:
    if info.chunks is None:
        return 0
    return math.prod(-(-max(s, 1) // c) for s, c in zip(info.shape, info.chunks))


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (HDF5's span several)."""
    return " ".join(str(exc).split())
