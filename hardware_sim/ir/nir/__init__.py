"""NIR files ⇄ QGraph: the one reader every backend starts from, and its writer (DESIGN §4).

Layout written for a population P fed by projections k = 0, 1, …:

    source ─► P_in{k}_delay ─► P_in{k}_pool ─► P_in{k}_flatten ─► P_in{k}_weight ─► P
             (Delay, if any)  (SumPool2d)      (Flatten)          (Affine | Conv2d)  (LIF | I)

Float parameters describe the quantized model (forward Euler, dt = 1):
τ = 1/(1 − β), r = g/(1 − β), v_leak = v_reset = 0, v_threshold = θ, weights and
biases dequantized; a readout is an ``I`` node (r = 1). The integer truth rides
in ``metadata["dalif"]``. The reader takes the topology from the edges (nir.read
returns nodes alphabetically), walks back from every neuron node to its sources,
and uses the integer metadata when present; a foreign file (no metadata) is
quantized from its float parameters.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nir
import numpy as np

from hardware_sim.files import atomic_path
from hardware_sim.ir.graph import (
    DU_NO_CURRENT_MEMORY,
    INPUT,
    DeployedModel,
    FloatGraph,
    FloatPopulation,
    GraphError,
    IntPopulation,
    Projection,
    QGraph,
)
from hardware_sim.ir.quantize import dequantized_weight, quantize_graph

FORMAT_NAME = "dalif-nir"
FORMAT_VERSION = 1
NAMESPACE = "dalif"

_NEURON_NODES = (nir.LIF, nir.CubaLIF, nir.IF, nir.I)
_WEIGHT_NODES = (nir.Affine, nir.Linear, nir.Conv2d)


class NIRFormatError(ValueError):
    """A NIR file this toolchain cannot deploy; the message names the node at fault."""


@dataclass(frozen=True)
class ReadLimits:
    """Size limits a NIR file must respect, checked from its declared shapes before any
    per-neuron array is built (a file declaring 10^10 neurons fails fast, not by swapping).

    ``max_neurons`` counts the input plus every neuron population; ``max_synapses``
    counts the stored connections of every projection (``Projection.synapses``);
    ``max_delay`` bounds a projection's delay in steps (a delay line holds delay × source
    neurons values, and Lava's DelayLine allocates them). Raise them with ``ReadLimits(max_neurons=…)`` or the CLI's
    ``--max-neurons`` / ``--max-synapses`` / ``--max-delay``.
    """

    max_neurons: int = 10_000_000
    max_synapses: int = 1_000_000_000
    max_delay: int = 4096


DEFAULT_LIMITS = ReadLimits()


def write_nir(graph: QGraph, path: str | os.PathLike, timesteps: int,
              info: dict[str, Any] | None = None) -> None:
    """Write ``graph`` as a NIR file, atomically (a temp file renamed into place)."""
    nodes: dict[str, nir.NIRNode] = {INPUT: nir.Input(input_type=np.array(graph.input_shape))}
    edges: list[tuple[str, str]] = []
    populations_md: dict[str, Any] = {}
    for pop in graph.populations:
        pop_md: dict[str, Any] = {
            "dv": pop.dv.astype(np.int32), "du": pop.du.astype(np.int32),
            "vth": pop.vth.astype(np.int32), "bias_mant": pop.bias_mant.astype(np.int32),
            "bias_exp": int(pop.bias_exp), "v_scale": float(pop.v_scale),
            "readout": int(pop.readout), "projections": {},
        }
        if pop.gain is not None:
            pop_md["gain"] = pop.gain.astype(np.int32)
        gain = np.ones(pop.shape) if pop.gain is None else pop.gain / 4096.0
        for k, proj in enumerate(pop.projections):
            prefix = f"{pop.name}_in{k}"
            chain = _projection_nodes(proj, prefix, pop, graph.input_scale,
                                      bias_float=_node_bias(pop, gain, proj) if k == 0 else None)
            previous = proj.source
            for name, node in chain:
                nodes[name] = node
                edges.append((previous, name))
                previous = name
            edges.append((previous, pop.name))
            pop_md["projections"][str(k)] = {
                "source": proj.source, "weight": proj.weight.astype(np.int8),
                "weight_exp": int(proj.weight_exp), "delay": int(proj.delay),
            }
        nodes[pop.name] = _neuron_node(pop, gain)
        populations_md[pop.name] = pop_md
    nodes["output"] = nir.Output(output_type=np.array(graph.output_population.shape))
    edges.append((graph.output, "output"))
    metadata = {NAMESPACE: {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "timesteps": int(timesteps),
        "input_scale": float(graph.input_scale),
        "input_bits": int(graph.input_bits),
        "output": graph.output,
        "order": json.dumps([p.name for p in graph.populations]),
        "populations": populations_md,
        "quantization_report": json.dumps(graph.quantization_report),
        "info": json.dumps(info or {}),
    }}
    nir_graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    with atomic_path(path) as tmp:
        nir.write(tmp, nir_graph)


def _node_bias(pop: IntPopulation, gain: np.ndarray, proj: Projection) -> np.ndarray:
    """The weight node's bias: per output neuron (dense) or per channel before the gain (conv).

    NIR's Conv2d bias is per channel: a conv population whose biases differ within a
    channel by more than their own rounding has no float form and is refused.
    """
    safe_gain = np.where(gain > 0, gain, 1.0)
    per_neuron = pop.bias.astype(np.float64) * pop.v_scale / safe_gain
    if proj.kind == "dense":
        return per_neuron
    per_channel = per_neuron.reshape(per_neuron.shape[0], -1)
    spread = np.abs(per_channel - per_channel.mean(axis=1, keepdims=True)).max(initial=0.0)
    rounding = (1 << pop.bias_exp) * pop.v_scale / float(safe_gain.min(initial=1.0))
    if spread > rounding:
        raise GraphError(f"population {pop.name!r}: biases differ within a conv channel; NIR's "
                         f"Conv2d bias is per channel, so the float form cannot carry them")
    return per_channel.mean(axis=1)


def _projection_nodes(proj: Projection, prefix: str, pop: IntPopulation, input_scale: float,
                      bias_float: np.ndarray | None) -> list[tuple[str, nir.NIRNode]]:
    chain: list[tuple[str, nir.NIRNode]] = []
    if proj.delay:
        chain.append((f"{prefix}_delay", nir.Delay(delay=np.full(proj.source_shape, float(proj.delay)))))
    if proj.pool > 1:
        k = np.array([proj.pool, proj.pool])
        chain.append((f"{prefix}_pool", nir.SumPool2d(kernel_size=k, stride=k, padding=np.zeros(2, int))))
    if proj.kind == "dense" and len(proj.pooled_shape) > 1:
        chain.append((f"{prefix}_flatten", nir.Flatten(input_type={"input": np.array(proj.pooled_shape)},
                                                      start_dim=0)))
    weight = dequantized_weight(proj, pop.v_scale, input_scale).astype(np.float32)
    if bias_float is None:
        bias_float = np.zeros(weight.shape[0])
    bias_float = bias_float.astype(np.float32)
    if proj.kind == "dense":
        node: nir.NIRNode = nir.Affine(weight=weight, bias=bias_float)
    else:
        node = nir.Conv2d(input_shape=np.array(proj.pooled_shape[1:]), weight=weight,
                          stride=np.array([proj.stride] * 2), padding=np.array([proj.padding] * 2),
                          dilation=np.array([1, 1]), groups=1, bias=bias_float)
    chain.append((f"{prefix}_weight", node))
    return chain


_TAU_NO_LEAK = float(1 << 14)
"""τ written for a neuron without leak (dv = 0): NIR's LIF has no finite form of β = 1,
and 4096/τ = 0.25 quantizes back to dv = 0 exactly."""


def _neuron_node(pop: IntPopulation, gain: np.ndarray) -> nir.NIRNode:
    if pop.readout:
        return nir.I(r=np.ones(pop.shape))
    with np.errstate(divide="ignore"):
        tau = np.where(pop.dv > 0, 4096.0 / pop.dv, _TAU_NO_LEAK)
    if np.any(pop.du != DU_NO_CURRENT_MEMORY):
        # Current memory: a CubaLIF with τ_syn = 4096/(du + 1) and w_in = τ_syn, so that
        # the reader's gain r·w_in/(τ_mem·τ_syn) is g again (see _cuba_population).
        if np.any((pop.bias_mant != 0) & (pop.du != DU_NO_CURRENT_MEMORY)):
            raise GraphError(f"population {pop.name!r}: a bias with current memory (du < 4095) has "
                             f"no NIR float form (NIR's bias passes through the current)")
        tau_syn = 4096.0 / (pop.du + 1.0)
        return nir.CubaLIF(
            tau_syn=tau_syn, tau_mem=tau, r=gain * tau, v_leak=np.zeros(pop.shape),
            v_threshold=pop.vth * 64.0 * pop.v_scale, v_reset=np.zeros(pop.shape), w_in=tau_syn,
        )
    return nir.LIF(
        tau=tau, r=gain * tau, v_leak=np.zeros(pop.shape),
        v_threshold=pop.vth * 64.0 * pop.v_scale, v_reset=np.zeros(pop.shape),
    )


FOREIGN_INPUT_SCALE = 1.0 / 255
"""A foreign file's inputs are taken as floats in [0, 1] quantized to 8 bits unless told."""


def read_nir(path: str | os.PathLike, timesteps: int | None = None,
             input_scale: float = FOREIGN_INPUT_SCALE,
             limits: ReadLimits = DEFAULT_LIMITS) -> DeployedModel:
    """Load a NIR file into the quantized graph every backend executes.

    Files written by this toolchain carry their integer truth, input scale and
    timesteps; a foreign file is quantized here and needs ``timesteps`` (and
    ``input_scale``, the float value of one integer input step). Sizes are checked
    against ``limits`` before any per-neuron array is allocated.
    """
    path = Path(path)
    if not path.is_file():
        raise NIRFormatError(f"{path}: no such file")
    try:
        nir_graph = nir.read(str(path))
    except Exception as exc:  # h5py/nir raise many kinds for a bad file
        raise NIRFormatError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    metadata = (nir_graph.metadata or {}).get(NAMESPACE)
    try:
        structure = _Structure(nir_graph, limits)
        if metadata is not None:
            return replace(_from_metadata(structure, metadata), nir_graph=nir_graph)
        if timesteps is None:
            raise NIRFormatError("foreign NIR file (no dalif metadata): give the number of timesteps")
        float_graph = structure.float_graph()
        float_graph.input_scale = input_scale
        return DeployedModel(quantize_graph(float_graph, timesteps), timesteps, {}, foreign=True,
                             nir_graph=nir_graph)
    except (GraphError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        if isinstance(exc, NIRFormatError):
            raise NIRFormatError(f"{path}: {exc}") from None
        raise NIRFormatError(f"{path}: {type(exc).__name__}: {exc}") from None


class _Structure:
    """The topology of a NIR graph: populations and the projections into them."""

    def __init__(self, g: nir.NIRGraph, limits: ReadLimits = DEFAULT_LIMITS):
        self.g = g
        self.limits = limits
        self.neurons = 0
        self.synapses = 0
        self.pred: dict[str, list[str]] = defaultdict(list)
        succ: dict[str, list[str]] = defaultdict(list)
        for src, dst in g.edges:
            for end in (src, dst):
                if end not in g.nodes:
                    raise NIRFormatError(f"edge ({src!r}, {dst!r}) names an unknown node {end!r}")
            self.pred[dst].append(src)
            succ[src].append(dst)
        for name, node in g.nodes.items():
            if not isinstance(node, (*_NEURON_NODES, *_WEIGHT_NODES, nir.SumPool2d, nir.AvgPool2d,
                                     nir.Flatten, nir.Delay, nir.Input, nir.Output)):
                raise NIRFormatError(f"node {name!r}: unsupported node type {type(node).__name__}")
        inputs = [n for n, v in g.nodes.items() if isinstance(v, nir.Input)]
        outputs = [n for n, v in g.nodes.items() if isinstance(v, nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise NIRFormatError(f"need exactly one Input and one Output node, found {inputs} and {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.input_shape = _declared_shape(self.input_name, g.nodes[self.input_name].input_type["input"])
        self.admit(self.input_name, self.input_shape, [])
        self.order = self._topological_order(succ)
        self.populations = [n for n in self.order if isinstance(g.nodes[n], _NEURON_NODES)]
        if len(self.pred[self.output_name]) != 1:
            raise NIRFormatError(f"node {self.output_name!r}: the Output must have exactly one input")
        last = self.pred[self.output_name][0]
        self.implicit_readout = None if isinstance(g.nodes[last], _NEURON_NODES) else last
        self.output = last
        self.shapes: dict[str, tuple[int, ...]] = {INPUT: self.input_shape}

    def _topological_order(self, succ: dict[str, list[str]]) -> list[str]:
        indegree = {n: len(self.pred[n]) for n in self.g.nodes}
        ready = sorted(n for n, d in indegree.items() if d == 0)
        order = []
        while ready:
            node = ready.pop(0)
            order.append(node)
            for nxt in succ[node]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    ready.append(nxt)
        if len(order) != len(self.g.nodes):
            stuck = sorted(n for n, d in indegree.items() if d > 0)
            raise NIRFormatError(f"the graph has a cycle through {stuck[:3]}")
        return order

    def admit(self, name: str, shape: tuple[int, ...], projections: list[Projection]) -> None:
        """Count a layer against the limits before anything of its size is allocated."""
        self.neurons += int(np.prod(shape, dtype=object))
        if self.neurons > self.limits.max_neurons:
            raise NIRFormatError(f"node {name!r}: the network declares more than "
                                 f"{self.limits.max_neurons} neurons (raise the limit: --max-neurons)")
        for proj in projections:
            if proj.delay > self.limits.max_delay:
                raise NIRFormatError(f"node {name!r}: the {proj.delay}-step delay from "
                                     f"{proj.source!r} is longer than {self.limits.max_delay} "
                                     "steps (raise the limit: --max-delay)")
            if proj.kind == "conv":  # an upper bound first: the exact count loops over rows
                c_out, c_in, kh, kw = proj.weight.shape
                if c_out * c_in * kh * kw * int(np.prod(shape[1:], dtype=object)) > self.limits.max_synapses:
                    self.synapses += proj.synapses
                else:
                    self.synapses += c_out * c_in * kh * kw * int(np.prod(shape[1:], dtype=object))
            else:
                self.synapses += int(proj.weight.size)
            if self.synapses > self.limits.max_synapses:
                raise NIRFormatError(f"node {name!r}: the network declares more than "
                                     f"{self.limits.max_synapses} synapses (raise the limit: --max-synapses)")

    def source_name(self, node: str) -> str:
        return INPUT if node == self.input_name else node

    def projections_into(self, target: str) -> list[tuple[Projection, str, nir.NIRNode]]:
        """Walk back from a neuron (or implicit readout weight) node; one projection per path."""
        starts = [target] if target == self.implicit_readout else self.pred[target]
        found = []
        for start in starts:
            chain, node = [], start
            while not (node == self.input_name or isinstance(self.g.nodes[node], _NEURON_NODES)):
                chain.append(node)
                if len(self.pred[node]) != 1:
                    raise NIRFormatError(f"node {node!r}: expected one input, found {len(self.pred[node])}")
                node = self.pred[node][0]
            found.append(self._projection(list(reversed(chain)), self.source_name(node), target))
        return found

    def _projection(self, chain: list[str], source: str, target: str):
        delay, pool, weight_name = 0, 1, None
        scale = 1.0
        for name in chain:
            node = self.g.nodes[name]
            if weight_name is not None:
                raise NIRFormatError(f"node {name!r}: nothing may follow the weights before a neuron")
            if isinstance(node, nir.Delay):
                delay = _uniform_int(name, node.delay, "delay")
            elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
                pool = _uniform_int(name, node.kernel_size, "kernel_size")
                if _uniform_int(name, node.stride, "stride") != pool or np.any(np.asarray(node.padding) != 0):
                    raise NIRFormatError(f"node {name!r}: only non-overlapping pooling without padding")
                if isinstance(node, nir.AvgPool2d):
                    scale /= pool * pool
            elif isinstance(node, nir.Flatten):
                continue
            elif isinstance(node, _WEIGHT_NODES):
                weight_name = name
            else:
                raise NIRFormatError(f"node {name!r}: {type(node).__name__} cannot sit between neurons")
        if weight_name is None:
            raise NIRFormatError(f"the path from {source!r} to {target!r} has no weight node")
        node = self.g.nodes[weight_name]
        weight = _finite(weight_name, node.weight, "weight") * scale
        if getattr(node, "bias", None) is not None:
            _finite(weight_name, node.bias, "bias")
        if source not in self.shapes:
            raise NIRFormatError(f"node {source!r} feeds {target!r} but has no known shape")
        source_shape = self.shapes[source]
        if isinstance(node, nir.Conv2d):
            if int(node.groups) != 1 or np.any(np.asarray(node.dilation) != 1):
                raise NIRFormatError(f"node {weight_name!r}: only groups=1, dilation=1 convolutions")
            if isinstance(node.padding, str):
                raise NIRFormatError(f"node {weight_name!r}: give padding as integers")
            proj = Projection(source, "conv", weight, source_shape,
                              stride=_uniform_int(weight_name, node.stride, "stride"),
                              padding=_uniform_int(weight_name, node.padding, "padding"),
                              pool=pool, delay=delay)
        else:
            proj = Projection(source, "dense", weight, source_shape, pool=pool, delay=delay)
        return proj, weight_name, node

    def float_graph(self) -> FloatGraph:
        populations = []
        for name in self.populations + ([self.implicit_readout] if self.implicit_readout else []):
            projections = self.projections_into(name)
            shape = projections[0][0].output_shape
            self.admit(name, shape, [p for p, _, _ in projections])
            pop = self._float_population(name, shape, projections)
            self.shapes[name] = shape
            populations.append(pop)
        return FloatGraph(input_shape=self.input_shape, populations=populations, output=self.output)

    def _float_population(self, name, shape, projections) -> FloatPopulation:
        node = self.g.nodes[name]
        bias = np.zeros(shape)
        for proj, _, wnode in projections:
            b = np.asarray(getattr(wnode, "bias", 0.0), dtype=np.float64)
            bias = bias + (b.reshape(-1, *([1] * (len(shape) - 1))) if proj.kind == "conv" else b)
        if name == self.implicit_readout or isinstance(node, nir.I):
            r = np.ones(shape) if name == self.implicit_readout else _full(name, node.r, shape, "r")
            folded, residual = _fold_gain(name, shape, [p for p, _, _ in projections], r)
            return FloatPopulation(name, shape, folded, beta=np.ones(shape),
                                   threshold=np.full(shape, np.inf), bias=bias * r,
                                   gain=residual, readout=True)
        threshold = _full(name, node.v_threshold, shape, "v_threshold")
        if np.any(~(threshold > 0)):
            raise NIRFormatError(f"node {name!r}: v_threshold must be positive")
        if node.v_reset is not None and np.any(_full(name, node.v_reset, shape, "v_reset") != 0):
            raise NIRFormatError(f"node {name!r}: v_reset must be 0 (the hardware resets v to 0)")
        if isinstance(node, nir.CubaLIF):
            return _cuba_population(name, node, shape, [p for p, _, _ in projections], threshold, bias)
        if isinstance(node, nir.IF):
            beta, gain = np.ones(shape), _full(name, node.r, shape, "r")
        else:
            tau = _full(name, node.tau, shape, "tau")
            if np.any(~(tau >= 1)):
                raise NIRFormatError(f"node {name!r}: tau must be >= 1 timestep (dt = 1)")
            beta = 1.0 - 1.0 / tau
            gain = _full(name, node.r, shape, "r") / tau
            if np.any(np.asarray(node.v_leak) != 0):
                raise NIRFormatError(f"node {name!r}: v_leak must be 0")
        folded, residual = _fold_gain(name, shape, [p for p, _, _ in projections], gain)
        return FloatPopulation(name, shape, folded, beta=beta, threshold=threshold,
                               bias=bias * gain, gain=residual)


def _cuba_population(name: str, node: nir.CubaLIF, shape: tuple[int, ...],
                     projections: list[Projection], threshold: np.ndarray,
                     bias: np.ndarray) -> FloatPopulation:
    """A NIR CubaLIF as a population with current memory (DESIGN §3's u, du < 4095).

    NIR's equations at dt = 1, forward Euler, the voltage seeing this step's current
    (as norse's NIR import and snnTorch's Synaptic neuron run them), x = W s + b:

        I[t] = (1 − 1/τ_syn)·I[t−1] + (w_in/τ_syn)·x[t]
        V[t] = (1 − 1/τ_mem)·V[t−1] + (r/τ_mem)·I[t]

    In V's units, u = (r/τ_mem)·I obeys u[t] = β_I·u[t−1] + g·x[t] with β_I = 1 − 1/τ_syn
    and g = r·w_in/(τ_mem·τ_syn), which is Lava's u[t] = rtz(u·(4096 − (du+1)), 12) + a
    with (du + 1)/4096 = 1/τ_syn: du = round(4096/τ_syn) − 1 (τ_syn = 1 gives 4095, no
    current memory), dv = round(4096/τ_mem). The gain g folds into the weights (dense
    rows, conv channels; the rest as the 12-bit input gain). A bias reaches V through
    the decaying current, which Loihi's bias (added to v) cannot reproduce, so a
    non-zero bias is accepted only where τ_syn = 1.
    """
    tau_mem = _full(name, node.tau_mem, shape, "tau_mem")
    tau_syn = _full(name, node.tau_syn, shape, "tau_syn")
    for field, tau in (("tau_mem", tau_mem), ("tau_syn", tau_syn)):
        if np.any(~(tau >= 1)):
            raise NIRFormatError(f"node {name!r}: {field} must be >= 1 timestep (dt = 1)")
    if np.any(_full(name, node.v_leak, shape, "v_leak") != 0):
        raise NIRFormatError(f"node {name!r}: v_leak must be 0")
    gain = _full(name, node.r, shape, "r") * _full(name, node.w_in, shape, "w_in") / (tau_mem * tau_syn)
    current_decay = 1.0 - 1.0 / tau_syn
    if np.any((bias != 0) & (current_decay > 0)):
        raise NIRFormatError(f"node {name!r}: a bias into a CubaLIF with tau_syn > 1 reaches v through "
                             f"the decaying current; the hardware adds bias to v, so it cannot be mapped")
    folded, residual = _fold_gain(name, shape, projections, gain)
    return FloatPopulation(name, shape, folded, beta=1.0 - 1.0 / tau_mem, threshold=threshold,
                           bias=bias * gain, gain=residual,
                           current_decay=current_decay if np.any(current_decay > 0) else None)


def _fold_gain(name: str, shape: tuple[int, ...], projections: list[Projection],
               gain: np.ndarray) -> tuple[list[Projection], np.ndarray | None]:
    """A per-neuron input gain moved into the weights where the synapses allow it: the rows of
    dense weights, a conv's output channels; what varies within a channel stays as a gain
    relative to 4096/4095 × the channel's largest (as export/fold.py does for α)."""
    if np.allclose(gain, 1):
        return projections, None
    if len(shape) == 1:
        return [replace(p, weight=p.weight * gain[:, None]) for p in projections], None
    per_channel = gain.reshape(shape[0], -1)
    reference = per_channel.max(axis=1)
    if np.any(~(per_channel > 0)):
        raise NIRFormatError(f"node {name!r}: the input gain (r/tau, or r·w_in/(tau_mem·tau_syn)) "
                             f"must be positive")
    residual = None
    if not np.all(per_channel == per_channel[:, :1]):
        reference = reference * 4096.0 / 4095.0
        residual = gain / reference.reshape(-1, 1, 1)
    return [replace(p, weight=p.weight * reference.reshape(-1, 1, 1, 1)) for p in projections], residual


def _from_metadata(structure: _Structure, md: dict[str, Any]) -> DeployedModel:
    if md.get("format") != FORMAT_NAME or int(md.get("format_version", -1)) != FORMAT_VERSION:
        raise NIRFormatError(f"metadata: unsupported format {md.get('format')!r} "
                             f"version {md.get('format_version')!r}")
    order = json.loads(md["order"])
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise NIRFormatError("metadata: order must be a list of population names")
    if sorted(order) != sorted(structure.populations):
        raise NIRFormatError(f"metadata: populations {order} do not match the graph's neuron nodes")
    populations = []
    for name in order:
        pmd = md["populations"].get(name) if isinstance(md.get("populations"), dict) else None
        if not isinstance(pmd, dict):
            raise NIRFormatError(f"node {name!r}: metadata has no population entry for it")
        projections = []
        walked = structure.projections_into(name)
        stored = [pmd["projections"][str(k)] for k in range(len(pmd["projections"]))]
        by_source = {p.source: (p, w) for p, w, _ in walked}
        if len(by_source) != len(stored):
            raise NIRFormatError(f"node {name!r}: metadata lists {len(stored)} inputs, graph has {len(walked)}")
        for entry in stored:
            source = _text(entry["source"])
            if source not in by_source:
                raise NIRFormatError(f"node {name!r}: metadata names a source {source!r} not in the graph")
            walked_proj, _ = by_source[source]
            projections.append(Projection(
                source, walked_proj.kind, _int_array(name, entry["weight"], f"weight from {source}"),
                walked_proj.source_shape, weight_exp=int(entry["weight_exp"]),
                stride=walked_proj.stride, padding=walked_proj.padding, pool=walked_proj.pool,
                delay=int(entry["delay"]),
            ))
        shape = projections[0].output_shape
        structure.admit(name, shape, projections)
        structure.shapes[name] = shape
        gain = pmd.get("gain")
        populations.append(IntPopulation(
            name=name, shape=shape, projections=projections,
            dv=_int_array(name, pmd["dv"], "dv"), du=_int_array(name, pmd["du"], "du"),
            vth=_int_array(name, pmd["vth"], "vth"), bias_mant=_int_array(name, pmd["bias_mant"], "bias_mant"),
            bias_exp=int(pmd["bias_exp"]), v_scale=float(pmd["v_scale"]),
            gain=None if gain is None else _int_array(name, gain, "gain"), readout=bool(pmd["readout"]),
        ))
    graph = QGraph(
        input_shape=structure.input_shape, populations=populations, output=_text(md["output"]),
        input_scale=float(md["input_scale"]), input_bits=int(md["input_bits"]),
        quantization_report=json.loads(md["quantization_report"]),
    )
    return DeployedModel(graph, int(md["timesteps"]), json.loads(md["info"]), foreign=False)


def _declared_shape(node: str, value: Any) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 1):
        raise NIRFormatError(f"node {node!r}: shape must be a list of positive integers, got {arr.tolist()!r}")
    return tuple(int(d) for d in arr)


def _finite(node: str, value: Any, field: str) -> np.ndarray:
    """A numeric float array with no NaN or infinity, else an error naming the node."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise NIRFormatError(f"node {node!r}: {field} must be numeric, not {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise NIRFormatError(f"node {node!r}: {field} has NaN or infinite values")
    return arr


def _int_array(node: str, value: Any, field: str) -> np.ndarray:
    """Integer metadata as int64: numeric and integral, else an error naming the node."""
    arr = np.asarray(value)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.floating):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be integers, not {arr.dtype}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)) or np.any(np.abs(arr) > 2**62):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be integers")
    return arr.astype(np.int64)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _uniform_int(node: str, value: Any, field: str) -> int:
    arr = np.atleast_1d(np.asarray(value))
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) \
            or np.any(arr != arr.flat[0]) or arr.flat[0] != int(arr.flat[0]):
        raise NIRFormatError(f"node {node!r}: {field} must be one finite integer for all dimensions")
    return int(arr.flat[0])


def _full(node: str, value: Any, shape: tuple[int, ...], field: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    try:
        out = np.broadcast_to(arr.reshape(arr.shape) if arr.size > 1 else arr, shape).astype(np.float64)
    except ValueError:
        if arr.size == int(np.prod(shape)):
            out = arr.reshape(shape)
        else:
            raise NIRFormatError(f"node {node!r}: {field} has shape {arr.shape}, layer has {shape}") from None
    if not np.all(np.isfinite(out) | (field == "tau")):
        raise NIRFormatError(f"node {node!r}: {field} has NaN or infinite values")
    return out
