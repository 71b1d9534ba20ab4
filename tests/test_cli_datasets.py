"""The paper's networks on the paper's data sets through the command line, from files the
test writes in the real on-disk formats: CIFAR-10's python pickles (``cifar-10-batches-py``,
written as Python 2's cPickle did) and DVS128 Gesture in tonic's .npy layout. Each net is
trained for one epoch, exported and simulated on the same data set; the RESULT.json says how
many samples and steps ran and names the exported layers."""

import json

import numpy as np
import pytest

from dalif.cli import main
from hardware_sim.ir.nir import read_nir

from .dalif.test_data_cifar import _write_cifar10
from .dalif.test_data_dvs import _random_columns, _write_gesture_npy

CIFAR_TRAIN, CIFAR_TEST = (8, 8, 8, 8, 8), 10  # 40 and 10 images: --limit-train 32, --limit 8
GESTURE_TRAIN = {"user01_fluorescent": range(8), "user02_led": range(8)}  # 16 samples
GESTURE_TEST = {"user24_lab": range(10)}


@pytest.fixture(scope="module")
def cifar10_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10")
    _write_cifar10(root, np.random.default_rng(0), sizes=CIFAR_TRAIN, test_size=CIFAR_TEST)
    return root


@pytest.fixture(scope="module")
def gesture_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("gesture")
    rng = np.random.default_rng(1)
    for split, users in (("Train", GESTURE_TRAIN), ("Test", GESTURE_TEST)):
        for user, labels in users.items():
            for label in labels:
                x, y, t, p = _random_columns(rng, 400, t_step=20)
                _write_gesture_npy(root / "DVSGesture" / f"ibmGesture{split}" / user / f"{label}.npy",
                                   x, y, p, t)
    return root


def _train_export_simulate(tmp_path, dataset, data_dir, train_args):
    ckpt, model, out = tmp_path / "m.pt", tmp_path / "m.nir", tmp_path / "RESULT.json"
    data = ["--dataset", dataset, "--data-dir", str(data_dir)]
    assert main(["train", *train_args, *data, "--epochs", "1", "--out", str(ckpt), "--quiet"]) == 0
    assert main(["export", str(ckpt), "--out", str(model)]) == 0
    assert main(["simulate", str(model), *data, "--limit", "8", "--out", str(out), "--quiet"]) == 0
    return json.loads(out.read_text()), [p.name for p in read_nir(model).graph.populations]


@pytest.mark.parametrize("arch, width, depth, first, inside", [
    ("resnet19", "0.0625", "0.5", "stem", ["s2b1_conv2", "s3b1_conv2", "fc1"]),
    ("resnet20", "0.125", str(1 / 3), "stem", ["s1b1_conv2", "s2b1_conv2", "s3b1_conv2"]),
    ("vgg11", "0.0625", "0.5", "s1c1", ["s5c1"]),
], ids=["resnet19", "resnet20", "vgg11"])
def test_cifar_nets_on_cifar10_pickles(arch, width, depth, first, inside, cifar10_dir, tmp_path,
                                       capsys):
    result, names = _train_export_simulate(
        tmp_path, "cifar10", cifar10_dir,
        ["--model", arch, "--width", width, "--depth", depth, "--limit-train", "32"])
    layers = [layer["name"] for layer in result["layers"]]
    assert layers == names and layers[0] == first and layers[-1] == "readout", layers
    assert set(inside) <= set(layers), layers
    assert (result["dataset"], result["samples"], result["timesteps"]) == ("cifar10", 8, 4)
    assert len(result["predictions"]) == 8
    capsys.readouterr()


def test_dvsnet_on_dvs_gesture_npy_files(gesture_dir, tmp_path, capsys):
    result, names = _train_export_simulate(
        tmp_path, "dvs_gesture_32", gesture_dir,
        ["--model", "dvsnet", "--width", "0.0625", "--timesteps", "16", "--limit-train", "16"])
    layers = [layer["name"] for layer in result["layers"]]
    assert layers == names, layers
    assert layers == ["s1c1", "s2c1", "s3c1", "s4c1", "s5c1", "fc1", "readout"], layers
    assert (result["dataset"], result["samples"], result["timesteps"]) == ("dvs_gesture_32", 8, 16)
    assert len(result["predictions"]) == 8
    capsys.readouterr()
