"""Sequential digits: the digits split, one row per step."""

import torch

from dalif.config import ModelConfig
from dalif.data import DATASETS, load_dataset
from dalif.models import build_model


def test_rows_arrive_one_per_step_in_the_digits_split():
    for split in ("train", "test"):
        images, labels = load_dataset("digits", split)
        rows, row_labels = load_dataset("seq_digits", split)
        assert rows.shape == (len(images), 8, 1, 1, 8) and rows.dtype == torch.float32
        assert torch.equal(row_labels, labels)
        for n in (0, 7, len(images) - 1):
            for t in range(8):
                assert torch.equal(rows[n, t, 0, 0], images[n, 0, t])
        assert torch.equal(rows * 16, (rows * 16).round())


def test_the_table_describes_what_loading_gives():
    rows, labels = load_dataset("seq_digits", "test")
    info = DATASETS["seq_digits"]
    assert info.temporal and info.timesteps == rows.shape[1] == 8
    assert tuple(rows.shape[2:]) == info.input_shape == (1, 1, 8)
    assert info.input_scale == 1 / 16 and int(labels.max()) + 1 == info.num_classes


def test_a_step_is_an_input_the_mlp_takes():
    info = DATASETS["seq_digits"]
    config = ModelConfig(model="mlp", input_shape=info.input_shape, num_classes=info.num_classes,
                         input_scale=info.input_scale, timesteps=info.timesteps)
    rows, _ = load_dataset("seq_digits", "test")
    assert build_model(config)(rows[:4, 0]).shape == (4, 10)
