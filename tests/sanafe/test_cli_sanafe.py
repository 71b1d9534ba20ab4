"""`dalif simulate --backend sanafe`: the timing stated, hardware_sim's run in that timing beside
it, and SANA-FE's own energy and latency in RESULT.json beside ours."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

pytest.importorskip("sanafe")

from dalif.cli import main

SAMPLES = 8


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """RESULT.json of `--backend sanafe` and of `--timing pipelined` on the same samples, and
    SANA-FE run directly (the backend, our mapping) on them."""
    from dalif.data import load_dataset
    from deploy import encode_inputs
    from deploy.sanafe import SanafeBackend
    from export import export_model, write_exported
    from hardware_sim.ir.nir import read_nir
    from tests.export.conftest import trained_like

    tmp = tmp_path_factory.mktemp("sanafe_cli")
    path = tmp / "convnet.nir"
    write_exported(export_model(trained_like("convnet", "neuron", seed=2)[0]), path, {})
    written, printed = {}, {}
    for name, flags in (("sanafe", ["--backend", "sanafe"]), ("pipelined", ["--timing", "pipelined"])):
        out = tmp / f"{name}.json"
        with contextlib.redirect_stdout(io.StringIO()) as stdout:
            assert main(["simulate", str(path), *flags, "--limit", str(SAMPLES), "--out",
                         str(out), "--quiet"]) == 0
        written[name] = json.loads(out.read_text())
        printed[name] = stdout.getvalue()
    model = read_nir(str(path))
    x, _ = load_dataset("digits", "test")
    inputs, _ = encode_inputs(model, x.numpy()[:SAMPLES])
    direct = SanafeBackend(chip="loihi").run(model, inputs)
    return written, direct, printed


def test_the_timing_is_stated_and_the_paths_printed(runs):
    written, _, printed = runs
    assert written["sanafe"]["timing"] == "pipelined"
    note = written["sanafe"]["hardware_sim_pipelined"]["note"]
    assert "naive pipelined timing" in note
    first, *rest = printed["sanafe"].splitlines()
    assert first == f"sanafe: {note}"  # before any figure
    assert rest[-1].startswith("wrote ") and rest[-1].endswith("sanafe.json")


def test_hardware_sim_beside_it_is_the_pipelined_run(runs):
    """The comparison's hardware_sim side equals `dalif simulate --timing pipelined`; its
    SANA-FE side equals the sanafe RESULT's own layers and predictions."""
    written, _, _ = runs
    sanafe, pipelined = written["sanafe"], written["pipelined"]
    comparison = sanafe["hardware_sim_pipelined"]
    for layer, ours, theirs in zip(comparison["layers"], pipelined["layers"], sanafe["layers"]):
        for field in ("spikes", "synaptic_ops"):
            assert layer[field]["hardware_sim"] == ours[field]
            assert layer[field]["sanafe"] == theirs[field]
            assert layer[field]["difference"] == theirs[field] - ours[field]
    agree = np.mean(np.array(sanafe["predictions"]) == np.array(pipelined["predictions"]))
    assert comparison["prediction_agreement"] == pytest.approx(agree)
    assert comparison["accuracy"] == {"sanafe": sanafe["accuracy"],
                                      "hardware_sim": pipelined["accuracy"]}


def test_sanafe_energy_and_latency_are_its_own(runs):
    """SANA-FE's figures in RESULT.json are those of SANA-FE run directly on the same inputs
    (its detailed latency varies by up to 0.5 % between identical runs); ours sit beside them
    within the cross-check's bounds (tests/sanafe/test_sanafe.py)."""
    written, direct, _ = runs
    report = written["sanafe"]["sanafe"]
    assert report["energy_j_per_inference"] == pytest.approx(direct.sanafe.energy_j_per_inference,
                                                             rel=1e-9)
    assert report["latency_s_per_inference"] == pytest.approx(
        direct.sanafe.latency_s_per_inference, rel=0.01)
    comparison = written["sanafe"]["hardware_sim_pipelined"]
    energy, latency = comparison["energy_j_per_inference"], comparison["latency_s_per_inference"]
    assert energy["sanafe"] == report["energy_j_per_inference"]
    assert latency["sanafe"] == report["latency_s_per_inference"]
    assert abs(energy["rel_diff"]) <= 0.10 and abs(latency["rel_diff"]) <= 0.10
    assert energy["rel_diff"] == pytest.approx(energy["hardware_sim"] / energy["sanafe"] - 1)
