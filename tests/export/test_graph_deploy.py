"""Graph-shaped models through export onto the hardware: the integer engine against the
spec-literal loop on random small exported ResNets, a NIR round trip with residual joins, a
trained DA-LIF ResNet's quantized accuracy, and the command line end to end."""

import json

import nir
import numpy as np
import pytest
import torch

from export import export_model, write_exported
from hardware_sim.engine import direct_encode, simulate
from hardware_sim.ir.nir import read_nir

from ..hardware_sim.spec_loop import assert_matches_spec


@pytest.mark.parametrize("arch, extra, granularity, seed", [
    ("resnet20", dict(width=0.25, depth=1 / 3), "neuron", 0),
    ("resnet20", dict(width=0.25, depth=1 / 3), "layer", 1),
    ("resnet19", dict(width=0.0625, depth=0.5), "channel", 2),
])
def test_engine_equals_the_spec_loop_on_exported_resnets(make_model, arch, extra, granularity, seed):
    model, x = make_model(arch, granularity, seed=seed, bias=(0.0, 1.0), **extra)
    exported = export_model(model)
    graph = exported.graph
    assert any(len(p.projections) == 2 for p in graph.populations)  # residual joins
    x_int, _ = graph.quantize_input(x[:3].numpy())
    inputs = direct_encode(x_int, 4)
    result = simulate(graph, inputs, record_spikes=True, batch_size=2)
    events, _ = assert_matches_spec(graph, inputs, result)
    for count in result.counts:
        assert count.synaptic_ops + count.input_macs == events[count.name], count.name
        assert count.spikes > 0 or count.name == graph.output, f"{count.name} is silent"


def test_nir_file_of_a_resnet_joins_two_edges_into_one_neuron_node(make_model, tmp_path):
    model, x = make_model("resnet20", "channel", seed=3, bias=(0.0, 1.0), width=0.25, depth=1 / 3)
    exported = export_model(model)
    path = tmp_path / "resnet.nir"
    write_exported(exported, path, {})
    g = nir.read(str(path))
    into = {}
    for src, dst in g.edges:
        into.setdefault(dst, []).append(src)
    assert sorted(into["s1b1_conv2"]) == ["s1b1_conv2_in0_weight", "s1b1_conv2_in1_weight"]
    assert isinstance(g.nodes["s2b1_conv2_in1_weight"], nir.Conv2d)
    assert isinstance(g.nodes["readout_in0_pool"], nir.SumPool2d)  # the global average pooling
    loaded = read_nir(path)
    x_int, _ = exported.graph.quantize_input(x.numpy())
    before = simulate(exported.graph, direct_encode(x_int, 4))
    after = simulate(loaded.graph, direct_encode(x_int, 4))
    np.testing.assert_array_equal(before.output, after.output)


def test_a_trained_resnet_keeps_its_accuracy_on_loihi_sim(tmp_path):
    """A small DA-LIF ResNet (per-neuron decays, the default) trained on digits: the exported
    integer model on loihi-sim within 1 point of the float model on the 360 test digits, and
    its NIR file (per-channel Conv2d biases carrying per-neuron rounding) runs the same."""
    from dalif.config import ModelConfig
    from dalif.data import DATASETS, load_dataset
    from dalif.train import evaluate, train
    from deploy.run import run_backend

    info = DATASETS["digits"]
    config = ModelConfig(model="resnet20", width=0.5, depth=1 / 3, input_shape=info.input_shape,
                         input_scale=info.input_scale, timesteps=4)
    x, y = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # float sums, and so the trained model, depend on the thread count
    try:
        model, _ = train(config, x, y, epochs=6, progress=False)
    finally:
        torch.set_num_threads(threads)
    float_accuracy = evaluate(model, x_test, y_test)
    assert float_accuracy > 0.9
    exported = export_model(model)
    clipped = {name: {k: v for k, v in counts.items() if v}
               for name, counts in exported.graph.quantization_report.items() if any(counts.values())}
    assert not clipped, clipped  # the weight exponent leaves room for every bias
    write_exported(exported, tmp_path / "resnet.nir", {})
    deployed = read_nir(tmp_path / "resnet.nir")
    result = run_backend("loihi-sim", deployed, x_test.numpy())
    quantized_accuracy = float(np.mean(result.predictions == y_test.numpy()))
    assert abs(quantized_accuracy - float_accuracy) <= 0.01, (float_accuracy, quantized_accuracy)


@pytest.mark.parametrize("arch", ["resnet19", "resnet20", "vgg11"])
def test_cifar_nets_train_export_and_simulate_on_digits(arch, tmp_path, capsys):
    from dalif.cli import main

    ckpt, model, out = tmp_path / "m.pt", tmp_path / "m.nir", tmp_path / "r.json"
    assert main(["train", "--model", arch, "--width", "0.125", "--dataset", "digits", "--epochs", "1",
                 "--limit-train", "64", "--granularity", "channel", "--out", str(ckpt), "--quiet"]) == 0
    assert main(["export", str(ckpt), "--out", str(model)]) == 0
    assert main(["simulate", str(model), "--limit", "20", "--out", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    names = [layer["name"] for layer in result["layers"]]
    assert names[0] in ("stem", "s1c1") and names[-1] == "readout" and result["samples"] == 20
    capsys.readouterr()
