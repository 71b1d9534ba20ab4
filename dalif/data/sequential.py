"""Sequential digits: the bundled 8×8 digits fed one row per step, T = 8.

A sample is the digit's 8 rows in order, top to bottom: at step t the input is
row t, shaped (1, 1, 8) (C = 1, H = 1, W = 8), so a sample is (8, 1, 1, 8) and a
batch (N, 8, 1, 1, 8). The network sees only one row at a time, so it must carry
the earlier rows in its membrane state: the temporal decay β decides what it
remembers, unlike the static task where every step repeats the whole image.

Why (1, 1, 8) and not (8,): the model configuration and the zoo take (C, H, W)
inputs (``ModelConfig`` refuses anything else) and the MLP flattens them, so
(1, 1, 8) is a row an MLP takes unchanged. The convnet's two 2×2 poolings need
H ≥ 4, so this task is for the MLP. Values and the split are those of ``digits``
(value/16, input_scale 1/16; 80/20 stratified, seed 0): sample i here is sample i
of ``digits``, read row by row.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from dalif.data.digits import digits_split

ROWS = 8


def load_seq_digits(split: str, data_dir: str | None = None) -> tuple[Tensor, Tensor]:
    """Row sequences (N, 8, 1, 1, 8) float32 in [0, 1] (multiples of 1/16) and labels (N,)."""
    images, labels = digits_split(split)
    x = (images / 16.0).astype(np.float32)  # (N, rows, cols)
    x = x.reshape(len(x), ROWS, 1, 1, x.shape[2])  # step t = row t
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(labels)
