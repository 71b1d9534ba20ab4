"""Datasets: the bundled digits split and the MNIST IDX reader on hand-made files."""

import gzip
import struct
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from dalif.data import DATASETS, DatasetError, load_dataset, read_idx


def test_digits_split_sizes_values_and_classes():
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    assert x_train.shape == (1437, 1, 8, 8) and y_train.shape == (1437,)
    assert x_test.shape == (360, 1, 8, 8) and y_test.shape == (360,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    for x in (x_train, x_test):
        assert x.min() >= 0 and x.max() <= 1
        assert x.max() == 1  # the full range is used
        assert torch.equal(x * 16, (x * 16).round())  # multiples of the 1/16 quantum
    # Together the splits are exactly the bundled dataset, class by class.
    digits = load_digits()
    assert Counter(y_train.tolist()) + Counter(y_test.tolist()) == Counter(digits.target.tolist())
    # Stratified: every class has 35 or 36 of the 360 test images.
    assert set(Counter(y_test.tolist()).values()) <= {35, 36, 37}
    all_images = np.concatenate([x_train.numpy(), x_test.numpy()]).reshape(-1, 64) * 16
    assert sorted(map(tuple, all_images)) == sorted(map(tuple, digits.data.astype(np.float32)))


def test_digits_split_is_deterministic():
    first, _ = load_dataset("digits", "test")
    second, _ = load_dataset("digits", "test")
    assert torch.equal(first, second)


def test_dataset_table_matches_what_loading_gives():
    x, y = load_dataset("digits", "train")
    info = DATASETS["digits"]
    assert tuple(x.shape[1:]) == info.input_shape
    assert int(y.max()) + 1 == info.num_classes
    assert info.input_scale == 1 / 16
    assert DATASETS["mnist"].input_shape == (1, 28, 28)
    assert DATASETS["mnist"].input_scale == 1 / 255


def _write_idx(path, array, type_code=0x08):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def test_mnist_reads_plain_and_gzipped_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    train_images[0, 0, 0], train_images[0, 0, 1] = 0, 255
    test_images = rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte", train_images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([7, 0, 9], dtype=np.uint8))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test_images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 2], dtype=np.uint8))

    x, y = load_dataset("mnist", "train", str(tmp_path))
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert y.tolist() == [7, 0, 9] and y.dtype == torch.int64
    assert x[0, 0, 0, 0] == 0 and x[0, 0, 0, 1] == 1
    assert x[1, 0, 5, 6].item() == pytest.approx(train_images[1, 5, 6] / 255)
    x_test, y_test = load_dataset("mnist", "test", str(tmp_path))
    assert torch.allclose(x_test[:, 0], torch.from_numpy(test_images / 255).float())
    assert y_test.tolist() == [1, 2]


def test_idx_reader_handles_big_endian_multibyte_types(tmp_path):
    values = np.array([[1, -2, 300], [70000, 0, -1]], dtype=">i4")
    _write_idx(tmp_path / "ints.idx", values, type_code=0x0C)
    assert read_idx(str(tmp_path / "ints.idx")).tolist() == values.tolist()


def test_missing_mnist_files_are_named_with_the_directory(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 28, 28), dtype=np.uint8))
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", "train", str(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "train-labels-idx1-ubyte" in message
    assert "train-images-idx3-ubyte" not in message  # that one is present
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"):
        load_dataset("mnist", "test", str(tmp_path))


def test_mnist_without_a_directory_says_so():
    with pytest.raises(DatasetError, match="data_dir"):
        load_dataset("mnist", "train")


def test_malformed_idx_files_are_rejected(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DatasetError, match="magic"):
        read_idx(str(tmp_path / "bad"))
    (tmp_path / "short").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + b"\x00" * 3)
    with pytest.raises(DatasetError, match="10 bytes"):
        read_idx(str(tmp_path / "short"))


def test_unknown_names_list_the_known_ones():
    assert issubclass(DatasetError, ValueError)
    with pytest.raises(DatasetError, match="digits") as info:
        load_dataset("cifar10", "train")
    assert "mnist" in str(info.value)
    with pytest.raises(DatasetError, match="split"):
        load_dataset("digits", "validation")
