"""MNIST from its IDX files, and a bounded IDX reader.

Expected in ``data_dir`` (plain or gzip-compressed, by the ``.gz`` suffix), as
distributed at http://yann.lecun.com/exdb/mnist/ and its mirrors::

    train-images-idx3-ubyte[.gz]   train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]    t10k-labels-idx1-ubyte[.gz]

The reader checks the header before it reads any data: a plain file must hold
exactly the bytes the header declares, and a compressed one is decompressed only
up to the declared size, which must stay under ``max_bytes``; so a small hostile
file cannot make it allocate more than that.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

from dalif.data.registry import DatasetError, require_dir

if TYPE_CHECKING:
    from torch import Tensor

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MAX_IDX_BYTES = 1 << 30
"""Largest data payload an IDX header may declare (1 GiB: EMNIST's largest file is 0.55 GB)."""

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CHUNK = 1 << 24


def load_mnist(split: str, data_dir: str | None) -> tuple[Tensor, Tensor]:
    """Images (N, 1, 28, 28) float32, value/255 (input_scale 1/255), and labels (N,) int64."""
    import torch  # here, so that read_idx (re-exported by dalif.data) needs no torch

    data_dir = require_dir("mnist", data_dir, "its IDX files")
    image_name, label_name = MNIST_FILES[split]
    paths = {base: _find_idx(data_dir, base) for base in (image_name, label_name)}
    missing = [base for base, path in paths.items() if path is None]
    if missing:
        raise DatasetError(
            f"mnist: {data_dir} lacks {', '.join(missing)} (or .gz); copy the IDX files "
            "from http://yann.lecun.com/exdb/mnist/ (or a mirror) there; nothing is downloaded"
        )
    images = read_idx(paths[image_name])
    labels = read_idx(paths[label_name])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(
            f"mnist: {paths[image_name]} {images.shape} and {paths[label_name]} "
            f"{labels.shape} are not N×H×W images with N labels"
        )
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def _find_idx(data_dir: str, base: str) -> str | None:
    for candidate in (base, base + ".gz"):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx(path: str, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed, by its ``.gz`` suffix).

    Layout: two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian uint32, then the data in C order, big-endian.
    The header is checked against the file size (plain) or ``max_bytes`` (both)
    before any data is read.
    """
    compressed = path.endswith(".gz")
    try:
        with (gzip.open if compressed else open)(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
                raise DatasetError(f"{path}: not an IDX file (bad magic number)")
            dtype, ndim = _IDX_DTYPES[head[2]], head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DatasetError(f"{path}: truncated IDX header")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            nbytes = math.prod(dims) * dtype.itemsize
            promise = f"{path}: IDX header promises {dims} ({nbytes} bytes of data)"
            if nbytes > max_bytes:
                raise DatasetError(f"{promise}, more than the limit of {max_bytes} bytes")
            if compressed:
                data = _read_up_to(f, nbytes)
                if len(data) < nbytes:
                    raise DatasetError(f"{promise}, file holds {len(data)}")
                if f.read(1):
                    raise DatasetError(f"{promise}, file holds more")
            else:
                held = os.fstat(f.fileno()).st_size - 4 - 4 * ndim
                if held != nbytes:
                    raise DatasetError(f"{promise}, file holds {held}")
                data = bytearray(nbytes)
                if f.readinto(data) != nbytes:
                    raise DatasetError(f"{promise}, file changed while reading")
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _read_up_to(f, nbytes: int) -> bytearray:
    """At most ``nbytes`` from a stream, in chunks: memory grows with what is really there."""
    data = bytearray()
    while len(data) < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - len(data)))
        if not chunk:
            break
        data += chunk
    return data
