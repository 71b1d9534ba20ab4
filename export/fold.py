"""Fold a trained SpikingNet into a FloatGraph: BN and the spatial decay α go into the weights.

For a block  conv/linear W → BN(γ, β_bn, μ, σ²) → DA-LIF(α, β, θ):

    α ⊙ BN(W s) = α ⊙ (W' s + b'),   W' = W·γ/√(σ²+ε),   b' = β_bn − μ·γ/√(σ²+ε)

α per output neuron of a linear layer, or per channel of a conv, scales W' row by
row. α that varies *within* a conv channel cannot live in a shared kernel: the
kernel takes the channel's reference α_ref = max α · 4096/4095 and each neuron
keeps its ratio g = α/α_ref < 1 as a 12-bit input gain (DESIGN §3), while its
bias α·b' stays per neuron. An AvgPool2d(k) before a layer becomes a sum pool
with 1/k² folded into that layer's weights, so spikes stay 1-bit on the wire.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dalif.models import SpikingBlock, SpikingNet
from hardware_sim.ir.graph import INPUT, FloatGraph, FloatPopulation, GraphError, Projection
from hardware_sim.ir.neuron import GAIN_MAX, GAIN_ONE

_GAIN_HEADROOM = GAIN_ONE / GAIN_MAX
"""α_ref = max α · 4096/4095, so that the largest ratio g = α/α_ref is 4095/4096: the largest
12-bit gain."""


class ExportError(ValueError):
    """A model that cannot be exported; the message names the layer."""


def fold_model(model: SpikingNet) -> FloatGraph:
    """The folded float graph of ``model`` (eval-mode BN statistics)."""
    config = model.config
    source, shape = INPUT, tuple(config.input_shape)
    pool = 1
    populations: list[FloatPopulation] = []
    counters = {"conv": 0, "fc": 0}
    with torch.no_grad():
        for index, layer in enumerate(model.layers):
            if isinstance(layer, nn.AvgPool2d):
                pool = _pool_size(layer, index)
                continue
            if isinstance(layer, nn.Flatten):
                continue
            if isinstance(layer, SpikingBlock):
                kind = "conv" if isinstance(layer.synapse, nn.Conv2d) else "fc"
                counters[kind] += 1
                pop = _fold_block(layer, f"{kind}{counters[kind]}", source, shape, pool)
            elif isinstance(layer, nn.Linear) and index == len(model.layers) - 1:
                pop = _fold_readout(layer, source, shape, pool)
            else:
                raise ExportError(f"layer {index} ({type(layer).__name__}): not exportable")
            populations.append(pop)
            source, shape, pool = pop.name, pop.shape, 1
    try:
        return FloatGraph(input_shape=tuple(config.input_shape), populations=populations,
                          output=populations[-1].name, input_scale=float(config.input_scale))
    except GraphError as exc:
        raise ExportError(str(exc)) from None


def _pool_size(layer: nn.AvgPool2d, index: int) -> int:
    k, stride, padding = layer.kernel_size, layer.stride, layer.padding
    k = k if isinstance(k, int) else k[0]
    stride = stride if isinstance(stride, int) else stride[0]
    if stride != k or padding not in (0, (0, 0)) or layer.ceil_mode:
        raise ExportError(f"layer {index}: only non-overlapping pooling (stride = kernel, no padding)")
    return int(k)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _fold_block(block: SpikingBlock, name: str, source: str, source_shape: tuple[int, ...],
                pool: int) -> FloatPopulation:
    weight = _numpy(block.synapse.weight) / (pool * pool)
    bn = block.norm
    scale = _numpy(bn.weight) / np.sqrt(_numpy(bn.running_var) + bn.eps)
    shift = _numpy(bn.bias) - _numpy(bn.running_mean) * scale
    weight = weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    neuron = block.neuron
    shape = tuple(neuron.shape)
    alpha = _numpy(neuron.alpha())
    beta = _numpy(neuron.beta())
    per_unit_shift = shift.reshape(-1, *([1] * (len(shape) - 1)))
    gain = None
    if isinstance(block.synapse, nn.Conv2d):
        alpha_per_channel = alpha.reshape(shape[0], -1)
        if np.all(alpha_per_channel == alpha_per_channel[:, :1]):
            alpha_ref = alpha_per_channel[:, 0]
        else:
            alpha_ref = alpha_per_channel.max(axis=1) * _GAIN_HEADROOM
            gain = alpha / alpha_ref.reshape(-1, 1, 1)
        weight = weight * alpha_ref.reshape(-1, 1, 1, 1)
        conv = block.synapse
        proj = Projection(source, "conv", weight, source_shape, stride=_single(conv.stride),
                          padding=_single(conv.padding), pool=pool)
        if conv.groups != 1 or _single(conv.dilation) != 1 or conv.bias is not None:
            raise ExportError(f"layer {name}: only groups=1, dilation=1, bias-free convolutions")
    else:
        weight = weight * alpha[:, None]
        proj = Projection(source, "dense", weight, source_shape, pool=pool)
    bias = alpha * per_unit_shift
    return FloatPopulation(name=name, shape=shape, projections=[proj], beta=beta,
                           threshold=np.full(shape, float(neuron.threshold)),
                           bias=np.broadcast_to(bias, shape).copy(), gain=gain)


def _fold_readout(layer: nn.Linear, source: str, source_shape: tuple[int, ...],
                  pool: int) -> FloatPopulation:
    weight = _numpy(layer.weight) / (pool * pool)
    bias = _numpy(layer.bias) if layer.bias is not None else np.zeros(weight.shape[0])
    shape = (weight.shape[0],)
    return FloatPopulation(name="readout", shape=shape,
                           projections=[Projection(source, "dense", weight, source_shape, pool=pool)],
                           beta=np.ones(shape), threshold=np.full(shape, np.inf), bias=bias,
                           readout=True)


def _single(value: int | tuple[int, ...]) -> int:
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ExportError(f"anisotropic stride/padding {value} is not supported")
    return int(value[0])
