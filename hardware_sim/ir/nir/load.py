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

from hardware_sim.ir.nir.format import NAMESPACE, NIRFormatError
from hardware_sim.ir.nir.hdf5 import BudgetedHDF5, one_line

DEPLOYABLE_TYPES = ("Input", "Output", "Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d",
                    "Flatten", "Delay", "LIF", "CubaLIF", "IF", "I")
"""The NIR node types ``read_nir`` can deploy (any other is refused before its data is read)."""

_FILE_KEYS = {"Input": {"shape"}, "Output": {"shape"}}
"""Fields a node type stores under another name than its constructor's."""


def node_fields(kind: str) -> set[str]:
    """The datasets a node of type ``kind`` may hold in a file (``nir.write``'s ``to_dict``)."""
    if kind in _FILE_KEYS:
        return _FILE_KEYS[kind]
    cls = getattr(nir, kind)
    return {f.name for f in dataclasses.fields(cls) if f.init and f.name != "metadata"}


def load_graph(h5: BudgetedHDF5) -> nir.NIRGraph:
    """The ``nir.NIRGraph`` in an opened NIR file, with only the ``dalif`` namespace of its
    metadata; raises NIRFormatError (without the path) or ``hdf5.UnsafeHDF5``."""
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

    names = h5.groups["node/nodes"]
    kinds: dict[str, str] = {}
    for name in names:  # the type strings first: they say which fields to expect
        group = f"node/nodes/{name}"
        if group not in h5.groups or f"{group}/type" not in h5.datasets:
            raise NIRFormatError(f"node {name!r}: not a NIR node (no type)")
        kind = h5.read(f"{group}/type")
        if not isinstance(kind, str) or kind not in DEPLOYABLE_TYPES:
            raise NIRFormatError(f"node {name!r}: unsupported node type {kind}")
        kinds[name] = kind

    wanted: list[str] = ["node/edges"]
    for name, kind in kinds.items():
        group = f"node/nodes/{name}"
        allowed = node_fields(kind)
        for member in h5.groups[group]:
            if member in ("type", "metadata"):
                continue
            if member not in allowed:
                raise NIRFormatError(f"node {name!r}: unexpected field {member!r} in a {kind} node")
            if f"{group}/{member}" not in h5.datasets:
                raise NIRFormatError(f"node {name!r}: field {member!r} is not a dataset")
            wanted.append(f"{group}/{member}")
    metadata_root = f"node/metadata/{NAMESPACE}"
    if metadata_root in h5.datasets:
        raise NIRFormatError(f"metadata: {NAMESPACE} must be a group")
    wanted += [p for p in h5.datasets if p.startswith(metadata_root + "/")]
    h5.plan(wanted)  # every declared size against the budget, before reading any of it

    nodes: dict[str, dict[str, Any]] = {}
    for name, kind in kinds.items():
        group = f"node/nodes/{name}"
        fields = {m: h5.read(f"{group}/{m}") for m in h5.groups[group] if m not in ("type", "metadata")}
        nodes[name] = {"type": kind, **fields}
    data = {"type": "NIRGraph", "nodes": nodes, "edges": h5.read("node/edges"),
            "metadata": {NAMESPACE: _tree(h5, metadata_root)} if metadata_root in h5.groups else {},
            "type_check": True}
    try:
        return nir.dict2NIRNode(data)
    except NIRFormatError:
        raise
    except Exception as exc:  # nir's constructors and type check raise many kinds
        raise NIRFormatError(f"not a readable NIR file ({type(exc).__name__}: {one_line(exc)})") from None


def _tree(h5: BudgetedHDF5, group: str) -> dict[str, Any]:
    """A metadata group as nested dicts (as ``nir.read`` gives it: strings decoded)."""
    out: dict[str, Any] = {}
    for member in h5.groups[group]:
        path = f"{group}/{member}"
        out[member] = _tree(h5, path) if path in h5.groups else h5.read(path)
    return out
