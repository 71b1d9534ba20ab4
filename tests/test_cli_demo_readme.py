"""The README's "Measured" demo table is the committed `make demo` summary, rendered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dalif.demo import README_BEGIN, README_END, readme_block

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "benchmarks" / "results" / "demo_summary.json"


def test_the_readme_table_is_the_committed_summary():
    """Regenerate with `.venv/bin/python benchmarks/demo_readme.py [--from runs/demo/summary.json]`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(README_BEGIN), readme.index(README_END) + len(README_END)
    assert readme[start:end] == readme_block(json.loads(SUMMARY.read_text()))


def test_the_committed_summary_names_its_machine_and_its_figures_agree():
    summary = json.loads(SUMMARY.read_text())
    machine = summary["machine"]
    assert machine["cpu"] and machine["cpus"] >= 1 and machine["torch"]
    assert 0 < summary["quantized_accuracy"] <= 1 and 0 < summary["float_accuracy"] <= 1
    # every accuracy is a whole number of samples
    for key in ("float_accuracy", "quantized_accuracy"):
        correct = summary[key] * summary["samples"]
        assert abs(correct - round(correct)) < 1e-6
    assert 0 < summary["largest_energy_share"]["fraction"] <= 1
    assert summary["throughput_per_s"] * summary["latency_s_per_inference"] == pytest.approx(1.0)
