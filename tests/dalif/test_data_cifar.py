"""CIFAR-10/100 from pickle archives written as the real ones are, and hostile pickles refused.

The real archives (https://www.cs.toronto.edu/~kriz/cifar.html, python version) were
written by Python 2's cPickle, protocol 2: a dict whose keys and strings are Python 2
byte strings (SHORT_BINSTRING/BINSTRING opcodes, read back as ``bytes`` with
``encoding="bytes"``), holding ``b"data"`` as a numpy array pickled through
``numpy.core.multiarray._reconstruct`` (ndarray, dtype 'u1', the pixels as one byte
string) and the labels as a list of ints. :class:`_Python2Pickler` writes exactly that.
"""

import os
import pickle
import struct

import numpy as np
import pytest
import torch
from numpy._core.multiarray import _reconstruct

from dalif.data import DATASETS, DatasetError, load_dataset
from dalif.data import cifar as cifar_module


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote it: every string a Python 2 byte string, and
    numpy's reconstructor under its numpy 1 module name."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        if obj is _reconstruct:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def _write_py2_pickle(path, obj):
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump(obj)


def _cifar10_batch(rng, n, label):
    return {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{label}_{i}.png".encode() for i in range(n)],
    }


def _write_cifar10(root, rng, sizes=(3, 2, 1, 2, 4), test_size=3):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    batches = []
    for i, n in enumerate(sizes, start=1):
        batches.append(_cifar10_batch(rng, n, i))
        _write_py2_pickle(folder / f"data_batch_{i}", batches[-1])
    test = _cifar10_batch(rng, test_size, "test")
    _write_py2_pickle(folder / "test_batch", test)
    _write_py2_pickle(folder / "batches.meta", {
        b"num_cases_per_batch": 10000, b"num_vis": 3072,
        b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                         b"horse", b"ship", b"truck"]})
    return folder, batches, test


def _expected_images(data):
    """The archive's layout, by hand: 1024 red, 1024 green, 1024 blue, each row by row."""
    out = np.zeros((len(data), 3, 32, 32), dtype=np.float32)
    for n in range(len(data)):
        for c in range(3):
            for row in range(32):
                start = c * 1024 + row * 32
                out[n, c, row] = data[n, start:start + 32] / np.float32(255)
    return torch.from_numpy(out)


def test_the_writer_makes_what_plain_pickle_reads_as_the_archive(tmp_path):
    batch = _cifar10_batch(np.random.default_rng(0), 2, 1)
    _write_py2_pickle(tmp_path / "b", batch)
    raw = (tmp_path / "b").read_bytes()
    assert raw.startswith(b"\x80\x02}") and b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    with open(tmp_path / "b", "rb") as f:  # the archive page's own recipe, on our own file
        plain = pickle.load(f, encoding="bytes")
    assert plain[b"labels"] == batch[b"labels"] and np.array_equal(plain[b"data"], batch[b"data"])


def test_cifar10_reads_all_batches_exactly(tmp_path):
    folder, batches, test = _write_cifar10(tmp_path, np.random.default_rng(1))
    x, y = load_dataset("cifar10", "train", str(tmp_path))
    assert x.shape == (12, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    data = np.concatenate([b[b"data"] for b in batches])
    assert torch.equal(x, _expected_images(data))
    assert y.tolist() == sum((b[b"labels"] for b in batches), [])
    assert torch.equal(x * 255, (x * 255).round())  # multiples of input_scale 1/255
    x_test, y_test = load_dataset("cifar10", "test", str(folder))  # the folder itself works too
    assert torch.equal(x_test, _expected_images(test[b"data"]))
    assert y_test.tolist() == test[b"labels"]
    info = DATASETS["cifar10"]
    assert info.input_shape == tuple(x.shape[1:]) and info.input_scale == 1 / 255
    assert not info.temporal


def test_cifar100_reads_fine_labels(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    split = {}
    for name, n in (("train", 5), ("test", 3)):
        split[name] = {b"filenames": [b"x.png"] * n, b"batch_label": b"training batch 1 of 1",
                       b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
                       b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
                       b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
        _write_py2_pickle(folder / name, split[name])
    _write_py2_pickle(folder / "meta", {b"fine_label_names": [b"apple"] * 100,
                                        b"coarse_label_names": [b"fish"] * 20})
    for name in ("train", "test"):
        x, y = load_dataset("cifar100", name, str(tmp_path))
        assert torch.equal(x, _expected_images(split[name][b"data"]))
        assert y.tolist() == split[name][b"fine_labels"]
    assert DATASETS["cifar100"].num_classes == 100


def test_missing_files_are_named_with_the_directory(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    _write_py2_pickle(folder / "data_batch_1", _cifar10_batch(np.random.default_rng(3), 1, 1))
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", "train", str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and str(folder) in message
    assert "data_batch_2, data_batch_3, data_batch_4, data_batch_5" in message
    assert "data_batch_1," not in message
    with pytest.raises(DatasetError, match="cifar-100-python.*lacks train"):
        load_dataset("cifar100", "train", str(tmp_path))


def _single_batch_dir(tmp_path, content, raw=None):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(exist_ok=True)
    if raw is not None:
        (folder / "test_batch").write_bytes(raw)
    else:
        _write_py2_pickle(folder / "test_batch", content)
    return str(tmp_path)


def _refused(data_dir, pattern):
    with pytest.raises(DatasetError, match=pattern) as info:
        load_dataset("cifar10", "test", data_dir)
    assert "\n" not in str(info.value) and "test_batch" in str(info.value)


def test_a_pickle_calling_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    raw = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    _refused(_single_batch_dir(tmp_path, None, raw), r"refers to os\.system.*refused")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_any_other_global_is_refused(tmp_path, protocol):
    class Evil:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    raw = pickle.dumps({"data": Evil(), "labels": [1]}, protocol=protocol)
    _refused(_single_batch_dir(tmp_path, None, raw), r"(__builtin__|builtins)\.eval")


def test_array_reconstruction_with_a_huge_shape_is_refused(tmp_path):
    raw = (b"\x80\x02}(U\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
           b"J\x00\x00\x00\x40\x85U\x01b\x87RU\x06labels]u.")  # _reconstruct(ndarray, (2^30,), 'b')
    _refused(_single_batch_dir(tmp_path, None, raw), "arguments numpy never writes")


def test_a_data_length_that_does_not_match_the_shape_is_refused(tmp_path):
    _write_py2_pickle(tmp_path / "probe", {b"data": np.zeros((2, 3072), np.uint8),
                                           b"labels": [1, 2]})
    raw = (tmp_path / "probe").read_bytes()
    # shrink the declared shape (2, 3072) → (200, 3072): the 6144 data bytes no longer fit
    hostile = raw.replace(b"K\x02M\x00\x0c\x86", b"K\xc8M\x00\x0c\x86", 1)
    assert hostile != raw
    _refused(_single_batch_dir(tmp_path, None, hostile), "malformed CIFAR pickle")


def test_a_declared_string_length_beyond_the_file_is_refused(tmp_path):
    raw = b"\x80\x02}(U\x04dataT\xff\xff\xff\x7f" + b"\x00" * 64  # BINSTRING of 2 GiB, 64 B there
    _refused(_single_batch_dir(tmp_path, None, raw), "not a complete pickle")


def test_a_truncated_archive_is_refused(tmp_path):
    _write_py2_pickle(tmp_path / "whole", _cifar10_batch(np.random.default_rng(4), 3, 1))
    raw = (tmp_path / "whole").read_bytes()
    _refused(_single_batch_dir(tmp_path, None, raw[: len(raw) // 2]), "not a complete pickle")


@pytest.mark.parametrize("content, pattern", [
    ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"N×3072 uint8"),
    ({b"data": np.zeros((2, 3072), np.int64), b"labels": [0, 1]}, r"N×3072 uint8"),
    ({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, r"0 < N"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "must list 2 labels, found 1"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"outside 0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, "x"]}, "not integers"),
    ({b"labels": [0]}, r"found NoneType"),
    ([1, 2, 3], "not a CIFAR batch dict"),
])
def test_wrong_contents_are_refused(tmp_path, content, pattern):
    _refused(_single_batch_dir(tmp_path, content), pattern)


def test_declared_sizes_are_bounded(tmp_path, monkeypatch):
    _single_batch_dir(tmp_path, _cifar10_batch(np.random.default_rng(5), 4, 1))
    monkeypatch.setattr(cifar_module, "MAX_IMAGES", 3)
    _refused(str(tmp_path), r"0 < N <= 3, found ndarray \(4, 3072\)")
    monkeypatch.setattr(cifar_module, "MAX_PICKLE_BYTES", 1000)
    size = os.path.getsize(tmp_path / "cifar-10-batches-py" / "test_batch")
    _refused(str(tmp_path), f"{size} bytes, more than the limit of 1000")
