"""Datasets as (inputs, labels) tensors, read from local files only.

Nothing here downloads. Bundled: ``digits`` (scikit-learn's 8×8 digits) and
``seq_digits`` (the same, fed row by row). Read from ``data_dir``: ``mnist`` (IDX),
``cifar10`` / ``cifar100`` (python-pickle archives, unpickled under restriction),
``dvs_gesture[_32]`` and ``cifar10_dvs[_48]`` (event files, binned into T frames).

Static data sets give images (N, C, H, W) float32 in [0, 1]; temporal ones
(``DATASETS[name].timesteps`` = T) give (N, T, C, H, W). Every value is an integer
multiple of the data set's ``input_scale``, which the exporter relies on to turn
inputs into exact integers for the hardware. Each module's docstring names the files
and directory layout it expects.

Modules: ``registry`` (the table and :func:`load_dataset`), ``digits``, ``sequential``,
``idx`` (MNIST), ``cifar``, ``event_files`` (DVS file readers), ``events`` (binning),
``dvs`` (the event data sets), ``augment`` (training transforms, torch).
"""

from dalif.data.events import events_to_frames
from dalif.data.idx import read_idx
from dalif.data.registry import (
    DATASETS,
    SPLITS,
    DatasetError,
    DatasetInfo,
    DatasetWarning,
    load_dataset,
)

_AUGMENT = ("CIFAR10_MEAN", "CIFAR10_STD", "CIFAR100_MEAN", "CIFAR100_STD", "augment_batch",
            "cutout", "horizontal_flip", "normalize", "random_crop")
_DVS = ("load_event_dataset",)

__all__ = ["DATASETS", "SPLITS", "DatasetError", "DatasetInfo", "DatasetWarning",
           "events_to_frames", "load_dataset", "read_idx", *_AUGMENT, *_DVS]


def __getattr__(name: str):
    # The torch-using parts load on first use, so that `from dalif.data import DATASETS`
    # (the command line's choices) imports no torch.
    if name in _AUGMENT:
        from dalif.data import augment

        return getattr(augment, name)
    if name in _DVS:
        from dalif.data import dvs

        return getattr(dvs, name)
    raise AttributeError(f"module 'dalif.data' has no attribute {name!r}")
