"""DVS128 Gesture and CIFAR10-DVS from local event files, as T frames of event counts.

A sample is (T, 2, S, S) float32: ``x[k, p, i, j]`` counts the events of polarity p
(0 = OFF, 1 = ON) at row i, column j in time bin k, on the 128×128 sensor or
downsampled to S×S (:mod:`dalif.data.events` says how events are binned and
pooled). Counts are clipped to 2^input_bits − 1 (255 for the exporter's default 8
bits; a :class:`DatasetWarning` says how many values were clipped), and
``input_scale`` is 1: the count *is* the integer the hardware receives as a graded
input. Unlike the image data sets, values are not in [0, 1].

Files are found under ``data_dir`` in either layout of each data set; nothing is
downloaded (the tonic data set classes would download, so only tonic's file readers
are used, never its download paths).

DVS128 Gesture (11 classes; Amir et al., CVPR 2017):

- tonic's preprocessed layout (``tonic.datasets.DVSGesture``, figshare archives
  ibmGestureTrain.tar.gz / ibmGestureTest.tar.gz unpacked)::

      data_dir/[DVSGesture/]ibmGestureTrain/user01_fluorescent/0.npy … 10.npy
      data_dir/[DVSGesture/]ibmGestureTest/user24_fluorescent/0.npy …

  one sample per file, the file name its label 0 … 10; users and files in
  sorted order.
- IBM's original layout (DvsGesture.tar.gz unpacked)::

      data_dir/[DvsGesture/]trials_to_train.txt   names of the training .aedat files
      data_dir/[DvsGesture/]trials_to_test.txt    names of the test .aedat files
      data_dir/[DvsGesture/]user01_fluorescent.aedat         AEDAT 3.1 recording
      data_dir/[DvsGesture/]user01_fluorescent_labels.csv    class,startTime_usec,endTime_usec

  one sample per labels row: the events with start ≤ t < end, label class − 1;
  trials in the order of the list, rows in file order.

CIFAR10-DVS (10 classes; Li et al., Front. Neurosci. 2017)::

    data_dir/[CIFAR10DVS/]airplane/*.aedat4   (tonic's figshare release, AEDAT 4)
    data_dir/[CIFAR10DVS/]airplane/*.aedat    (the original release, AEDAT 2.0)
    … automobile, bird, cat, deer, dog, frog, horse, ship, truck

There is no official split: per class, files in sorted (lexicographic) name order,
the first 90 % train and the rest test — the split SpikingJelly's
``split_to_train_test_set(0.9, …, random_split=False)`` makes on its sorted files.
"""

from __future__ import annotations

import csv
import os
import warnings

import numpy as np
import torch
from torch import Tensor

from dalif.data.event_files import SENSOR, read_event_file
from dalif.data.events import events_to_frames
from dalif.data.registry import DatasetError, DatasetWarning, require_dir

GESTURE_CLASSES = 11
CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                       "ship", "truck")
EVENT_DATASETS = ("dvs_gesture", "cifar10_dvs")
MAX_LABEL_ROWS = 10_000


def load_event_dataset(name: str, split: str, data_dir: str | None, timesteps: int,
                       size: int = 128, binning: str = "time",
                       input_bits: int = 8) -> tuple[Tensor, Tensor]:
    """Frames (N, T, 2, size, size) float32 counts and labels (N,) int64 (module docstring).

    Args:
        name: "dvs_gesture" or "cifar10_dvs".
        split: "train" or "test".
        data_dir: the directory holding the data set (either layout).
        timesteps: T, frames per sample.
        size: output side, 128 (none) or smaller, e.g. 64, 48, 32.
        binning: "time" (equal durations) or "count" (equal event counts).
        input_bits: counts are clipped to 2^input_bits − 1.
    """
    if name not in EVENT_DATASETS:
        raise DatasetError(f"unknown event dataset {name!r}; known: {list(EVENT_DATASETS)}")
    if not 0 < size <= SENSOR[0] or not 1 <= input_bits <= 16 or timesteps < 1:
        raise DatasetError(f"{name}: need 0 < size <= {SENSOR[0]}, 1 <= input_bits <= 16 and "
                           f"timesteps >= 1, got {size}, {input_bits}, {timesteps}")
    data_dir = require_dir(name, data_dir, "its event files")
    samples = _gesture_samples(data_dir, split) if name == "dvs_gesture" \
        else _cifar10_dvs_samples(data_dir, split)
    max_count = (1 << input_bits) - 1
    x = np.empty((len(samples), timesteps, 2, size, size), dtype=np.float32)
    y = np.empty(len(samples), dtype=np.int64)
    clipped = 0
    for i, (events, label, where) in enumerate(samples.iter()):
        try:
            frames, n = events_to_frames(events, timesteps, SENSOR, (size, size), binning,
                                         max_count)
        except ValueError as exc:
            raise DatasetError(f"{where}: {exc}") from exc
        x[i], y[i], clipped = frames, label, clipped + n
    if clipped:
        warnings.warn(f"{name} {split}: {clipped} frame values above {max_count} clipped to "
                      f"{max_count} ({input_bits}-bit inputs)", DatasetWarning, stacklevel=3)
    return torch.from_numpy(x), torch.from_numpy(y)


class _Samples:
    """The samples of one split, listed before any event is read, then read one by one."""

    def __init__(self, entries: list[tuple]) -> None:
        self.entries = entries

    def __len__(self) -> int:
        return sum(len(segments) for _, segments in self.entries)

    def iter(self):
        for path, segments in self.entries:
            events = read_event_file(path)
            for label, start, end in segments:
                if start is None:
                    yield events, label, path
                else:
                    chosen = events[(events["t"] >= start) & (events["t"] < end)]
                    yield chosen, label, f"{path} [{start}, {end}) µs"


def _first_dir(*candidates: str) -> str | None:
    return next((c for c in candidates if os.path.isdir(c)), None)


def _gesture_samples(data_dir: str, split: str) -> _Samples:
    folder = "ibmGestureTrain" if split == "train" else "ibmGestureTest"
    tonic_root = _first_dir(os.path.join(data_dir, folder),
                            os.path.join(data_dir, "DVSGesture", folder))
    if tonic_root is not None:
        return _gesture_tonic(tonic_root)
    trials = f"trials_to_{split}.txt"
    ibm_root = next((d for d in (data_dir, os.path.join(data_dir, "DvsGesture"))
                     if os.path.isfile(os.path.join(d, trials))), None)
    if ibm_root is not None:
        return _gesture_ibm(ibm_root, trials)
    raise DatasetError(
        f"dvs_gesture: {data_dir} holds neither tonic's {folder}/userNN_<lighting>/<label>.npy "
        f"(also under DVSGesture/) nor IBM's {trials} with userNN_<lighting>.aedat and "
        "_labels.csv files (also under DvsGesture/); nothing is downloaded")


def _gesture_tonic(root: str) -> _Samples:
    entries = []
    for trial in sorted(os.listdir(root)):
        trial_dir = os.path.join(root, trial)
        if not os.path.isdir(trial_dir):
            continue
        for name in sorted((f for f in os.listdir(trial_dir) if f.endswith(".npy")),
                           key=lambda f: (len(f), f)):
            stem = name[:-len(".npy")]
            if not stem.isdigit() or int(stem) >= GESTURE_CLASSES:
                raise DatasetError(f"{os.path.join(trial_dir, name)}: expected a file named by "
                                   f"its label, 0.npy … {GESTURE_CLASSES - 1}.npy")
            entries.append((os.path.join(trial_dir, name), [(int(stem), None, None)]))
    if not entries:
        raise DatasetError(f"dvs_gesture: {root} holds no userNN_<lighting>/<label>.npy files")
    return _Samples(entries)


def _gesture_ibm(root: str, trials_name: str) -> _Samples:
    trials_path = os.path.join(root, trials_name)
    names = [line.strip() for line in _small_text(trials_path).splitlines() if line.strip()]
    entries, missing = [], []
    for name in names:
        if os.path.basename(name) != name or not name.endswith(".aedat"):
            raise DatasetError(f"{trials_path}: {name!r} is not an .aedat file name")
        recording = os.path.join(root, name)
        labels = recording[:-len(".aedat")] + "_labels.csv"
        missing += [os.path.basename(p) for p in (recording, labels) if not os.path.isfile(p)]
        if not missing:
            entries.append((recording, _gesture_segments(labels)))
    if missing:
        raise DatasetError(f"dvs_gesture: {root} lacks {', '.join(missing)} "
                           f"(listed in {trials_name})")
    if not entries:
        raise DatasetError(f"dvs_gesture: {trials_path} lists no recordings")
    return _Samples(entries)


def _gesture_segments(path: str) -> list[tuple[int, int, int]]:
    rows = list(csv.reader(_small_text(path).splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["class", "startTime_usec", "endTime_usec"]:
        raise DatasetError(f"{path}: expected the header class,startTime_usec,endTime_usec")
    segments = []
    for row in rows[1:]:
        if not row:
            continue
        try:
            label, start, end = (int(c) for c in row)
        except ValueError:
            raise DatasetError(f"{path}: row {row} is not three integers") from None
        if not 1 <= label <= GESTURE_CLASSES or not 0 <= start < end:
            raise DatasetError(f"{path}: row {row}: class must be 1..{GESTURE_CLASSES} "
                               "and start < end")
        segments.append((label - 1, start, end))
    if len(segments) > MAX_LABEL_ROWS:
        raise DatasetError(f"{path}: more than {MAX_LABEL_ROWS} labelled segments")
    return segments


def _small_text(path: str, limit: int = 1 << 20) -> str:
    try:
        if os.path.getsize(path) > limit:
            raise DatasetError(f"{path}: larger than {limit} bytes; not a label or trial list")
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc


def _cifar10_dvs_samples(data_dir: str, split: str) -> _Samples:
    root = next((d for d in (data_dir, os.path.join(data_dir, "CIFAR10DVS"))
                 if all(os.path.isdir(os.path.join(d, c)) for c in CIFAR10_DVS_CLASSES)), None)
    if root is None:
        raise DatasetError(
            f"cifar10_dvs: {data_dir} (or {os.path.join(data_dir, 'CIFAR10DVS')}) lacks the class "
            f"folders {', '.join(CIFAR10_DVS_CLASSES)} holding .aedat4 (tonic) or .aedat "
            "(original) files; nothing is downloaded")
    entries = []
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        folder = os.path.join(root, name)
        files = sorted(f for f in os.listdir(folder) if f.endswith((".aedat", ".aedat4")))
        if not files:
            raise DatasetError(f"cifar10_dvs: {folder} holds no .aedat4 or .aedat files")
        train = len(files) * 9 // 10
        chosen = files[:train] if split == "train" else files[train:]
        entries += [(os.path.join(folder, f), [(label, None, None)]) for f in chosen]
    return _Samples(entries)
