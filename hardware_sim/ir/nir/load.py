"""A NIR file's HDF5 → ``nir.NIRGraph``, under a budget: what ``nir.read`` does, but reading
only what the graph uses, after checking what the file declares (``hdf5.BudgetedHDF5``).

``nir.read`` loads every dataset under ``/node`` before anything can look at its size (a
61 KB file declaring 3 GiB of fill value took 3.3 GiB), follows external storage and links,
and reads per-node metadata nobody uses. Here, in order:

1. the file is walked (``/node`` only; nothing else in the file is touched) and every
   dataset's storage, dtype and declared size inspected, reading no data;
2. each node's ``type`` string is read, the type must be one this toolchain deploys, and the
   node's fields must be the ones ``nir.read`` would pass to that type (an unknown field is
   refused unread, where ``nir.read`` would read it and then fail);
3. the declared sizes of every field, the edges and the ``dalif`` metadata are summed
   against the budget; only then are they read (per-node metadata and other metadata
   namespaces are skipped), and the same ``nir.dict2NIRNode`` that ``nir.read`` calls builds
   the graph (its type check included).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import nir
import numpy as np

from hardware_sim.ir.nir.format import NAMESPACE, NIRFormatError
from hardware_sim.ir.nir.hdf5 import BudgetedHDF5, one_line

DEPLOYABLE_TYPES = ("Input", "Output", "Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d",
                    "Flatten", "Delay", "LIF", "CubaLIF", "IF", "I", "LI")
"""The NIR node types ``read_nir`` can deploy (any other is refused before its data is read);
a nested ``NIRGraph`` of them is flattened."""

_FILE_KEYS = {"Input": {"shape"}, "Output": {"shape"}}
"""Fields a node type stores under another name than its constructor's."""


def node_fields(kind: str) -> set[str]:
    """The datasets a node of type ``kind`` may hold in a file (``nir.write``'s ``to_dict``)."""
    if kind in _FILE_KEYS:
        return _FILE_KEYS[kind]
    cls = getattr(nir, kind)
    return {f.name for f in dataclasses.fields(cls) if f.init and f.name != "metadata"}


def load_graph(h5: BudgetedHDF5) -> tuple[nir.NIRGraph, list[str]]:
    """The ``nir.NIRGraph`` in an opened NIR file, with only the ``dalif`` namespace of its
    metadata, nested subgraphs flattened and a batch dimension dropped from Input/Output shapes;
    and notes saying what was changed. Raises NIRFormatError (without the path) or
    ``hdf5.UnsafeHDF5``."""
    if "node" not in h5.groups:
        raise NIRFormatError("not a readable NIR file (no /node group)")
    members = set(h5.groups["node"])
    for required in ("type", "nodes", "edges"):
        if required not in members:
            raise NIRFormatError(f"not a readable NIR file (no /node/{required})")
    unknown = members - {"type", "nodes", "edges", "metadata"}
    if unknown:
        raise NIRFormatError(f"not a readable NIR file (unexpected /node/{sorted(unknown)[0]})")
    if h5.read("node/type") != "NIRGraph":
        raise NIRFormatError("not a readable NIR file (/node is not a NIRGraph)")
    if "node/nodes" not in h5.groups:
        raise NIRFormatError("not a readable NIR file (/node/nodes is not a group)")

    kinds = _node_kinds(h5, "node", depth=0)
    wanted: list[str] = []
    _wanted_fields(h5, "node", kinds, wanted)
    metadata_root = f"node/metadata/{NAMESPACE}"
    if metadata_root in h5.datasets:
        raise NIRFormatError(f"metadata: {NAMESPACE} must be a group")
    wanted += [p for p in h5.datasets if p.startswith(metadata_root + "/")]
    h5.plan(wanted)  # every declared size against the budget, before reading any of it

    nodes, edges = _flat_graph(h5, "node", kinds, prefix="")
    notes = _strip_batch_dimension(nodes, edges)
    if any(isinstance(kind, tuple) for kind in kinds.values()):
        notes.append("nested subgraphs flattened (their nodes named subgraph.node)")
    data = {"type": "NIRGraph", "nodes": nodes, "edges": edges,
            "metadata": {NAMESPACE: _tree(h5, metadata_root)} if metadata_root in h5.groups else {},
            "type_check": True}
    try:
        return nir.dict2NIRNode(data), notes
    except NIRFormatError:
        raise
    except Exception as exc:  # nir's constructors and type check raise many kinds
        raise NIRFormatError(f"not a readable NIR file ({type(exc).__name__}: {one_line(exc)})") from None


MAX_NESTING = 8
"""How deep subgraphs may nest (spyx writes one level; a deeper file is refused unread)."""


def _node_kinds(h5: BudgetedHDF5, graph: str, depth: int) -> dict[str, Any]:
    """name → type string of every node in the graph group ``graph``; a nested NIRGraph maps to
    ("NIRGraph", its own kinds). The type strings first: they say which fields to expect."""
    kinds: dict[str, Any] = {}
    for name in h5.groups[f"{graph}/nodes"]:
        group = f"{graph}/nodes/{name}"
        if group not in h5.groups or f"{group}/type" not in h5.datasets:
            raise NIRFormatError(f"node {name!r}: not a NIR node (no type)")
        kind = h5.read(f"{group}/type")
        if kind == "NIRGraph" and depth < MAX_NESTING:
            for required in ("nodes", "edges"):
                if f"{group}/{required}" not in (h5.groups if required == "nodes" else h5.datasets):
                    raise NIRFormatError(f"node {name!r}: a subgraph without {required}")
            kinds[name] = ("NIRGraph", _node_kinds(h5, group, depth + 1))
        elif not isinstance(kind, str) or kind not in DEPLOYABLE_TYPES:
            raise NIRFormatError(f"node {name!r}: unsupported node type {kind}")
        else:
            kinds[name] = kind
    return kinds


def _wanted_fields(h5: BudgetedHDF5, graph: str, kinds: dict[str, Any], wanted: list[str]) -> None:
    """The datasets the graph's nodes hold (checked against their type's fields), into ``wanted``."""
    wanted.append(f"{graph}/edges")
    for name, kind in kinds.items():
        group = f"{graph}/nodes/{name}"
        if isinstance(kind, tuple):
            _wanted_fields(h5, group, kind[1], wanted)
            continue
        allowed = node_fields(kind)
        for member in h5.groups[group]:
            if member in ("type", "metadata"):
                continue
            if member not in allowed:
                raise NIRFormatError(f"node {name!r}: unexpected field {member!r} in a {kind} node")
            if f"{group}/{member}" not in h5.datasets:
                raise NIRFormatError(f"node {name!r}: field {member!r} is not a dataset")
            wanted.append(f"{group}/{member}")


def _flat_graph(h5: BudgetedHDF5, graph: str, kinds: dict[str, Any], prefix: str
                ) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """The graph's node dicts and edges with every nested subgraph spliced in: its nodes named
    ``sub.node``, its Input and Output replaced by the edges through them."""
    nodes: dict[str, dict[str, Any]] = {}
    edges = [(prefix + _text(a), prefix + _text(b)) for a, b in h5.read(f"{graph}/edges")]
    for name, kind in kinds.items():
        group = f"{graph}/nodes/{name}"
        if not isinstance(kind, tuple):
            fields = {m: h5.read(f"{group}/{m}") for m in h5.groups[group] if m not in ("type", "metadata")}
            nodes[prefix + name] = {"type": kind, **fields}
            continue
        inner_nodes, inner_edges = _flat_graph(h5, group, kind[1], f"{prefix}{name}.")
        ends = {k: [n for n, d in inner_nodes.items() if d["type"] == k] for k in ("Input", "Output")}
        if len(ends["Input"]) != 1 or len(ends["Output"]) != 1:
            raise NIRFormatError(f"node {name!r}: a subgraph needs exactly one Input and one Output")
        entry, exit_ = ends["Input"][0], ends["Output"][0]
        del inner_nodes[entry], inner_nodes[exit_]
        nodes.update(inner_nodes)
        sub = prefix + name
        edges = [(exit_ if a == sub else a, entry if b == sub else b) for a, b in edges] + inner_edges
        for through in (entry, exit_):  # splice: every edge into it joins every edge out of it
            into = [a for a, b in edges if b == through]
            out_of = [b for a, b in edges if a == through]
            edges = [e for e in edges if through not in e] + [(a, b) for a in into for b in out_of]
    return nodes, edges


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _neuron_shape(nodes: dict[str, dict[str, Any]], sources: list[str]) -> tuple[int, ...] | None:
    """The shape of the neuron node feeding an Output (its threshold's or τ's), if that is one."""
    if len(sources) != 1:
        return None
    node = nodes[sources[0]]
    for field in ("v_threshold", "tau", "tau_mem", "r"):
        if field in node:
            return tuple(int(d) for d in np.shape(node[field])) or None
    return None


def _strip_batch_dimension(nodes: dict[str, dict[str, Any]], edges: list[tuple[str, str]]) -> list[str]:
    """Input/Output shapes written with leading batch (and time) dimensions of 1 (norse via
    nirtorch: (1, N) or (1, C, H, W); rockpool: (1, 1, N) on its Output), which nir's type
    check rejects against the layers' batch-free types: leading 1s are dropped down to (N,) or
    (C, H, W), or to the shape of the neuron layer feeding the Output, and a note says so."""
    notes = []
    for name, node in nodes.items():
        if node["type"] in ("Input", "Output") and "shape" in node:
            shape = np.atleast_1d(np.asarray(node["shape"]))
            neuron = _neuron_shape(nodes, [a for a, b in edges if b == name]) if node["type"] == "Output" else None
            lead = shape.size - len(neuron) if neuron is not None else -1
            if shape.ndim == 1 and lead >= 0 and np.all(shape[:lead] == 1) and tuple(shape[lead:]) == neuron:
                kept = np.asarray(neuron)  # (1, 1, N) from rockpool: the neuron layer's own shape
            else:
                kept = shape
                while kept.ndim == 1 and kept.size > 1 and kept[0] == 1 and (kept.size in (2, 4) or np.all(kept == 1)):
                    kept = kept[1:]
            if kept.size != shape.size:
                node["shape"] = kept
                notes.append(f"node {name!r}: leading batch dimension of 1 dropped from its shape "
                             f"{shape.tolist()}")
    return notes


def _tree(h5: BudgetedHDF5, group: str) -> dict[str, Any]:
    """A metadata group as nested dicts (as ``nir.read`` gives it: strings decoded)."""
    out: dict[str, Any] = {}
    for member in h5.groups[group]:
        path = f"{group}/{member}"
        out[member] = _tree(h5, path) if path in h5.groups else h5.read(path)
    return out
