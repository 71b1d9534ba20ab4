"""Fold a trained SpikingNet into a FloatGraph: BN and the spatial decay α go into the weights.

The model's graph (``model.spec``, :mod:`dalif.models.spec`) maps node for node:

- A layer, conv/linear W → BN(γ, β_bn, μ, σ²) → DA-LIF(α, β, θ), becomes a population:

      α ⊙ BN(W s) = α ⊙ (W' s + b'),   W' = W·γ/√(σ²+ε),   b' = β_bn − μ·γ/√(σ²+ε)

- A residual layer adds its shortcut before the neuron, X = BN(W s) + S(s_sc), so the
  population gets a second projection (the join of DESIGN §3) with the same α:
  the identity becomes a 1×1 conv (or, for dense layers, a matrix) holding α on its
  diagonal; a 1×1 conv → BN shortcut folds like any synapse; the bias is α·(b'_main + b'_sc).
- α per output neuron of a linear layer, or per channel of a conv, scales the rows of
  every projection into the population. α that varies *within* a conv channel cannot live
  in a shared kernel: the kernels take the channel's reference α_ref = max α · 4096/4095
  and each neuron keeps its ratio g = α/α_ref < 1 as a 12-bit input gain (DESIGN §3),
  applied to the summed drive of all its projections, while its bias α·b' stays per neuron.
- An average pooling (k×k, global included: k = the map's size) is no population: the
  projections that read it sum-pool their source and take 1/k² into their weights, so
  spikes stay 1-bit on the wire. Poolings in a row multiply their kernels.
- A flatten is no population either: a dense projection reads its source flattened.
- The readout becomes a non-spiking integrator (β = 1, θ = ∞) with its bias.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dalif.models.net import ShortcutPath, SpikingLayer, SpikingNet
from dalif.models.spec import INPUT, Flatten, Layer, Pool, Readout
from hardware_sim.ir.graph import INPUT as GRAPH_INPUT
from hardware_sim.ir.graph import FloatGraph, FloatPopulation, GraphError, Projection
from hardware_sim.ir.neuron import GAIN_MAX, GAIN_ONE

_GAIN_HEADROOM = GAIN_ONE / GAIN_MAX
"""α_ref = max α · 4096/4095, so that the largest ratio g = α/α_ref is 4095/4096: the largest
12-bit gain."""

assert INPUT == GRAPH_INPUT  # the model graph and the hardware graph name the input alike


class ExportError(ValueError):
    """A model that cannot be exported; the message names the layer."""


class _View:
    """What a node looks like to a projection that reads it: a population (or the input),
    seen through sum pooling with kernel ``pool``."""

    def __init__(self, population: str, shape: tuple[int, ...], pool: int = 1) -> None:
        self.population, self.shape, self.pool = population, shape, pool


def fold_model(model: SpikingNet) -> FloatGraph:
    """The folded float graph of ``model`` (eval-mode BN statistics)."""
    if not isinstance(model, SpikingNet):
        raise ExportError(f"expected a SpikingNet, got {type(model).__name__}")
    config, spec = model.config, model.spec
    views = {INPUT: _View(INPUT, tuple(config.input_shape))}
    populations: list[FloatPopulation] = []
    with torch.no_grad():
        for node, module in zip(spec.nodes, model.layers):
            source = views[node.source]
            if isinstance(node, Flatten):
                views[node.name] = source
                continue
            if isinstance(node, Pool):
                if not isinstance(module, nn.AvgPool2d):
                    raise ExportError(f"node {node.name!r}: expected AvgPool2d, got {type(module).__name__}")
                k = _pool_size(module, node.name)
                views[node.name] = _View(source.population, source.shape, source.pool * k)
                continue
            if isinstance(node, Layer):
                if not isinstance(module, SpikingLayer):
                    raise ExportError(f"node {node.name!r}: expected a SpikingLayer, "
                                      f"got {type(module).__name__}")
                shortcut = None if node.shortcut is None else views[node.shortcut.source]
                pop = _fold_layer(module, node.name, source, shortcut, node.shortcut)
            elif isinstance(node, Readout) and isinstance(module, nn.Linear):
                pop = _fold_readout(module, node.name, source)
            else:
                raise ExportError(f"node {node.name!r} ({type(module).__name__}): not exportable")
            populations.append(pop)
            views[node.name] = _View(pop.name, pop.shape)
    try:
        return FloatGraph(input_shape=tuple(config.input_shape), populations=populations,
                          output=populations[-1].name, input_scale=float(config.input_scale))
    except GraphError as exc:
        raise ExportError(str(exc)) from None


def _pool_size(layer: nn.AvgPool2d, name: str) -> int:
    k, stride, padding = layer.kernel_size, layer.stride, layer.padding
    k = k if isinstance(k, int) else k[0]
    stride = stride if isinstance(stride, int) else stride[0]
    if stride != k or padding not in (0, (0, 0)) or layer.ceil_mode:
        raise ExportError(f"node {name!r}: only non-overlapping pooling (stride = kernel, no padding)")
    return int(k)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _bn_fold(norm: nn.Module, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) per output unit: BN(z) = scale·z + shift with eval-mode statistics."""
    if not isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d)) or not norm.affine \
            or norm.running_mean is None:
        raise ExportError(f"layer {name}: expected an affine BatchNorm with running statistics")
    scale = _numpy(norm.weight) / np.sqrt(_numpy(norm.running_var) + norm.eps)
    shift = _numpy(norm.bias) - _numpy(norm.running_mean) * scale
    return scale, shift


def _check_conv(conv: nn.Conv2d, name: str) -> None:
    if conv.groups != 1 or _single(conv.dilation) != 1 or conv.bias is not None:
        raise ExportError(f"layer {name}: only groups=1, dilation=1, bias-free convolutions")


def _fold_layer(layer: SpikingLayer, name: str, source: _View, shortcut_view: _View | None,
                shortcut_spec) -> FloatPopulation:
    pool = source.pool
    weight = _numpy(layer.synapse.weight) / (pool * pool)
    scale, shift = _bn_fold(layer.norm, name)
    weight = weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    neuron = layer.neuron
    shape = tuple(neuron.shape)
    alpha = _numpy(neuron.alpha())
    beta = _numpy(neuron.beta())
    per_unit_shift = shift.reshape(-1, *([1] * (len(shape) - 1)))
    conv = isinstance(layer.synapse, nn.Conv2d)
    # the branches into the population: (kind, BN-folded weight, source view, stride, padding)
    branches = [("conv" if conv else "dense", weight, source,
                 _single(layer.synapse.stride) if conv else 1,
                 _single(layer.synapse.padding) if conv else 0)]
    if conv:
        _check_conv(layer.synapse, name)
    if shortcut_view is not None:
        sc_weight, sc_shift, sc_stride = _fold_shortcut(layer.shortcut, name, shape, shortcut_view)
        branches.append(("conv" if conv else "dense", sc_weight, shortcut_view, sc_stride, 0))
        if sc_shift is not None:
            per_unit_shift = per_unit_shift + sc_shift.reshape(per_unit_shift.shape)
    gain = None
    projections = []
    if conv:
        alpha_per_channel = alpha.reshape(shape[0], -1)
        if np.all(alpha_per_channel == alpha_per_channel[:, :1]):
            alpha_ref = alpha_per_channel[:, 0]
        else:
            alpha_ref = alpha_per_channel.max(axis=1) * _GAIN_HEADROOM
            gain = alpha / alpha_ref.reshape(-1, 1, 1)
        for kind, w, view, stride, padding in branches:
            projections.append(Projection(view.population, kind, w * alpha_ref.reshape(-1, 1, 1, 1),
                                          view.shape, stride=stride, padding=padding, pool=view.pool))
    else:
        for kind, w, view, _, _ in branches:
            projections.append(Projection(view.population, kind, w * alpha[:, None], view.shape,
                                          pool=view.pool))
    bias = alpha * per_unit_shift
    return FloatPopulation(name=name, shape=shape, projections=projections, beta=beta,
                           threshold=np.full(shape, float(neuron.threshold)),
                           bias=np.broadcast_to(bias, shape).copy(), gain=gain)


def _fold_shortcut(shortcut: ShortcutPath | None, name: str, shape: tuple[int, ...],
                   view: _View) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The shortcut's BN-folded weight (before α), its shift (None: the identity) and stride."""
    if not isinstance(shortcut, ShortcutPath):
        raise ExportError(f"layer {name}: its graph joins a shortcut the module does not hold")
    pool = view.pool
    if shortcut.synapse is None:  # the identity: one synapse per neuron, weight 1
        size = shape[0]
        eye = np.eye(size) / (pool * pool)
        return (eye.reshape(size, size, 1, 1) if len(shape) == 3 else eye), None, 1
    conv = shortcut.synapse
    _check_conv(conv, f"{name} (shortcut)")
    weight = _numpy(conv.weight) / (pool * pool)
    scale, shift = _bn_fold(shortcut.norm, f"{name} (shortcut)")
    weight = weight * scale.reshape(-1, 1, 1, 1)
    if _single(conv.padding) != 0 or conv.kernel_size != (1, 1):
        raise ExportError(f"layer {name}: a shortcut is a 1x1 convolution without padding")
    return weight, shift, _single(conv.stride)


def _fold_readout(layer: nn.Linear, name: str, source: _View) -> FloatPopulation:
    pool = source.pool
    weight = _numpy(layer.weight) / (pool * pool)
    bias = _numpy(layer.bias) if layer.bias is not None else np.zeros(weight.shape[0])
    shape = (weight.shape[0],)
    return FloatPopulation(name=name, shape=shape,
                           projections=[Projection(source.population, "dense", weight, source.shape,
                                                   pool=pool)],
                           beta=np.ones(shape), threshold=np.full(shape, np.inf), bias=bias,
                           readout=True)


def _single(value: int | tuple[int, ...]) -> int:
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ExportError(f"anisotropic stride/padding {value} is not supported")
    return int(value[0])
