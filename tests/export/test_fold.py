"""BN/α folding against the unfused float model (dalif's own forward pass)."""

import numpy as np
import pytest
import torch

from export import export_model, fold_model
from export.float_reference import run_float_graph


@pytest.mark.parametrize("model_kind", ["mlp", "convnet"])
@pytest.mark.parametrize("granularity", ["layer", "channel", "neuron"])
def test_folded_graph_spikes_like_the_unfused_model(make_model, model_kind, granularity):
    model, x = make_model(model_kind, granularity)
    with torch.no_grad():
        readout, block_spikes = model.forward_trace(x)
    graph = fold_model(model)
    folded_readout, folded_spikes = run_float_graph(graph, x, timesteps=4)
    spiking = [p for p in graph.populations if not p.readout]
    assert len(spiking) == len(block_spikes)
    for pop, spikes in zip(spiking, block_spikes):
        assert spikes.sum() > 0, "the comparison needs activity"
        torch.testing.assert_close(folded_spikes[pop.name].float(), spikes.float(), atol=0, rtol=0)
    # The folded readout integrates: its voltage after t steps is the sum of the model's outputs.
    torch.testing.assert_close(folded_readout, readout.double().cumsum(0), atol=1e-6, rtol=1e-6)


def test_per_neuron_alpha_in_a_conv_becomes_a_gain(make_model):
    model, _ = make_model("convnet", "neuron")
    graph = fold_model(model)
    conv1 = graph.populations[0]
    assert conv1.gain is not None and conv1.gain.shape == conv1.shape
    assert np.all(conv1.gain > 0) and np.all(conv1.gain < 4095 / 4096 + 1e-12)
    # gain × folded channel weight reproduces each neuron's α × BN-scaled weight
    block = model.layers[0]
    alpha = block.neuron.alpha().detach().numpy()
    bn = block.norm
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    w = block.synapse.weight.detach().numpy() * scale[:, None, None, None]
    c, h, wd = 3, 2, 5
    np.testing.assert_allclose(conv1.gain[c, h, wd] * conv1.projections[0].weight[c],
                               alpha[c, h, wd] * w[c], rtol=1e-6)


def test_channel_alpha_folds_completely(make_model):
    model, _ = make_model("convnet", "channel")
    assert all(p.gain is None for p in fold_model(model).populations)


def test_avg_pool_becomes_sum_pool_with_scaled_weights(make_model):
    model, _ = make_model("convnet", "layer")
    graph = fold_model(model)
    conv2 = graph.populations[1]
    assert conv2.projections[0].pool == 2
    block = model.layers[2]
    bn = block.norm
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    alpha = float(block.neuron.alpha().detach().flatten()[0])
    expected = block.synapse.weight.detach().numpy() * scale[:, None, None, None] * alpha / 4
    np.testing.assert_allclose(conv2.projections[0].weight, expected, rtol=1e-6)


def test_quantized_model_tracks_the_float_model(make_model):
    """Integer engine vs the float folded model on the same inputs: most predictions agree
    and the first layer's spikes agree almost everywhere."""
    from hardware_sim.engine import direct_encode, simulate

    model, x = make_model("mlp", "neuron")
    exported = export_model(model)
    _, float_spikes = run_float_graph(exported.float_graph, x, timesteps=4)
    x_int, clipped = exported.graph.quantize_input(x.numpy())
    assert clipped == 0
    result = simulate(exported.graph, direct_encode(x_int, 4), record_spikes=True)
    first = exported.graph.populations[0].name
    agreement = (result.spikes[first] == float_spikes[first].numpy().astype(bool)).mean()
    assert agreement > 0.98


def test_float_reference_carries_the_synaptic_current():
    """Hand-worked CubaLIF readout, input 1 through weight 1, β_I = 0.5, β = 1, bias 0.25:
    I = 1, 1.5, 1.75; V = I + b + V_prev = 1.25, 3.0, 5.0."""
    from hardware_sim.ir.graph import INPUT, FloatGraph, FloatPopulation, Projection

    pop = FloatPopulation("out", (1,), [Projection(INPUT, "dense", np.ones((1, 1)), (1,))],
                          beta=np.ones(1), threshold=np.full(1, np.inf), bias=np.full(1, 0.25),
                          readout=True, current_decay=np.full(1, 0.5))
    graph = FloatGraph(input_shape=(1,), populations=[pop], output="out")
    readout, _ = run_float_graph(graph, torch.ones(1, 1), timesteps=3)
    np.testing.assert_allclose(readout[:, 0, 0].numpy(), [1.25, 3.0, 5.0])
