"""Model zoo structure (the exporter's interface), forward semantics and the config."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dalif.models import ModelConfig, SpikingBlock, build_model
from dalif.neuron import DALIF


def _types(model):
    return [type(layer) for layer in model.layers]


def test_mlp_structure():
    model = build_model(ModelConfig(model="mlp"))
    assert _types(model) == [nn.Flatten, SpikingBlock, SpikingBlock, nn.Linear]
    first, second, readout = model.layers[1], model.layers[2], model.layers[3]
    assert (first.synapse.in_features, first.synapse.out_features) == (64, 128)
    assert (second.synapse.in_features, second.synapse.out_features) == (128, 64)
    assert first.synapse.bias is None and isinstance(first.norm, nn.BatchNorm1d)
    assert first.neuron.shape == (128,)
    assert (readout.in_features, readout.out_features) == (64, 10)
    assert readout.bias is not None


def test_convnet_structure_for_digits():
    model = build_model(ModelConfig(model="convnet"))
    assert _types(model) == [
        SpikingBlock, nn.AvgPool2d, SpikingBlock, nn.AvgPool2d, nn.Flatten, nn.Linear
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


def test_convnet_sizes_follow_the_input_shape():
    model = build_model(ModelConfig(model="convnet", input_shape=(1, 28, 28)))
    assert model.layers[2].neuron.shape == (32, 14, 14)
    assert model.layers[5].in_features == 32 * 7 * 7


@pytest.mark.parametrize("kind", ["mlp", "convnet"])
def test_forward_is_the_mean_over_time_of_the_traced_readout(kind):
    config = ModelConfig(model=kind, timesteps=5, threshold=0.5)
    model = build_model(config).eval()
    x = torch.rand(3, 1, 8, 8)
    readout, spikes = model.forward_trace(x)
    assert readout.shape == (5, 3, 10)
    assert len(spikes) == 2
    assert torch.allclose(model(x), readout.mean(0))
    for block_spikes in spikes:
        assert block_spikes.shape[:2] == (5, 3)
        assert set(block_spikes.unique().tolist()) <= {0.0, 1.0}
        assert 0 < block_spikes.mean() < 1


def test_first_block_spikes_match_a_hand_written_pipeline():
    model = build_model(ModelConfig(model="convnet", timesteps=3, channels=[4, 8])).eval()
    block = model.layers[0]
    with torch.no_grad():  # make BN do something visible
        block.norm.running_mean.uniform_(-0.2, 0.2)
        block.norm.running_var.uniform_(0.5, 2.0)
        block.norm.weight.uniform_(0.5, 2.0)
        block.norm.bias.uniform_(-0.5, 0.5)
    x = torch.rand(2, 1, 8, 8)
    norm = block.norm
    current = F.conv2d(x, block.synapse.weight, padding=1)
    scale = (norm.weight / torch.sqrt(norm.running_var + norm.eps))[:, None, None]
    current = (current - norm.running_mean[:, None, None]) * scale + norm.bias[:, None, None]
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
    restored = ModelConfig.from_dict(data)
    assert restored == config
    assert isinstance(restored.input_shape, tuple) and isinstance(restored.channels, tuple)


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
        ("input_shape", [8, 8]),
        ("hidden", [64, "x"]),
        ("channels", [16, 32, 64, 128]),  # four poolings do not fit into 8×8
    ],
)
def test_invalid_config_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{field: value})
