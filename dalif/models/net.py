"""The torch side of a model graph (:mod:`dalif.models.spec`): one module per node.

``SpikingNet.layers[i]`` is the module of ``SpikingNet.spec.nodes[i]``:

    Layer     SpikingLayer: synapse (Conv2d / Linear, no bias) → BatchNorm
              [+ shortcut: identity, or ShortcutPath 1×1 Conv2d → BatchNorm2d] → DALIF
    Pool      AvgPool2d(k) (global: k = the source's height), applied to spikes
    Flatten   Flatten
    Readout   Linear (with bias), applied at every step

The exporter (``export.fold``) reads the same graph, so a new architecture is a new
arrangement of these nodes, not new export code. (The mlp and the convnet keep the module
indices of version 1, so their checkpoints load unchanged.)

Inputs: a static image (B, C, H, W) is the synaptic input at each of the T steps (direct
encoding); a sequence (B, T, C, H, W) gives step t its own input x[:, t] (event frames,
rows of a sequential task). The readout is applied at every step and the logits are its
average over T.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dalif.config import ModelConfig
from dalif.models.spec import INPUT, Conv, Dense, Flatten, Layer, ModelSpec, Pool, Readout
from dalif.models.zoo import build_spec
from dalif.neuron import DALIF


class ShortcutPath(nn.Module):
    """The shortcut of a residual join: the identity (no modules), or 1×1 conv → BN."""

    def __init__(self, synapse: nn.Conv2d | None = None, norm: nn.Module | None = None) -> None:
        super().__init__()
        if (synapse is None) != (norm is None):
            raise ValueError("a shortcut has both a synapse and a norm, or neither (identity)")
        self.synapse = synapse
        self.norm = norm

    def forward(self, frames: Tensor) -> Tensor:
        if self.synapse is None:
            return frames
        return self.norm(self.synapse(frames))


class SpikingLayer(nn.Module):
    """synapse → batch norm [+ shortcut] → DA-LIF, on sequences (T, B, ...).

    Synapse and norm see the T·B frames as one batch (so BN statistics pool over
    time, which is what folding one set of BN constants into the weights needs);
    the neuron then runs over T. A Linear synapse flattens its frames.
    """

    def __init__(self, synapse: nn.Conv2d | nn.Linear, norm: nn.Module, neuron: DALIF,
                 shortcut: ShortcutPath | None = None) -> None:
        super().__init__()
        self.synapse = synapse
        self.norm = norm
        self.neuron = neuron
        self.shortcut = shortcut

    def forward(self, x_seq: Tensor, shortcut_seq: Tensor | None = None) -> Tensor:
        frames = x_seq.flatten(0, 1)
        if isinstance(self.synapse, nn.Linear):
            frames = frames.flatten(1)
        current = self.norm(self.synapse(frames))
        if self.shortcut is not None:
            if shortcut_seq is None:
                raise ValueError("this layer joins a shortcut: give its input sequence")
            current = current + self.shortcut(shortcut_seq.flatten(0, 1))
        return self.neuron(current.unflatten(0, x_seq.shape[:2]))


class SpikingNet(nn.Module):
    """A spiking network: the graph ``spec`` run over T steps, one module per node."""

    def __init__(self, config: ModelConfig, spec: ModelSpec, layers: list[nn.Module]) -> None:
        super().__init__()
        if len(layers) != len(spec.nodes):
            raise ValueError(f"{len(layers)} modules for {len(spec.nodes)} nodes")
        self.config = config
        self.spec = spec
        self.layers = nn.ModuleList(layers)
        self._index = {node.name: i for i, node in enumerate(spec.nodes)}
        # the node after which each output is no longer read (freed in inference)
        self._last_use: dict[str, int] = {}
        for i, node in enumerate(spec.nodes):
            self._last_use[node.source] = i
            if isinstance(node, Layer) and node.shortcut is not None:
                self._last_use[node.shortcut.source] = i

    def layer(self, name: str) -> nn.Module:
        """The module of the node called ``name``."""
        return self.layers[self._index[name]]

    @property
    def spiking_names(self) -> list[str]:
        """Names of the DA-LIF layers, in the order ``forward_trace`` returns their spikes."""
        return [node.name for node in self.spec.layers]

    def input_sequence(self, x: Tensor) -> Tensor:
        """(T, B, *input_shape): a static batch repeated over T, or a (B, T, ...) batch
        transposed."""
        shape = tuple(self.config.input_shape)
        timesteps = self.config.timesteps
        if x.dim() == len(shape) + 1 and tuple(x.shape[1:]) == shape:
            return x.unsqueeze(0).expand(timesteps, *x.shape)
        if x.dim() == len(shape) + 2 and tuple(x.shape[2:]) == shape:
            if x.shape[1] != timesteps:
                raise ValueError(f"the model runs T = {timesteps} steps; the input sequences "
                                 f"have {x.shape[1]}")
            return x.transpose(0, 1)
        raise ValueError(f"expected inputs (B, {', '.join(map(str, shape))}) or "
                         f"(B, T, {', '.join(map(str, shape))}), got {tuple(x.shape)}")

    def forward_trace(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Readout at every step (T, B, classes) and each DA-LIF layer's spikes (T, B, ...),
        in the order of ``spiking_names``.

        ``x``: static images (B, *input_shape), repeated over T steps, or sequences
        (B, T, *input_shape).
        """
        seq = self.input_sequence(x)
        steps, batch = seq.shape[:2]
        outputs: dict[str, Tensor] = {INPUT: seq}
        spikes = []
        keep = torch.is_grad_enabled()
        for i, (node, module) in enumerate(zip(self.spec.nodes, self.layers)):
            source = outputs[node.source]
            if isinstance(node, Layer):
                out = module(source, None if node.shortcut is None else outputs[node.shortcut.source])
                spikes.append(out)
            else:
                frames = source.flatten(0, 1)
                if isinstance(node, Readout):
                    frames = frames.flatten(1)
                out = module(frames).unflatten(0, (steps, batch))
            outputs[node.name] = out
            if not keep:  # inference: drop what no later node reads (spikes are returned)
                for name in [n for n in outputs if self._last_use.get(n, -1) <= i and n != node.name]:
                    del outputs[name]
        return outputs[self.spec.readout.name], spikes

    def forward(self, x: Tensor, per_step: bool = False) -> Tensor:
        """Logits (B, classes): the readout averaged over the T steps; with ``per_step`` the
        readout at every step (T, B, classes), for losses such as TET that see each step."""
        readout = self.forward_trace(x)[0]
        return readout if per_step else readout.mean(0)


def _neuron(config: ModelConfig, shape: tuple[int, ...], index: int) -> DALIF:
    return DALIF(
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


def _module(config: ModelConfig, spec: ModelSpec, node, index: int) -> nn.Module:
    source_shape = spec.shape(node.source)
    if isinstance(node, Flatten):
        return nn.Flatten()
    if isinstance(node, Pool):
        return nn.AvgPool2d(kernel_size=node.kernel or source_shape[1])
    if isinstance(node, Readout):
        return nn.Linear(math.prod(source_shape), node.features)
    shape = spec.shape(node.name)
    syn = node.synapse
    norm: nn.Module
    synapse: nn.Conv2d | nn.Linear
    if isinstance(syn, Conv):
        synapse = nn.Conv2d(source_shape[0], syn.channels, kernel_size=syn.kernel, stride=syn.stride,
                            padding=syn.padding, bias=False)
        norm = nn.BatchNorm2d(syn.channels)
    elif isinstance(syn, Dense):
        synapse = nn.Linear(math.prod(source_shape), syn.features, bias=False)
        norm = nn.BatchNorm1d(syn.features)
    shortcut = None
    if node.shortcut is not None:
        if node.shortcut.kind == "identity":
            shortcut = ShortcutPath()
        else:
            in_channels = spec.shape(node.shortcut.source)[0]
            shortcut = ShortcutPath(nn.Conv2d(in_channels, shape[0], kernel_size=1,
                                              stride=node.shortcut.stride, bias=False),
                                    nn.BatchNorm2d(shape[0]))
    return SpikingLayer(synapse, norm, _neuron(config, shape, index), shortcut)


def build_model(config: ModelConfig, spec: ModelSpec | None = None) -> SpikingNet:
    """Build the network ``config`` describes (its zoo graph, or ``spec``), initialised from
    ``config.seed`` alone.

    The global RNG is forked, so building a model neither depends on nor disturbs
    the caller's random state. Modules are made in node order, each layer's synapse, norm,
    shortcut and neuron in turn; the neuron of the i-th DA-LIF layer draws its initial
    decays from seed ``1000·config.seed + i``.
    """
    spec = build_spec(config) if spec is None else spec
    if spec.input_shape != tuple(config.input_shape):
        raise ValueError(f"the graph takes inputs {spec.input_shape}, the config "
                         f"{tuple(config.input_shape)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        layers: list[nn.Module] = []
        spiking = 0
        for node in spec.nodes:
            layers.append(_module(config, spec, node, spiking))
            spiking += isinstance(node, Layer)
        return SpikingNet(config, spec, layers)
