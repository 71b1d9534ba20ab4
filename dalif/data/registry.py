"""The table of data sets and the one function that loads any of them.

Every data set is read from local files (or ships with a package); nothing here
downloads. :data:`DATASETS` holds what a model configuration needs before any data
is read; :func:`load_dataset` dispatches to the module that reads the files. This
module imports neither torch nor any reader, so building the command line's choices
from :data:`DATASETS` costs nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

SPLITS = ("train", "test")


class DatasetError(ValueError):
    """A dataset cannot be provided: unknown name, bad split, or missing/corrupt files.

    The message is one line that names the file (or the files expected and where).
    """


class DatasetWarning(UserWarning):
    """Something was changed while reading, e.g. event counts clipped to the input range."""


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset that a model config needs before any data is read.

    ``input_shape`` is the shape of the input at one step, (C, H, W). Static data sets
    (``timesteps`` None) give one image per sample, (N, C, H, W), which the model
    repeats over its own T steps. Temporal data sets (``timesteps`` = T) give a
    different input at every step, (N, T, C, H, W), and fix T.

    Every input value is an integer multiple of ``input_scale`` (x / input_scale is
    the exact integer the hardware receives as a graded input spike).
    """

    input_shape: tuple[int, int, int]
    num_classes: int
    input_scale: float
    timesteps: int | None = None

    @property
    def temporal(self) -> bool:
        """True when samples are sequences (N, T, C, H, W) rather than images (N, C, H, W)."""
        return self.timesteps is not None


@dataclass(frozen=True)
class _Source:
    """Where a data set's loader lives: ``module.function(split, data_dir, **options)``."""

    module: str
    function: str
    options: dict[str, Any] = field(default_factory=dict)


_EVENT_SCALE = 1.0  # event frames are counts: the count itself is the hardware's integer

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(input_shape=(1, 8, 8), num_classes=10, input_scale=1.0 / 16.0),
    "seq_digits": DatasetInfo(input_shape=(1, 1, 8), num_classes=10, input_scale=1.0 / 16.0,
                              timesteps=8),
    "mnist": DatasetInfo(input_shape=(1, 28, 28), num_classes=10, input_scale=1.0 / 255.0),
    "cifar10": DatasetInfo(input_shape=(3, 32, 32), num_classes=10, input_scale=1.0 / 255.0),
    "cifar100": DatasetInfo(input_shape=(3, 32, 32), num_classes=100, input_scale=1.0 / 255.0),
    "dvs_gesture": DatasetInfo(input_shape=(2, 128, 128), num_classes=11,
                               input_scale=_EVENT_SCALE, timesteps=16),
    "dvs_gesture_32": DatasetInfo(input_shape=(2, 32, 32), num_classes=11,
                                  input_scale=_EVENT_SCALE, timesteps=16),
    "cifar10_dvs": DatasetInfo(input_shape=(2, 128, 128), num_classes=10,
                               input_scale=_EVENT_SCALE, timesteps=10),
    "cifar10_dvs_48": DatasetInfo(input_shape=(2, 48, 48), num_classes=10,
                                  input_scale=_EVENT_SCALE, timesteps=10),
}

_SOURCES: dict[str, _Source] = {
    "digits": _Source("dalif.data.digits", "load_digits"),
    "seq_digits": _Source("dalif.data.sequential", "load_seq_digits"),
    "mnist": _Source("dalif.data.idx", "load_mnist"),
    "cifar10": _Source("dalif.data.cifar", "load_cifar", {"name": "cifar10"}),
    "cifar100": _Source("dalif.data.cifar", "load_cifar", {"name": "cifar100"}),
    "dvs_gesture": _Source("dalif.data.dvs", "load_event_dataset",
                           {"name": "dvs_gesture", "timesteps": 16, "size": 128}),
    "dvs_gesture_32": _Source("dalif.data.dvs", "load_event_dataset",
                              {"name": "dvs_gesture", "timesteps": 16, "size": 32}),
    "cifar10_dvs": _Source("dalif.data.dvs", "load_event_dataset",
                           {"name": "cifar10_dvs", "timesteps": 10, "size": 128}),
    "cifar10_dvs_48": _Source("dalif.data.dvs", "load_event_dataset",
                              {"name": "cifar10_dvs", "timesteps": 10, "size": 48}),
}


def load_dataset(name: str, split: str, data_dir: str | None = None) -> tuple[Tensor, Tensor]:
    """Inputs and labels (N,) int64 of one split.

    Static data sets give images (N, C, H, W) float32 in [0, 1]; temporal ones
    (``DATASETS[name].timesteps`` = T) give (N, T, C, H, W) float32, where event data
    sets hold counts (see :mod:`dalif.data.dvs`). Every value is an integer multiple of
    ``DATASETS[name].input_scale``.

    Args:
        name: a key of :data:`DATASETS`.
        split: "train" or "test".
        data_dir: directory holding the files of datasets that are not bundled.

    Raises:
        DatasetError: unknown name or split, or files absent or malformed.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; known: {list(SPLITS)}")
    source = _SOURCES[name]
    loader = getattr(importlib.import_module(source.module), source.function)
    return loader(split=split, data_dir=data_dir, **source.options)


def require_dir(name: str, data_dir: str | None, what: str) -> str:
    """``data_dir`` or a one-line DatasetError saying which files belong there."""
    if data_dir is None:
        raise DatasetError(f"{name} is not bundled: pass the directory holding {what} "
                           "(--data-dir DIR; data_dir= from Python); nothing is downloaded")
    return data_dir
