"""CIFAR-10 and CIFAR-100 from the python-pickle archives, unpickled under restriction.

Expected in ``data_dir`` (or in ``data_dir`` itself when it is that folder), as the
archives from https://www.cs.toronto.edu/~kriz/cifar.html unpack::

    cifar-10-batches-py/   data_batch_1 … data_batch_5 (train), test_batch (test),
                           batches.meta (label names; not needed)
    cifar-100-python/      train, test, meta (label names; not needed)

Each file is a Python 2 pickle of a dict with ``b"data"``, a (N, 3072) uint8 array
(N = 10000 per CIFAR-10 batch, 50000/10000 for CIFAR-100: 1024 red, then 1024
green, then 1024 blue values of a 32×32 image, rows top to bottom), and
``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100, with ``b"coarse_labels"``
beside it, unused), a list of N ints.

These are untrusted files, so they are never given to plain ``pickle.load``:
- the file must be smaller than :data:`MAX_PICKLE_BYTES` and is read whole;
- every opcode and every declared length is checked against the bytes there
  (``pickletools.genops``) before anything is built, so no declared size is trusted;
- only the globals such an archive holds are admitted (numpy's array
  reconstructor, ``ndarray`` and ``dtype``), each through a guard that accepts only
  the arguments numpy itself writes (an empty array; a uint8 dtype); anything else
  (``os.system``, ``builtins.eval`` …) is refused with a one-line DatasetError;
- the result must be N×3072 uint8 with N labels in range and N ≤ :data:`MAX_IMAGES`.

Images come back as (N, 3, 32, 32) float32 value/255: input_scale 1/255, exact.
Training transforms (normalisation, crop, flip, cutout) are a separate, explicit
step: :mod:`dalif.data.augment`.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from typing import Any

import numpy as np
import torch
from torch import Tensor

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

from dalif.data.registry import DatasetError, require_dir

PIXELS = 3 * 32 * 32
MAX_IMAGES = 100_000
"""Most images one archive file may hold (CIFAR's largest holds 50,000)."""
MAX_PICKLE_BYTES = 256 << 20
"""Largest archive file read (CIFAR-100's train file is 155 MB)."""

CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", {"train": [f"data_batch_{i}" for i in range(1, 6)],
                                        "test": ["test_batch"]}, b"labels", 10),
    "cifar100": ("cifar-100-python", {"train": ["train"], "test": ["test"]}, b"fine_labels", 100),
}


def load_cifar(name: str, split: str, data_dir: str | None) -> tuple[Tensor, Tensor]:
    """Images (N, 3, 32, 32) float32 value/255 and labels (N,) int64 of CIFAR-10/100."""
    folder, files, label_key, classes = CIFAR_FILES[name]
    data_dir = require_dir(name, data_dir, f"{folder}/")
    root = os.path.join(data_dir, folder)
    if not os.path.isdir(root):
        root = data_dir
    paths = [os.path.join(root, f) for f in files[split]]
    missing = [os.path.basename(p) for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetError(
            f"{name}: {os.path.join(data_dir, folder)} (or {data_dir}) lacks {', '.join(missing)}; "
            f"unpack the python version of the archive ({folder}) there; nothing is downloaded"
        )
    batches = [read_cifar_batch(p, label_key, classes) for p in paths]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    x = torch.from_numpy(images.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels)


def read_cifar_batch(path: str, label_key: bytes, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3072) uint8 pixels and (N,) int64 labels of one archive file, checked."""
    content = restricted_unpickle(path)
    if not isinstance(content, dict):
        raise DatasetError(f"{path}: holds a {type(content).__name__}, not a CIFAR batch dict")
    content = {k.encode() if isinstance(k, str) else k: v for k, v in content.items()}
    data, labels = content.get(b"data"), content.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != PIXELS or not 0 < len(data) <= MAX_IMAGES:
        shape = getattr(data, "shape", None)
        raise DatasetError(f"{path}: b'data' must be an N×{PIXELS} uint8 array with "
                           f"0 < N <= {MAX_IMAGES}, found {type(data).__name__} {shape}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        count = len(labels) if hasattr(labels, "__len__") else None
        raise DatasetError(f"{path}: {label_key!r} must list {len(data)} labels, found {count}")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise DatasetError(f"{path}: {label_key!r} holds values that are not integers")
    label_array = np.asarray(labels, dtype=np.int64)
    if label_array.min() < 0 or label_array.max() >= classes:
        raise DatasetError(f"{path}: {label_key!r} holds labels outside 0..{classes - 1}")
    return data, label_array


def restricted_unpickle(path: str) -> Any:
    """Unpickle ``path`` admitting only what a CIFAR archive contains (module docstring)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_PICKLE_BYTES:
            raise DatasetError(f"{path}: {size} bytes, more than the limit of "
                               f"{MAX_PICKLE_BYTES} for a CIFAR archive file")
        with open(path, "rb") as f:
            raw = f.read(MAX_PICKLE_BYTES + 1)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    try:
        for opcode, _, _ in pickletools.genops(io.BytesIO(raw)):
            if opcode.name in ("EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"):
                raise DatasetError(f"{path}: pickle uses {opcode.name}, which no CIFAR archive holds")
    except ValueError as exc:  # unknown opcode, a length past the end, no STOP
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: not a complete pickle ({exc})") from exc
    try:
        return _CifarUnpickler(io.BytesIO(raw), path).load()
    except DatasetError:
        raise
    except Exception as exc:  # any failure of a hostile file is one line
        raise DatasetError(f"{path}: malformed CIFAR pickle ({type(exc).__name__}: {exc})") \
            from exc


def _guarded_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') then __setstate__,
    # which checks the data length against the shape; any other call could allocate.
    if subtype is not np.ndarray or shape != (0,) or dtype not in (b"b", "b"):
        raise pickle.UnpicklingError("array reconstruction with arguments numpy never writes")
    return _reconstruct(np.ndarray, (0,), dtype)


def _guarded_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if spec not in ("u1", b"u1", "i8", b"i8", "i4", b"i4"):
        raise pickle.UnpicklingError(f"dtype {spec!r}, which no CIFAR archive holds")
    return np.dtype(spec.decode() if isinstance(spec, bytes) else spec, bool(align), bool(copy))


def _guarded_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # numpy >= 1.16 with pickle protocol 5: the data length must match the shape.
    if not isinstance(dtype, np.dtype) or dtype.hasobject \
            or int(np.prod(shape)) * dtype.itemsize != len(memoryview(buf).cast("B")):
        raise pickle.UnpicklingError("array buffer does not match its declared shape")
    return _frombuffer(buf, dtype, shape, order)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _guarded_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _guarded_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _guarded_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _guarded_frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _guarded_dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, path: str) -> None:
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DatasetError(f"{self.path}: pickle refers to {module}.{name}, which a CIFAR "
                               "archive never holds; refused") from None

    def persistent_load(self, pid: Any) -> Any:
        raise DatasetError(f"{self.path}: pickle uses persistent ids; refused")
