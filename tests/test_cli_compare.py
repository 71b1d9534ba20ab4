"""`dalif compare`: every backend's entry is the RESULT.json `dalif simulate --backend B` writes,
and the comparison's numbers are computed from those results."""

from __future__ import annotations

import importlib.util
import json

import pytest

from dalif.cli import main
from tests.test_cli import assert_one_line_error, run_cli

SAMPLES = 10


def _available() -> list[str]:
    from deploy.lava.backend import LAVA_VENV

    names = ["loihi-sim", "onnx", "norse"]
    if (LAVA_VENV / "bin" / "python").exists():
        names.append("lava")
    if importlib.util.find_spec("sanafe") is not None:
        names.append("sanafe")
    return names


BACKENDS = _available()


def _stable(result: dict) -> dict:
    """A RESULT.json without what varies between identical runs: wall times, and SANA-FE's
    detailed latency (up to 0.5 %, tests/sanafe/test_sanafe.py)."""
    result = json.loads(json.dumps(result))
    report = result.get("sanafe")
    if report:
        for key in ("sim_wall_s", "build_wall_s", "latency_s_per_inference", "latency_s_per_sample"):
            report.pop(key)
        latency = result["hardware_sim_pipelined"]["latency_s_per_inference"]
        latency.pop("sanafe")
        latency.pop("rel_diff")
    return result


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    from export import export_model, write_exported
    from tests.export.conftest import trained_like

    tmp = tmp_path_factory.mktemp("compare")
    path = tmp / "convnet.nir"
    write_exported(export_model(trained_like("convnet", "neuron", seed=2)[0]), path, {})
    out = tmp / "compare.json"
    assert main(["compare", str(path), "--backends", ",".join(reversed(BACKENDS)), "--limit",
                 str(SAMPLES), "--out", str(out), "--quiet"]) == 0
    singles = {}
    for name in BACKENDS:
        single = tmp / f"{name}.json"
        assert main(["simulate", str(path), "--backend", name, "--limit", str(SAMPLES), "--out",
                     str(single), "--quiet"]) == 0
        singles[name] = json.loads(single.read_text())
    return path, json.loads(out.read_text()), singles


def test_every_entry_is_that_backends_own_result(compared):
    _, report, singles = compared
    assert list(report["backends"]) == BACKENDS[:1] + list(reversed(BACKENDS[1:]))  # reference first
    assert report["errors"] == {}
    for name, single in singles.items():
        assert _stable(report["backends"][name]["result"]) == _stable(single)


def test_agreement_and_differences_are_computed_from_the_results(compared):
    _, report, singles = compared
    reference = singles["loihi-sim"]
    for name, row in report["backends"].items():
        own = singles[name]
        same = sum(a == b for a, b in zip(own["predictions"], reference["predictions"]))
        assert row["agreement_with_loihi_sim"] == same / SAMPLES
        assert row["accuracy"] == own["accuracy"]
        assert row["wall_s"] > 0
        if name == "sanafe":  # compared with hardware_sim in SANA-FE's own (pipelined) timing
            base = {layer["name"]: {f: layer[f]["hardware_sim"] for f in ("spikes", "synaptic_ops")}
                    for layer in own["hardware_sim_pipelined"]["layers"]}
            assert row["compared_with"] == "loihi-sim --timing pipelined"
        else:
            base = {layer["name"]: layer for layer in reference["layers"]}
            assert row["compared_with"] == "loihi-sim"
        for entry, layer in zip(row["layers"], own["layers"]):
            for field in ("spikes", "synaptic_ops"):
                assert entry[field] == layer[field]
                assert entry[f"{field}_difference"] == layer[field] - base[layer["name"]][field]
    for name in ("loihi-sim", "onnx", "lava"):  # the exact backends
        if name in report["backends"]:
            row = report["backends"][name]
            assert row["agreement_with_loihi_sim"] == 1.0
            assert all(e["spikes_difference"] == 0 for e in row["layers"])


def test_an_unknown_backend_is_a_one_line_error(compared):
    path, _, _ = compared
    proc = run_cli("compare", str(path), "--backends", "loihi-sim,lavva", "--quiet")
    assert_one_line_error(proc, "--backends", "lavva", "known:")


def test_a_backend_that_cannot_run_is_reported_and_the_rest_still_compared(compared, tmp_path,
                                                                           monkeypatch, capsys):
    path, _, _ = compared
    monkeypatch.setenv("DALIF_LAVA_VENV", str(tmp_path / "no-such-venv"))
    out = tmp_path / "compare.json"
    assert main(["compare", str(path), "--backends", "onnx,lava", "--limit", "3", "--out", str(out),
                 "--quiet"]) == 2
    report = json.loads(out.read_text())
    assert list(report["backends"]) == ["loihi-sim", "onnx"]
    assert "no-such-venv" in report["errors"]["lava"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend lava did not run" in err[0]
