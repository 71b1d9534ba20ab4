"""lava-dl's own netx loader (``netx.hdf5.Network``, Lava fixed_pt, .venv-netx) against
hardware_sim, spike for spike, after the alignment of tests/netx/netx_lava_runner.py.

Skipped, saying how to build it, when .venv-netx is absent (`make netx-venv`, ~5.6 GB).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from export import export_model
from hardware_sim.engine import direct_encode, simulate
from hardware_sim.ir.netx import netx_graph, read_netx, write_netx
from tests.export.conftest import trained_like

from .conftest import netx_python, run_lava_dl

SAMPLES, TIMESTEPS = 16, 6


def write_handmade_net(path: Path, seed: int = 0) -> None:
    """A netx file in lava-dl's layout, written with h5py alone (not our writer): graded
    input (2, 6, 6) → conv 4×3×3 pad 1 → conv 5×3×3 stride 2 (current memory) → flatten →
    dense 6; every layer its own iDecay, vDecay and threshold."""
    rng = np.random.default_rng(seed)

    def layer(f, index, kind, shape):
        g = f.create_group(f"layer/{index}")
        g.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
        g.create_dataset("shape", data=np.array(shape))
        return g

    def neuron(g, i_decay, v_decay, vth):
        for key, value in (("type", "CUBA"), ("iDecay", i_decay), ("vDecay", v_decay),
                           ("vThMant", vth), ("refDelay", 1), ("gradedSpike", False)):
            g.create_dataset(f"neuron/{key}", data=value)

    with h5py.File(path, "w") as f:
        layer(f, 0, "input", (2, 6, 6))
        g = layer(f, 1, "conv", (4, 6, 6))
        g.create_dataset("weight", data=rng.integers(-40, 60, (4, 2, 3, 3)))
        for key, value in (("stride", [1, 1]), ("padding", [1, 1]), ("dilation", [1, 1])):
            g.create_dataset(key, data=np.array(value))
        g.create_dataset("groups", data=1)
        g.create_dataset("bias", data=rng.integers(-20, 40, 4))
        neuron(g, 4096, 900, 60)
        g = layer(f, 2, "conv", (5, 2, 2))
        g.create_dataset("weight", data=rng.integers(-100, 127, (5, 4, 3, 3)) * 4)
        for key, value in (("stride", [2, 2]), ("padding", [0, 0]), ("dilation", [1, 1])):
            g.create_dataset(key, data=np.array(value))
        g.create_dataset("groups", data=1)
        neuron(g, 2500, 300, 250)
        layer(f, 3, "flatten", (5, 2, 2))
        g = layer(f, 4, "dense", (6,))
        g.create_dataset("weight", data=rng.integers(-128, 128, (6, 20)))
        g.create_dataset("bias", data=rng.integers(-10, 30, 6))
        neuron(g, 4096, 2000, 40)


def test_handmade_netx_file_runs_alike_in_lava_dl_and_hardware_sim(tmp_path):
    netx_python()
    net = tmp_path / "handmade.net"
    write_handmade_net(net)
    graph, _ = read_netx(net, timesteps=TIMESTEPS, input_bits=4)
    rng = np.random.default_rng(7)
    x = direct_encode(rng.integers(0, 16, (SAMPLES, *graph.input_shape)), TIMESTEPS)
    expected = simulate(graph, x, record_spikes=True)
    got = run_lava_dl(net, x, graph.input_bits, first_layer_dense=False, tmp_path=tmp_path)
    for i, pop in enumerate(graph.populations):
        want = expected.spikes[pop.name]
        assert want.sum() > 20, f"{pop.name}: too quiet to mean anything"
        np.testing.assert_array_equal(got[f"spikes_{i}"], want, err_msg=pop.name)


@pytest.mark.parametrize("kind", ["convnet", "mlp"])
def test_exported_layer_decay_model_reproduces_hardware_sim_in_lava_dl(kind, tmp_path):
    netx_python()
    model, x_float = trained_like(kind, "layer")
    exported = export_model(model)
    graph, _ = netx_graph(exported.graph)
    net = tmp_path / f"{kind}.net"
    write_netx(graph, net, exported.timesteps)
    x_int, _ = graph.quantize_input(x_float.numpy()[:SAMPLES])
    x = direct_encode(x_int, exported.timesteps)
    expected = simulate(graph, x, record_spikes=True)
    got = run_lava_dl(net, x, graph.input_bits, first_layer_dense=kind == "mlp", tmp_path=tmp_path)
    spiking = [p for p in graph.populations if not p.readout]
    for i, pop in enumerate(spiking):
        assert expected.spikes[pop.name].sum() > 50, pop.name
        np.testing.assert_array_equal(got[f"spikes_{i}"], expected.spikes[pop.name],
                                      err_msg=pop.name)
    # the readout never spikes; its v after each sample's last step is the logit vector
    np.testing.assert_array_equal(got["v_last"][:, -1], expected.output)
    assert np.any(expected.output != 0)


def write_headless_net(path: Path, seed: int = 1) -> None:
    """A netx file as slayer writes dense networks, written with h5py alone: no input layer
    (netx takes the graded input straight into the first synapse), dense shapes (N, 1, 1),
    /simulation/tSample, and a last dense layer with no neuron group (netx's integrator)."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f["simulation/Ts"], f["simulation/tSample"] = 1, TIMESTEPS
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"dense"])
        g["shape"], g["weight"] = np.array([8, 1, 1]), rng.integers(-60, 90, (8, 12)).astype(np.float32)
        g["bias"] = rng.integers(-5, 20, 8).astype(np.float32)
        for key, value in (("type", "CUBA"), ("iDecay", 4096), ("vDecay", 700), ("vThMant", 90)):
            g[f"neuron/{key}"] = value
        g = f.create_group("layer/1")
        g.create_dataset("type", (1,), "S10", [b"dense"])
        g["shape"], g["weight"] = np.array([5, 1, 1]), rng.integers(-128, 128, (5, 8)).astype(np.float32)


def test_headless_file_with_an_integrator_runs_alike_in_lava_dl_and_hardware_sim(tmp_path):
    netx_python()
    net = tmp_path / "headless.net"
    write_headless_net(net)
    graph, timesteps = read_netx(net, input_bits=4)
    assert timesteps == TIMESTEPS and graph.input_shape == (12,) and graph.populations[-1].readout
    x = np.random.default_rng(3).integers(0, 16, (SAMPLES, TIMESTEPS, 12))
    expected = simulate(graph, x, record_spikes=True)
    got = run_lava_dl(net, x, graph.input_bits, first_layer_dense=True, tmp_path=tmp_path)
    assert expected.spikes["dense0"].sum() > 20
    np.testing.assert_array_equal(got["spikes_0"], expected.spikes["dense0"])
    np.testing.assert_array_equal(got["v_last"][:, -1], expected.output)  # the integrator's v


def test_image_as_bias_net_reproduces_lava_dl_u_and_v_per_layer(tmp_path):
    """lava-dl's tiny.net (an input layer with neurons, two convs) with lava-dl's tinynet image
    as the input layer's bias, in Lava, against `dalif import` + `dalif simulate --input
    image --record u,v`. Layer i (input layer 0) computes step τ on Lava step τ + 1 + i. The
    input layer's u is not compared: Lava's stays 0, ours carries the bias (netx._input_neurons)."""
    from dalif.cli import main

    from .conftest import DATA, lava_dl_file, run_lava_dl_traces

    steps = 16
    net = lava_dl_file("tiny.net", tmp_path)
    with np.load(DATA / "tiny_input_bias.npz") as data:
        bias_whc = data["input_bias"].astype(np.int64)
    lava = run_lava_dl_traces(net, bias_whc, steps, tmp_path)
    model, record = tmp_path / "tiny.nir", tmp_path / "record.h5"
    assert main(["import", str(net), "--out", str(model), "--timesteps", str(steps)]) == 0
    np.save(tmp_path / "image.npy", bias_whc.transpose(2, 1, 0)[None])
    assert main(["simulate", str(model), "--input", str(tmp_path / "image.npy"), "--record", "u,v,s",
                 "--record-out", str(record), "--quiet"]) == 0
    with h5py.File(record) as f:
        names = f.attrs["populations"].split(",")
        assert len(names) == 3
        for i, name in enumerate(names):
            assert f[f"s/{name}"][()].sum() > 50, name
            for field in ("v",) if i == 0 else ("u", "v"):
                theirs = np.moveaxis(lava[f"{field}_{i}"][i:i + steps], [1, 2, 3], [3, 2, 1])
                np.testing.assert_array_equal(f[f"{field}/{name}"][0], theirs, err_msg=f"{name} {field}")
