"""QGraph → NIR file (DESIGN §4): float parameters of the quantized model, the integer truth in
``metadata["dalif"]``; see the package docstring for the node layout."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import nir
import numpy as np

from hardware_sim.files import write_bytes
from hardware_sim.ir.graph import INPUT, GraphError, IntPopulation, Projection, QGraph
from hardware_sim.ir.neuron import GAIN_ONE
from hardware_sim.ir.nir.format import FORMAT_NAME, FORMAT_VERSION, NAMESPACE
from hardware_sim.ir.nir.neurons import neuron_node
from hardware_sim.ir.quantize import dequantized_weight


def write_nir(graph: QGraph, path: str | os.PathLike, timesteps: int,
              info: dict[str, Any] | None = None) -> None:
    """Write ``graph`` as a NIR file, atomically (a temp file renamed into place); built in
    memory, then written with plain I/O, so a write error is one clean ``FileError``."""
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
        if pop.reset != "zero":  # absent means zero: files of zero-reset models stay as they were
            pop_md["reset"] = pop.reset
        gain = np.ones(pop.shape) if pop.gain is None else pop.gain / GAIN_ONE
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
        nodes[pop.name] = neuron_node(pop, gain)
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
    buffer = io.BytesIO()  # HDF5 failing mid-write (a full disk) crashes the process: write bytes
    nir.write(buffer, nir_graph)
    write_bytes(path, buffer.getvalue())


def _node_bias(pop: IntPopulation, gain: np.ndarray, proj: Projection) -> np.ndarray:
    """The weight node's bias: per output neuron (dense) or per channel before the gain (conv).

    NIR's Conv2d bias is per channel: a conv population whose biases differ within a
    channel by more than their own rounding has no float form and is refused. The rounding
    is the bias step (2^bias_exp · v_scale) plus what the 12-bit gain's own rounding (half a
    step in 4096, relative) moves bias / g by, both divided by the smallest gain.
    """
    safe_gain = np.where(gain > 0, gain, 1.0)
    per_neuron = pop.bias.astype(np.float64) * pop.v_scale / safe_gain
    if proj.kind == "dense":
        return per_neuron
    per_channel = per_neuron.reshape(per_neuron.shape[0], -1)
    spread = np.abs(per_channel - per_channel.mean(axis=1, keepdims=True)).max(initial=0.0)
    rounding = ((1 << pop.bias_exp) * pop.v_scale + float(np.abs(per_neuron).max(initial=0.0)) / GAIN_ONE) \
        / float(safe_gain.min(initial=1.0))
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
                          stride=np.array(proj.stride), padding=np.array(proj.padding),
                          dilation=np.array([1, 1]), groups=1, bias=bias_float)
    chain.append((f"{prefix}_weight", node))
    return chain
