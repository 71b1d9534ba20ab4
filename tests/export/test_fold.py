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


# -- graph-shaped models: residual joins, global average pooling, deep stacks ----------------

# (architecture, extra config, the block types it holds)
GRAPHS = {
    "resnet20": (dict(width=0.25, depth=1 / 3), {"identity", "downsample", "gap"}),
    "resnet19": (dict(width=0.125, depth=0.5), {"identity", "downsample", "gap", "fc"}),
    "vgg11": (dict(width=0.0625, depth=0.5), {"pool", "fc"}),
    "dvsnet": (dict(width=0.125), {"pool", "fc"}),
}


def _block_types(model):
    from dalif.models import Dense, Layer, Pool

    types = set()
    for node in model.spec.nodes:
        if isinstance(node, Layer) and node.shortcut is not None:
            types.add("identity" if node.shortcut.kind == "identity" else "downsample")
        if isinstance(node, Layer) and isinstance(node.synapse, Dense):
            types.add("fc")
        if isinstance(node, Pool):
            types.add("gap" if node.kernel is None else "pool")
    return types


@pytest.mark.parametrize("arch", sorted(GRAPHS))
@pytest.mark.parametrize("granularity", ["layer", "channel", "neuron"])
def test_folded_graph_spikes_like_the_unfused_graph_model(make_model, arch, granularity):
    """Spike for spike on every layer, the unfused torch forward (in float64, so that no
    spike turns on float32 rounding) against the folded graph through the float reference."""
    extra, blocks = GRAPHS[arch]
    model, x = make_model(arch, granularity, seed=1, bias=(0.0, 1.0), **extra)
    assert _block_types(model) == blocks
    model = model.double()
    with torch.no_grad():
        readout, layer_spikes = model.forward_trace(x.double())
    graph = fold_model(model)
    folded_readout, folded_spikes = run_float_graph(graph, x, timesteps=4)
    assert [p.name for p in graph.populations if not p.readout] == model.spiking_names
    for name, spikes in zip(model.spiking_names, layer_spikes):
        assert 0 < spikes.mean() < 1, f"{name}: the comparison needs activity"
        torch.testing.assert_close(folded_spikes[name], spikes, atol=0, rtol=0)
    torch.testing.assert_close(folded_readout, readout.cumsum(0), atol=1e-9, rtol=1e-9)
    joins = [p for p in graph.populations if len(p.projections) == 2]
    assert len(joins) == sum(1 for n in model.spec.layers if n.shortcut is not None)


def _bn_scale_shift(norm):
    weight, bias, mean, var = (t.detach().double().numpy() for t in
                               (norm.weight, norm.bias, norm.running_mean, norm.running_var))
    scale = weight / np.sqrt(var + norm.eps)
    return scale, bias - mean * scale


def test_residual_joins_fold_into_two_projections(make_model):
    """Per-channel α: the identity shortcut becomes a 1×1 conv holding α on its diagonal, the
    downsample shortcut its BN-folded 1×1 kernel times α, and the bias α·(b'_main + b'_sc)."""
    model, _ = make_model("resnet20", "channel", depth=1 / 3, width=0.25)
    graph = fold_model(model)

    ident = graph.population("s1b1_conv2")
    main, short = ident.projections
    assert (main.source, short.source) == ("s1b1_conv1", "stem")
    alpha = model.layer("s1b1_conv2").neuron.alpha().detach().double().numpy()[:, 0, 0]
    np.testing.assert_array_equal(short.weight[:, :, 0, 0], np.diag(alpha))
    assert (short.kind, short.stride, short.padding, short.pool) == ("conv", (1, 1), (0, 0), 1)

    down = graph.population("s2b1_conv2")
    layer = model.layer("s2b1_conv2")
    alpha = layer.neuron.alpha().detach().double().numpy()[:, 0, 0]
    sc_scale, sc_shift = _bn_scale_shift(layer.shortcut.norm)
    _, shift = _bn_scale_shift(layer.norm)
    w = layer.shortcut.synapse.weight.detach().double().numpy()
    np.testing.assert_allclose(down.projections[1].weight,
                               w * (sc_scale * alpha)[:, None, None, None], rtol=1e-12)
    assert (down.projections[1].stride, down.projections[1].source) == ((2, 2), "s1b1_conv2")
    np.testing.assert_allclose(down.bias, np.broadcast_to((alpha * (shift + sc_shift))[:, None, None],
                                                          down.shape), rtol=1e-12)


def test_global_average_pooling_is_a_sum_pool_into_the_readout(make_model):
    model, _ = make_model("resnet20", "layer", depth=1 / 3, width=0.25)
    graph = fold_model(model)
    readout = graph.output_population
    (proj,) = readout.projections
    assert (proj.source, proj.source_shape, proj.pool) == ("s3b1_conv2", (16, 2, 2), 2)
    np.testing.assert_allclose(proj.weight, model.layer("readout").weight.detach().double().numpy() / 4)


def test_sequences_run_the_same_through_the_fold(make_model):
    """A (B, T, ...) input: the torch model and the folded graph, step t fed x[:, t]."""
    model, _ = make_model("resnet20", "neuron", seed=2, bias=(0.0, 1.0), depth=1 / 3, width=0.25)
    model = model.double()
    x = torch.randint(0, 17, (16, 4, 1, 8, 8), generator=torch.Generator().manual_seed(3)).double() / 16
    with torch.no_grad():
        readout, spikes = model.forward_trace(x)
    folded_readout, folded_spikes = run_float_graph(fold_model(model), x, timesteps=4)
    for name, s in zip(model.spiking_names, spikes):
        torch.testing.assert_close(folded_spikes[name], s, atol=0, rtol=0)
    torch.testing.assert_close(folded_readout, readout.cumsum(0), atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("neuron, decay_fn", [("lif", "sigmoid"), ("dalif", "tanh")])
def test_plain_lif_and_tanh_decays_fold_like_the_unfused_resnet(make_model, neuron, decay_fn):
    model, x = make_model("resnet20", "neuron", seed=1, bias=(0.0, 1.0), width=0.25, depth=1 / 3,
                          neuron=neuron, decay_fn=decay_fn)
    model = model.double()
    with torch.no_grad():
        _, layer_spikes = model.forward_trace(x.double())
    graph = fold_model(model)
    _, folded_spikes = run_float_graph(graph, x, timesteps=4)
    for name, spikes in zip(model.spiking_names, layer_spikes):
        assert 0 < spikes.mean() < 1, name
        torch.testing.assert_close(folded_spikes[name], spikes, atol=0, rtol=0)
    if neuron == "lif":  # α = 1 everywhere: nothing to fold, no gains
        assert all(p.gain is None for p in graph.populations)
