"""What a model is as a graph: nodes that name their sources, in plain Python (no torch).

A model is a tuple of nodes in topological order; every node reads the node named by its
``source`` (or ``"input"``, the data). Four kinds of node, and nothing else, make every
architecture of the zoo:

    Layer(name, source, synapse, shortcut)   a population of DA-LIF neurons
        X = BN(W ⋆ s_source)  [ + s_shortcut  |  + BN'(W' ⋆ s_shortcut) ]
        V[t] = β ⊙ H[t−1] + α ⊙ X[t];  S = Θ(V − θ);  H = V ⊙ (1 − S)
        synapse: Conv (k×k, stride, padding; bias-free) or Dense (flattens its source);
        shortcut: None, the identity, or a 1×1 conv (stride s) with its own BN, read from
        another node: the residual join is two projections into one population (DESIGN §3).
    Pool(name, source, kernel)      average pooling, stride = kernel, no padding, floor
        (a remainder row or column is dropped); kernel None: global, the map must be square.
        Spikes stay 1-bit on the wire: the exporter makes it a sum pool and folds 1/k² into
        the weights of whatever reads it.
    Flatten(name, source)           (C, H, W) → (C·H·W,) in C-order; shape only.
    Readout(name, source, features) linear with bias on the flattened source; the last node.
        Applied at every step; the logits are its mean over T (a non-spiking integrator
        on the hardware).

``ModelSpec`` checks a graph when it is made (names, order, every shape) and counts what
it holds, so that sizes can be checked against a budget before torch builds anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

INPUT = "input"
RESERVED_NAMES = (INPUT, "output")


class SpecError(ValueError):
    """A model graph that is not well formed; the message names the node at fault."""


@dataclass(frozen=True)
class Conv:
    """A k×k convolution (PyTorch cross-correlation), bias-free: its BN supplies the bias."""

    channels: int
    kernel: int = 3
    stride: int = 1
    padding: int = 1


@dataclass(frozen=True)
class Dense:
    """A fully connected synapse on the flattened source, bias-free."""

    features: int


@dataclass(frozen=True)
class Shortcut:
    """The second projection of a residual join: the identity, or a 1×1 conv + BN."""

    source: str
    kind: str = "identity"  # "identity" | "conv"
    stride: int = 1


@dataclass(frozen=True)
class Layer:
    name: str
    source: str
    synapse: Union[Conv, Dense]
    shortcut: Shortcut | None = None


@dataclass(frozen=True)
class Pool:
    name: str
    source: str
    kernel: int | None = 2


@dataclass(frozen=True)
class Flatten:
    name: str
    source: str


@dataclass(frozen=True)
class Readout:
    name: str
    source: str
    features: int


Node = Union[Layer, Pool, Flatten, Readout]
_NODE_KINDS: dict[str, type] = {"layer": Layer, "pool": Pool, "flatten": Flatten,
                                "readout": Readout}


def conv_output(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ModelSpec:
    """A checked model graph: ``input_shape`` (C, H, W) and ``nodes`` in topological order,
    the last one the readout."""

    input_shape: tuple[int, ...]
    nodes: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        shapes = self._infer_shapes()
        object.__setattr__(self, "_shapes", shapes)

    # -- shapes -------------------------------------------------------------------------
    def _infer_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {INPUT: self.input_shape}
        if not self.nodes:
            raise SpecError("the graph has no nodes")
        for index, node in enumerate(self.nodes):
            if not isinstance(node, (Layer, Pool, Flatten, Readout)):
                raise SpecError(f"node {index}: unknown kind {type(node).__name__}")
            name = node.name
            if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_NAMES:
                raise SpecError(f"node {index}: name {name!r} must be an identifier other than "
                                f"{list(RESERVED_NAMES)}")
            if name in shapes:
                raise SpecError(f"node {name!r}: duplicate name")
            if node.source not in shapes:
                raise SpecError(f"node {name!r}: source {node.source!r} is not an earlier node")
            if isinstance(node, Readout) != (index == len(self.nodes) - 1):
                raise SpecError(f"node {name!r}: the readout must be the last node, and only it")
            shapes[name] = self._node_shape(node, shapes)
        return shapes

    @staticmethod
    def _node_shape(node: Node, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        src = shapes[node.source]
        name = node.name

        def positive(value: Any, what: str, lowest: int = 1) -> int:
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                raise SpecError(f"node {name!r}: {what} must be an integer >= {lowest}, got {value!r}")
            return value

        if isinstance(node, Flatten):
            return (math.prod(src),)
        if isinstance(node, Readout):
            return (positive(node.features, "features"),)
        if isinstance(node, Pool):
            if len(src) != 3:
                raise SpecError(f"node {name!r}: pooling needs a (C, H, W) source, got {src}")
            _, h, w = src
            if node.kernel is None:
                if h != w:
                    raise SpecError(f"node {name!r}: global average pooling needs a square map, "
                                    f"got {h}x{w}")
                return (src[0], 1, 1)
            k = positive(node.kernel, "kernel")
            if k > h or k > w:
                raise SpecError(f"node {name!r}: {k}x{k} pooling does not fit a {h}x{w} map")
            return (src[0], h // k, w // k)
        # a Layer
        syn = node.synapse
        if isinstance(syn, Dense):
            out: tuple[int, ...] = (positive(syn.features, "features"),)
        elif isinstance(syn, Conv):
            if len(src) != 3:
                raise SpecError(f"node {name!r}: a convolution needs a (C, H, W) source, got {src}")
            positive(syn.channels, "channels")
            positive(syn.kernel, "kernel")
            positive(syn.stride, "stride")
            positive(syn.padding, "padding", 0)
            h, w = (conv_output(d, syn.kernel, syn.stride, syn.padding) for d in src[1:])
            if h < 1 or w < 1:
                raise SpecError(f"node {name!r}: a {syn.kernel}x{syn.kernel} convolution does not "
                                f"fit a {src[1]}x{src[2]} map")
            out = (syn.channels, h, w)
        else:
            raise SpecError(f"node {name!r}: unknown synapse {type(syn).__name__}")
        sc = node.shortcut
        if sc is not None:
            if sc.source not in shapes:
                raise SpecError(f"node {name!r}: shortcut source {sc.source!r} is not an earlier node")
            sc_src = shapes[sc.source]
            if sc.kind == "identity":
                if sc_src != out:
                    raise SpecError(f"node {name!r}: identity shortcut from {sc.source!r} has shape "
                                    f"{sc_src}, the layer {out}")
            elif sc.kind == "conv":
                if len(sc_src) != 3 or len(out) != 3:
                    raise SpecError(f"node {name!r}: a conv shortcut joins (C, H, W) maps")
                positive(sc.stride, "shortcut stride")
                sc_out = (out[0], *(conv_output(d, 1, sc.stride, 0) for d in sc_src[1:]))
                if sc_out != out:
                    raise SpecError(f"node {name!r}: 1x1 stride-{sc.stride} shortcut from "
                                    f"{sc.source!r} gives {sc_out}, the layer has {out}")
            else:
                raise SpecError(f"node {name!r}: unknown shortcut kind {sc.kind!r}")
        return out

    def shape(self, name: str) -> tuple[int, ...]:
        """Output shape of node ``name`` (or of the input) for one sample at one step."""
        return self._shapes[name]  # type: ignore[attr-defined]

    @property
    def readout(self) -> Readout:
        return self.nodes[-1]  # type: ignore[return-value]

    @property
    def layers(self) -> list[Layer]:
        return [n for n in self.nodes if isinstance(n, Layer)]

    # -- counts -------------------------------------------------------------------------
    def neuron_count(self) -> int:
        """Neurons of every DA-LIF population and of the readout."""
        return sum(math.prod(self.shape(n.name)) for n in self.nodes
                   if isinstance(n, (Layer, Readout)))

    def parameter_count(self, neuron: str = "dalif", granularity: str = "neuron") -> int:
        """Trainable parameters of the torch model: weights, BN affine pairs, readout bias, and
        the raw decays (two per layer, channel or neuron; none for plain LIF)."""
        total = 0
        for node in self.nodes:
            src = self.shape(node.source)
            if isinstance(node, Readout):
                total += (math.prod(src) + 1) * node.features
            if not isinstance(node, Layer):
                continue
            out = self.shape(node.name)
            syn = node.synapse
            if isinstance(syn, Dense):
                total += math.prod(src) * syn.features
            else:
                total += src[0] * syn.channels * syn.kernel * syn.kernel
            total += 2 * out[0]  # BN γ, β
            if node.shortcut is not None and node.shortcut.kind == "conv":
                total += self.shape(node.shortcut.source)[0] * out[0] + 2 * out[0]
            if neuron == "dalif":
                per = {"layer": 1, "channel": out[0]}.get(granularity, math.prod(out))
                total += 2 * per
        return total

    def synapse_count(self) -> int:
        """Synapses the hardware stores (weights of the folded graph, conv taps inside the map,
        counted on the pooled source as ``hardware_sim.ir.synapses`` counts them)."""
        total = 0
        for node in self.nodes:
            if isinstance(node, Readout):
                total += math.prod(self.shape(node.source)) * node.features
            if not isinstance(node, Layer):
                continue
            out = self.shape(node.name)
            src = self.shape(node.source)  # a pool is part of the projection: count it pooled
            syn = node.synapse
            if isinstance(syn, Dense):
                total += math.prod(src) * syn.features
            else:
                total += src[0] * out[0] * _taps(src[1], out[1], syn.kernel, syn.stride, syn.padding) \
                    * _taps(src[2], out[2], syn.kernel, syn.stride, syn.padding)
            if node.shortcut is not None:
                sc_channels = self.shape(node.shortcut.source)[0]  # a 1x1 conv, identity included
                total += sc_channels * out[0] * out[1] * out[2]
        return total

    # -- storage ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (a checkpoint stores it beside the config)."""
        nodes = []
        for node in self.nodes:
            kind = next(k for k, cls in _NODE_KINDS.items() if isinstance(node, cls))
            entry: dict[str, Any] = {"kind": kind, "name": node.name, "source": node.source}
            if isinstance(node, Layer):
                syn = node.synapse
                entry["synapse"] = ({"kind": "dense", "features": syn.features}
                                    if isinstance(syn, Dense) else
                                    {"kind": "conv", "channels": syn.channels, "kernel": syn.kernel,
                                     "stride": syn.stride, "padding": syn.padding})
                if node.shortcut is not None:
                    sc = node.shortcut
                    entry["shortcut"] = {"source": sc.source, "kind": sc.kind, "stride": sc.stride}
            elif isinstance(node, Pool):
                entry["kernel"] = node.kernel
            elif isinstance(node, Readout):
                entry["features"] = node.features
            nodes.append(entry)
        return {"input_shape": list(self.input_shape), "nodes": nodes}

    @classmethod
    def from_dict(cls, data: Any) -> ModelSpec:
        """Inverse of :meth:`to_dict`; SpecError naming the entry at fault."""
        if not isinstance(data, dict) or set(data) != {"input_shape", "nodes"}:
            raise SpecError("expected a dict with keys 'input_shape' and 'nodes'")
        if not isinstance(data["nodes"], list):
            raise SpecError("'nodes' must be a list")
        nodes: list[Node] = []
        for index, entry in enumerate(data["nodes"]):
            try:
                nodes.append(_node_from_dict(entry))
            except (KeyError, TypeError, ValueError) as exc:
                raise SpecError(f"node {index}: {exc}") from None
        shape = data["input_shape"]
        if not (isinstance(shape, list) and len(shape) == 3
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
            raise SpecError(f"input_shape: expected (C, H, W), got {shape!r}")
        return cls(tuple(shape), tuple(nodes))


def _taps(size: int, out: int, kernel: int, stride: int, padding: int) -> int:
    """Σ over output positions of the kernel taps that land inside the input (one axis)."""
    total = 0
    for o in range(out):
        start = o * stride - padding
        total += max(0, min(start + kernel, size) - max(start, 0))
    return total


def _node_from_dict(entry: Any) -> Node:
    if not isinstance(entry, dict):
        raise TypeError(f"expected a dict, got {type(entry).__name__}")
    kind = entry.get("kind")
    expected = {"layer": {"kind", "name", "source", "synapse", "shortcut"},
                "pool": {"kind", "name", "source", "kernel"},
                "flatten": {"kind", "name", "source"},
                "readout": {"kind", "name", "source", "features"}}
    if kind not in expected:
        raise ValueError(f"unknown kind {kind!r}")
    unknown = set(entry) - expected[kind]
    if unknown:
        raise ValueError(f"unexpected keys {sorted(unknown)}")
    name, source = _text(entry["name"]), _text(entry["source"])
    if kind == "pool":
        return Pool(name, source, None if entry["kernel"] is None else _int(entry["kernel"]))
    if kind == "flatten":
        return Flatten(name, source)
    if kind == "readout":
        return Readout(name, source, _int(entry["features"]))
    syn = entry["synapse"]
    if not isinstance(syn, dict):
        raise TypeError("synapse must be a dict")
    if syn.get("kind") == "dense" and set(syn) == {"kind", "features"}:
        synapse: Conv | Dense = Dense(_int(syn["features"]))
    elif syn.get("kind") == "conv" and set(syn) == {"kind", "channels", "kernel", "stride", "padding"}:
        synapse = Conv(*(_int(syn[k]) for k in ("channels", "kernel", "stride", "padding")))
    else:
        raise ValueError(f"synapse {syn!r} is not a dense or conv synapse")
    shortcut = None
    if "shortcut" in entry:
        sc = entry["shortcut"]
        if not isinstance(sc, dict) or set(sc) != {"source", "kind", "stride"}:
            raise ValueError(f"shortcut {sc!r}: expected keys source, kind, stride")
        shortcut = Shortcut(_text(sc["source"]), _text(sc["kind"]), _int(sc["stride"]))
    return Layer(name, source, synapse, shortcut)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value
