"""Checkpoints: round trip, file layout, version 1, and every way a file can be wrong."""

import io
import math
import os
import pathlib
import pickle
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch

from dalif.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
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
    assert payload["format"] == "dalif-checkpoint" and payload["version"] == 2
    assert payload["config"]["channels"] == [4, 8]
    assert set(payload) == {"format", "version", "config", "graph", "state_dict", "metrics"}
    assert [n["name"] for n in payload["graph"]["nodes"]] == ["conv1", "pool1", "conv2", "pool2",
                                                              "flatten", "readout"]
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
    "bad version": (_set(["version"], 3), "'version': unsupported version 3"),
    "bool version": (_set(["version"], True), "'version': unsupported version True"),
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
    "no graph": (_delete(["graph"]), "'graph': missing"),
    "graph of another model": (
        _set(["graph", "nodes", 0, "synapse", "channels"], 5), "'graph': is not the graph"),
    "graph malformed": (_set(["graph", "nodes", 1], {"kind": "pool"}), "'graph': node 1"),
    "huge channels": (_set(["config", "channels"], [10**9, 32]), "'config.channels': sizes up to"),
    "huge hidden": (
        lambda payload: payload["config"].update(model="mlp", hidden=[40000, 40000]),
        "'config.hidden': the mlp would hold 1,603,280,010 parameters, over the budget"),
    "complex tensor": (
        _set(["state_dict", WEIGHT], torch.zeros(4, 1, 3, 3, dtype=torch.complex64)),
        f"'state_dict.{WEIGHT}': dtype torch.complex64, expected a real floating dtype"),
    "float64 tensor": (
        _set(["state_dict", WEIGHT], torch.zeros(4, 1, 3, 3, dtype=torch.float64)),
        f"'state_dict.{WEIGHT}': dtype torch.float64, expected torch.float32"),
    "sparse tensor": (
        _set(["state_dict", WEIGHT], torch.zeros(4, 1, 3, 3).to_sparse()),
        f"'state_dict.{WEIGHT}': layout torch.sparse_coo"),
    "oversized storage": (
        _set(["state_dict", WEIGHT], torch.zeros(10**6)[:36].view(4, 1, 3, 3)),
        f"'state_dict.{WEIGHT}': its storage holds 4000000 bytes, its shape needs 144"),
    "training not a dict": (_set(["training"], [1]), "'training': expected a dict"),
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


def _version_1_payload(config):
    """A checkpoint as version 1 wrote it: no graph, no width or depth, the same state keys."""
    return {"format": "dalif-checkpoint", "version": 1, "config": config.to_dict(),
            "state_dict": _trained_looking_model().state_dict(), "metrics": {"test_accuracy": 0.5}}


def test_version_1_checkpoints_still_load(tmp_path):
    payload = _version_1_payload(CONFIG)
    assert set(payload["config"]) == set(CONFIG.to_dict()) and "width" not in payload["config"]
    path = tmp_path / "v1.pt"
    torch.save(payload, path)
    model, config, metrics = load_checkpoint(path)
    assert config == CONFIG and metrics == {"test_accuracy": 0.5}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in payload["state_dict"].items())
    for mutate, expected in ((_set(["config", "width"], 0.5), "'config.width': unexpected"),
                             (_set(["graph"], {}), "'graph': unexpected"),
                             (_set(["config", "model"], "resnet19"), "for a version-1 checkpoint")):
        bad = _version_1_payload(CONFIG)
        mutate(bad)
        torch.save(bad, path)
        with pytest.raises(CheckpointError, match=expected):
            load_checkpoint(path)


def test_graph_models_round_trip(tmp_path):
    config = ModelConfig(model="resnet19", width=0.0625, depth=0.5, timesteps=2)
    model = build_model(config).eval()
    path = tmp_path / "resnet.pt"
    save_checkpoint(path, model, config, {})
    loaded, loaded_config, _ = load_checkpoint(path)
    assert loaded_config == config and loaded.spec == model.spec
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_saving_nan_weights_is_refused(tmp_path):
    model = build_model(CONFIG)
    with torch.no_grad():
        model.layers[0].synapse.weight[0, 0, 0, 0] = math.nan
    with pytest.raises(CheckpointError, match=f"refusing to save: key 'state_dict.{WEIGHT}' contains NaN"):
        save_checkpoint(tmp_path / "m.pt", model, CONFIG, {})
    assert os.listdir(tmp_path) == []


def _zip(entries):
    """A zip archive written by hand: (name, bytes as stored, method, declared size, crc)."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, method, size, crc in entries:
        offset = out.tell()
        encoded = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data),
                              size, len(encoded), 0) + encoded + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
                                  len(data), size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    out.write(central.getvalue())
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                          len(central.getvalue()), start, 0))
    return out.getvalue()


def _stored_entries(path):
    with zipfile.ZipFile(path) as archive:
        return [(i.filename, archive.read(i), zipfile.ZIP_STORED, i.file_size, i.CRC)
                for i in archive.infolist()]


def test_a_deflated_storage_is_refused_before_torch_reads_anything(good_file, tmp_path, monkeypatch):
    """A 2 MB file whose weight storage inflates to 2 GiB: refused from the zip directory."""
    size, chunk = 2 << 30, 16 << 20
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = block.compress(bytes(chunk)) + block.flush(zlib.Z_FULL_FLUSH)  # history reset
    stream = repeated * (size // chunk) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    zeros = bytes(chunk)
    for _ in range(size // chunk):
        crc = zlib.crc32(zeros, crc)
    entries = _stored_entries(good_file)
    name = next(e[0] for e in entries if e[0].endswith("/data/0"))
    entries = [e if e[0] != name else (name, stream, zipfile.ZIP_DEFLATED, size, crc) for e in entries]
    bomb = tmp_path / "bomb.pt"
    bomb.write_bytes(_zip(entries))
    assert bomb.stat().st_size < 3 << 20
    with zipfile.ZipFile(bomb) as archive:  # an honest archive: it does inflate to 2 GiB
        assert archive.getinfo(name).file_size == size
        with archive.open(name) as f:
            assert f.read(1 << 20) == bytes(1 << 20)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was reached"))
    with pytest.raises(CheckpointError, match=f"key '{name}' \\(zip entry\\): compressed, declaring "
                                              f"{size} bytes"):
        load_checkpoint(bomb)


def test_a_zip_directory_declaring_more_than_the_file_holds_is_refused(good_file, tmp_path):
    entries = _stored_entries(good_file)
    name = entries[-1][0]
    entries[-1] = (name, entries[-1][1], zipfile.ZIP_STORED, 2 << 30, entries[-1][4])
    path = tmp_path / "liar.pt"
    path.write_bytes(_zip(entries))
    with pytest.raises(CheckpointError, match=f"key '{name}' \\(zip entry\\): declares"):
        load_checkpoint(path)


def test_pre_zip_torch_files_are_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"format": "dalif-checkpoint"}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="pre-1.6 torch file"):
        load_checkpoint(path)


def test_training_state_is_checked_against_the_model(good_file, tmp_path):
    model = _trained_looking_model()
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.rand(4, 1, 8, 8)).sum().backward()
    optimizer.step()
    training = {"options": {"epochs": 3}, "epoch": 1, "step": 4, "optimizer": optimizer.state_dict(),
                "shuffle_state": torch.Generator().get_state(), "history": [], "best_val_acc": None}
    path = tmp_path / "run.pt"
    save_checkpoint(path, model, CONFIG, {}, training)
    assert read_checkpoint(path).training["options"].epochs == 3
    payload = torch.load(path, weights_only=True)
    payload["training"]["optimizer"]["state"][0]["exp_avg"] = torch.zeros(3)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"'training.optimizer.state.0.exp_avg': shape \(3,\)"):
        read_checkpoint(path)
    payload["training"]["optimizer"]["state"][0]["exp_avg"] = torch.zeros(4, 1, 3, 3)
    payload["training"]["epoch"] = 9
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="'training.epoch': expected an integer in \\[1, 3\\]"):
        read_checkpoint(path)
