"""Inputs from files: a model's own integer inputs as .npy, .npz or HDF5 arrays.

Real files want what a data set loader cannot give: event tensors (2×34×34 N-MNIST),
sequences (12-channel Braille, SHD's 700 channels), or the image a netx input layer takes
as its bias (PilotNet). A file holds the integer graded spikes the model's input takes:

- ``(N, T, *input_shape)``: one input per step, T the model's timesteps;
- ``(N, *input_shape)``: static samples, repeated over the T steps (direct encoding).

Values are integers in ``[0, 2^bits − 1]`` (``bits`` = 1 for spike inputs), stored as
integers, booleans, or floats that hold whole numbers. Labels are integers (N,) in
``[0, classes)``. A NIR data file (``nir.write_data``) gives its ``input`` node's
time-gridded observable, (N, T, neurons) with the neurons flattened in the input's
C-order, one row per step (its ``dt`` is taken as one step; event data is refused).

Budgets before bytes (DESIGN §7): the shape and dtype a file declares (an .npy header, an
.npz member's header and its declared size, an HDF5 dataset's header) are checked against
the model's input and the memory budget before any array data is read; the values are
checked after. numpy and h5py only (no torch): the Lava environments import it too.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hardware_sim.files import FileError, npy_header, regular_input
from hardware_sim.ir.nir.hdf5 import BudgetedHDF5, UnsafeHDF5, one_line

INPUT_NAMES = ("input", "inputs", "x")
"""Names an array of inputs may have in an .npz or HDF5 file (else its only array)."""
LABEL_NAMES = ("labels", "label", "y")
"""Names of the labels beside the inputs in an .npz or HDF5 file."""


class InputFileError(ValueError):
    """An input or label file that does not fit the model; one line naming the file."""


@dataclass(frozen=True)
class InputArrays:
    """Integer inputs read from a file, ready to run: ``values`` (N, T, *input_shape) int64
    in [0, 2^bits − 1], and the labels (N,) where the file or a labels file gave them."""

    values: np.ndarray
    labels: np.ndarray | None
    bits: int

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class _Declared:
    """An array as its header declares it, and how to read it."""

    shape: tuple[int, ...]
    dtype: np.dtype
    read: Any  # () -> np.ndarray
    flat: bool = False
    """(N, T, neurons): a NIR trace, the input's neurons flattened."""


def read_inputs(path: str | os.PathLike, input_shape: tuple[int, ...], timesteps: int, bits: int,
                *, max_bytes: int, labels_path: str | os.PathLike | None = None,
                classes: int | None = None) -> InputArrays:
    """The inputs of ``path`` for a model with ``input_shape`` and T = ``timesteps``, checked
    (module docstring); labels from ``labels_path``, else from the same file where it holds
    them. Raises InputFileError (one line) for anything that does not fit."""
    if not 1 <= bits <= 16:
        raise InputFileError(f"--input-bits must lie in 1..16, got {bits}")
    arrays = _declared_arrays(path, INPUT_NAMES + LABEL_NAMES, max_bytes)
    name, declared = _pick(path, arrays, INPUT_NAMES, "inputs")
    x = _read_values(path, declared, input_shape, timesteps, bits, max_bytes)
    labels = None
    if labels_path is not None:
        found = _declared_arrays(labels_path, LABEL_NAMES, max_bytes)
        labels = _read_labels(labels_path, _pick(labels_path, found, LABEL_NAMES, "labels")[1],
                              len(x), classes)
    else:
        beside = [k for k in LABEL_NAMES if k in arrays and k != name]
        if beside:
            labels = _read_labels(path, arrays[beside[0]], len(x), classes)
    return InputArrays(values=x, labels=labels, bits=bits)


def _read_values(path: Any, declared: _Declared, input_shape: tuple[int, ...], timesteps: int,
                 bits: int, max_bytes: int) -> np.ndarray:
    shape, rank = declared.shape, len(input_shape)
    size = int(np.prod(input_shape))
    if declared.flat and (len(shape) != 3 or shape[2] != size):
        raise InputFileError(f"{path}: a NIR trace of shape {shape}; the model takes (N, T, {size}) "
                             f"for its input {tuple(input_shape)}")
    if declared.flat:
        shape = (*shape[:2], *input_shape)
    if declared.dtype.kind not in "biuf":
        raise InputFileError(f"{path}: inputs of dtype {declared.dtype} (give integers, booleans "
                             f"or whole-number floats)")
    if len(shape) == rank + 2:
        temporal = True
        if shape[1] != timesteps:
            raise InputFileError(f"{path}: {shape[1]} steps per sample, the model runs T = {timesteps}")
    elif len(shape) == rank + 1:
        temporal = False
    else:
        raise InputFileError(f"{path}: inputs of shape {shape}; the model takes (N, T, *{input_shape}) "
                             f"or static (N, *{input_shape})")
    if tuple(shape[-rank:]) != tuple(input_shape):
        raise InputFileError(f"{path}: samples of shape {tuple(shape[-rank:])}, the model's input is "
                             f"{tuple(input_shape)}")
    if shape[0] < 1:
        raise InputFileError(f"{path}: holds no samples")
    run_bytes = int(np.prod(shape[:1], dtype=object)) * timesteps * int(np.prod(input_shape, dtype=object)) * 8
    read_bytes = int(np.prod(shape, dtype=object)) * declared.dtype.itemsize
    if read_bytes + run_bytes > max_bytes:
        raise InputFileError(f"{path}: {shape} inputs need {read_bytes + run_bytes} bytes, more than the "
                             f"budget of {max_bytes} (raise it: --max-bytes, or use fewer samples)")
    x = np.asarray(declared.read()).reshape(shape)
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or np.any(x != np.rint(x)):
            raise InputFileError(f"{path}: inputs hold fractions or non-finite values; give the "
                                 f"integer graded spikes the model takes")
    hi = (1 << bits) - 1
    lo_seen, hi_seen = (x.min(), x.max()) if x.size else (0, 0)
    if lo_seen < 0 or hi_seen > hi:
        raise InputFileError(f"{path}: input values {lo_seen:g}..{hi_seen:g} lie outside 0..{hi} "
                             f"({bits}-bit inputs; set --input-bits)")
    x = x.astype(np.int64)
    return x if temporal else np.repeat(x[:, None], timesteps, axis=1)


def _read_labels(path: Any, declared: _Declared, samples: int, classes: int | None) -> np.ndarray:
    if declared.dtype.kind not in "iuf" or declared.shape != (samples,):
        raise InputFileError(f"{path}: labels of shape {declared.shape} and dtype {declared.dtype}; "
                             f"give {samples} integers, one per sample")
    y = np.asarray(declared.read())
    if y.dtype.kind == "f" and (not np.all(np.isfinite(y)) or np.any(y != np.rint(y))):
        raise InputFileError(f"{path}: labels must be whole numbers")
    top = classes if classes is not None else np.inf
    if y.size and (y.min() < 0 or y.max() >= top):
        raise InputFileError(f"{path}: labels {y.min():g}..{y.max():g} lie outside 0..{top - 1} "
                             f"(the model's {classes} outputs)")
    return y.astype(np.int64)


def _pick(path: Any, arrays: dict[str, _Declared], names: tuple[str, ...], what: str
          ) -> tuple[str, _Declared]:
    for name in names:
        if name in arrays:
            return name, arrays[name]
    others = [k for k in arrays if k not in INPUT_NAMES + LABEL_NAMES]
    if len(arrays) == 1 or (len(others) == 1 and what == "inputs"):
        name = others[0] if others else next(iter(arrays))
        return name, arrays[name]
    raise InputFileError(f"{path}: no array of {what} (name it one of {', '.join(names)}; "
                         f"found {', '.join(sorted(arrays)) or 'none'})")


# ---------------------------------------------------------------------------------------------
# Declared shapes and dtypes, per file kind, before any data is read


def _declared_arrays(path: str | os.PathLike, names: tuple[str, ...], max_bytes: int
                     ) -> dict[str, _Declared]:
    try:
        size = regular_input(path)
    except FileError as exc:
        raise InputFileError(str(exc)) from None
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".npy":
            return {"": _npy(path, size, max_bytes)}
        if suffix == ".npz":
            return _npz(path, max_bytes)
        if suffix in (".h5", ".hdf5"):
            return _hdf5(path, names, max_bytes)
    except InputFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path}: not a readable {suffix} file ({type(exc).__name__}: "
                             f"{one_line(exc)})") from None
    raise InputFileError(f"{path}: give inputs as .npy, .npz or .h5 (HDF5)")


def _check_budget(path: Any, shape: tuple[int, ...], dtype: np.dtype, max_bytes: int) -> int:
    if dtype.hasobject:
        raise InputFileError(f"{path}: holds Python objects; refusing to unpickle")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > max_bytes:
        raise InputFileError(f"{path}: declares {shape} {dtype} ({nbytes} bytes), more than the budget "
                             f"of {max_bytes} (raise it: --max-bytes)")
    return nbytes


def _npy(path: Any, size: int, max_bytes: int) -> _Declared:
    with open(path, "rb") as f:
        shape, fortran, dtype = npy_header(f)
        offset = f.tell()
    nbytes = _check_budget(path, shape, dtype, max_bytes)
    if size - offset < nbytes:
        raise InputFileError(f"{path}: declares {shape} {dtype} but holds only {size - offset} bytes of data")
    return _Declared(tuple(shape), dtype, lambda: np.load(path, allow_pickle=False))


def _npz(path: Any, max_bytes: int) -> dict[str, _Declared]:
    found = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            with archive.open(info) as member:
                shape, _, dtype = npy_header(member)
            nbytes = _check_budget(f"{path}[{name}]", shape, dtype, max_bytes)
            if info.file_size < nbytes:
                raise InputFileError(f"{path}[{name}]: declares {shape} {dtype} but holds only "
                                     f"{info.file_size} bytes")
            found[name] = _Declared(tuple(shape), dtype, _npz_reader(path, name))
    return found


def _npz_reader(path: Any, name: str) -> Any:
    def read() -> np.ndarray:
        with np.load(path, allow_pickle=False) as data:
            return data[name]
    return read


def _hdf5(path: Any, names: tuple[str, ...], max_bytes: int) -> dict[str, _Declared]:
    with _open_hdf5(path, (*names, NIR_TRACE_ROOT), max_bytes) as h5:
        found = {name: info for name, info in h5.datasets.items() if name in names}
        trace = _nir_input_trace(path, h5) if not found else None
    if trace is not None:
        found = {trace.name: trace}
    for name, info in found.items():
        _check_budget(f"{path}[{name}]", info.shape, info.dtype, max_bytes)
    return {("input" if info is trace else name): _Declared(
                info.shape, info.dtype, _hdf5_reader(path, name, max_bytes), flat=info is trace)
            for name, info in found.items()}


NIR_TRACE_ROOT = "nodes"
"""Where ``nir.write_data`` keeps each node's observables: nodes/<node>/observables/<name>."""


def _nir_input_trace(path: Any, h5: BudgetedHDF5) -> Any:
    """The ``input`` node's time-gridded observable of a NIR data file, or None."""
    try:
        kind = h5.read_attribute("", "__type__")
    except (KeyError, UnsafeHDF5):
        return None
    if kind != "NIRGraphData":
        return None
    observables = h5.groups.get(f"{NIR_TRACE_ROOT}/input/observables", [])
    grids = []
    for name in observables:
        group = f"{NIR_TRACE_ROOT}/input/observables/{name}"
        try:
            typ = h5.read_attribute(group, "__type__")
        except (KeyError, UnsafeHDF5):
            continue
        if typ != "TimeGriddedData":
            raise InputFileError(f"{path}: the NIR trace of the input is {typ}; give it time-gridded "
                                 f"(one row per step)")
        if f"{group}/data" in h5.datasets:
            grids.append(h5.datasets[f"{group}/data"])
    if len(grids) != 1:
        raise InputFileError(f"{path}: a NIR data file with {len(grids)} time-gridded observables of "
                             f"its input node (one is needed)")
    return grids[0]


def _open_hdf5(path: Any, names: tuple[str, ...], max_bytes: int) -> BudgetedHDF5:
    try:
        return BudgetedHDF5(path, max_bytes, roots=names, what="HDF5")
    except UnsafeHDF5 as exc:
        raise InputFileError(f"{path}: {exc}") from None


def _hdf5_reader(path: Any, name: str, max_bytes: int) -> Any:
    def read() -> np.ndarray:
        with _open_hdf5(path, (name.split("/")[0],), max_bytes) as h5:
            try:
                return np.asarray(h5.read(name))
            except UnsafeHDF5 as exc:
                raise InputFileError(f"{path}: {exc}") from None
    return read


__all__ = ["INPUT_NAMES", "LABEL_NAMES", "NIR_TRACE_ROOT", "InputArrays", "InputFileError",
           "read_inputs"]
