"""Same inputs, same bytes: export twice gives identical NIR files; simulating twice, or with
another batch size, gives identical spikes, counts and reports."""

from __future__ import annotations

import time

import numpy as np

from dalif.cli import main
from hardware_sim.engine import simulate
from hardware_sim.report.provenance import without_provenance
from tests.hardware_sim.test_engine_vs_spec import random_graph


def test_export_is_byte_identical(valid_checkpoint, tmp_path):
    first, second = tmp_path / "a.nir", tmp_path / "b.nir"
    assert main(["export", str(valid_checkpoint), "--out", str(first)]) == 0
    time.sleep(1.1)  # HDF5 timestamps have one-second resolution: a difference would show
    assert main(["export", str(valid_checkpoint), "--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()


def test_simulate_and_energy_reports_are_identical_across_runs(valid_checkpoint, tmp_path):
    model = tmp_path / "m.nir"
    assert main(["export", str(valid_checkpoint), "--out", str(model)]) == 0
    for run in ("1", "2"):
        assert main(["simulate", str(model), "--quiet", "--limit", "20", "--out", str(tmp_path / f"r{run}.json")]) == 0
        assert main(["energy", str(model), "--quiet", "--limit", "20", "--out", str(tmp_path / f"e{run}")]) == 0
    assert (tmp_path / "r1.json").read_bytes() == (tmp_path / "r2.json").read_bytes()
    reports = sorted(p.name for p in (tmp_path / "e1").iterdir() if p.suffix in (".json", ".md"))
    assert reports
    for name in reports:  # the provenance (date, command line) is the one part that may differ
        first, second = ((tmp_path / run / name).read_text() for run in ("e1", "e2"))
        assert without_provenance(name, first) == without_provenance(name, second), name
    figures = sorted(p.name for p in (tmp_path / "e1").iterdir() if p.suffix in (".png", ".svg", ".pdf"))
    assert figures
    for name in figures:
        assert (tmp_path / "e1" / name).read_bytes() == (tmp_path / "e2" / name).read_bytes(), name


def test_engine_is_independent_of_batch_size():
    rng = np.random.default_rng(3)
    graph = random_graph(rng, du_full=False)
    x = rng.integers(0, 16, (10, 4, 2, 6, 6))
    runs = [simulate(graph, x, timing=timing, record_spikes=True, batch_size=b)
            for timing in ("zero-delay", "pipelined") for b in (1, 4, 256)]
    for group in (runs[:3], runs[3:]):
        reference = group[0]
        for other in group[1:]:
            np.testing.assert_array_equal(other.output, reference.output)
            for name in reference.spikes:
                np.testing.assert_array_equal(other.spikes[name], reference.spikes[name])
                np.testing.assert_array_equal(other.spikes_per_step[name], reference.spikes_per_step[name])
                np.testing.assert_array_equal(other.synaptic_events_per_step[name],
                                              reference.synaptic_events_per_step[name])
            assert [vars(c) for c in other.counts] == [vars(c) for c in reference.counts]
