"""Checkpoints: round trip, file layout, and every way a file can be wrong."""

import math
import os
import pathlib
import pickle

import numpy as np
import pytest
import torch

from dalif.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dalif.models import ModelConfig, build_model

CONFIG = ModelConfig(model="convnet", channels=[4, 8], timesteps=3, granularity="neuron")


def _trained_looking_model():
    """A model whose BN statistics and weights differ from a fresh build."""
    model = build_model(CONFIG)
    with torch.no_grad():
        model.train()
        model(torch.rand(16, 1, 8, 8))  # moves BN running statistics
        for parameter in model.parameters():
            parameter.add_(0.01)
    return model.eval()


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, _trained_looking_model(), CONFIG, {"test_acc": 0.5})
    return path


def test_round_trip_reproduces_outputs(tmp_path):
    model = _trained_looking_model()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        expected_readout, expected_spikes = model.forward_trace(x)
    metrics = {"test_acc": np.float64(0.97), "history": [{"epoch": 1, "loss": 0.5}], "n": 3}
    path = tmp_path / "sub" / "model.pt"
    save_checkpoint(path, model, CONFIG, metrics)

    loaded, config, loaded_metrics = load_checkpoint(path)
    assert config == CONFIG
    assert loaded_metrics == {"test_acc": 0.97, "history": [{"epoch": 1, "loss": 0.5}], "n": 3}
    assert type(loaded_metrics["test_acc"]) is float
    assert not loaded.training
    with torch.no_grad():
        readout, spikes = loaded.forward_trace(x)
    assert torch.equal(readout, expected_readout)
    assert all(torch.equal(a, b) for a, b in zip(spikes, expected_spikes))


def test_file_layout_is_plain_torch_and_the_write_leaves_no_temporaries(good_file):
    payload = torch.load(good_file, weights_only=True)
    assert payload["format"] == "dalif-checkpoint" and payload["version"] == 1
    assert payload["config"]["channels"] == [4, 8]
    assert set(payload) == {"format", "version", "config", "state_dict", "metrics"}
    save_checkpoint(good_file, build_model(CONFIG), CONFIG, {})  # overwrite in place
    assert os.listdir(good_file.parent) == ["model.pt"]


def test_metrics_that_weights_only_loading_would_refuse_are_rejected_at_save(tmp_path):
    with pytest.raises(ValueError, match=r"metrics\.when"):
        save_checkpoint(tmp_path / "m.pt", build_model(CONFIG), CONFIG, {"when": object()})
    assert not (tmp_path / "m.pt").exists()


def _mutated(good_file, tmp_path, mutate):
    payload = torch.load(good_file, weights_only=True)
    payload = mutate(payload) or payload
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    return path


def _set(keys, value):
    def mutate(payload):
        target = payload
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(keys):
    def mutate(payload):
        target = payload
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


WEIGHT = "layers.0.synapse.weight"
ALPHA_RAW = "layers.2.neuron.a"

BAD_PAYLOADS = {
    "wrong format": (_set(["format"], "nir"), "'format'"),
    "bad version": (_set(["version"], 2), "'version': unsupported version 2"),
    "no format": (_delete(["format"]), "'format': expected 'dalif-checkpoint', found none"),
    "foreign dict": (lambda payload: {"format": "other"}, "'format'"),
    "missing top key": (_delete(["metrics"]), "'metrics': missing"),
    "extra top key": (_set(["optimizer"], {}), "'optimizer': unexpected"),
    "config missing key": (_delete(["config", "timesteps"]), "'config.timesteps': missing"),
    "config extra key": (_set(["config", "dropout"], 0.1), "'config.dropout': unexpected"),
    "config bad value": (_set(["config", "model"], "resnet"), "'config.model': unknown"),
    "config not a dict": (_set(["config"], [1, 2]), "'config'"),
    "state missing key": (_delete(["state_dict", WEIGHT]), f"'state_dict.{WEIGHT}': missing"),
    "state extra key": (
        _set(["state_dict", "layers.9.weight"], torch.zeros(1)),
        "'state_dict.layers.9.weight': unexpected",
    ),
    "shape mismatch": (
        _set(["state_dict", WEIGHT], torch.zeros(4, 1, 5, 5)),
        f"'state_dict.{WEIGHT}': shape (4, 1, 5, 5)",
    ),
    "NaN": (
        _set(["state_dict", ALPHA_RAW], torch.full((8, 4, 4), math.nan)),
        f"'state_dict.{ALPHA_RAW}': contains NaN",
    ),
    "Inf": (
        _set(["state_dict", WEIGHT], torch.full((4, 1, 3, 3), math.inf)),
        f"'state_dict.{WEIGHT}': contains NaN or Inf",
    ),
    "not a tensor": (_set(["state_dict", WEIGHT], [0.0]), f"'state_dict.{WEIGHT}': expected"),
    "metrics not a dict": (_set(["metrics"], [0.9]), "'metrics'"),
    "top level not a dict": (lambda payload: [payload], "top level"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_bad_checkpoints_name_the_key(good_file, tmp_path, case):
    mutate, expected = BAD_PAYLOADS[case]
    path = _mutated(good_file, tmp_path, mutate)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_missing_file_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pt")
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint") as info:
        load_checkpoint(text)
    assert "\n" not in str(info.value)
    truncated = tmp_path / "truncated.pt"
    torch.save({"format": "dalif-checkpoint"}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)


class _CreatesFile:
    """Unpickling this object creates ``target``: the classic malicious-checkpoint payload."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_the_payload_used_below_is_live(tmp_path):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_CreatesFile(control)))
    assert control.exists()


@pytest.mark.parametrize("container", ["torch-zip", "raw-pickle"])
def test_malicious_pickle_is_refused_and_never_executed(good_file, tmp_path, container):
    target = tmp_path / "pwned"
    payload = torch.load(good_file, weights_only=True)
    payload["metrics"] = {"note": _CreatesFile(target)}
    path = tmp_path / "evil.pt"
    if container == "torch-zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match="unpickling refused") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    assert not target.exists()
