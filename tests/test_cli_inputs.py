"""`dalif simulate|energy --input X --labels Y --input-bits B` and `--record u,v,s`, on a
model small enough to work out by hand, and the checks every input file passes before use.

The model: two inputs, two neurons, identity weights, du = 4095 (u[t] = x[t] << 6), dv = 0
(v keeps all it gets), vth = 5 (a spike when v > 320), reset to 0. So a neuron fed x per
step spikes whenever the running sum of x since its last spike exceeds 5; the numbers in
the tests are worked out with that rule, not with this code.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from dalif.cli import main
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.inputs import InputFileError, read_inputs
from hardware_sim.ir.nir import write_nir

T = 4


@pytest.fixture
def model(tmp_path):
    shape = (2,)
    pop = IntPopulation(
        name="out", shape=shape, projections=[Projection(INPUT, "dense", np.eye(2, dtype=np.int64), shape)],
        dv=np.zeros(shape, np.int64), du=np.full(shape, 4095), vth=np.full(shape, 5),
        bias_mant=np.zeros(shape, np.int64), bias_exp=0, v_scale=1.0)
    graph = QGraph(input_shape=shape, populations=[pop], output="out", input_bits=4)
    path = tmp_path / "m.nir"
    write_nir(graph, path, T)
    return path


def _simulate(model, tmp_path, *extra):
    out = tmp_path / "r.json"
    code = main(["simulate", str(model), "--out", str(out), "--quiet", *map(str, extra)])
    return code, (json.loads(out.read_text()) if out.exists() else None)


def test_static_inputs_repeat_over_t_as_worked_by_hand(model, tmp_path):
    # x = (3, 1) each step: neuron 0 sums 3, 6>5 spike, 3, 6>5 spike → 2 spikes; neuron 1 sums
    # 1, 2, 3, 4 → none. x = (0, 7): neuron 1 spikes every step (7 > 5) → 4.
    np.save(tmp_path / "x.npy", np.array([[3, 1], [0, 7]], np.uint8))
    np.save(tmp_path / "y.npy", np.array([0, 0]))
    code, result = _simulate(model, tmp_path, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy")
    assert code == 0
    assert result["layers"][0]["spikes"] == 2 + 4
    assert result["predictions"] == [0, 1] and result["accuracy"] == 0.5


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_temporal_inputs_and_labels_in_one_file(model, tmp_path, suffix):
    # one sample, x per step (5, 0), (1, 6), (5, 6), (0, 0): neuron 0 sums 5, 6>5 spike, 5, 5 →
    # 1 spike; neuron 1 sums 0, 6 spike, 6 spike, 0 → 2 spikes; prediction 1.
    x = np.array([[[5, 0], [1, 6], [5, 6], [0, 0]]], np.int32)
    path = tmp_path / f"x{suffix}"
    if suffix == ".npz":
        np.savez(path, input=x, labels=np.array([1]))
    else:
        with h5py.File(path, "w") as f:
            f["input"], f["labels"] = x, np.array([1])
    code, result = _simulate(model, tmp_path, "--input", path)
    assert code == 0
    assert result["layers"][0]["spikes"] == 3 and result["accuracy"] == 1.0


def test_spike_inputs_with_one_bit_and_no_labels(model, tmp_path, capsys):
    # 1-bit spikes every step: each neuron sums 1, 2, …: no spike in 4 steps.
    np.save(tmp_path / "x.npy", np.ones((1, T, 2), bool))
    code, result = _simulate(model, tmp_path, "--input", tmp_path / "x.npy", "--input-bits", 1)
    assert code == 0 and result["accuracy"] is None and result["layers"][0]["spikes"] == 0
    assert "no labels" in capsys.readouterr().out


def test_record_writes_u_v_s_per_step_as_worked_by_hand(model, tmp_path):
    np.save(tmp_path / "x.npy", np.array([[3, 1]], np.uint8))
    record = tmp_path / "rec.h5"
    code, _ = _simulate(model, tmp_path, "--input", tmp_path / "x.npy", "--record", "u,v,s",
                        "--record-out", record)
    assert code == 0
    with h5py.File(record) as f:
        u, v, s = f["u/out"][()], f["v/out"][()], f["s/out"][()]
        assert f.attrs["timing"] == "zero-delay"
    np.testing.assert_array_equal(u[0], [[192, 64]] * T)  # u = x << 6 every step
    np.testing.assert_array_equal(v[0], [[192, 64], [0, 128], [192, 192], [0, 256]])
    np.testing.assert_array_equal(s[0], [[0, 0], [1, 0], [0, 0], [1, 0]])


def test_energy_takes_inputs_from_a_file(model, tmp_path):
    np.save(tmp_path / "x.npy", np.array([[3, 1], [0, 7]], np.uint8))
    out = tmp_path / "report"
    assert main(["energy", str(model), "--out", str(out), "--quiet", "--input",
                 str(tmp_path / "x.npy")]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["quantized"] is None


@pytest.mark.parametrize("array, extra, message", [
    (np.zeros((3, 5, 2), np.uint8), (), "5 steps per sample, the model runs T = 4"),
    (np.zeros((3, 3), np.uint8), (), "samples of shape (3,), the model's input is (2,)"),
    (np.zeros((3,), np.uint8), (), "inputs of shape (3,)"),
    (np.full((1, 2), 16), (), "input values 16..16 lie outside 0..15"),
    (np.full((1, 2), 2), ("--input-bits", 1), "outside 0..1"),
    (np.full((1, 2), -1), (), "outside 0..15"),
    (np.full((1, 2), 0.5), (), "fractions"),
    (np.array([["a", "b"]]), (), "dtype <U1"),
])
def test_bad_inputs_are_one_line_exit_2_and_no_output(model, tmp_path, capsys, array, extra, message):
    np.save(tmp_path / "x.npy", array)
    code, result = _simulate(model, tmp_path, "--input", tmp_path / "x.npy", *extra)
    err = capsys.readouterr().err
    assert code == 2 and result is None
    assert err.count("\n") == 1 and message in err, err


def test_bad_labels_are_refused(model, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 2), np.uint8))
    for labels, message in ((np.array([0]), "give 2 integers"), (np.array([0, 2]), "outside 0..1")):
        np.save(tmp_path / "y.npy", labels)
        code, _ = _simulate(model, tmp_path, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy")
        err = capsys.readouterr().err
        assert code == 2 and message in err, err


def test_declared_sizes_are_checked_before_reading(tmp_path):
    """A header declaring more than the budget, or more than the file holds, fails on the header."""
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((4, 2), np.uint8))
    with pytest.raises(InputFileError, match="more than the budget"):
        read_inputs(path, (2,), T, 8, max_bytes=16)
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # truncated: the header still declares 8 bytes of data
    with pytest.raises(InputFileError, match="holds only 5 bytes"):
        read_inputs(path, (2,), T, 8, max_bytes=1 << 20)
    np.save(path, np.array([None, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match="refusing to unpickle"):
        read_inputs(path, (2,), T, 8, max_bytes=1 << 20)
    (tmp_path / "x.txt").write_text("1 2")
    with pytest.raises(InputFileError, match=r"\.npy, \.npz or \.h5"):
        read_inputs(tmp_path / "x.txt", (2,), T, 8, max_bytes=1 << 20)
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 2)), b=np.zeros((1, 2)), labels=np.zeros(1))
    with pytest.raises(InputFileError, match="no array of inputs"):
        read_inputs(tmp_path / "two.npz", (2,), T, 8, max_bytes=1 << 20)


def test_options_that_need_input_are_refused_alone(model, tmp_path, capsys):
    code, _ = _simulate(model, tmp_path, "--input-bits", 1)
    assert code == 2 and "go with --input" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((1, 2), np.uint8))
    code, _ = _simulate(model, tmp_path, "--input", tmp_path / "x.npy", "--record", "u,w")
    assert code == 2 and "--record 'u,w'" in capsys.readouterr().err


def test_a_nir_data_trace_of_the_input_node_is_an_input_file(model, tmp_path):
    import nir

    # the temporal sample of test_temporal_inputs_and_labels_in_one_file, as nir.write_data keeps it
    x = np.array([[[5, 0], [1, 6], [5, 6], [0, 0]]], np.int64)
    trace = nir.NIRGraphData(nodes={"input": nir.NIRNodeData(
        observables={"spikes": nir.TimeGriddedData(data=x, dt=1.0)})})
    nir.write_data(tmp_path / "trace.h5", trace)
    code, result = _simulate(model, tmp_path, "--input", tmp_path / "trace.h5")
    assert code == 0 and result["layers"][0]["spikes"] == 3
    events = nir.NIRGraphData(nodes={"input": nir.NIRNodeData(observables={"spikes": nir.EventData(
        idx=np.array([[0, 1]]), time=np.array([[0.0, 1.0]]), n_neurons=2, t_max=4.0)})})
    nir.write_data(tmp_path / "events.h5", events)
    with pytest.raises(InputFileError, match="EventData; give it time-gridded"):
        read_inputs(tmp_path / "events.h5", (2,), T, 4, max_bytes=1 << 20)
