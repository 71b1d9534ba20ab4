"""The energy report: required keys, values carried over from the run, files on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hardware_sim.chips import load_chip
from hardware_sim.cost.energy import ann_baseline, estimate_energy
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.report import build_report, render_markdown, write_energy_report

REQUIRED = [
    "accuracy.float", "accuracy.quantized", "timesteps", "samples", "layers",
    "totals.spikes", "totals.synaptic_ops", "totals.energy_j_per_inference",
    "baseline_ann.energy_j_per_inference", "chip.name", "chip.sources",
]
LAYER_KEYS = ["name", "neurons", "spikes", "synaptic_ops", "neuron_updates", "energy_j",
              "energy_j_per_inference", "u_wraps", "v_clips", "per_inference"]


def _pop(name, sources, n, *, bias_mant=0, bias_exp=0, readout=False):
    z = np.zeros(n, np.int64)
    projections = [Projection(src, "dense", np.ones((n, n_in), np.int64), (n_in,))
                   for src, n_in in sources]
    return IntPopulation(name, (n,), projections, dv=z, du=z + 4095, vth=z, bias_mant=z + bias_mant,
                         bias_exp=bias_exp, v_scale=1.0, readout=readout)


def graph_with_a_clipping_readout():
    """input(2) → hidden(3) → out(2), a readout whose large bias with no leak clips v."""
    return QGraph(input_shape=(2,), populations=[
        _pop("hidden", [(INPUT, 2)], 3),
        _pop("out", [("hidden", 3)], 2, bias_mant=4095, bias_exp=7, readout=True),
    ], output="out")


@pytest.fixture(scope="module")
def run():
    graph = graph_with_a_clipping_readout()
    result = simulate(graph, np.ones((2, 20, 2), np.int64))
    chip = load_chip("loihi")
    mapping = map_to_cores(graph, chip)
    energy = estimate_energy(graph, result, chip, mapping)
    baseline = ann_baseline(graph, chip)
    return graph, result, chip, mapping, energy, baseline


def _get(d, dotted):
    for k in dotted.split("."):
        d = d[k]
    return d


def test_report_holds_the_required_keys_and_the_run_counts(run):
    graph, result, chip, mapping, energy, baseline = run
    report = build_report(energy, baseline, mapping, chip, result,
                          accuracy={"float": 0.91, "quantized": 0.9}, model={"name": "tiny"})
    for key in REQUIRED:
        _get(report, key)  # KeyError names what is missing
    assert report["accuracy"] == {"float": 0.91, "quantized": 0.9}
    assert (report["samples"], report["timesteps"]) == (2, 20)
    assert report["chip"]["name"] == "loihi" and report["chip"]["sources"] == chip.sources()
    for layer, counts in zip(report["layers"], result.counts):
        for key in LAYER_KEYS:
            assert key in layer, key
        for key in ("name", "spikes", "synaptic_ops", "neuron_updates", "u_wraps", "v_clips"):
            assert layer[key] == getattr(counts, key), key
        assert layer["per_inference"]["spikes"] == counts.spikes / 2
    # hidden fires every step (2 samples × 20 steps × 3 neurons); the readout clips.
    assert report["layers"][0]["spikes"] == 120 and report["layers"][0]["spike_rate"] == 1.0
    assert report["layers"][1]["v_clips"] > 0
    assert report["totals"]["v_clips"] == report["layers"][1]["v_clips"]
    assert report["totals"]["spikes"] == 120 and report["totals"]["synaptic_ops"] == 120 * 2
    assert report["totals"]["energy_j_per_inference"] == pytest.approx(
        sum(layer["energy_j"] for layer in report["layers"]) / 2)
    # ANN: 2·3 + 3·2 = 12 synapses, one fp32 MAC (4.6 pJ) each.
    assert report["baseline_ann"]["energy_j_per_inference"] == pytest.approx(12 * 4.6e-12)
    chip_row = report["comparison"][0]
    assert chip_row["relative_to_chip"] == 1.0
    assert json.loads(json.dumps(report)) == report


def test_accuracy_defaults_to_none(run):
    graph, result, chip, mapping, energy, baseline = run
    report = build_report(energy, baseline, mapping, chip, result)
    assert report["accuracy"] == {"float": None, "quantized": None}
    assert "n/a" in render_markdown(report)


def test_write_energy_report_writes_the_files(run, tmp_path):
    graph, result, chip, mapping, energy, baseline = run
    report = build_report(energy, baseline, mapping, chip, result,
                          accuracy={"float": None, "quantized": 0.75}, model={"name": "tiny"})
    out = tmp_path / "energy"
    for _ in range(2):  # a second write replaces the first
        paths = write_energy_report(out, report)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.json", "report.md", "energy_by_layer.png", "activity.png", "report.html"])
    assert set(paths) == {"report.json", "report.md", "energy_by_layer.png", "activity.png",
                          "report.html"}  # no temp files left
    for png in ("energy_by_layer.png", "activity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "report.json").read_text())
    for key in REQUIRED:
        _get(on_disk, key)
    assert on_disk == report
    md = (out / "report.md").read_text()
    for key, source in chip.sources().items():
        assert source in md and f"`{key}`" in md
    for layer in ("hidden", "out"):
        assert f"| {layer} |" in md
    assert "ANN fp32 (45 nm)" in md and "75.00%" in md


def test_report_with_cycle_neurobench_and_raster(run, tmp_path):
    from hardware_sim.cost.cycle import cycle_model
    from hardware_sim.cost.neurobench import neurobench_metrics

    graph, result, chip, mapping, energy, baseline = run
    inputs = np.ones((2, 20, 2), np.int64)
    one = simulate(graph, inputs[:1], record_spikes=True)
    report = build_report(energy, baseline, mapping, chip, result, model={"name": "tiny"},
                          cycle=cycle_model(graph, result, chip, mapping).to_dict(),
                          neurobench=neurobench_metrics(graph, result, inputs), raster=one.spikes)
    assert report["cycle"]["latency_s"] > 0 and report["neurobench"]["footprint_bytes"] > 0
    assert len(report["raster"]["events"]) == int(one.spikes["hidden"].sum())
    be = report["break_even"]
    assert set(be) >= {"firing_rate", "current_firing_rate", "fixed_energy_j", "ann_energy_j"}
    if be["firing_rate"] is not None:  # E(r*) equals the ANN baseline
        r = be["firing_rate"] / be["current_firing_rate"]
        assert be["fixed_energy_j"] + r * be["spike_energy_j"] == pytest.approx(be["ann_energy_j"])
    paths = write_energy_report(tmp_path, report)
    assert {"core_load.png", "spike_raster.png", "report.html"} <= set(paths)
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "NeuroBench" in html
    md = (tmp_path / "report.md").read_text()
    assert "Latency (cycle model)" in md and "Break-even" in md
