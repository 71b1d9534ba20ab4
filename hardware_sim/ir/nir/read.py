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
from typing import Any, NamedTuple

import nir
import numpy as np

from hardware_sim.ir.graph import (
    INPUT,
    RESETS,
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
    axis_ints,
    declared_shape,
    finite,
    float_scalar,
    int_array,
    int_scalar,
    json_text,
    text,
    uniform_int,
)
from hardware_sim.ir.nir.conventions import Reading, recognise
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
from hardware_sim.ir.nir.neurons import (
    BIAS_SOURCE,
    NEURON_NODES,
    bias_source_population,
    float_population,
)
from hardware_sim.ir.quantize import WEIGHT_EXP_RANGE, quantize_graph

_WEIGHT_NODES = (nir.Affine, nir.Linear, nir.Conv2d)


def read_nir(path: str | os.PathLike, timesteps: int | None = None,
             input_scale: float = FOREIGN_INPUT_SCALE,
             limits: ReadLimits = DEFAULT_LIMITS, *, dt: float | None = None,
             reset: str | None = None, input_bits: int = 8) -> DeployedModel:
    """Load a NIR file into the quantized graph every backend executes.

    Files written by this toolchain carry their integer truth, input scale and
    timesteps; a foreign file is quantized here and needs ``timesteps`` (and
    ``input_scale``, the float value of one integer input step; ``dt``, the seconds per
    step, where its τ are in seconds and its producer is not recognised; ``reset``, the
    reset mode the user states, see ``conventions``; ``input_bits``, the width of its
    integer inputs: 1 for spike inputs, which leaves the quantizer 7 more bits of weight
    resolution than the 8-bit default, sized for graded inputs up to 255). What was assumed about a foreign file
    is ``DeployedModel.reading``. What the file declares (storage, dtypes, sizes) is checked
    against ``limits`` before any of its data is read, and sizes before any per-neuron array
    is allocated (see ``hdf5`` and ``load``).
    """
    path = Path(path)
    _check_arguments(timesteps, input_scale, limits)
    try:
        with BudgetedHDF5(path, limits.max_bytes, roots=("node",), what="NIR") as h5:
            nir_graph, notes = load_graph(h5)
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
            raise NIRFormatError("foreign NIR file (no dalif metadata): give the number of timesteps "
                                 "(--timesteps T)")
        reading = recognise(nir_graph, dt, reset, tuple(notes) + structure.notes(),
                            recurrent=structure.recurrent_neurons())
        float_graph = structure.float_graph(reading)
        reading = replace(reading, notes=reading.notes + tuple(structure.late_notes))
        structure.admit_timesteps(timesteps, "--timesteps")
        float_graph.input_scale = input_scale
        lo_bits, hi_bits = INPUT_BITS_RANGE
        if not (isinstance(input_bits, int) and lo_bits <= input_bits <= hi_bits):
            raise NIRFormatError(f"input_bits must be an integer in [{lo_bits}, {hi_bits}], got {input_bits!r}")
        graph = quantize_graph(float_graph, timesteps, input_bits)
        if reading.reset == "subtract":  # the user's statement holds for every spiking population
            graph = replace(graph, populations=[pop if pop.readout else replace(pop, reset="subtract")
                                                for pop in graph.populations])
        return DeployedModel(graph, timesteps, {}, foreign=True, nir_graph=nir_graph,
                             reading=reading.to_dict())
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
        self.succ = succ
        self.recurrent = _back_edges(self.input_name, succ, list(g.nodes))
        self.order = self._topological_order(succ)
        self.populations = [n for n in self.order if isinstance(g.nodes[n], NEURON_NODES)]
        if len(self.pred[self.output_name]) != 1:
            raise NIRFormatError(f"node {self.output_name!r}: the Output must have exactly one input")
        last = self.pred[self.output_name][0]
        self.trailing_flatten = []
        while isinstance(g.nodes[last], nir.Flatten) and len(self.pred[last]) == 1 \
                and isinstance(g.nodes[self.pred[last][0]], NEURON_NODES):
            self.trailing_flatten.append(last)  # the output is flattened for the argmax anyway
            last = self.pred[last][0]
        self.implicit_readout = None if isinstance(g.nodes[last], NEURON_NODES) else last
        self.output = last
        self.shapes: dict[str, tuple[int, ...]] = {INPUT: self.input_shape}
        self.late_notes: list[str] = []
        """What ``float_graph`` adds to the reading (an always-on bias neuron)."""

    def notes(self) -> tuple[str, ...]:
        """What the reading did to the graph's form, for ``Reading.notes``."""
        notes = []
        if self.recurrent:
            edges = ", ".join(f"{a} -> {b}" for a, b in sorted(self.recurrent))
            notes.append(f"recurrent edges ({edges}) run with one step of delay, as on the chip")
        if self.trailing_flatten:
            notes.append(f"Flatten before the Output ({', '.join(self.trailing_flatten)}) folded "
                         "into the output")
        return tuple(notes)

    def recurrent_neurons(self) -> set[str]:
        """The neuron nodes a recurrent edge feeds: the first neuron node after each."""
        found: set[str] = set()
        for _, node in self.recurrent:
            while not isinstance(self.g.nodes[node], (*NEURON_NODES, nir.Output)):
                node = self.succ[node][0]
            if isinstance(self.g.nodes[node], NEURON_NODES):
                found.add(node)
        return found

    def _topological_order(self, succ: dict[str, list[str]]) -> list[str]:
        """Nodes in an order where every edge but the recurrent ones points forward."""
        indegree = {n: sum((p, n) not in self.recurrent for p in self.pred[n]) for n in self.g.nodes}
        ready = sorted(n for n, d in indegree.items() if d == 0)
        order = []
        while ready:
            node = ready.pop(0)
            order.append(node)
            for nxt in succ[node]:
                if (node, nxt) in self.recurrent:
                    continue
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    ready.append(nxt)
        if len(order) != len(self.g.nodes):  # a cycle not reachable from the Input
            stuck = sorted(n for n, d in indegree.items() if d > 0)
            raise NIRFormatError(f"the graph has a cycle through {stuck[:3]} that the Input does "
                                 "not reach")
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

    def projections_into(self, target: str, recurrent: bool | None = None
                         ) -> list[tuple[Projection, str, Any]]:
        """Walk back from a neuron (or implicit readout weight) node; one projection per path:
        (projection, weight node name, what holds the path's bias). ``recurrent``: only the
        paths that close a cycle (True) or only the others (False); a recurrent path without
        a Delay node gets one step of delay (as the chip and discrete-time simulators run it)."""
        starts = [target] if target == self.implicit_readout else self.pred[target]
        found = []
        for start in starts:
            chain, node, closes = [], start, (start, target) in self.recurrent
            while not (node == self.input_name or isinstance(self.g.nodes[node], NEURON_NODES)):
                chain.append(node)
                if len(self.pred[node]) != 1:
                    raise NIRFormatError(f"node {node!r}: expected one input, found {len(self.pred[node])}")
                closes = closes or (self.pred[node][0], node) in self.recurrent
                node = self.pred[node][0]
            if recurrent is None or recurrent == closes:
                found.append(self._projection(list(reversed(chain)), self.source_name(node), target,
                                              closes))
        return found

    def _projection(self, chain: list[str], source: str, target: str, recurrent: bool = False):
        delay, pool, weight_name, pool_after, average_after = 0, 1, None, None, False
        scale = 1.0
        for name in chain:
            node = self.g.nodes[name]
            if weight_name is not None and not (
                    isinstance(node, (nir.SumPool2d, nir.AvgPool2d)) and pool_after is None
                    and isinstance(self.g.nodes[weight_name], nir.Conv2d)):
                raise NIRFormatError(f"node {name!r}: nothing but one pooling may follow the weights "
                                     "before a neuron")
            if isinstance(node, nir.Delay):
                delay = uniform_int(name, node.delay, "delay")
            elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
                k = uniform_int(name, node.kernel_size, "kernel_size")
                if uniform_int(name, node.stride, "stride") != k or np.any(np.asarray(node.padding) != 0):
                    raise NIRFormatError(f"node {name!r}: only non-overlapping pooling without padding")
                if weight_name is None:
                    pool, scale = k, scale / (k * k if isinstance(node, nir.AvgPool2d) else 1)
                else:
                    pool_after, average_after = k, isinstance(node, nir.AvgPool2d)
            elif isinstance(node, nir.Flatten):
                continue
            elif isinstance(node, _WEIGHT_NODES):
                weight_name = name
            else:
                raise NIRFormatError(f"node {name!r}: {type(node).__name__} cannot sit between neurons")
        if weight_name is None:
            raise NIRFormatError(f"the path from {source!r} to {target!r} has no weight node")
        if recurrent and delay == 0:
            delay = 1
        node = self.g.nodes[weight_name]
        weight = finite(weight_name, node.weight, "weight") * scale
        bias = None
        if getattr(node, "bias", None) is not None:
            bias = finite(weight_name, node.bias, "bias")
        if source not in self.shapes:
            raise NIRFormatError(f"node {source!r} feeds {target!r} but has no known shape")
        source_shape = self.shapes[source]
        if isinstance(node, nir.Conv2d):
            if int(node.groups) != 1 or np.any(np.asarray(node.dilation) != 1):
                raise NIRFormatError(f"node {weight_name!r}: only groups=1, dilation=1 convolutions")
            if isinstance(node.padding, str):
                raise NIRFormatError(f"node {weight_name!r}: give padding as integers")
            stride = axis_ints(weight_name, node.stride, "stride")
            if pool_after is not None:  # conv then k×k sum pool = one conv, kernel + s(k−1), stride s·k
                weight = pooled_kernel(weight, stride, pool_after)
                stride = (stride[0] * pool_after, stride[1] * pool_after)
                if average_after:
                    weight = weight / (pool_after * pool_after)
                elif bias is not None:
                    bias = bias * pool_after * pool_after
            proj = Projection(source, "conv", weight, source_shape, stride=stride,
                              padding=axis_ints(weight_name, node.padding, "padding"),
                              pool=pool, delay=delay)
        else:
            proj = Projection(source, "dense", weight, source_shape, pool=pool, delay=delay)
        return proj, weight_name, _Bias(0.0 if bias is None else bias)

    def float_graph(self, reading: Reading) -> FloatGraph:
        names = self.populations + ([self.implicit_readout] if self.implicit_readout else [])
        for name in names:  # shapes first, from the forward paths: a recurrent source may come later
            forward = self.projections_into(name, recurrent=False)
            if not forward:
                raise NIRFormatError(f"node {name!r}: has no input but its own recurrence")
            self.shapes[name] = forward[0][0].output_shape
        populations = []
        for name in names:
            projections = self.projections_into(name)
            shape = self.shapes[name]
            self.admit(name, shape, [p for p, _, _ in projections])
            pop = float_population(name, self.g.nodes[name], shape, projections, reading,
                                   implicit_readout=name == self.implicit_readout)
            populations.append(pop)
        biased = [p.name for p in populations if any(q.source == BIAS_SOURCE for q in p.projections)]
        if biased:
            if BIAS_SOURCE in self.g.nodes:
                raise NIRFormatError(f"node {BIAS_SOURCE!r}: the name is taken; the bias of "
                                     f"{biased[0]!r} needs it")
            source = bias_source_population()
            self.admit(BIAS_SOURCE, source.shape, source.projections)
            populations.insert(0, source)
            self.late_notes.append(f"the bias into CubaLIF {', '.join(biased)} enters the current "
                                   f"through an always-on neuron ({BIAS_SOURCE}), exactly")
        return FloatGraph(input_shape=self.input_shape, populations=populations, output=self.output)


class _Bias(NamedTuple):
    """The bias a projection's path adds (its weight node's, scaled by a pooling it folds)."""

    bias: Any


def pooled_kernel(weight: np.ndarray, stride: int | tuple[int, int], k: int) -> np.ndarray:
    """A conv kernel (O, C, kH, kW) at ``stride`` (one int, or per axis (rows, columns))
    followed by a k×k sum pool of stride k, as one kernel of size kH + s(k−1) for stride s·k,
    per axis: K[.., a·sH + m, b·sW + n] += W[.., m, n] over the pool's offsets a, b < k. Exact,
    and the output size is the same (floor((L + s)/(s·k)) both ways, L = H + 2p − kH)."""
    sh, sw = (stride, stride) if isinstance(stride, (int, np.integer)) else stride
    o, c, kh, kw = weight.shape
    out = np.zeros((o, c, kh + sh * (k - 1), kw + sw * (k - 1)))
    for a in range(k):
        for b in range(k):
            out[:, :, a * sh:a * sh + kh, b * sw:b * sw + kw] += weight
    return out


def _back_edges(root: str, succ: dict[str, list[str]], nodes: list[str]) -> set[tuple[str, str]]:
    """The edges that close a cycle: back edges of a depth-first walk from the Input (then from
    any node it does not reach), following edges in file order. Iterative: a deep graph cannot
    exhaust the stack."""
    state: dict[str, int] = {}  # 1: on the walk's path, 2: done
    back: set[tuple[str, str]] = set()
    for start in [root] + nodes:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(succ[start]))]
        while stack:
            node, children = stack[-1]
            nxt = next(children, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return back


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
    # shapes first, in the file's topological order (every edge that closes no cycle points
    # forward): a recurrent source may be the population itself or a later one in ``order``
    for name in structure.populations:
        forward = structure.projections_into(name, recurrent=False)
        if forward:
            structure.shapes[name] = forward[0][0].output_shape
        elif isinstance(md.get("populations"), dict) and isinstance(md["populations"].get(name), dict):
            # fed by its own recurrence only (an always-on bias neuron): the shape its neuron
            # parameters declare, which QGraph then checks against every projection
            structure.shapes[name] = tuple(int(d) for d in np.shape(md["populations"][name].get("dv")))
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
        reset = text(pmd.get("reset", "zero"))
        if reset not in RESETS:
            raise NIRFormatError(f"node {name!r}: metadata reset must be one of {RESETS}, got {reset!r}")
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
            reset=reset,
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

