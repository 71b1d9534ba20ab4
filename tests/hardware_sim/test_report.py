"""The energy report: required keys, values carried over from the run, files on disk, the
page (real HTML, no Markdown), the figures, the stated assumptions and the pipelined estimate."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from hardware_sim.chips import load_chip
from hardware_sim.cost.cycle import cycle_model
from hardware_sim.cost.energy import ann_baseline, estimate_energy
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.cost.neurobench import neurobench_metrics
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.report import (
    build_report,
    console_lines,
    render_html,
    render_markdown,
    write_energy_report,
)
from hardware_sim.report.assumptions import timing_section
from hardware_sim.report.build import model_name
from hardware_sim.report.plots import FIGURES, FORMATS

REQUIRED = [
    "accuracy.float", "accuracy.quantized", "timesteps", "samples", "layers",
    "totals.spikes", "totals.synaptic_ops", "totals.energy_j_per_inference",
    "baseline_ann.energy_j_per_inference", "chip.name", "chip.sources", "chip.source_records",
    "energy.total_j_per_inference", "timing.simulated", "assumptions", "references", "bibtex",
]
LAYER_KEYS = ["name", "neurons", "spikes", "synaptic_ops", "neuron_updates", "energy_j",
              "energy_j_per_inference", "u_wraps", "v_clips", "per_inference"]
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


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


def full_report(run, chip_name: str = "loihi", **kwargs) -> dict:
    """A report with every optional section (cycle, NeuroBench, raster), as `dalif energy`'s."""
    graph, result, chip, mapping, energy, baseline = run
    if chip_name != chip.name:
        chip = load_chip(chip_name)
        mapping = map_to_cores(graph, chip)
        energy = estimate_energy(graph, result, chip, mapping)
        baseline = ann_baseline(graph, chip)
    inputs = np.ones((2, 20, 2), np.int64)
    one = simulate(graph, inputs[:1], record_spikes=True)
    return build_report(energy, baseline, mapping, chip, result, model={"name": "tiny"},
                        accuracy={"float": 0.91, "quantized": 0.9},
                        cycle=cycle_model(graph, result, chip, mapping).to_dict(),
                        neurobench=neurobench_metrics(graph, result, inputs), raster=one.spikes,
                        graph=graph, **kwargs)


@pytest.fixture(scope="module")
def written(run, tmp_path_factory):
    """(report, its directory): the full report written once for the tests that read files."""
    report = full_report(run)
    out = tmp_path_factory.mktemp("energy")
    return report, out, write_energy_report(out, report)


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
    # no cycle model given: no static energy, the dynamic energy is the total
    assert report["energy"]["total_j_per_inference"] == report["totals"]["energy_j_per_inference"]
    # ANN: 2·3 + 3·2 = 12 synapses, one fp32 MAC (4.6 pJ) each.
    assert report["baseline_ann"]["energy_j_per_inference"] == pytest.approx(12 * 4.6e-12)
    chip_row = report["comparison"][0]
    assert chip_row["relative_to_chip"] == 1.0
    assert json.loads(json.dumps(report)) == report


def test_accuracy_defaults_to_none_and_the_name_to_the_model(run):
    graph, result, chip, mapping, energy, baseline = run
    report = build_report(energy, baseline, mapping, chip, result)
    assert report["accuracy"] == {"float": None, "quantized": None}
    assert "n/a" in render_markdown(report)
    assert report["model"]["name"] == "unnamed model"
    info = {"config": {"model": "convnet"}}
    assert model_name({"name": "mine", "info": info, "nir": "a/b.nir"}) == "mine"
    assert model_name({"name": None, "info": info, "nir": "a/b.nir"}) == "convnet"
    assert model_name({"nir": "a/resnet19.nir"}) == "resnet19"


def test_write_energy_report_writes_every_file_in_every_format(run, written):
    report, out, paths = written
    figures = [spec.stem for spec in FIGURES]
    expected = {"report.json", "report.md", "report.html",
                *(f"{stem}.{kind}" for stem in figures for kind in FORMATS)}
    assert {p.name for p in out.iterdir()} == expected == set(paths)  # no temp files left
    for stem in figures:
        for kind in FORMATS:
            assert (out / f"{stem}.{kind}").read_bytes().startswith(MAGIC[kind]), (stem, kind)
    on_disk = json.loads((out / "report.json").read_text())
    for key in REQUIRED:
        _get(on_disk, key)
    assert on_disk == report
    md = (out / "report.md").read_text()
    chip = run[2]
    for key, source in chip.sources().items():
        assert source in md and f"`{key}`" in md
    for layer in ("hidden", "out"):
        assert f"| {layer} |" in md
    assert "ANN fp32 (45 nm)" in md and "90.00%" in md and "Latency (cycle model)" in md
    # the page renders from report.json alone
    figures_on_disk = {stem: {kind: out / f"{stem}.{kind}" for kind in FORMATS} for stem in figures}
    assert render_html(on_disk, figures_on_disk) == (out / "report.html").read_text()


class _Page(HTMLParser):
    """The page's text (outside <pre>), its tags, and the sources of its images."""

    def __init__(self):
        super().__init__()
        self.text, self.tags, self.srcs, self._pre = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._pre += tag == "pre"
        self.srcs += [v for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag):
        self._pre -= tag == "pre"

    def handle_data(self, data):
        if not self._pre:
            self.text.append(data)


def test_the_page_is_html_with_tables_and_no_markdown(written):
    report, out, _ = written
    page = _Page()
    page.feed((out / "report.html").read_text())
    text = " ".join(page.text)
    for markdown in ("**", "|---", "| --- |", "```", "`", "## "):
        assert markdown not in text, markdown
    assert page.tags.count("table") >= 8 and "nav" in page.tags and "pre" in page.tags
    assert "<pre>" not in report["bibtex"]
    # self-contained: images are data URIs, links point at the files beside the page
    for src in page.srcs:
        assert src.startswith(("data:image/svg+xml;base64,", "#")) or "/" not in src, src
    assert sum(src.startswith("data:image/svg+xml") for src in page.srcs) == len(FIGURES)
    # event names as words, not code names
    assert "synaptic ops (1-bit spikes)" in text and "synaptic_op" not in text


def test_mapping_populations_show_every_field(run, tmp_path):
    """A field the mapper adds to a population shows without the template changing."""
    report = full_report(run)
    report["mapping"]["populations"][0]["binding_limit"] = "synaptic_memory"
    report["mapping"]["populations"][0]["compartments_per_neuron"] = 3
    html = render_html(report, {})
    assert "<th>binding limit</th>" in html and "<th>compartments per neuron</th>" in html
    assert ">synaptic memory</td>" in html


def test_pipelined_latency_shifts_each_core_by_its_depth():
    """Two cores, T = 2, depths 1 and 2: hardware steps 0..3 see core work
    [0, a0, max(a1, b0), b1] (+ route + barrier each); a period of T steps sees
    max(a0, b1) and max(a1, b0)."""
    a0, a1, b0, b1, route, barrier = 10.0, 40.0, 30.0, 5.0, 2.0, 100.0
    cycle = {"latency_s": 1e-6, "throughput_inferences_per_s": 1e6,
             "work_ns_per_step_core": [[a0, b0], [a1, b1]],
             "per_core": [{"core": 0, "population": "a"}, {"core": 1, "population": "b"}],
             "per_step": [{"network_ns": route, "barrier_ns": barrier},
                          {"network_ns": 0.0, "barrier_ns": barrier}]}
    timing = timing_section(cycle, {"a": 1, "b": 2}, 2)
    assert (timing["depth"], timing["pipelined_steps"]) == (2, 4)
    steps = [0.0, a0, max(a1, b0), b1]
    assert timing["pipelined_latency_s"] == pytest.approx(
        sum(w + route + barrier for w in steps) * 1e-9)
    period = max(a0, b1) + max(a1, b0) + 2 * (route + barrier)
    assert timing["pipelined_throughput_inferences_per_s"] == pytest.approx(1e9 / period)
    assert timing["latency_s"] == 1e-6 and timing["simulated"] == "zero-delay"
    assert timing_section(cycle, None, 2)["pipelined_latency_s"] is None


def test_assumptions_and_console_state_the_baseline_timing_and_estimates(run):
    loihi = full_report(run)
    topics = {a["topic"]: a["text"] for a in loihi["assumptions"]}
    assert "arithmetic only" in topics["baselines"] and "memory" in topics["baselines"]
    assert "zero-delay" in topics["timing"] and "T + D" in topics["timing"]
    assert "binary" in topics["NeuroBench effective ops"]
    assert "estimates" not in topics and not loihi["estimates"]["any"]
    assert loihi["timing"]["pipelined_steps"] == loihi["timesteps"] + 2  # hidden → out
    lines = console_lines(loihi, "out")
    assert not any("ESTIMATE" in line for line in lines)
    assert any("zero-delay" in line for line in lines) and any("pipelined" in line for line in lines)
    assert any("arithmetic only" in line for line in lines)

    loihi2 = full_report(run, "loihi2")
    assert loihi2["estimates"]["any"] and "energy_pj.synapse" in loihi2["estimates"]["constants"]
    assert any(a["topic"] == "estimates" for a in loihi2["assumptions"])
    lines = console_lines(loihi2, "out")
    energy, latency = lines[0], next(line for line in lines if line.startswith("latency"))
    assert "ESTIMATE" in energy and "ESTIMATE" in latency
    mapped = next(line for line in lines if line.startswith("mapped on"))
    mapping = loihi2["mapping"]
    assert f"{mapping['chips']} chip(s), {mapping['cores']} cores" in mapped
    assert f"{mapping['compartments']} compartments" in mapped
    assert "ESTIMATE" in render_markdown(loihi2).splitlines()[0]


def test_sensitivity_figure_marks_the_break_even_rate(run):
    report = full_report(run)
    be = report["break_even"]
    spec = next(s for s in FIGURES if s.stem == "energy_sensitivity")
    fig = spec.draw(report)
    ax = fig.axes[0]
    assert "mean firing rate" in ax.get_xlabel() and "energy per inference" in ax.get_ylabel()
    vertical = {round(line.get_xdata()[0], 12) for line in ax.get_lines()
                if len(set(line.get_xdata())) == 1}
    assert round(be["current_firing_rate"], 12) in vertical
    if be["firing_rate"] is not None:
        assert round(be["firing_rate"], 12) in vertical
    else:
        assert "no break-even" in ax.get_title()


def test_raster_shows_every_spike_of_a_small_layer(run):
    report = full_report(run)
    spec = next(s for s in FIGURES if s.stem == "spike_raster")
    image = spec.draw(report).axes[0].get_images()[0].get_array()
    # hidden: 3 neurons firing on all 20 steps, then a 2-row gap, then the readout (silent)
    assert np.asarray(image[:3]).sum() == len(report["raster"]["events"]) == 60
    assert re.search(r"60 spikes", spec.draw(report).axes[0].get_title())


def test_a_figure_renders_the_same_bytes_twice(run, tmp_path):
    """No time stamps or random ids in any format: two runs' figures compare byte for byte."""
    from hardware_sim.report.write import _save_figure

    report = full_report(run)
    spec = next(s for s in FIGURES if s.stem == "energy_by_layer")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _save_figure(tmp_path / "a", spec.stem, spec.draw(report))
    second = _save_figure(tmp_path / "b", spec.stem, spec.draw(report))
    for kind in FORMATS:
        assert first[kind].read_bytes() == second[kind].read_bytes(), kind


def test_static_power_splits_the_energy_everywhere(run):
    from hardware_sim.chips import derive_chip
    from hardware_sim.report.format import fmt_j

    graph, result, *_ = run
    chip = derive_chip("loihi", power={"static_w": 0.5})
    mapping = map_to_cores(graph, chip)
    energy = estimate_energy(graph, result, chip, mapping)
    cycle = cycle_model(graph, result, chip, mapping).to_dict()
    report = build_report(energy, ann_baseline(graph, chip), mapping, chip, result, cycle=cycle,
                          graph=graph)
    split = report["energy"]
    assert split["static_j_per_inference"] == pytest.approx(0.5 * cycle["latency_s"])
    assert split["dynamic_j_per_inference"] == report["totals"]["energy_j_per_inference"]
    assert split["total_j_per_inference"] == pytest.approx(
        split["dynamic_j_per_inference"] + split["static_j_per_inference"])
    assert report["comparison"][0]["energy_j_per_inference"] == split["total_j_per_inference"]
    shown = f"{fmt_j(split['dynamic_j_per_inference'])} dynamic + " \
            f"{fmt_j(split['static_j_per_inference'])} static"
    assert shown in render_markdown(report) and shown in render_html(report, {})
    assert shown in console_lines(report, "out")[0]
    assert any(a["topic"] == "static power" and "dynamic + static" in a["text"]
               for a in report["assumptions"])


def test_a_dalif_model_cites_the_dalif_paper(run):
    graph, result, chip, mapping, energy, baseline = run
    dalif = {"name": "net", "info": {"config": {"neuron": "dalif"}}}
    keys = [r["key"] for r in build_report(energy, baseline, mapping, chip, result,
                                           model=dalif)["references"]]
    assert keys[:2] == ["dalif-toolchain", "zhang2025dalif"]
    lif = {"name": "net", "info": {"config": {"neuron": "lif"}}}
    report = build_report(energy, baseline, mapping, chip, result, model=lif)
    assert "zhang2025dalif" not in [r["key"] for r in report["references"]]
    assert "@misc{zhang2025dalif" not in report["bibtex"]
    assert {"horowitz2014energy", "boyle2025sanafe"} <= {r["key"] for r in report["references"]}


def test_a_map_of_thousands_of_cores_shows_the_busiest_and_plots_one_row_per_layer():
    """ResNet-19 on Loihi maps to ~128,000 cores: the per-core tables show the CORE_ROWS busiest
    (checked against numpy's own ranking) and the load figure one row per layer, each its
    busiest core in every step (np.max over the layer's cores)."""
    from hardware_sim.report.format import CORE_ROWS, cores_caption, shown_cores
    from hardware_sim.report.plots import plot_core_load

    rng = np.random.default_rng(0)
    cores, steps = 5000, 4
    layer = np.repeat(["a", "b", "c"], [1000, 2500, 1500])
    work = rng.integers(0, 10**6, size=(steps, cores)).astype(float)
    per_core = [{"core": i, "population": str(layer[i]), "work_ns_per_inference": float(w)}
                for i, w in enumerate(work.sum(axis=0))]
    report = {"cycle": {"per_core": per_core, "work_ns_per_step_core": work.tolist()},
              "mapping": {"cores": cores}, "chip": {"name": "loihi"}}
    shown = shown_cores(report)
    assert shown == sorted(np.argsort(-work.sum(axis=0), kind="stable")[:CORE_ROWS].tolist())
    assert "64 busiest of 5,000 cores" in cores_caption(report, shown)
    fig = plot_core_load(report)
    image = fig.axes[0].get_images()[0].get_array()
    expected = np.stack([work[:, layer == name].max(axis=1) for name in ("a", "b", "c")])
    scale = expected.max() / image.max()
    np.testing.assert_allclose(image * scale, expected)
    assert fig.get_size_inches()[1] < 5
