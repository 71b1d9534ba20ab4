"""Datasets: the registry, the bundled digits split and the MNIST IDX reader on hand-made files."""

import gzip
import struct
import tracemalloc
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from dalif.data import DATASETS, DatasetError, DatasetInfo, load_dataset, read_idx


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
        load_dataset("imagenet", "train")
    assert "mnist" in str(info.value) and "cifar10" in str(info.value)
    with pytest.raises(DatasetError, match="split"):
        load_dataset("digits", "validation")


def test_every_dataset_says_whether_it_is_temporal():
    static = {"digits", "mnist", "cifar10", "cifar100"}
    for name, info in DATASETS.items():
        assert isinstance(info, DatasetInfo) and len(info.input_shape) == 3
        assert info.temporal == (name not in static)
        assert info.temporal == (info.timesteps is not None)
    assert DATASETS["seq_digits"].timesteps == 8
    assert DATASETS["cifar100"].num_classes == 100


@pytest.mark.parametrize("name", sorted(set(DATASETS) - {"digits", "seq_digits"}))
def test_datasets_on_disk_need_a_directory(name):
    with pytest.raises(DatasetError, match="data_dir") as info:
        load_dataset(name, "test")
    assert "\n" not in str(info.value)


def test_importing_the_table_needs_no_torch():
    import subprocess
    import sys

    code = "import sys, dalif.data; dalif.data.DATASETS; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _idx_header(dims, type_code=0x08):
    return struct.pack(">BBBB", 0, 0, type_code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def test_declared_sizes_beyond_the_limit_are_refused_before_reading(tmp_path):
    # 2^40 bytes declared by a 12-byte header, plain and compressed
    (tmp_path / "huge").write_bytes(_idx_header((1 << 20, 1 << 20)))
    with gzip.open(tmp_path / "huge.gz", "wb") as f:
        f.write(_idx_header((1 << 20, 1 << 20)))
    for name in ("huge", "huge.gz"):
        with pytest.raises(DatasetError, match="more than the limit"):
            read_idx(str(tmp_path / name))
    _write_idx(tmp_path / "small.idx", np.zeros(101, dtype=np.uint8))
    with pytest.raises(DatasetError, match="more than the limit of 100 bytes"):
        read_idx(str(tmp_path / "small.idx"), max_bytes=100)


def test_compressed_idx_must_hold_exactly_what_its_header_declares(tmp_path):
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(_idx_header((1000,)) + bytes(10))
    with pytest.raises(DatasetError, match=r"\(1000 bytes of data\), file holds 10$"):
        read_idx(str(tmp_path / "short.gz"))
    with gzip.open(tmp_path / "long.gz", "wb") as f:
        f.write(_idx_header((5,)) + bytes(10))
    with pytest.raises(DatasetError, match="file holds more"):
        read_idx(str(tmp_path / "long.gz"))
    (tmp_path / "broken.gz").write_bytes(gzip.compress(_idx_header((5,)) + bytes(5))[:-12])
    with pytest.raises(DatasetError, match="broken.gz"):
        read_idx(str(tmp_path / "broken.gz"))


def test_a_small_hostile_gzip_cannot_make_the_reader_allocate_what_it_declares(tmp_path):
    # 512 MB declared (under the 1 GiB limit), 1 MB really there, ~1 kB on disk
    with gzip.open(tmp_path / "bomb-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_header((512 << 20,)) + bytes(1 << 20))
    assert (tmp_path / "bomb-idx1-ubyte.gz").stat().st_size < 10_000
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="file holds 1048576$"):
            read_idx(str(tmp_path / "bomb-idx1-ubyte.gz"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_idx_arrays_are_writable_and_native(tmp_path):
    _write_idx(tmp_path / "u8.idx", np.arange(6, dtype=np.uint8).reshape(2, 3))
    _write_idx(tmp_path / "i2.idx.gz", np.array([-3, 4], dtype=">i2"), type_code=0x0B)
    u8, i2 = read_idx(str(tmp_path / "u8.idx")), read_idx(str(tmp_path / "i2.idx.gz"))
    assert u8.flags.writeable and u8.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert i2.dtype == np.int16 and i2.dtype.isnative and i2.tolist() == [-3, 4]
