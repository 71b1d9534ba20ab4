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

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from dalif.neuron import DALIF, DECAY_FNS, GRANULARITIES, NEURON_KINDS
from dalif.surrogate import SURROGATES

MODELS = ("mlp", "convnet")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored verbatim in checkpoints.

    ``input_scale`` is the quantum of the dataset's inputs (1/16 for digits, 1/255 for
    MNIST): every input is an integer multiple of it, which lets the exporter feed
    the hardware exact integers.
    """

    model: str = "convnet"
    input_shape: tuple[int, ...] = (1, 8, 8)
    num_classes: int = 10
    timesteps: int = 4
    neuron: str = "dalif"
    decay_fn: str = "sigmoid"
    granularity: str = "neuron"
    threshold: float = 1.0
    surrogate: str = "tanh"
    steepness: float = 3.0
    lif_beta: float = 0.5
    hidden: tuple[int, ...] = (128, 64)
    channels: tuple[int, ...] = (16, 32)
    input_scale: float = 1.0 / 16.0
    seed: int = 0

    def __post_init__(self) -> None:
        # Type-check against each field's default, so that a hand-edited JSON file or a
        # damaged checkpoint fails here, naming the field, rather than deep inside torch.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, str):
                ok = isinstance(value, str)
            elif isinstance(f.default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                value = float(value) if ok else value
            elif isinstance(f.default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                # Accept lists (JSON, the command line) but hold tuples, so that a config
                # compares equal to its own round trip through to_dict / from_dict.
                ok = isinstance(value, (list, tuple)) and all(
                    isinstance(d, int) and not isinstance(d, bool) for d in value
                )
                value = tuple(value) if ok else value
            if not ok:
                expected = (
                    "a list of ints" if isinstance(f.default, tuple) else type(f.default).__name__
                )
                raise ValueError(f"config.{f.name}: expected {expected}, got {value!r}")
            setattr(self, f.name, value)
        for name, value, known in (
            ("model", self.model, MODELS),
            ("neuron", self.neuron, NEURON_KINDS),
            ("decay_fn", self.decay_fn, DECAY_FNS),
            ("granularity", self.granularity, GRANULARITIES),
            ("surrogate", self.surrogate, tuple(SURROGATES)),
        ):
            if value not in known:
                raise ValueError(f"config.{name}: unknown value {value!r}; known: {list(known)}")
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"config.input_shape: expected (C, H, W), got {self.input_shape}")
        for name in ("hidden", "channels"):
            sizes = getattr(self, name)
            if not sizes or min(sizes) < 1:
                raise ValueError(f"config.{name}: expected positive sizes, got {list(sizes)}")
        for name in ("num_classes", "timesteps"):
            if getattr(self, name) < 1:
                raise ValueError(f"config.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("threshold", "steepness", "input_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"config.{name}: must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.lif_beta < 1.0:
            raise ValueError(f"config.lif_beta: must lie in [0, 1), got {self.lif_beta}")
        if self.model == "convnet":
            _, height, width = self.input_shape
            reduction = 2 ** len(self.channels)
            if height < reduction or width < reduction:
                raise ValueError(
                    f"config.channels: {len(self.channels)} pooling stages need inputs of at "
                    f"least {reduction}x{reduction}, got {height}x{width}"
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; absent keys take their defaults, unknown keys fail."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"config.{key}: unknown key; known: {sorted(known)}")
        return cls(**data)


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
