"""NIR file → DeployedModel: the one reader every backend starts from (DESIGN §1, §4).

The topology comes from the edges (``nir.read`` returns nodes alphabetically): walk back
from every neuron node to its sources. Integer metadata is used when present; a foreign
file (no metadata) is quantized from its float parameters.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import nir
import numpy as np

from hardware_sim.ir.graph import (
    INPUT,
    DeployedModel,
    FloatGraph,
    GraphError,
    IntPopulation,
    Projection,
    QGraph,
)
from hardware_sim.ir.nir.checks import declared_shape, finite, int_array, text, uniform_int
from hardware_sim.ir.nir.format import (
    DEFAULT_LIMITS,
    FOREIGN_INPUT_SCALE,
    FORMAT_NAME,
    FORMAT_VERSION,
    NAMESPACE,
    NIRFormatError,
    ReadLimits,
)
from hardware_sim.ir.nir.neurons import NEURON_NODES, float_population
from hardware_sim.ir.quantize import quantize_graph

_WEIGHT_NODES = (nir.Affine, nir.Linear, nir.Conv2d)


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
            if not isinstance(node, (*NEURON_NODES, *_WEIGHT_NODES, nir.SumPool2d, nir.AvgPool2d,
                                     nir.Flatten, nir.Delay, nir.Input, nir.Output)):
                raise NIRFormatError(f"node {name!r}: unsupported node type {type(node).__name__}")
        inputs = [n for n, v in g.nodes.items() if isinstance(v, nir.Input)]
        outputs = [n for n, v in g.nodes.items() if isinstance(v, nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise NIRFormatError(f"need exactly one Input and one Output node, found {inputs} and {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.input_shape = declared_shape(self.input_name, g.nodes[self.input_name].input_type["input"])
        self.admit(self.input_name, self.input_shape, [])
        self.order = self._topological_order(succ)
        self.populations = [n for n in self.order if isinstance(g.nodes[n], NEURON_NODES)]
        if len(self.pred[self.output_name]) != 1:
            raise NIRFormatError(f"node {self.output_name!r}: the Output must have exactly one input")
        last = self.pred[self.output_name][0]
        self.implicit_readout = None if isinstance(g.nodes[last], NEURON_NODES) else last
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
            while not (node == self.input_name or isinstance(self.g.nodes[node], NEURON_NODES)):
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
                delay = uniform_int(name, node.delay, "delay")
            elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
                pool = uniform_int(name, node.kernel_size, "kernel_size")
                if uniform_int(name, node.stride, "stride") != pool or np.any(np.asarray(node.padding) != 0):
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
        weight = finite(weight_name, node.weight, "weight") * scale
        if getattr(node, "bias", None) is not None:
            finite(weight_name, node.bias, "bias")
        if source not in self.shapes:
            raise NIRFormatError(f"node {source!r} feeds {target!r} but has no known shape")
        source_shape = self.shapes[source]
        if isinstance(node, nir.Conv2d):
            if int(node.groups) != 1 or np.any(np.asarray(node.dilation) != 1):
                raise NIRFormatError(f"node {weight_name!r}: only groups=1, dilation=1 convolutions")
            if isinstance(node.padding, str):
                raise NIRFormatError(f"node {weight_name!r}: give padding as integers")
            proj = Projection(source, "conv", weight, source_shape,
                              stride=uniform_int(weight_name, node.stride, "stride"),
                              padding=uniform_int(weight_name, node.padding, "padding"),
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
            pop = float_population(name, self.g.nodes[name], shape, projections,
                                   implicit_readout=name == self.implicit_readout)
            self.shapes[name] = shape
            populations.append(pop)
        return FloatGraph(input_shape=self.input_shape, populations=populations, output=self.output)


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
            source = text(entry["source"])
            if source not in by_source:
                raise NIRFormatError(f"node {name!r}: metadata names a source {source!r} not in the graph")
            walked_proj, _ = by_source[source]
            projections.append(Projection(
                source, walked_proj.kind, int_array(name, entry["weight"], f"weight from {source}"),
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
            dv=int_array(name, pmd["dv"], "dv"), du=int_array(name, pmd["du"], "du"),
            vth=int_array(name, pmd["vth"], "vth"), bias_mant=int_array(name, pmd["bias_mant"], "bias_mant"),
            bias_exp=int(pmd["bias_exp"]), v_scale=float(pmd["v_scale"]),
            gain=None if gain is None else int_array(name, gain, "gain"), readout=bool(pmd["readout"]),
        ))
    graph = QGraph(
        input_shape=structure.input_shape, populations=populations, output=text(md["output"]),
        input_scale=float(md["input_scale"]), input_bits=int(md["input_bits"]),
        quantization_report=json.loads(md["quantization_report"]),
    )
    return DeployedModel(graph, int(md["timesteps"]), json.loads(md["info"]), foreign=False)
