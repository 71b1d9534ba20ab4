"""Model zoo: spiking MLP and convnet built from DA-LIF blocks.

The structure of :class:`SpikingNet` is an interface: the exporter walks
``SpikingNet.layers`` in order and understands exactly these items

    SpikingBlock   synapse (Conv2d k=3 p=1 / Linear, no bias) → BatchNorm → DALIF
    AvgPool2d(2)   applied to spikes
    Flatten
    Linear         the readout (with bias), always last

so a new architecture is a new arrangement of these items, not a new item type.

Inputs are static images fed by direct encoding: the same image is the synaptic
input at each of the T steps. The readout is applied at every step and the logits
are its average over T.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dalif.config import ModelConfig
from dalif.neuron import DALIF


class SpikingBlock(nn.Module):
    """synapse → batch norm → DA-LIF, on sequences (T, B, ...).

    Synapse and norm see the T·B frames as one batch (so BN statistics pool over
    time, which is what folding one set of BN constants into the weights needs);
    the neuron then runs over T.
    """

    def __init__(self, synapse: nn.Conv2d | nn.Linear, norm: nn.Module, neuron: DALIF) -> None:
        super().__init__()
        self.synapse = synapse
        self.norm = norm
        self.neuron = neuron

    def forward(self, x_seq: Tensor) -> Tensor:
        current = self.norm(self.synapse(x_seq.flatten(0, 1)))
        return self.neuron(current.unflatten(0, x_seq.shape[:2]))


class SpikingNet(nn.Module):
    """A feed-forward spiking network: ``layers`` applied in order to a (T, B, ...) sequence."""

    def __init__(self, config: ModelConfig, layers: list[nn.Module]) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(layers)

    def forward_trace(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Readout at every step (T, B, classes) and each SpikingBlock's spikes (T, B, ...).

        ``x`` is a batch of static images (B, *input_shape), repeated over T steps.
        """
        timesteps = self.config.timesteps
        h = x.unsqueeze(0).expand(timesteps, *x.shape)
        block_spikes = []
        for layer in self.layers:
            if isinstance(layer, SpikingBlock):
                h = layer(h)
                block_spikes.append(h)
            else:
                # Pooling, flattening and the readout act on each frame independently.
                h = layer(h.flatten(0, 1)).unflatten(0, (timesteps, x.shape[0]))
        return h, block_spikes

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, classes): the readout averaged over the T steps."""
        return self.forward_trace(x)[0].mean(0)


def _block(
    config: ModelConfig, synapse: nn.Conv2d | nn.Linear, shape: tuple[int, ...], index: int
) -> SpikingBlock:
    norm: nn.Module
    if isinstance(synapse, nn.Conv2d):
        norm = nn.BatchNorm2d(synapse.out_channels)
    else:
        norm = nn.BatchNorm1d(synapse.out_features)
    neuron = DALIF(
        shape,
        kind=config.neuron,
        decay_fn=config.decay_fn,
        granularity=config.granularity,
        threshold=config.threshold,
        lif_beta=config.lif_beta,
        surrogate=config.surrogate,
        steepness=config.steepness,
        seed=config.seed * 1000 + index,
    )
    return SpikingBlock(synapse, norm, neuron)


def build_model(config: ModelConfig) -> SpikingNet:
    """Build the network ``config`` describes, initialised from ``config.seed`` alone.

    The global RNG is forked, so building a model neither depends on nor disturbs
    the caller's random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        layers: list[nn.Module] = []
        channels, height, width = config.input_shape
        if config.model == "mlp":
            layers.append(nn.Flatten())
            features = channels * height * width
            for index, hidden in enumerate(config.hidden):
                synapse = nn.Linear(features, hidden, bias=False)
                layers.append(_block(config, synapse, (hidden,), index))
                features = hidden
        else:
            for index, out_channels in enumerate(config.channels):
                conv = nn.Conv2d(channels, out_channels, kernel_size=3, padding=1, bias=False)
                layers.append(_block(config, conv, (out_channels, height, width), index))
                layers.append(nn.AvgPool2d(kernel_size=2))
                channels, height, width = out_channels, height // 2, width // 2
            layers.append(nn.Flatten())
            features = channels * height * width
        layers.append(nn.Linear(features, config.num_classes))
        return SpikingNet(config, layers)
