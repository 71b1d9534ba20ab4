"""Valid runs fit the memory cap the hostile corpus runs under: ``ulimit -v 4000000`` (RLIMIT_AS,
4 GB of address space) holds for ``dalif export``, ``simulate`` and ``energy`` (with its
``--checkpoint`` check) on a small exported model, in real processes with the machine's own
thread settings. So the cap that makes a regression fail fast does not fail honest work."""

from __future__ import annotations

import json

from .hostile import CAP_BYTES, run_cli_capped


def test_valid_export_simulate_and_energy_fit_in_4_gb(valid_checkpoint, tmp_path):
    model = tmp_path / "m.nir"
    steps = [
        ["export", str(valid_checkpoint), "--out", str(model), "--json", str(tmp_path / "export.json")],
        ["simulate", str(model), "--quiet", "--limit", "100", "--out", str(tmp_path / "result.json")],
        ["energy", str(model), "--quiet", "--limit", "100", "--out", str(tmp_path / "report"),
         "--checkpoint", str(valid_checkpoint)],
    ]
    for argv in steps:
        proc = run_cli_capped(argv, cap=CAP_BYTES, timeout=300, one_thread=False)
        assert proc.returncode == 0, f"{argv[0]} under ulimit -v 4000000: {proc.stderr[-2000:]}"
    assert json.loads((tmp_path / "result.json").read_text())["samples"] == 100
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["model"]["info"]["checkpoint_sha256"]
