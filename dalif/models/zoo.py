"""The model zoo: each architecture is a function from a configuration to a graph (no torch).

Every architecture is an arrangement of the four nodes of :mod:`dalif.models.spec`, so
the exporter folds all of them with the same code. ``ARCHITECTURES`` is the registry:
``dalif.config.MODELS`` and the command line's ``--model`` choices come from it.

    mlp        flatten → Dense DA-LIF layers (``hidden``) → readout
    convnet    [conv 3×3 → avg-pool 2] per entry of ``channels`` → flatten → readout
    resnet19   CIFAR ResNet-19 (TET, DA-LIF): a 3×3 stem of channels[0], basic-block stages
               of (128, 256, 512) channels with (3, 3, 2) blocks and strides (1, 2, 2),
               global average pooling, FC ``hidden`` (256), readout
    resnet20   CIFAR ResNet-20 (He et al. 2016): stem 16, three stages of 3 basic blocks with
               (16, 32, 64) channels and strides (1, 2, 2), global average pooling, readout
    vgg11      VGG-11 (configuration A): conv stages of (64, 128, 256, 512, 512) channels with
               (1, 1, 2, 2, 2) convs, a 2×2 average pooling after each stage, FC ``hidden``
               (4096, 4096), readout
    dvsnet     the DVS128 Gesture convnet of Fang et al. (ICCV 2021, PLIF): five
               [conv 3×3, 128 channels → pool 2] stages, FC 512, readout (average pooling
               where they used max pooling: a sum pool is what the hardware has)

A basic block is two layers: conv 3×3 (stride s) → BN → DA-LIF, then conv 3×3 → BN, joined
with its shortcut (the identity, or a 1×1 stride-s conv → BN where the shape changes) into
the second layer's DA-LIF population.

``width`` scales every channel count and hidden size (rounded, at least 1); ``depth``
scales the repeated units (blocks per stage, convs per VGG or DVS stage; at least 1).
The mlp and the convnet have no repeated units: their depth is the length of
``hidden`` / ``channels``.

Inputs smaller than an architecture was drawn for: VGG-11 and the DVS net skip a 2×2
pooling once the map is 1×1 (8×8 digits keep three of VGG's five); the ResNets need no
change (their stride-2 stages take 8×8 to 2×2 before the global pooling); the convnet
refuses, as it always has, pooling stages that do not fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dalif.models.spec import (
    INPUT,
    Conv,
    Dense,
    Flatten,
    Layer,
    ModelSpec,
    Node,
    Pool,
    Readout,
    Shortcut,
    SpecError,
)

if TYPE_CHECKING:
    from dalif.config import ModelConfig


class ArchitectureError(ValueError):
    """A configuration its architecture cannot be built from; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Architecture:
    """One entry of the registry: how to build the graph, and the defaults of the sizes."""

    build: Callable[[ModelConfig], list[Node]]
    channels: tuple[int, ...]
    hidden: tuple[int, ...]
    summary: str
    scales_depth: bool = True


def scaled(size: int, factor: float) -> int:
    """``size`` × ``factor`` rounded half up, at least 1."""
    return max(1, math.floor(size * factor + 0.5))


def _widths(config: ModelConfig, name: str) -> list[int]:
    return [scaled(c, config.width) for c in getattr(config, name)]


def _mlp(config: ModelConfig) -> list[Node]:
    hidden = _widths(config, "hidden")
    if not hidden:
        raise ArchitectureError("hidden", "the mlp needs at least one hidden layer")
    nodes: list[Node] = [Flatten("flatten", INPUT)]
    source = "flatten"
    for index, features in enumerate(hidden):
        nodes.append(Layer(f"fc{index + 1}", source, Dense(features)))
        source = nodes[-1].name
    return nodes + [Readout("readout", source, config.num_classes)]


def _convnet(config: ModelConfig) -> list[Node]:
    channels = _widths(config, "channels")
    if not channels:
        raise ArchitectureError("channels", "the convnet needs at least one conv layer")
    _, height, width = config.input_shape
    reduction = 2 ** len(channels)
    if height < reduction or width < reduction:
        raise ArchitectureError(
            "channels", f"{len(channels)} pooling stages need inputs of at least "
                        f"{reduction}x{reduction}, got {height}x{width}")
    nodes: list[Node] = []
    source = INPUT
    for index, out in enumerate(channels):
        nodes += [Layer(f"conv{index + 1}", source, Conv(out)),
                  Pool(f"pool{index + 1}", f"conv{index + 1}", 2)]
        source = f"pool{index + 1}"
    return nodes + [Flatten("flatten", source), Readout("readout", "flatten", config.num_classes)]


def _classifier(config: ModelConfig, nodes: list[Node], source: str) -> list[Node]:
    for index, features in enumerate(_widths(config, "hidden")):
        nodes.append(Layer(f"fc{index + 1}", source, Dense(features)))
        source = nodes[-1].name
    return nodes + [Readout("readout", source, config.num_classes)]


def _resnet(blocks: tuple[int, ...], strides: tuple[int, ...]) -> Callable[[ModelConfig], list[Node]]:
    def build(config: ModelConfig) -> list[Node]:
        channels = _widths(config, "channels")
        if len(channels) != len(blocks):
            raise ArchitectureError(
                "channels", f"{config.model} has {len(blocks)} stages: give {len(blocks)} widths, "
                            f"got {list(config.channels)}")
        nodes: list[Node] = [Layer("stem", INPUT, Conv(channels[0]))]
        source, in_channels = "stem", channels[0]
        for stage, (out, count, stride) in enumerate(zip(channels, blocks, strides), start=1):
            for block in range(1, scaled(count, config.depth) + 1):
                name = f"s{stage}b{block}"
                s = stride if block == 1 else 1
                shortcut = (Shortcut(source, "identity") if s == 1 and in_channels == out
                            else Shortcut(source, "conv", s))
                nodes += [Layer(f"{name}_conv1", source, Conv(out, 3, s, 1)),
                          Layer(f"{name}_conv2", f"{name}_conv1", Conv(out), shortcut)]
                source, in_channels = f"{name}_conv2", out
        nodes.append(Pool("gap", source, None))
        return _classifier(config, nodes, "gap")

    return build


def _vgg(convs: tuple[int, ...] | None) -> Callable[[ModelConfig], list[Node]]:
    """Conv stages, each followed by a 2×2 average pooling while the map is larger than 1×1;
    ``convs`` per stage (None: one per entry of ``channels``)."""

    def build(config: ModelConfig) -> list[Node]:
        channels = _widths(config, "channels")
        per_stage = convs if convs is not None else (1,) * len(channels)
        if len(channels) != len(per_stage):
            raise ArchitectureError(
                "channels", f"{config.model} has {len(per_stage)} stages: give {len(per_stage)} "
                            f"widths, got {list(config.channels)}")
        nodes: list[Node] = []
        source = INPUT
        _, height, width = config.input_shape
        for stage, (out, count) in enumerate(zip(channels, per_stage), start=1):
            for index in range(1, scaled(count, config.depth) + 1):
                nodes.append(Layer(f"s{stage}c{index}", source, Conv(out)))
                source = nodes[-1].name
            if height >= 2 and width >= 2:
                nodes.append(Pool(f"pool{stage}", source, 2))
                source, height, width = f"pool{stage}", height // 2, width // 2
        return _classifier(config, nodes, source)

    return build


ARCHITECTURES: dict[str, Architecture] = {
    "mlp": Architecture(_mlp, channels=(16, 32), hidden=(128, 64), scales_depth=False,
                        summary="Dense DA-LIF layers of sizes --hidden, readout"),
    "convnet": Architecture(_convnet, channels=(16, 32), hidden=(128, 64), scales_depth=False,
                            summary="[conv 3x3, avg-pool 2] per --channels entry, readout"),
    "resnet19": Architecture(_resnet((3, 3, 2), (1, 2, 2)), channels=(128, 256, 512),
                             hidden=(256,), summary="CIFAR ResNet-19 (TET, DA-LIF)"),
    "resnet20": Architecture(_resnet((3, 3, 3), (1, 2, 2)), channels=(16, 32, 64), hidden=(),
                             summary="CIFAR ResNet-20 (He et al. 2016)"),
    "vgg11": Architecture(_vgg((1, 1, 2, 2, 2)), channels=(64, 128, 256, 512, 512),
                          hidden=(4096, 4096), summary="VGG-11 (configuration A)"),
    "dvsnet": Architecture(_vgg(None), channels=(128,) * 5, hidden=(512,),
                           summary="DVS128 Gesture convnet (Fang et al. 2021)"),
}
"""The registry, by name. The mlp's ``channels`` and the convnet's ``hidden`` are unused;
their defaults are those of version-1 configurations, which store both."""


def build_spec(config: ModelConfig) -> ModelSpec:
    """The graph ``config`` describes; ArchitectureError naming the config field at fault."""
    arch = ARCHITECTURES[config.model]
    if not arch.scales_depth and config.depth != 1.0:
        raise ArchitectureError(
            "depth", f"the {config.model}'s depth is the length of "
                     f"{'hidden' if config.model == 'mlp' else 'channels'}; depth must be 1")
    nodes = arch.build(config)
    try:
        return ModelSpec(tuple(config.input_shape), tuple(nodes))
    except SpecError as exc:
        raise ArchitectureError("input_shape", f"{config.model} on {tuple(config.input_shape)} "
                                               f"inputs: {exc}") from None
