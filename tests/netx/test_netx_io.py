"""netx files without Lava: the writer, the reader, the refusals and the two CLI commands."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dalif.checkpoint import save_checkpoint
from dalif.cli import main
from export import export_model
from hardware_sim.engine import direct_encode, simulate
from hardware_sim.ir.netx import NetxError, netx_graph, read_netx, write_netx
from hardware_sim.ir.nir import read_nir
from tests.export.conftest import trained_like

from .test_netx_lava import write_handmade_net


def _same_graph(a, b) -> None:
    assert a.input_shape == b.input_shape and a.output == b.output
    assert (a.input_bits, a.input_scale) == (b.input_bits, b.input_scale)
    for p, q in zip(a.populations, b.populations, strict=True):
        assert (p.name, p.shape, p.readout, p.bias_exp) == (q.name, q.shape, q.readout, q.bias_exp)
        for key in ("dv", "du", "vth", "bias_mant"):
            np.testing.assert_array_equal(getattr(p, key), getattr(q, key), err_msg=f"{p.name} {key}")
        assert p.v_scale == q.v_scale


@pytest.mark.parametrize("kind", ["convnet", "mlp"])
def test_netx_graph_round_trips_and_stays_close_to_the_export(kind, tmp_path):
    model, x = trained_like(kind, "layer")
    exported = export_model(model)
    graph, changes = netx_graph(exported.graph)
    write_netx(graph, tmp_path / "m.net", exported.timesteps)
    back, timesteps = read_netx(tmp_path / "m.net")
    assert timesteps == exported.timesteps
    _same_graph(graph, back)
    x_int, _ = graph.quantize_input(x.numpy())
    inputs = direct_encode(x_int, timesteps)
    ours, theirs = simulate(graph, inputs, record_spikes=True), simulate(back, inputs, record_spikes=True)
    np.testing.assert_array_equal(ours.output, theirs.output)
    for name in ours.spikes:
        np.testing.assert_array_equal(ours.spikes[name], theirs.spikes[name])
    # only what netx's fixed exponents force changes, and every bias is a multiple of 64
    assert set(changes) == {p.name for p in graph.populations}
    for pop in graph.populations:
        assert np.all(pop.bias % 64 == 0) and pop.projections[0].weight_exp >= 0
    original = simulate(exported.graph, inputs)
    assert np.mean(original.predictions == ours.predictions) > 0.7


def test_handmade_file_imports_field_by_field(tmp_path):
    write_handmade_net(tmp_path / "h.net")
    graph, timesteps = read_netx(tmp_path / "h.net", timesteps=5, input_bits=4)
    assert timesteps == 5 and graph.input_shape == (2, 6, 6) and graph.input_bits == 4
    c1, c2, d = graph.populations
    with h5py.File(tmp_path / "h.net") as f:
        w1, w2 = f["layer/1/weight"][()], f["layer/2/weight"][()]
        b1, b4 = f["layer/1/bias"][()], f["layer/4/bias"][()]
    # du = iDecay − 1, dv = vDecay, vth = vThMant, bias = bias_mant << 6
    assert (int(c1.du.flat[0]), int(c1.dv.flat[0]), int(c1.vth.flat[0])) == (4095, 900, 60)
    assert (int(c2.du.flat[0]), int(c2.dv.flat[0]), int(c2.vth.flat[0])) == (2499, 300, 250)
    np.testing.assert_array_equal(c1.bias, np.broadcast_to(b1.reshape(4, 1, 1) * 64, c1.shape))
    np.testing.assert_array_equal(d.bias, b4 * 64)
    np.testing.assert_array_equal(c1.projections[0].weight, w1)
    assert c2.projections[0].weight_exp == 2  # the file's ×4 kernel is int8 × 2^2
    np.testing.assert_array_equal(c2.projections[0].weight * 4, w2)
    assert (c2.projections[0].stride, c2.projections[0].padding, c2.shape) == ((2, 2), (0, 0), (5, 2, 2))
    assert d.projections[0].source_shape == (5, 2, 2) and not d.readout


def test_per_neuron_decays_are_refused_naming_the_layer():
    model, _ = trained_like("convnet", "neuron")
    with pytest.raises(NetxError, match=r"layer 'conv1': \d+ distinct dv values"):
        netx_graph(export_model(model).graph)


@pytest.mark.parametrize("edit, message", [
    (lambda f: f["layer/1/neuron/iDecay"].write_direct(np.array(0)), "iDecay 0 outside"),
    (lambda f: f["layer/1"].create_dataset("delay", data=np.ones(4)), "delays"),
    (lambda f: f["layer/3/type"].write_direct(np.array([b"pool"], dtype="S10")), "'pool' is not"),
    (lambda f: f["layer/1/neuron/vThMant"].write_direct(np.array(1 << 18)), "never lets"),
])
def test_unsupported_netx_files_are_refused(edit, message, tmp_path):
    path = tmp_path / "h.net"
    write_handmade_net(path)
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(NetxError, match=message):
        read_netx(path, timesteps=4)


def _checkpoint(tmp_path, granularity):
    model, _ = trained_like("convnet", granularity)
    path = tmp_path / f"{granularity}.pt"
    save_checkpoint(path, model, model.config, {"test_accuracy": 0.5, "dataset": "digits"})
    return path


def test_cli_export_netx_then_import(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, "layer")
    net, nir_in, nir_back = tmp_path / "m.net", tmp_path / "m.nir", tmp_path / "back.nir"
    assert main(["export", str(ckpt), "--out", str(nir_in), "--netx", str(net)]) == 0
    assert "netx (lava-dl)" in capsys.readouterr().out
    assert main(["import", str(net), "--out", str(nir_back)]) == 0
    model = read_nir(nir_back)
    # one export, one integer model: the NIR file written beside the netx file is what netx holds
    _same_graph(read_nir(nir_in).graph, model.graph)
    assert model.timesteps == 4


def test_cli_refuses_per_neuron_model_in_one_line(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, "neuron")
    code = main(["export", str(ckpt), "--out", str(tmp_path / "m.nir"), "--netx",
                 str(tmp_path / "m.net")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "conv1" in err and "per layer" in err
    assert not (tmp_path / "m.net").exists() and not (tmp_path / "m.nir").exists()


def test_cli_import_needs_timesteps_for_a_foreign_file(tmp_path, capsys):
    write_handmade_net(tmp_path / "h.net")
    assert main(["import", str(tmp_path / "h.net"), "--out", str(tmp_path / "h.nir")]) == 2
    assert "timesteps" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "h.net"), "--out", str(tmp_path / "h.nir"),
                 "--timesteps", "6", "--input-bits", "4"]) == 0
    assert read_nir(tmp_path / "h.nir").graph.input_bits == 4


@pytest.mark.parametrize("edit, message", [
    (lambda f: _replace(f, "layer/4/weight", np.full((6, 20), 2.5)), "weight must hold integers"),
    (lambda f: _replace(f, "layer/1/neuron/vDecay", 900.5), "vDecay must hold integers"),
    (lambda f: _replace(f, "layer/4/bias", np.full(6, np.nan)), "bias must hold integers"),
    (lambda f: _replace(f, "layer/4/weight", np.ones((6, 20), np.complex64)), "complex"),
    (lambda f: _replace(f, "layer/0/shape", np.array([0, 6, 6])), "positive integers"),
])
def test_fractions_and_odd_values_are_refused_not_truncated(edit, message, tmp_path):
    """lava-dl casts to int; a fraction, NaN or complex value is an error here, not a truncation."""
    path = tmp_path / "h.net"
    write_handmade_net(path)
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(NetxError, match=message):
        read_netx(path, timesteps=4)


def _replace(f, name, value):
    del f[name]
    f[name] = value


def test_the_files_own_fields_are_checked(tmp_path):
    model, _ = trained_like("mlp", "layer")
    exported = export_model(model)
    graph, _ = netx_graph(exported.graph)
    path = tmp_path / "m.net"
    write_netx(graph, path, exported.timesteps)
    for key, value, message in (("input_bits", 99, "input bits must be an integer in 1..16"),
                                ("input_scale", float("nan"), "input scale must be a positive finite"),
                                ("timesteps", 2.5, "timesteps must be an integer")):
        with h5py.File(path, "r+") as f:
            saved = f["dalif"].attrs[key]
            f["dalif"].attrs[key] = value
        with pytest.raises(NetxError, match=message):
            read_netx(path)
        with h5py.File(path, "r+") as f:
            f["dalif"].attrs[key] = saved
    assert read_netx(path)[1] == exported.timesteps


def _without_input_layer(path):
    """The handmade file with its input layer removed (layers renumbered from 0)."""
    with h5py.File(path, "r+") as f:
        del f["layer/0"]
        for i in range(1, 5):
            f.move(f"layer/{i}", f"layer/{i - 1}")


def test_a_file_without_input_layer_takes_its_input_shape_from_the_first_layer(tmp_path):
    path = tmp_path / "h.net"
    write_handmade_net(path)
    _without_input_layer(path)
    # conv 3x3, stride 1, padding 1, output 6x6: the input is 6 + 2·1 − 3 + 1 = 6 wide, 2 channels
    graph, _ = read_netx(path, timesteps=4)
    assert graph.input_shape == (2, 6, 6) and graph.populations[0].projections[0].source == "input"
    with h5py.File(path, "r+") as f:
        f["layer/0/stride"][...] = [2, 2]
    with pytest.raises(NetxError, match="does not fix its input size"):
        read_netx(path, timesteps=4)
    # stride 2: (H + 2 − 3) // 2 + 1 = 6 for H = 11 or 12, which the caller must say
    assert read_netx(path, timesteps=4, input_shape=(2, 11, 11))[0].input_shape == (2, 11, 11)
    with pytest.raises(NetxError, match=r"convolution's output \(4, 3, 3\)"):
        read_netx(path, timesteps=4, input_shape=(2, 6, 6))


@pytest.mark.parametrize("edit, message", [
    (lambda f: f["layer/0/neuron/iDecay"].write_direct(np.array(4000)), "current memory"),
    (lambda f: f["layer/0/neuron/type"].write_direct(np.array(b"SDNN")), r"'SDNN' \(sigma-delta"),
    # a per-axis stride is read as (H, W): H halves, W does not, so the file's 6x6 no longer fits
    (lambda f: _replace(f, "layer/1/stride", np.array([2, 1])), r"the convolution's output \(4, 3, 6\)"),
    (lambda f: _replace(f, "simulation/Ts", 2), "Ts is"),
])
def test_input_neurons_per_axis_strides_and_tsample_are_checked(edit, message, tmp_path):
    path = tmp_path / "h.net"
    write_handmade_net(path)
    with h5py.File(path, "r+") as f:
        for key, value in (("type", "CUBA"), ("iDecay", 4096), ("vDecay", 100), ("vThMant", 10)):
            f[f"layer/0/neuron/{key}"] = value
        f["simulation/Ts"], f["simulation/tSample"] = 1, 7
    assert read_netx(path)[1] == 7  # tSample: the default T
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(NetxError, match=message):
        read_netx(path)


def test_a_dense_layer_without_neurons_is_a_readout_only_last_and_without_bias(tmp_path):
    from .test_netx_lava import write_headless_net

    path = tmp_path / "d.net"
    write_headless_net(path)
    assert read_netx(path)[0].populations[-1].readout
    with h5py.File(path, "r+") as f:
        f["layer/1/bias"] = np.ones(5)
    with pytest.raises(NetxError, match="no neuron group and a bias"):
        read_netx(path)
    with h5py.File(path, "r+") as f:
        del f["layer/1/bias"]
        f.copy("layer/1", "layer/2")
        del f["layer/2/weight"]
        f["layer/2/weight"] = np.ones((5, 5))
    with pytest.raises(NetxError, match="layer 1 .*only the last layer"):
        read_netx(path)


def test_cli_import_options_are_checked(tmp_path, capsys):
    write_handmade_net(tmp_path / "h.net")
    out = tmp_path / "h.nir"
    for extra, message in ((["--input-shape", "2,x"], "--input-shape"), (["--layers", "0"], "layers"),
                           (["--input-shape", "3,6,6"], "not the input layer's")):
        code = main(["import", str(tmp_path / "h.net"), "--out", str(out), "--timesteps", "4", *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not out.exists()
    assert main(["import", str(tmp_path / "h.net"), "--out", str(out), "--timesteps", "4",
                 "--layers", "2"]) == 0
    assert [p.name for p in read_nir(out).graph.populations] == ["conv1"]
