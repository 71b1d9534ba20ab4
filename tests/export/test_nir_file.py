"""Export → NIR file: nir.read with type checking, float parameters, integer metadata, round trip."""

import nir
import numpy as np

from export import export_model, write_exported
from hardware_sim.engine import direct_encode, simulate
from hardware_sim.ir.nir import read_nir


def test_nir_file_reads_with_type_checking_and_carries_per_neuron_decays(make_model, tmp_path):
    model, _ = make_model("convnet", "neuron")
    exported = export_model(model)
    path = tmp_path / "model.nir"
    write_exported(exported, path, {"note": "test"})
    g = nir.read(str(path), type_check=True)
    lif = g.nodes["conv1"]
    assert isinstance(lif, nir.LIF)
    assert lif.tau.shape == (16, 8, 8)  # full layer shape
    beta = 1 - 1 / lif.tau
    # per-neuron decays: values differ within the layer, and within one channel
    assert np.unique(np.round(beta, 6)).size > 100
    assert np.unique(np.round(beta[0], 6)).size > 1
    # float β in the file is the quantized one: β = 1 - dv/4096 exactly
    dv = g.metadata["dalif"]["populations"]["conv1"]["dv"]
    np.testing.assert_allclose(beta, 1 - dv / 4096, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(dv, exported.graph.populations[0].dv)
    assert isinstance(g.nodes["readout"], nir.I)
    assert {type(n).__name__ for n in g.nodes.values()} >= {"Input", "Conv2d", "LIF", "SumPool2d",
                                                             "Flatten", "Affine", "I", "Output"}


def test_float_parameters_describe_the_quantized_model(make_model, tmp_path):
    """Dequantized NIR weights equal int weights × the stored scale, thresholds likewise."""
    model, _ = make_model("mlp", "neuron")
    exported = export_model(model)
    path = tmp_path / "m.nir"
    write_exported(exported, path, {})
    g = nir.read(str(path))
    pop = exported.graph.populations[0]
    proj = pop.projections[0]
    w_float = g.nodes["fc1_in0_weight"].weight
    expected = proj.weight * pop.v_scale * 2.0 ** (proj.weight_exp + 6) / exported.graph.input_scale
    np.testing.assert_allclose(w_float, expected, rtol=1e-6)
    np.testing.assert_allclose(g.nodes["fc1"].v_threshold, pop.vth * 64 * pop.v_scale, rtol=1e-12)


def test_round_trip_runs_identically(make_model, tmp_path):
    model, x = make_model("convnet", "neuron")
    exported = export_model(model)
    path = tmp_path / "model.nir"
    write_exported(exported, path, {"k": 1})
    loaded = read_nir(path)
    assert loaded.timesteps == 4 and loaded.info["k"] == 1 and not loaded.foreign
    x_int, _ = exported.graph.quantize_input(x.numpy())
    before = simulate(exported.graph, direct_encode(x_int, 4))
    after = simulate(loaded.graph, direct_encode(x_int, 4))
    np.testing.assert_array_equal(before.output, after.output)
    for a, b in zip(exported.graph.populations, loaded.graph.populations):
        np.testing.assert_array_equal(a.dv, b.dv)
        np.testing.assert_array_equal(a.projections[0].weight, b.projections[0].weight)
        assert a.projections[0].weight_exp == b.projections[0].weight_exp


def test_foreign_file_without_metadata_is_quantized_from_float_parameters(make_model, tmp_path):
    """Strip the integer truth: the reader re-quantizes the float parameters, which
    encode the quantized model, and recovers integer weights up to a common scale."""
    model, x = make_model("mlp", "layer")
    exported = export_model(model)
    path = tmp_path / "m.nir"
    write_exported(exported, path, {})
    g = nir.read(str(path))
    g.metadata = {}
    foreign = tmp_path / "foreign.nir"
    nir.write(str(foreign), g)
    loaded = read_nir(foreign, timesteps=4, input_scale=exported.graph.input_scale)
    assert loaded.foreign
    for a, b in zip(exported.graph.populations, loaded.graph.populations):
        np.testing.assert_array_equal(a.dv, b.dv)
        assert np.abs(a.projections[0].weight - b.projections[0].weight).max() <= 1
    x_int, _ = exported.graph.quantize_input(x.numpy())
    ours = simulate(exported.graph, direct_encode(x_int, 4))
    theirs = simulate(loaded.graph, direct_encode(x_int, 4))
    assert (ours.predictions == theirs.predictions).mean() > 0.9
