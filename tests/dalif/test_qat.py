"""Quantization-aware training (dalif/qat.py): what QAT trains is what export writes.

The checks run the exported NIR file on loihi-sim (hardware_sim.engine, its own synapse
and state code) and compare with the QAT model's own predictions; and measure, on a model
built to lose accuracy in post-training quantization, how much of the loss QAT wins back.
"""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from dalif.config import ModelConfig, TrainConfig
from dalif.data import load_dataset
from dalif.qat import qat_accuracy, qat_forward, qat_predictions
from dalif.train import evaluate, fit
from deploy.run import run_backend
from export import export_model, write_exported
from hardware_sim.ir.nir import read_nir


def _data(name):
    x_train, y_train = load_dataset(name, "train")
    x_test, y_test = load_dataset(name, "test")
    return x_train, y_train, x_test, y_test


def _loihi_sim_predictions(model, x, tmp_path, temporal=False) -> np.ndarray:
    """Export ``model`` to a NIR file, read it back and run it on loihi-sim."""
    path = tmp_path / "qat.nir"
    write_exported(export_model(model), path, {"note": "qat test"})
    return run_backend("loihi-sim", read_nir(path), x.numpy(), temporal=temporal).predictions


@pytest.mark.parametrize("dataset, config", [
    ("digits", dict(model="convnet", granularity="neuron")),  # per-neuron α: the input gain
    ("digits", dict(model="resnet20", granularity="channel", width=0.25, depth=1 / 3)),  # joins
    ("seq_digits", dict(model="mlp", granularity="layer", timesteps=8)),  # sequences
    ("digits", dict(model="mlp", neuron="lif", granularity="layer")),  # plain LIF
])
def test_exported_qat_model_equals_the_qat_forward_on_every_test_sample(dataset, config, tmp_path):
    x_train, y_train, x_test, y_test = _data(dataset)
    shape = tuple(x_train.shape[2:] if x_train.dim() == 5 else x_train.shape[1:])
    cfg = ModelConfig(input_shape=shape, num_classes=10, input_scale=1 / 16, **config)
    float_model, _ = fit(cfg, TrainConfig(epochs=2), x_train, y_train, progress=False)
    model, _ = fit(cfg, TrainConfig(epochs=1, lr=1e-3, qat=True), x_train[:256], y_train[:256],
                   progress=False, start_from=float_model)
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), float_model.parameters()))
    ours = qat_predictions(model, x_test, batch_size=100)
    theirs = _loihi_sim_predictions(model, x_test, tmp_path, temporal=x_test.dim() == 5)
    assert len(ours) == len(y_test)
    np.testing.assert_array_equal(ours, theirs)
    assert (ours == y_test.numpy()).mean() > 0.5  # a trained network: many distinct decisions


def test_qat_forward_values_are_the_integer_network_and_gradients_reach_every_parameter():
    x_train, y_train, _, _ = _data("digits")
    cfg = ModelConfig(model="convnet", input_shape=(1, 8, 8), num_classes=10, input_scale=1 / 16,
                      granularity="neuron")
    model, _ = fit(cfg, TrainConfig(epochs=1), x_train[:256], y_train[:256], progress=False)
    out = qat_forward(model, x_train[:32])
    # the readout summed over T is the final integer voltage (in float units): its argmax
    np.testing.assert_array_equal(out.readout.detach().sum(0).argmax(1).numpy(), out.predictions.numpy())
    torch.nn.functional.cross_entropy(out.readout.mean(0), y_train[:32]).backward()
    learnable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in learnable), \
        [n for n, p in learnable if p.grad is None or p.grad.abs().sum() == 0]


def _outlier_model(seed: int):
    """A trained MLP whose post-training quantization loses accuracy: one first-layer weight
    column, into a pixel that is 0 in every digit, is set to 80× the layer's largest weight.
    The float model is unchanged (the input is always 0); the exporter's per-layer int8 scale
    is spent on that column, leaving the real weights about 1.6 bits (127/80 steps)."""
    x_train, y_train, x_test, y_test = _data("digits")
    dead = int((x_train.reshape(len(x_train), -1) == 0).all(0).nonzero()[0])
    assert (x_test.reshape(len(x_test), -1)[:, dead] == 0).all()
    cfg = ModelConfig(model="mlp", input_shape=(1, 8, 8), num_classes=10, input_scale=1 / 16,
                      seed=seed)
    model, _ = fit(cfg, TrainConfig(epochs=4, seed=seed), x_train, y_train, progress=False)
    with torch.no_grad():
        weight = model.layer("fc1").synapse.weight
        weight[:, dead] = 80 * weight.abs().max()
    return cfg, model, (x_train, y_train, x_test, y_test)


def test_qat_closes_at_least_half_of_the_ptq_gap(tmp_path):
    cfg, model, (x_train, y_train, x_test, y_test) = _outlier_model(seed=0)
    float_acc = evaluate(model, x_test, y_test)
    ptq = _loihi_sim_accuracy(model, x_test, y_test, tmp_path / "ptq.nir")
    assert ptq == qat_accuracy(model, x_test, y_test)  # before QAT too, the same integer network
    assert float_acc - ptq > 0.01, (float_acc, ptq)
    tuned, _ = fit(cfg, TrainConfig(epochs=3, lr=1e-3, qat=True), x_train, y_train,
                   progress=False, start_from=copy.deepcopy(model))
    qat = _loihi_sim_accuracy(tuned, x_test, y_test, tmp_path / "qat.nir")
    assert qat - ptq >= 0.5 * (float_acc - ptq), (float_acc, ptq, qat)


def _loihi_sim_accuracy(model, x, y, path) -> float:
    write_exported(export_model(model), path, {})
    return run_backend("loihi-sim", read_nir(path), x.numpy()).accuracy(y.numpy())


@pytest.mark.parametrize("argv, message", [
    (["--qat", "--device", "cuda"], "--qat runs on the CPU"),
    (["--from", "{ckpt}", "--resume", "{ckpt}"], "give one of them"),
    (["--from", "{ckpt}", "--model", "mlp"], "do not give --model"),
])
def test_cli_refuses_what_qat_cannot_do_in_one_line(argv, message, tmp_path):
    ckpt = tmp_path / "f.pt"  # refused before any checkpoint is read
    base = [sys.executable, "-m", "dalif.cli", "train", "--dataset", "digits", "--quiet"]
    done = subprocess.run([*base, *[a.format(ckpt=ckpt) for a in argv], "--out", str(tmp_path / "q.pt")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
