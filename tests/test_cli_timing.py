"""`dalif simulate --timing`: loihi-sim in each of the engine's three timings, with the counters
of the engine's own run of that timing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dalif.cli import main
from deploy import encode_inputs
from hardware_sim.engine import pipelined_reference, simulate
from hardware_sim.ir.nir import read_nir
from tests.test_cli import assert_one_line_error, run_cli

SAMPLES = 12


@pytest.fixture(scope="module")
def model_nir(tmp_path_factory):
    """A trained-like demo conv net (digits shapes, T = 4, biases), exported."""
    from export import export_model, write_exported
    from tests.export.conftest import trained_like

    path = tmp_path_factory.mktemp("timing") / "convnet.nir"
    write_exported(export_model(trained_like("convnet", "neuron", seed=2)[0]), path, {})
    return path


def _digits_inputs(path) -> tuple[np.ndarray, np.ndarray, object]:
    from dalif.data import load_dataset

    model = read_nir(str(path))
    x, y = load_dataset("digits", "test")
    inputs, _ = encode_inputs(model, x.numpy()[:SAMPLES])
    return inputs, y.numpy()[:SAMPLES], model.graph


@pytest.mark.parametrize("timing", ["zero-delay", "aligned", "pipelined"])
def test_each_timing_is_the_engines_run_of_it(model_nir, tmp_path, timing):
    out = tmp_path / "result.json"
    assert main(["simulate", str(model_nir), "--timing", timing, "--limit", str(SAMPLES),
                 "--out", str(out), "--quiet"]) == 0
    written = json.loads(out.read_text())
    inputs, labels, graph = _digits_inputs(model_nir)
    expected = (pipelined_reference(graph, inputs) if timing == "pipelined"
                else simulate(graph, inputs, timing=timing))
    assert written["timing"] == timing
    assert written["predictions"] == expected.predictions.tolist()
    assert written["accuracy"] == expected.accuracy(labels)
    assert written["layers"] == [c.to_dict() for c in expected.counts]


def test_aligned_equals_zero_delay_and_pipelined_does_not(model_nir, tmp_path):
    runs = {}
    for timing in ("zero-delay", "aligned", "pipelined"):
        out = tmp_path / f"{timing}.json"
        assert main(["simulate", str(model_nir), "--timing", timing, "--limit", str(SAMPLES),
                     "--out", str(out), "--quiet"]) == 0
        runs[timing] = json.loads(out.read_text())
    assert runs["aligned"]["layers"] == runs["zero-delay"]["layers"]
    assert runs["pipelined"]["layers"] != runs["zero-delay"]["layers"]


def test_timing_is_refused_for_other_backends(model_nir):
    proc = run_cli("simulate", str(model_nir), "--backend", "onnx", "--timing", "aligned",
                   "--quiet")
    assert_one_line_error(proc, "--timing", "loihi-sim", "onnx runs zero-delay")


@pytest.mark.parametrize("timing", ["aligned", "pipelined"])
def test_only_the_zero_delay_run_is_sharded(model_nir, capsys, timing):
    assert main(["simulate", str(model_nir), "--timing", timing, "--workers", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--timing {timing} runs in one process" in err and len(err.strip().splitlines()) == 1
