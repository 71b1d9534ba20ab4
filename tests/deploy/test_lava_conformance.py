"""Lava against hardware_sim, spike for spike (DESIGN §3).

The main environment builds the nets, writes their NIR files and inputs and computes
the expected spikes with hardware_sim.engine (zero-delay timing, and the aligned
pipeline step for step); the Lava environment (.venv-lava, made by `make lava-venv`;
`make test` makes it first) runs them as subprocesses. A missing Lava environment fails
these tests: it is never a skip.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from deploy.lava.backend import REPO_ROOT, LavaBackend, lava_python
from hardware_sim.engine import run_aligned, simulate
from hardware_sim.ir.nir import read_nir, write_nir

from . import lava_nets

SAMPLES, TIMESTEPS = 24, 8


def _model(graph, tmp_path: Path):
    path = tmp_path / "model.nir"
    write_nir(graph, path, TIMESTEPS)
    return read_nir(path)


def _assert_same_run(lava, expected, graph, min_spikes: int) -> None:
    for pop in graph.populations:
        got, want = lava.spikes[pop.name], expected.spikes[pop.name]
        assert got.shape == want.shape, pop.name
        mismatched = np.argwhere(got != want)
        assert mismatched.size == 0, (
            f"{pop.name}: {len(mismatched)} spikes differ, first at (t, sample, neuron) "
            f"{tuple(mismatched[0])}")
    np.testing.assert_array_equal(lava.output, expected.output)
    np.testing.assert_array_equal(lava.predictions, expected.predictions)
    assert [c.to_dict() for c in lava.counts] == [c.to_dict() for c in expected.counts]
    for name in expected.spikes_per_step:
        np.testing.assert_array_equal(lava.spikes_per_step[name], expected.spikes_per_step[name])
        np.testing.assert_array_equal(lava.synaptic_events_per_step[name],
                                      expected.synaptic_events_per_step[name])
    assert (lava.samples, lava.timesteps) == (expected.samples, expected.timesteps)
    spikes = sum(c.spikes for c in expected.counts)
    assert spikes >= min_spikes, f"only {spikes} spikes: the net must be active to mean anything"


@pytest.mark.parametrize("build, min_spikes", [
    (lava_nets.mlp, 3000),
    (lava_nets.convnet, 10000),
    (lava_nets.residual, 6000),
])
def test_dalif_process_equals_hardware_sim(build, min_spikes, tmp_path):
    graph = build()
    model = _model(graph, tmp_path)
    x = lava_nets.inputs_for(graph, SAMPLES, TIMESTEPS)
    expected = simulate(model.graph, x, record_spikes=True)
    backend = LavaBackend()
    lava = backend.run(model, x)
    _assert_same_run(lava, expected, graph, min_spikes)
    # every population spikes in every test net, readouts aside
    for pop in graph.populations:
        assert pop.readout or expected.spikes[pop.name].any(axis=(0, 1)).mean() > 0.3, pop.name
    if build is lava_nets.residual:  # the joins really were balanced and delayed
        delays = {(p["target"], p["source"]): p["hw_delay"]
                  for p in backend.last_summary["projections"]}
        assert delays[("c3", "c1")] == 1 and delays[("d4", "c1")] == 3
        assert delays[("d4", "input")] == 5


@pytest.mark.parametrize("build, timesteps", [
    (lava_nets.mlp, TIMESTEPS),
    (lava_nets.convnet, TIMESTEPS),
    (lava_nets.residual, TIMESTEPS),
    (lava_nets.residual, 2),  # deeper than T: resets before the window, a delay masks all
    (lava_nets.junctions, 3),  # layers fire on their bias before their input arrives
])
def test_lava_records_equal_the_engines_aligned_run_step_for_step(build, timesteps, tmp_path):
    """Every Lava step as the recorders keep it (before each layer's window, the samples back
    to back, the drain) equals hardware_sim's aligned run, not only after the shift."""
    graph = build()
    model = _model(graph, tmp_path)
    x = lava_nets.inputs_for(graph, 6, timesteps)
    backend = LavaBackend(keep_records=True)
    lava = backend.run(model, x)
    aligned = run_aligned(model.graph, x, record_spikes=True)
    assert backend.last_summary["lava_steps"] == aligned.plan.total_steps
    assert backend.last_summary["depth"] == aligned.plan.depth
    for pop in graph.populations:
        got, want = backend.last_records[pop.name], aligned.records[pop.name]
        assert got.shape == want.shape == (aligned.plan.total_steps, *pop.shape), pop.name
        assert got.dtype == want.dtype, pop.name
        mismatched = np.argwhere(got != want)
        assert mismatched.size == 0, (
            f"{pop.name}: {len(mismatched)} values differ, first at (Lava step - 1, neuron) "
            f"{tuple(mismatched[0])}")
    outside = [p.name for p in graph.populations
               if np.delete(aligned.records[p.name], aligned.plan.window(p.name), 0).any()]
    assert outside, "nothing happens outside the windows: the records would test nothing more"
    _assert_same_run(lava, aligned.result, graph, min_spikes=100)


def test_overflow_is_counted_like_hardware_sim(tmp_path):
    graph = lava_nets.overflow_mlp()
    model = _model(graph, tmp_path)
    x = lava_nets.inputs_for(graph, SAMPLES, TIMESTEPS)
    expected = simulate(model.graph, x, record_spikes=True)
    assert expected.count("wraps").u_wraps > 100 and expected.count("readout").v_clips > 100
    _assert_same_run(LavaBackend().run(model, x), expected, graph, min_spikes=300)


def test_lavas_own_lif_reproduces_hardware_sim(tmp_path):
    """Lava's LIFReset + Dense (none of our Lava code) on a net with one decay per layer."""
    graph = lava_nets.one_decay_per_layer()
    model = _model(graph, tmp_path)
    x = lava_nets.inputs_for(graph, SAMPLES, TIMESTEPS)
    np.savez(tmp_path / "inputs.npz", inputs=x)
    subprocess.run([str(lava_python()), str(Path(__file__).with_name("lava_builtin_lif.py")),
                    str(tmp_path / "model.nir"), str(tmp_path / "inputs.npz"),
                    str(tmp_path / "out.npz")], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    expected = simulate(model.graph, x, record_spikes=True)
    with np.load(tmp_path / "out.npz") as got:
        for pop in graph.populations:
            np.testing.assert_array_equal(got[pop.name], expected.spikes[pop.name],
                                          err_msg=pop.name)
    assert sum(c.spikes for c in expected.counts) > 2000


def test_floating_point_model_runs_close_to_the_integer_one(tmp_path):
    """``floating_pt``: the same equations without rounding; close, not equal."""
    graph = lava_nets.mlp()
    model = _model(graph, tmp_path)
    x = lava_nets.inputs_for(graph, SAMPLES, TIMESTEPS)
    expected = simulate(model.graph, x, record_spikes=True)
    lava = LavaBackend(select_tag="floating_pt").run(model, x)
    for pop in graph.populations:
        agree = np.mean(lava.spikes[pop.name] == expected.spikes[pop.name])
        assert agree > 0.9, (pop.name, agree)
    correlation = np.corrcoef(lava.output.reshape(-1), expected.output.reshape(-1))[0, 1]
    assert correlation > 0.98, correlation


def _shortcuts(graph) -> dict[str, list[str]]:
    """The residual joins of an exported QGraph by kind: 'identity' (a 1×1 stride-1 conv of
    c·I from a source of the population's shape) and 'downsample' (a 1×1 stride-2 conv)."""
    found: dict[str, list[str]] = {"identity": [], "downsample": []}
    for pop in graph.populations:
        if len(pop.projections) != 2:
            continue
        for proj in pop.projections:
            if proj.kind != "conv" or proj.weight.shape[2:] != (1, 1):
                continue
            w = proj.weight[:, :, 0, 0]
            if (proj.stride == (1, 1) and proj.source_shape == pop.shape and w[0, 0] > 0
                    and np.array_equal(w, w[0, 0] * np.eye(len(w), dtype=w.dtype))):
                found["identity"].append(pop.name)
            elif proj.stride == (2, 2) and proj.padding == (0, 0):
                found["downsample"].append(pop.name)
    return found


def test_an_exported_resnet_with_both_shortcuts_runs_spike_for_spike(tmp_path):
    """The model zoo's ResNet-20 (width 0.25, a block per stage), exported by export_model:
    an identity shortcut and two 1×1 stride-2 downsample shortcuts, every layer firing;
    Lava's every spike, output and counter equal to loihi-sim's."""
    graph, x = lava_nets.resnet()
    shortcuts = _shortcuts(graph)
    assert shortcuts == {"identity": ["s1b1_conv2"],
                         "downsample": ["s2b1_conv2", "s3b1_conv2"]}, shortcuts
    assert max(int(np.prod(p.shape)) for p in graph.populations) <= 256
    model = _model(graph, tmp_path)
    inputs = lava_nets.model_inputs(graph, x[:SAMPLES], TIMESTEPS)
    expected = simulate(model.graph, inputs, record_spikes=True)
    backend = LavaBackend()
    lava = backend.run(model, inputs)
    _assert_same_run(lava, expected, graph, min_spikes=50000)
    for pop in graph.populations:
        assert pop.readout or expected.spikes[pop.name].any(axis=(0, 1)).mean() > 0.5, pop.name
    assert expected.output.any()
    # each shortcut, one layer shorter than the block's main path, balanced by a delay of one
    delays = {(p["target"], p["source"]): (p["hw_delay"], p["via"])
              for p in backend.last_summary["projections"]}
    assert [delays[join] for join in [("s1b1_conv2", "stem"), ("s2b1_conv2", "s1b1_conv2"),
                                      ("s3b1_conv2", "s2b1_conv2")]] == [(1, "conv")] * 3
