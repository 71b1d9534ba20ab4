"""ONNX: the one-step update (``dalif export --onnx``, ``--backend onnx``) is bit-exact with hardware_sim."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from dalif.cli import main
from deploy import BackendError
from deploy.onnx.backend import OnnxBackend, build_step_model, state_names
from deploy.run import encode_inputs
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, DeployedModel, IntPopulation, Projection, QGraph
from hardware_sim.ir.nir import read_nir, write_nir
from tests.hardware_sim.test_engine_vs_spec import random_graph


def assert_same_run(reference, result) -> None:
    """Every spike, the output, every counter and every per-step event count equal."""
    for name, spikes in reference.spikes.items():
        np.testing.assert_array_equal(result.spikes[name], spikes, err_msg=name)
    np.testing.assert_array_equal(result.output, reference.output)
    np.testing.assert_array_equal(result.predictions, reference.predictions)
    assert [c.to_dict() for c in result.counts] == [c.to_dict() for c in reference.counts]
    for name, events in reference.synaptic_events_per_step.items():
        np.testing.assert_array_equal(result.synaptic_events_per_step[name], events, err_msg=name)
        np.testing.assert_array_equal(result.spikes_per_step[name],
                                      reference.spikes_per_step[name], err_msg=name)


def test_onnx_equals_loihi_sim_on_every_spike(trained, digits_test):
    x, _ = digits_test
    model = read_nir(trained.nir_path)
    inputs, _ = encode_inputs(model, x)
    reference = simulate(model.graph, inputs, record_spikes=True)
    result = OnnxBackend(record_spikes=True, batch_size=50).run(model, inputs)
    assert result.output.dtype == np.int64
    assert_same_run(reference, result)


def _odd_graph(rng: np.random.Generator) -> QGraph:
    """What the exported models lack: pooling that drops a row (7×7 → 3×3), an unpadded strided
    conv, dense weights on pooled spikes, a graded input read through a delay of 2, current
    memory (du < 4095), and weights big enough to wrap u and clip v."""
    def pop(name, shape, projections, readout=False, du=None):
        return IntPopulation(
            name=name, shape=shape, projections=projections, dv=rng.integers(0, 4096, shape),
            du=np.full(shape, 4095) if du is None else du, vth=rng.integers(1, 400, shape),
            bias_mant=rng.integers(-300, 300, shape), bias_exp=1, v_scale=1.0, readout=readout)

    c1 = Projection(INPUT, "conv", rng.integers(-128, 128, (3, 2, 3, 3)), (2, 7, 7), weight_exp=3)
    p1 = pop("c1", c1.output_shape, [c1], du=rng.integers(0, 4096, (3, 5, 5)))
    c2 = Projection("c1", "conv", rng.integers(-128, 128, (4, 3, 2, 2)), p1.shape, weight_exp=7,
                    stride=2, pool=2)  # 5×5 pooled to 2×2 (a row and a column dropped)
    p2 = pop("c2", c2.output_shape, [c2])
    d3a = Projection("c1", "dense", rng.integers(-128, 128, (9, 12)), p1.shape, weight_exp=7, pool=2)
    d3b = Projection(INPUT, "dense", rng.integers(-128, 128, (9, 98)), (2, 7, 7), weight_exp=-3,
                     delay=2)
    d3c = Projection("c2", "dense", rng.integers(-128, 128, (9, 4)), p2.shape, weight_exp=0, delay=1)
    p3 = pop("d3", (9,), [d3a, d3b, d3c], du=rng.integers(0, 4096, (9,)))
    ro = Projection("d3", "dense", rng.integers(-128, 128, (3, 9)), (9,), weight_exp=2)
    p4 = pop("readout", (3,), [ro], readout=True)
    return QGraph(input_shape=(2, 7, 7), populations=[p1, p2, p3, p4], output="readout")


@pytest.mark.parametrize("seed", range(4))
def test_onnx_equals_loihi_sim_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, du_full=seed % 2 == 0) if seed < 2 else _odd_graph(rng)
    hi = (1 << graph.input_bits) - 1
    x = rng.integers(0, hi + 1, (5, 6, *graph.input_shape))
    reference = simulate(graph, x, record_spikes=True)
    result = OnnxBackend(record_spikes=True, batch_size=3).run(DeployedModel(graph, 6, {}, False), x)
    assert_same_run(reference, result)
    assert sum(c.spikes for c in reference.counts) > 20
    if seed >= 2:
        assert sum(c.u_wraps for c in reference.counts) > 0 and sum(c.v_clips for c in reference.counts) > 0


def test_cli_export_onnx_writes_the_graph_the_backend_runs(tmp_path, capsys):
    """`dalif export --onnx`: the file's graph is the one built from the NIR file exported beside
    it, and the documented names are enough to run it with onnxruntime by hand."""
    from dalif.checkpoint import save_checkpoint
    from tests.export.conftest import trained_like

    model, x = trained_like("mlp", "neuron")
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, model, model.config, {"test_accuracy": 0.5, "dataset": "digits"})
    nir_path, onnx_path = tmp_path / "m.nir", tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "--out", str(nir_path), "--onnx", str(onnx_path)]) == 0
    assert "m.onnx" in capsys.readouterr().out
    loaded = read_nir(nir_path)
    stored = onnx.load(str(onnx_path))
    built = build_step_model(loaded.graph, loaded.timesteps)
    assert stored.graph.SerializeToString() == built.graph.SerializeToString()
    props = {p.key: json.loads(p.value) for p in stored.metadata_props}
    interface = props["dalif"]
    assert interface["input"]["name"] == "x" and interface["timesteps"] == 4
    assert props["dalif_info"]["checkpoint"] == "m.pt"

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x_int, _ = loaded.graph.quantize_input(x.numpy())
    feeds = {p["state"][k]: np.zeros((len(x_int), *p["shape"]), np.int64)
             for p in interface["populations"] for k in (0, 1)}
    spikes = {p["name"]: [] for p in interface["populations"] if p["spikes"]}
    names = [o.name for o in session.get_outputs()]
    for _ in range(interface["timesteps"]):
        out = dict(zip(names, session.run(None, {**feeds, "x": x_int.astype(np.int64)})))
        for p in interface["populations"]:
            feeds[p["state"][0]], feeds[p["state"][1]] = out[p["next"][0]], out[p["next"][1]]
            if p["spikes"]:
                spikes[p["name"]].append(out[p["spikes"]])
    reference = simulate(loaded.graph, np.repeat(x_int[:, None], 4, axis=1), record_spikes=True)
    for name, steps in spikes.items():
        np.testing.assert_array_equal(np.stack(steps), reference.spikes[name], err_msg=name)
    readout_v = feeds[state_names(interface["output"])[1]]
    np.testing.assert_array_equal(readout_v, reference.output)


def test_inputs_wider_than_8_bits_are_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    fc = Projection(INPUT, "dense", rng.integers(-128, 128, (10, 64)), (1, 8, 8))
    graph = QGraph(input_shape=(1, 8, 8), output="fc", input_bits=9, populations=[IntPopulation(
        "fc", (10,), [fc], dv=np.zeros(10), du=np.full(10, 4095), vth=np.full(10, 9),
        bias_mant=np.zeros(10), bias_exp=0, v_scale=1.0, readout=True)])
    with pytest.raises(BackendError, match="9 bits"):
        build_step_model(graph, 3)
    path = tmp_path / "wide.nir"
    write_nir(graph, path, timesteps=3)
    assert main(["simulate", str(path), "--backend", "onnx", "--limit", "2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "onnx backend" in err[0], err


def test_temporal_inputs_run_one_frame_per_step():
    """A (N, T, *input_shape) data set (event frames, rows of a digit) feeds step t its own
    frame: equal to the engine run on those frames, and refused when T differs."""
    from deploy.run import InputShapeError, encode_inputs, run_backend

    rng = np.random.default_rng(5)
    graph = random_graph(rng)
    model = DeployedModel(graph, 5, {}, False)
    frames = rng.integers(0, 16, (4, 5, *graph.input_shape)) * graph.input_scale
    inputs, clipped = encode_inputs(model, frames, temporal=True)
    assert clipped == 0 and inputs.shape == (4, 5, *graph.input_shape)
    np.testing.assert_array_equal(inputs * graph.input_scale, frames)
    reference = simulate(graph, inputs)
    result = run_backend("onnx", model, frames, temporal=True)
    np.testing.assert_array_equal(result.output, reference.output)
    with pytest.raises(InputShapeError, match="T = 5"):
        encode_inputs(model, frames[:, :3], temporal=True)
