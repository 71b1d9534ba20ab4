"""Datasets as (images, labels) tensors, read from local files only.

Nothing here downloads: "digits" ships with scikit-learn, "mnist" is read from IDX
files the user has put in a directory. Every image is returned as float32 in [0, 1]
and is an integer multiple of the dataset's ``input_scale``, which the exporter
relies on to turn inputs into exact integers for the hardware.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

SPLITS = ("train", "test")


class DatasetError(ValueError):
    """A dataset cannot be provided: unknown name, bad split, or missing/corrupt files."""


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset that a model config needs before any data is read."""

    input_shape: tuple[int, int, int]
    num_classes: int
    input_scale: float


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(input_shape=(1, 8, 8), num_classes=10, input_scale=1.0 / 16.0),
    "mnist": DatasetInfo(input_shape=(1, 28, 28), num_classes=10, input_scale=1.0 / 255.0),
}

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def load_dataset(name: str, split: str, data_dir: str | None = None) -> tuple[Tensor, Tensor]:
    """Images (N, C, H, W) float32 in [0, 1] and labels (N,) int64 of one split.

    Args:
        name: a key of :data:`DATASETS`.
        split: "train" or "test".
        data_dir: directory holding the files of datasets that are not bundled (MNIST).

    Raises:
        DatasetError: unknown name or split, or files absent or malformed.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; known: {list(SPLITS)}")
    if name == "digits":
        return _load_digits(split)
    return _load_mnist(split, data_dir)


def _load_digits(split: str) -> tuple[Tensor, Tensor]:
    """scikit-learn's 8×8 digits (values 0..16), split 80/20, stratified, seed 0.

    The split is fixed so that accuracies reported anywhere in the project refer to
    the same 360 test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, random_state=0, stratify=labels
    )
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def _load_mnist(split: str, data_dir: str | None) -> tuple[Tensor, Tensor]:
    if data_dir is None:
        raise DatasetError(
            "mnist is not bundled: pass the directory holding its IDX files (data_dir)"
        )
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


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed, by its ``.gz`` suffix).

    Layout: two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian uint32, then the data in C order, big-endian.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise DatasetError(
            f"{path}: IDX header promises {dims} ({count * dtype.itemsize} bytes of data), "
            f"file holds {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))
