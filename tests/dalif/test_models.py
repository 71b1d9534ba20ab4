"""Model zoo: graph structure (the exporter's interface), forward semantics and the config."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dalif.config import ARCHITECTURES, MODELS, NEURON_BUDGET, PARAMETER_BUDGET
from dalif.models import (
    Conv,
    Dense,
    Layer,
    ModelConfig,
    ModelSpec,
    Pool,
    Readout,
    Shortcut,
    SpecError,
    SpikingLayer,
    build_model,
    build_spec,
)
from dalif.neuron import DALIF


def _types(model):
    return [type(layer) for layer in model.layers]


def test_mlp_structure():
    model = build_model(ModelConfig(model="mlp"))
    assert _types(model) == [nn.Flatten, SpikingLayer, SpikingLayer, nn.Linear]
    first, second, readout = model.layers[1], model.layers[2], model.layers[3]
    assert (first.synapse.in_features, first.synapse.out_features) == (64, 128)
    assert (second.synapse.in_features, second.synapse.out_features) == (128, 64)
    assert first.synapse.bias is None and isinstance(first.norm, nn.BatchNorm1d)
    assert first.neuron.shape == (128,) and first.shortcut is None
    assert (readout.in_features, readout.out_features) == (64, 10)
    assert readout.bias is not None
    assert model.spiking_names == ["fc1", "fc2"]


def test_convnet_structure_for_digits():
    model = build_model(ModelConfig(model="convnet"))
    assert _types(model) == [
        SpikingLayer, nn.AvgPool2d, SpikingLayer, nn.AvgPool2d, nn.Flatten, nn.Linear
    ]
    conv1, conv2 = model.layers[0].synapse, model.layers[2].synapse
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size) == (1, 16, (3, 3))
    assert conv1.padding == (1, 1) and conv1.bias is None
    assert (conv2.in_channels, conv2.out_channels) == (16, 32)
    assert isinstance(model.layers[0].norm, nn.BatchNorm2d)
    assert model.layers[0].neuron.shape == (16, 8, 8)
    assert model.layers[2].neuron.shape == (32, 4, 4)
    assert model.layers[1].kernel_size == 2
    assert model.layers[5].in_features == 32 * 2 * 2


def test_version_1_state_dict_keys_are_kept():
    """The mlp and the convnet keep version 1's module indices, so old checkpoints load."""
    keys = list(build_model(ModelConfig(model="convnet")).state_dict())
    assert keys[:8] == ["layers.0.synapse.weight", "layers.0.norm.weight", "layers.0.norm.bias",
                        "layers.0.norm.running_mean", "layers.0.norm.running_var",
                        "layers.0.norm.num_batches_tracked", "layers.0.neuron.a", "layers.0.neuron.b"]
    assert keys[-2:] == ["layers.5.weight", "layers.5.bias"]
    mlp = list(build_model(ModelConfig(model="mlp")).state_dict())
    assert mlp[0] == "layers.1.synapse.weight" and mlp[-1] == "layers.3.bias"


def test_convnet_sizes_follow_the_input_shape():
    model = build_model(ModelConfig(model="convnet", input_shape=(1, 28, 28)))
    assert model.layers[2].neuron.shape == (32, 14, 14)
    assert model.layers[5].in_features == 32 * 7 * 7


def _convs(model):
    """(in, out, kernel, stride) of every main-path conv, in order."""
    return [(m.synapse.in_channels, m.synapse.out_channels, m.synapse.kernel_size[0],
             m.synapse.stride[0]) for m in model.layers
            if isinstance(m, SpikingLayer) and isinstance(m.synapse, nn.Conv2d)]


def _meta(config):
    with torch.device("meta"):
        return build_model(config)


def test_resnet19_is_the_tet_layout():
    """Stem 3×3/128; stages of 3, 3, 2 basic blocks at 128/256/512 channels, strides 1, 2, 2;
    global average pooling; FC 256; FC 10: 17 convs + 2 FCs = 19 weight layers."""
    model = _meta(ModelConfig(model="resnet19", input_shape=(3, 32, 32)))
    expected = [(3, 128, 3, 1)]
    for channels, blocks, stride, before in ((128, 3, 1, 128), (256, 3, 2, 128), (512, 2, 2, 256)):
        for b in range(blocks):
            expected += [(before if b == 0 else channels, channels, 3, stride if b == 0 else 1),
                         (channels, channels, 3, 1)]
    assert _convs(model) == expected
    shortcuts = [(n.name, n.shortcut.kind, n.shortcut.stride) for n in model.spec.layers
                 if n.shortcut is not None]
    assert len(shortcuts) == 8
    assert [s for s in shortcuts if s[1] == "conv"] == [("s2b1_conv2", "conv", 2), ("s3b1_conv2", "conv", 2)]
    gap = model.layer("gap")
    assert isinstance(gap, nn.AvgPool2d) and gap.kernel_size == 8  # 8×8 maps after two stride-2 stages
    assert (model.layer("fc1").synapse.in_features, model.layer("fc1").synapse.out_features) == (512, 256)
    assert model.layer("readout").in_features == 256
    # the parameter count, from the layout by hand (plus per-neuron decays, 2 per neuron)
    weights = sum(i * o * k * k for i, o, k, _ in expected) + 128 * 256 + 256 * 512  # + 1x1 shortcuts
    weights += 512 * 256 + 256 * 10 + 10
    bn = 2 * (sum(o for _, o, _, _ in expected) + 256 + 512 + 256)
    neurons = 128 * 32 * 32 * 7 + 256 * 16 * 16 * 6 + 512 * 8 * 8 * 4 + 256
    assert sum(p.numel() for p in model.parameters()) == weights + bn + 2 * neurons
    assert model.spec.neuron_count() == neurons + 10


def test_resnet20_and_vgg11_layouts():
    resnet20 = _meta(ModelConfig(model="resnet20", input_shape=(3, 32, 32)))
    convs = _convs(resnet20)
    assert len(convs) == 19 and convs[0] == (3, 16, 3, 1)
    assert [c for c in convs if c[3] == 2] == [(16, 32, 3, 2), (32, 64, 3, 2)]
    assert resnet20.layer("readout").in_features == 64
    vgg = _meta(ModelConfig(model="vgg11", input_shape=(3, 32, 32)))
    assert [(i, o) for i, o, _, _ in _convs(vgg)] == [
        (3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    pools = [m for m in vgg.layers if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == 5  # 32 → 1
    dense = [m.synapse for m in vgg.layers if isinstance(m, SpikingLayer) and isinstance(m.synapse, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(512, 4096), (4096, 4096)]


def test_dvsnet_is_five_conv_stages_and_fc512_on_dvs_frames():
    model = _meta(ModelConfig(model="dvsnet", input_shape=(2, 128, 128), num_classes=11,
                              timesteps=16, input_scale=1.0))
    assert [(i, o) for i, o, _, _ in _convs(model)] == [(2, 128)] + [(128, 128)] * 4
    assert model.layer("fc1").synapse.in_features == 128 * 4 * 4  # 128 / 2^5
    assert model.layer("readout").out_features == 11


def test_pooling_adapts_to_small_inputs_or_is_refused():
    vgg = build_spec(ModelConfig(model="vgg11"))  # 8×8 digits: three poolings fit
    assert [n.name for n in vgg.nodes if isinstance(n, Pool)] == ["pool1", "pool2", "pool3"]
    assert vgg.shape("s5c2") == (512, 1, 1)
    resnet = build_spec(ModelConfig(model="resnet19"))
    assert resnet.shape("gap") == (512, 1, 1) and resnet.shape("s3b2_conv2") == (512, 2, 2)
    with pytest.raises(ValueError, match=r"config.input_shape: .*square"):
        ModelConfig(model="resnet20", input_shape=(1, 1, 8))


def test_width_and_depth_multipliers():
    spec = build_spec(ModelConfig(model="resnet19", width=0.125))
    assert [spec.shape(n)[0] for n in ("stem", "s2b1_conv1", "s3b1_conv1", "fc1")] == [16, 32, 64, 32]
    shallow = build_spec(ModelConfig(model="resnet20", depth=1 / 3))
    assert [n.name for n in shallow.layers if n.name.endswith("conv2")] == [
        "s1b1_conv2", "s2b1_conv2", "s3b1_conv2"]
    assert len(build_spec(ModelConfig(model="vgg11", depth=0.5)).layers) == 5 + 2
    with pytest.raises(ValueError, match="config.depth"):
        ModelConfig(model="mlp", depth=2.0)


def _trained_bn(model, gen):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.2, 0.2, generator=gen)
                module.running_var.uniform_(0.5, 2.0, generator=gen)
                module.weight.uniform_(0.5, 2.0, generator=gen)
                module.bias.uniform_(0.0, 0.8, generator=gen)


def _bn(x, norm):
    shape = (-1,) + (1,) * (x.dim() - 2)
    scale = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).reshape(shape)
    return (x - norm.running_mean.reshape(shape)) * scale + norm.bias.reshape(shape)


def test_residual_layers_add_the_shortcut_before_the_neuron():
    """A downsampling block's second layer, by hand: V = β H + α (BN(conv(s1)) + BN'(conv1x1(s0)))."""
    config = ModelConfig(model="resnet20", width=0.25, depth=1 / 3, timesteps=3, granularity="channel")
    model = build_model(config).eval()
    _trained_bn(model, torch.Generator().manual_seed(0))
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        _, spikes = model.forward_trace(x)
    by_name = dict(zip(model.spiking_names, spikes))
    layer = model.layer("s2b1_conv2")
    s_in, s_mid = by_name["s1b1_conv2"], by_name["s2b1_conv1"]
    alpha, beta = torch.sigmoid(layer.neuron.a), torch.sigmoid(layer.neuron.b)
    h = torch.zeros_like(by_name["s2b1_conv2"][0])
    for t in range(3):
        main = _bn(F.conv2d(s_mid[t], layer.synapse.weight, padding=1), layer.norm)
        short = _bn(F.conv2d(s_in[t], layer.shortcut.synapse.weight, stride=2), layer.shortcut.norm)
        v = beta * h + alpha * (main + short)
        s = (v >= 1.0).float()
        h = v * (1 - s)
        assert torch.equal(s, by_name["s2b1_conv2"][t])
    assert 0 < by_name["s2b1_conv2"].mean() < 1
    # an identity shortcut adds the source's spikes themselves
    ident = model.layer("s1b1_conv2")
    assert ident.shortcut.synapse is None and list(ident.shortcut.parameters()) == []


def test_forward_is_the_mean_over_time_of_the_traced_readout():
    for kind in MODELS:
        config = ModelConfig(model=kind, timesteps=5, threshold=0.5, width=0.125 if kind not in
                             ("mlp", "convnet") else 1.0)
        model = build_model(config).eval()
        x = torch.rand(3, 1, 8, 8)
        readout, spikes = model.forward_trace(x)
        assert readout.shape == (5, 3, 10)
        assert len(spikes) == len(model.spec.layers)
        assert torch.allclose(model(x), readout.mean(0))
        assert torch.equal(model(x, per_step=True), readout)
        for layer_spikes in spikes:
            assert layer_spikes.shape[:2] == (5, 3)
            assert set(layer_spikes.unique().tolist()) <= {0.0, 1.0}


def test_sequences_feed_one_input_per_step():
    """(B, T, ...) inputs: the same image at every step equals direct encoding; a sequence
    drives the first layer with x[:, t] at step t."""
    config = ModelConfig(model="resnet20", width=0.25, depth=1 / 3, timesteps=4, granularity="layer")
    model = build_model(config).eval()
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        static, _ = model.forward_trace(x)
        repeated, _ = model.forward_trace(x[:, None].expand(2, 4, 1, 8, 8))
        assert torch.equal(static, repeated)
        seq = torch.rand(2, 4, 1, 8, 8)
        _, spikes = model.forward_trace(seq)
        stem = model.layer("stem")
        current = _bn(F.conv2d(seq.transpose(0, 1).flatten(0, 1), stem.synapse.weight, padding=1),
                      stem.norm).unflatten(0, (4, 2))
        assert torch.equal(spikes[0], stem.neuron(current))
    with pytest.raises(ValueError, match="T = 4"):
        model(torch.rand(2, 3, 1, 8, 8))
    with pytest.raises(ValueError, match="expected inputs"):
        model(torch.rand(2, 8, 8))


def test_first_block_spikes_match_a_hand_written_pipeline():
    model = build_model(ModelConfig(model="convnet", timesteps=3, channels=[4, 8])).eval()
    block = model.layers[0]
    with torch.no_grad():  # make BN do something visible
        block.norm.running_mean.uniform_(-0.2, 0.2)
        block.norm.running_var.uniform_(0.5, 2.0)
        block.norm.weight.uniform_(0.5, 2.0)
        block.norm.bias.uniform_(-0.5, 0.5)
    x = torch.rand(2, 1, 8, 8)
    current = _bn(F.conv2d(x, block.synapse.weight, padding=1), block.norm)
    alpha = torch.sigmoid(block.neuron.a)
    beta = torch.sigmoid(block.neuron.b)
    h = torch.zeros_like(current)
    expected = []
    for _ in range(3):  # direct encoding: the same current every step
        v = beta * h + alpha * current
        s = (v >= 1.0).float()
        h = v * (1 - s)
        expected.append(s)
    with torch.no_grad():
        _, spikes = model.forward_trace(x)
    assert torch.equal(spikes[0], torch.stack(expected))


def test_granularity_and_neuron_kind_reach_every_block():
    model = build_model(ModelConfig(granularity="channel"))
    neurons = [m for m in model.modules() if isinstance(m, DALIF)]
    assert [n.a.shape for n in neurons] == [(16, 1, 1), (32, 1, 1)]
    lif = build_model(ModelConfig(neuron="lif", lif_beta=0.25))
    lif_neurons = [m for m in lif.modules() if isinstance(m, DALIF)]
    assert all(torch.equal(n.beta(), torch.full(n.shape, 0.25)) for n in lif_neurons)
    dalif_params = sum(p.numel() for p in model.parameters())
    lif_params = sum(p.numel() for p in lif.parameters())
    assert dalif_params - lif_params == 2 * (16 + 32)
    resnet = build_model(ModelConfig(model="resnet20", width=0.25, decay_fn="tanh", neuron="lif"))
    assert all(n.kind == "lif" and n.decay_fn == "tanh" for n in resnet.modules() if isinstance(n, DALIF))


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("granularity", ["layer", "neuron"])
def test_spec_counts_what_torch_builds(kind, granularity):
    config = ModelConfig(model=kind, input_shape=(3, 32, 32), granularity=granularity)
    model = _meta(config)
    assert model.spec.parameter_count(config.neuron, granularity) == \
        sum(p.numel() for p in model.parameters())
    neurons = sum(math.prod(m.neuron.shape) for m in model.layers if isinstance(m, SpikingLayer))
    assert model.spec.neuron_count() == neurons + config.num_classes


def test_build_model_depends_on_the_config_seed_only():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = build_model(ModelConfig(seed=7)).state_dict()
    assert torch.rand(1) == before  # the caller's RNG stream is untouched
    second = build_model(ModelConfig(seed=7)).state_dict()
    other = build_model(ModelConfig(seed=8)).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["layers.0.synapse.weight"], other["layers.0.synapse.weight"])


def test_config_round_trip_through_json():
    config = ModelConfig(
        model="mlp", input_shape=[1, 28, 28], hidden=[32], input_scale=1 / 255, seed=3
    )
    assert config.input_shape == (1, 28, 28) and config.hidden == (32,)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["input_shape"] == [1, 28, 28]
    assert "width" not in data and "depth" not in data  # version-1 keys only, at the defaults
    restored = ModelConfig.from_dict(data)
    assert restored == config
    assert isinstance(restored.input_shape, tuple) and isinstance(restored.channels, tuple)
    wide = ModelConfig(model="resnet19", width=0.25)
    assert wide.channels == (128, 256, 512) and wide.hidden == (256,)
    assert wide.to_dict()["width"] == 0.25 and ModelConfig.from_dict(wide.to_dict()) == wide


def test_from_dict_rejects_unknown_keys_by_name():
    data = ModelConfig().to_dict()
    data["dropout"] = 0.1
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig.from_dict(data)


@pytest.mark.parametrize(
    "field, value",
    [
        ("model", "resnet"),
        ("granularity", "synapse"),
        ("timesteps", 0),
        ("timesteps", "4"),
        ("threshold", -1.0),
        ("threshold", float("inf")),
        ("input_shape", [8, 8]),
        ("hidden", [64, "x"]),
        ("channels", [16, 32, 64, 128]),  # four poolings do not fit into 8×8
        ("channels", [10**9, 32]),
        ("width", 0.0),
        ("depth", 100.0),
    ],
)
def test_invalid_config_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"config.{field}"):
        ModelConfig(**{field: value})


def test_sizes_are_checked_against_the_budget_before_anything_is_built():
    with pytest.raises(ValueError, match=r"config.hidden: the mlp would hold 1,603,280,010 parameters"):
        ModelConfig(model="mlp", hidden=[40000, 40000])
    with pytest.raises(ValueError, match=r"config.input_shape: the resnet20 would hold [\d,]+ param"):
        ModelConfig(model="resnet20", input_shape=(1, 1024, 1024))  # decays per neuron
    with pytest.raises(ValueError, match=r"config.num_classes: the convnet would hold [\d,]+ param"):
        ModelConfig(model="convnet", input_shape=(1, 4096, 4096), num_classes=100)
    with pytest.raises(ValueError, match=r"config.input_shape: the resnet20 would hold [\d,]+ neurons"):
        ModelConfig(model="resnet20", input_shape=(1, 2048, 2048), granularity="layer")
    assert PARAMETER_BUDGET >= 10 * 12_708_682 and NEURON_BUDGET >= 10 * 1_442_058


def test_graph_round_trip_and_errors_name_the_node():
    spec = build_spec(ModelConfig(model="resnet19", width=0.125))
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    shape = (1, 8, 8)
    with pytest.raises(SpecError, match="'b': source 'a' is not an earlier node"):
        ModelSpec(shape, (Layer("b", "a", Conv(4)), Readout("r", "b", 2)))
    with pytest.raises(SpecError, match="'j': identity shortcut"):
        ModelSpec(shape, (Layer("a", "input", Conv(4)), Layer("j", "a", Conv(8), Shortcut("a")),
                          Readout("r", "j", 2)))
    with pytest.raises(SpecError, match="readout must be the last"):
        ModelSpec(shape, (Readout("r", "input", 2), Layer("a", "input", Dense(4))))
    with pytest.raises(SpecError, match="does not fit"):
        ModelSpec(shape, (Pool("p", "input", 16), Readout("r", "p", 2)))
    with pytest.raises(SpecError, match="node 0"):
        ModelSpec.from_dict({"input_shape": [1, 8, 8], "nodes": [{"kind": "layer", "name": "a"}]})


def test_registry_lists_the_zoo():
    assert set(ARCHITECTURES) == set(MODELS) == {"mlp", "convnet", "resnet19", "resnet20", "vgg11",
                                                 "dvsnet"}
