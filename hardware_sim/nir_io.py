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
from pathlib import Path
from typing import Any

import nir
import numpy as np

from hardware_sim.files import atomic_path
from hardware_sim.graph import (
    INPUT,
    FloatGraph,
    FloatPopulation,
    GraphError,
    IntPopulation,
    Projection,
    QGraph,
)
from hardware_sim.quantize import dequantized_weight, quantize_graph

FORMAT_NAME = "dalif-nir"
FORMAT_VERSION = 1
NAMESPACE = "dalif"

_NEURON_NODES = (nir.LIF, nir.IF, nir.I)
_WEIGHT_NODES = (nir.Affine, nir.Linear, nir.Conv2d)


class NIRFormatError(ValueError):
    """A NIR file this toolchain cannot deploy; the message names the node at fault."""


class DeployedModel:
    """A NIR file as loaded: the integer graph plus what the file says about running it.

    ``nir_graph`` is the file's graph as read (float parameters), for backends that run
    the NIR file's float semantics (norse); None when the model was not read from a file.
    """

    def __init__(self, graph: QGraph, timesteps: int, info: dict[str, Any], foreign: bool,
                 nir_graph: nir.NIRGraph | None = None):
        self.graph = graph
        self.timesteps = timesteps
        self.info = info
        self.foreign = foreign
        self.nir_graph = nir_graph


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
        bias = pop.bias.astype(np.float64) * pop.v_scale
        for k, proj in enumerate(pop.projections):
            prefix = f"{pop.name}_in{k}"
            chain = _projection_nodes(proj, prefix, pop, graph.input_scale,
                                      bias_float=_node_bias(bias, gain, proj) if k == 0 else None)
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


def _node_bias(bias: np.ndarray, gain: np.ndarray, proj: Projection) -> np.ndarray:
    """The weight node's bias: per output neuron (dense) or per channel (conv, pre-gain)."""
    if proj.kind == "dense":
        return bias / np.where(gain > 0, gain, 1.0)
    per_neuron = bias / np.where(gain > 0, gain, 1.0)
    return per_neuron.reshape(per_neuron.shape[0], -1).mean(axis=1)


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


def _neuron_node(pop: IntPopulation, gain: np.ndarray) -> nir.NIRNode:
    if pop.readout:
        return nir.I(r=np.ones(pop.shape))
    beta = 1.0 - pop.dv / 4096.0
    with np.errstate(divide="ignore"):
        tau = np.where(pop.dv > 0, 1.0 / (1.0 - beta), np.inf)
    return nir.LIF(
        tau=tau, r=gain * tau, v_leak=np.zeros(pop.shape),
        v_threshold=pop.vth * 64.0 * pop.v_scale, v_reset=np.zeros(pop.shape),
    )


FOREIGN_INPUT_SCALE = 1.0 / 255
"""A foreign file's inputs are taken as floats in [0, 1] quantized to 8 bits unless told."""


def read_nir(path: str | os.PathLike, timesteps: int | None = None,
             input_scale: float = FOREIGN_INPUT_SCALE) -> DeployedModel:
    """Load a NIR file into the quantized graph every backend executes.

    Files written by this toolchain carry their integer truth, input scale and
    timesteps; a foreign file is quantized here and needs ``timesteps`` (and
    ``input_scale``, the float value of one integer input step).
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
        structure = _Structure(nir_graph)
        if metadata is not None:
            deployed = _from_metadata(structure, metadata)
            deployed.nir_graph = nir_graph
            return deployed
        if timesteps is None:
            raise NIRFormatError("foreign NIR file (no dalif metadata): give the number of timesteps")
        float_graph = structure.float_graph()
        float_graph.input_scale = input_scale
        return DeployedModel(quantize_graph(float_graph, timesteps), timesteps, {}, foreign=True,
                             nir_graph=nir_graph)
    except (GraphError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, NIRFormatError):
            raise NIRFormatError(f"{path}: {exc}") from None
        raise NIRFormatError(f"{path}: {type(exc).__name__}: {exc}") from None


class _Structure:
    """The topology of a NIR graph: populations and the projections into them."""

    def __init__(self, g: nir.NIRGraph):
        self.g = g
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
        self.input_shape = tuple(int(d) for d in np.atleast_1d(g.nodes[self.input_name].input_type["input"]))
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
        weight = np.asarray(node.weight, dtype=np.float64) * scale
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
            return FloatPopulation(name, shape, [p for p, _, _ in projections], beta=np.ones(shape),
                                   threshold=np.full(shape, np.inf), bias=bias * r,
                                   gain=None if np.allclose(r, 1) else r, readout=True)
        threshold = _full(name, node.v_threshold, shape, "v_threshold")
        if np.any(~(threshold > 0)):
            raise NIRFormatError(f"node {name!r}: v_threshold must be positive")
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
        return FloatPopulation(name, shape, [p for p, _, _ in projections], beta=beta,
                               threshold=threshold, bias=bias * gain,
                               gain=None if np.allclose(gain, 1) else gain)


def _from_metadata(structure: _Structure, md: dict[str, Any]) -> DeployedModel:
    if md.get("format") != FORMAT_NAME or int(md.get("format_version", -1)) != FORMAT_VERSION:
        raise NIRFormatError(f"metadata: unsupported format {md.get('format')!r} "
                             f"version {md.get('format_version')!r}")
    order = json.loads(md["order"])
    if sorted(order) != sorted(structure.populations):
        raise NIRFormatError(f"metadata: populations {order} do not match the graph's neuron nodes")
    populations = []
    for name in order:
        pmd = md["populations"][name]
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
                source, walked_proj.kind, np.asarray(entry["weight"], dtype=np.int64),
                walked_proj.source_shape, weight_exp=int(entry["weight_exp"]),
                stride=walked_proj.stride, padding=walked_proj.padding, pool=walked_proj.pool,
                delay=int(entry["delay"]),
            ))
        shape = projections[0].output_shape
        structure.shapes[name] = shape
        gain = pmd.get("gain")
        populations.append(IntPopulation(
            name=name, shape=shape, projections=projections,
            dv=np.asarray(pmd["dv"], np.int64), du=np.asarray(pmd["du"], np.int64),
            vth=np.asarray(pmd["vth"], np.int64), bias_mant=np.asarray(pmd["bias_mant"], np.int64),
            bias_exp=int(pmd["bias_exp"]), v_scale=float(pmd["v_scale"]),
            gain=None if gain is None else np.asarray(gain, np.int64), readout=bool(pmd["readout"]),
        ))
    graph = QGraph(
        input_shape=structure.input_shape, populations=populations, output=_text(md["output"]),
        input_scale=float(md["input_scale"]), input_bits=int(md["input_bits"]),
        quantization_report=json.loads(md["quantization_report"]),
    )
    return DeployedModel(graph, int(md["timesteps"]), json.loads(md["info"]), foreign=False)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _uniform_int(node: str, value: Any, field: str) -> int:
    arr = np.atleast_1d(np.asarray(value))
    if arr.size == 0 or np.any(arr != arr.flat[0]) or arr.flat[0] != int(arr.flat[0]):
        raise NIRFormatError(f"node {node!r}: {field} must be one integer for all dimensions")
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
