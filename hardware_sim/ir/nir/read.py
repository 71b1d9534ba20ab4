"""NIR file → DeployedModel: the one reader every backend starts from (DESIGN §1, §4).

The topology comes from the edges (``nir.read`` returns nodes alphabetically): walk back
from every neuron node to its sources. Integer metadata is used when present; a foreign
file (no metadata) is quantized from its float parameters.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import nir
import numpy as np

from hardware_sim.ir.graph import (
    INPUT,
    WEIGHT_MAX,
    WEIGHT_MIN,
    DeployedModel,
    FloatGraph,
    GraphError,
    IntPopulation,
    Projection,
    QGraph,
)
from hardware_sim.ir.neuron import BIAS_EXP_MAX, BIAS_MANT_MAX, DECAY_ONE, GAIN_MAX, THRESHOLD_MAX
from hardware_sim.ir.nir.checks import (
    declared_shape,
    finite,
    float_scalar,
    int_array,
    int_scalar,
    json_text,
    text,
    uniform_int,
)
from hardware_sim.ir.nir.format import (
    DEFAULT_LIMITS,
    FOREIGN_INPUT_SCALE,
    FORMAT_NAME,
    FORMAT_VERSION,
    INPUT_BITS_RANGE,
    NAMESPACE,
    NIRFormatError,
    ReadLimits,
)
from hardware_sim.ir.nir.hdf5 import BudgetedHDF5, UnsafeHDF5, one_line
from hardware_sim.ir.nir.load import load_graph
from hardware_sim.ir.nir.neurons import NEURON_NODES, float_population
from hardware_sim.ir.quantize import WEIGHT_EXP_RANGE, quantize_graph

_WEIGHT_NODES = (nir.Affine, nir.Linear, nir.Conv2d)


def read_nir(path: str | os.PathLike, timesteps: int | None = None,
             input_scale: float = FOREIGN_INPUT_SCALE,
             limits: ReadLimits = DEFAULT_LIMITS) -> DeployedModel:
    """Load a NIR file into the quantized graph every backend executes.

    Files written by this toolchain carry their integer truth, input scale and
    timesteps; a foreign file is quantized here and needs ``timesteps`` (and
    ``input_scale``, the float value of one integer input step). What the file declares
    (storage, dtypes, sizes) is checked against ``limits`` before any of its data is read,
    and sizes before any per-neuron array is allocated (see ``hdf5`` and ``load``).
    """
    path = Path(path)
    _check_arguments(timesteps, input_scale, limits)
    try:
        with BudgetedHDF5(path, limits.max_bytes, roots=("node",), what="NIR") as h5:
            nir_graph = load_graph(h5)
    except (UnsafeHDF5, NIRFormatError) as exc:
        raise NIRFormatError(f"{path}: {exc}") from None
    except Exception as exc:  # h5py on a corrupt file raises many kinds
        raise NIRFormatError(f"{path}: not a readable NIR file ({type(exc).__name__}: {one_line(exc)})") from None
    metadata = (nir_graph.metadata or {}).get(NAMESPACE)
    try:
        structure = _Structure(nir_graph, limits)
        if metadata is not None:
            return replace(_from_metadata(structure, metadata), nir_graph=nir_graph)
        if timesteps is None:
            raise NIRFormatError("foreign NIR file (no dalif metadata): give the number of timesteps")
        float_graph = structure.float_graph()
        structure.admit_timesteps(timesteps, "--timesteps")
        float_graph.input_scale = input_scale
        return DeployedModel(quantize_graph(float_graph, timesteps), timesteps, {}, foreign=True,
                             nir_graph=nir_graph)
    except (GraphError, KeyError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        if isinstance(exc, NIRFormatError):
            raise NIRFormatError(f"{path}: {exc}") from None
        raise NIRFormatError(f"{path}: {type(exc).__name__}: {one_line(exc)}") from None


def read_nir_info(path: str | os.PathLike, limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The producer's ``info`` in a NIR file's metadata (``{}`` for a foreign file), reading
    that one string after the same checks as ``read_nir`` (for ``energy --checkpoint``)."""
    path = Path(path)
    where = f"node/metadata/{NAMESPACE}/info"
    try:
        with BudgetedHDF5(path, limits.max_bytes, roots=("node",), what="NIR") as h5:
            if where not in h5.datasets:
                return {}
            info = json_text("metadata", h5.read(where), "info")
    except (UnsafeHDF5, NIRFormatError) as exc:
        raise NIRFormatError(f"{path}: {exc}") from None
    except Exception as exc:  # h5py on a corrupt file raises many kinds
        raise NIRFormatError(f"{path}: not a readable NIR file ({type(exc).__name__}: {one_line(exc)})") from None
    if not isinstance(info, dict):
        raise NIRFormatError(f"{path}: metadata info must be a JSON object")
    return info


def _check_arguments(timesteps: int | None, input_scale: float, limits: ReadLimits) -> None:
    """The caller's T and input scale (a foreign file's), checked before the file is opened."""
    if timesteps is not None:
        if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or timesteps < 1:
            raise NIRFormatError(f"timesteps must be a positive integer, got {timesteps!r}")
        if timesteps > limits.max_timesteps:
            raise NIRFormatError(f"{timesteps} timesteps is more than {limits.max_timesteps} "
                                 "(raise the limit: --max-timesteps)")
    real = isinstance(input_scale, (int, float, np.integer, np.floating)) and not isinstance(input_scale, bool)
    scale = float(input_scale) if real else float("nan")
    if not (np.isfinite(scale) and scale > 0 and np.isfinite(1.0 / scale)):
        raise NIRFormatError(f"the input scale must be a positive finite number, got {input_scale!r}")


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

    def admit_timesteps(self, timesteps: int, source: str) -> None:
        """T against the limits, and T × neurons (the run's per-step int64 counters) against
        the memory budget; call once every population is admitted."""
        if timesteps > self.limits.max_timesteps:
            raise NIRFormatError(f"{source}: {timesteps} timesteps is more than "
                                 f"{self.limits.max_timesteps} (raise the limit: --max-timesteps)")
        if timesteps * self.neurons * 8 > self.limits.max_bytes:
            raise NIRFormatError(f"{source}: {timesteps} timesteps x {self.neurons} neurons of 8-byte "
                                 f"counters is more than the budget of {self.limits.max_bytes} bytes "
                                 "(raise it: --max-bytes)")

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
    """The integer truth in ``metadata["dalif"]``, every value checked where it enters."""
    if not isinstance(md, dict):
        raise NIRFormatError("metadata: the dalif namespace must be a group")
    if md.get("format") != FORMAT_NAME or "format_version" not in md:
        raise NIRFormatError(f"metadata: unsupported format {md.get('format')!r} "
                             f"version {md.get('format_version')!r}")
    version = md["format_version"]
    if np.ndim(version) != 0 or isinstance(version, str) or not np.isrealobj(version) \
            or not np.isfinite(version) or version != FORMAT_VERSION:
        raise NIRFormatError(f"metadata: unsupported format {md.get('format')!r} version {version!r}")
    timesteps = int_scalar("metadata", md.get("timesteps"), "timesteps", 1)
    structure.admit_timesteps(timesteps, "metadata")  # T alone now; T x neurons at the end
    order = json_text("metadata", md.get("order"), "order")
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
        stored_md = pmd.get("projections")
        if not isinstance(stored_md, dict) or sorted(stored_md) != sorted(str(k) for k in range(len(stored_md))):
            raise NIRFormatError(f"node {name!r}: metadata projections must be a group named 0, 1, ...")
        stored = [stored_md[str(k)] for k in range(len(stored_md))]
        by_source = {p.source: (p, w) for p, w, _ in walked}
        if len(by_source) != len(stored):
            raise NIRFormatError(f"node {name!r}: metadata lists {len(stored)} inputs, graph has {len(walked)}")
        for entry in stored:
            if not isinstance(entry, dict):
                raise NIRFormatError(f"node {name!r}: metadata projection entries must be groups")
            source = text(entry["source"])
            if source not in by_source:
                raise NIRFormatError(f"node {name!r}: metadata names a source {source!r} not in the graph")
            walked_proj, _ = by_source[source]
            projections.append(Projection(
                source, walked_proj.kind,
                int_array(name, entry["weight"], f"weight from {source}", WEIGHT_MIN, WEIGHT_MAX),
                walked_proj.source_shape,
                weight_exp=int_scalar(name, entry["weight_exp"], f"weight_exp from {source}", *WEIGHT_EXP_RANGE),
                stride=walked_proj.stride, padding=walked_proj.padding, pool=walked_proj.pool,
                delay=int_scalar(name, entry["delay"], f"delay from {source}", 0),
            ))
        shape = projections[0].output_shape
        structure.admit(name, shape, projections)
        structure.shapes[name] = shape
        gain = pmd.get("gain")
        populations.append(IntPopulation(
            name=name, shape=shape, projections=projections,
            dv=int_array(name, pmd["dv"], "dv", 0, DECAY_ONE - 1),
            du=int_array(name, pmd["du"], "du", 0, DECAY_ONE - 1),
            vth=int_array(name, pmd["vth"], "vth", 0, THRESHOLD_MAX),
            bias_mant=int_array(name, pmd["bias_mant"], "bias_mant", -BIAS_MANT_MAX - 1, BIAS_MANT_MAX),
            bias_exp=int_scalar(name, pmd["bias_exp"], "bias_exp", 0, BIAS_EXP_MAX),
            v_scale=float_scalar(name, pmd["v_scale"], "v_scale"),
            gain=None if gain is None else int_array(name, gain, "gain", 0, GAIN_MAX),
            readout=bool(int_scalar(name, pmd["readout"], "readout", 0, 1)),
        ))
    structure.admit_timesteps(timesteps, "metadata")
    report = json_text("metadata", md.get("quantization_report"), "quantization_report")
    if not isinstance(report, dict) or not all(
            isinstance(counts, dict) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                             for v in counts.values())
            for counts in report.values()):
        raise NIRFormatError("metadata: quantization_report must map populations to counts")
    info = json_text("metadata", md.get("info"), "info")
    if not isinstance(info, dict):
        raise NIRFormatError("metadata: info must be a JSON object")
    lo_bits, hi_bits = INPUT_BITS_RANGE
    graph = QGraph(
        input_shape=structure.input_shape, populations=populations, output=text(md["output"]),
        input_scale=float_scalar("metadata", md.get("input_scale"), "input_scale"),
        input_bits=int_scalar("metadata", md.get("input_bits"), "input_bits", lo_bits, hi_bits),
        quantization_report=report,
    )
    return DeployedModel(graph, timesteps, info, foreign=False)

