"""scikit-learn's bundled 8×8 digits, with the project's one fixed train/test split."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer images (N, 8, 8) with values 0..16 and labels (N,) int64 of one split.

    80/20, stratified, seed 0; fixed, so that accuracies reported anywhere in the
    project refer to the same 360 test images.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    images = digits.images.astype(np.int64)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, random_state=0, stratify=labels
    )
    return (x_train, y_train) if split == "train" else (x_test, y_test)


def load_digits(split: str, data_dir: str | None = None) -> tuple[Tensor, Tensor]:
    """Images (N, 1, 8, 8) float32, value/16 in [0, 1] (input_scale 1/16), and labels."""
    images, labels = digits_split(split)
    x = (images / 16.0).astype(np.float32)[:, None, :, :]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(labels)
